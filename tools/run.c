/* run.c — `rally run [--spin auto|never|N] [--] PROGRAM ARGS...`: runs a
 * program with librally-pthread.so preloaded, so that its pthread barriers
 * are rally's (lib/pthread/shim.c).
 *
 * The library is looked for where rally installs it next to this program
 * (PREFIX/LIBDIR, found from the program's own path, then the configured
 * one), or in the build tree (tools/ -> lib/pthread/); $RALLY_PTHREAD_LIB
 * names another. A program that no preload can reach — statically linked
 * (no ELF interpreter), or of another word size — is said to be one, and
 * is run all the same. The shim goes after what LD_PRELOAD already holds:
 * a program built with AddressSanitizer needs its runtime first —
 * LD_PRELOAD=$(gcc -print-file-name=libasan.so) rally run ./program. */
#define _GNU_SOURCE
#include "run.h"

#include <elf.h>
#include <link.h> /* ElfW */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef RALLY_PREFIX
#define RALLY_PREFIX "/usr/local"
#endif
#ifndef RALLY_BINDIR
#define RALLY_BINDIR "bin"
#endif
#ifndef RALLY_LIBDIR
#define RALLY_LIBDIR "lib"
#endif

#define SHIM "librally-pthread.so"

enum { EXIT_USAGE = 1, EXIT_CANNOT_RUN = 126, EXIT_NOT_FOUND = 127 };

static bool usable(const char *path)
{
	return access(path, R_OK) == 0;
}

/* The directory this program runs from (no trailing slash), or false. */
static bool own_dir(char *dir, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", dir, size - 1);
	if (n <= 0)
		return false;
	dir[n] = '\0';
	char *slash = strrchr(dir, '/');
	if (!slash)
		return false;
	*slash = '\0';
	return true;
}

/* The shim's absolute path into out, or false. */
static bool find_shim(char *out, size_t size)
{
	const char *env = getenv("RALLY_PTHREAD_LIB");
	if (env && *env)
		return realpath(env, out) != NULL;
	char dir[PATH_MAX], path[2 * PATH_MAX];
	if (own_dir(dir, sizeof dir)) {
		/* Installed: DIR is ROOT/BINDIR, the shim in ROOT/LIBDIR
		 * (ROOT is PREFIX, or a DESTDIR's copy of it). */
		size_t d = strlen(dir), b = strlen(RALLY_BINDIR);
		if (d > b && dir[d - b - 1] == '/' &&
		    strcmp(dir + d - b, RALLY_BINDIR) == 0) {
			snprintf(path, sizeof path, "%.*s/%s/%s",
			         (int)(d - b - 1), dir, RALLY_LIBDIR, SHIM);
			if (usable(path) && realpath(path, out))
				return true;
		}
		/* The build tree: BUILD/tools/rally, BUILD/lib/pthread/. */
		snprintf(path, sizeof path, "%s/../lib/pthread/%s", dir, SHIM);
		if (usable(path) && realpath(path, out))
			return true;
	}
	snprintf(path, sizeof path, "%s/%s/%s", RALLY_PREFIX, RALLY_LIBDIR,
	         SHIM);
	if (size > strlen(path) && usable(path)) {
		strcpy(out, path);
		return true;
	}
	return false;
}

/* An executable file (a directory is executable too, and execvp() goes
 * on past one: review of the shim, 6). */
static bool runnable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       access(path, X_OK) == 0;
}

/* PROGRAM as execvp() would find it, into out; false if not found. As
 * glibc's execvp(): PATH unset is "/bin:/usr/bin"; an empty entry (PATH
 * empty, or a colon at either end or doubled) is the current directory
 * (review 3 of the shim). */
static bool find_program(const char *prog, char *out, size_t size)
{
	if (strchr(prog, '/')) {
		snprintf(out, size, "%s", prog);
		return access(out, F_OK) == 0;
	}
	const char *path = getenv("PATH");
	if (!path)
		path = "/bin:/usr/bin";
	for (const char *p = path;;) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);
		if (n)
			snprintf(out, size, "%.*s/%s", (int)n, p, prog);
		else
			snprintf(out, size, "./%s", prog);
		if (runnable(out))
			return true;
		if (!colon)
			return false;
		p = colon + 1;
	}
}

enum reach { REACH_YES, REACH_STATIC, REACH_OTHER_CLASS, REACH_UNKNOWN };

/* Whether a preload reaches the ELF program at path: it must have an
 * interpreter (the dynamic linker, which does the preloading) and be of
 * this program's word size. Not ELF (a script): its interpreter decides,
 * REACH_UNKNOWN. */
static enum reach preload_reaches(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return REACH_UNKNOWN;
	unsigned char ident[EI_NIDENT];
	enum reach r = REACH_UNKNOWN;
	if (pread(fd, ident, sizeof ident, 0) != (ssize_t)sizeof ident ||
	    memcmp(ident, ELFMAG, SELFMAG) != 0)
		goto out;
	if (ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64
	                                            : ELFCLASS32)) {
		r = REACH_OTHER_CLASS;
		goto out;
	}
	ElfW(Ehdr) eh;
	if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh ||
	    eh.e_phentsize != sizeof(ElfW(Phdr)))
		goto out;
	r = REACH_STATIC;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		ElfW(Phdr) ph;
		off_t at = (off_t)eh.e_phoff + (off_t)i * eh.e_phentsize;
		if (pread(fd, &ph, sizeof ph, at) != (ssize_t)sizeof ph) {
			r = REACH_UNKNOWN;
			break;
		}
		if (ph.p_type == PT_INTERP) {
			r = REACH_YES;
			break;
		}
	}
out:
	close(fd);
	return r;
}

/* "auto", "never" or a number of polls 0 ..= 2^30 (rally.h, RALLY_SPIN). */
static bool valid_spin(const char *s)
{
	if (!strcmp(s, "auto") || !strcmp(s, "never"))
		return true;
	char *end;
	errno = 0;
	long n = strtol(s, &end, 10);
	return *s && *end == '\0' && errno == 0 && n >= 0 && n <= (1L << 30);
}

/* Whether the list (entries apart by spaces or colons, as ld.so reads
 * it) holds path itself (not as part of a longer entry: review 2 of the
 * shim). */
static bool listed(const char *list, const char *path)
{
	size_t n = strlen(path);
	for (const char *p = list; *p;) {
		size_t k = strcspn(p, " :");
		if (k == n && strncmp(p, path, n) == 0)
			return true;
		p += k + (p[k] != '\0');
	}
	return false;
}

/* LD_PRELOAD with the shim added (once) after what it held: a sanitizer's
 * runtime given there must stay first (review of the shim, 5). */
static int set_preload(const char *shim)
{
	const char *old = getenv("LD_PRELOAD");
	if (!old || !*old)
		return setenv("LD_PRELOAD", shim, 1);
	if (listed(old, shim))
		return 0;
	size_t n = strlen(shim) + strlen(old) + 2;
	char *v = malloc(n);
	if (!v)
		return -1;
	snprintf(v, n, "%s:%s", old, shim);
	int rc = setenv("LD_PRELOAD", v, 1);
	free(v);
	return rc;
}

int rally_cmd_run(int argc, char **argv, int (*help)(int status))
{
	const char *spin = NULL;
	int i = 0;
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return help(0);
		if (!strcmp(argv[i], "--spin")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "rally run: --spin needs a "
				        "value: auto, never or a number\n");
				return EXIT_USAGE;
			}
			spin = argv[++i];
			if (!valid_spin(spin)) {
				fprintf(stderr, "rally run: --spin '%s': not "
				        "auto, never or a number 0 ..= %ld\n",
				        spin, 1L << 30);
				return EXIT_USAGE;
			}
			continue;
		}
		if (argv[i][0] == '-') {
			fprintf(stderr, "rally run: unknown option '%s' "
			        "(rally help run)\n", argv[i]);
			return EXIT_USAGE;
		}
		break; /* the program */
	}
	if (i >= argc) {
		fprintf(stderr, "rally run: no program given (rally run "
		        "[--spin auto|never|N] -- PROGRAM ARGS...)\n");
		return EXIT_USAGE;
	}
	if (spin && setenv("RALLY_SPIN", spin, 1) != 0) {
		fprintf(stderr, "rally run: %s\n", strerror(errno));
		return EXIT_USAGE;
	}
	return rally_preload_and_exec(argv + i, "rally run", true);
}

int rally_preload_and_exec(char **argv, const char *who, bool need_shim)
{
	char shim[PATH_MAX], prog[PATH_MAX];
	if (!find_shim(shim, sizeof shim)) {
		fprintf(stderr, "%s: %s not found (installed with rally; set "
		        "RALLY_PTHREAD_LIB to its path)%s\n", who, SHIM,
		        need_shim ? "" : ": pthread barriers not seen");
		if (need_shim)
			return EXIT_USAGE;
		shim[0] = '\0';
	}
	/* ld.so splits LD_PRELOAD at spaces and colons (review of the
	 * shim, 7: the preload silently did not happen). */
	if (strpbrk(shim, " :\t\n")) {
		fprintf(stderr, "%s: the library's path has a space or a "
		        "colon, which LD_PRELOAD cannot carry: %s\n", who, shim);
		return EXIT_USAGE;
	}
	/* Found as execvp() will (below) find it, to look at it first; if
	 * this search misses, execvp() answers for itself (review 2 of the
	 * shim: an empty PATH, a file that is not executable). */
	if (!find_program(argv[0], prog, sizeof prog))
		prog[0] = '\0';
	switch (prog[0] && shim[0] ? preload_reaches(prog) : REACH_UNKNOWN) {
	case REACH_STATIC:
		fprintf(stderr, "%s: %s is statically linked: no preloaded "
		        "library reaches it, and its pthread barriers stay the "
		        "C library's (run unchanged)\n", who, prog);
		break;
	case REACH_OTHER_CLASS:
		fprintf(stderr, "%s: %s is a program of another word size "
		        "than %s: the preload does not apply (run "
		        "unchanged)\n", who, prog, shim);
		break;
	case REACH_YES:
	case REACH_UNKNOWN:
		break;
	}
	if (shim[0] && set_preload(shim) != 0) {
		fprintf(stderr, "%s: %s\n", who, strerror(errno));
		return EXIT_USAGE;
	}
	/* execvp(): its PATH search, and a file with no #! run by /bin/sh
	 * (review 2 of the shim: execv() answered ENOEXEC), as env(1). */
	execvp(argv[0], argv);
	int e = errno;
	fprintf(stderr, "%s: cannot run %s: %s\n", who, argv[0],
	        strerror(e));
	return e == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN;
}
