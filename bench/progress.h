// progress.h — one line on stderr as each benchmark starts, so that a long
// run (repetitions are interleaved, results come at the end) shows where
// it is.
#ifndef RALLY_BENCH_PROGRESS_H
#define RALLY_BENCH_PROGRESS_H

#include <benchmark/benchmark.h>

#include <string>
#include <utility>

// Call once per registered benchmark name; returns its number.
int progress_register(const std::string &label);
// Prints "[k/N] label" the first time benchmark k runs.
void progress_announce(int k);

// RegisterBenchmark(name, fn) whose runs announce `label` (the name as the
// report will show it, e.g. with "/threads:N").
template <class Fn>
benchmark::internal::Benchmark *
register_announced(const std::string &name, const std::string &label, Fn fn)
{
	int k = progress_register(label);
	return benchmark::RegisterBenchmark(
	    name.c_str(), [k, fn = std::move(fn)](benchmark::State &st) {
		    progress_announce(k);
		    fn(st);
	    });
}

#endif
