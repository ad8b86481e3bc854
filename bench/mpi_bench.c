/* mpi_bench.c — rally-mpi against MPI_Barrier and the hand-written hybrid
 * barrier, side by side in one MPI job.
 *
 * Run under mpirun; every rank runs the same peers in the same order:
 *
 *   --mode phase (default): time per phase. Each peer first finds a number
 *   of phases that lasts about --block-ms, then the peers take turns,
 *   --reps rounds in an order rank 0 shuffles each round (a host that
 *   turns slow for a while slows every peer alike). Per block: wall time
 *   per phase (the slowest rank's), CPU time per phase summed over all
 *   ranks (getrusage(RUSAGE_SELF) of each rank: all its threads, MPI's own
 *   included) and context switches per phase summed over all ranks.
 *   Peers:
 *     mpi_barrier      MPI_Barrier(MPI_COMM_WORLD), 1 thread per rank
 *     rally_flat       rally-mpi, 1 thread per rank, RALLY_MPI_NODE_SIZE
 *                      unset (on one machine: one node, no MPI per phase)
 *     rally_threadsT   rally-mpi with T threads per rank (--threads, 2)
 *     rally_nodeK      rally-mpi, 1 thread per rank, RALLY_MPI_NODE_SIZE=K
 *                      (--node-size, 2): fake nodes of K ranks, so the
 *                      leaders' MPI_Ibarrier runs every phase
 *     hand_threadsT    T threads per rank: pthread_barrier_wait, then
 *                      MPI_Barrier by the main thread, then
 *                      pthread_barrier_wait again (needs FUNNELED)
 *     yield_floor      no library: a counter in memory all ranks share
 *                      (MPI_Win_allocate_shared); a rank arrives with one
 *                      atomic add and yields the CPU until the last one
 *                      bumps a generation word (all ranks on one
 *                      machine). What a phase costs oversubscribed: each
 *                      waiting rank hands its CPU over; no barrier that
 *                      waits by giving up the CPU does less
 *
 *   --mode late: rank 1 sleeps --late-ms before it arrives; rank 0 arrives
 *   at once and its wall and CPU time (getrusage(RUSAGE_SELF): the whole
 *   process) until its wait returns are measured, and how long after rank
 *   1's arrival it returned (CLOCK_MONOTONIC is one clock on one machine).
 *   Exactly 2 ranks. Peers: mpi_barrier, rally_flat, rally_nodeK
 *   (--node-size defaults to 1 here: every rank is its own node, so rank
 *   0 waits in its MPI_Ibarrier progress loop).
 *
 * RALLY_MPI_NODE_SIZE is set (or unset) just before each rally barrier is
 * created, then restored; the layout each barrier reports is checked
 * against the one asked for, so a library that ignored the variable would
 * be an error here, not a silently wrong peer.
 *
 * Output: JSON lines on stdout or in --json FILE (rank 0 writes): first a
 * "context" record, then one record per measurement. */
#define _GNU_SOURCE
#include <mpi.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "rally-mpi.h"

#define MAX_THREADS 64

enum peer_kind { K_MPI, K_RALLY, K_HAND, K_FLOOR };

struct peer {
	char name[32];
	enum peer_kind kind;
	unsigned threads;
	int node_size; /* rally: 0 = RALLY_MPI_NODE_SIZE unset */
	rally_mpi_barrier_t *b;
	rally_mpi_layout_t layout;
	long phases; /* per block, once calibrated */
};

static struct {
	int late;
	int reps;
	double block_ms;
	unsigned threads;
	int node_size;
	double late_ms;
	int thread_level;
	const char *json;
	const char *label;
	const char *peers;
	unsigned seed;
	unsigned watchdog_s;
} opt;

static int rank, nranks;
static FILE *out;
static struct peer peers[8];
static int npeers;

/* ---- errors ------------------------------------------------------------ */

static volatile const char *watch_what = "start-up";

static void on_alarm(int sig)
{
	(void)sig;
	char buf[256];
	int n = snprintf(buf, sizeof buf,
	                 "rally-mpi-bench: rank %d: no progress for %u s in "
	                 "%s (a hang?); exiting\n",
	                 rank, opt.watchdog_s, (const char *)watch_what);
	if (n > 0)
		(void)!write(2, buf, (size_t)n);
	_exit(3);
}

static void die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "rally-mpi-bench: rank %d: ", rank);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	MPI_Abort(MPI_COMM_WORLD, 1);
	exit(1);
}

/* ---- arguments (parsed before MPI_Init: --help needs no MPI) ------------ */

static void usage(FILE *f)
{
	fprintf(f,
"usage: mpirun -np N rally-mpi-bench [options]\n"
"rally-mpi against MPI_Barrier and the hand-written hybrid barrier\n"
"(bench/mpi_bench.c explains the measurements).\n"
"  --mode phase|late     time per phase (default), or the CPU rank 0 burns\n"
"                        while rank 1 arrives late (exactly 2 ranks)\n"
"  --peers LIST          comma-separated, among: mpi_barrier, rally_flat,\n"
"                        rally_threads, rally_node, hand_threads,\n"
"                        yield_floor (late mode: the first, second and\n"
"                        fourth); default: all but yield_floor\n"
"  --reps N              rounds of every peer, shuffled (default 9; late 5)\n"
"  --block-ms MS         wall time of one measurement block (default 150)\n"
"  --threads T           threads per rank of rally_threads and\n"
"                        hand_threads (2 ..= %d; default 2)\n"
"  --node-size K         RALLY_MPI_NODE_SIZE of rally_node (default 2;\n"
"                        late mode 1)\n"
"  --late-ms MS          how late rank 1 arrives in late mode (default 1000)\n"
"  --thread-level funneled|serialized\n"
"                        MPI_Init_thread's level (default serialized: what\n"
"                        rally-mpi with threads > 1 asks for; the\n"
"                        hand-written barrier needs only funneled; Open MPI\n"
"                        4 takes its locks for multiple only)\n"
"  --label NAME          \"run\": NAME in every record (default: the mode)\n"
"  --json FILE           write the JSON lines to FILE, not stdout\n"
"  --seed N              seed of the shuffles (default: the time)\n"
"  --watchdog S          exit with an error when a block makes no progress\n"
"                        for S seconds (default 60; 0: never)\n"
"  -h, --help            this text\n",
	        MAX_THREADS);
}

static int env_rank(void)
{
	const char *v = getenv("OMPI_COMM_WORLD_RANK");
	if (!v)
		v = getenv("PMI_RANK");
	if (!v)
		v = getenv("PMIX_RANK");
	return v ? atoi(v) : 0;
}

static void arg_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
static void arg_error(const char *fmt, ...)
{
	if (env_rank() == 0) {
		va_list ap;
		va_start(ap, fmt);
		fprintf(stderr, "rally-mpi-bench: ");
		vfprintf(stderr, fmt, ap);
		fprintf(stderr, "\n(rally-mpi-bench --help lists the options)\n");
		va_end(ap);
	}
	exit(2);
}

static double num_arg(const char *name, const char *v, double lo, double hi)
{
	char *end;
	errno = 0;
	double x = v ? strtod(v, &end) : 0;
	if (!v || errno || end == v || *end || !(x >= lo && x <= hi)) {
		char range[64];
		snprintf(range, sizeof range, "%g ..= %g", lo, hi);
		if (!v)
			arg_error("%s needs a value (%s)", name, range);
		arg_error("%s: a number %s expected", name, range);
	}
	return x;
}

static long int_arg(const char *name, const char *v, double lo, double hi)
{
	double x = num_arg(name, v, lo, hi);
	if ((double)(long)x != x)
		arg_error("%s: a whole number expected, not '%s'", name, v);
	return (long)x;
}

static void parse_args(int argc, char **argv)
{
	opt.reps = -1;
	opt.block_ms = 150;
	opt.threads = 2;
	opt.node_size = -1;
	opt.late_ms = 1000;
	opt.thread_level = MPI_THREAD_SERIALIZED;
	opt.seed = (unsigned)time(NULL);
	opt.watchdog_s = 60;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			if (env_rank() == 0)
				usage(stdout);
			exit(0);
		}
		if (strncmp(a, "--", 2)) {
			arg_error("unexpected argument '%s'", a);
		}
		i++; /* every option takes a value */
		if (!strcmp(a, "--mode")) {
			if (v && !strcmp(v, "phase"))
				opt.late = 0;
			else if (v && !strcmp(v, "late"))
				opt.late = 1;
			else
				arg_error("--mode: phase or late expected, not '%s'",
				          v ? v : "(nothing)");
		} else if (!strcmp(a, "--peers")) {
			if (!v)
				arg_error("%s needs a value", a);
			opt.peers = v;
		} else if (!strcmp(a, "--reps")) {
			opt.reps = (int)int_arg(a, v, 1, 1000);
		} else if (!strcmp(a, "--block-ms")) {
			opt.block_ms = num_arg(a, v, 1, 60000);
		} else if (!strcmp(a, "--threads")) {
			opt.threads = (unsigned)int_arg(a, v, 2, MAX_THREADS);
		} else if (!strcmp(a, "--node-size")) {
			opt.node_size = (int)int_arg(a, v, 1, 1 << 20);
		} else if (!strcmp(a, "--late-ms")) {
			opt.late_ms = num_arg(a, v, 1, 60000);
		} else if (!strcmp(a, "--thread-level")) {
			if (v && !strcmp(v, "funneled"))
				opt.thread_level = MPI_THREAD_FUNNELED;
			else if (v && !strcmp(v, "serialized"))
				opt.thread_level = MPI_THREAD_SERIALIZED;
			else
				arg_error("--thread-level: funneled or serialized "
				          "expected, not '%s'",
				          v ? v : "(nothing)");
		} else if (!strcmp(a, "--label")) {
			if (!v || !*v || strpbrk(v, "\"\\"))
				arg_error("%s: a name without quotes or "
				          "backslashes expected", a);
			opt.label = v;
		} else if (!strcmp(a, "--json")) {
			if (!v)
				arg_error("%s needs a file name", a);
			opt.json = v;
		} else if (!strcmp(a, "--seed")) {
			opt.seed = (unsigned)int_arg(a, v, 0, UINT_MAX);
		} else if (!strcmp(a, "--watchdog")) {
			opt.watchdog_s = (unsigned)int_arg(a, v, 0, 86400);
		} else {
			arg_error("unknown option '%s'", a);
		}
	}
	if (opt.reps < 0)
		opt.reps = opt.late ? 5 : 9;
	if (opt.node_size < 0)
		opt.node_size = opt.late ? 1 : 2;
	if (!opt.label)
		opt.label = opt.late ? "late" : "phase";

	/* The peers, in the order given. */
	const char *list = opt.peers ? opt.peers
	                   : opt.late ? "mpi_barrier,rally_flat,rally_node"
	                              : "mpi_barrier,rally_flat,rally_threads,"
	                                "rally_node,hand_threads";
	char buf[256];
	if (strlen(list) >= sizeof buf)
		arg_error("--peers: list too long");
	strcpy(buf, list);
	for (char *save, *t = strtok_r(buf, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		struct peer p = {.threads = 1};
		if (!strcmp(t, "mpi_barrier")) {
			p.kind = K_MPI;
			snprintf(p.name, sizeof p.name, "mpi_barrier");
		} else if (!strcmp(t, "rally_flat")) {
			p.kind = K_RALLY;
			snprintf(p.name, sizeof p.name, "rally_flat");
		} else if (!strcmp(t, "rally_threads") && !opt.late) {
			p.kind = K_RALLY;
			p.threads = opt.threads;
			snprintf(p.name, sizeof p.name, "rally_threads%u",
			         opt.threads);
		} else if (!strcmp(t, "rally_node")) {
			p.kind = K_RALLY;
			p.node_size = opt.node_size;
			snprintf(p.name, sizeof p.name, "rally_node%d",
			         opt.node_size);
		} else if (!strcmp(t, "yield_floor") && !opt.late) {
			p.kind = K_FLOOR;
			snprintf(p.name, sizeof p.name, "yield_floor");
		} else if (!strcmp(t, "hand_threads") && !opt.late) {
			p.kind = K_HAND;
			p.threads = opt.threads;
			snprintf(p.name, sizeof p.name, "hand_threads%u",
			         opt.threads);
		} else {
			arg_error("--peers: unknown peer '%s' (mpi_barrier, "
			          "rally_flat, rally_threads, rally_node, "
			          "hand_threads, yield_floor; late mode: "
			          "mpi_barrier, rally_flat, rally_node)", t);
		}
		for (int j = 0; j < npeers; j++)
			if (!strcmp(peers[j].name, p.name))
				arg_error("--peers: '%s' twice", t);
		if (npeers == (int)(sizeof peers / sizeof *peers))
			arg_error("--peers: too many");
		peers[npeers++] = p;
	}
	if (!npeers)
		arg_error("--peers: empty list");
}

/* ---- measuring ---------------------------------------------------------- */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct usage {
	int64_t cpu_ns;
	long csw;
};

static struct usage usage_now(void)
{
	struct rusage r;
	getrusage(RUSAGE_SELF, &r);
	return (struct usage){
		(int64_t)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1000000000 +
			(int64_t)(r.ru_utime.tv_usec + r.ru_stime.tv_usec) * 1000,
		r.ru_nvcsw + r.ru_nivcsw};
}

/* ---- the peers ---------------------------------------------------------- */

static pthread_barrier_t hand_barrier; /* the hand-written peer's */

/* yield_floor's words, in a window all ranks share; each on its own line. */
struct floor_words {
	_Alignas(64) _Atomic uint64_t arrived; /* arrivals ever */
	_Alignas(64) _Atomic uint64_t generation; /* phases completed */
};
static struct floor_words *floor_words;
static MPI_Win floor_win;

static void floor_wait(void)
{
	uint64_t g = atomic_load_explicit(&floor_words->generation,
	                                  memory_order_acquire);
	uint64_t a = atomic_fetch_add_explicit(&floor_words->arrived, 1,
	                                       memory_order_acq_rel) + 1;
	if (a % (uint64_t)nranks == 0) {
		atomic_store_explicit(&floor_words->generation, g + 1,
		                      memory_order_release);
		return;
	}
	while (atomic_load_explicit(&floor_words->generation,
	                            memory_order_acquire) == g)
		sched_yield();
}

static void rally_wait(struct peer *p)
{
	int rc = rally_mpi_barrier_wait(p->b);
	if (rc < 0)
		die("%s: rally_mpi_barrier_wait: %s (%d)", p->name,
		    rally_strerror(rc), rc);
}

/* One thread's `phases` phases of peer p; tid 0 is the main thread. */
static void run_phases(struct peer *p, unsigned tid, long phases)
{
	switch (p->kind) {
	case K_MPI:
		for (long i = 0; i < phases; i++)
			if (MPI_Barrier(MPI_COMM_WORLD) != MPI_SUCCESS)
				die("MPI_Barrier failed");
		break;
	case K_RALLY:
		for (long i = 0; i < phases; i++)
			rally_wait(p);
		break;
	case K_FLOOR:
		for (long i = 0; i < phases; i++)
			floor_wait();
		break;
	case K_HAND:
		for (long i = 0; i < phases; i++) {
			pthread_barrier_wait(&hand_barrier);
			if (tid == 0 && MPI_Barrier(MPI_COMM_WORLD) != MPI_SUCCESS)
				die("MPI_Barrier failed");
			pthread_barrier_wait(&hand_barrier);
		}
		break;
	}
}

/* Helper threads (tid 1 .. threads-1) sleep on ctl between blocks. */
static pthread_barrier_t ctl;
static pthread_t helpers[MAX_THREADS];
static unsigned nhelpers;
static struct peer *cmd_peer; /* NULL: quit */
static long cmd_phases;

static void *helper_main(void *arg)
{
	unsigned tid = (unsigned)(uintptr_t)arg;
	for (;;) {
		pthread_barrier_wait(&ctl); /* start (only peers of threads) */
		if (!cmd_peer)
			return NULL;
		run_phases(cmd_peer, tid, cmd_phases);
		pthread_barrier_wait(&ctl); /* done */
	}
}

/* A block: every rank, every thread of the peer, `phases` phases. Returns
 * this rank's wall time and its usage over the block. */
static void block(struct peer *p, long phases, int64_t *wall,
                  struct usage *use)
{
	watch_what = p->name;
	if (opt.watchdog_s)
		alarm(opt.watchdog_s);
	MPI_Barrier(MPI_COMM_WORLD); /* line the ranks up */
	if (p->threads > 1) {
		cmd_peer = p;
		cmd_phases = phases;
		pthread_barrier_wait(&ctl);
	}
	struct usage u0 = usage_now();
	int64_t t0 = now_ns();
	run_phases(p, 0, phases);
	if (p->threads > 1)
		pthread_barrier_wait(&ctl);
	*wall = now_ns() - t0;
	struct usage u1 = usage_now();
	use->cpu_ns = u1.cpu_ns - u0.cpu_ns;
	use->csw = u1.csw - u0.csw;
	if (opt.watchdog_s)
		alarm(0);
	watch_what = "between blocks";
}

/* The same random order of the peers on every rank. */
static void shuffle(int *order)
{
	for (int i = 0; i < npeers; i++)
		order[i] = i;
	if (rank == 0)
		for (int i = npeers - 1; i > 0; i--) {
			int j = rand() % (i + 1), t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
	MPI_Bcast(order, npeers, MPI_INT, 0, MPI_COMM_WORLD);
}

static void emit_head(const char *kind, const struct peer *p, int rep)
{
	fprintf(out, "{\"kind\": \"%s\", \"run\": \"%s\", \"ranks\": %d, "
	        "\"peer\": \"%s\", \"threads\": %u, \"node_size\": %d, "
	        "\"rep\": %d", kind, opt.label, nranks, p->name, p->threads,
	        p->node_size, rep);
}

static void phase_mode(void)
{
	double block_ns = opt.block_ms * 1e6;
	/* Warm up and calibrate: double the phases until a block lasts a
	 * tenth of --block-ms (the slowest rank's time), then scale. */
	for (int k = 0; k < npeers; k++) {
		struct peer *p = &peers[k];
		long n = 1;
		for (;;) {
			int64_t wall;
			struct usage u;
			block(p, n, &wall, &u);
			double w = (double)wall, wmax;
			MPI_Allreduce(&w, &wmax, 1, MPI_DOUBLE, MPI_MAX,
			              MPI_COMM_WORLD);
			if (wmax >= block_ns / 10 || n >= (1L << 26)) {
				double per = wmax / (double)n;
				double want = block_ns / (per > 1 ? per : 1);
				p->phases = want < 10 ? 10
				            : want > 1e8 ? 100000000L
				                         : (long)want;
				break;
			}
			n *= 2;
		}
	}
	int order[8];
	for (int rep = 0; rep < opt.reps; rep++) {
		shuffle(order);
		for (int k = 0; k < npeers; k++) {
			struct peer *p = &peers[order[k]];
			int64_t wall;
			struct usage u;
			block(p, p->phases, &wall, &u);
			double mine[3] = {(double)wall, (double)u.cpu_ns,
			                  (double)u.csw};
			double wmax, sums[2];
			MPI_Reduce(&mine[0], &wmax, 1, MPI_DOUBLE, MPI_MAX, 0,
			           MPI_COMM_WORLD);
			MPI_Reduce(&mine[1], sums, 2, MPI_DOUBLE, MPI_SUM, 0,
			           MPI_COMM_WORLD);
			if (rank != 0)
				continue;
			double n = (double)p->phases;
			emit_head("phase", p, rep);
			fprintf(out, ", \"phases\": %ld, \"ns_per_phase\": %.1f, "
			        "\"cpu_ns_per_phase\": %.1f, "
			        "\"csw_per_phase\": %.3f}\n",
			        p->phases, wmax / n, sums[0] / n, sums[1] / n);
			fflush(out);
		}
	}
}

static void sleep_ns(int64_t ns)
{
	struct timespec ts = {ns / 1000000000, ns % 1000000000};
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void late_mode(void)
{
	int64_t late_ns = (int64_t)(opt.late_ms * 1e6);
	/* Warm up: a few phases of each peer on time. */
	for (int k = 0; k < npeers; k++) {
		int64_t wall;
		struct usage u;
		block(&peers[k], 10, &wall, &u);
	}
	int order[8];
	for (int rep = 0; rep < opt.reps; rep++) {
		shuffle(order);
		for (int k = 0; k < npeers; k++) {
			struct peer *p = &peers[order[k]];
			watch_what = p->name;
			if (opt.watchdog_s)
				alarm(opt.watchdog_s + (unsigned)(opt.late_ms /
				                                  1000));
			MPI_Barrier(MPI_COMM_WORLD);
			struct usage u0 = usage_now();
			int64_t t0 = now_ns(), arrived;
			if (rank == 1)
				sleep_ns(late_ns);
			arrived = now_ns();
			run_phases(p, 0, 1);
			int64_t t1 = now_ns();
			struct usage u1 = usage_now();
			if (opt.watchdog_s)
				alarm(0);
			watch_what = "between blocks";
			/* rank 0: {wait, cpu, return time}; rank 1: {arrival
			 * time, cpu over its sleep and phase} */
			int64_t mine[3] = {t1 - t0, u1.cpu_ns - u0.cpu_ns,
			                   rank == 1 ? arrived : t1};
			int64_t all[6];
			MPI_Gather(mine, 3, MPI_INT64_T, all, 3, MPI_INT64_T, 0,
			           MPI_COMM_WORLD);
			if (rank != 0)
				continue;
			emit_head("late", p, rep);
			fprintf(out, ", \"late_ns\": %lld, \"wait_ns\": %lld, "
			        "\"cpu_ns\": %lld, \"cpu_frac\": %.5f, "
			        "\"release_ns\": %lld, \"late_rank_cpu_ns\": "
			        "%lld}\n",
			        (long long)late_ns, (long long)all[0],
			        (long long)all[1],
			        (double)all[1] / (double)all[0],
			        (long long)(all[2] - all[5]), (long long)all[4]);
			fflush(out);
		}
	}
}

/* ---- set-up ------------------------------------------------------------- */

static void create_rally(struct peer *p, int shm_size)
{
	const char *var = "RALLY_MPI_NODE_SIZE";
	char *saved = getenv(var) ? strdup(getenv(var)) : NULL;
	if (p->node_size) {
		char v[16];
		snprintf(v, sizeof v, "%d", p->node_size);
		setenv(var, v, 1);
	} else {
		unsetenv(var);
	}
	int rc = rally_mpi_barrier_create(&p->b, MPI_COMM_WORLD, p->threads,
	                                  NULL);
	if (saved) {
		setenv(var, saved, 1);
		free(saved);
	} else {
		unsetenv(var);
	}
	if (rc < 0)
		die("%s: rally_mpi_barrier_create: %s (%d)", p->name,
		    rally_strerror(rc), rc);
	rc = rally_mpi_barrier_layout(p->b, &p->layout);
	if (rc < 0)
		die("%s: rally_mpi_barrier_layout: %s (%d)", p->name,
		    rally_strerror(rc), rc);
	/* On one machine (all ranks share memory) the layout is known. */
	if (shm_size == nranks) {
		int k = p->node_size ? p->node_size : nranks;
		if (k > nranks)
			k = nranks;
		int nodes = (nranks + k - 1) / k;
		int first = rank / k * k;
		int size = nranks - first < k ? nranks - first : k;
		rally_mpi_layout_t *l = &p->layout;
		if (l->nodes != nodes || l->node_size != size ||
		    l->node_rank != rank - first)
			die("%s: layout %d nodes, node size %d, rank %d in "
			    "node%s; asked for %d nodes of %d (RALLY_MPI_NODE_"
			    "SIZE %s at create)", p->name, l->nodes,
			    l->node_size, l->node_rank,
			    l->leader ? ", leader" : "", nodes, size,
			    p->node_size ? "set" : "unset");
	}
}

static void create_floor(int shm_size)
{
	if (shm_size != nranks)
		die("yield_floor needs every rank on one machine (%d of %d "
		    "share memory)", shm_size, nranks);
	MPI_Aint size = rank == 0 ? (MPI_Aint)sizeof *floor_words : 0;
	void *base;
	if (MPI_Win_allocate_shared(size, 1, MPI_INFO_NULL, MPI_COMM_WORLD,
	                            &base, &floor_win) != MPI_SUCCESS)
		die("yield_floor: MPI_Win_allocate_shared failed");
	MPI_Aint got;
	int unit;
	if (MPI_Win_shared_query(floor_win, 0, &got, &unit, &base) !=
	    MPI_SUCCESS)
		die("yield_floor: MPI_Win_shared_query failed");
	floor_words = base;
	if (rank == 0) {
		atomic_init(&floor_words->arrived, 0);
		atomic_init(&floor_words->generation, 0);
	}
	MPI_Barrier(MPI_COMM_WORLD);
}

static void context_record(int provided, int shm_size)
{
	char lib[MPI_MAX_LIBRARY_VERSION_STRING] = "";
	int len;
	MPI_Get_library_version(lib, &len);
	lib[strcspn(lib, "\n,")] = 0;
	cpu_set_t set;
	int bound = sched_getaffinity(0, sizeof set, &set) ? -1
	                                                   : CPU_COUNT(&set);
	int bmin, bmax;
	MPI_Reduce(&bound, &bmin, 1, MPI_INT, MPI_MIN, 0, MPI_COMM_WORLD);
	MPI_Reduce(&bound, &bmax, 1, MPI_INT, MPI_MAX, 0, MPI_COMM_WORLD);
	if (rank != 0)
		return;
	char host[256] = "?";
	gethostname(host, sizeof host - 1);
	char date[64];
	time_t t = time(NULL);
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S%z", localtime(&t));
	const char *ov = getenv("OMPI_MCA_mpi_oversubscribe");
	const char *yi = getenv("OMPI_MCA_mpi_yield_when_idle");
	fprintf(out, "{\"kind\": \"context\", \"run\": \"%s\", \"mode\": "
	        "\"%s\", \"ranks\": %d, \"ranks_sharing_memory\": %d, "
	        "\"cpus\": %ld, \"cpus_per_rank\": [%d, %d], \"host\": "
	        "\"%s\", \"date\": \"%s\", \"mpi\": \"%s\", "
	        "\"thread_level\": \"%s\", \"ompi_oversubscribe\": \"%s\", "
	        "\"ompi_yield_when_idle\": \"%s\", \"reps\": %d, "
	        "\"block_ms\": %g, \"seed\": %u, \"layouts\": {",
	        opt.label, opt.late ? "late" : "phase", nranks, shm_size,
	        sysconf(_SC_NPROCESSORS_ONLN), bmin, bmax, host, date, lib,
	        provided == MPI_THREAD_FUNNELED     ? "funneled"
	        : provided == MPI_THREAD_SERIALIZED ? "serialized"
	        : provided == MPI_THREAD_MULTIPLE   ? "multiple"
	                                            : "single",
	        ov ? ov : "", yi ? yi : "", opt.reps, opt.block_ms, opt.seed);
	bool first = true;
	for (int k = 0; k < npeers; k++) {
		if (!peers[k].b)
			continue;
		fprintf(out, "%s\"%s\": {\"nodes\": %d, \"node_size\": %d}",
		        first ? "" : ", ", peers[k].name, peers[k].layout.nodes,
		        peers[k].layout.node_size);
		first = false;
	}
	fprintf(out, "}}\n");
	fflush(out);
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	signal(SIGALRM, on_alarm);

	unsigned maxthreads = 1;
	for (int k = 0; k < npeers; k++)
		if (peers[k].threads > maxthreads)
			maxthreads = peers[k].threads;
	int provided;
	int want = maxthreads > 1 ? opt.thread_level : MPI_THREAD_FUNNELED;
	if (opt.watchdog_s)
		alarm(opt.watchdog_s);
	MPI_Init_thread(&argc, &argv, want, &provided);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &nranks);
	if (maxthreads > 1 && provided < want)
		die("MPI_Init_thread gave thread level %d, below the %d asked "
		    "for", provided, want);
	if (nranks < 2)
		die("needs 2 ranks or more (mpirun -np N)");
	if (opt.late && nranks != 2)
		die("--mode late needs exactly 2 ranks, not %d", nranks);

	out = stdout;
	if (rank == 0 && opt.json && !(out = fopen(opt.json, "w")))
		die("%s: %s", opt.json, strerror(errno));
	srand(opt.seed);

	MPI_Comm shm;
	int shm_size;
	MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0,
	                    MPI_INFO_NULL, &shm);
	MPI_Comm_size(shm, &shm_size);
	MPI_Comm_free(&shm);

	watch_what = "rally_mpi_barrier_create";
	for (int k = 0; k < npeers; k++)
		if (peers[k].kind == K_RALLY)
			create_rally(&peers[k], shm_size);
		else if (peers[k].kind == K_FLOOR)
			create_floor(shm_size);
	if (maxthreads > 1) {
		nhelpers = maxthreads - 1;
		pthread_barrier_init(&ctl, NULL, maxthreads);
		pthread_barrier_init(&hand_barrier, NULL, opt.threads);
		for (unsigned t = 1; t < maxthreads; t++)
			if (pthread_create(&helpers[t], NULL, helper_main,
			                   (void *)(uintptr_t)t))
				die("pthread_create failed");
	}
	alarm(0);
	context_record(provided, shm_size);

	if (opt.late)
		late_mode();
	else
		phase_mode();

	if (nhelpers) {
		cmd_peer = NULL;
		pthread_barrier_wait(&ctl);
		for (unsigned t = 1; t <= nhelpers; t++)
			pthread_join(helpers[t], NULL);
	}
	watch_what = "rally_mpi_barrier_free";
	if (opt.watchdog_s)
		alarm(opt.watchdog_s);
	for (int k = 0; k < npeers; k++)
		if (peers[k].b) {
			int rc = rally_mpi_barrier_free(&peers[k].b);
			if (rc < 0)
				die("%s: rally_mpi_barrier_free: %s (%d)",
				    peers[k].name, rally_strerror(rc), rc);
		}
	if (floor_words)
		MPI_Win_free(&floor_win);
	alarm(0);
	if (out != stdout && fclose(out))
		die("%s: %s", opt.json, strerror(errno));
	MPI_Finalize();
	return 0;
}
