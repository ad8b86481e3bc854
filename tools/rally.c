/* rally — shell scripts and benchmark runs meet at a named barrier.
 *
 *   rally wait NAME PARTIES [--timeout SECONDS] [--robust|--stats]
 *   rally event set|clear|wait NAME [--timeout SECONDS]
 *   rally abort NAME | rally status NAME | rally rm NAME
 *   rally bench [rally-bench options]
 *   rally run [--spin auto|never|N] -- PROGRAM ARGS... (run.c)
 *
 * Exit status: 0 released (or done); 1 an error (bad arguments, permission,
 * not a rally object); 2 timed out, broken, or no such object; 128+N killed
 * by signal N (rally help wait).
 * Messages go to stderr. `rally help COMMAND` or `rally COMMAND --help`
 * prints the manual of a command. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hooks.h" /* rally__barrier_timedarrive */
#include "rally.h"
#include "run.h"
#include "stats_cmd.h"

/* 1 is every error that is not 2's: a script tells "the rendezvous did not
 * happen" (2) from "this call was wrong or could not be made" (1). */
enum { EXIT_RELEASED = 0, EXIT_ERROR = 1, EXIT_FAILED = 2 };

static const char *const manual[][2] = {
    {"", "usage: rally COMMAND [ARGS]\n"
         "\n"
         "Processes and shell scripts meet at named barriers and events\n"
         "(POSIX shared memory, /dev/shm/rally.*).\n"
         "\n"
         "  wait NAME PARTIES [--timeout S] [--robust|--stats]\n"
         "                           wait until PARTIES callers arrived\n"
         "  event set|clear|wait NAME [--timeout S]\n"
         "                           a flag that callers wait for\n"
         "  abort NAME               break the barrier: its waiters fail\n"
         "  status NAME [--json]     parties, waiting, broken, late pids,\n"
         "                           statistics\n"
         "  rm NAME                  remove the barrier and event NAME\n"
         "  bench [OPTIONS]          rally against its peers (rally-bench)\n"
         "  run [--spin S] -- PROGRAM ARGS...\n"
         "                           run a program with its pthread\n"
         "                           barriers replaced by rally's\n"
         "  stats [OPTIONS] -- PROGRAM ARGS...\n"
         "                           run a program and show where its\n"
         "                           threads waited at barriers\n"
         "\n"
         "Exit status: 0 released (or done); 1 an error (bad arguments,\n"
         "no permission, not a rally object), with a message; 2 timed\n"
         "out, broken, or no such barrier or event; 128+N killed by\n"
         "signal N (see rally help wait).\n"
         "rally help COMMAND (or rally COMMAND --help) for a command.\n"},
    {"wait", "usage: rally wait NAME PARTIES [--timeout SECONDS] "
             "[--robust|--stats]\n"
             "\n"
             "Opens the barrier NAME for PARTIES callers (creating it if\n"
             "needed) and waits until PARTIES callers have arrived; then\n"
             "all are released together. Prints nothing; exits 0 when\n"
             "released, 2 when the timeout (fractional seconds) expired —\n"
             "which breaks the barrier for the others too — or when it is\n"
             "broken (rally abort, another caller's timeout, a dead robust\n"
             "participant). --robust: a participant that dies breaks the\n"
             "barrier (given at creation). --stats: the barrier keeps\n"
             "statistics (given at creation; rally status shows them; not\n"
             "with --robust). A broken barrier stays broken until removed\n"
             "with rally rm.\n"
             "\n"
             "SECONDS: any number >= 0 (0.25, 1e-3); 0 does not block;\n"
             "more than 1e9 (or inf) means no timeout; a positive value\n"
             "is at least 1 ns, never 0.\n"
             "\n"
             "SIGINT, SIGTERM or SIGHUP ends the wait (within 50 ms): if\n"
             "the phase is still waiting for parties, it breaks the\n"
             "barrier (the others exit 2) — an arrival cannot be taken\n"
             "back, and a party that is gone must not count; if the phase\n"
             "completed, or the wait was waiting for a reset (by another\n"
             "program) to end, it breaks nothing. Then rally dies of the\n"
             "signal (exit status 128+N for signal N). A signal ignored\n"
             "when rally starts (nohup; SIGINT in a script's background\n"
             "job) stays ignored. SIGKILL cannot be handled: a waiter\n"
             "killed by it still counts as arrived, and only a --robust\n"
             "barrier notices (it breaks).\n"
             "\n"
             "The arrival itself may wait: for an earlier phase's action,\n"
             "or for a reset to end. The timeout and these signals end it\n"
             "all the same (a timeout during a reset breaks nothing).\n"
             "\n"
             "Example: start 4 benchmark processes at the same instant:\n"
             "  for i in 1 2 3 4; do\n"
             "    (rally wait start 4 && exec ./bench --id $i) &\n"
             "  done; wait; rally rm start\n"},
    {"event", "usage: rally event set|clear|wait NAME [--timeout SECONDS]\n"
              "\n"
              "The event NAME (created if needed): set wakes every waiter\n"
              "and stays set until cleared; wait returns (exit 0) once it is\n"
              "set, or exits 2 when the timeout expires first (SECONDS as\n"
              "in rally help wait).\n"},
    {"abort", "usage: rally abort NAME\n"
              "\n"
              "Breaks the barrier NAME: its waiters exit 2, and so does every\n"
              "wait until it is removed (rally rm) and created again.\n"
              "Exit 2 if there is no barrier NAME, 1 if it cannot be broken\n"
              "(no permission, not a rally barrier).\n"},
    {"status",
     "usage: rally status NAME [--json]\n"
     "\n"
     "Prints the barrier's parties, the callers waiting in the\n"
     "current phase, whether it is broken, the phase number, and for\n"
     "a robust one the pids of participants that have not arrived\n"
     "(who is late) and those that died (until a reset). For one\n"
     "created with statistics (rally wait --stats, RALLY_STATS,\n"
     "rally.Barrier(stats=True)) also its counts: phases, breaks,\n"
     "timeouts, aborts, resets, waits, the arrival skew per phase\n"
     "(first to last arrival: p50, p99, max), the pid that arrived\n"
     "last most often, and the wait of each arrival index.\n"
     "--json: the same as one JSON object.\n"
     "Exit 2 if there is no barrier NAME, 1 if it cannot be read\n"
     "(no permission, not a rally barrier).\n"},
    {"rm", "usage: rally rm NAME\n"
           "\n"
           "Removes the barrier and the event NAME (processes that have them\n"
           "open keep using them). Exit 2 if neither existed, 1 if one\n"
           "cannot be removed (no permission: the error is named).\n"},
    {"bench", "usage: rally bench [--threads LIST] [--json FILE] [OPTIONS]\n"
              "\n"
              "Runs rally-bench: rally against pthread_barrier_t,\n"
              "std::barrier, OpenMP and more, side by side. --json FILE\n"
              "writes the results as JSON (turn them into tables and a plot\n"
              "with tools/report.py). Other options go to rally-bench\n"
              "(rally bench --help lists them).\n"},
    {"run",
     "usage: rally run [--spin auto|never|N] [--] PROGRAM [ARGS...]\n"
     "\n"
     "Runs PROGRAM with librally-pthread.so preloaded (LD_PRELOAD): its\n"
     "pthread_barrier_init, _wait and _destroy become rally's, with no\n"
     "recompiling. PTHREAD_PROCESS_SHARED barriers stay the C library's.\n"
     "--spin sets RALLY_SPIN for the run: auto (the default: spin only\n"
     "while it can pay off), never (sleep at once), or N polls before\n"
     "sleeping.\n"
     "\n"
     "A statically linked program (or one of another word size) cannot\n"
     "be reached by a preload: rally run says so on stderr and runs it\n"
     "unchanged. The library is found next to rally's install (or in its\n"
     "build tree); RALLY_PTHREAD_LIB=PATH names another. It goes after\n"
     "what LD_PRELOAD holds: a program built with AddressSanitizer\n"
     "needs its runtime first (LD_PRELOAD=$(gcc -print-file-name=\n"
     "libasan.so) rally run ./program).\n"
     "\n"
     "Exit status: PROGRAM's; 1 bad options or no library; 126 PROGRAM\n"
     "cannot be run; 127 PROGRAM not found.\n"},
    {"stats",
     "usage: rally stats [--json FILE] [--keep DIR] [--top N] [--no-pthread]\n"
     "                   [--] PROGRAM [ARGS...]\n"
     "\n"
     "Runs PROGRAM with every barrier wait recorded (RALLY_TRACE: rally's\n"
     "barriers, and pthread barriers through librally-pthread.so, as rally\n"
     "run preloads it), and when it ends prints on stderr where its\n"
     "threads waited:\n"
     "  - the time in barriers: each thread's waits over the time from its\n"
     "    first wait's start to its last wait's end, averaged;\n"
     "  - the arrival skew per phase, first to last arrival: p50, p99, max;\n"
     "  - the stragglers: who arrived last, in how many phases, and each\n"
     "    thread's waits (N of them, --top; 8 by default).\n"
     "Processes the program starts are traced too (a file per process).\n"
     "\n"
     "--json FILE  the summary as JSON as well\n"
     "--keep DIR   keep the traces (Chrome Trace Event JSON, one file per\n"
     "             process: open them in Perfetto or chrome://tracing, or\n"
     "             draw them with tools/trace_svg.py)\n"
     "--no-pthread do not preload the pthread shim (pthread barriers stay\n"
     "             the C library's, and unseen)\n"
     "\n"
     "Exit status: PROGRAM's (128+N if a signal N ended it); 1 bad options;\n"
     "126 PROGRAM cannot be run; 127 PROGRAM not found.\n"},
};

static int usage(const char *cmd, int status)
{
	for (size_t i = 0; i < sizeof manual / sizeof manual[0]; i++)
		if (strcmp(manual[i][0], cmd) == 0) {
			fputs(manual[i][1], status ? stderr : stdout);
			return status;
		}
	fprintf(stderr, "rally: unknown command '%s' (rally help)\n", cmd);
	return EXIT_ERROR;
}

static int run_help(int status)
{
	return usage("run", status);
}

static int stats_help(int status)
{
	return usage("stats", status);
}

static bool wants_help(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

/* No wait is meant to last longer: above it, a timeout is none at all
 * (and its nanoseconds, added to the clock, could not overflow). */
#define TIMEOUT_MAX_S 1e9 /* 31 years */

/* Parses "--timeout S" out of argv; *ns = RALLY_FOREVER without it. S is
 * any number >= 0 strtod() reads (fractions, exponents, "inf"): 0 does not
 * block; above TIMEOUT_MAX_S it means no timeout; a positive value rounds
 * to the nearest nanosecond but never down to 0, which would mean "do not
 * block" — not what a tiny timeout asks for. */
static bool parse_timeout(int *argc, char **argv, int64_t *ns)
{
	*ns = RALLY_FOREVER;
	for (int i = 0; i < *argc; i++) {
		if (strcmp(argv[i], "--timeout") != 0)
			continue;
		char *end;
		const char *arg = i + 1 < *argc ? argv[i + 1] : "";
		double s = strtod(arg, &end);
		if (*end || end == arg || !(s >= 0)) {
			fprintf(stderr,
			        "rally: --timeout needs seconds (a number >= "
			        "0), not '%s'\n",
			        arg);
			return false;
		}
		if (s > TIMEOUT_MAX_S)
			*ns = RALLY_FOREVER;
		else if ((*ns = (int64_t)llround(s * 1e9)) == 0 && s > 0)
			*ns = 1;
		memmove(&argv[i], &argv[i + 2], (*argc - i - 2) * sizeof *argv);
		*argc -= 2;
		return true;
	}
	return true;
}

/* A name as rally.h takes it: not empty, no '/' but an optional leading
 * one. Checked here so that a bad name is named as such, whatever else the
 * library's -EINVAL could mean; its length is left to the library
 * (-ENAMETOOLONG). */
static bool name_ok(const char *name)
{
	const char *n = name[0] == '/' ? name + 1 : name;
	if (*n && !strchr(n, '/'))
		return true;
	fprintf(stderr,
	        "rally: bad name '%s': not empty, and no '/' but an "
	        "optional leading one\n",
	        name);
	return false;
}

static bool take_flag(int *argc, char **argv, const char *flag)
{
	for (int i = 0; i < *argc; i++)
		if (strcmp(argv[i], flag) == 0) {
			memmove(&argv[i], &argv[i + 1],
			        (*argc - i - 1) * sizeof *argv);
			(*argc)--;
			return true;
		}
	return false;
}

/* rally_strerror(), or the system's text for a code the library passes on
 * from the system without naming it (e.g. -EPERM from shm_unlink). */
static const char *errtext(int rc)
{
	const char *s = rally_strerror(rc);
	return rc < 0 && strcmp(s, rally_strerror(INT_MIN)) == 0 ? strerror(-rc)
	                                                         : s;
}

static int failed(const char *what, const char *name, int rc)
{
	fprintf(stderr, "rally: %s %s: %s\n", what, name, errtext(rc));
	return rc == RALLY_TIMEDOUT || rc == RALLY_BROKEN ||
	               rc == RALLY_OWNERDEAD || rc == -ENOENT
	           ? EXIT_FAILED
	           : EXIT_ERROR;
}

/* ---- waiting that a signal can end --------------------------------------
 *
 * A waiter killed while it waits has arrived and stays counted: the next
 * lone caller would be released by a party that is gone. The library cannot
 * take an arrival back, so a signal that ends the wait breaks the phase
 * instead: the wait is arrive + poll in slices, and between slices a caught
 * signal ends it with await(0), which breaks the barrier if the phase still
 * waits for parties, and breaks nothing if it completed. The arrival, which
 * may itself wait (for an earlier phase's action, for a reset), looks for
 * a caught signal every 50 ms too (rally__barrier_timedarrive, lib/hooks.h):
 * one ends it as the deadline would. */

#define SLICE_NS 50000000 /* how late a signal may be noticed */

static volatile sig_atomic_t caught;

static void on_signal(int sig) { caught = sig; }

static const int ending_signals[] = {SIGINT, SIGTERM, SIGHUP};

static const char *signal_name(int sig)
{
	return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGHUP";
}

/* Catches the signals that end a wait, except those ignored from the start:
 * nohup ignores SIGHUP and a script's background job SIGINT on purpose. */
static void catch_ending_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal}, old;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof ending_signals / sizeof *ending_signals;
	     i++)
		if (sigaction(ending_signals[i], NULL, &old) == 0 &&
		    old.sa_handler != SIG_IGN)
			sigaction(ending_signals[i], &sa, NULL);
}

/* Dies of sig, as it would have without the handler: a shell that runs
 * rally sees it killed by the signal ($? is 128 + sig) and, for SIGINT,
 * stops a script rather than going on to its next command. */
static int die_of(int sig)
{
	sigset_t set;
	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	return 128 + sig; /* not reached */
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The arrival's look for a caught signal, every 50 ms while it blocks;
 * *(bool *)arg notes that a signal ended it. */
static bool not_caught(void *arg)
{
	if (!caught)
		return true;
	*(bool *)arg = true;
	return false;
}

/* Waits at b as rally_barrier_timedwait(b, timeout) would: 0 released, or
 * a negative code. A caught signal ends the wait: *sig is set and the
 * result is that of the await(0) that settled the phase (-EINTR if the
 * signal came before the arrival, or while the arrival waited for a reset
 * to end: nothing broken). The arrival itself may block — the last one of
 * a phase waits for an earlier phase's action, a caller for a reset to
 * end —: it ends at the deadline too, and looks for signals every 50 ms,
 * ending as at the deadline. */
/* After the arrival: the token's phase, in slices, until the deadline
 * (INT64_MAX: none) or a signal. */
static int await_in_slices(rally_barrier_t *b, rally_token_t tok,
                           int64_t deadline, int *sig)
{
	int rc;
	for (;;) {
		if ((*sig = caught)) {
			/* -EAGAIN (a library whose await(0) does not wait for
			 * a running action): every party has arrived, so the
			 * phase completes: nothing to break. */
			return rally_barrier_await(b, tok, 0);
		}
		int64_t slice = SLICE_NS;
		if (deadline != INT64_MAX) {
			int64_t left = deadline - now_ns();
			if (left <= 0) {
				rc = rally_barrier_await(b, tok, 0);
				if (rc != -EAGAIN)
					return rc;
				/* All have arrived and an action runs: a
				 * timed wait cannot expire now (as in
				 * rally_barrier_timedwait); wait it out. */
				deadline = INT64_MAX;
				continue;
			}
			if (left < slice)
				slice = left;
		}
		rc = rally_barrier_poll(b, tok, slice);
		if (rc != 0)
			return rc > 0 ? 0 : rc;
	}
}

static int wait_in_slices(rally_barrier_t *b, int64_t timeout, int *sig)
{
	/* The deadline counts from the start, computed once: slices do not
	 * stretch it. */
	int64_t deadline =
	    timeout == RALLY_FOREVER ? INT64_MAX : now_ns() + timeout;
	rally_token_t tok = {{0}};
	if ((*sig = caught))
		return -EINTR;
	bool stopped = false;
	int64_t arrived = rally__now_ns();
	int idx =
	    rally__barrier_timedarrive(b, &tok, timeout, not_caught, &stopped);
	if (idx < 0) {
		/* A signal caught after the arrival ended by its deadline did
		 * not end it: that was the timeout (during a reset, nothing
		 * broken). Traced as a wait that got no index (round 3). */
		*sig = stopped ? caught : 0;
		rally__trace_token(b, tok, -1, arrived, idx);
		return idx;
	}
	int rc = await_in_slices(b, tok, deadline, sig);
	/* A RALLY_STATS barrier counts the wait, RALLY_TRACE records it
	 * (else nothing). */
	rally__barrier_count_wait(b, (unsigned)idx, arrived);
	rally__trace_token(b, tok, idx, arrived, rc == 0 ? idx : rc);
	return rc;
}

static int cmd_wait(int argc, char **argv)
{
	int64_t timeout;
	bool robust = take_flag(&argc, argv, "--robust");
	bool stats = take_flag(&argc, argv, "--stats");
	if (!parse_timeout(&argc, argv, &timeout))
		return EXIT_ERROR;
	if (argc != 2)
		return usage("wait", EXIT_ERROR);
	if (robust && stats) {
		fprintf(stderr, "rally: wait: --robust and --stats exclude each "
		                "other (they share the barrier's room)\n");
		return EXIT_ERROR;
	}
	char *end;
	long parties = strtol(argv[1], &end, 10);
	if (*end || end == argv[1] || parties < 1 ||
	    parties > RALLY_PARTIES_MAX) {
		fprintf(stderr,
		        "rally: PARTIES must be a number from 1 to %u\n",
		        RALLY_PARTIES_MAX);
		return EXIT_ERROR;
	}
	if (!name_ok(argv[0]))
		return EXIT_ERROR;
	/* Before the open, so that a signal that comes during it is seen
	 * before the arrival, and the caller never arrives. */
	catch_ending_signals();
	rally_barrier_t *b;
	rally_barrier_attr_t attr = {.flags = (robust ? RALLY_ROBUST : 0) |
	                                      (stats ? RALLY_STATS : 0)};
	int rc = rally_barrier_open(&b, argv[0], (unsigned)parties, &attr,
	                            O_CREAT, 0666);
	if (rc == -EINVAL) {
		fprintf(stderr,
		        "rally: wait %s: exists with other parties, or is not "
		        "a rally barrier\n",
		        argv[0]);
		return EXIT_ERROR;
	}
	if (rc)
		return failed("wait", argv[0], rc);
	int sig = 0;
	rc = wait_in_slices(b, timeout, &sig);
	rally_barrier_close(b);
	if (!sig && caught && rc >= 0)
		sig = caught; /* after the release: honour it all the same */
	if (sig) {
		if (rc == 0 || rc == -EAGAIN)
			fprintf(stderr,
			        "rally: wait %s: interrupted by %s after the "
			        "phase completed: nothing broken\n",
			        argv[0], signal_name(sig));
		else if (rc == RALLY_TIMEDOUT)
			fprintf(
			    stderr,
			    "rally: wait %s: interrupted by %s: the barrier "
			    "is broken (its other waiters exit 2)\n",
			    argv[0], signal_name(sig));
		else if (rc == -EINTR)
			fprintf(stderr,
			        "rally: wait %s: interrupted by %s before "
			        "arriving in a phase: nothing broken\n",
			        argv[0], signal_name(sig));
		else
			fprintf(stderr,
			        "rally: wait %s: interrupted by %s: %s\n",
			        argv[0], signal_name(sig), errtext(rc));
		return die_of(sig);
	}
	return rc >= 0 ? EXIT_RELEASED : failed("wait", argv[0], rc);
}

static int cmd_event(int argc, char **argv)
{
	int64_t timeout;
	if (!parse_timeout(&argc, argv, &timeout))
		return EXIT_ERROR;
	if (argc != 2)
		return usage("event", EXIT_ERROR);
	const char *op = argv[0], *name = argv[1];
	if (strcmp(op, "set") && strcmp(op, "clear") && strcmp(op, "wait")) {
		fprintf(stderr, "rally: event %s: not set, clear or wait\n",
		        op);
		return EXIT_ERROR;
	}
	if (!name_ok(name))
		return EXIT_ERROR;
	/* Every error is labelled with the operation asked for: "event set
	 * NAME: permission denied". */
	char what[16];
	snprintf(what, sizeof what, "event %s", op);
	rally_event_t *e;
	int rc = rally_event_open(&e, name, 0, O_CREAT, 0666);
	if (rc)
		return failed(what, name, rc);
	if (strcmp(op, "set") == 0)
		rc = rally_event_set(e);
	else if (strcmp(op, "clear") == 0)
		rc = rally_event_clear(e);
	else
		rc = rally_event_wait(e, timeout);
	rally_event_close(e);
	return rc ? failed(what, name, rc) : EXIT_RELEASED;
}

/* Opens NAME to watch or act on it, not to take part (no participant of a
 * robust barrier, not even for a moment: killed, it would count as a dead
 * one). Returns 0, or the exit status after the message. */
static int open_existing(const char *what, const char *name,
                         rally_barrier_t **b)
{
	if (!name_ok(name))
		return EXIT_ERROR;
	rally_barrier_attr_t watch = {.flags = RALLY_WATCH};
	int rc = rally_barrier_open(b, name, 0, &watch, 0, 0);
	return rc ? failed(what, name, rc) : 0;
}

static int cmd_abort(int argc, char **argv)
{
	if (argc != 1)
		return usage("abort", EXIT_ERROR);
	rally_barrier_t *b;
	int st = open_existing("abort", argv[0], &b);
	if (st)
		return st;
	int rc = rally_barrier_abort(b);
	rally_barrier_close(b);
	return rc ? failed("abort", argv[0], rc) : EXIT_RELEASED;
}

static void print_pids(const char *what, const pid_t *pids, int n)
{
	printf("  %-8s", what);
	for (int i = 0; i < n && i < 64; i++)
		printf(" %d", (int)pids[i]);
	printf(n > 64 ? " ...\n" : n ? "\n" : " (none)\n");
}

/* s as a JSON string: a name may hold any byte but '/'. UTF-8 characters
 * pass as they are; a byte that begins none is given as \u00XX (JSON is
 * UTF-8: a raw 0xff made it invalid, review round 1). */
static void print_json_string(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t k = rally__utf8_seq(p);
		if (k > 1) {
			fwrite(p, 1, k, stdout);
			p += k;
			continue;
		}
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (k == 0 || *p < 0x20 || *p == 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
		p++;
	}
	putchar('"');
}

static void print_stats(const rally_stats_t *st, unsigned parties)
{
	printf("  phases   %" PRIu64 " completed, %" PRIu64 " broken\n"
	       "  events   %" PRIu64 " timeouts, %" PRIu64 " aborts, %" PRIu64
	       " resets\n"
	       "  waits    %" PRIu64,
	       st->phases, st->broken, st->timeouts, st->aborts, st->resets,
	       st->waits);
	/* Only C callers' waits are told apart by how they went: the rally
	 * tool's and Python's wait in slices of split-phase calls. */
	if (st->spun + st->yielded + st->slept)
		printf(" (%" PRIu64 " spun, %" PRIu64 " yielded, %" PRIu64
		       " slept)",
		       st->spun, st->yielded, st->slept);
	printf("\n");
	char a[32], b[32], c[32];
	printf("  skew     p50 <= %s, p99 <= %s, max %s over %" PRIu64
	       " phases",
	       rally_fmt_ns((int64_t)st->skew_p50_ns, a, sizeof a),
	       rally_fmt_ns((int64_t)st->skew_p99_ns, b, sizeof b),
	       rally_fmt_ns((int64_t)st->skew_max_ns, c, sizeof c),
	       st->skew_phases);
	if (st->skew_missed)
		printf(" (%" PRIu64 " not measured)", st->skew_missed);
	printf("\n");
	/* Of the phases that had a last caller: each completer counts one
	 * skew, measured or missed (broken counts timeouts and aborts too,
	 * which have none: review round 2). */
	uint64_t had_last = st->skew_phases + st->skew_missed;
	if (st->last_count)
		printf("  last     pid %" PRIu64 ", %" PRIu64 " times (%.0f%%)\n",
		       st->last_id, st->last_count,
		       100.0 * (double)st->last_count /
		           (double)(had_last ? had_last : 1));
	unsigned n = parties < RALLY_STATS_INDICES ? parties
	                                           : RALLY_STATS_INDICES;
	printf("  wait by arrival index (total):\n");
	for (unsigned i = 0; i < n; i++)
		printf("    %2u%s %s\n", i,
		       i + 1 == RALLY_STATS_INDICES && parties > n ? "+" : " ",
		       rally_fmt_ns((int64_t)st->wait_ns[i], a, sizeof a));
}

static void print_u64_array(const char *key, const uint64_t *v, unsigned n)
{
	printf(", \"%s\": [", key);
	for (unsigned i = 0; i < n; i++)
		printf("%s%" PRIu64, i ? ", " : "", v[i]);
	printf("]");
}

static void print_json(const char *name, rally_barrier_t *b,
                       const rally_stats_t *st)
{
	printf("{\"name\": ");
	print_json_string(name);
	printf(", \"parties\": %u, \"waiting\": %u, "
	       "\"broken\": %s, \"phase\": %u",
	       rally_barrier_parties(b), rally_barrier_n_waiting(b),
	       rally_barrier_broken(b) ? "true" : "false",
	       rally_barrier_phase(b));
	if (st) {
		const struct {
			const char *key;
			uint64_t v;
		} f[] = {{"phases", st->phases},
		         {"broken_count", st->broken},
		         {"timeouts", st->timeouts},
		         {"aborts", st->aborts},
		         {"resets", st->resets},
		         {"waits", st->waits},
		         {"spun", st->spun},
		         {"yielded", st->yielded},
		         {"slept", st->slept},
		         {"skew_p50_ns", st->skew_p50_ns},
		         {"skew_p99_ns", st->skew_p99_ns},
		         {"skew_max_ns", st->skew_max_ns},
		         {"skew_phases", st->skew_phases},
		         {"skew_missed", st->skew_missed},
		         {"last_id", st->last_id},
		         {"last_count", st->last_count}};
		printf(", \"stats\": {");
		for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
			printf("%s\"%s\": %" PRIu64, i ? ", " : "", f[i].key,
			       f[i].v);
		print_u64_array("skew_hist", st->skew_hist,
		                RALLY_STATS_BUCKETS);
		print_u64_array("wait_ns", st->wait_ns, RALLY_STATS_INDICES);
		printf("}");
	}
	printf("}\n");
}

static int cmd_status(int argc, char **argv)
{
	bool json = take_flag(&argc, argv, "--json");
	if (argc != 1)
		return usage("status", EXIT_ERROR);
	rally_barrier_t *b;
	int st = open_existing("status", argv[0], &b);
	if (st)
		return st;
	if (rally_barrier_parties(b) == 0) {
		/* The getters answer 0 for what is not a barrier: a status
		 * of zeros would pass for one. */
		rally_barrier_close(b);
		return failed("status", argv[0], -EINVAL);
	}
	rally_stats_t stats;
	bool has_stats = rally_barrier_stats(b, &stats) == 0;
	if (json) {
		print_json(argv[0], b, has_stats ? &stats : NULL);
		rally_barrier_close(b);
		return EXIT_RELEASED;
	}
	printf("barrier %s\n  parties  %u\n  waiting  %u\n  broken   %s\n"
	       "  phase    %u\n",
	       argv[0], rally_barrier_parties(b), rally_barrier_n_waiting(b),
	       rally_barrier_broken(b) ? "yes" : "no", rally_barrier_phase(b));
	pid_t pids[64];
	int n = rally_barrier_late(b, pids, 64);
	if (n >= 0) {
		print_pids("late", pids, n);
		/* The dead are not merely late: until a reset the barrier
		 * answers RALLY_OWNERDEAD. */
		n = rally_barrier_dead(b, pids, 64);
		if (n > 0)
			print_pids("dead", pids, n);
	} else {
		printf("  late     (not a robust barrier: participants "
		       "unknown)\n");
	}
	if (has_stats)
		print_stats(&stats, rally_barrier_parties(b));
	else
		printf("  stats    (not kept: create the barrier with "
		       "--stats)\n");
	rally_barrier_close(b);
	return EXIT_RELEASED;
}

static int cmd_rm(int argc, char **argv)
{
	if (argc != 1)
		return usage("rm", EXIT_ERROR);
	if (!name_ok(argv[0]))
		return EXIT_ERROR;
	int b = rally_barrier_unlink(argv[0]), e = rally_event_unlink(argv[0]);
	if (b == -ENOENT && e == -ENOENT) {
		fprintf(stderr,
		        "rally: rm %s: no barrier or event of that name\n",
		        argv[0]);
		return EXIT_FAILED;
	}
	/* Anything but "not there" is an error to report as it is: without
	 * permission the object stays, and must not pass for missing. */
	int st = EXIT_RELEASED;
	if (b && b != -ENOENT)
		st = failed("rm barrier", argv[0], b);
	if (e && e != -ENOENT)
		st = failed("rm event", argv[0], e);
	return st;
}

/* rally-bench next to this program (installed together), else on PATH. */
static int cmd_bench(int argc, char **argv, const char *self)
{
	char path[PATH_MAX + 32], exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	const char *prog = "rally-bench";
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(path, sizeof path, "%s/rally-bench", exe);
			if (access(path, X_OK) == 0)
				prog = path;
			else {
				snprintf(path, sizeof path,
				         "%s/../bench/rally-bench", exe);
				if (access(path, X_OK) == 0)
					prog = path;
			}
		}
	}
	char **args = calloc((size_t)argc + 4, sizeof *args);
	int k = 0;
	args[k++] = (char *)prog;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "rally: --json needs a file\n");
				return EXIT_ERROR;
			}
			static char out[PATH_MAX + 32];
			snprintf(out, sizeof out, "--benchmark_out=%s",
			         argv[++i]);
			args[k++] = out;
			args[k++] = "--benchmark_out_format=json";
		} else {
			args[k++] = argv[i];
		}
	}
	execvp(prog, args);
	fprintf(stderr,
	        "%s: cannot run rally-bench: %s (was rally built with "
	        "benchmarks?)\n",
	        self, strerror(errno));
	return EXIT_ERROR;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage("", EXIT_ERROR);
	const char *cmd = argv[1];
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
	    strcmp(cmd, "-h") == 0)
		return usage(argc > 2 && strcmp(cmd, "help") == 0 ? argv[2]
		                                                  : "",
		             EXIT_RELEASED);
	argc -= 2;
	argv += 2;
	if (strcmp(cmd, "bench") == 0)
		return cmd_bench(argc, argv, "rally");
	if (strcmp(cmd, "run") == 0) /* PROGRAM's own options are its own */
		return rally_cmd_run(argc, argv, run_help);
	if (strcmp(cmd, "stats") == 0)
		return rally_cmd_stats(argc, argv, stats_help);
	if (wants_help(argc, argv))
		return usage(cmd, EXIT_RELEASED);
	if (strcmp(cmd, "wait") == 0)
		return cmd_wait(argc, argv);
	if (strcmp(cmd, "event") == 0)
		return cmd_event(argc, argv);
	if (strcmp(cmd, "abort") == 0)
		return cmd_abort(argc, argv);
	if (strcmp(cmd, "status") == 0)
		return cmd_status(argc, argv);
	if (strcmp(cmd, "rm") == 0)
		return cmd_rm(argc, argv);
	return usage(cmd, EXIT_ERROR);
}
