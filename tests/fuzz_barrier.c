/* fuzz_barrier.c — libFuzzer target: sequences of barrier operations from
 * one thread, checked step by step against a reference model of the
 * semantics. Split-phase arrive and test let one thread play every party;
 * timeouts of 0, aborts, resets, failing actions and bad arguments mix in.
 *
 * Build (tests/fuzz.sh does): clang -fsanitize=fuzzer,address,undefined
 * with lib/*.c. Input bytes: the first picks parties (1..4), each next one
 * an operation and its operand. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rally.h"

#define MAX_TOKENS  64
#define RECORDS_KEPT 8 /* a token's outcome survives 8 resets */

enum state { PENDING, DONE, BROKEN };

struct model_token {
	rally_token_t t;
	bool completer;  /* the last arrival: its outcome is in the token */
	int result;      /* completer: its outcome */
	unsigned phase;  /* the model's phase number */
	unsigned resets; /* resets (that opened an epoch) before it arrived */
};

static struct {
	unsigned parties, count, phase, resets;
	bool broken;
	int fail_next; /* the action's next result, as the model sees it */
	unsigned action_runs; /* how often the model ran it */
	enum state phase_state[1024];
	struct model_token tok[MAX_TOKENS];
	unsigned ntok;
} m;

/* The library's action: its own copy of "fail next", and a count that must
 * match the model's. */
static int lib_fail_next;
static unsigned lib_action_runs;

static int action(void *arg)
{
	(void)arg;
	int rc = lib_fail_next;
	lib_fail_next = 0;
	lib_action_runs++;
	return rc;
}

static void check(bool ok, const char *what, int got, int want)
{
	if (!ok) {
		fprintf(stderr, "fuzz: %s: got %d, model says %d\n", what, got,
		        want);
		abort();
	}
}

/* The model breaks the barrier: the pending phase is broken. */
static void model_break(void)
{
	m.broken = true;
	if (m.count && m.phase_state[m.phase % 1024] == PENDING)
		m.phase_state[m.phase % 1024] = BROKEN;
}

static enum state state_of(const struct model_token *mt)
{
	if (m.resets - mt->resets > RECORDS_KEPT)
		return BROKEN; /* its epoch record was reused */
	return m.phase_state[mt->phase % 1024];
}

/* arrive; returns what the library must return. */
static int model_arrive(struct model_token *mt)
{
	if (m.broken) {
		mt->completer = true;
		mt->result = RALLY_BROKEN;
		return RALLY_BROKEN;
	}
	int idx = (int)m.count++;
	mt->phase = m.phase;
	mt->resets = m.resets;
	mt->completer = false;
	m.phase_state[m.phase % 1024] = PENDING;
	if (m.count < m.parties)
		return idx;
	mt->completer = true;
	int rc = m.fail_next;
	m.action_runs++;
	if (rc) {
		m.fail_next = 0;
		m.phase_state[m.phase % 1024] = BROKEN;
		m.broken = true;
		mt->result = rc < 0 ? rc : RALLY_BROKEN;
		/* the completer moved arrivals on before the action failed */
		m.count = 0;
		m.phase++;
		return mt->result;
	}
	m.phase_state[m.phase % 1024] = DONE;
	m.count = 0;
	m.phase++;
	mt->result = 0;
	return idx;
}

static int model_test(const struct model_token *mt)
{
	if (mt->completer)
		return mt->result < 0 ? RALLY_BROKEN : 1;
	enum state s = state_of(mt);
	if (s == PENDING && m.broken)
		s = BROKEN;
	return s == DONE ? 1 : s == BROKEN ? RALLY_BROKEN : 0;
}

static void model_reset(void)
{
	if (!m.broken && m.count == 0)
		return; /* empty and whole: nothing happens */
	if (m.count && m.phase_state[m.phase % 1024] == PENDING)
		m.phase_state[m.phase % 1024] = BROKEN;
	m.count = 0;
	m.broken = false;
	m.phase++;
	m.resets++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	memset(&m, 0, sizeof m);
	lib_fail_next = 0;
	lib_action_runs = 0;
	m.parties = 1 + data[0] % 4;
	rally_barrier_t b;
	rally_barrier_attr_t attr = {.action = action};
	if (rally_barrier_init(&b, m.parties, &attr) != 0)
		abort();
	for (size_t i = 1; i + 1 < size; i += 2) {
		uint8_t op = data[i] % 12, arg = data[i + 1];
		struct model_token *mt = m.ntok ? &m.tok[arg % m.ntok] : NULL;
		int got, want;
		switch (op) {
		case 0:
		case 1:
		case 2: /* arrive */
			if (m.ntok == MAX_TOKENS)
				m.ntok = 0;
			mt = &m.tok[m.ntok++];
			want = model_arrive(mt);
			got = rally_barrier_arrive(&b, &mt->t);
			check(got == want, "arrive", got, want);
			break;
		case 3: /* test, or poll with 0: the same answer, nothing broken */
			if (!mt)
				break;
			want = model_test(mt);
			got = arg % 2 ? rally_barrier_poll(&b, mt->t, 0)
			              : rally_barrier_test(&b, mt->t);
			check(got == want, arg % 2 ? "poll" : "test", got, want);
			break;
		case 4: /* await, timeout 0: a pending one times out, breaking
		         */
			if (!mt)
				break;
			want = model_test(mt);
			if (want == 0) {
				want = RALLY_TIMEDOUT;
				model_break();
			} else if (want == 1) {
				want = 0;
			}
			got = rally_barrier_await(&b, mt->t, 0);
			check(got == want, "await", got, want);
			break;
		case 5: { /* wait, timeout 0 */
			struct model_token tmp;
			want = model_arrive(&tmp);
			if (!tmp.completer && want >= 0) {
				want = RALLY_TIMEDOUT;
				model_break();
			}
			got = rally_barrier_timedwait(&b, 0);
			check(got == want, "timedwait(0)", got, want);
			break;
		}
		case 6: /* abort */
			model_break();
			check(rally_barrier_abort(&b) == 0, "abort", 0, 0);
			break;
		case 7: /* reset */
			model_reset();
			got = rally_barrier_reset(&b);
			check(got == 0, "reset", got, 0);
			break;
		case 8: /* the next action fails */
			m.fail_next = lib_fail_next = arg % 2 ? -ECANCELED : 1;
			break;
		case 9: /* state */
			got = (int)rally_barrier_n_waiting(&b);
			want = m.broken ? 0 : (int)(m.count % m.parties);
			check(got == want, "n_waiting", got, want);
			check(rally_barrier_broken(&b) == m.broken, "broken",
			      rally_barrier_broken(&b), m.broken);
			check(rally_barrier_parties(&b) == m.parties, "parties",
			      (int)rally_barrier_parties(&b), (int)m.parties);
			break;
		case 10: /* bad arguments change nothing */
			check(rally_barrier_timedwait(&b, -2 - arg) == -EINVAL,
			      "timedwait(<-1)", 0, -EINVAL);
			check(rally_barrier_arrive(&b, NULL) == -EINVAL,
			      "arrive(NULL)", 0, -EINVAL);
			{
				rally_token_t junk;
				memset(&junk, arg | 0x80, sizeof junk);
				check(rally_barrier_test(&b, junk) == -EINVAL,
				      "test(junk)", 0, -EINVAL);
			}
			break;
		case 11: /* destroy: -EBUSY with arrivals pending, else fresh */
			got = rally_barrier_destroy(&b);
			want = !m.broken && m.count ? -EBUSY : 0;
			check(got == want, "destroy", got, want);
			if (got == 0) {
				memset(&m.tok, 0, sizeof m.tok);
				m.ntok = 0;
				unsigned parties = m.parties,
				         runs = m.action_runs;
				int fail = m.fail_next;
				memset(&m, 0, sizeof m);
				m.parties = parties;
				m.action_runs = runs;
				m.fail_next = fail;
				if (rally_barrier_init(&b, parties, &attr))
					abort();
			}
			break;
		}
		check(lib_action_runs == m.action_runs, "action runs",
		      (int)lib_action_runs, (int)m.action_runs);
	}
	rally_barrier_abort(&b);
	rally_barrier_reset(&b);
	if (rally_barrier_destroy(&b) != 0)
		abort();
	return 0;
}
