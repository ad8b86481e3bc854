// extra.h — the event and stencil families of rally-bench.
#ifndef RALLY_BENCH_EXTRA_H
#define RALLY_BENCH_EXTRA_H

#include <vector>

// Registers event/... (if `events`), stencil/... (if `stencil`, for the
// given thread counts up to `stencil_max`) and overlap/... (if `overlap`);
// `quick` shortens them.
void register_extra(bool quick, const std::vector<unsigned> &threads,
                    unsigned stencil_max, bool events, bool stencil,
                    bool overlap);

#endif
