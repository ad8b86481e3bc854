/* strerror.c — a static English text for every code rally returns. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "export.h"
#include "rally.h"

RALLY_EXPORT const char *rally_strerror(int code)
{
	if (code >= 0)
		return "success";
	switch (code) {
	case RALLY_BROKEN:
		return "the barrier is broken (a timeout, abort, reset or "
		       "failed action)";
	case RALLY_TIMEDOUT:
		return "the timeout expired";
	case RALLY_OWNERDEAD:
		return "a participant process died";
	case -EINVAL:
		return "invalid argument, or not an initialised rally object";
	case -EBUSY:
		return "the object is in use: callers are inside it (waiting, "
		       "leaving, or running its action)";
	case -EAGAIN:
		return "not decided yet: every party has arrived and the "
		       "phase's action is still running (ask again)";
	case -EDEADLK:
		return "called from the barrier's own action: it would "
		       "deadlock";
	case -EPERM:
		return "this process takes no part in the robust barrier "
		       "(attach it, or open the name, first)";
	case -ENOTSUP:
		return "not supported";
	case -ENOENT:
		return "no such named object";
	case -EEXIST:
		return "a named object of that name exists already";
	case -EACCES:
		return "permission denied";
	case -ENOMEM:
		return "out of memory";
	case -ENAMETOOLONG:
		return "name too long";
	case -ENOSPC:
		return "no room: a robust barrier takes 32 participant "
		       "processes, a process attaches 64 barriers in place";
	case -EMFILE:
	case -ENFILE:
		return "too many open files";
	default: {
		/* Named objects pass on what shm_open, ftruncate and mmap
		 * report (ELOOP, EPERM, EROFS ...): the C library names them,
		 * in English and thread-safely. */
		const char *text = strerrordesc_np(-code);
		return text ? text : "unknown error code";
	}
	}
}
