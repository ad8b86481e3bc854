/* test_named.c — named barriers and events in POSIX shared memory, used by
 * fork()ed processes and by separate executables (tests/helper). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "rally.h"

extern char **environ;

/* A name unique to this test process, so parallel runs do not meet. */
static const char *uniq(const char *base)
{
	static char buf[8][64];
	static int k;
	char *s = buf[k++ % 8];
	snprintf(s, 64, "test-%s-%d", base, (int)getpid());
	return s;
}

static void *shared_mem(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(p, MAP_FAILED);
	return p;
}

Test(named, bad_arguments, .timeout = 30)
{
	rally_barrier_t *b;
	rally_event_t *e;
	char longname[300];
	memset(longname, 'x', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	cr_expect_eq(rally_barrier_open(&b, NULL, 2, NULL, O_CREAT, 0600),
	             -EINVAL);
	cr_expect_eq(rally_barrier_open(&b, "", 2, NULL, O_CREAT, 0600),
	             -EINVAL);
	cr_expect_eq(rally_barrier_open(&b, "a/b", 2, NULL, O_CREAT, 0600),
	             -EINVAL);
	cr_expect_eq(rally_barrier_open(&b, longname, 2, NULL, O_CREAT, 0600),
	             -ENAMETOOLONG);
	cr_expect_eq(
	    rally_barrier_open(NULL, uniq("x"), 2, NULL, O_CREAT, 0600),
	    -EINVAL);
	cr_expect_eq(rally_barrier_open(&b, uniq("x"), 2, NULL, O_EXCL, 0600),
	             -EINVAL);
	cr_expect_eq(rally_barrier_open(&b, uniq("x"), 2, NULL, O_TRUNC, 0600),
	             -EINVAL);
	cr_expect_eq(rally_barrier_open(&b, uniq("x"), 0, NULL, O_CREAT, 0600),
	             -EINVAL);
	rally_barrier_attr_t bad = {.flags = 0x80};
	cr_expect_eq(rally_barrier_open(&b, uniq("y"), 2, &bad, O_CREAT, 0600),
	             -EINVAL);
	cr_expect_eq(rally_barrier_unlink(uniq("y")), -ENOENT); /* cleaned up */
	cr_expect_eq(rally_event_open(&e, "a/b", 0, O_CREAT, 0600), -EINVAL);
	cr_expect_eq(rally_event_open(&e, uniq("x"), 0x80, O_CREAT, 0600),
	             -EINVAL);
	cr_expect_eq(rally_barrier_close(NULL), -EINVAL);
	cr_expect_eq(rally_event_close(NULL), -EINVAL);
	cr_expect_eq(rally_barrier_unlink("a/b"), -EINVAL);
}

Test(named, lifecycle, .timeout = 30)
{
	const char *name = uniq("life");
	rally_barrier_t *b, *b2;
	cr_expect_eq(rally_barrier_open(&b, name, 1, NULL, 0, 0), -ENOENT);
	cr_assert_eq(rally_barrier_open(&b, name, 1, NULL, O_CREAT, 0600), 0);
	cr_expect_eq(rally_barrier_wait(b), 0);
	cr_expect_eq(rally_barrier_parties(b), 1);
	cr_expect_eq(
	    rally_barrier_open(&b2, name, 1, NULL, O_CREAT | O_EXCL, 0600),
	    -EEXIST);
	cr_expect_eq(rally_barrier_open(&b2, name, 3, NULL, 0, 0), -EINVAL);
	cr_assert_eq(rally_barrier_open(&b2, name, 0, NULL, 0, 0), 0);
	cr_expect_eq(rally_barrier_parties(b2), 1);
	cr_expect_eq(rally_barrier_wait(b2), 0);
	/* A handle is closed, not destroyed. */
	cr_expect_eq(rally_barrier_destroy(b2), -EINVAL);
	cr_expect_eq(rally_barrier_close(b2), 0);
	cr_expect_eq(rally_barrier_unlink(name), 0);
	cr_expect_eq(rally_barrier_wait(b), 0); /* still mapped */
	cr_expect_eq(rally_barrier_close(b), 0);
	cr_expect_eq(rally_barrier_unlink(name), -ENOENT);
	cr_expect_eq(rally_barrier_open(&b, name, 1, NULL, 0, 0), -ENOENT);
}

/* Review round 39: the action closes the handle it runs through — its
 * caller is inside and returns into the mapping: -EBUSY (it said 0 and
 * unmapped it: a crash) — and another handle of the object, which nobody
 * uses: closed. */
static rally_barrier_t *close_running, *close_other;
static int close_running_rc = 99, close_other_rc = 99;

static int close_handles(void *arg)
{
	(void)arg;
	if (close_other) { /* the first phase only */
		close_running_rc = rally_barrier_close(close_running);
		close_other_rc = rally_barrier_close(close_other);
		close_other = NULL;
	}
	return 0;
}

Test(named, close_from_its_own_action_is_refused, .timeout = 30)
{
	const unsigned flags[] = {RALLY_SHARED, RALLY_SHARED | RALLY_ROBUST};
	for (unsigned i = 0; i < 2; i++) {
		const char *name = uniq("close-action");
		rally_barrier_attr_t attr = {.action = close_handles,
		                             .flags = flags[i]};
		cr_assert_eq(rally_barrier_open(&close_running, name, 1, &attr,
		                                O_CREAT | O_EXCL, 0600),
		             0);
		cr_assert_eq(rally_barrier_open(&close_other, name, 0, NULL, 0,
		                                0),
		             0);
		cr_expect_eq(rally_barrier_wait(close_running), 0);
		cr_expect_eq(close_running_rc, -EBUSY, "flags %#x", flags[i]);
		cr_expect_eq(close_other_rc, 0, "flags %#x", flags[i]);
		cr_expect_eq(rally_barrier_wait(close_running), 0);
		cr_expect_eq(rally_barrier_close(close_running), 0);
		cr_expect_eq(rally_barrier_unlink(name), 0);
	}
}

static int write_shm(const char *path, size_t size, unsigned char fill)
{
	int fd = shm_open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	unsigned char buf[4096];
	memset(buf, fill, sizeof buf);
	for (size_t done = 0; done < size;) {
		size_t n = size - done < sizeof buf ? size - done : sizeof buf;
		if (write(fd, buf, n) != (ssize_t)n)
			break;
		done += n;
	}
	close(fd);
	return 0;
}

Test(named, not_a_rally_object, .timeout = 30)
{
	char path[128];
	const char *name = uniq("junk");
	rally_barrier_t *b;
	rally_event_t *e;
	/* Wrong size. */
	snprintf(path, sizeof path, "/rally.b.%s", name);
	cr_assert_eq(write_shm(path, 100, 0x5a), 0);
	cr_expect_eq(rally_barrier_open(&b, name, 2, NULL, O_CREAT, 0600),
	             -EINVAL);
	/* Right size, garbage: never becomes ready. */
	cr_assert_eq(write_shm(path, 64 + sizeof(rally_barrier_t), 0x5a), 0);
	cr_expect_eq(rally_barrier_open(&b, name, 2, NULL, 0, 0), -EINVAL);
	cr_expect_eq(rally_barrier_unlink(name), 0);
	/* An event under a barrier's name is another object altogether. */
	cr_assert_eq(rally_event_open(&e, name, 0, O_CREAT, 0600), 0);
	cr_expect_eq(rally_barrier_open(&b, name, 2, NULL, 0, 0), -ENOENT);
	cr_expect_eq(rally_event_close(e), 0);
	cr_expect_eq(rally_event_unlink(name), 0);
}

/* A process of an earlier build (layout 1: the state word of a barrier of
 * few parties on its own line, magic "ralb") must not meet this one's on a
 * name: each would wait on its own word (review of issue 13: one returned
 * released, the other timed out). Both the header's version and the
 * object's magic tell the layouts apart. */
static void poke_shm(const char *path, size_t off, uint32_t value)
{
	int fd = shm_open(path, O_RDWR, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, &value, sizeof value, (off_t)off),
	             (ssize_t)sizeof value);
	close(fd);
}

Test(named, an_object_of_the_earlier_layout_is_refused, .timeout = 30)
{
	char path[128];
	const char *name = uniq("layout");
	snprintf(path, sizeof path, "/rally.b.%s", name);
	rally_barrier_t *b, *b2;
	cr_assert_eq(rally_barrier_open(&b, name, 2, NULL, O_CREAT, 0600), 0);
	cr_assert_eq(rally_barrier_open(&b2, name, 2, NULL, 0, 0), 0);
	cr_expect_eq(rally_barrier_close(b2), 0);
	poke_shm(path, 8, 1); /* the header's version: layout 1 */
	cr_expect_eq(rally_barrier_open(&b2, name, 2, NULL, 0, 0), -EINVAL);
	poke_shm(path, 8, 2);
	poke_shm(path, 64, 0x72616c62u); /* the object's magic: "ralb" */
	cr_expect_eq(rally_barrier_open(&b2, name, 2, NULL, 0, 0), -EINVAL);
	poke_shm(path, 64, 0x72616c32u);
	cr_expect_eq(rally_barrier_close(b), 0);
	cr_expect_eq(rally_barrier_unlink(name), 0);
}

/* The same for a barrier in memory two builds share without a name. */
Test(named, an_in_place_barrier_of_the_earlier_layout_is_refused)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	uint32_t *magic = (uint32_t *)&b;
	cr_assert_eq(*magic, 0x72616c32u);
	*magic = 0x72616c62u;
	cr_expect_eq(rally_barrier_timedwait(&b, 0), -EINVAL);
	*magic = 0x72616c32u;
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

static mode_t shm_mode(const char *kind_name)
{
	char path[128];
	snprintf(path, sizeof path, "/rally.%s", kind_name);
	int fd = shm_open(path, O_RDONLY, 0);
	struct stat st = {0};
	fstat(fd, &st);
	close(fd);
	return st.st_mode & 0777;
}

Test(named, permissions_follow_mode_and_umask, .timeout = 30)
{
	const char *name = uniq("perm");
	char kn[96];
	snprintf(kn, sizeof kn, "b.%s", name);
	rally_barrier_t *b;
	mode_t old = umask(022);
	cr_assert_eq(rally_barrier_open(&b, name, 2, NULL, O_CREAT, 0664), 0);
	cr_expect_eq(shm_mode(kn), 0644);
	rally_barrier_close(b);
	rally_barrier_unlink(name);
	umask(077);
	cr_assert_eq(rally_barrier_open(&b, name, 2, NULL, O_CREAT, 0664), 0);
	cr_expect_eq(shm_mode(kn), 0600);
	umask(old);
	/* Another user cannot open it. */
	pid_t p = fork();
	if (p == 0) {
		rally_barrier_t *b2;
		if (geteuid() == 0 &&
		    (setgid(65534) != 0 || setuid(65534) != 0))
			_exit(9);
		_exit(rally_barrier_open(&b2, name, 0, NULL, 0, 0) == -EACCES
		          ? 0
		          : 1);
	}
	int st;
	waitpid(p, &st, 0);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
	rally_barrier_close(b);
	rally_barrier_unlink(name);
}

/* 16 processes create the same name at the same instant: all succeed, with
 * one object, and cross a phase of it together. */
Test(named, creation_race, .timeout = 60)
{
	enum { N = 16 };
	const char *name = uniq("race");
	struct start {
		rally_barrier_t go;
		_Atomic unsigned seen[N];
		_Atomic unsigned errors;
	} *s = shared_mem(sizeof *s);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED};
	cr_assert_eq(rally_barrier_init(&s->go, N, &attr), 0);
	pid_t kids[N];
	for (int i = 0; i < N; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			rally_barrier_t *b;
			rally_barrier_wait(&s->go); /* all open at once */
			int rc = rally_barrier_open(&b, name, N, NULL, O_CREAT,
			                            0600);
			int idx = rc ? rc : rally_barrier_wait(b);
			if (idx < 0 || idx >= N)
				atomic_fetch_add(&s->errors, 1);
			else
				atomic_fetch_add(&s->seen[idx], 1);
			_exit(rc ? 1 : rally_barrier_close(b) ? 1 : 0);
		}
	}
	for (int i = 0; i < N; i++) {
		int st;
		waitpid(kids[i], &st, 0);
		cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	cr_expect_eq(s->errors, 0);
	for (int i = 0; i < N; i++)
		cr_expect_eq(s->seen[i], 1, "index %d", i);
	cr_expect_eq(rally_barrier_unlink(name), 0);
}

/* Each opener's action is its own: it runs in whichever process arrives
 * last. */
static _Atomic unsigned *ran_in; /* per process, in shared memory */
static unsigned my_index;

static int note_process(void *arg)
{
	(void)arg;
	atomic_fetch_add(&ran_in[my_index], 1);
	return 0;
}

Test(named, action_of_the_last_process, .timeout = 60)
{
	enum { N = 4, ROUNDS = 200 };
	const char *name = uniq("act");
	ran_in = shared_mem(sizeof(unsigned) * N * 2);
	_Atomic unsigned *last = ran_in + N;
	pid_t kids[N];
	for (unsigned i = 0; i < N; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			my_index = i;
			rally_barrier_t *b;
			rally_barrier_attr_t attr = {.action = note_process};
			if (rally_barrier_open(&b, name, N, &attr, O_CREAT,
			                       0600))
				_exit(1);
			for (int r = 0; r < ROUNDS; r++)
				if (rally_barrier_wait(b) == N - 1)
					atomic_fetch_add(&last[i], 1);
			_exit(rally_barrier_close(b) ? 1 : 0);
		}
	}
	unsigned total = 0;
	for (unsigned i = 0; i < N; i++) {
		int st;
		waitpid(kids[i], &st, 0);
		cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		cr_expect_eq(ran_in[i], last[i], "process %u", i);
		total += ran_in[i];
	}
	cr_expect_eq(total, ROUNDS);
	rally_barrier_unlink(name);
}

static pid_t spawn_helper(char *const argv[])
{
	const char *helper = getenv("RALLY_HELPER");
	cr_assert_not_null(helper, "RALLY_HELPER is not set");
	pid_t pid;
	cr_assert_eq(posix_spawn(&pid, helper, NULL, NULL, argv, environ), 0);
	return pid;
}

static int exit_status(pid_t pid)
{
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

Test(named, separate_programs_meet_on_a_name, .timeout = 60)
{
	enum { N = 4 };
	const char *name = uniq("prog");
	char nbuf[64];
	snprintf(nbuf, sizeof nbuf, "%s", name);
	char *argv[] = {"helper", "barrier", nbuf, "4", "500", NULL};
	pid_t p[N];
	for (int i = 0; i < N; i++)
		p[i] = spawn_helper(argv);
	for (int i = 0; i < N; i++)
		cr_expect_eq(exit_status(p[i]), 0, "helper %d", i);
	rally_barrier_unlink(name);
	/* Events: three programs wait, one sets. */
	char *waitv[] = {"helper", "event-wait", nbuf, "10000", NULL};
	char *setv[] = {"helper", "event-set", nbuf, NULL};
	pid_t w[3];
	for (int i = 0; i < 3; i++)
		w[i] = spawn_helper(waitv);
	test_sleep_ms(100);
	cr_expect_eq(exit_status(spawn_helper(setv)), 0);
	for (int i = 0; i < 3; i++)
		cr_expect_eq(exit_status(w[i]), 0, "event waiter %d", i);
	rally_event_unlink(name);
}

Test(named, event_across_processes, .timeout = 30)
{
	const char *name = uniq("ev");
	rally_event_t *e;
	cr_assert_eq(rally_event_open(&e, name, 0, O_CREAT, 0600), 0);
	pid_t p = fork();
	if (p == 0) {
		rally_event_t *e2;
		if (rally_event_open(&e2, name, 0, 0, 0))
			_exit(1);
		_exit(rally_event_wait(e2, 5000000000) == 0 ? 0 : 2);
	}
	test_sleep_ms(50);
	cr_expect_eq(rally_event_set(e), 0);
	cr_expect_eq(exit_status(p), 0);
	cr_expect(rally_event_is_set(e));
	cr_expect_eq(rally_event_destroy(e), -EINVAL); /* a handle */
	cr_expect_eq(rally_event_close(e), 0);
	cr_expect_eq(rally_event_unlink(name), 0);
}
