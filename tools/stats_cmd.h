/* stats_cmd.h — `rally stats` (stats_cmd.c). */
#ifndef RALLY_TOOLS_STATS_CMD_H
#define RALLY_TOOLS_STATS_CMD_H

/* Runs argv[i..] (after rally stats' own options) with RALLY_TRACE on and
 * prints where its threads waited; returns the program's exit status (or
 * 1, 126, 127 for rally stats' own errors). help prints `rally help
 * stats` and returns its argument. */
int rally_cmd_stats(int argc, char **argv, int (*help)(int status));

#endif
