/* run.h — `rally run` (run.c). */
#ifndef RALLY_TOOLS_RUN_H
#define RALLY_TOOLS_RUN_H

/* Runs argv[i..] (after rally run's own options) with librally-pthread.so
 * preloaded; returns only when it cannot (the exit status to use). help
 * prints `rally help run` and returns its argument. */
int rally_cmd_run(int argc, char **argv, int (*help)(int status));

#include <stdbool.h>

/* execvp(argv) with librally-pthread.so added to LD_PRELOAD (saying so if
 * the program is one no preload reaches); returns only when it cannot (the
 * exit status to use). Without the library: an error if need_shim, else
 * said and run without. who: the command, for messages. */
int rally_preload_and_exec(char **argv, const char *who, bool need_shim);

#endif
