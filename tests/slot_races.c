/* slot_races.c — review round 5, findings 1 and 2 (robust.c): a scan read
 * a slot's id, then /proc, and acted on the slot without checking that the
 * id was still the one it read: a participant that closed its handle and
 * then exited was taken for dead ("scan"); a reset's forget_dead zeroed the
 * count of a newcomer that had taken the slot meanwhile, whose clean exit
 * then broke the barrier ("forget"). Deterministic: the library's
 * open64("/proc/PID/stat") is wrapped (-Wl,--wrap=open64) and the window
 * entered there. Both fail on the code before the fix. TAP out; run as
 * `slot_races` (both) or `slot_races scan|forget`. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "rally.h"
#include "barrier_impl.h"

static char victim_path[64];
static volatile int armed;
static pid_t parent;
static void (*hook)(void);

int __real_open64(const char *p, int f, ...);
int __wrap_open64(const char *p, int f, ...);
int __wrap_open64(const char *p, int f, ...)
{
	if (armed && getpid() == parent && strcmp(p, victim_path) == 0) {
		armed = 0;
		hook();
	}
	return __real_open64(p, f);
}

static char NAME[64];
static int go_x[2], ack_x[2], go_y[2], ack_y[2];
static pid_t X, Y;

static void x_close_and_exit(void)
{
	char c = 'g';
	if (write(go_x[1], &c, 1) != 1) abort();
	waitpid(X, NULL, 0); /* X closed its handle, then exited: reaped */
	fprintf(stderr, "  [hook] X=%d closed its handle and exited\n", X);
}

static void x_exit_then_y_opens(void)
{
	x_close_and_exit();
	char c = 'g';
	if (write(go_y[1], &c, 1) != 1 || read(ack_y[0], &c, 1) != 1) abort();
	fprintf(stderr, "  [hook] Y=%d opened the barrier (took X's free slot)\n", Y);
}

static pid_t participant(int *go, int *ack, int after_go_open)
{
	pid_t p = fork();
	if (p)
		return p;
	rally_barrier_t *b = NULL;
	char c;
	if (!after_go_open && rally_barrier_open(&b, NAME, 0, NULL, 0, 0)) _exit(9);
	if (write(ack[1], "r", 1) != 1) _exit(9);
	if (read(go[0], &c, 1) != 1) _exit(9);
	if (after_go_open) {
		int rc = rally_barrier_open(&b, NAME, 0, NULL, 0, 0);
		struct rally__barrier_proxy *px = (void *)b;
		if (write(ack[1], "o", 1) != 1) _exit(9);
		/* wait for the parent's word, then close cleanly and exit */
		if (read(go[0], &c, 1) != 1) _exit(9);
		struct rally__participant *pp = &px->shared->robust.p[px->slot];
		printf("  Y: open=%d slot=%d count=0x%x before close\n", rc, px->slot,
		       atomic_load(&pp->count));
		rc = rally_barrier_close(b);
		printf("  Y: close()=%d\n", rc);
		fflush(stdout);
		_exit(0);
	}
	rally_barrier_close(b);
	_exit(0);
}

static int run(const char *mode)
{
	parent = getpid();
	snprintf(NAME, sizeof NAME, "rally-slot-races-%d", (int)parent);
	setvbuf(stdout, NULL, _IONBF, 0);
	rally_barrier_unlink(NAME);
	rally_barrier_t *b;
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED | RALLY_ROBUST};
	if (rally_barrier_open(&b, NAME, 2, &attr, O_CREAT | O_EXCL, 0600)) return 2;
	if (pipe(go_x) || pipe(ack_x) || pipe(go_y) || pipe(ack_y)) return 2;
	char c;
	X = participant(go_x, ack_x, 0);
	if (read(ack_x[0], &c, 1) != 1) return 2;
	snprintf(victim_path, sizeof victim_path, "/proc/%d/stat", X);
	pid_t pids[32];
	if (strcmp(mode, "scan") == 0) {
		hook = x_close_and_exit;
		armed = 1;
		int rc = rally_barrier_timedwait(b, 1000000000);
		int n = rally_barrier_dead(b, pids, 32);
		printf("timedwait = %d (%s); expected %d (%s)\n", rc,
		       rally_strerror(rc), RALLY_TIMEDOUT,
		       rally_strerror(RALLY_TIMEDOUT));
		printf("dead() = %d%s%d  (X=%d closed cleanly before it exited)\n",
		       n, n > 0 ? ", first " : "", n > 0 ? pids[0] : 0, X);
		rally_barrier_close(b);
		rally_barrier_unlink(NAME);
		return rc == RALLY_OWNERDEAD ? 1 : 0;
	}
	/* forget: a dead participant Z, so that reset forgets the dead */
	pid_t Z = fork();
	if (Z == 0) {
		rally_barrier_t *z;
		_exit(rally_barrier_open(&z, NAME, 0, NULL, 0, 0) ? 9 : 0); /* no close */
	}
	waitpid(Z, NULL, 0);
	Y = participant(go_y, ack_y, 1);
	if (read(ack_y[0], &c, 1) != 1) return 2;
	hook = x_exit_then_y_opens;
	armed = 1;
	rally_barrier_abort(b); /* something to reset */
	int rc = rally_barrier_reset(b);
	printf("reset = %d\n", rc);
	if (write(go_y[1], "g", 1) != 1) return 2; /* Y closes, exits */
	waitpid(Y, NULL, 0);
	struct rally__barrier *sh = ((struct rally__barrier_proxy *)b)->shared;
	printf("slot 4 after Y closed and exited: id=%#llx (0 = freed)\n",
	       (unsigned long long)atomic_load(&sh->robust.p[4].id));
	int n = rally_barrier_dead(b, pids, 32);
	printf("dead() = %d%s%d  (Y=%d closed cleanly before it exited)\n", n,
	       n > 0 ? ", first " : "", n > 0 ? pids[0] : 0, Y);
	rc = rally_barrier_timedwait(b, 300000000);
	printf("timedwait = %d (%s); expected %d (%s)\n", rc, rally_strerror(rc),
	       RALLY_TIMEDOUT, rally_strerror(RALLY_TIMEDOUT));
	rally_barrier_close(b);
	rally_barrier_unlink(NAME);
	return rc == RALLY_OWNERDEAD ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *modes[] = {"scan", "forget"};
	int failed = 0, n = 0;
	for (int i = 0; i < 2; i++) {
		if (argc > 1 && strcmp(argv[1], modes[i]) != 0)
			continue;
		n++;
		fflush(stdout);
		pid_t p = fork();
		if (p == 0) { /* its lines are not TAP: to stderr */
			dup2(STDERR_FILENO, STDOUT_FILENO);
			_exit(run(modes[i]));
		}
		int st;
		waitpid(p, &st, 0);
		bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
		failed += !ok;
		printf("%s %d - %s: %s\n", ok ? "ok" : "not ok", n, modes[i],
		       strcmp(modes[i], "scan") == 0
		           ? "a participant that closed, then exited, is not dead"
		           : "a reset's forget leaves a newcomer's slot alone");
	}
	printf("1..%d\n# %d passed, %d failed\n", n, n - failed, failed);
	return failed != 0;
}
