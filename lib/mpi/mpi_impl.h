/* mpi_impl.h — the hierarchical barrier's state, shared by create.c (the
 * levels: set up, freed), phase.c (a phase through them) and progress.c
 * (the leaders' MPI_Ibarrier without a CPU burnt). */
#ifndef RALLY_MPI_IMPL_H
#define RALLY_MPI_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "rally-mpi.h"

/* The thread that carries a phase through the node and leader levels (the
 * driver) walks these steps; each level with one member is skipped. A
 * step that would block is retried by the driver's await or test. */
enum drive_step {
	STEP_RANK_GATHER,   /* (FUNNELED driver) the rank's threads arrive */
	STEP_NODE_ARRIVE,   /* arrive at the node's barrier */
	STEP_NODE_GATHER,   /* (leader) the node's ranks have arrived */
	STEP_MPI,           /* (leader) MPI_Ibarrier among the leaders */
	STEP_NODE_RELEASE,  /* (leader) release the node's ranks */
	STEP_NODE_WAIT,     /* the node's phase completes */
	STEP_ACTION,        /* attr's action, once per phase in the rank */
	STEP_RANK_RELEASE,  /* arrive at the rank's release */
	STEP_RANK_WAIT,     /* ... which the others' arrivals complete */
	STEP_DONE,
};

struct drive {
	enum drive_step step;
	rally_token_t token;      /* the driver's own (its await knows it) */
	rally_token_t rank_gather; /* its arrival at the rank's gather */
	rally_token_t node_gather, node_release, rank_release;
	MPI_Request request;      /* the leaders' MPI_Ibarrier */
	bool request_active;
	int rc;                   /* the action's code for the driver */
	uint64_t phase;           /* phases this rank has driven */
};

struct rally_mpi_barrier {
	/* The rank level: `threads` parties each, a gather and a release
	 * (the driver arrives last, once the levels above completed). Two
	 * barriers, not two phases of one: rally counts arrivals in order, so
	 * a thread's release arrival made before the gather had all its
	 * arrivals would count for the gather. Unused with 1 thread. */
	rally_barrier_t rank, rank_release;
	unsigned threads;
	bool funneled;           /* MPI_THREAD_FUNNELED: creator drives */
	pthread_t creator;
	/* The node level: RALLY_SHARED barriers of node_size parties in
	 * memory the node shares (win): with more than one node a gather
	 * and a release, which the leader completes after the leaders'
	 * MPI_Ibarrier; with one node the gather alone is the whole. NULL
	 * with 1 rank. */
	rally_barrier_t *node, *node_release;
	MPI_Win win;
	MPI_Comm node_comm, leaders; /* leaders: MPI_COMM_NULL if not one */
	int node_size, node_rank, nodes, local_leaders;
	/* This rank's CPUs; the machine's ranks and all their CPUs. */
	int own_cpus, machine_ranks, machine_cpus;
	bool leader;
	/* From attr. */
	int (*action)(void *);
	void *action_arg;
	int64_t timeout_ns;
	int spin;
	int env_spin; /* RALLY_SPIN, read once a process, as rally does */
	unsigned node_yields; /* a node-level wait's yields before it sleeps */
	/* Set once the barrier broke on this rank (timeout, abort, action). */
	_Atomic bool broken;
	bool abort_after_phase; /* abort() from the action (the driver's) */
	uint64_t solo_tag; /* a 1-thread rank's tokens carry it */
	/* The thread driving the current phase (pthread_self), 0 once it
	 * finished: its await and test take the driver's path. */
	_Atomic uintptr_t driver;

	struct drive drive;
};

/* progress.c: tests the leaders' MPI_Ibarrier until it completes or
 * deadline_ns (CLOCK_MONOTONIC; INT64_MAX none, 0 one test): 0 done,
 * RALLY_TIMEDOUT, or -EIO. Spins briefly only if the node's leaders on
 * this machine do not outnumber its CPUs, then yields, then sleeps between
 * tests, up to 1 ms at a time, or 1/128 of its wait so far once that is
 * longer (8 ms at most). */
int rally__mpi_progress(struct rally_mpi_barrier *b, int64_t deadline_ns);
/* Tests the outstanding MPI_Ibarrier until it completes, as the leader
 * waits (a broken barrier does not stop it): 0 or -EIO. */
int rally__mpi_complete(struct rally_mpi_barrier *b);
int64_t rally__mpi_now_ns(void);
/* phase.c: whether this thread runs b's action now. */
bool rally__mpi_in_action(const struct rally_mpi_barrier *b);
/* The deadline timeout_ns from now (INT64_MAX for RALLY_FOREVER). */
int64_t rally__mpi_deadline(int64_t timeout_ns);
/* Nanoseconds left before deadline_ns: RALLY_FOREVER, 0 (passed) or more. */
int64_t rally__mpi_left(int64_t deadline_ns);

#endif
