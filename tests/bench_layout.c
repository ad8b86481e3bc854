/* bench_layout.c — every peer of rally-bench gets the layout its authors
 * intend: no two of the harness header, the peer's shared words and each
 * party's private state share a 128-byte pair of lines (the adjacent-line
 * prefetcher moves both). The checker itself is shown
 * to catch the layout that once flattered rally: ConcurrencyKit's states
 * packed 4 bytes apart, and a barrier on the header's line. */
#include <stdio.h>
#include <string.h>

#include "harness.h"

static int failed, passed;

static void check(int ok, const char *what)
{
	printf("%s %d - %s\n", ok ? "ok" : "not ok", passed + failed + 1,
	       what);
	ok ? passed++ : failed++;
}

int main(void)
{
	static const unsigned counts[] = {1, 2, 3, 8, 64};
	char why[200], name[120];
	for (int p = 0; p < PEER_C_COUNT; p++) {
		if (!bench_peer_available((enum bench_peer)p))
			continue;
		for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
			for (int shared = 0; shared < 2; shared++) {
				struct bench_barrier *b = bench_barrier_new(
				    (enum bench_peer)p, counts[i], shared);
				snprintf(name, sizeof name,
				         "%s, %u parties%s: laid out fairly",
				         bench_peer_name((enum bench_peer)p),
				         counts[i], shared ? ", shared" : "");
				int ok = b && bench_layout_check(b, why,
				                                 sizeof why) == 0;
				if (b && !ok)
					printf("# %s\n", why);
				check(ok, name);
				/* ck: one region per party besides the two. */
				if (b && p == PEER_CK)
					check(bench_layout(b, NULL, 0) ==
					          2 + counts[i],
					      "ck: every party's state is listed");
				bench_barrier_free(b);
			}
	}
	/* The checker: the old layout must fail. */
	struct bench_region packed[] = {
	    {"harness header", 0x1000, 16},
	    {"shared words", 0x1010, 8},
	    {"private state", 0x1410, 4},
	    {"private state", 0x1414, 4},
	};
	check(bench_regions_check(packed, 4, why, sizeof why) != 0 &&
	          strstr(why, "share"),
	      "the checker refuses a barrier on the header's line");
	check(bench_regions_check(packed + 2, 2, why, sizeof why) != 0,
	      "the checker refuses two states on one line");
	struct bench_region pair[] = {
	    {"private state", 0x1000, 4},
	    {"private state", 0x1040, 4},
	};
	check(bench_regions_check(pair, 2, why, sizeof why) != 0,
	      "the checker refuses two states on the two lines of a pair");
	struct bench_region apart[] = {
	    {"harness header", 0x1000, 16},
	    {"shared words", 0x1080, 8},
	    {"private state", 0x1100, 4},
	    {"private state", 0x1180, 4},
	};
	check(bench_regions_check(apart, 4, why, sizeof why) == 0,
	      "the checker accepts regions in pairs of lines of their own");
	printf("1..%d\n%d passed, %d failed\n", passed + failed, passed,
	       failed);
	return failed != 0;
}
