/*
 * rally-mpi.h — a hierarchical barrier over MPI: the threads of a rank, the
 * ranks of a node, the nodes.
 *
 * A phase completes when `threads` threads of every rank of the
 * communicator have arrived. Three levels, each skipped when it has one
 * member:
 *   1. the threads of a rank meet at a rally barrier;
 *   2. the ranks of a node (MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)) meet
 *      at a RALLY_SHARED rally barrier in memory the node shares
 *      (MPI_Win_allocate_shared) — on one machine the whole phase is this
 *      futex barrier, and no MPI call is made per phase;
 *   3. one leader per node joins MPI_Ibarrier on the leaders' communicator
 *      and progresses it without burning a CPU its node needs (test, back
 *      off, then sleep), then releases its node.
 * RALLY_MPI_NODE_SIZE=k in the environment splits each node into groups of
 * k consecutive ranks that act as nodes, so that level 3 runs on one
 * machine.
 *
 * Library librally-mpi, pkg-config rally-mpi; built when Meson finds MPI.
 * Conventions as in rally.h: 0 or a non-negative result, or a negative
 * errno-style code (rally_strerror() names them); times in nanoseconds.
 */
#ifndef RALLY_MPI_H
#define RALLY_MPI_H

#include <mpi.h>

#include "rally.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rally_mpi_barrier rally_mpi_barrier_t; /* opaque */

/* Collective over comm: every rank calls it, each with the number of its
 * threads that take part in each phase (1 ..= RALLY_PARTIES_MAX; it may
 * differ between ranks). attr (may be NULL) as rally_barrier_init() takes
 * it, except flags (0 only): its action runs once per phase in each rank,
 * before that rank's threads are released (it may make MPI calls; arrive,
 * wait, timedwait, await, test and free on its own barrier return
 * -EDEADLK there, also from an action of another barrier run in turn in
 * the same thread; actions nested more than 16 deep in one thread: the
 * 17th barrier's phase fails with -EDEADLK and breaks it); its timeout is
 * wait()'s default; its spin applies to the rank's and the node's levels,
 * and to the leader's tests of MPI_Ibarrier (RALLY_SPIN_AUTO leaves it to
 * the RALLY_SPIN environment variable, as in rally.h: read once a process,
 * so set it before the program starts): never means no spin and no yield
 * while waiting at any level (the leader sleeps between its tests), a
 * budget N is spent in a spin before any yield (by the leader: N tests).
 * The node's barriers are shared: their attr.spin is the node leader's
 * policy (its attr.spin, or its RALLY_SPIN when that says never or a
 * number), and so are the yields before them; where the leader's is auto,
 * each rank's rally reads its own RALLY_SPIN — give every rank the same.
 * Threads: the MPI calls of a phase are made inside arrive, await or test
 * by the thread that drives it: with threads > 1 the thread that completes
 * the rank's level, which needs MPI_THREAD_SERIALIZED or better (the
 * program's other MPI calls must then not overlap the phase: between
 * arrive and await too); under MPI_THREAD_FUNNELED the thread that called
 * create, which MPI requires to be the main thread (the one that called
 * MPI_Init_thread) — it must take part in every phase, and call free (with
 * 1 thread, that thread must be the one that waits). Returns 0 and *out, or
 * -EINVAL (bad arguments, an unreadable RALLY_MPI_NODE_SIZE or one that
 * differs between ranks, MPI not
 * initialised), -ENOTSUP (MPI_THREAD_SINGLE with threads > 1), -ENOMEM,
 * or -EIO (an MPI call failed — only under MPI_ERRORS_RETURN: MPI's
 * default handler ends the job). Every rank gets the same answer: create
 * agrees on the outcome before it returns. comm MPI_COMM_NULL, or an
 * intercommunicator, is -EINVAL;
 * another invalid communicator is for MPI's error handler to judge. */
int rally_mpi_barrier_create(rally_mpi_barrier_t **out, MPI_Comm comm,
                             unsigned threads,
                             const rally_barrier_attr_t *attr);

/* Waits for the phase: the caller's arrival index among its rank's
 * threads (0 ..= threads - 1), or the action's code (in the thread that
 * ran it), or RALLY_BROKEN, RALLY_TIMEDOUT (attr's default timeout), or
 * -EIO in the thread whose MPI call failed (under MPI_ERRORS_RETURN; the
 * rank breaks, and the other leaders wait for ever). */
int rally_mpi_barrier_wait(rally_mpi_barrier_t *b);

/* The same with a timeout (RALLY_FOREVER, 0: do not block, or more).
 * Timeouts and rally_mpi_barrier_abort() act within a rank: a caller whose
 * time runs out breaks its rank's barrier (every later call there returns
 * RALLY_BROKEN). A thread that does not drive the phase waits with its
 * time until its rank is released — through the levels above and the
 * action too: unlike rally's core, such a timeout that runs out while a
 * slow action runs breaks the rank, though every rank has arrived (give
 * the waits time for the action). The driving thread's time (a 1-thread
 * rank's) covers the levels above, not the action it runs. What the other ranks see depends on how far the rank's
 * phase had gone: before its arrival reached the node's level, the other
 * ranks wait for it, as for an MPI rank that leaves a collective (an MPI
 * collective cannot be cancelled); after, they complete the phase — but
 * a leader that stops before it posted its node's MPI_Ibarrier (waiting
 * at its node's gather) leaves every rank waiting, and one that stops
 * after, before its node's release, leaves its node's ranks waiting (review
 * round 11). An MPI_Ibarrier the rank left outstanding stays so;
 * rally_mpi_barrier_free() completes it (testing and napping as a
 * leader waits, not spinning), which waits for every other leader to
 * post it: if one never does (its own rank broke first), free
 * hangs — a job that broke a rank should end with MPI_Abort. */
int rally_mpi_barrier_timedwait(rally_mpi_barrier_t *b, int64_t timeout_ns);

/* Split phase: arrive without waiting (the arrival index, as wait), then
 * compute, then await. The arrival that completes the rank's level
 * (under MPI_THREAD_FUNNELED: the creating thread's, once the rank's
 * level is complete) makes its node's arrival and — when its node has all
 * its arrivals — the leader's MPI_Ibarrier at once, so the computing
 * overlaps the hierarchy; that thread carries the phase to its end in its
 * own await or test, and the rank's other threads are released then. A
 * thread awaits (or tests until it answers) each token before it arrives
 * again. Asked again, a token gets the same answer (a RALLY_TIMEDOUT is
 * RALLY_BROKEN the next time, as in the core) — except that a token of a
 * phase its thread drove, once that thread has driven another since (of
 * any barrier; with 1 thread, once a later phase began), answers only
 * whether the phase completed, not an outcome the levels above or the
 * action gave it. */
int rally_mpi_barrier_arrive(rally_mpi_barrier_t *b, rally_token_t *token);
/* 0 once the token's phase completed; RALLY_BROKEN, RALLY_TIMEDOUT (as
 * timedwait), the action's code (in the thread that ran it), -EINVAL. */
int rally_mpi_barrier_await(rally_mpi_barrier_t *b, rally_token_t token,
                            int64_t timeout_ns);
/* Does not wait for other ranks or threads still to arrive: 1 complete,
 * 0 not yet, or a code as await. The driver's test carries the phase as
 * far as it can: it may run the action (and whatever MPI calls that
 * makes), and wait for a thread of its own rank between its two arrivals
 * (a few instructions). */
int rally_mpi_barrier_test(rally_mpi_barrier_t *b, rally_token_t token);

/* Breaks the barrier on this rank: its waiters return RALLY_BROKEN. */
int rally_mpi_barrier_abort(rally_mpi_barrier_t *b);

/* Collective over the communicator: frees the barrier and sets *b to NULL.
 * No thread may be inside a call on it. Returns 0, or -EPIPE if it was
 * broken on this rank (it is freed all the same; an MPI_Ibarrier it left
 * outstanding is completed first, which waits for the other leaders). */
int rally_mpi_barrier_free(rally_mpi_barrier_t **b);

/* How this rank sits in the hierarchy (for logs and tests): its node's
 * number of ranks, its rank in the node, the number of nodes, and whether
 * it is its node's leader. -EINVAL for NULL. */
typedef struct rally_mpi_layout {
	int node_size, node_rank, nodes;
	bool leader;
} rally_mpi_layout_t;
int rally_mpi_barrier_layout(const rally_mpi_barrier_t *b,
                             rally_mpi_layout_t *out);

#ifdef __cplusplus
}
#endif

#endif
