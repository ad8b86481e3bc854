/* create.c — the levels of the hierarchical barrier: found, set up, freed.
 *
 * The node: MPI_Comm_split_type(MPI_COMM_TYPE_SHARED), or groups of k
 * consecutive ranks of it with RALLY_MPI_NODE_SIZE=k. Its barrier lives in
 * an MPI_Win_allocate_shared window: Open MPI and MPICH map it MAP_SHARED
 * from one file, so the futex words are process-shared (FUTEX_WAIT without
 * the private flag keys them by file and offset). Node rank 0 initialises
 * it before the others look (an MPI_Barrier on the node). The leaders: node
 * rank 0 of each node, in a communicator of their own. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "mpi_impl.h"

/* The node size RALLY_MPI_NODE_SIZE asks for: 0 none, -1 unreadable. */
static int fake_node_size(void)
{
	const char *s = getenv("RALLY_MPI_NODE_SIZE");
	if (!s || !*s)
		return 0;
	char *end;
	long k = strtol(s, &end, 10);
	return *end == '\0' && k >= 1 && k <= (1 << 20) ? (int)k : -1;
}

static int check_args(rally_mpi_barrier_t **out, unsigned threads,
                      const rally_barrier_attr_t *attr, int *provided)
{
	if (!out || threads < 1 || threads > RALLY_PARTIES_MAX)
		return -EINVAL;
	if (attr && (attr->flags != 0 || attr->spin < RALLY_SPIN_NEVER ||
	             (attr->timeout_ns < 0 && attr->timeout_ns != RALLY_FOREVER)))
		return -EINVAL;
	if (fake_node_size() < 0)
		return -EINVAL;
	if (MPI_Query_thread(provided) != MPI_SUCCESS)
		return -EIO;
	if (threads > 1 && *provided == MPI_THREAD_SINGLE)
		return -ENOTSUP;
	return 0;
}

/* RALLY_MPI_NODE_SIZE must be the same on every rank: the ranks split
 * their machine by it, collectively (review round 10 of rally-mpi: set on
 * some ranks only, create waited for ever). 0 or -EINVAL everywhere. */
static int same_node_size(MPI_Comm comm)
{
	int k[2] = {fake_node_size(), -fake_node_size()}, all[2];
	if (MPI_Allreduce(k, all, 2, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS)
		return -EIO;
	return all[0] == -all[1] ? 0 : -EINVAL;
}

/* Every rank's answer becomes the first failure any rank had. */
static int agree(MPI_Comm comm, int rc)
{
	int worst = rc;
	if (MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS)
		return -EIO;
	return worst;
}

/* The CPUs this rank and the others on its machine may run on: each
 * rank's affinity mask and their union. */
static int machine_cpus(struct rally_mpi_barrier *b, MPI_Comm shared)
{
	cpu_set_t mine, all;
	CPU_ZERO(&mine);
	if (sched_getaffinity(0, sizeof mine, &mine) != 0)
		CPU_ZERO(&mine);
	if (MPI_Allreduce(&mine, &all, (int)sizeof mine, MPI_BYTE, MPI_BOR,
	                  shared) != MPI_SUCCESS)
		return -EIO;
	b->own_cpus = CPU_COUNT(&mine);
	b->machine_cpus = CPU_COUNT(&all);
	return 0;
}

static int split_node(struct rally_mpi_barrier *b, MPI_Comm comm)
{
	MPI_Comm shared;
	int shared_rank, shared_size, k = fake_node_size();
	if (MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL,
	                        &shared) != MPI_SUCCESS)
		return -EIO;
	MPI_Comm_rank(shared, &shared_rank);
	MPI_Comm_size(shared, &shared_size);
	b->machine_ranks = shared_size;
	int rc = machine_cpus(b, shared);
	if (rc) {
		MPI_Comm_free(&shared);
		return rc;
	}
	if (k > 0) {
		rc = MPI_Comm_split(shared, shared_rank / k, shared_rank,
		                    &b->node_comm);
		MPI_Comm_free(&shared);
		if (rc != MPI_SUCCESS)
			return -EIO;
		b->local_leaders = (shared_size + k - 1) / k;
	} else {
		b->node_comm = shared;
		b->local_leaders = 1;
	}
	MPI_Comm_rank(b->node_comm, &b->node_rank);
	MPI_Comm_size(b->node_comm, &b->node_size);
	b->leader = b->node_rank == 0;
	return 0;
}

static int split_leaders(struct rally_mpi_barrier *b, MPI_Comm comm)
{
	int rank;
	MPI_Comm_rank(comm, &rank);
	if (MPI_Comm_split(comm, b->leader ? 0 : MPI_UNDEFINED, rank,
	                   &b->leaders) != MPI_SUCCESS)
		return -EIO;
	int nodes = 0;
	if (b->leader)
		MPI_Comm_size(b->leaders, &nodes);
	if (MPI_Bcast(&nodes, 1, MPI_INT, 0, b->node_comm) != MPI_SUCCESS)
		return -EIO;
	b->nodes = nodes;
	return 0;
}

/* The node barriers' spin. rally counts the CPUs of the process; mpirun
 * binds each rank to a core of its own (Open MPI does with as many ranks
 * as cores), and then every rank counted 1 CPU for a barrier of 2 ranks —
 * never spun, and slept every phase (12 us a phase against 0.15 unbound).
 * What matters is the CPUs of the machine's ranks between them:
 *   - more ranks on the machine than CPUs, and a node barrier that rally
 *     would let spin (it sees no more parties than its CPUs): sleep at
 *     once — the ranks of other nodes, and the leaders in MPI, need the
 *     CPUs (fake nodes of 2 on 8 ranks and 2 CPUs spun in vain);
 *   - each of the node's ranks can have a CPU but rally sees fewer (bound
 *     ranks): an explicit budget, about 25-50 us of polls (explicit
 *     budgets are not throttled: a node is the job's);
 *   - else rally's own policy (it yields when the node's ranks outnumber
 *     the CPUs). */
enum { NODE_SPIN_POLLS = 1000 };

/* RALLY_SPIN as rally reads it (lib/spin.c): for an attr that leaves spin
 * at RALLY_SPIN_AUTO, "never" or a number decides for the run — also
 * over the choices below (review round 6: the node level yielded under
 * RALLY_SPIN=never). Read once a process, as rally does (review round 8:
 * read at each create, a variable changed between two disagreed with
 * rally's own copy). */
static int parse_env_spin(void)
{
	const char *s = getenv("RALLY_SPIN");
	if (!s || !*s || strcmp(s, "auto") == 0)
		return RALLY_SPIN_AUTO;
	if (strcmp(s, "never") == 0)
		return RALLY_SPIN_NEVER;
	char *end;
	long n = strtol(s, &end, 10);
	if (*end != '\0' || n < 0 || n > (1L << 30))
		return RALLY_SPIN_AUTO; /* unreadable: rally keeps its default */
	return n == 0 ? RALLY_SPIN_NEVER : (int)n;
}

static int env_spin(void)
{
	static _Atomic int plus2; /* 0 until read; then the policy + 2 */
	int v = atomic_load_explicit(&plus2, memory_order_relaxed);
	if (v == 0) {
		v = parse_env_spin() + 2;
		atomic_store_explicit(&plus2, v, memory_order_relaxed);
	}
	return v - 2;
}

static int node_spin(const struct rally_mpi_barrier *b)
{
	if (b->spin != RALLY_SPIN_AUTO || b->own_cpus < 1)
		return b->spin;
	if (b->env_spin != RALLY_SPIN_AUTO)
		return b->env_spin;
	if (b->machine_ranks > b->machine_cpus && b->node_size <= b->own_cpus)
		return RALLY_SPIN_NEVER;
	if (b->own_cpus < b->node_size && b->machine_cpus >= b->machine_ranks)
		return NODE_SPIN_POLLS;
	return RALLY_SPIN_AUTO;
}

/* Where the machine's ranks outnumber its CPUs and the node's barriers
 * were left to choose (no RALLY_SPIN, attr.spin auto), a node-level wait
 * first yields, testing between yields, for two rotations of a CPU's run
 * queue: a rank of another node, or a leader in MPI, runs meanwhile, and
 * a phase that completes in that time costs no futex wake. That is where
 * node_spin() made them sleep at once (fake nodes of 2 took 8.9 us a
 * phase at 4 ranks on 2 CPUs and 61.8 us at 8 sleeping at once; yielding
 * first, 6.9 and 29.9 — MPI_Barrier: 4.6 and 18.1) and where it left
 * them to rally's own policy, whose yields stop at the first that finds
 * no new arrival (one node of 4 ranks on 2 CPUs took 1.32x the yield
 * floor's time, of 8 ranks 1.30x; yielding first, 1.08x and 1.11x, in
 * interleaved runs). A policy the user set (never, a budget) is theirs:
 * no yields. */
static unsigned node_yields(const struct rally_mpi_barrier *b,
                            const int leader[2])
{
	bool left_to_us = leader[1] != 0;
	bool yields_pay = leader[0] == RALLY_SPIN_NEVER ||
	                  leader[0] == RALLY_SPIN_AUTO;
	if (!left_to_us || !yields_pay || b->machine_cpus < 1 ||
	    b->machine_ranks <= b->machine_cpus)
		return 0;
	return 2 * (unsigned)((b->machine_ranks + b->machine_cpus - 1) /
	                      b->machine_cpus);
}
/* The node's barriers, in memory its ranks share: rank 0's part of the
 * window; the others map it (size 0 of their own). */
static int share_node_barrier(struct rally_mpi_barrier *b)
{
	if (b->node_size == 1)
		return 0;
	int spin = node_spin(b), rc = 0;
	/* The node's barriers are shared: the leader's policy is theirs,
	 * the yields before them included (review round 9: a member yielded
	 * by its own). {its spin, whether it was left to auto}. */
	int leader[2] = {spin, b->spin == RALLY_SPIN_AUTO &&
	                           b->env_spin == RALLY_SPIN_AUTO};
	if (MPI_Bcast(leader, 2, MPI_INT, 0, b->node_comm) != MPI_SUCCESS)
		return -EIO;
	b->node_yields = node_yields(b, leader);
	void *base;
	MPI_Aint size = b->leader ? 2 * (MPI_Aint)sizeof(rally_barrier_t) : 0;
	if (MPI_Win_allocate_shared(size, 1, MPI_INFO_NULL, b->node_comm, &base,
	                            &b->win) != MPI_SUCCESS)
		return -EIO;
	MPI_Aint got;
	int unit;
	if (MPI_Win_shared_query(b->win, 0, &got, &unit, &b->node) !=
	    MPI_SUCCESS)
		return -EIO;
	b->node_release = b->node + 1;
	if (got < 2 * (MPI_Aint)sizeof(rally_barrier_t) ||
	    (uintptr_t)b->node % 8 != 0)
		rc = -EIO;
	else if (b->leader) {
		rally_barrier_attr_t na = {.flags = RALLY_SHARED,
		                           .spin = spin};
		rc = rally_barrier_init(b->node, (unsigned)b->node_size, &na);
		if (rc == 0)
			rc = rally_barrier_init(b->node_release,
			                        (unsigned)b->node_size, &na);
	}
	/* Nobody looks before rank 0 initialised it; all learn its answer. */
	int all = rc;
	if (MPI_Allreduce(&rc, &all, 1, MPI_INT, MPI_MIN, b->node_comm) !=
	    MPI_SUCCESS)
		return -EIO;
	return all;
}

static void free_levels(struct rally_mpi_barrier *b)
{
	if (b->node) {
		/* Everyone has left it (free is collective): rank 0 destroys. */
		MPI_Barrier(b->node_comm);
		if (b->leader) {
			rally_barrier_destroy(b->node);
			rally_barrier_destroy(b->node_release);
		}
		MPI_Barrier(b->node_comm);
	}
	if (b->win != MPI_WIN_NULL)
		MPI_Win_free(&b->win);
	if (b->leaders != MPI_COMM_NULL)
		MPI_Comm_free(&b->leaders);
	if (b->node_comm != MPI_COMM_NULL)
		MPI_Comm_free(&b->node_comm);
	if (b->threads > 1) {
		rally_barrier_destroy(&b->rank);
		rally_barrier_destroy(&b->rank_release);
	}
	free(b);
}

static int set_up(struct rally_mpi_barrier *b, MPI_Comm comm,
                  unsigned threads, const rally_barrier_attr_t *attr,
                  int provided)
{
	b->threads = threads;
	b->funneled = provided == MPI_THREAD_FUNNELED;
	b->creator = pthread_self();
	b->win = MPI_WIN_NULL;
	b->node_comm = b->leaders = MPI_COMM_NULL;
	b->drive.step = STEP_DONE;
	/* Tells this barrier's 1-thread tokens from another's. */
	static _Atomic uint64_t made;
	b->solo_tag = ((uint64_t)(uintptr_t)b * 0x9e3779b97f4a7c15ull) ^
	              (atomic_fetch_add(&made, 1) << 48) ^
	              (uint64_t)rally__mpi_now_ns();
	if (attr) {
		b->action = attr->action;
		b->action_arg = attr->action_arg;
		b->timeout_ns = attr->timeout_ns;
		b->spin = attr->spin;
	}
	if (b->timeout_ns == 0)
		b->timeout_ns = RALLY_FOREVER;
	b->env_spin = env_spin();
	if (threads > 1) {
		/* RALLY_SPIN as read here, not as rally cached it at its
		 * first use in the process (review round 7). */
		rally_barrier_attr_t ra = {
		    .spin = b->spin == RALLY_SPIN_AUTO ? b->env_spin : b->spin};
		int rc = rally_barrier_init(&b->rank, threads, &ra);
		if (rc == 0)
			rc = rally_barrier_init(&b->rank_release, threads, &ra);
		if (rc)
			return rc;
	}
	int rc = split_node(b, comm);
	if (rc == 0)
		rc = split_leaders(b, comm);
	if (rc == 0)
		rc = share_node_barrier(b);
	return rc;
}

RALLY_EXPORT int rally_mpi_barrier_create(rally_mpi_barrier_t **out,
                                          MPI_Comm comm, unsigned threads,
                                          const rally_barrier_attr_t *attr)
{
	int ready = 0, finalized = 0;
	if (MPI_Initialized(&ready) != MPI_SUCCESS || !ready ||
	    MPI_Finalized(&finalized) != MPI_SUCCESS || finalized ||
	    comm == MPI_COMM_NULL) /* no collective call can tell the others */
		return -EINVAL;
	/* An intercommunicator: its collectives answer the other group's
	 * values (agree() would not agree), and it has no node to split
	 * (review round 11: a hang, or a crash inside MPI). Every rank of
	 * it sees that, with no collective call. */
	int inter = 0;
	if (MPI_Comm_test_inter(comm, &inter) != MPI_SUCCESS || inter)
		return -EINVAL;
	/* Bad arguments on one rank still take part in agree(): the others
	 * would wait there for ever. */
	int provided = MPI_THREAD_SINGLE;
	int rc = check_args(out, threads, attr, &provided);
	struct rally_mpi_barrier *b = NULL;
	if (rc == 0 && !(b = calloc(1, sizeof *b)))
		rc = -ENOMEM;
	/* Only valid arguments everywhere go on to the collective set-up;
	 * a rank whose own were valid frees what it allocated, nothing of
	 * MPI's (review: MPI_Win_free on a zeroed handle aborted the job —
	 * the null handles are not 0). */
	rc = agree(comm, rc);
	if (rc == 0)
		rc = same_node_size(comm);
	if (rc != 0) {
		free(b);
		return rc;
	}
	rc = agree(comm, set_up(b, comm, threads, attr, provided));
	if (rc != 0) {
		free_levels(b);
		return rc;
	}
	*out = b;
	return 0;
}

RALLY_EXPORT int rally_mpi_barrier_free(rally_mpi_barrier_t **pb)
{
	if (!pb || !*pb)
		return -EINVAL;
	struct rally_mpi_barrier *b = *pb;
	if (rally__mpi_in_action(b))
		return -EDEADLK;
	/* A leader that timed out in its MPI_Ibarrier left it outstanding: it
	 * cannot be cancelled, only completed (the other leaders get there),
	 * by tests and naps as a leader waits — MPI_Wait spins (review round
	 * 18: a whole CPU, RALLY_SPIN_NEVER or not). */
	if (b->drive.request_active)
		rally__mpi_complete(b);
	int rc = atomic_load(&b->broken) ? RALLY_BROKEN : 0;
	free_levels(b);
	*pb = NULL;
	return rc;
}

RALLY_EXPORT int rally_mpi_barrier_layout(const rally_mpi_barrier_t *b,
                                          rally_mpi_layout_t *out)
{
	if (!b || !out)
		return -EINVAL;
	*out = (rally_mpi_layout_t){b->node_size, b->node_rank, b->nodes,
	                            b->leader};
	return 0;
}
