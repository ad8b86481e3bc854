/* stats_cmd.c — `rally stats [OPTIONS] -- PROGRAM ARGS...`: runs a program
 * with RALLY_TRACE (lib/trace.c) — and librally-pthread.so preloaded, so
 * that a program of pthread barriers is seen too — and when it ends prints
 * where its threads waited: the fraction of their time spent in barriers,
 * the arrival skew of the phases (first to last arrival), and the
 * stragglers (who arrived last, how often). The summary goes to stderr
 * (the program's stdout stays its own); --json FILE writes it as JSON.
 *
 * It reads the trace files back line by line: the format is the one
 * trace.c writes, one event to a line. A file cut short (a process killed
 * by a signal) is read as far as it goes. */
#define _GNU_SOURCE
#include "stats_cmd.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run.h"

enum { EXIT_USAGE = 1, EXIT_CANNOT_RUN = 126, EXIT_NOT_FOUND = 127 };

struct ev {
	/* The barrier's tag; a process-private one's with its pid (a fork()ed
	 * child's copy has the same tag: review round 2). */
	char barrier[32];
	uint32_t phase;
	int32_t index;
	int pid, tid;
	int64_t ts_ns, dur_ns;
	bool released;
};

struct evs {
	struct ev *v;
	size_t n, cap;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One line of trace.c's: an event, or not (false). */
static bool parse_line(const char *line, struct ev *e)
{
	int64_t ts_us, dur_us;
	int ts_frac, dur_frac, shared;
	char outcome[16], tag[17];
	int n = sscanf(line,
	               "{\"name\":\"wait\",\"cat\":\"rally\",\"ph\":\"X\","
	               "\"ts\":%" SCNd64 ".%d,\"dur\":%" SCNd64 ".%d,"
	               "\"pid\":%d,\"tid\":%d,\"args\":{\"barrier\":\"%16["
	               "0-9a-f]\",\"shared\":%d,\"phase\":%" SCNu32
	               ",\"index\":%" SCNd32 ",\"outcome\":\"%15[a-z]\"",
	               &ts_us, &ts_frac, &dur_us, &dur_frac, &e->pid, &e->tid,
	               tag, &shared, &e->phase, &e->index, outcome);
	if (n != 11)
		return false;
	if (shared)
		snprintf(e->barrier, sizeof e->barrier, "%s", tag);
	else
		snprintf(e->barrier, sizeof e->barrier, "%s@%d", tag, e->pid);
	e->ts_ns = ts_us * 1000 + ts_frac;
	e->dur_ns = dur_us * 1000 + dur_frac;
	e->released = strcmp(outcome, "released") == 0;
	return true;
}

/* What the files say of themselves: waits not written (RALLY_TRACE_MAX),
 * and files with no end (a process killed, or exec()ed). */
struct files {
	uint64_t dropped;
	unsigned cut, read;
};

static int read_file(const char *path, struct evs *out, struct files *fs)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	char line[512];
	struct ev e;
	bool ended = false;
	fs->read++;
	while (fgets(line, sizeof line, f)) {
		uint64_t events, dropped;
		if (sscanf(line, "{\"name\":\"rally_trace\",\"ph\":\"M\","
		                 "\"pid\":%*d,\"tid\":%*d,\"args\":{\"events\":%"
		                 SCNu64 ",\"dropped\":%" SCNu64,
		           &events, &dropped) == 2) {
			fs->dropped += dropped;
			ended = true;
			continue;
		}
		if (!parse_line(line, &e))
			continue;
		if (out->n == out->cap) {
			size_t cap = out->cap ? 2 * out->cap : 4096;
			struct ev *v = realloc(out->v, cap * sizeof *v);
			if (!v) {
				fclose(f);
				return -ENOMEM;
			}
			out->v = v;
			out->cap = cap;
		}
		out->v[out->n++] = e;
	}
	fclose(f);
	fs->cut += !ended;
	return 0;
}

static int by_phase(const void *a, const void *b)
{
	const struct ev *x = a, *y = b;
	int c = strcmp(x->barrier, y->barrier);
	if (c)
		return c;
	if (x->phase != y->phase)
		return x->phase < y->phase ? -1 : 1;
	return (x->ts_ns > y->ts_ns) - (x->ts_ns < y->ts_ns);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

struct caller {
	int pid, tid;
	uint64_t waits, last;
	int64_t wait_ns, first_ns, end_ns;
};

struct summary {
	struct caller *c;
	size_t nc;
	int64_t *skew;
	size_t phases;
	uint64_t events, partial; /* phases seen without all their waits */
	int64_t wall_ns, wait_ns;
};

static struct caller *caller_of(struct summary *s, int pid, int tid)
{
	for (size_t i = 0; i < s->nc; i++)
		if (s->c[i].pid == pid && s->c[i].tid == tid)
			return &s->c[i];
	struct caller *c = realloc(s->c, (s->nc + 1) * sizeof *c);
	if (!c)
		return NULL;
	s->c = c;
	c = &s->c[s->nc++];
	*c = (struct caller){.pid = pid, .tid = tid, .first_ns = INT64_MAX,
	                     .end_ns = INT64_MIN};
	return c;
}

/* A phase: its released waits ev[0..n) (by arrival); the last to arrive
 * is the straggler; the skew runs from the first arrival to the last. */
static void count_phase(struct summary *s, const struct ev *ev, size_t n)
{
	size_t released = 0, last = 0;
	int64_t first = INT64_MAX, latest = INT64_MIN;
	for (size_t i = 0; i < n; i++) {
		if (!ev[i].released)
			continue;
		released++;
		if (ev[i].ts_ns < first)
			first = ev[i].ts_ns;
		if (ev[i].ts_ns >= latest) {
			latest = ev[i].ts_ns;
			last = i;
		}
	}
	if (released < 2) {
		s->partial += released != 0;
		return;
	}
	s->skew[s->phases++] = latest - first;
	struct caller *c = caller_of(s, ev[last].pid, ev[last].tid);
	if (c)
		c->last++;
}

static int summarise(struct evs *all, struct summary *s)
{
	qsort(all->v, all->n, sizeof *all->v, by_phase);
	s->skew = malloc((all->n + 1) * sizeof *s->skew);
	if (!s->skew)
		return -ENOMEM;
	for (size_t i = 0; i < all->n; i++) {
		const struct ev *e = &all->v[i];
		struct caller *c = caller_of(s, e->pid, e->tid);
		if (!c)
			return -ENOMEM;
		c->waits++;
		c->wait_ns += e->dur_ns;
		s->wait_ns += e->dur_ns;
		if (e->ts_ns < c->first_ns)
			c->first_ns = e->ts_ns;
		if (e->ts_ns + e->dur_ns > c->end_ns)
			c->end_ns = e->ts_ns + e->dur_ns;
	}
	s->events = all->n;
	for (size_t i = 0, j; i < all->n; i = j) {
		for (j = i + 1; j < all->n &&
		                strcmp(all->v[j].barrier, all->v[i].barrier) == 0 &&
		                all->v[j].phase == all->v[i].phase;
		     j++)
			;
		count_phase(s, &all->v[i], j - i);
	}
	qsort(s->skew, s->phases, sizeof *s->skew, cmp_i64);
	return 0;
}

static int64_t pct(const struct summary *s, unsigned p)
{
	if (!s->phases)
		return 0;
	size_t k = (s->phases * p + 99) / 100;
	return s->skew[k ? k - 1 : 0];
}

const char *rally_fmt_ns(int64_t ns, char *buf, size_t size)
{
	if (ns < 1000)
		snprintf(buf, size, "%" PRId64 " ns", ns);
	else if (ns < 1000000)
		snprintf(buf, size, "%.1f us", (double)ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, size, "%.2f ms", (double)ns / 1e6);
	else
		snprintf(buf, size, "%.2f s", (double)ns / 1e9);
	return buf;
}

static int by_last(const void *a, const void *b)
{
	const struct caller *x = a, *y = b;
	if (x->last != y->last)
		return x->last > y->last ? -1 : 1;
	return (x->wait_ns > y->wait_ns) - (x->wait_ns < y->wait_ns);
}

/* The time a caller's waits span: from its first wait's start to its last
 * wait's end (a thread's life outside barriers is not seen). */
static double share(const struct caller *c)
{
	int64_t span = c->end_ns - c->first_ns;
	return span > 0 ? (double)c->wait_ns / (double)span : 0;
}

static void print_summary(FILE *f, struct summary *s, int top)
{
	char a[32], b[32], c[32];
	qsort(s->c, s->nc, sizeof *s->c, by_last);
	double sum = 0;
	for (size_t i = 0; i < s->nc; i++)
		sum += share(&s->c[i]);
	fprintf(f, "\nrally stats: %" PRIu64 " waits by %zu threads in %zu "
	           "phases, over %s\n",
	        s->events, s->nc, s->phases, rally_fmt_ns(s->wall_ns, a, sizeof a));
	if (!s->events) {
		fprintf(f, "  no barrier waits seen (the program used no rally "
		           "barrier, nor a pthread barrier the shim could "
		           "reach)\n");
		return;
	}
	fprintf(f, "  time in barriers: %.1f%% of the threads' time "
	           "(each thread from its first wait to its last)\n",
	        s->nc ? 100 * sum / (double)s->nc : 0);
	fprintf(f, "  arrival skew per phase (first to last arrival): p50 %s,"
	           " p99 %s, max %s\n",
	        rally_fmt_ns(pct(s, 50), a, sizeof a), rally_fmt_ns(pct(s, 99), b, sizeof b),
	        rally_fmt_ns(s->phases ? s->skew[s->phases - 1] : 0, c, sizeof c));
	fprintf(f, "  stragglers (last to arrive):\n"
	           "    %8s %8s %10s %7s %8s %12s %8s\n",
	        "pid", "tid", "last", "of", "waits", "waited", "in bar.");
	for (size_t i = 0; i < s->nc && (int)i < top; i++) {
		const struct caller *x = &s->c[i];
		fprintf(f, "    %8d %8d %10" PRIu64 " %6.1f%% %8" PRIu64
		           " %12s %7.1f%%\n",
		        x->pid, x->tid, x->last,
		        s->phases ? 100.0 * (double)x->last / (double)s->phases
		                  : 0,
		        x->waits, rally_fmt_ns(x->wait_ns, a, sizeof a),
		        100 * share(x));
	}
	if (s->nc > (size_t)top)
		fprintf(f, "    ... %zu more\n", s->nc - (size_t)top);
	if (s->partial)
		fprintf(f, "  %" PRIu64 " phases had a single released wait in "
		           "the trace (cut short by the end, or a barrier of 1): "
		           "no skew\n",
		        s->partial);
}

static int write_json(const char *path, struct summary *s)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	double sum = 0;
	for (size_t i = 0; i < s->nc; i++)
		sum += share(&s->c[i]);
	fprintf(f, "{\"wall_ns\": %" PRId64 ", \"events\": %" PRIu64
	           ", \"threads\": %zu, \"phases\": %zu, \"wait_fraction\": %.6f"
	           ", \"skew_p50_ns\": %" PRId64 ", \"skew_p99_ns\": %" PRId64
	           ", \"skew_max_ns\": %" PRId64 ", \"callers\": [",
	        s->wall_ns, s->events, s->nc, s->phases,
	        s->nc ? sum / (double)s->nc : 0, pct(s, 50), pct(s, 99),
	        s->phases ? s->skew[s->phases - 1] : 0);
	for (size_t i = 0; i < s->nc; i++)
		fprintf(f, "%s{\"pid\": %d, \"tid\": %d, \"last\": %" PRIu64
		           ", \"waits\": %" PRIu64 ", \"wait_ns\": %" PRId64
		           ", \"wait_fraction\": %.6f}",
		        i ? ", " : "", s->c[i].pid, s->c[i].tid, s->c[i].last,
		        s->c[i].waits, s->c[i].wait_ns, share(&s->c[i]));
	fprintf(f, "]}\n");
	return fclose(f) ? -errno : 0;
}

/* Reads every trace file in dir. */
static int read_traces(const char *dir, struct evs *all, struct files *fs)
{
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	struct dirent *de;
	int rc = 0;
	while (!rc && (de = readdir(d))) {
		if (strncmp(de->d_name, "trace.", 6) != 0)
			continue;
		char path[2 * PATH_MAX];
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		rc = read_file(path, all, fs);
	}
	closedir(d);
	return rc;
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "trace.", 6) != 0)
			continue;
		char path[2 * PATH_MAX];
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* RALLY_TRACE for dir: its '%' doubled (the tracer reads "%p" as the
 * pid and "%%" as '%': a --keep 'k%pd' traced nowhere, review round 1). */
static void trace_pattern(const char *dir, char *out, size_t size)
{
	size_t o = 0;
	for (const char *p = dir; *p && o + 3 < size; p++) {
		if (*p == '%')
			out[o++] = '%';
		out[o++] = *p;
	}
	snprintf(out + o, size - o, "/trace.%%p.json");
}

/* Whether dir holds traces already (of another run: they would be read
 * with this one's). */
static bool holds_traces(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return false;
	struct dirent *de;
	bool found = false;
	while (!found && (de = readdir(d)))
		found = strncmp(de->d_name, "trace.", 6) == 0;
	closedir(d);
	return found;
}

static volatile sig_atomic_t child_pid;

/* SIGTERM or SIGHUP to rally stats: passed on to the program, whose end
 * then ends the wait — the summary is written and the directory removed
 * (they were left, and the program orphaned: review round 1). */
static void pass_on(int sig)
{
	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
}

/* Runs argv with the trace on; its exit status as a shell gives it. */
static int run_traced(char **argv, const char *dir, bool pthread)
{
	struct sigaction sa = {.sa_handler = pass_on};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		char pattern[2 * PATH_MAX + 32];
		trace_pattern(dir, pattern, sizeof pattern);
		setenv("RALLY_TRACE", pattern, 1);
		if (pthread)
			/* rally run: the shim, then exec (it says why not). */
			_exit(rally_preload_and_exec(argv, "rally stats",
			                            false));
		execvp(argv[0], argv);
		fprintf(stderr, "rally stats: cannot run %s: %s\n", argv[0],
		        strerror(errno));
		_exit(errno == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN);
	}
	child_pid = pid;
	/* The program's signals are its own: ^C reaches it (the process
	 * group) and ends it; the summary still comes. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int rally_cmd_stats(int argc, char **argv, int (*help)(int status))
{
	const char *json = NULL, *keep = NULL;
	bool pthread = true;
	int top = 8, i = 0;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (!strcmp(a, "--help") || !strcmp(a, "-h"))
			return help(0);
		if (!strcmp(a, "--no-pthread")) {
			pthread = false;
			continue;
		}
		if (!strcmp(a, "--json") || !strcmp(a, "--keep") ||
		    !strcmp(a, "--top")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "rally stats: %s needs a "
				                "value\n", a);
				return EXIT_USAGE;
			}
			const char *v = argv[++i];
			if (!strcmp(a, "--json"))
				json = v;
			else if (!strcmp(a, "--keep"))
				keep = v;
			else {
				char *end;
				long n = strtol(v, &end, 10);
				if (*end || end == v || n < 1 || n > 1000000) {
					fprintf(stderr, "rally stats: --top "
					        "'%s': a number from 1\n", v);
					return EXIT_USAGE;
				}
				top = (int)n;
			}
			continue;
		}
		if (a[0] == '-') {
			fprintf(stderr, "rally stats: unknown option '%s' "
			                "(rally help stats)\n", a);
			return EXIT_USAGE;
		}
		break;
	}
	if (i >= argc) {
		fprintf(stderr, "rally stats: no program given (rally stats "
		                "[OPTIONS] -- PROGRAM ARGS...)\n");
		return EXIT_USAGE;
	}
	char dir[PATH_MAX];
	if (keep) {
		struct stat st;
		if (mkdir(keep, 0755) != 0 && errno != EEXIST) {
			fprintf(stderr, "rally stats: --keep %s: %s\n", keep,
			        strerror(errno));
			return EXIT_USAGE;
		}
		/* A directory, by its absolute path: the program may change
		 * directory (review round 2). */
		if (stat(keep, &st) != 0 || !S_ISDIR(st.st_mode) ||
		    !realpath(keep, dir)) {
			fprintf(stderr, "rally stats: --keep %s: not a directory"
			                "\n", keep);
			return EXIT_USAGE;
		}
		if (holds_traces(dir)) {
			fprintf(stderr, "rally stats: --keep %s: the directory "
			                "holds traces already (trace.*): another "
			                "directory, or remove them\n", keep);
			return EXIT_USAGE;
		}
	} else {
		const char *t = getenv("TMPDIR");
		char made[PATH_MAX];
		snprintf(made, sizeof made, "%s/rally-stats.XXXXXX",
		         t && *t ? t : "/tmp");
		if (!mkdtemp(made) || !realpath(made, dir)) {
			fprintf(stderr, "rally stats: cannot make %s: %s\n", made,
			        strerror(errno));
			return EXIT_USAGE;
		}
	}
	int64_t t0 = now_ns();
	int status = run_traced(argv + i, dir, pthread);
	struct summary s = {.wall_ns = now_ns() - t0};
	struct evs all = {0};
	struct files fs = {0};
	int rc = status < 0 ? status : read_traces(dir, &all, &fs);
	if (!rc)
		rc = summarise(&all, &s);
	if (rc) {
		fprintf(stderr, "rally stats: %s\n", strerror(-rc));
	} else {
		print_summary(stderr, &s, top);
		/* A part taken for the whole would mislead (review round 2). */
		if (fs.dropped)
			fprintf(stderr, "  PARTIAL: %" PRIu64 " waits were not "
			                "written (RALLY_TRACE_MAX, default "
			                "1000000): the summary covers the waits "
			                "written first; raise RALLY_TRACE_MAX\n",
			        fs.dropped);
		if (fs.cut)
			fprintf(stderr, "  PARTIAL: %u of %u trace files end "
			                "early (a process killed, or exec()ed): "
			                "their last waits are missing\n",
			        fs.cut, fs.read);
		if (keep)
			fprintf(stderr, "  traces kept in %s (Chrome Trace Event "
			                "JSON: Perfetto, chrome://tracing, "
			                "tools/trace_svg.py)\n", dir);
		if (json && (rc = write_json(json, &s)) != 0)
			fprintf(stderr, "rally stats: --json %s: %s\n", json,
			        strerror(-rc));
	}
	if (!keep)
		remove_dir(dir);
	free(all.v);
	free(s.c);
	free(s.skew);
	if (status < 0)
		return EXIT_CANNOT_RUN;
	return status ? status : rc ? EXIT_USAGE : 0;
}
