/* robust.pml — a SPIN model of a RALLY_ROBUST barrier (lib/robust.c,
 * lib/holder.c, and the robust paths of lib/phase.c, lib/reset.c,
 * lib/lifecycle.c). See README, "The model"; lib/barrier.pml models the
 * protocol without processes. Every C atomic operation is one atomic step.
 *
 * Processes: 1 (threads A1, A2) and 2 (thread B) are participants; 3 (M,
 * a monitor) is not. A process dies at any step of any of its threads (a
 * wait, the action, a reset, register/unregister): `unless` ends all its
 * threads at once. The dead leave their words as they were: trackers up,
 * BUSY held, a slot claimed. Survivors detect it where the code does: a
 * wait on a shared barrier sleeps in slices, and at a slice's end takes
 * over a BUSY whose holder is dead and (robust) scans the participants; a
 * completer scans before it publishes. A slice's end is a step here only
 * when it can find something as the code looks (else it would just sleep
 * again): so a live caller that waits for ever because another died is an
 * invalid end state.
 *
 * Checked: the ghosts of barrier.pml (each index once per completed phase,
 * nobody early, broken for all or none, the action once and first); a live
 * holder is never taken over; only the dead are found dead; reset opens the
 * next epoch only when no live caller is inside its epoch; destroy returns
 * only when no live caller will touch the object (any later access
 * asserts); no live caller hangs. MUTANT_B10/B11/B12/B15/FORGET_AFTER plant
 * defects. */

#ifndef P
#define P 2
#endif
#ifndef A2
#define A2 1          /* thread A2 of process 1: 0 none, 1 wait, 2 reset, 3 abort */
#endif
#ifndef A1
#define A1 1          /* thread A1 of process 1: 0 none, 1 a wait, 6 a reset then a wait, 7 abort first */
#endif
#ifndef BWAITS
#define BWAITS 1      /* waits of B */
#endif
#ifndef MON
#define MON 0         /* process 3: 0 none, 1 reset, 2 destroy, 3 reset then destroy */
#endif
#ifndef ATTACH
#define ATTACH 0      /* 1: B registers at its start (else before), unregisters at its end */
#endif
#ifndef KILL
#define KILL 2        /* which process may die: 0 none, 1, 2, 3; 4 any one */
#endif
#ifndef ACTION
#define ACTION 0
#endif
#ifndef RETRY
#define RETRY 0       /* waits a caller makes again after RALLY_BROKEN (no destroy then) */
#endif
#ifndef TIMED
#define TIMED 0       /* 1: waits are timed: one that nothing else can end ends by its deadline */
#endif
#ifndef SEQ_BITS
#define SEQ_BITS 3
#endif
#ifndef GHOSTS
#define GHOSTS 6
#endif

#define SEQ_MASK ((1 << SEQ_BITS) - 1)
#define SEQ_HALF (1 << (SEQ_BITS - 1))
#define EPM 4
#define NS 2            /* participant slots */
#define NT 4            /* threads: A1 A2 B M */
#define NP 4            /* processes 1..3 (0 unused) */

#define SLP 1
#define BRK 2
#define BSY 4
#define SEQ(s) (((s) >> 4) & SEQ_MASK)
#define PAR(s) (((s) >> 3) & 1)
#define HOLDER(s) (((s) >> 8) & 15)
#define AHEAD(s) ((s) >> 12)
#define MAKE(q, par) (((q) & SEQ_MASK) << 4 | ((par) & 1) << 3)
#define WITH_HOLDER(s, h) (((s) & ~(15 << 8)) | ((h) << 8))
#define WITH_AHEAD(s, k) (((s) & 4095) | ((k) << 12))
#define CHANGED(v, s) ((((v) ^ (s)) & 254) != 0)
#define DM(p, q) (((p) - (q)) & SEQ_MASK)
#define DIFF(p, q) (DM(p, q) < SEQ_HALF -> DM(p, q) : DM(p, q) - SEQ_MASK - 1)
#define RESETTING(s, p, par) (((s) & (BSY | BRK)) == (BSY | BRK) && \
	PAR(s) == (par) && DIFF(p, SEQ(s)) >= 0)

/* a participant's id: pid << 4 | start time; CLAIMING while being taken */
#define ID(p_) ((p_) << 4 | start[p_])
#define PID_OF(id) ((id) >> 4)
#define MAGIC 1
#define DYING 2
#define CLAIMING 255
#define INSIDE 255      /* count: inside (low byte) | references << 8 */
#define REF_ONE 256

#define DONE 1
#define BROKEN 2
#define PENDING 3
#define COMPLETING 4
#define RC_BROKEN 100
#define RC_TIMEDOUT 101
#define REARRIVE 102

int st;
byte a_phase, a_ep, a_cnt;
byte base_phase[2], epoch_id;
byte id[NS];
int cnt[NS];
byte anon;
bool dead;
byte magic = MAGIC;             /* MAGIC, DYING, or 0: destroyed */
bool destroyed;
byte visitors;                  /* resets, aborts in the object */
byte g_visp[NP];                /* ghost: visitors by process */
bool asleep[NT];
bool alive[16];
byte start[16];
bool g_last[NT];               /* a user thread's last call arrived */
bool g_ended[NT];              /* a thread's calls returned */
bool has_action;

/* ghosts */
byte g_ak, g_kmax;
byte g_arrived[GHOSTS], g_released[GHOSTS], g_broken[GHOSTS];
byte g_actions[GHOSTS], g_idx[GHOSTS];
bool g_completed[GHOSTS];
byte g_faults;
byte g_in[NP * 2];              /* callers inside, by process and parity */
byte g_users = 0;               /* threads that call wait */
byte g_holder;                  /* the process that really holds BUSY */
bool g_registered;

#define touch assert(!destroyed)
#define ID_ALIVE(x) (alive[PID_OF(x)] && start[PID_OF(x)] == ((x) & 15))

/* holder.c: rally__holder_dead */
#ifdef MUTANT_B11
/* taken over only if the holder is a participant */
#define HOLDER_DEAD(s) (((s) & BSY) != 0 && HOLDER(s) != pp && \
	(HOLDER(s) == 0 || !alive[HOLDER(s)]) && \
	(PID_OF(id[0]) == HOLDER(s) || PID_OF(id[1]) == HOLDER(s)))
#else
#define HOLDER_DEAD(s) (((s) & BSY) != 0 && HOLDER(s) != pp && \
	(HOLDER(s) == 0 || !alive[HOLDER(s)]))
#endif
/* a scan (robust_check) would find a participant dead */
#define SLOT_DEAD(i) (id[i] != 0 && id[i] != CLAIMING && PID_OF(id[i]) != pp && \
	!ID_ALIVE(id[i]))
#define QUIET (((st & BRK) != 0 && (st & BSY) == 0) || ((st & BSY) != 0 && AHEAD(st) == 1))

inline futex_wake_all() {
	atomic { w = 0; do :: w < NT -> asleep[w] = false; w++ :: else -> break od; w = 0 }
}
inline wake_if(old) {
	if :: (old & SLP) != 0 -> futex_wake_all() :: else -> skip fi
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

/* ---- robust.c ---- */

inline record_dead(dp) {
	assert(!alive[dp]);             /* only the dead are found dead */
	dead = true
}

/* rally__robust_check: a scan (its loads of the slots as one step: one
 * slot at most changes at a time here) */
inline robust_check(found) {
	atomic { touch; found = dead;
		w = 0;
		do
		:: !found && w < NS ->
			x = id[w];
			if
			:: x != 0 && x != CLAIMING && PID_OF(x) != pp && !ID_ALIVE(x) ->
				record_dead(PID_OF(x)); found = true
			:: else -> skip
			fi;
			w++
		:: else -> break
		od;
		w = 0; x = 0 }
}

/* rally__robust_inside: a live caller inside (drain, destroy); one step */
inline robust_inside(inside) {
	atomic { touch; inside = (anon != 0);
		w = 0;
		do
		:: !inside && w < NS ->
			if
			:: (cnt[w] & INSIDE) != 0 ->
				x = id[w];
				inside = (x == CLAIMING || PID_OF(x) == pp || ID_ALIVE(x))
			:: else -> skip
			fi;
			w++
		:: else -> break
		od;
		w = 0; x = 0 }
}

inline enter() {
	atomic { touch; if :: slot < NS -> cnt[slot]++ :: else -> anon++ fi }
}
inline leave(ep) {
	atomic { touch; if :: slot < NS -> cnt[slot]-- :: else -> anon-- fi;
		g_in[pp * 2 + ((ep) & 1)]-- }
}

/* rally__robust_register: a slot, claimed, then its id in one store */
inline robust_register() {
	w = 0; slot = NS;
	do
	:: w < NS ->
		atomic { touch;
			if
			:: id[w] == 0 -> id[w] = CLAIMING; slot = w
			:: else -> skip
			fi };
		if :: slot < NS -> break :: else -> w++ fi
	:: else -> break
	od;
	w = 0;
	if
	:: slot < NS ->
		atomic { touch; cnt[slot] = REF_ONE };
#ifdef MUTANT_B15
		/* the pid first, the start time in a second store */
		atomic { touch; id[slot] = pp << 4 };
#endif
		atomic { touch; id[slot] = ID(pp); g_registered = true }
	:: else -> skip
	fi
}

/* rally__robust_unregister: drops the reference; the last frees the slot */
inline robust_unregister() {
	atomic { touch; x = cnt[slot] };
	do
	:: x < REF_ONE -> break
	:: x >= REF_ONE && x < 2 * REF_ONE && (x & INSIDE) != 0 -> break  /* -EBUSY */
	:: x >= REF_ONE && !(x < 2 * REF_ONE && (x & INSIDE) != 0) ->
		atomic { touch;
			if
			:: cnt[slot] == x -> cnt[slot] = x - REF_ONE;
				if
				:: x < 2 * REF_ONE -> y = 1   /* the last: free it */
				:: else -> y = 2
				fi
			:: else -> x = cnt[slot]
			fi };
		if :: y != 0 -> break :: else -> skip fi
	od;
	if :: y == 1 -> atomic { touch; id[slot] = 0 } :: else -> skip fi;
	x = 0; y = 0; slot = NS
}

/* rally__robust_forget_dead (reset, before the swap): a slot a step (its
 * loads and stores: nobody registers meanwhile in these configurations) */
inline forget_dead() {
	w = 0;
	do
	:: w < NS ->
		atomic { touch; x = id[w];
			if
			:: x != 0 && x != CLAIMING && !ID_ALIVE(x) -> cnt[w] = 0; id[w] = 0
			:: else -> skip
			fi };
		w++
	:: else -> break
	od;
	atomic { touch; dead = false };
	w = 0; x = 0
}

/* ---- holder.c ---- */

/* rally__take_over from s: the barrier broken, not BUSY */
inline take_over(s) {
	if
	:: HOLDER_DEAD(s) ->
		old = s;
		atomic { touch;
			if
			:: st == s ->
				assert(!alive[g_holder]);   /* a live holder is never taken over */
				st = MAKE(SEQ(old), PAR(old)) | BRK; g_faults = 1; ok = true
			:: else -> s = st; ok = false
			fi };
		if
		:: ok -> atomic { touch; record_dead(HOLDER(old)) }; wake_if(old); s = MAKE(SEQ(old), PAR(old)) | BRK
		:: else -> skip
		fi;
		old = 0
	:: else -> skip
	fi
}

/* claims BUSY with our pid: one CAS (MUTANT_B10: two steps) */
inline claim_busy(s, nx, got) {
	atomic { touch;
		if
		:: st == s ->
#ifdef MUTANT_B10
			st = WITH_HOLDER(nx, 0);
#else
			st = nx;
#endif
			g_holder = pp; got = true;
			if :: (nx & BRK) != 0 -> g_faults = 1 :: else -> skip fi
		:: else -> s = st; got = false
		fi };
#ifdef MUTANT_B10
	if :: got -> atomic { touch; st = WITH_HOLDER(st, pp) } :: else -> skip fi;
#endif
	if :: got -> s = nx :: else -> skip fi
}

/* ---- waiting: rally__wait_change in slices (shared) ---- */

/* ws true: gen changed; a slice's end that finds the dead: takes over,
 * scans (and aborts), reloads: ws true too */
inline wait_state(s, ws) {
	ws = false;
	do
	:: atomic { touch; v = st; if :: CHANGED(v, s) -> s = v; ws = true :: else -> skip fi };
		if :: ws -> break :: else -> skip fi;
		ok = true;
		if
		:: (v & SLP) == 0 ->
			atomic { touch; if :: st == v -> st = v | SLP; v = v | SLP :: else -> ok = false fi }
		:: else -> skip
		fi;
		if
		:: ok ->
			atomic { touch; if :: (st & 255) == (v & 255) -> asleep[me] = true :: else -> skip fi };
			if
			:: !asleep[me] -> skip
			/* the slice ends, with something to find */
			/* (a change without its wake: its waker died after the CAS) */
			:: atomic { asleep[me] && (((st & 255) != (v & 255) && !(alive[1] && alive[2] && alive[3])) ||
			     HOLDER_DEAD(st) ||
			     (!dead && (SLOT_DEAD(0) || SLOT_DEAD(1))) || (dead && !QUIET)) ->
				asleep[me] = false; sliced = true }
			/* the deadline, when nothing else can end this wait */
			:: atomic { asleep[me] && timed && timeout -> asleep[me] = false; dlp = true }
			fi;
			if :: dlp -> break :: else -> skip fi
		:: else -> skip
		fi;
		if
		:: sliced ->
			/* a robust waiter scans; found dead: abort */
			sliced = false;
			robust_check(found);
			if :: found -> abort_state(true) :: else -> skip fi;
			found = false;
			atomic { touch; s = st };
			take_over(s);
			atomic { touch; s = st };
			ws = true; break
		:: else -> skip
		fi
	od;
	v = 0
}

/* rally__abort (spare false) and rally__abort_for_dead (spare true: a
 * scan's abort leaves a running reset, BUSY|BROKEN, alone — the reset
 * forgets the dead; review round 27) */
inline abort_state(spare) {
	atomic { touch; s2 = st };
	do
	:: if
	   :: (s2 & BRK) != 0 && (s2 & BSY) == 0 -> break
	   :: spare && (s2 & (BRK | BSY)) == (BRK | BSY) -> s2 = 0; break
	   :: (!spare || (s2 & BRK) == 0) && (s2 & BSY) != 0 &&
	      AHEAD(s2) == 1 -> break
	   :: (!spare || (s2 & BRK) == 0) && (s2 & BSY) != 0 &&
	      AHEAD(s2) != 1 -> n2 = WITH_AHEAD(s2, 1)
	   :: (s2 & (BRK | BSY)) == 0 -> n2 = WITH_AHEAD((s2 | BRK) & ~SLP, 0)
	   fi;
	   atomic { touch;
		if
		:: st == s2 -> st = n2; g_faults = 1;
			if :: (n2 & BRK) == 0 -> s2 = 0 :: else -> skip fi;
			break
		:: else -> s2 = st
		fi }
	od;
	wake_if(s2); s2 = 0; n2 = 0
}

inline abort_barrier() { abort_state(false) }

/* rally__break_phase and expire() at the deadline (robust waits are on a
 * shared barrier: the state is reloaded first); brk true if it broke */
inline expire(s, brk) {
	atomic { touch; s = st };
	brk = false;
	/* rally__break_phase judges the state it would replace first */
	classify(s, tph, tep & 1, o);
	if
	:: o != PENDING -> x = 1
	:: else ->
	d_step {
		old = s; d_ = DIFF(tph, SEQ(old)); x = 0;
		if
		:: PAR(old) == (tep & 1) && d_ == 0 -> nxt = WITH_AHEAD((old | BRK) & ~SLP, 0)
		:: else ->
			if
			:: d_ <= 0 || d_ > 3 -> x = 2
			:: else -> nxt = WITH_AHEAD(old, d_)
			fi
		fi;
		d_ = 0
	}
	fi;
	if
	:: x == 0 ->
		atomic { touch;
			if
			:: st == s -> st = nxt; brk = true; assert(!g_completed[tk]); g_faults = 1
			:: else -> s = st
			fi };
		if :: brk && (nxt & BRK) != 0 -> wake_if(old) :: else -> skip fi
	:: x == 2 -> tsave = timed; timed = false; wait_state(s, ws); timed = tsave
	:: else -> skip
	fi;
	x = 0; old = 0; dlp = false
}

/* ---- ghost checks ---- */
inline completed(k) {
	assert(g_arrived[k] == P);
	assert(g_broken[k] == 0);
	assert(!has_action || g_actions[k] == 1);
	g_completed[k] = true
}
inline ret_index(k, idx) {
	d_step {
		assert(g_completed[k]); assert(g_arrived[k] == P); assert(g_broken[k] == 0);
		assert((g_idx[k] & (1 << idx)) == 0);
		g_idx[k] = g_idx[k] | (1 << idx); g_released[k]++
	}
}
inline ret_broken(k) {
	d_step {
		assert(!g_completed[k]); assert(g_released[k] == 0); assert(g_faults > 0);
		g_broken[k]++
	}
}

/* ---- phase.c, robust paths ---- */

inline arrive() {
	enter();
	atomic {
		touch;
		c_ = a_cnt; tph = (a_phase + c_ / P) & SEQ_MASK; tidx = c_ % P;
		tep = a_ep; tk = g_ak + c_ / P;
		assert(tk < GHOSTS);
		a_cnt++;
		g_arrived[tk]++; assert(g_arrived[tk] <= P);
		g_in[pp * 2 + (tep & 1)]++;
		if :: lastcall && !begun -> begun = true; g_last[me] = true :: else -> skip fi;
		if :: tk > g_kmax -> g_kmax = tk :: else -> skip fi;
		c_ = 0
	}
	if
	:: tidx == P - 1 ->
		atomic { touch; a_phase = (a_phase + 1) & SEQ_MASK; a_cnt = a_cnt - P; g_ak++ }
	:: else -> skip
	fi
}

/* run_busy on a robust barrier: counts itself out, scans, action, publish */
inline run_busy(s) {
	atomic { touch; if :: slot < NS -> cnt[slot]-- :: else -> anon-- fi;
		g_in[pp * 2 + (tep & 1)]-- };
	robust_check(found);
	arc = 0;
	if
	:: has_action ->
		atomic { g_actions[tk]++; assert(g_actions[tk] == 1); assert(g_released[tk] == 0) }
	:: else -> skip
	fi;
	do
	:: published(s, tph + 1, tep & 1, nxt);
		if :: found -> nxt = nxt | BRK :: else -> skip fi;
		atomic { touch;
			if
			:: st == s -> st = nxt; g_holder = 0; completed(tk); break
			:: else -> s = st
			fi }
	od;
	found = false;
	wake_if(s);
	rc = P - 1
}

inline complete(s) {
	s = MAKE(tph, tep & 1);
	nxt = WITH_HOLDER(s | BSY, pp);
	claim_busy(s, nxt, done);
	if
	:: done -> run_busy(s)
	:: !done && RESETTING(s, tph, tep & 1) -> rearrive_or_break()
	:: else ->
		do
		:: classify(s, tph, tep & 1, o);
			if
			:: o == BROKEN || o == DONE -> leave(tep); rc = RC_BROKEN; break
			:: o == PENDING && PAR(s) == (tep & 1) && SEQ(s) == tph ->
				nxt = WITH_HOLDER(s | BSY, pp);
				claim_busy(s, nxt, done);
				if :: done -> run_busy(s); break :: else -> skip fi
			:: else -> wait_state(s, ws);
				if
				:: dlp -> expire(s, brk);
					if :: brk -> leave(tep); rc = RC_TIMEDOUT; break :: else -> skip fi
				:: else -> skip
				fi
			fi
		od
	fi
}

inline await_phase(s) {
	atomic { touch; s = st };
	if
	:: RESETTING(s, tph, tep & 1) -> rearrive_or_break()
	:: else ->
		do
		:: classify(s, tph, tep & 1, o);
			if
			:: o == DONE -> leave(tep); rc = tidx; break
			:: o == BROKEN -> leave(tep); rc = RC_BROKEN; break
			:: o == COMPLETING -> tsave = timed; timed = false; wait_state(s, ws); timed = tsave
			:: else -> wait_state(s, ws);
				if
				:: dlp -> expire(s, brk);
					if :: brk -> leave(tep); rc = RC_TIMEDOUT; break :: else -> skip fi
				:: else -> skip
				fi
			fi
		od
	fi
}

/* rally__rearrive_or_break on a robust barrier: no re-arrival (one that
 * died on its way back would be counted for ever): the broken code */
inline rearrive_or_break() {
	leave(tep); rc = RC_BROKEN
}

inline barrier_wait() {
	atomic { touch };
	do
	:: arrive();
		if
		:: tidx == P - 1 -> complete(s)
		:: else -> await_phase(s)
		fi;
		if
		:: rc == RC_BROKEN -> ret_broken(tk)
		:: rc == RC_TIMEDOUT -> assert(!g_completed[tk] && g_released[tk] == 0)
		:: rc < RC_BROKEN -> ret_index(tk, rc)
		fi;
		break
	od
}

/* ---- reset.c, robust: the drain waits for live trackers ---- */

inline reset_barrier() {
	atomic { touch };
	claimed = false;
	atomic { touch; s = st };
	do
	:: (s & BSY) != 0 -> wait_state(s, ws)
	:: else ->
		atomic { touch; ap = a_phase; ae = a_ep; ac = a_cnt };
		if
		:: (s & BRK) == 0 && AHEAD(s) == 0 && ac == 0 && ap == SEQ(s) &&
		   (ae & 1) == PAR(s) -> break
		:: else ->
			/* the claim names the cut (reset.c claim(), cut_of()) */
			atomic { touch; eid = epoch_id - ((epoch_id - ae) & (EPM - 1)) };
			atomic { touch; base = base_phase[eid & 1] };
			cut = (PAR(s) != (ae & 1) -> base : SEQ(s));
			nxt = WITH_HOLDER(MAKE(cut, ae & 1) | BSY | BRK, pp);
			old = s;
			claim_busy(s, nxt, claimed);
			if :: claimed -> wake_if(old); old = 0; break :: else -> skip fi
		fi
	od;
	if
	:: claimed ->
		atomic { touch; ap = a_phase; ae = a_ep; ac = a_cnt };
		atomic { touch; eid = epoch_id - ((epoch_id - ae) & (EPM - 1)) };
		atomic { touch; base = base_phase[eid & 1] };
		cut = (PAR(s) != (ae & 1) -> base : SEQ(s));
		/* record: no pins on a robust barrier (not modelled: tokens) */
		do
		:: atomic { touch; ap = a_phase; ae = a_ep; ac = a_cnt;
				c0 = cnt[0]; c1 = cnt[1]; an = anon; al = alive[1] + 2 * alive[2] + 4 * alive[3] };
			robust_inside(inside);
			if
			:: inside ->
#ifdef MUTANT_B12
				break;   /* gives up although a live caller is inside */
#endif
				/* backoff: looks again once something moved */
				atomic { touch; a_phase != ap || a_ep != ae || a_cnt != ac ||
					cnt[0] != c0 || cnt[1] != c1 || anon != an ||
					al != alive[1] + 2 * alive[2] + 4 * alive[3] }
			:: else ->
#ifndef MUTANT_FORGET_AFTER
				/* before the swap: one that arrives in the next epoch
				 * and dies before the publish stays dead */
				forget_dead();
#endif
				atomic { touch; base_phase[(eid + 1) & 1] = (cut + 1) & SEQ_MASK; epoch_id = eid + 1 };
				atomic { touch;
					if
					:: a_phase == ap && a_ep == ae && a_cnt == ac ->
						a_phase = (cut + 1) & SEQ_MASK; a_ep = (eid + 1) % EPM;
						a_cnt = 0; swapped = true;
						/* no live caller of the epoch inside */
						assert(!alive[1] || g_in[2 + (eid & 1)] == 0);
						assert(!alive[2] || g_in[4 + (eid & 1)] == 0);
						g_ak = (g_kmax > g_ak -> g_kmax : g_ak) + 1;
						assert(g_ak < GHOSTS)
					:: else -> swapped = false
					fi };
				if :: swapped -> break :: else -> skip fi
			fi
		od;
#ifdef MUTANT_FORGET_AFTER
		/* after the swap (main before 350d9e1) */
		forget_dead();
#endif
		do
		:: published(s, cut + 1, (eid + 1) & 1, nxt);
			atomic { touch;
				if
				:: st == s -> st = nxt; g_holder = 0; break
				:: else -> s = st
				fi }
		od;
		wake_if(s)
	:: else -> skip
	fi
}

/* ---- lifecycle.c ---- */

/* rally__visit: ok false (-EINVAL) if destroy finished meanwhile; its steps
 * on visitors and magic are the only ones allowed after destroy returned */
inline visit(ok) {
	ok = false;
	do
	:: atomic {
		if :: destroyed -> w = 0; break :: else -> skip fi;
		visitors++;
		if
		:: magic == MAGIC -> ok = true; g_visp[pp]++
		:: else -> visitors--
		fi;
		w = magic };
		if
		:: ok || w != DYING -> break
		:: else -> magic != DYING
		fi
	od;
	w = 0
}
inline unvisit() {
	atomic { touch; visitors--; g_visp[pp]-- }
}

#define R_QUIET 0
#define R_LEAVING 1
#define R_REFUSE 2

/* quiescence() of a robust barrier: no re-arrivals, no pins (no tokens) */
inline quiescence(q) {
	atomic { touch; vis = visitors };
	if
	:: vis != 0 -> q = R_REFUSE
	:: else ->
		atomic { touch; s = st; c0 = cnt[0]; c1 = cnt[1]; an = anon;
			al = alive[1] + 2 * alive[2] + 4 * alive[3] };
		atomic { touch; ap = a_phase; ae = a_ep; ac = a_cnt };
		o = 0;
		if :: (ac % P) != 0 -> classify(s, (ap + ac / P) & SEQ_MASK, ae & 1, o) :: else -> skip fi;
		if
		:: o == PENDING -> q = R_REFUSE        /* arrivals wait for more */
		:: o != PENDING && (s & BSY) != 0 -> q = R_LEAVING
		:: o != PENDING && (s & (BSY | BRK)) == 0 && (SEQ(s) != ap || PAR(s) != (ae & 1)) ->
			q = R_LEAVING
		:: else ->
			robust_inside(inside);
			atomic { touch; vis = visitors };
			if
			:: vis != 0 -> q = R_REFUSE
			:: else ->
				atomic { touch;
					q = ((a_phase != ap || a_ep != ae || a_cnt != ac || inside) -> R_LEAVING : R_QUIET) }
			fi
		fi
	fi
}

/* rally_barrier_destroy, called until it returns 0 (after -EBUSY: again
 * once something moved — or never, when a process died inside a reset or
 * an abort: destroy answers -EBUSY for ever then, as documented) */
inline destroy_barrier() {
	do
	:: atomic { touch };
		atomic { touch; s = st };
		atomic { touch; ap = a_phase; ae = a_ep; ac = a_cnt };
		atomic { touch; vis = visitors };
		if
		:: (s & BSY) != 0 || ((s & BRK) == 0 && ac != 0) || vis != 0 -> q = R_REFUSE
		:: else ->
			atomic { touch; assert(magic == MAGIC); magic = DYING };
			do
			:: quiescence(q);
				if
				:: q == R_QUIET -> atomic { touch; magic = 0; destroyed = true }; break
				:: q == R_REFUSE -> atomic { touch; magic = MAGIC }; break
				:: else ->
#ifdef MUTANT_B12
					/* gives up after a bound */
					atomic { touch; magic = 0; destroyed = true }; q = R_QUIET; break;
#endif
					atomic { touch; st != s || a_phase != ap || a_ep != ae || a_cnt != ac ||
						cnt[0] != c0 || cnt[1] != c1 || anon != an || visitors != vis ||
						al != alive[1] + 2 * alive[2] + 4 * alive[3] }
				fi
			od
		fi;
		if
		:: q == R_QUIET -> break
		:: else ->
			if
			/* -EBUSY: tries again once something moved */
			:: atomic { touch; st != s || a_phase != ap || a_ep != ae || a_cnt != ac ||
				visitors != vis || cnt[0] != c0 || cnt[1] != c1 || anon != an ||
				al != alive[1] + 2 * alive[2] + 4 * alive[3] }
			/* a visitor's process died: -EBUSY for ever */
			:: atomic { (g_visp[1] != 0 && !alive[1]) || (g_visp[2] != 0 && !alive[2]) ||
				(g_visp[3] != 0 && !alive[3]) } -> break
			fi
		fi
	od
}

/* ---- threads ---- */

/* role: 1 wait (times: n), 2 reset, 3 abort, 4 destroy, 5 reset then
 * destroy, 6 reset then wait, 7 abort, reset, wait */
proctype Thread(byte me; byte pp; byte role; byte n) {
	int s, old, nxt, v, s2, n2;
	byte tph, tidx, tep, tk, c_, o, rc, w, x, y, i, base, ap, ae, ac, eid, cut, arc, q, vis;
	byte slot = NS, an;
	int c0, c1;
	int k_, d_, m_;
	bool ok, ws, done, inside, claimed, swapped, found, sliced, dlp, brk, tsave;
	bool timed = (TIMED && role == 1);
	byte al;
	bool lastcall, begun;

	{
		/* the slot this process holds (registered before, or now) */
		if
		:: pp == 2 && ATTACH -> robust_register()
		:: pp == 1 -> slot = 0
		:: pp == 2 && !ATTACH -> slot = 1
		:: pp == 3 -> slot = NS
		fi;
		if
		:: role == 1 ->
			i = 0;
			y = RETRY;
			do
			:: i < n -> lastcall = (i == n - 1); barrier_wait();
				if :: rc == RC_BROKEN && y > 0 -> y-- :: else -> i++ fi;
				d_step { s = 0; o = 0; rc = 0; tph = 0; tidx = 0; tep = 0; tk = 0; ws = false; done = false }
			:: else -> break
			od
		:: role == 2 || role == 5 -> visit(ok); if :: ok -> reset_barrier(); unvisit() :: else -> skip fi
		:: role == 6 || role == 7 ->
			if :: role == 7 -> visit(ok); if :: ok -> abort_barrier(); unvisit() :: else -> skip fi :: else -> skip fi;
			visit(ok); if :: ok -> reset_barrier(); unvisit() :: else -> skip fi;
			d_step { s = 0; old = 0; nxt = 0; ap = 0; ae = 0; ac = 0; eid = 0; cut = 0; base = 0;
				c0 = 0; c1 = 0; an = 0; al = 0; claimed = false; swapped = false; inside = false; ws = false };
			lastcall = true; barrier_wait()
		:: role == 3 -> visit(ok); if :: ok -> abort_barrier(); unvisit() :: else -> skip fi
		:: else -> skip
		fi;
		g_ended[me] = true;
		if
		:: role == 4 || role == 5 ->
			/* every user's last call arrived, or its process died */
			((g_last[0] || !alive[1]) && (g_last[1] || !alive[1] || A2 != 1) &&
			 (g_last[2] || !alive[2]) &&
			 (g_ended[1] || !alive[1] || A2 == 0 || A2 == 1));
			destroy_barrier()
		:: else -> skip
		fi;
		if
		:: pp == 2 && ATTACH && slot < NS -> robust_unregister()
		:: else -> skip
		fi
	} unless { !alive[pp] };
end:	skip
}

proctype Killer() {
	/* a process that attaches can die once it is a participant */
	(!ATTACH || g_registered);
	if
	:: KILL == 1 || KILL == 4 -> atomic { alive[1] = false; g_faults = 1 }
	:: KILL == 2 || KILL == 4 -> atomic { alive[2] = false; g_faults = 1 }
	:: KILL == 3 || KILL == 4 -> atomic { alive[3] = false; g_faults = 1 }
	:: true -> skip
	fi
}

init {
	atomic {
		alive[1] = true; alive[2] = true; alive[3] = true;
		start[1] = 1; start[2] = 2; start[3] = 3;
		has_action = (ACTION != 0);
		id[0] = ID(1); cnt[0] = REF_ONE;
		if
		:: !ATTACH -> id[1] = ID(2); cnt[1] = REF_ONE
		:: else ->
			/* the slot a process that left used: free */
			skip
		fi;
		g_users = 2;
		run Thread(0, 1, A1, 1);
		if
		:: A2 == 1 -> run Thread(1, 1, 1, 1); g_users++
		:: A2 == 2 -> run Thread(1, 1, 2, 0)
		:: A2 == 3 -> run Thread(1, 1, 3, 0)
		:: else -> skip
		fi;
		run Thread(2, 2, 1, BWAITS);
		if
		:: MON == 1 -> run Thread(3, 3, 2, 0)
		:: MON == 2 -> run Thread(3, 3, 4, 0)
		:: MON == 3 -> run Thread(3, 3, 5, 0)
		:: else -> skip
		fi;
		if :: KILL != 0 -> run Killer() :: else -> skip fi
	}
}
