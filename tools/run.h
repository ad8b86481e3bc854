/* run.h — `rally run` (run.c). */
#ifndef RALLY_TOOLS_RUN_H
#define RALLY_TOOLS_RUN_H

/* Runs argv[i..] (after rally run's own options) with librally-pthread.so
 * preloaded; returns only when it cannot (the exit status to use). help
 * prints `rally help run` and returns its argument. */
int rally_cmd_run(int argc, char **argv, int (*help)(int status));

#endif
