/* named.c — barriers and events in POSIX shared memory, met by name.
 *
 * A named object is the shm object "/rally.b.NAME" (barriers) or
 * "/rally.e.NAME" (events): a 64-byte header, then the object. Exactly one
 * opener creates it — the one whose shm_open(O_CREAT | O_EXCL) succeeds —
 * and moves the header's `state` from NEW to READY once the object is
 * initialised; others wait (a second at most, sleeping) for READY, then
 * check kind, version and size and every field a call will trust (parties,
 * flags, spin, timeout), so that something that is not a sound rally object
 * of that kind is -EINVAL, never a crash. Each opener gets a handle of its
 * own (a proxy) holding the mapping, a private copy of the checked
 * configuration, and for a barrier its own action.
 *
 * O_CREAT without O_EXCL creates or opens, whatever else happens
 * meanwhile: if the name exists when we create but is gone when we open
 * (unlinked in between), we try again.
 *
 * Not guarded against: a process that truncates the file under live
 * mappings (every access then raises SIGBUS, as for any shared mapping),
 * or writes garbage into the words a live barrier uses (calls then return
 * wrong results or wait, but never index or divide by what they read). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "barrier_impl.h"
#include "clock.h"
#include "event_impl.h"
#include "export.h"
#include "points.h"
#include "rally.h"

/* 2: a barrier of at most 4 parties keeps its state word on arr's line
 * (barrier_impl.h): an opener of layout 1 would wait on another word. */
#define SHM_VERSION   2
#define KIND_BARRIER  0x42524c52u /* "RLRB" */
#define KIND_EVENT    0x45524c52u /* "RLRE" */
#define NAME_MAX_LEN  200
#define READY_WAIT_NS 1000000000

enum { STATE_NEW = 0, STATE_READY = 2 };

struct shm_header {
	_Atomic uint32_t state;
	uint32_t kind;
	uint32_t version;
	uint32_t size; /* of the whole object */
	uint64_t pad_[6];
};

_Static_assert(sizeof(struct shm_header) == 64, "header is one line");

/* "/rally.<k>.NAME" from NAME (a leading '/' is allowed and dropped). */
static int shm_path(char kind, const char *name, char *out, size_t len)
{
	if (!name)
		return -EINVAL;
	if (name[0] == '/')
		name++;
	size_t n = strlen(name);
	if (n == 0 || strchr(name, '/'))
		return -EINVAL;
	if (n > NAME_MAX_LEN)
		return -ENAMETOOLONG;
	snprintf(out, len, "/rally.%c.%s", kind, name);
	return 0;
}

static int check_oflag(int oflag)
{
	return (oflag & ~(O_CREAT | O_EXCL)) ||
	               ((oflag & O_EXCL) && !(oflag & O_CREAT))
	           ? -EINVAL
	           : 0;
}

struct mapping {
	struct shm_header *h;
	size_t len;
	bool created;
};

/* Creates the object (fd, m->created) or opens the existing one. */
static int open_object(const char *path, uint32_t size, int oflag, mode_t mode,
                       struct mapping *m)
{
	for (;;) {
		if (oflag & O_CREAT) {
			int fd = shm_open(
			    path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
			if (fd >= 0) {
				m->created = true;
				if (ftruncate(fd, size) == 0)
					return fd;
				int err = errno;
				close(fd);
				shm_unlink(path);
				return -err;
			}
			if (errno != EEXIST || (oflag & O_EXCL))
				return -errno;
			RALLY_POINT(OPEN_EXISTING);
		}
		int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
		if (fd >= 0 || errno != ENOENT || !(oflag & O_CREAT))
			return fd >= 0 ? fd : -errno;
		/* Unlinked between our two calls: create it again. */
	}
}

/* Creates and maps the object, or opens and maps the existing one. */
static int map_object(const char *path, uint32_t size, int oflag, mode_t mode,
                      struct mapping *m)
{
	m->created = false;
	int fd = open_object(path, size, oflag, mode, m);
	if (fd < 0)
		return fd;
	/* Another creator may not have sized it yet: give it a moment (a
	 * file that stays empty is not a rally object). */
	struct stat st;
	int64_t give_up = rally__now_ns() + READY_WAIT_NS;
	while (fstat(fd, &st) == 0 && st.st_size < (off_t)size &&
	       rally__now_ns() < give_up)
		nanosleep(&(struct timespec){.tv_nsec = 100000}, NULL);
	if (st.st_size != (off_t)size) {
		close(fd);
		return -EINVAL; /* not a rally object of this kind */
	}
	m->len = size;
	m->h = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	int err = errno;
	close(fd);
	return m->h == MAP_FAILED ? -err : 0;
}

/* Waits for the creator to finish; checks what the object is. */
static int check_ready(struct mapping *m, uint32_t kind)
{
	int64_t give_up = rally__now_ns() + READY_WAIT_NS;
	while (atomic_load_explicit(&m->h->state, memory_order_acquire) !=
	       STATE_READY) {
		if (rally__now_ns() > give_up)
			return -EINVAL;
		nanosleep(&(struct timespec){.tv_nsec = 100000}, NULL);
	}
	if (m->h->kind != kind || m->h->version != SHM_VERSION ||
	    m->h->size != m->len)
		return -EINVAL;
	return 0;
}

static void publish_ready(struct mapping *m, uint32_t kind)
{
	m->h->kind = kind;
	m->h->version = SHM_VERSION;
	m->h->size = (uint32_t)m->len;
	atomic_store_explicit(&m->h->state, STATE_READY, memory_order_release);
}

static void unmap(struct mapping *m, const char *path)
{
	munmap(m->h, m->len);
	if (m->created)
		shm_unlink(path);
}

/* ---- barriers --------------------------------------------------------------
 */

/* An existing barrier that calls may trust: -EINVAL if it is not one. */
static int check_barrier(const struct rally__barrier *b, unsigned parties)
{
	if (atomic_load(&b->magic) != RALLY__BARRIER_MAGIC || b->parties == 0 ||
	    b->parties > RALLY_PARTIES_MAX || b->timeout_ns < 0 ||
	    b->spin < RALLY_SPIN_NEVER || !(b->flags & RALLY_SHARED) ||
	    (b->flags & ~(RALLY_SHARED | RALLY_ROBUST | RALLY_STATS)) ||
	    (b->flags & RALLY_ROBUST && b->flags & RALLY_STATS) || b->action ||
	    b->tag == 0)
		return -EINVAL;
	return parties != 0 && parties != b->parties ? -EINVAL : 0;
}

RALLY_EXPORT int rally_barrier_open(rally_barrier_t **out, const char *name,
                                    unsigned parties,
                                    const rally_barrier_attr_t *attr, int oflag,
                                    mode_t mode)
{
	char path[NAME_MAX_LEN + 16];
	int rc = shm_path('b', name, path, sizeof path);
	if (rc || !out || check_oflag(oflag))
		return rc ? rc : -EINVAL;
	rally_barrier_attr_t a = attr ? *attr : (rally_barrier_attr_t){0};
	bool watch = a.flags & RALLY_WATCH; /* this handle's, not the object's */
	a.flags = (a.flags & ~RALLY_WATCH) | RALLY_SHARED; /* named: shared */
	if (((oflag & O_CREAT) && parties == 0) ||
	    parties > RALLY_PARTIES_MAX || rally__check_attr(&a))
		return -EINVAL;
	struct rally__barrier_proxy *px = calloc(1, sizeof(rally_barrier_t));
	if (!px)
		return -ENOMEM;
	struct mapping m;
	uint32_t size = sizeof(struct shm_header) + sizeof(rally_barrier_t);
	rc = map_object(path, size, oflag, mode, &m);
	if (rc) {
		free(px);
		return rc;
	}
	struct rally__barrier *b = (struct rally__barrier *)(m.h + 1);
	if (m.created) {
		/* The shared object holds no action: each opener's own runs. */
		rally_barrier_attr_t shared = a;
		shared.action = NULL;
		shared.action_arg = NULL;
		rc = rally__barrier_init(b, parties, &shared);
		if (rc == 0)
			publish_ready(&m, KIND_BARRIER);
	} else {
		rc = check_ready(&m, KIND_BARRIER);
		if (rc == 0)
			rc = check_barrier(b, parties);
	}
	px->slot = -1;
	px->pid = rally__self_pid();
	if (rc == 0) {
		/* The configuration as checked: calls never read the
		 * shared copy again. */
		px->parties = b->parties;
		px->flags = b->flags;
		px->spin = b->spin;
		px->timeout_ns = b->timeout_ns;
		px->tag = b->tag;
	}
	if (rc == 0 && (px->flags & RALLY_ROBUST) && !watch) {
		px->slot = rally__robust_register(&b->robust);
		rc = px->slot < 0 ? px->slot : 0;
	}
	if (rc) {
		unmap(&m, path);
		free(px);
		return rc;
	}
	px->shared = b;
	px->map = m.h;
	px->map_len = m.len;
	px->action = a.action;
	px->action_arg = a.action_arg;
	atomic_store_explicit(&px->magic, RALLY__PROXY_MAGIC,
	                      memory_order_release);
	*out = (rally_barrier_t *)px;
	return 0;
}

RALLY_EXPORT int rally_barrier_close(rally_barrier_t *pub)
{
	struct rally__barrier_proxy *px = (struct rally__barrier_proxy *)pub;
	uint32_t magic = RALLY__PROXY_MAGIC;
	if (!px || atomic_load(&px->magic) != magic)
		return -EINVAL;
	/* From an action that runs through this handle: its caller is
	 * inside, and returns into the mapping (review round 39: unmapped,
	 * it crashed). */
	if (rally__in_action_at(px->shared))
		return -EBUSY;
	if (!atomic_compare_exchange_strong(&px->magic, &magic, 0))
		return -EINVAL;
	/* A fork()ed child's copy of the handle must not end the parent's
	 * participation. */
	if (px->slot >= 0 && px->pid == rally__self_pid() &&
	    rally__robust_unregister(&px->shared->robust, px->slot) != 0) {
		atomic_store(&px->magic, RALLY__PROXY_MAGIC);
		return -EBUSY; /* this process's callers are inside */
	}
	munmap(px->map, px->map_len);
	free(px);
	return 0;
}

RALLY_EXPORT int rally_barrier_unlink(const char *name)
{
	char path[NAME_MAX_LEN + 16];
	int rc = shm_path('b', name, path, sizeof path);
	if (rc)
		return rc;
	return shm_unlink(path) == 0 ? 0 : -errno;
}

/* ---- events ----------------------------------------------------------------
 */

RALLY_EXPORT int rally_event_open(rally_event_t **out, const char *name,
                                  unsigned flags, int oflag, mode_t mode)
{
	char path[NAME_MAX_LEN + 16];
	int rc = shm_path('e', name, path, sizeof path);
	if (rc || !out || check_oflag(oflag) || (flags & ~RALLY_SHARED))
		return rc ? rc : -EINVAL;
	struct rally__event_proxy *px = calloc(1, sizeof(rally_event_t));
	if (!px)
		return -ENOMEM;
	struct mapping m;
	uint32_t size = sizeof(struct shm_header) + sizeof(rally_event_t);
	rc = map_object(path, size, oflag, mode, &m);
	if (rc) {
		free(px);
		return rc;
	}
	rally_event_t *e = (rally_event_t *)(m.h + 1);
	if (m.created) {
		rc = rally_event_init(e, RALLY_SHARED);
		if (rc == 0)
			publish_ready(&m, KIND_EVENT);
	} else {
		rc = check_ready(&m, KIND_EVENT);
		const struct rally__event *ev = (const struct rally__event *)e;
		if (rc == 0 && (atomic_load(&ev->magic) != RALLY__EVENT_MAGIC ||
		                ev->flags != RALLY_SHARED))
			rc = -EINVAL;
	}
	if (rc) {
		unmap(&m, path);
		free(px);
		return rc;
	}
	px->flags = RALLY_SHARED;
	px->shared = (struct rally__event *)e;
	px->map = m.h;
	px->map_len = m.len;
	atomic_store_explicit(&px->magic, RALLY__EVENT_PROXY_MAGIC,
	                      memory_order_release);
	*out = (rally_event_t *)px;
	return 0;
}

RALLY_EXPORT int rally_event_close(rally_event_t *pub)
{
	struct rally__event_proxy *px = (struct rally__event_proxy *)pub;
	uint32_t magic = RALLY__EVENT_PROXY_MAGIC;
	if (!px || !atomic_compare_exchange_strong(&px->magic, &magic, 0))
		return -EINVAL;
	munmap(px->map, px->map_len);
	free(px);
	return 0;
}

RALLY_EXPORT int rally_event_unlink(const char *name)
{
	char path[NAME_MAX_LEN + 16];
	int rc = shm_path('e', name, path, sizeof path);
	if (rc)
		return rc;
	return shm_unlink(path) == 0 ? 0 : -errno;
}
