/* barrier.pml — a SPIN model of the barrier protocol of lib/phase.c,
 * lib/reset.c, lib/token.c, lib/lifecycle.c and lib/wait.c (robust mode:
 * lib/robust.pml). See README, "The model". Every C atomic operation is one
 * atomic step here, on the words of lib/barrier_impl.h with the same
 * encoding, narrower; names follow the C code.
 *
 *   spin -a -DP=2 -DT=3 barrier.pml && cc -O2 -DSAFETY -DCOLLAPSE -o pan pan.c
 *   ./pan -m3000000
 *
 * T callers (threads) share a barrier of P parties (T > P: more callers than
 * parties); each makes CALLS calls: wait() (timed or not), or a split phase
 * (arrive, then test and await). A monitor thread resets and aborts
 * (visitors, rally__visit); caller 0 or the monitor destroys once every
 * caller's last call has arrived (or pinned its token), and calls destroy
 * again after -EBUSY: a call that has yet to touch the barrier when
 * destroy returns is the program's own race.
 * Faults are bounded and nondeterministic: deadlines passing (TIMEOUTS at
 * any moment; and with LATE, a timed wait that nothing else can end ends by
 * its deadline — SPIN's `timeout`), resets, aborts, a failing action,
 * spurious wake-ups. MUTANT_* (one at a time) plants a known defect; the
 * suite (tests/model.sh) checks that SPIN catches each.
 *
 * Ghosts number the phases (a caller's ghost phase is taken with its
 * arrival) and assert: each index once per completed phase; the action once
 * per completed phase and before anyone of it is released; nobody released
 * early; a phase broken for all its callers or none; a phase broken only by
 * a fault (its own or an earlier phase's timeout, abort, reset, failing
 * action); a caller that timed out: its phase never completes; a caller
 * that re-arrives: its phase did not complete; a reset opens the next epoch
 * only once its epoch drained; no access after destroy (also reads of the
 * configuration); a token's answer: never a wrong done, broken for a
 * completed phase only once its record was reused. A lost wake-up, or any
 * other hang, shows as an invalid end state. */

#ifndef P
#define P 2            /* parties */
#endif
#ifndef T
#define T 3            /* caller threads */
#endif
#ifndef CALLS
#define CALLS 2        /* calls per caller */
#endif
#ifndef ACTION
#define ACTION 2       /* 0: no action, 1: an action, 2: either (init) */
#endif
#ifndef TIMED
#define TIMED 1        /* 0: no wait is timed, 1: callers > 0 time theirs, 2: all */
#endif
#ifndef TIMEOUTS
#define TIMEOUTS 1     /* deadlines that may pass at any moment */
#endif
#ifndef LATE
#define LATE 0         /* 1: a stuck timed wait ends by its deadline */
#endif
#ifndef RESETS
#define RESETS 0
#endif
#ifndef ABORTS
#define ABORTS 0
#endif
#ifndef FAILS
#define FAILS 1        /* failing actions */
#endif
#ifndef SPURIOUS
#define SPURIOUS 1
#endif
#ifndef TOKENS
#define TOKENS 0       /* calls that are split phases (arrive ... await) */
#endif
#ifndef WITHDRAWS
#define WITHDRAWS 0    /* split phases whose arrival is taken back (asyncio's cancel) */
#endif
#ifndef TESTS
#define TESTS 0        /* 1: a split phase tests its token before awaiting */
#endif
#ifndef SHARED
#define SHARED 0       /* 1: waits sleep in slices and reload the state */
#endif
#ifndef DESTROY
#define DESTROY 1      /* 0: none, 1: caller 0 after its calls and the monitor's,
                          2: the monitor, 3: caller 0 after its calls, racing the monitor */
#endif
#ifndef SEQ_BITS
#define SEQ_BITS 3
#endif
#ifndef RECORDS
#define RECORDS 2
#endif
#ifndef GHOSTS
#define GHOSTS 8
#endif

#define SEQ_MASK ((1 << SEQ_BITS) - 1)
#define SEQ_HALF (1 << (SEQ_BITS - 1))
/* completers move an epoch's baseline on by REBASE phases once their phase
 * is that far past it (C: 2^24 of 2^28) */
#define REBASE (1 << (SEQ_BITS - 2))
/* rally__note_broken guards the barrier when a caller finds its phase more
 * than RUNAWAY phases past a broken one (C: 2^20, with a window of 2^27;
 * here 0: any phase past it — the window of 2 or 4 phases is too narrow for
 * more, and the callers racing the guard must stay within it) */
#define RUNAWAY 0
#define MAGIC 1
#define DYING 2
#define EPM 4          /* arr's epoch field: the epoch id mod 4 */
#define AHEAD_MAX 3

/* state: SLEEPERS, BROKEN, BUSY, EPOCH, seq << 4 (the futex word gen: the
 * low 8 bits here) | holder << 8 | ahead << 12 */
#define SLP 1
#define BRK 2
#define BSY 4
#define EPB 8
#define SEQ(s) (((s) >> 4) & SEQ_MASK)
#define PAR(s) (((s) >> 3) & 1)
#define HOLDER(s) (((s) >> 8) & 15)
#define AHEAD(s) ((s) >> 12)
#define MAKE(q, par) (((q) & SEQ_MASK) << 4 | ((par) & 1) << 3)
#define WITH_HOLDER(s, h) (((s) & ~(15 << 8)) | ((h) << 8))
#define WITH_AHEAD(s, k) (((s) & 4095) | ((k) << 12))
/* wait.c's changed(): the low half differs in a bit other than SLEEPERS */
#define CHANGED(v, s) ((((v) ^ (s)) & 254) != 0)
#define DM(p, q) (((p) - (q)) & SEQ_MASK)
#define DIFF(p, q) (DM(p, q) < SEQ_HALF -> DM(p, q) : DM(p, q) - SEQ_MASK - 1)
#ifdef MUTANT_REARRIVE
/* re-arrives also when its phase completed before the reset's cut */
#define RESETTING(s, p, par) (((s) & (BSY | BRK)) == (BSY | BRK) && PAR(s) == (par))
#else
#define RESETTING(s, p, par) (((s) & (BSY | BRK)) == (BSY | BRK) && \
	PAR(s) == (par) && DIFF(p, SEQ(s)) >= 0)
#endif

/* outcomes, and the codes calls return */
#define DONE 1
#define BROKEN 2
#define PENDING 3
#define COMPLETING 4
#define RC_BROKEN 100
#define RC_TIMEDOUT 101
#define REARRIVE 102
#define BRK_DONE 0
#define BRK_CHANGED 1
#define BRK_TOO_FAR 2

int st;                          /* state */
byte a_phase, a_ep, a_cnt;       /* arr: phase | epoch | count */
byte out;                        /* callers that have left (mod 256) */
byte base_phase[2], out_base[2], epoch_id;
short rec_id[RECORDS];
byte rec_cut[RECORDS];
byte pins[RECORDS];
byte magic = MAGIC;              /* MAGIC, DYING, or 0: destroyed */
bool destroyed;                  /* destroy returned 0: the memory may go */
byte visitors;                   /* resets, aborts in the object (lifecycle.c) */
byte rearrivals;                 /* waits between leaving and arriving again */
bool guarded;                    /* the runaway guard (phase.c) */
bool asleep[T + 1];
bool has_action;
byte timeouts = TIMEOUTS, spurious = SPURIOUS, fails = FAILS;
byte tokens = TOKENS;
byte withdraws = WITHDRAWS;

/* ghosts */
byte g_ak;                       /* the ghost phase arr's phase field names */
byte g_kmax;
byte g_arrived[GHOSTS], g_released[GHOSTS], g_broken[GHOSTS];
byte g_timedout[GHOSTS], g_actions[GHOSTS], g_idx[GHOSTS];
bool g_completed[GHOSTS];
byte g_faults;                   /* aborts, resets, failing actions so far */
byte g_to_min = 255;             /* the first ghost phase a timeout broke */
byte g_in[2];                    /* callers inside, by epoch parity */
byte g_begun;                    /* callers that began their last call */
bool g_mon_done = true;          /* the monitor's resets and aborts returned */
short g_rec_newest[RECORDS];     /* the newest epoch recorded in a slot */

#define touch assert(!destroyed)

inline futex_wake_all() {
	atomic { w = 0; do :: w <= T -> asleep[w] = false; w++ :: else -> break od; w = 0 }
}

/* rally__wake_if: only the address of the word, no access */
inline wake_if(old) {
	if :: (old & SLP) != 0 -> futex_wake_all() :: else -> skip fi
}

/* a deadline check: may find it passed (TIMEOUTS budget) */
inline deadline_check() {
	if
	:: atomic { timed && !dlp && timeouts > 0 -> timeouts--; dlp = true }
	:: true -> skip
	fi
}

/* rally__wait_change(&state, s, SLEEPERS, dl): wc 0 when gen changed (s
 * fresh), 1 when the deadline passed first (s: the last value read) */
inline wait_change(s, wc) {
	wc = 2;
	do
	:: atomic { touch; v = st; if :: CHANGED(v, s) -> s = v; wc = 0 :: else -> skip fi };
		if :: wc == 0 -> v = 0; break :: else -> skip fi;
		deadline_check();
		if :: dlp -> s = v; v = 0; wc = 1; break :: else -> skip fi;
		ok = true;
		if
		:: (v & SLP) == 0 ->
			/* announce a sleeper: CAS on the exact value */
			atomic { touch;
				if
				:: st == v -> st = v | SLP; v = v | SLP
				:: else -> ok = false
				fi }
		:: else -> skip
		fi;
		if
		:: ok ->
			/* futex_wait(gen, v): sleeps only if the word holds v */
			atomic { touch; if :: (st & 255) == (v & 255) -> asleep[me] = true :: else -> skip fi };
			if
			:: !asleep[me] -> skip
			:: atomic { asleep[me] && spurious > 0 -> spurious--; asleep[me] = false }
			:: atomic { asleep[me] && timed && !dlp && timeouts > 0 ->
				timeouts--; dlp = true; asleep[me] = false }
			/* ETIMEDOUT: nothing else can end this timed wait */
			:: atomic { asleep[me] && timed && LATE && timeout ->
				dlp = true; asleep[me] = false }
			fi;
#ifdef MUTANT_TRUST_WAKEUP
			/* a wake-up taken as the release: no re-check */
			trusted = true; wc = 0; break;
#endif
			skip
		:: else -> skip
		fi
	od
}

/* rally__wait_state: ws true when gen changed; false when the deadline
 * passed — on a shared barrier with the state reloaded after the slice */
inline wait_state(s, ws) {
	wait_change(s, wc);
	if
	:: wc == 0 -> ws = true
	:: else ->
#if SHARED
		atomic { touch; s = st };
#endif
		ws = false
	fi
}

/* an untimed wait_state (rally__no_deadline) */
inline wait_state_forever(s) {
	tsave = timed; timed = false;
	wait_state(s, ws);
	timed = tsave
}

inline classify(s, p, par, o) {
	d_step {
		k_ = AHEAD(s); d_ = DIFF(p, SEQ(s));
		if
		:: PAR(s) != (par) ->
			if
			:: (s & BRK) != 0 && (s & BSY) == 0 -> o = BROKEN
			:: else -> o = ((k_ != 0 && d_ >= k_) -> BROKEN : PENDING)
			fi
		:: else ->
			if
			:: d_ < 0 -> o = DONE
			:: d_ >= 0 && (s & BRK) != 0 -> o = BROKEN
			:: d_ == 0 && (s & BRK) == 0 -> o = ((s & BSY) != 0 -> COMPLETING : PENDING)
			:: d_ > 0 && (s & BRK) == 0 -> o = ((k_ != 0 && d_ >= k_) -> BROKEN : PENDING)
			fi
		fi;
		k_ = 0; d_ = 0
	}
}

/* published(): phase seq done, nx the first incomplete, ahead carried */
inline published(s, nx, par, n) {
	d_step {
		n = MAKE(nx, par); k_ = AHEAD(s); m_ = DM(nx, SEQ(s));
		if
		:: k_ == 0 || k_ < m_ -> skip
		:: k_ != 0 && k_ == m_ -> n = n | BRK
		:: k_ != 0 && k_ > m_ -> n = WITH_AHEAD(n, k_ - m_)
		fi;
		k_ = 0; m_ = 0
	}
}

/* ---- ghost checks at a caller's return ---- */
inline completed(k) {
	assert(g_arrived[k] == P);            /* nobody early */
	assert(g_timedout[k] == 0);           /* no timeout beats a completion */
	assert(g_broken[k] == 0);             /* broken for all or none */
	assert(!has_action || g_actions[k] == 1);
	g_completed[k] = true
}
inline done_ok(k) {
	assert(g_completed[k]);
	assert(g_arrived[k] == P);
	assert(g_broken[k] == 0 && g_timedout[k] == 0)
}
inline ret_index(k, idx) {
	d_step {
		done_ok(k);
		/* each index once — but a withdrawn arrival's successor takes
		 * the latest arrival's index again (asyncio's count does too):
		 * then only the count of the released is bounded */
		assert(WITHDRAWS > 0 || (g_idx[k] & (1 << idx)) == 0);
		assert(g_released[k] < P);
		g_idx[k] = g_idx[k] | (1 << idx);
		g_released[k]++
	}
}
inline ret_broken(k) {
	d_step {
		assert(!g_completed[k]);
		assert(g_released[k] == 0);
		assert(g_faults > 0 || g_to_min <= k); /* broken by a fault */
		g_broken[k]++
	}
}
inline ret_timedout(k) {
	d_step { assert(!g_completed[k]); assert(g_released[k] == 0) }
}

/* ---- phase.c ---- */

inline leave(ep) {
	atomic { touch; out++; g_in[(ep) & 1]-- }
}

/* rally__arrive: one fetch_add (the last moves arr on later: advance) */
inline arrive() {
	atomic {
		touch;
		c_ = a_cnt; tph = (a_phase + c_ / P) & SEQ_MASK; tidx = c_ % P;
		tep = a_ep; tk = g_ak + c_ / P;
		assert(tk < GHOSTS);
		a_cnt++;
		g_arrived[tk]++; assert(g_arrived[tk] <= P);
		g_in[tep & 1]++;
		if :: lastcall && !begun -> begun = true; g_begun++ :: else -> skip fi;
		if :: tk > g_kmax -> g_kmax = tk :: else -> skip fi;
		c_ = 0
	}
}

/* advance_arrivals: the last arrival's second step, just before its
 * completion (after a re-arrival's end, as barrier_wait does in C) */
inline advance() {
	atomic { touch; a_phase = (a_phase + 1) & SEQ_MASK; a_cnt = a_cnt - P; g_ak++ }
}

/* rally__break_phase at the caller's deadline: br. It judges the state it
 * is about to replace first: a phase completing, done, broken or reset is
 * not the timeout's to break (BRK_CHANGED: classify again) */
inline break_phase(s, br) {
	classify(s, tph, tep & 1, o);
	if :: o != PENDING -> br = BRK_CHANGED :: else -> br = BRK_DONE fi;
	if :: br == BRK_DONE ->
	d_step {
		old = s; d_ = DIFF(tph, SEQ(old));
		if
		:: PAR(old) == (tep & 1) && d_ == 0 ->
			nxt = WITH_AHEAD((old | BRK) & ~SLP, 0)
		:: else ->
			if
			:: d_ <= 0 || d_ > AHEAD_MAX -> br = BRK_TOO_FAR
			:: else ->
				/* pending: any `ahead` is beyond p; ours comes first */
#ifdef MUTANT_A3
				/* breaks the phase gen names, not its own */
				nxt = WITH_AHEAD((old | BRK) & ~SLP, 0)
#else
				nxt = WITH_AHEAD(old, d_)
#endif
			fi
		fi;
		d_ = 0
	}
	if
	:: br == BRK_DONE ->
		atomic { touch;
#ifdef MUTANT_BLIND_TIMEOUT
			/* a timeout breaks whatever happened meanwhile */
			if :: true ->
#else
			if :: st == s ->
#endif
				st = nxt;
				assert(!g_completed[tk]); g_timedout[tk]++;
				if :: tk < g_to_min -> g_to_min = tk :: else -> skip fi
			:: else -> s = st; br = BRK_CHANGED
			fi };
		if :: br == BRK_DONE && (nxt & BRK) != 0 -> wake_if(old) :: else -> skip fi
	:: else -> skip
	fi
	:: else -> skip
	fi
}

/* expire(): the deadline passed with the phase pending; brk true if broke */
inline expire(s, brk) {
	break_phase(s, br);
	brk = (br == BRK_DONE);
	if :: br == BRK_TOO_FAR -> wait_state_forever(s) :: else -> skip fi
}

/* run_busy: holds BUSY (claimed: s); the action, then publish */
inline run_busy(s) {
	arc = 0; old = s;
	if
	:: has_action ->
		atomic {
			g_actions[tk]++;
			assert(g_actions[tk] == 1);        /* once per phase */
			assert(g_released[tk] == 0);       /* before anyone is released */
			if
			:: fails > 0 -> fails--; arc = 1; g_faults = 1
			:: true -> skip
			fi
		}
	:: else -> skip
	fi;
	do
	:: if
	   :: arc != 0 -> nxt = MAKE(tph, tep & 1) | BRK
	   :: else -> published(s, tph + 1, tep & 1, nxt)
	   fi;
	   atomic { touch;
		if
		:: st == s -> st = nxt; g_in[tep & 1]--;
			if :: arc == 0 -> completed(tk) :: else -> skip fi;
			break
		:: else -> s = st
		fi }
	od;
#ifdef MUTANT_A1
	/* reads the configuration after its publishing CAS */
	atomic { touch };
#endif
#ifdef MUTANT_STALE_SLEEPERS
	/* decides the wake on the state it claimed, not the one it replaced */
	wake_if(old);
#else
	wake_if(s);
#endif
	old = 0;
	/* a failed phase does not complete: its completer leaves as a waiter
	 * does, last (destroy waits for it; counted before its publish, it was
	 * counted twice when it died in between: the taker counts it too) */
	if :: arc != 0 -> atomic { touch; out++ } :: else -> skip fi;
	rc = (arc == 0 -> P - 1 : RC_BROKEN)
}

/* rebase_if_due: the epoch's baseline (base_phase and out_base: one word,
 * base[], in C) moves on by REBASE phases once our phase is that far past
 * it; one CAS, not retried. Only while gen names our phase, whole: the
 * completer's first try is a guess, and on a broken barrier every phase's
 * last arrival still tries (MUTANT_REBASE_GUESS: the baseline passes a
 * broken phase, and destroy and reset count callers inside for ever — the
 * C defect the model found) */
inline rebase_if_due() {
	atomic { touch; base = base_phase[tep & 1]; ob = out_base[tep & 1] };
#ifndef MUTANT_REBASE_GUESS
	if
	:: DM(tph, base) >= REBASE ->
		atomic { touch; v = st };
		if
		:: (v & (BRK | BSY)) != 0 || PAR(v) != (tep & 1) || SEQ(v) != tph -> base = tph
		:: else -> skip
		fi;
		v = 0
	:: else -> skip
	fi;
#endif
	if
	:: DM(tph, base) >= REBASE && base != tph ->
		atomic { touch;
			if
			:: base_phase[tep & 1] == base && out_base[tep & 1] == ob ->
				base_phase[tep & 1] = (base + REBASE) & SEQ_MASK;
				out_base[tep & 1] = (ob + REBASE * (P - 1)) & 255
			:: else -> skip
			fi }
	:: else -> skip
	fi;
	base = 0; ob = 0
}

/* try_complete from s (a guess, or the state naming our phase): done true
 * with rc if it did */
inline try_complete(s, done) {
	old = s; done = false;
#ifndef MUTANT_NO_REBASE
	rebase_if_due();
#endif
	if
	:: has_action ->
		atomic { touch;
			if
			:: st == s -> st = WITH_HOLDER(old | BSY, me + 1); s = st; done = true
			:: else -> s = st
			fi };
		if :: done -> run_busy(s) :: else -> skip fi
	:: else ->
		published(old, tph + 1, tep & 1, nxt);
		atomic { touch;
			if
			:: st == s -> st = nxt; done = true; g_in[tep & 1]--; completed(tk)
			:: else -> s = st
			fi };
		if
		:: done ->
#ifdef MUTANT_A1
			atomic { touch };
#endif
			wake_if(old);
			rc = P - 1
		:: else -> skip
		fi
	fi
}

/* rally__complete: the last arrival of its phase */
inline complete(s) {
	s = MAKE(tph, tep & 1);
	try_complete(s, done);
	if
	:: done -> skip
	:: !done && RESETTING(s, tph, tep & 1) -> rearrive_or_break()
	:: else ->
		do
		:: classify(s, tph, tep & 1, o);
			if
			:: o == BROKEN || o == DONE ->
				note_broken(s);
#ifndef MUTANT_A2
				leave(tep);
#else
				/* leaves without counting itself out */
				atomic { g_in[tep & 1]-- };
#endif
				rc = RC_BROKEN; break
			:: o == PENDING && PAR(s) == (tep & 1) && SEQ(s) == tph ->
				try_complete(s, done);
				if :: done -> break :: else -> skip fi
			:: else ->
				wait_state(s, ws);
				if
				:: ws -> skip
				:: else ->
					expire(s, brk);
					if :: brk -> leave(tep); rc = RC_TIMEDOUT; break :: else -> skip fi
				fi
			fi
		od
	fi
}

/* rally__await_phase: a caller that is not the last */
inline await_phase(s) {
	atomic { touch; s = st };
	if
	:: RESETTING(s, tph, tep & 1) -> rearrive_or_break()
	:: else ->
		do
		:: classify(s, tph, tep & 1, o);
#ifdef MUTANT_TRUST_WAKEUP
			if :: trusted -> o = DONE; trusted = false :: else -> skip fi;
#endif
			if
			:: o == DONE -> leave(tep); rc = tidx; break
			:: o == BROKEN -> note_broken(s); leave(tep); rc = RC_BROKEN; break
			:: o == COMPLETING -> wait_state_forever(s)
			:: else ->
				wait_state(s, ws);
				if
				:: ws -> skip
				:: else ->
					expire(s, brk);
					if :: brk -> leave(tep); rc = RC_TIMEDOUT; break :: else -> skip fi
				fi
			fi
		od
	fi
}

/* rally__note_broken: a caller that found its phase (of s's epoch) more
 * than RUNAWAY phases past a broken gen guards the barrier (the load of
 * `guarded` and its store: one step; no reset can clear it between, the
 * caller is inside its epoch) */
inline note_broken(s) {
#ifdef MUTANT_NO_GUARD
	skip   /* main before 5e219f7 */
#else
	if
	:: PAR(s) == (tep & 1) && DIFF(tph, SEQ(s)) > RUNAWAY ->
		atomic { touch; guarded = true }
	/* gen of the other parity: a dead reset moved arr into our epoch,
	 * all of it broken; the epoch began at its baseline */
	:: PAR(s) != (tep & 1) && DIFF(tph, base_phase[tep & 1]) > RUNAWAY ->
		atomic { touch; guarded = true }
	:: else -> skip
	fi
#endif
}

/* rally__guard: 0 (rc 0) if the caller may arrive, else the broken code */
inline guard() {
	rc = 0;
	atomic { touch; gd = guarded };
	if
	:: gd ->
		/* broken however it broke: BROKEN, or ahead; not a reset in
		 * progress before its swap, which the caller waits out (it
		 * cannot run away) */
		atomic { touch; s = st };
		atomic { touch; ae = a_ep };
		if
		:: (s & (BRK | BSY)) == (BRK | BSY) && PAR(s) == (ae & 1) -> skip
		/* past the swap BROKEN is the reset's own: only ahead */
		:: (s & (BRK | BSY)) == (BRK | BSY) && PAR(s) != (ae & 1) &&
		   AHEAD(s) != 0 -> rc = RC_BROKEN
		:: (s & (BRK | BSY)) != (BRK | BSY) &&
		   ((s & BRK) != 0 || AHEAD(s) != 0) -> rc = RC_BROKEN
		:: else -> skip
		fi;
		ae = 0
	:: else -> skip
	fi;
	gd = false
}

/* rally__rearrive_or_break (not robust): counted as a re-arrival before it
 * leaves, so that destroy never finds it nowhere */
inline rearrive_or_break() {
#ifndef MUTANT_REARRIVAL_LATE
	atomic { touch; rearrivals++; rearr = true };
	leave(tep);
#else
	/* counted after it left */
	leave(tep);
	atomic { touch; rearrivals++; rearr = true };
#endif
	rc = REARRIVE
}
/* rally__rearrival_end: back as an arrival, or given up (release) */
inline rearrival_end() {
	atomic { touch; rearrivals--; rearr = false }
}
/* rally__await_reset within the caller's deadline: ws false if it passed */
inline await_reset(par) {
	atomic { touch; s = st };
	ws = true;
	do
	:: ws && (s & (BSY | BRK)) == (BSY | BRK) && PAR(s) == (par) -> wait_state(s, ws)
	:: else -> break
	od
}

inline check_return() {
	if
	:: rc == RC_BROKEN -> ret_broken(tk)
	:: rc == RC_TIMEDOUT -> ret_timedout(tk)
	:: rc == REARRIVE -> assert(!g_completed[tk]) /* its index is not lost */
	:: else -> ret_index(tk, rc)
	fi
}

/* the end of a call that never arrived (a guard's refusal): its last call
 * has begun, for destroy's wait in the model */
inline begin_last() {
	if :: lastcall && !begun -> atomic { begun = true; g_begun++ } :: else -> skip fi
}

/* rally_barrier_timedwait: barrier_wait() */
inline barrier_wait() {
	atomic { touch };                     /* rally__view: the configuration */
	guard();
	if
	:: rc == RC_BROKEN ->
		/* no arrival: the barrier is broken (a fault broke it) */
		assert(g_faults > 0 || g_to_min < 255);
		begin_last()
	:: else ->
		do
		:: arrive();
			if :: rearr -> rearrival_end() :: else -> skip fi;
			if
			:: tidx == P - 1 -> advance(); complete(s)
			:: else -> await_phase(s)
			fi;
			check_return();
			if :: rc != REARRIVE -> break :: else -> skip fi;
			/* a re-arrival: waits for the reset within its deadline */
			await_reset(tep & 1);
			if
			:: !ws -> rearrival_end(); rc = RC_TIMEDOUT; break
			:: else -> skip
			fi
		od
	fi
}

/* rally__visit: false (the call returns -EINVAL) if destroy finished
 * meanwhile. Its steps on `visitors` and `magic` are the only ones allowed
 * once destroy has returned (untouched: a call that began before destroy
 * returned; one that begins after is the program's own race) */
inline visit(ok) {
	ok = false;
	do
	:: atomic {
		/* the view and the first step: a call that begins once destroy
		 * returned is the program's race (not made) */
		if :: destroyed -> w = 0; break :: else -> skip fi;
#ifndef MUTANT_VISIT_LATE
		visitors++;
		if
		:: magic == MAGIC -> ok = true
		:: else -> visitors--
		fi;
#else
		/* reads magic, then counts itself: two steps */
		ok = (magic == MAGIC);
#endif
		w = magic };
#ifdef MUTANT_VISIT_LATE
		if :: ok -> atomic { visitors++ } :: else -> skip fi;
#endif
		if
		:: ok || w != DYING -> break
		:: else -> magic != DYING         /* backoff until destroy decided */
		fi
	od;
	w = 0
}
/* rally__unvisit: the visitor's last touch */
inline unvisit() {
	atomic { touch; visitors-- }
}

/* rally__abort */
inline rally_abort() {
	old = 0;
	atomic { touch; s = st };
	do
	:: if
	   :: (s & BRK) != 0 && (s & BSY) == 0 -> break
	   :: (s & BSY) != 0 && AHEAD(s) == 1 -> break
	   :: (s & BSY) != 0 && AHEAD(s) != 1 -> nxt = WITH_AHEAD(s, 1)
	   :: (s & (BRK | BSY)) == 0 -> nxt = WITH_AHEAD((s | BRK) & ~SLP, 0)
	   fi;
	   atomic { touch;
		if
		:: st == s -> st = nxt; g_faults = 1;
			if :: (nxt & BRK) != 0 -> old = s :: else -> old = 0 fi;
			break
		:: else -> s = st
		fi }
	od;
	wake_if(old); old = 0
}

/* rally_barrier_abort: a visitor */
inline abort_barrier() {
	visit(ok);
	if
	:: ok -> rally_abort(); unvisit()
	:: else -> skip                       /* -EINVAL */
	fi
}

/* ---- reset.c ---- */

/* callers_inside(a, cut): arrivals - completed phases - out, since base */
inline callers_inside(cut, inside) {
	atomic { touch; base = base_phase[ae & 1]; ob = out_base[ae & 1] };   /* base[] */
	atomic { touch; o_ = out };
	d_step {
		in_ = (DM(ap, base) * P + ac) & 255;
#ifdef MUTANT_A4
		/* counts a phase moved on by arr as completed: the completer
		 * between its fetch_add and its publish is not waited for */
		inside = (((in_ - DM(ap, base)) & 255) != ((o_ - ob) & 255));
#else
		inside = (((in_ - DM(cut, base)) & 255) != ((o_ - ob) & 255));
#endif
		in_ = 0
	}
}

inline load_arr() {
	atomic { touch; ap = a_phase; ae = a_ep; ac = a_cnt }
}

/* rally__reset */
inline rally_reset() {
	/* 1. claim */
	claimed = false;
	atomic { touch; s = st };
	do
	:: (s & BSY) != 0 -> wait_state_forever(s)
	:: else ->
		load_arr();
		if
		:: (s & BRK) == 0 && AHEAD(s) == 0 && ac == 0 && ap == SEQ(s) &&
		   (ae & 1) == PAR(s) -> break    /* nothing to reset */
		:: else ->
			nxt = WITH_HOLDER(MAKE(SEQ(s), ae & 1) | BSY | BRK, T + 1);
			atomic { touch;
				if
				:: st == s -> old = s; st = nxt; s = nxt; claimed = true; g_faults = 1
				:: else -> s = st
				fi };
			if :: claimed -> wake_if(old); break :: else -> skip fi
		fi
	od;
	if
	:: claimed ->
		load_arr();
		atomic { touch; id = epoch_id - ((epoch_id - ae) & (EPM - 1)) };
		atomic { touch; base = base_phase[id & 1] };
		cut = (PAR(s) != (ae & 1) -> base : SEQ(s));
		/* 2. record, once no await pins its slot */
		atomic { touch; pins[id % RECORDS] == 0 };
#ifdef MUTANT_A5
		/* zeroes the pins after waiting: erases one landing between */
		atomic { touch; pins[id % RECORDS] = 0 };
#endif
		atomic { touch; rec_id[id % RECORDS] = id; rec_cut[id % RECORDS] = cut;
			g_rec_newest[id % RECORDS] = id };
		/* 3, 4. drain, swap */
		do
		:: load_arr();
			callers_inside(cut, inside);
			if
			:: inside ->
				/* backoff: looks again once arr or out moved */
				atomic { touch; a_phase != ap || a_ep != ae || a_cnt != ac || out != o_ }
			:: else ->
				atomic { touch; base = base_phase[id & 1]; ob = out_base[id & 1] };
				/* base_phase, out_base, epoch_id of id + 1: read by
				 * nobody before the swap (one step here) */
				atomic { touch;
					base_phase[(id + 1) & 1] = (cut + 1) & SEQ_MASK;
					out_base[(id + 1) & 1] =
					    (ob + DM(ap, base) * P + ac - DM(cut, base)) & 255;
					epoch_id = id + 1 };
				atomic { touch;
					if
					:: a_phase == ap && a_ep == ae && a_cnt == ac ->
						a_phase = (cut + 1) & SEQ_MASK; a_ep = (id + 1) % EPM;
						a_cnt = 0; swapped = true;
						assert(g_in[id & 1] == 0); /* the epoch drained */
						g_ak = (g_kmax > g_ak -> g_kmax : g_ak) + 1;
						assert(g_ak < GHOSTS)
					:: else -> swapped = false
					fi };
				if :: swapped -> break :: else -> skip fi
			fi
		od;
		atomic { touch; guarded = false };
		/* 5. publish, carrying ahead */
		do
		:: published(s, cut + 1, (id + 1) & 1, nxt);
			atomic { touch;
				if
				:: st == s -> st = nxt; break
				:: else -> s = st
				fi }
		od;
		wake_if(s)
	:: else -> skip
	fi
}

/* rally_barrier_reset: a visitor */
inline reset_barrier() {
	visit(ok);
	if
	:: ok -> rally_reset(); unvisit()
	:: else -> skip                       /* -EINVAL */
	fi
}

/* ---- token.c ---- */

inline judge(s, o) {
	atomic { touch; s = st };
	atomic { touch; rid = rec_id[tid % RECORDS]; rcut = rec_cut[tid % RECORDS] };
	stale = false;
	if
	:: rid == tid -> o = (DIFF(tph, rcut) < 0 -> DONE : BROKEN)
	:: rid > tid -> o = BROKEN; stale = true
	:: else -> classify(s, tph, tid & 1, o)
	fi
}

/* rally_barrier_arrive: tres = 0 a waiter's token, else resolved */
inline token_arrive() {
	atomic { touch };
	tres = 0;
	guard();
	if
	:: rc == RC_BROKEN -> assert(g_faults > 0 || g_to_min < 255); tres = 1
	:: else -> skip
	fi;
	do
	:: tres != 0 -> break
	:: tres == 0 -> arrive();
		if :: rearr -> rearrival_end() :: else -> skip fi;
		if
		:: tidx == P - 1 ->
			advance();
			complete(s);
			check_return();
			if
			:: rc == REARRIVE ->
				/* untimed: rally__no_deadline */
				tsave = timed; timed = false; await_reset(tep & 1); timed = tsave
			:: else -> tres = 1; break
			fi
		:: else ->
			atomic { touch; s = st };
			if
			:: RESETTING(s, tph, tep & 1) ->
				rearrive_or_break(); check_return();
				tsave = timed; timed = false; await_reset(tep & 1); timed = tsave
			:: else -> break
			fi
		fi
	od;
	if
	:: tres == 0 ->
		classify(s, tph, tep & 1, o);
		if
		:: o == BROKEN -> note_broken(s); leave(tep); rc = RC_BROKEN; check_return(); tres = 1
		:: else ->
			atomic { touch; tid = epoch_id - ((epoch_id - tep) & (EPM - 1)) };
			leave(tep)
		fi
	:: else -> skip
	fi
}

/* rally__barrier_withdraw: wd 0 withdrawn (the arrival is gone), 1 the
 * phase had all its arrivals (the token stands), 2 broken (rc). The token's
 * caller left when it arrived. It counts itself in again (`out` down by
 * one: callers inside one more, it) before the CAS takes its arrival away
 * (one fewer again), and leaves (`out` up) if the CAS cannot. A drain that
 * looks in between waits for it; one that looked before may swap the epoch
 * meanwhile — the CAS then fails, and the leave restores the count the
 * swap's baseline took. The window is not a caller of the epoch to the
 * ghosts (g_in): it arrives at nothing, and never waits. */
inline token_withdraw() {
	atomic { touch };
	if
	:: tres != 0 -> wd = 1              /* the last arrival's: complete */
	:: else ->
#ifndef MUTANT_WITHDRAW_CAS_FIRST
		atomic { touch; out-- };
#endif
		do
		:: load_arr();
			atomic { touch; id = epoch_id - ((epoch_id - ae) & (EPM - 1)) };
			judge(s, o);
			if
			:: o == BROKEN -> wd = 2; rc = RC_BROKEN; break
			/* wdd: the token's phase past arr's (a last arrival between
			 * its count and its advance), wdc: its phase's count */
			:: o != BROKEN -> d_step { wdd = (tph - ap) & SEQ_MASK;
				wdc = ac - wdd * P };
				/* "whole": a phase of our epoch answered so has all
				 * its arrivals (or the token would stand alone in it:
				 * a ghost arrival, review round 16) */
				if
				:: id != tid -> d_step { wd = 1; wdd = 0; wdc = 0 }; break
#ifndef MUTANT_WITHDRAW_NEXT
				:: id == tid && (wdd >= SEQ_HALF || ac <= wdd * P) ->
#else
				/* a token of the phase after arr's taken for whole */
				:: id == tid && (wdd != 0 || ac <= wdd * P) ->
#endif
					d_step { assert(g_arrived[tk] == P);
						wd = 1; wdd = 0; wdc = 0 }; break
#ifndef MUTANT_WITHDRAW_WHOLE
				:: id == tid && wdd < SEQ_HALF && ac > wdd * P && wdc >= P ->
					d_step { assert(g_arrived[tk] == P);
						wd = 1; wdd = 0; wdc = 0 }; break
				:: id == tid && wdd < SEQ_HALF && ac > wdd * P && wdc < P ->
#else
				/* takes an arrival from a phase that has all of them */
				:: id == tid && wdd < SEQ_HALF && ac > wdd * P && wdc > P -> d_step { wd = 1; wdd = 0; wdc = 0 }; break
				:: id == tid && wdd < SEQ_HALF && ac > wdd * P && wdc <= P ->
#endif
				/* the CAS, from the arr we looked at */
				atomic { touch;
					if
					:: a_phase == ap && a_ep == ae && a_cnt == ac ->
						a_cnt--; g_arrived[tk]--; wd = 0
					:: else -> wd = 3
					fi;
					wdd = 0; wdc = 0 };
				if :: wd == 3 -> skip :: else -> break fi
				fi
			fi
		od;
#ifndef MUTANT_WITHDRAW_CAS_FIRST
		if
		:: wd != 0 -> atomic { touch; out++ }
		:: else -> skip
		fi;
#else
		/* counted out after the CAS: until then one caller too few is
		 * counted inside, which an arrival's +1 hides from a drain */
		if
		:: wd == 0 -> atomic { touch; out-- }
		:: else -> skip
		fi;
#endif
		if
		:: wd == 2 && stale -> skip         /* record reused: unknown */
		:: wd == 2 && !stale -> check_return()
		:: else -> skip
		fi
	fi
}

inline token_test() {
	atomic { touch };
	if
	:: tres == 0 ->
		judge(s, o);
		if
		:: o == DONE -> d_step { done_ok(tk) }
		:: o == BROKEN && !stale -> assert(!g_completed[tk])
		:: else -> skip
		fi
	:: else -> skip
	fi
}

inline token_await() {
	atomic { touch };
	if
	:: tres == 0 ->
		atomic { touch; pins[tid % RECORDS]++;    /* pin */
			if :: lastcall && !begun -> begun = true; g_begun++ :: else -> skip fi };
		do
		:: judge(s, o);
			if
			:: o == DONE -> rc = tidx; break
			:: o == BROKEN -> rc = RC_BROKEN; break
			:: o == COMPLETING -> wait_state_forever(s)
			:: else ->
				wait_state(s, ws);
				if
				:: ws -> skip
				:: else ->
					/* the phase's ghost: the token's */
					tep = tid;
					break_phase(s, br);
					if
					:: br == BRK_DONE -> rc = RC_TIMEDOUT; break
					:: br == BRK_TOO_FAR -> wait_state_forever(s)
					:: else -> skip
					fi
				fi
			fi
		od;
		atomic { touch; assert(pins[tid % RECORDS] > 0); pins[tid % RECORDS]-- };
		if
		:: rc == RC_BROKEN && stale -> skip   /* record reused: unknown */
		:: else -> check_return()
		fi
	:: else -> skip
	fi
}

/* ---- lifecycle.c ---- */

#define QUIET 0
#define LEAVING 1
#define REFUSE 2

/* rally_barrier_destroy's quiescence(): q */
inline quiescence(q) {
	looked = false;
#ifndef MUTANT_NO_VISITORS
	atomic { touch; vis = visitors };
#endif
	if
	:: vis != 0 -> q = REFUSE
	:: else ->
		atomic { touch; rr = rearrivals };
		atomic { touch; s = st };
		load_arr();
		/* arrivals_waiting: callers arrived into a phase that waits */
		o = 0;
		if :: (ac % P) != 0 -> classify(s, (ap + ac / P) & SEQ_MASK, ae & 1, o) :: else -> skip fi;
		if
		:: o == PENDING -> q = REFUSE
		:: o != PENDING && (s & BSY) != 0 -> q = LEAVING
		:: o != PENDING && (s & (BSY | BRK)) == 0 && (SEQ(s) != ap || PAR(s) != (ae & 1)) ->
			q = LEAVING                   /* a completer has yet to publish */
		:: else ->
			looked = true;
			callers_inside(SEQ(s), inside);
			/* pinned() */
			if
			:: !inside ->
				atomic { touch; p0 = pins[0]; inside = (p0 != 0) };
				if
				:: !inside && RECORDS > 1 ->
					atomic { touch; p1 = pins[RECORDS - 1]; inside = (p1 != 0) }
				:: else -> skip
				fi
			:: else -> skip
			fi;
			/* look twice */
#ifndef MUTANT_NO_VISITORS
			atomic { touch; vis = visitors };
#endif
			if
			:: vis != 0 -> q = REFUSE
#ifndef MUTANT_NO_REARRIVALS
			:: vis == 0 && rr != 0 -> q = LEAVING
			:: vis == 0 && rr == 0 -> atomic { touch; q = (rearrivals != 0 -> LEAVING : QUIET) }
#else
			/* does not wait for re-arriving callers */
			:: vis == 0 -> q = QUIET
#endif
			fi;
			if
			:: q == QUIET ->
				atomic { touch;
					if
					:: a_phase != ap || a_ep != ae || a_cnt != ac -> q = LEAVING
					:: else -> skip
					fi };
				if :: q == QUIET && inside -> q = LEAVING :: else -> skip fi
			:: else -> skip
			fi
		fi
	fi
}

/* rally_barrier_destroy, called until it returns 0 (after -EBUSY: again
 * once something moved); its backoff blocks until a word it read moved */
inline destroy_barrier() {
	do
	:: atomic { touch };                  /* magic, the view */
		atomic { touch; s = st };
		load_arr();
#ifndef MUTANT_NO_VISITORS
		atomic { touch; vis = visitors };
#endif
		if
		:: (s & BSY) != 0 || ((s & BRK) == 0 && ac != 0) || vis != 0 -> q = REFUSE
		:: else ->
			atomic { touch; assert(magic == MAGIC); magic = DYING };
			do
			:: quiescence(q);
				if
				:: q == QUIET ->
					atomic { touch; magic = 0; destroyed = true };
					break
				:: q == REFUSE -> atomic { touch; magic = MAGIC }; break
				:: else ->
#ifdef MUTANT_B12
					/* gives up waiting */
					atomic { touch; magic = 0; destroyed = true };
					q = QUIET; break;
#endif
					/* backoff: looks again once something it read moved */
					atomic { touch; st != s || a_phase != ap || a_ep != ae || a_cnt != ac ||
						rearrivals != rr || visitors != vis ||
						(looked && (out != o_ || pins[0] != p0 || pins[RECORDS - 1] != p1 ||
						 base_phase[ae & 1] != base)) }
				fi
			od
		fi;
		if
		:: q == QUIET -> break
		:: else ->
			/* -EBUSY: the program tries again once something moved */
			atomic { touch; st != s || a_phase != ap || a_ep != ae || a_cnt != ac ||
				visitors != vis || rearrivals != rr || out != o_ }
		fi
	od
}

/* dead locals back to 0 after each call: fewer distinct states */
inline forget() {
	d_step {
		s = 0; old = 0; nxt = 0; v = 0; o = 0; br = 0; wc = 0; rc = 0;
		base = 0; ob = 0; o_ = 0; ap = 0; ae = 0; ac = 0; id = 0; cut = 0;
		rcut = 0; arc = 0; p0 = 0; p1 = 0; rr = 0; ok = false; ws = false;
		brk = false; done = false; inside = false; claimed = false;
		swapped = false; stale = false; dlp = false; timed = false;
		tsave = false; rid = 0; q = 0; vis = 0; looked = false; gd = false
	}
}

proctype Caller(byte me) {
	int s, old, nxt, v;
	byte tph, tidx, tep, tk, c_, o, br, wc, rc, w, i, base, ob, o_, in_;
	byte ap, ae, ac, id, cut, rcut, arc, tres, p0, p1, rr, q, vis;
	short rid, tid;
	int k_, d_, m_;
	bool ok, dlp, timed, tsave, ws, brk, done, inside, claimed, swapped, stale, looked, gd;
	bool lastcall, begun, rearr, trusted;
	byte wd, wdd, wdc;

	i = 0;
	do
	:: i < CALLS ->
		dlp = false;
		if
		:: TIMED == 2 || (TIMED == 1 && me > 0) -> timed = true
		:: else -> timed = false
		fi;
		if
		:: atomic { withdraws > 0 -> withdraws-- };
			/* a split phase taken back: the call is made again (its
			 * caller still owes its party) unless it was too late.
			 * Its last call begins at its await's pin, as a token's
			 * (destroy waits for that), not at the arrival. */
			lastcall = false;
			token_arrive();
			lastcall = (i == CALLS - 1);
			token_withdraw();
			if
			:: wd == 0 -> i--                /* made again */
			:: wd == 1 -> token_await()      /* the token stands */
			:: else -> skip                  /* broken: the call ends */
			fi;
			if :: wd != 0 && lastcall && !begun -> atomic { begun = true; g_begun++ } :: else -> skip fi
		:: atomic { tokens > 0 -> tokens-- };
			token_arrive();
			if :: TESTS -> token_test() :: else -> skip fi;
			lastcall = (i == CALLS - 1);
			token_await();
			/* a resolved token: the last call ended at its arrive */
			if :: lastcall && !begun -> atomic { begun = true; g_begun++ } :: else -> skip fi
		:: true ->
			lastcall = (i == CALLS - 1);
			barrier_wait()
		fi;
		forget(); d_step { tph = 0; tidx = 0; tep = 0; tk = 0; tres = 0; tid = 0 };
		i++
	:: else -> break
	od;
	if
	:: DESTROY == 1 && me == 0 -> (g_begun == T && g_mon_done); destroy_barrier()
	/* the monitor's reset or abort (visitors) may race it */
	:: DESTROY == 3 && me == 0 -> (g_begun == T); destroy_barrier()
	:: else -> skip
	fi
}

proctype Monitor() {
	int s, old, nxt, v;
	byte tph, tidx, tep, tk, o, wc, w, base, ob, o_, in_;
	byte ap, ae, ac, id, cut, p0, p1, rr, rcut, arc, rc, br, rsets = RESETS, aborts = ABORTS;
	byte q, vis;
	short rid;
	int k_, d_, m_;
	bool ok, dlp, timed, tsave, ws, inside, claimed, swapped, brk, done, stale, trusted, looked, gd, rearr;
	byte me = T;

	do
	:: rsets > 0 -> rsets--; reset_barrier(); forget()
	:: aborts > 0 -> aborts--; abort_barrier(); forget()
	:: rsets == 0 && aborts == 0 -> break
	od;
	g_mon_done = true;
	if
	:: DESTROY == 2 -> (g_begun == T); destroy_barrier()
	:: else -> skip
	fi
}

init {
	atomic {
		byte j = 0;
		if
		:: ACTION == 0 -> has_action = false
		:: ACTION == 1 -> has_action = true
		:: ACTION == 2 -> has_action = false
		:: ACTION == 2 -> has_action = true
		fi;
		do :: j < RECORDS -> rec_id[j] = j - RECORDS; g_rec_newest[j] = j - RECORDS; j++
		   :: else -> break od;
		j = 0;
		do :: j < T -> run Caller(j); j++ :: else -> break od;
		if
		:: RESETS + ABORTS > 0 || DESTROY == 2 -> g_mon_done = false; run Monitor()
		:: else -> skip
		fi
	}
}
