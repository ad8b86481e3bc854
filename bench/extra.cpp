// extra.cpp — events and the stencil workload.
//
//   event/wait_set/<impl>            a wait on an event already set
//   event/pingpong/<impl>/threads:2  two threads bounce two events; the
//                                    counter ns_per_wake is half a round
//   event/wake_sleeping/<impl>       set -> the sleeping waiter running
//                                    (the waiter has slept 200 us first;
//                                    counter ns_per_wake)
//   stencil/<impl>/n:N/threads:T     heat diffusion; counter ns_per_step
//   overlap/<wait|split>/compute_ns:C/threads:T
//                                    per phase each thread computes C ns of
//                                    work that does not need the others
//                                    (the next step's): before wait(), or
//                                    between arrive() and await()
#include "extra.h"

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <time.h>

#include "events.h"
#include "rally.h"
#include "progress.h"
#include "stencil.h"

namespace
{

double now_s()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

void BM_event_wait_set(benchmark::State &state, event_impl impl)
{
	bench_event *e = bench_event_new(impl);
	bench_event_set(e);
	double t0 = now_s();
	for (auto _ : state)
		bench_event_wait(e);
	state.counters["ns_per_wait"] =
	    (now_s() - t0) * 1e9 / double(state.iterations());
	bench_event_free(e);
}

bench_event *g_ping, *g_pong;

void BM_event_pingpong(benchmark::State &state, event_impl impl)
{
	if (state.thread_index() == 0) {
		g_ping = bench_event_new(impl);
		g_pong = bench_event_new(impl);
	}
	double t0 = now_s();
	for (auto _ : state) {
		if (state.thread_index() == 0) {
			bench_event_set(g_ping);
			bench_event_wait(g_pong);
			bench_event_clear(g_pong);
		} else {
			bench_event_wait(g_ping);
			bench_event_clear(g_ping);
			bench_event_set(g_pong);
		}
	}
	if (state.thread_index() == 0) {
		state.counters["ns_per_wake"] =
		    (now_s() - t0) * 1e9 / double(state.iterations()) / 2;
		bench_event_free(g_ping);
		bench_event_free(g_pong);
	}
}

// The waiter has gone to sleep (200 us after its last wake-up) when the
// setter sets: this is the futex wake-up path, not the spinning one. The
// setter then keeps its CPU (it polls a plain flag for the acknowledgement),
// as a controller that sets an event and goes on working does; the same
// for every implementation.
void BM_event_wake_sleeping(benchmark::State &state, event_impl impl)
{
	bench_event *go = bench_event_new(impl);
	std::atomic<double> woke_at{0};
	std::atomic<bool> acked{false}, stop{false};
	std::thread waiter([&] {
		for (;;) {
			bench_event_wait(go);
			woke_at.store(now_s());
			bench_event_clear(go);
			acked.store(true);
			if (stop.load())
				return;
		}
	});
	double total = 0;
	for (auto _ : state) {
		timespec pause = {0, 200000};
		nanosleep(&pause, nullptr);
		double t_set = now_s();
		bench_event_set(go);
		while (!acked.load())
			;
		acked.store(false);
		total += woke_at.load() - t_set;
	}
	stop.store(true);
	bench_event_set(go);
	waiter.join();
	state.counters["ns_per_wake"] =
	    total * 1e9 / double(state.iterations() ? state.iterations() : 1);
	bench_event_free(go);
}

void BM_stencil(benchmark::State &state, stencil_impl impl, unsigned n,
                unsigned steps, unsigned threads)
{
	// An iteration is a whole run (its time is what Google Benchmark
	// sizes the run by); the time per step is the counter.
	double total = 0;
	for (auto _ : state) {
		double s = stencil_run(impl, threads, n, steps, nullptr);
		if (s < 0) {
			state.SkipWithError("stencil run failed");
			return;
		}
		total += s;
		state.SetIterationTime(s);
	}
	state.counters["ns_per_step"] =
	    total * 1e9 / double(state.iterations()) / steps;
}

// A deterministic busy loop calibrated to nanoseconds once.
volatile uint64_t g_sink;
double g_loops_per_ns;

void work_ns(double ns)
{
	uint64_t x = 1, n = uint64_t(ns * g_loops_per_ns);
	for (uint64_t i = 0; i < n; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	g_sink = x;
}

void calibrate_work()
{
	g_loops_per_ns = 1;
	double t0 = now_s();
	work_ns(2e7);
	g_loops_per_ns = 2e7 / ((now_s() - t0) * 1e9);
}

rally_barrier_t g_overlap;

void BM_overlap(benchmark::State &state, bool split, double compute_ns)
{
	if (state.thread_index() == 0)
		rally_barrier_init(&g_overlap, unsigned(state.threads()),
		                   nullptr);
	double t0 = now_s();
	rally_token_t token;
	if (split) {
		// Each iteration computes the next step while the others
		// arrive, then awaits. The first arrival happens in the loop:
		// only there have all threads passed Google Benchmark's start
		// (thread 0 initialises the barrier before it).
		bool first = true;
		for (auto _ : state) {
			if (first) {
				rally_barrier_arrive(&g_overlap, &token);
				first = false;
			}
			work_ns(compute_ns);
			rally_barrier_await(&g_overlap, token, RALLY_FOREVER);
			rally_barrier_arrive(&g_overlap, &token);
		}
		rally_barrier_await(&g_overlap, token, RALLY_FOREVER);
	} else {
		for (auto _ : state) {
			work_ns(compute_ns);
			rally_barrier_wait(&g_overlap);
		}
	}
	if (state.thread_index() == 0)
		state.counters["ns_per_phase"] =
		    (now_s() - t0) * 1e9 / double(state.iterations());
}

} // namespace

void register_extra(bool quick, const std::vector<unsigned> &threads,
                    unsigned stencil_max, bool events, bool stencil,
                    bool overlap)
{
	double min_time = quick ? 0.01 : 0.2;
	if (events)
		for (int i = 0; i < EVENT_IMPL_COUNT; i++) {
			auto impl = event_impl(i);
			std::string suffix = bench_event_name(impl);
			register_announced("event/wait_set/" + suffix,
			                   "event/wait_set/" + suffix,
			                   [impl](benchmark::State &st) {
				                   BM_event_wait_set(st, impl);
			                   })
			    ->MinTime(min_time);
			register_announced("event/pingpong/" + suffix,
			                   "event/pingpong/" + suffix,
			                   [impl](benchmark::State &st) {
				                   BM_event_pingpong(st, impl);
			                   })
			    ->Threads(2)
			    ->UseRealTime()
			    ->MinTime(min_time);
			register_announced("event/wake_sleeping/" + suffix,
			                   "event/wake_sleeping/" + suffix,
			                   [impl](benchmark::State &st) {
				                   BM_event_wake_sleeping(st,
				                                          impl);
			                   })
			    ->UseRealTime()
			    ->MinTime(min_time);
		}
	if (overlap) {
		calibrate_work();
		for (unsigned t : {2u, 4u})
			for (double c : {0.0, 250.0, 1000.0, 4000.0, 16000.0})
				for (bool split : {false, true}) {
					std::string name =
					    std::string("overlap/") +
					    (split ? "split" : "wait") +
					    "/compute_ns:" +
					    std::to_string(int(c));
					register_announced(
					    name,
					    name +
					        "/threads:" + std::to_string(t),
					    [split, c](benchmark::State &st) {
						    BM_overlap(st, split, c);
					    })
					    ->Threads(int(t))
					    ->UseRealTime()
					    ->MinTime(min_time);
				}
	}
	if (!stencil)
		return;
	// Small: synchronisation dominates. Large: computation does.
	struct {
		unsigned n, steps;
	} const sizes[] = {{64, quick ? 200u : 4000u},
	                   {512, quick ? 10u : 200u}};
	bool checked = true;
	for (auto sz : sizes)
		for (unsigned t : threads) {
			if (t < 2 || t > stencil_max || t > sz.n - 2)
				continue;
			checked = checked && stencil_check(t, sz.n, 20);
			for (int i = 0; i <= STENCIL_OPENMP; i++) {
				auto impl = stencil_impl(i);
				if (!stencil_impl_available(impl))
					continue;
				std::string name =
				    "stencil/" +
				    std::string(stencil_impl_name(impl)) +
				    "/n:" + std::to_string(sz.n) +
				    "/threads:" + std::to_string(t);
				unsigned n = sz.n, steps = sz.steps;
				register_announced(
				    name, name,
				    [impl, n, steps, t](benchmark::State &st) {
					    BM_stencil(st, impl, n, steps, t);
				    })
				    ->UseManualTime()
				    ->MinTime(min_time);
			}
		}
	std::printf("stencil: results identical across rally, pthread and "
	            "OpenMP: %s\n",
	            checked ? "yes" : "NO");
	if (!checked)
		std::exit(1);
}
