/* progress.c — a node's leader waits for the other nodes' leaders.
 *
 * MPI progresses a nonblocking collective only inside MPI calls, so the
 * leader must call MPI_Test until its MPI_Ibarrier completes. Open MPI's
 * own MPI_Barrier spins there: a rank waiting 1 s for a late one burns
 * 0.99 s of CPU, which the node's ranks (and anything else on its cores)
 * need. So the leader tests in a spin for SPIN_NS only when the leaders on
 * this machine do not outnumber its CPUs (each spinner then has a CPU),
 * then yields for YIELD_NS (a remote leader that shares this CPU runs),
 * then sleeps between tests, from SLEEP_FIRST_NS doubling up to a cap
 * that grows with the wait: 1/SLEEP_SHARE of the time waited so far, at
 * least SLEEP_CAP_MIN_NS, at most SLEEP_CAP_MAX_NS. A leader waiting 1 s
 * for a late node so wakes ~380 times, not ~1000 (each wake and test
 * costs tens of microseconds: half the CPU of a fixed 1 ms cap, README).
 * The price: MPI_Ibarrier completes only over several tests after the
 * last leader arrives (one per round it has left, and the rounds pass
 * through other leaders' tests, each after a nap of theirs), so a late
 * arrival is seen a few naps late — a few ms after a short wait (up to
 * 25 ms with 8 leaders under MPICH, whose tests progress less); after
 * a wait of a second, up to one nap (8 ms) with 2 leaders and 8-23 ms
 * with 4-8 under Open MPI, 8-60 ms under MPICH (README). A deadline cuts
 * a nap short. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <time.h>

#include "mpi_impl.h"

enum {
	SPIN_NS = 20000,
	YIELD_NS = 200000,
	SLEEP_FIRST_NS = 20000,
	SLEEP_CAP_MIN_NS = 1000000,
	SLEEP_CAP_MAX_NS = 8000000,
	SLEEP_SHARE = 128,
};

/* The longest sleep between two tests after waiting `waited_ns`. */
static int64_t sleep_cap(int64_t waited_ns)
{
	int64_t cap = waited_ns / SLEEP_SHARE;
	return cap < SLEEP_CAP_MIN_NS   ? SLEEP_CAP_MIN_NS
	       : cap > SLEEP_CAP_MAX_NS ? SLEEP_CAP_MAX_NS
	                                : cap;
}

int64_t rally__mpi_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t rally__mpi_deadline(int64_t timeout_ns)
{
	if (timeout_ns == RALLY_FOREVER)
		return INT64_MAX;
	int64_t now = rally__mpi_now_ns();
	return timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns;
}

int64_t rally__mpi_left(int64_t deadline_ns)
{
	if (deadline_ns == INT64_MAX)
		return RALLY_FOREVER;
	int64_t left = deadline_ns - rally__mpi_now_ns();
	return left > 0 ? left : 0;
}

/* One MPI_Test: 1 done, 0 not yet, -EIO. */
static int test_once(struct rally_mpi_barrier *b)
{
	int done = 0;
	if (MPI_Test(&b->drive.request, &done, MPI_STATUS_IGNORE) !=
	    MPI_SUCCESS)
		return -EIO;
	if (done)
		b->drive.request_active = false;
	return done;
}

static void pause_for(int64_t ns)
{
	struct timespec ts = {ns / 1000000000, ns % 1000000000};
	nanosleep(&ts, NULL);
}

/* How the leader waits, from the barrier's spin policy (attr, or
 * RALLY_SPIN at create for RALLY_SPIN_AUTO; review round 7 of rally-mpi):
 *   never  no spin and no yield: it sleeps between tests from the first;
 *   N      N tests in a spin (the user's budget, whatever the CPUs), then
 *          as auto after its spin;
 *   auto   a spin of SPIN_NS only when the machine's leaders do not
 *          outnumber the machine's CPUs (all its ranks' masks: a bound
 *          rank's own mask shows one), then yields for YIELD_NS.
 * Then sleeps, SLEEP_FIRST_NS doubling up to sleep_cap(). */
struct leader_plan {
	uint32_t spin_tests; /* 0: by time (spin_ns) */
	int64_t spin_ns, yield_ns;
};

static struct leader_plan leader_plan(const struct rally_mpi_barrier *b)
{
	int policy = b->spin == RALLY_SPIN_AUTO ? b->env_spin : b->spin;
	if (policy == RALLY_SPIN_NEVER)
		return (struct leader_plan){0, 0, 0};
	if (policy > 0)
		return (struct leader_plan){(uint32_t)policy, 0, YIELD_NS};
	bool spins = b->local_leaders <= b->machine_cpus;
	return (struct leader_plan){0, spins ? SPIN_NS : 0, YIELD_NS};
}

static int progress(struct rally_mpi_barrier *b, int64_t deadline_ns,
                    bool abortable);

int rally__mpi_progress(struct rally_mpi_barrier *b, int64_t deadline_ns)
{
	return progress(b, deadline_ns, true);
}

/* free() after a timeout: the MPI_Ibarrier can only be completed, and
 * the barrier is broken — wait for it as a leader waits, not in MPI_Wait
 * (Open MPI's spins: a whole CPU for as long as the others take). */
int rally__mpi_complete(struct rally_mpi_barrier *b)
{
	return progress(b, INT64_MAX, false);
}

static int progress(struct rally_mpi_barrier *b, int64_t deadline_ns,
                    bool abortable)
{
	if (!b->drive.request_active)
		return 0;
	struct leader_plan plan = leader_plan(b);
	int64_t start = rally__mpi_now_ns(), sleep_ns = SLEEP_FIRST_NS,
	        spun_until = 0; /* the spin's end, once it ended */
	for (uint32_t tests = 1;; tests++) {
		int rc = test_once(b);
		if (rc != 0)
			return rc < 0 ? rc : 0;
		int64_t now = rally__mpi_now_ns();
		if (now >= deadline_ns)
			return RALLY_TIMEDOUT;
		if (abortable && atomic_load(&b->broken)) /* aborted */
			return RALLY_BROKEN;
		bool spinning = plan.spin_tests ? tests < plan.spin_tests
		                                : now - start < plan.spin_ns;
		if (spinning)
			continue;
		if (!spun_until)
			spun_until = now;
		if (now - spun_until < plan.yield_ns) {
			sched_yield();
			continue;
		}
		int64_t cap = sleep_cap(now - start);
		int64_t nap = sleep_ns < cap ? sleep_ns : cap;
		if (deadline_ns != INT64_MAX && deadline_ns - now < nap)
			nap = deadline_ns - now;
		pause_for(nap);
		sleep_ns = nap * 2;
	}
}
