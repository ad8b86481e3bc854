/* stats_cmd.h — `rally stats` (stats_cmd.c). */
#ifndef RALLY_TOOLS_STATS_CMD_H
#define RALLY_TOOLS_STATS_CMD_H

/* Runs argv[i..] (after rally stats' own options) with RALLY_TRACE on and
 * prints where its threads waited; returns the program's exit status (or
 * 1, 126, 127 for rally stats' own errors). help prints `rally help
 * stats` and returns its argument. */
int rally_cmd_stats(int argc, char **argv, int (*help)(int status));

#include <stddef.h>
#include <stdint.h>

/* A duration to read, into buf: 850 ns, 12.3 us, 4.56 ms, 7.89 s. */
const char *rally_fmt_ns(int64_t ns, char *buf, size_t size);

#endif
