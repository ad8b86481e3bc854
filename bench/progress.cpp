// progress.cpp — see progress.h.
#include "progress.h"

#include <cstdio>
#include <mutex>
#include <vector>

namespace
{
std::vector<std::string> g_names;
std::vector<bool> g_started;
std::mutex g_mu;
} // namespace

int progress_register(const std::string &name)
{
	g_names.push_back(name);
	g_started.push_back(false);
	return int(g_names.size()) - 1;
}

void progress_announce(int k)
{
	std::lock_guard<std::mutex> lock(g_mu);
	if (k < 0 || size_t(k) >= g_names.size() || g_started[k])
		return;
	g_started[k] = true;
	std::fprintf(stderr, "[%d/%zu] %s\n", k + 1, g_names.size(),
	             g_names[k].c_str());
}
