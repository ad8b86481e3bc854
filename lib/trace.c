/* trace.c — RALLY_TRACE=FILE (SPEC §12): each wait of each barrier of the
 * process becomes a Chrome Trace Event ("ph":"X": start and duration, the
 * thread, the barrier, its phase and index, the outcome), which Perfetto
 * and chrome://tracing open.
 *
 * Recording takes no lock and touches no shared line: each thread appends
 * to a buffer of its own (TRACE_CHUNK events, ~40 KB) and publishes the
 * count with a release store. A full buffer is written out by its thread
 * (one write(2) per TRACE_CHUNK waits), under the one lock that orders the
 * file; so does the library's destructor at exit for every thread, a
 * thread's end (its key's destructor) for its own, and destroy. A reader
 * of another thread's buffer (under the lock) takes only the events that
 * thread published and remembers how far it wrote (`flushed`): the owner
 * resets its buffer only under the lock. So memory stays bounded — a
 * buffer per live thread — and a process killed by a signal loses only
 * what its threads recorded since their last write (a chunk each at most)
 * and the closing "]}" (tools/trace_svg.py and rally stats mend that).
 *
 * The file: FILE, where "%p" stands for the pid ("%%" for '%') — give it
 * where several processes trace, or they overwrite each other: without
 * it, a fork()ed child writes FILE.PID, but a program exec()ed with the
 * same environment truncates FILE. A tracer holds a lock (flock) on its
 * file; one that finds the name locked by another — librally-pthread.so's
 * copy of this file beside a program's own rally — takes FILE.1, FILE.2.
 * Opened at the first write (a process that never waits writes nothing). Beyond RALLY_TRACE_MAX events (default 1,000,000, some
 * 170 MB) events are counted, not written: the last event says how many.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hooks.h"
#include "rally.h"
#include "trace.h"

#define TRACE_CHUNK    1024
#define LINE_CHARS     256 /* an event's line, at most */
#define DEFAULT_MAX    1000000ull

struct tevent {
	uint64_t tag;
	int64_t t0, t1;
	uint32_t phase;
	int32_t index;
	int32_t rc;
	bool shared;
};

struct tbuf {
	struct tbuf *next, **prevp; /* T.threads, under T.lock */
	pid_t tid;
	_Atomic uint32_t count; /* published events (the owner's release) */
	uint32_t flushed;       /* written out, under T.lock */
	struct tevent ev[TRACE_CHUNK];
};

_Atomic bool rally__trace_on;

static struct {
	pthread_mutex_t lock; /* the file, the list, every `flushed` */
	struct tbuf *threads;
	pthread_key_t key;
	int fd; /* -1: not yet opened, or closed */
	bool done; /* closed at exit, or could not open: write nothing */
	pid_t owner; /* the process that took FILE as given */
	pid_t pid;
	uint64_t written, dropped, max;
	char path[PATH_MAX];
} T = {.lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1};

static _Thread_local struct tbuf *mine;
static char out[TRACE_CHUNK * LINE_CHARS]; /* under T.lock */

static void write_all(const char *p, size_t n)
{
	while (n && T.fd >= 0) {
		ssize_t w = write(T.fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			/* A full disk: say it once, keep the process going. */
			fprintf(stderr, "rally: RALLY_TRACE: writing %s: %s; "
			                "tracing stops\n",
			        T.path, w < 0 ? strerror(errno) : "no room");
			close(T.fd);
			T.fd = -1;
			T.done = true;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

/* FILE with %p as the pid and %% as '%'; FILE.PID in a fork()ed child of
 * the owner. */
static void path_of(char *buf, size_t size)
{
	size_t o = 0;
	bool has_pid = false;
	for (const char *p = T.path; *p && o + 12 < size; p++) {
		if (p[0] == '%' && p[1] == 'p') {
			o += (size_t)snprintf(buf + o, size - o, "%d", (int)T.pid);
			has_pid = true;
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			buf[o++] = '%';
			p++;
		} else {
			buf[o++] = *p;
		}
	}
	buf[o] = '\0';
	if (!has_pid && T.pid != T.owner)
		snprintf(buf + o, size - o, ".%d", (int)T.pid);
}

size_t rally__utf8_seq(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
	           : (c & 0xf8) == 0xf0 ? 4 : 0;
	if (n == 0 || (n == 2 && c < 0xc2) || (n == 4 && c > 0xf4))
		return 0; /* a stray continuation, an overlong lead, > U+10FFFF */
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* Overlong 3- and 4-byte forms, surrogates, beyond U+10FFFF. */
	if ((n == 3 && c == 0xe0 && s[1] < 0xa0) ||
	    (n == 3 && c == 0xed && s[1] >= 0xa0) ||
	    (n == 4 && c == 0xf0 && s[1] < 0x90) ||
	    (n == 4 && c == 0xf4 && s[1] >= 0x90))
		return 0;
	return n;
}

/* The program's name as a JSON string's contents: whole UTF-8 characters
 * (a name cut inside one was not UTF-8, nor JSON: review round 1), a byte
 * that is none as \u00XX. */
static void json_name(char *buf, size_t size)
{
	const unsigned char *n =
	    (const unsigned char *)program_invocation_short_name;
	size_t o = 0;
	while (*n && o + 8 < size) {
		size_t k = rally__utf8_seq(n);
		if (k > 1 && o + k + 1 < size) {
			memcpy(buf + o, n, k);
			o += k;
			n += k;
			continue;
		}
		if (k > 1)
			break; /* no room for the whole character */
		unsigned char c = *n++;
		if (c == '"' || c == '\\')
			o += (size_t)snprintf(buf + o, size - o, "\\%c", c);
		else if (k == 0 || c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(buf + o, size - o, "\\u%04x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o] = '\0';
}

static bool open_locked(void)
{
	if (T.fd >= 0)
		return true;
	if (T.done)
		return false;
	char path[PATH_MAX + 32];
	T.pid = getpid();
	path_of(path, sizeof path);
	/* The file is this tracer's while it holds a lock on it: another
	 * tracer in this process (librally-pthread.so's copy beside a
	 * program's own rally) or in another that writes the same name has
	 * it, and this one takes FILE.1, FILE.2, ... — they overwrote each
	 * other (review round 1). Truncated once locked. */
	size_t len = strlen(path);
	for (int k = 0; k < 100; k++) {
		if (k)
			snprintf(path + len, sizeof path - len, ".%d", k);
		T.fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (T.fd < 0)
			break;
		/* A pipe, a FIFO, a terminal: written as it is, never
		 * truncated nor passed over for a FILE.1 beside it (review
		 * round 2: /dev/stdout.1 appeared). */
		struct stat st;
		if (fstat(T.fd, &st) == 0 && !S_ISREG(st.st_mode))
			break;
		if (flock(T.fd, LOCK_EX | LOCK_NB) == 0) {
			if (ftruncate(T.fd, 0) == 0)
				break;
		} else if (errno != EWOULDBLOCK) {
			break; /* no locks here: as before, the file is ours */
		}
		close(T.fd);
		T.fd = -1;
		errno = EEXIST;
	}
	if (T.fd < 0) {
		fprintf(stderr, "rally: RALLY_TRACE: cannot open %s: %s; "
		                "tracing off\n",
		        path, strerror(errno));
		T.done = true;
		atomic_store_explicit(&rally__trace_on, false,
		                      memory_order_relaxed);
		return false;
	}
	char name[64];
	json_name(name, sizeof name);
	/* Every event after this one begins with a comma: chunks written in
	 * any order make valid JSON. */
	int n = snprintf(out, sizeof out,
	                 "{\"traceEvents\":[\n{\"name\":\"process_name\","
	                 "\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"args\":{"
	                 "\"name\":\"%s\"}}",
	                 (int)T.pid, (int)T.pid, name);
	write_all(out, (size_t)n);
	return T.fd >= 0;
}

static const char *outcome(int rc)
{
	if (rc >= 0)
		return "released";
	switch (rc) {
	case RALLY_BROKEN:
		return "broken";
	case RALLY_TIMEDOUT:
		return "timeout";
	case RALLY_OWNERDEAD:
		return "ownerdead";
	default:
		return "error";
	}
}

/* ---- formatting: by hand, as snprintf took ~0.5 us an event, and the
 * thread whose buffer filled pays for 1024 of them ---------------------- */

static char *put_str(char *p, const char *s)
{
	while (*s)
		*p++ = *s++;
	return p;
}

static char *put_u64(char *p, uint64_t v)
{
	char tmp[20];
	int n = 0;
	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static char *put_i64(char *p, int64_t v)
{
	if (v < 0) {
		*p++ = '-';
		return put_u64(p, -(uint64_t)v);
	}
	return put_u64(p, (uint64_t)v);
}

/* ns as microseconds with 3 decimals (Chrome's unit). */
static char *put_us(char *p, int64_t ns)
{
	if (ns < 0) {
		*p++ = '-';
		ns = -ns;
	}
	p = put_u64(p, (uint64_t)ns / 1000);
	unsigned f = (unsigned)((uint64_t)ns % 1000);
	*p++ = '.';
	*p++ = (char)('0' + f / 100);
	*p++ = (char)('0' + f / 10 % 10);
	*p++ = (char)('0' + f % 10);
	return p;
}

static char *put_hex16(char *p, uint64_t v)
{
	for (int i = 15; i >= 0; i--)
		*p++ = "0123456789abcdef"[(v >> (4 * i)) & 0xf];
	return p;
}

/* One event's line (at most LINE_CHARS). */
static char *put_event(char *p, const struct tevent *e, pid_t tid)
{
	p = put_str(p, ",\n{\"name\":\"wait\",\"cat\":\"rally\","
	               "\"ph\":\"X\",\"ts\":");
	p = put_us(p, e->t0);
	p = put_str(p, ",\"dur\":");
	p = put_us(p, e->t1 - e->t0);
	p = put_str(p, ",\"pid\":");
	p = put_i64(p, T.pid);
	p = put_str(p, ",\"tid\":");
	p = put_i64(p, tid);
	p = put_str(p, ",\"args\":{\"barrier\":\"");
	p = put_hex16(p, e->tag);
	p = put_str(p, e->shared ? "\",\"shared\":1,\"phase\":"
	                         : "\",\"shared\":0,\"phase\":");
	p = put_u64(p, e->phase);
	p = put_str(p, ",\"index\":");
	p = put_i64(p, e->index);
	p = put_str(p, ",\"outcome\":\"");
	p = put_str(p, outcome(e->rc));
	return put_str(p, "\"}}");
}

/* Writes what b's owner published since the last write. */
static void flush_locked(struct tbuf *b)
{
	uint32_t n = atomic_load_explicit(&b->count, memory_order_acquire);
	if (n <= b->flushed || !open_locked()) {
		b->flushed = n;
		return;
	}
	char *p = out;
	for (uint32_t i = b->flushed; i < n; i++) {
		if (T.written >= T.max) {
			T.dropped++;
			continue;
		}
		T.written++;
		p = put_event(p, &b->ev[i], b->tid);
	}
	write_all(out, (size_t)(p - out));
	b->flushed = n;
}

static void thread_ended(void *p)
{
	struct tbuf *b = p;
	pthread_mutex_lock(&T.lock);
	flush_locked(b);
	*b->prevp = b->next;
	if (b->next)
		b->next->prevp = b->prevp;
	pthread_mutex_unlock(&T.lock);
	free(b);
	mine = NULL;
}

static struct tbuf *new_buffer(void)
{
	struct tbuf *b = calloc(1, sizeof *b);
	if (!b)
		return NULL; /* this thread's waits go unrecorded */
	b->tid = (pid_t)syscall(SYS_gettid);
	pthread_mutex_lock(&T.lock);
	b->next = T.threads;
	b->prevp = &T.threads;
	if (T.threads)
		T.threads->prevp = &b->next;
	T.threads = b;
	pthread_mutex_unlock(&T.lock);
	pthread_setspecific(T.key, b);
	return mine = b;
}

void rally__trace_wait(uint64_t tag, bool shared, uint32_t phase,
                       int32_t index, int64_t t0, int64_t t1, int rc)
{
	struct tbuf *b = mine;
	if (!b && !(b = new_buffer()))
		return;
	struct tevent e = {tag, t0, t1, phase, index, rc, shared};
	uint32_t n = atomic_load_explicit(&b->count, memory_order_relaxed);
	if (n < TRACE_CHUNK) {
		b->ev[n] = e;
		atomic_store_explicit(&b->count, n + 1, memory_order_release);
		return;
	}
	/* Full: written out, and begun again with this event, all under the
	 * lock — a reader never sees the count of the old events over the
	 * new ones. */
	pthread_mutex_lock(&T.lock);
	flush_locked(b);
	b->ev[0] = e;
	b->flushed = 0;
	atomic_store_explicit(&b->count, 1, memory_order_release);
	pthread_mutex_unlock(&T.lock);
}

static void flush_all_locked(void)
{
	for (struct tbuf *b = T.threads; b; b = b->next)
		flush_locked(b);
}

void rally__trace_flush(void)
{
	pthread_mutex_lock(&T.lock);
	flush_all_locked();
	pthread_mutex_unlock(&T.lock);
}

/* ---- the process: load, fork, exit ---------------------------------------- */

static void before_fork(void) { pthread_mutex_lock(&T.lock); }
static void after_fork_parent(void) { pthread_mutex_unlock(&T.lock); }

/* The child's buffers hold its parent's waits, which the parent writes:
 * emptied; its own file, opened at its first write. */
static void after_fork_child(void)
{
	pthread_mutex_init(&T.lock, NULL);
	for (struct tbuf *b = T.threads; b; b = b->next) {
		atomic_store_explicit(&b->count, 0, memory_order_relaxed);
		b->flushed = 0;
	}
	if (mine) /* the forking thread, a new thread here */
		mine->tid = (pid_t)syscall(SYS_gettid);
	if (T.fd >= 0)
		close(T.fd);
	T.fd = -1;
	T.written = T.dropped = 0;
}

/* Once per process: the key whose destructor writes a thread's waits as
 * it ends, and the fork handlers. */
static bool set_up_ok;

static void set_up_once(void)
{
	set_up_ok = pthread_key_create(&T.key, thread_ended) == 0 &&
	            pthread_atfork(before_fork, after_fork_parent,
	                           after_fork_child) == 0;
}

static bool set_up(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, set_up_once);
	return set_up_ok;
}

static uint64_t max_from_env(void)
{
	const char *m = getenv("RALLY_TRACE_MAX");
	if (!m || !*m)
		return DEFAULT_MAX;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(m, &end, 10);
	if (*end || errno || m[0] == '-') {
		fprintf(stderr, "rally: RALLY_TRACE_MAX=%s: not a number of "
		                "events; %llu\n",
		        m, (unsigned long long)DEFAULT_MAX);
		return DEFAULT_MAX;
	}
	return v;
}

int rally__trace_start(const char *path)
{
	if (!path || !*path || strlen(path) >= sizeof T.path - 16)
		return -EINVAL;
	/* Relative to the directory the process starts in, not the one it
	 * is in at its first write (review round 2: a program that changed
	 * directory wrote nowhere). */
	char abs[sizeof T.path];
	if (path[0] != '/') {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof cwd))
			return -EINVAL;
		size_t o = 0; /* the directory's own '%' doubled */
		for (const char *c = cwd; *c && o + 2 < sizeof abs; c++) {
			if (*c == '%')
				abs[o++] = '%';
			abs[o++] = *c;
		}
		if (snprintf(abs + o, sizeof abs - o, "/%s", path) >=
		    (int)(sizeof abs - o - 16))
			return -EINVAL;
		path = abs;
	}
	if (!set_up())
		return -ENOMEM;
	pthread_mutex_lock(&T.lock);
	int rc = -EBUSY;
	if (!atomic_load_explicit(&rally__trace_on, memory_order_relaxed)) {
		strcpy(T.path, path);
		T.max = max_from_env();
		T.owner = getpid();
		T.fd = -1;
		T.done = false;
		T.written = T.dropped = 0;
		atomic_store_explicit(&rally__trace_on, true,
		                      memory_order_relaxed);
		rc = 0;
	}
	pthread_mutex_unlock(&T.lock);
	return rc;
}

void rally__trace_stop(void)
{
	pthread_mutex_lock(&T.lock);
	if (!atomic_load_explicit(&rally__trace_on, memory_order_relaxed)) {
		pthread_mutex_unlock(&T.lock);
		return;
	}
	atomic_store_explicit(&rally__trace_on, false, memory_order_relaxed);
	flush_all_locked();
	if (T.fd >= 0) {
		int n = snprintf(out, sizeof out,
		                 ",\n{\"name\":\"rally_trace\",\"ph\":\"M\","
		                 "\"pid\":%d,\"tid\":%d,\"args\":{\"events\":%"
		                 PRIu64 ",\"dropped\":%" PRIu64 "}}\n]}\n",
		                 (int)T.pid, (int)T.pid, T.written, T.dropped);
		write_all(out, (size_t)n);
		close(T.fd);
		T.fd = -1;
	}
	T.done = true;
	pthread_mutex_unlock(&T.lock);
}

__attribute__((constructor)) static void trace_at_load(void)
{
	const char *p = getenv("RALLY_TRACE");
	if (!p || !*p)
		return;
	if (rally__trace_start(p) == -EINVAL)
		fprintf(stderr, "rally: RALLY_TRACE: the path is too long; "
		                "tracing off\n");
}

/* At exit (and at dlclose): every thread's waits, then the end. Threads
 * still running record on, unwritten. */
__attribute__((destructor)) static void trace_at_exit(void)
{
	rally__trace_stop();
	/* At dlclose the key's destructor would be left pointing into the
	 * unloaded library, for every thread that recorded (review round 1:
	 * a crash as such a thread ended). Their buffers are left behind. */
	if (set_up_ok)
		pthread_key_delete(T.key);
}
