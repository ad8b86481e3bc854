/* stencil.h — heat diffusion on an n x n grid: the canonical
 * phase-synchronised simulation. Every thread updates its strip of rows,
 * then all meet at a barrier, for `steps` steps. */
#ifndef RALLY_BENCH_STENCIL_H
#define RALLY_BENCH_STENCIL_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

enum stencil_impl { STENCIL_RALLY, STENCIL_PTHREAD, STENCIL_OPENMP };

const char *stencil_impl_name(enum stencil_impl impl);
bool stencil_impl_available(enum stencil_impl impl);

/* Runs the simulation; stores the final grid (n * n doubles) in `out` if
 * not NULL. Returns the wall time in seconds, or a negative value on
 * failure. Every implementation computes each cell with the same code from
 * the same inputs, so the results are bitwise identical. */
double stencil_run(enum stencil_impl impl, unsigned threads, unsigned n,
                   unsigned steps, double *out);

/* Runs every available implementation on the same problem and compares
 * the grids bit for bit. Returns true if all match. */
bool stencil_check(unsigned threads, unsigned n, unsigned steps);

#ifdef __cplusplus
}
#endif

#endif
