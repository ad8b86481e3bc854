// bench.cpp — rally against every peer, side by side in one binary and run.
//
// Families (Google Benchmark names; time is per phase, wall clock):
//   phase/<peer>/threads:N   N threads cross one barrier, again and again
//   procs/<peer>/procs:N     N fork()ed processes on a process-shared one
// Counters per phase: ns_per_phase (wall time), cpu_ns (CPU time of all
// parties: spinning is not free), futex (rally's futex system calls), vcsw
// (voluntary context switches, for every peer), csw (all context switches:
// sleeps, yields and preemptions).
//
// Our flags (before Google Benchmark's own):
//   --threads LIST   thread counts (default 1,2,C,2C,4C,8C,16C; C = CPUs)
//   --procs LIST     process counts (default 2,C,2C,4C; "none" to skip)
//   --peers LIST     peers (and families: event, stencil) to run (default:
//                    all built in)
//   --quick          short runs (the `meson test --benchmark` version)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sched.h>
#include <time.h>
#include <set>
#include <string>
#include <sys/mman.h>
#include <sys/wait.h>
#include <csignal>
#include <unistd.h>
#include <vector>

#ifdef HAVE_OPENMP
#include <omp.h>
#endif

#include "extra.h"
#include "harness.h"
#include "progress.h"

namespace
{

unsigned cpus()
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	return 1;
}

double now_s()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

// Counters shared by every family, measured by party 0 around its loop.
// ns_per_phase is the wall time of the loop over its phases: Google
// Benchmark's own time column is per iteration of each thread.
struct Meter {
	bench_usage u0{};
	uint64_t futex0 = 0;
	bool children = false;
	double t0 = 0;

	void start(bool with_children)
	{
		children = with_children;
		u0 = bench_usage_now(children);
		futex0 = bench_rally_futex_calls();
		t0 = now_s();
	}
	void stop(benchmark::State &state, uint64_t extra_futex = 0)
	{
		double t1 = now_s();
		bench_usage u1 = bench_usage_now(children);
		double phases = double(state.iterations());
		if (phases == 0)
			return;
		state.counters["ns_per_phase"] = (t1 - t0) * 1e9 / phases;
		state.counters["cpu_ns"] = (u1.cpu_s - u0.cpu_s) * 1e9 / phases;
		state.counters["futex"] =
		    double(bench_rally_futex_calls() - futex0 + extra_futex) /
		    phases;
		state.counters["vcsw"] = double(u1.vcsw - u0.vcsw) / phases;
		state.counters["csw"] = double(u1.csw - u0.csw) / phases;
	}
};

// ---- threads: C peers ------------------------------------------------------

struct bench_barrier *g_barrier;
Meter g_meter;

void hog_start();
void hog_stop();

// noisy: beside a busy process (the noisy/ family).
void BM_c_peer(benchmark::State &state, bench_peer peer, bool noisy = false,
               bool trace = false)
{
	unsigned self = unsigned(state.thread_index());
	if (self == 0) {
		if (noisy)
			hog_start();
		if (trace && bench_trace_start() != 0)
			state.SkipWithError("RALLY_TRACE could not start");
		g_barrier =
		    bench_barrier_new(peer, unsigned(state.threads()), false);
		g_meter.start(false);
	}
	// Google Benchmark starts and stops all threads' loops together.
	for (auto _ : state)
		if (bench_barrier_wait(g_barrier, self) < 0)
			state.SkipWithError("wait failed");
	if (self == 0) {
		g_meter.stop(state);
		bench_barrier_free(g_barrier);
		if (trace)
			bench_trace_stop();
		if (noisy)
			hog_stop();
	}
}

// ---- threads: std::barrier ------------------------------------------------

std::barrier<> *g_std;

void BM_std_barrier(benchmark::State &state, bool noisy = false)
{
	if (state.thread_index() == 0) {
		if (noisy)
			hog_start();
		g_std = new std::barrier<>(state.threads());
		g_meter.start(false);
	}
	for (auto _ : state)
		g_std->arrive_and_wait();
	if (state.thread_index() == 0) {
		g_meter.stop(state);
		delete g_std;
		if (noisy)
			hog_stop();
	}
}

// ---- beside a noisy neighbour ----------------------------------------------
//
// A process that keeps one CPU busy (what a shell's `while :; do :; done`
// does: an OS daemon, a browser, another job on a shared node), started
// before the phases and killed after. The spin policy trusts the affinity
// mask; this is where that trust is tested.

pid_t g_hog;

void hog_start()
{
	g_hog = fork();
	if (g_hog == 0) {
		for (;;)
			__asm__ __volatile__("" ::: "memory");
	}
}

void hog_stop()
{
	if (g_hog > 0) {
		kill(g_hog, SIGKILL);
		waitpid(g_hog, nullptr, 0);
	}
	g_hog = 0;
}

// ---- threads: OpenMP -------------------------------------------------------

#ifdef HAVE_OPENMP
constexpr int kOmpBatch = 1000;

// One Google Benchmark thread; the phases run in an OpenMP parallel region
// of n threads, kOmpBatch barriers per region.
void BM_openmp(benchmark::State &state, int n)
{
	Meter m;
	m.start(false);
	while (state.KeepRunningBatch(kOmpBatch)) {
#pragma omp parallel num_threads(n)
		for (int i = 0; i < kOmpBatch; i++) {
#pragma omp barrier
		}
	}
	m.stop(state);
}
#endif

// ---- processes
// ---------------------------------------------------------------

struct ProcShared {
	// The number of the last phase, once the parent knows it (0 before).
	std::atomic<uint64_t> last_phase;
	std::atomic<uint64_t> futex_calls;
};

// Parent is party 0; n - 1 children run phases until the last one. The
// parent learns how many phases it ran only after its loop: it publishes
// the number of one more, final phase before arriving at it. A child that
// reads the number early keeps going until it has run that many, so every
// party joins every phase (a plain "stop" flag read between two phases
// would let some children skip the final one and the rest hang).
void BM_procs(benchmark::State &state, bench_peer peer, unsigned n)
{
	auto *sh = static_cast<ProcShared *>(
	    mmap(nullptr, sizeof(ProcShared), PROT_READ | PROT_WRITE,
	         MAP_SHARED | MAP_ANONYMOUS, -1, 0));
	new (sh) ProcShared{};
	struct bench_barrier *b = bench_barrier_new(peer, n, true);
	std::vector<pid_t> kids;
	for (unsigned i = 1; i < n; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			uint64_t f0 = bench_rally_futex_calls();
			for (uint64_t phase = 1;; phase++) {
				bench_barrier_wait(b, i);
				uint64_t last = sh->last_phase.load();
				if (last != 0 && phase >= last)
					break;
			}
			sh->futex_calls += bench_rally_futex_calls() - f0;
			_exit(0);
		}
		kids.push_back(pid);
	}
	Meter m;
	m.start(true);
	for (auto _ : state)
		bench_barrier_wait(b, 0);
	sh->last_phase.store(state.iterations() + 1);
	bench_barrier_wait(b, 0);
	for (pid_t pid : kids)
		waitpid(pid, nullptr, 0);
	m.stop(state, sh->futex_calls.load());
	bench_barrier_free(b);
	munmap(sh, sizeof(ProcShared));
}

// ---- registration
// --------------------------------------------------------------

std::vector<unsigned> parse_list(const char *s)
{
	std::vector<unsigned> v;
	for (const char *p = s; *p;) {
		char *end;
		unsigned long x = std::strtoul(p, &end, 10);
		if (end == p || x == 0 || x > 4096) {
			std::fprintf(stderr,
			             "rally-bench: bad number list: %s\n", s);
			std::exit(1);
		}
		v.push_back(unsigned(x));
		p = *end == ',' ? end + 1 : end;
		if (*end && *end != ',') {
			std::fprintf(stderr,
			             "rally-bench: bad number list: %s\n", s);
			std::exit(1);
		}
	}
	return v;
}

std::vector<unsigned> dedup(std::vector<unsigned> v)
{
	std::sort(v.begin(), v.end());
	v.erase(std::unique(v.begin(), v.end()), v.end());
	return v;
}

struct Options {
	std::vector<unsigned> threads, procs;
	std::set<std::string> peers; // empty: all
	bool quick = false;
	bool wants(const std::string &peer) const
	{
		return peers.empty() || peers.count(peer);
	}
};

void usage(FILE *to)
{
	std::fprintf(
	    to,
	    "usage: rally-bench [--threads LIST] [--procs LIST|none] "
	    "[--peers LIST] [--quick]\n"
	    "                   [Google Benchmark flags, e.g. "
	    "--benchmark_out=FILE --benchmark_out_format=json]\n"
	    "Measures rally's barrier against its peers, side by side: time "
	    "per phase,\nCPU time per phase, futex calls and voluntary context "
	    "switches per phase.\nDefaults: threads 1,2,C,2C,4C,8C,16C and "
	    "processes 2,C,2C,4C (C = CPUs).\nPeers: rally rally_nospin "
	    "pthread pthread_pshared futex_sleep ck_centralized yield_floor\n"
	    "       std_barrier openmp; and the families event, stencil, "
	    "overlap,\n       noisy (beside a process that keeps a CPU "
	    "busy), stats (rally with RALLY_STATS,\n       with RALLY_TRACE)."
	    "\n");
}

Options parse_options(int *argc, char **argv)
{
	Options o;
	unsigned c = cpus();
	o.threads = {1, 2, c, 2 * c, 4 * c, 8 * c, 16 * c};
	o.procs = {2, c, 2 * c, 4 * c};
	int out = 1;
	for (int i = 1; i < *argc; i++) {
		std::string a = argv[i];
		auto value = [&]() -> const char * {
			if (i + 1 >= *argc) {
				std::fprintf(stderr,
				             "rally-bench: %s needs a value\n",
				             a.c_str());
				std::exit(1);
			}
			return argv[++i];
		};
		if (a == "--help" || a == "-h") {
			usage(stdout);
			std::exit(0);
		} else if (a == "--threads") {
			o.threads = parse_list(value());
		} else if (a == "--procs") {
			const char *v = value();
			o.procs = std::strcmp(v, "none") == 0
			              ? std::vector<unsigned>{}
			              : parse_list(v);
		} else if (a == "--peers") {
			std::string v = value();
			for (size_t p = 0, q; p <= v.size(); p = q + 1) {
				q = v.find(',', p);
				if (q == std::string::npos)
					q = v.size();
				o.peers.insert(v.substr(p, q - p));
			}
		} else if (a == "--quick") {
			o.quick = true;
		} else if (a.rfind("--benchmark_", 0) == 0 || a == "--v") {
			argv[out++] = argv[i];
		} else {
			std::fprintf(stderr, "rally-bench: unknown option %s\n",
			             a.c_str());
			usage(stderr);
			std::exit(1);
		}
	}
	*argc = out;
	o.threads = dedup(o.threads);
	o.procs = dedup(o.procs);
	return o;
}

void register_all(const Options &o)
{
	unsigned c = cpus();
	double min_time = o.quick ? 0.01 : 0.2;
	auto threads_label = [](const std::string &name, unsigned n) {
		return name + "/threads:" + std::to_string(n);
	};
	for (int p = 0; p < PEER_C_COUNT; p++) {
		auto peer = bench_peer(p);
		std::string name =
		    "phase/" + std::string(bench_peer_name(peer));
		if (!bench_peer_available(peer) ||
		    !o.wants(bench_peer_name(peer)) || peer == PEER_RALLY_STATS)
			continue;
		for (unsigned n : o.threads) {
			// Pure spin collapses when threads outnumber CPUs
			// (milliseconds a phase): it is the floor only below,
			// and the yield floor one only above.
			if ((peer == PEER_CK && n > c) ||
			    (peer == PEER_YIELD && n <= c))
				continue;
			register_announced(name, threads_label(name, n),
			                   [peer](benchmark::State &st) {
				                   BM_c_peer(st, peer);
			                   })
			    ->Threads(int(n))
			    ->UseRealTime()
			    ->MinTime(min_time);
		}
	}
	if (o.wants("std_barrier"))
		for (unsigned n : o.threads)
			register_announced(
			    "phase/std_barrier",
			    threads_label("phase/std_barrier", n),
			    [](benchmark::State &st) { BM_std_barrier(st); })
			    ->Threads(int(n))
			    ->UseRealTime()
			    ->MinTime(min_time);
	for (unsigned n : o.procs)
		for (bench_peer peer :
		     {PEER_RALLY, PEER_PTHREAD_SHARED, PEER_CK}) {
			// ck spins: the floor only while processes <= CPUs.
			if (!bench_peer_available(peer) ||
			    !o.wants(bench_peer_name(peer)) ||
			    (peer == PEER_CK && n > c))
				continue;
			std::string name = "procs/" +
			                   std::string(bench_peer_name(peer)) +
			                   "/procs:" + std::to_string(n);
			register_announced(name, name,
			                   [peer, n](benchmark::State &st) {
				                   BM_procs(st, peer, n);
			                   })
			    ->UseRealTime()
			    ->MinTime(min_time);
		}
	// Beside a noisy neighbour: 2 and 4 threads (C and 2C on 2 CPUs).
	if (o.wants("noisy"))
		for (unsigned n : {2u, 4u}) {
			for (bench_peer peer : {PEER_RALLY, PEER_PTHREAD}) {
				std::string name =
				    "noisy/" + std::string(bench_peer_name(peer)) +
				    "/threads:" + std::to_string(n);
				register_announced(
				    name, name,
				    [peer](benchmark::State &st) {
					    BM_c_peer(st, peer, true);
				    })
				    ->Threads(int(n))
				    ->UseRealTime()
				    ->MinTime(min_time);
			}
			std::string name =
			    "noisy/std_barrier/threads:" + std::to_string(n);
			register_announced(name, name,
			                   [](benchmark::State &st) {
				                   BM_std_barrier(st, true);
			                   })
			    ->Threads(int(n))
			    ->UseRealTime()
			    ->MinTime(min_time);
		}
	// What statistics and the trace cost: rally as it is, with
	// RALLY_STATS, and with RALLY_TRACE recording every wait (its file
	// written as buffers fill), side by side at 2, 4 and 8 threads.
	if (o.wants("stats"))
		for (unsigned n : {2u, 4u, 8u})
			for (int k = 0; k < 3; k++) {
				static const char *const names[] = {
				    "rally", "rally_stats", "rally_trace"};
				std::string name = "stats/" +
				                   std::string(names[k]) +
				                   "/threads:" + std::to_string(n);
				bench_peer peer =
				    k == 1 ? PEER_RALLY_STATS : PEER_RALLY;
				bool trace = k == 2;
				register_announced(
				    name, name,
				    [peer, trace](benchmark::State &st) {
					    BM_c_peer(st, peer, false, trace);
				    })
				    ->Threads(int(n))
				    ->UseRealTime()
				    ->MinTime(min_time);
			}
	register_extra(o.quick, o.threads, 4 * c, o.wants("event"),
	               o.wants("stencil"), o.wants("overlap"));
#ifdef HAVE_OPENMP
	// Last: libgomp's idle threads spin a while after their region.
	if (o.wants("openmp"))
		for (unsigned n : o.threads) {
			std::string name = threads_label("phase/openmp", n);
			register_announced(name, name,
			                   [n](benchmark::State &st) {
				                   BM_openmp(st, int(n));
			                   })
			    ->UseRealTime()
			    ->MinTime(min_time);
		}
#endif
}

} // namespace

int main(int argc, char **argv)
{
	Options o = parse_options(&argc, argv);
	register_all(o);
	benchmark::Initialize(&argc, argv);
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	return 0;
}
