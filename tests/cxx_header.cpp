// cxx_header.cpp — rally.h compiles as C++ and its API links from C++.
#include "rally.h"

#include <cstdio>
#include <cstring>

int main()
{
	rally_barrier_t b;
	rally_barrier_attr_t attr = {};
	attr.spin = RALLY_SPIN_NEVER;
	if (rally_barrier_init(&b, 1, &attr) != 0)
		return 1;
	if (rally_barrier_wait(&b) != 0 || rally_barrier_parties(&b) != 1 ||
	    rally_barrier_broken(&b))
		return 1;
	if (std::strlen(rally_strerror(RALLY_BROKEN)) == 0)
		return 1;
	if (rally_barrier_destroy(&b) != 0)
		return 1;
	static_assert(sizeof(rally_barrier_t) == 1024, "ABI size");
	std::puts("1 passed, 0 failed");
	return 0;
}
