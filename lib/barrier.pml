/* barrier.pml — a SPIN model of lib/barrier.c's protocol (see README,
 * "The model"). Every C atomic operation is one atomic step here; names
 * follow the C code. Checked: unique indices, the action once per completed
 * phase and before anyone leaves, nobody early, a broken phase breaking all
 * its callers, a timeout never beating a completed phase, no access after
 * destroy, and (invalid end states) no lost wake-up.
 *
 *   spin -a -DN=3 barrier.pml && cc -O2 -DSAFETY -o pan pan.c && ./pan -m100000
 *
 * N processes, all parties. The sequence number has SEQ_BITS (2) bits and
 * EPOCHS (2) slots, so both wrap inside the model. Faults are bounded and
 * nondeterministic: a timeout, an abort, a reset, a failing action, a
 * spurious wake-up (EINTR), each at most once. MUTANT_* (one at a time)
 * plants a known bug class; the suite checks that SPIN catches each. */

#ifndef N
#define N 3
#endif
#ifndef ROUNDS
#define ROUNDS 2       /* waits per process before the final clean one */
#endif
/* Fault budgets (each at most this many times in a run) and whether the
 * completer runs an action: ACTION 0 never, 1 always, 2 either. */
#ifndef RESETS
#define RESETS 2       /* two resets: an epoch slot is reused (EPOCHS 2) */
#endif
#ifndef TIMEOUTS
#define TIMEOUTS 1
#endif
#ifndef ABORTS
#define ABORTS 1
#endif
#ifndef FAILURES
#define FAILURES 1
#endif
#ifndef SPURIOUS
#define SPURIOUS 1
#endif
#ifndef ACTION
#define ACTION 2
#endif
#define SEQ_MASK 3     /* 2-bit sequence numbers: wrap after 4 phases */
#define HALF 2
#define EPOCHS 2
#define OPEN 255
#ifndef GHOSTS
#define GHOSTS 16      /* phases the ghost bookkeeping can follow */
#endif

/* gen = seq << 3 | BUSY | BROKEN | SLEEPERS, one byte */
#define S_BIT 1
#define BROKEN_BIT 2
#define BUSY_BIT 4
#define SEQ(g) ((g) >> 3)
#define GEN(s) (((s) & SEQ_MASK) << 3)

/* outcomes of classify() */
#define DONE 1
#define BROKEN 2
#define BUSY 3
#define PENDING 4

byte gen;
byte a_phase, a_epoch, a_count; /* arrivals: phase | epoch | count */
short leaving[EPOCHS];
byte epoch_end[EPOCHS];
bool asleep[N];                  /* blocked in futex_wait */
bool destroyed;

/* fault budgets */
byte timeouts = TIMEOUTS, aborts = ABORTS, resets = RESETS;
byte failures = FAILURES, spurious = SPURIOUS;

/* ghost bookkeeping: phases are numbered by ghost_cur, captured with each
 * arrival and moved on with `arrivals` */
byte ghost_cur;
byte g_arrived[GHOSTS], g_actions[GHOSTS], g_released[GHOSTS];
byte g_broken_ret[GHOSTS], g_idx[GHOSTS];
bool g_completed[GHOSTS];
byte clean;                      /* processes done with their faulty rounds */

#define touch assert(!destroyed)

/* q strictly before s in a window of HALF */
#define BEFORE(q, s) ((((s) - (q)) & SEQ_MASK) != 0 && \
                      (((s) - (q)) & SEQ_MASK) < HALF)

inline futex_wake_all() {
	atomic { w = 0; do :: w < N -> asleep[w] = false; w++ :: else -> break od }
}

/* classify(b, t, g) with t = (q, e) */
inline classify(q, e, g, out) {
	atomic {
		touch;
		if
#ifdef MUTANT_NO_EPOCH
		/* bug: the generation moving past the phase is taken for its
		 * completion — a reset moves it too (completion/reset ABA) */
		:: false ->
#else
		:: epoch_end[e] != OPEN ->
#endif
			out = (BEFORE(q, epoch_end[e]) -> DONE : BROKEN)
		:: else ->
			if
			:: BEFORE(q, SEQ(g)) -> out = DONE
			:: !BEFORE(q, SEQ(g)) && (g & BUSY_BIT) -> out = BUSY
			:: !BEFORE(q, SEQ(g)) && !(g & BUSY_BIT) && (g & BROKEN_BIT) -> out = BROKEN
			:: else -> out = PENDING
			fi
		fi
	}
}

/* rally__wait_change: returns when gen differs from g in a bit but SLEEPERS
 * (changed = true, g updated) or, if the caller may time out, when its
 * deadline passes (changed = false). Spinning is one poll; then the sleep:
 * CAS SLEEPERS in, futex_wait on that exact value. */
inline wait_change(g, may_time_out, changed) {
	changed = false;
	do
	:: atomic { touch;
		if
		:: ((gen ^ g) & ~S_BIT) != 0 -> g = gen; changed = true
		:: else -> skip
		fi }
		if
		:: changed -> break
		:: may_time_out && timeouts > 0 -> timeouts--; break
		/* A party has gone on to the final round: a straggler's wait
		 * would end by its timeout in a real program. */
		:: may_time_out && clean > 0 -> break
		:: else ->
			/* announce a sleeper: CAS on the exact value */
			atomic { touch;
				if
				:: gen == g -> gen = g | S_BIT; g = g | S_BIT
				:: else -> skip
				fi }
			/* futex_wait(gen, g): sleeps only if the word still holds g */
			atomic { touch; if :: gen == g -> asleep[me] = true :: else -> skip fi }
			if
			:: !asleep[me] -> skip
			:: atomic { asleep[me] && spurious > 0 -> spurious--; asleep[me] = false }
			/* ETIMEDOUT: the deadline passed while asleep */
			:: atomic { asleep[me] && may_time_out && (timeouts > 0 || clean > 0) ->
				asleep[me] = false }
			fi
#ifdef MUTANT_TRUST_WAKEUP
			/* bug: a wake-up is taken as the release, no re-check */
			trusted = true; changed = true; break
#endif
		fi
	od
}

/* leave(b, t): the caller's last touch */
inline leave(e) { atomic { touch; leaving[e]-- } }

inline record_success(k, idx) {
	atomic {
		assert(g_arrived[k] == N);            /* nobody early */
		assert(g_completed[k]);               /* the phase completed */
		assert(g_broken_ret[k] == 0);         /* not broken for some */
		assert((g_idx[k] & (1 << idx)) == 0); /* each index once */
		g_idx[k] = g_idx[k] | (1 << idx);
		g_released[k]++
	}
}

inline record_broken(k) {
	atomic {
		assert(g_released[k] == 0);           /* broken for all or none */
		g_broken_ret[k]++
	}
}

/* try_break: CAS BROKEN into the exact value seen */
inline try_break(g, broke) {
	atomic {
		touch;
#ifdef MUTANT_BLIND_TIMEOUT
		/* bug: a timeout sets BROKEN whatever happened meanwhile */
		old = gen; gen = (gen | BROKEN_BIT) & ~S_BIT; broke = true
#else
		if
		:: gen == g -> old = gen; gen = (g | BROKEN_BIT) & ~S_BIT; broke = true
		:: else -> g = gen; broke = false
		fi
#endif
	}
	if :: broke && (old & S_BIT) -> futex_wake_all() :: else -> skip fi
}

inline abort_barrier() {
	atomic {
		touch;
		if
		:: (gen & BROKEN_BIT) -> old = 0
		:: else -> old = gen; gen = (gen | BROKEN_BIT) & ~S_BIT
		fi
	}
	if :: (old & S_BIT) -> futex_wake_all() :: else -> skip fi
}

/* The completer's release without an action. */
inline release(q, e, k, g, out) {
	atomic {
		touch;
		if
		:: (a_phase != q || a_epoch != e) -> out = BROKEN /* a reset took it */
		:: else -> a_phase = (a_phase + 1) & SEQ_MASK; a_count = a_count - N;
			ghost_cur++
		fi
	}
	if
	:: out == BROKEN -> leave(e); record_broken(k)
	:: else ->
#ifndef MUTANT_LATE_LEAVING
		atomic { touch; leaving[e] = leaving[e] + N - 1 };
#endif
#ifdef MUTANT_STALE_SLEEPERS
		/* bug: the wake is decided on SLEEPERS read before publishing */
		atomic { touch; stale = gen & S_BIT };
#endif
		do
		:: atomic { touch;
			if
			:: gen == g -> old = gen; gen = GEN(q + 1); out = DONE;
				g_completed[k] = true
			:: gen != g && (SEQ(gen) != q || (gen & (BROKEN_BIT | BUSY_BIT))) ->
				out = BROKEN
			:: else -> g = gen /* only SLEEPERS moved: retry */
			fi }
			if :: out != 0 -> break :: else -> skip fi
		od;
		if
		:: out == DONE ->
#ifdef MUTANT_LATE_LEAVING
			/* bug: the leave count moves up after the release */
			atomic { touch; leaving[e] = leaving[e] + N - 1 };
#endif
#ifdef MUTANT_STALE_SLEEPERS
			if :: stale -> futex_wake_all() :: else -> skip fi;
#else
			if :: (old & S_BIT) -> futex_wake_all() :: else -> skip fi;
#endif
			record_success(k, N - 1)
		:: else -> record_broken(k)
		fi
	fi
}

/* The completer with an action: claim BUSY, advance, run, publish. */
inline run_action(q, e, k, out) {
	atomic { touch; a_phase = (a_phase + 1) & SEQ_MASK; a_count = a_count - N; ghost_cur++ };
	atomic { touch; leaving[e] = leaving[e] + N - 1 };
	atomic {
		g_actions[k]++;
		assert(g_actions[k] == 1);
		assert(g_released[k] == 0);           /* before anyone leaves */
		if
		:: failures > 0 -> failures--; out = BROKEN
		:: true -> out = DONE
		fi
	}
	atomic {
		touch;
		old = gen;
		if
		:: out == DONE -> gen = GEN(q + 1) | (old & BROKEN_BIT);
			g_completed[k] = true
		:: else -> gen = GEN(q) | BROKEN_BIT
		fi
	}
	if :: (old & S_BIT) -> futex_wake_all() :: else -> skip fi;
	if :: out == DONE -> record_success(k, N - 1) :: else -> record_broken(k) fi
}

inline reset_barrier() {
	/* claim_for_reset */
	do
	:: atomic { touch; g = gen };
		if
		:: (g & BUSY_BIT) -> (!(gen & BUSY_BIT) || destroyed)
		:: else ->
			atomic { touch;
				if
				:: !(g & BROKEN_BIT) && a_count == 0 && a_phase == SEQ(g) ->
					claimed = 2 /* nothing to reset */
				:: else ->
					if
					:: gen == g -> gen = g | BUSY_BIT | BROKEN_BIT; claimed = 1
					:: else -> skip
					fi
				fi }
			if :: claimed != 0 -> break :: else -> skip fi
		fi
	od;
	if
	:: claimed == 1 ->
		seq = SEQ(g); e = a_epoch; nx = (e + 1) % EPOCHS;
		/* wait_count(leaving[next], 0): the slot's callers have left */
		(leaving[nx] == 0);
		atomic { touch; leaving[nx] = 0; epoch_end[nx] = OPEN };
		atomic { touch; epoch_end[e] = seq };
		atomic { touch; c = a_count; a_phase = (seq + 1) & SEQ_MASK;
			a_epoch = nx; a_count = 0; ghost_cur++ };
		atomic { touch; leaving[e] = leaving[e] + c };
		atomic { touch; old = gen; gen = GEN(seq + 1) };
		if :: (old & S_BIT) -> futex_wake_all() :: else -> skip fi
	:: else -> skip
	fi;
	claimed = 0
}

proctype Party(byte me) {
	byte g, old, q, e, idx, k, out, seq, nx, c, claimed, round, w;
	bool changed, broke, with_action, may_time_out, trusted, stale;
	short target;

	do
	:: round < ROUNDS + 1 ->
		if
		:: round == ROUNDS ->
			/* the final round: after everyone's faulty rounds and a
			 * reset, a plain wait; index 0 destroys */
			if
			:: ROUNDS > 0 ->
				atomic { clean++ };
				(clean >= N);
				if :: me == 0 -> reset_barrier() :: else -> skip fi;
				atomic { clean++ };
				(clean >= 2 * N)
			:: else -> skip
			fi;
			may_time_out = false
		:: round < ROUNDS ->
			may_time_out = true;
			if
			:: atomic { aborts > 0 -> aborts-- }; abort_barrier(); goto next
			:: atomic { resets > 0 -> resets-- }; reset_barrier(); goto next
			:: true -> skip
			fi
		fi;
		/* barrier_wait */
		atomic { touch; g = gen };
		if
		:: (g & (BROKEN_BIT | BUSY_BIT)) == BROKEN_BIT -> goto next
		:: else -> skip
		fi;
		atomic { touch; q = a_phase; e = a_epoch; idx = a_count; k = ghost_cur;
			a_count++; g_arrived[k]++ };
		atomic { touch; g = gen };
		if
		:: idx == N - 1 ->
			/* complete(): wait for seq == q, then release or claim */
			do
			:: classify(q, e, g, out);
				if
				:: out == DONE || out == BROKEN ->
					leave(e); record_broken(k); break
				:: out == PENDING && SEQ(g) == q ->
					if
					:: ACTION != 1 -> with_action = false
					:: ACTION != 0 -> with_action = true
					fi;
					if
					:: !with_action -> out = 0; release(q, e, k, g, out); break
					:: with_action ->
						atomic { touch;
							if
							:: gen == g -> gen = g | BUSY_BIT; claimed = 1
							:: else -> g = gen
							fi };
						if
						:: claimed == 1 -> claimed = 0; run_action(q, e, k, out); break
						:: else -> skip
						fi
					fi
				:: else ->
					wait_change(g, (may_time_out && !(g & BUSY_BIT)), changed);
					if
					:: !changed ->
						try_break(g, broke);
						if
						:: broke -> leave(e);
							assert(!g_completed[k]); /* no timeout after completion */
							record_broken(k); break
						:: else -> skip
						fi
					:: else -> skip
					fi
				fi
			od
		:: else ->
			/* await_release() */
			do
			:: classify(q, e, g, out);
				if
				:: trusted -> leave(e); record_success(k, idx); break
				:: out == DONE -> leave(e); record_success(k, idx); break
				:: out == BROKEN -> leave(e); record_broken(k); break
				:: else ->
					wait_change(g, (may_time_out && !(g & BUSY_BIT)), changed);
					if
					:: !changed ->
						try_break(g, broke);
						if
						:: broke -> leave(e);
							assert(!g_completed[k]); /* no timeout after completion */
							record_broken(k); break
						:: else -> skip
						fi
					:: else -> skip
					fi
				fi
			od;
			/* destroy(): the caller that got index 0 in the final round */
			if
			:: round == ROUNDS && idx == 0 && out == DONE ->
				atomic {
					assert(!(gen & BUSY_BIT));
					e = a_epoch;
					target = ((gen & BROKEN_BIT) -> -a_count : 0)
				};
				(leaving[0] == (e == 0 -> target : 0) &&
				 leaving[1] == (e == 1 -> target : 0));
				destroyed = true
			:: else -> skip
			fi
		fi;
next:		round++
	:: else -> break
	od
}

init {
	atomic {
		byte i = 0;
		epoch_end[0] = OPEN; epoch_end[1] = OPEN;
		do :: i < N -> run Party(i); i++ :: else -> break od
	}
}
