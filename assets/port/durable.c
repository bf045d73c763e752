/*
 * pglite-oxide: fsync() and fdatasync() that reach the host's disk.
 *
 * Under wasmer-wasix, fd_sync and fd_datasync only flush the host file's
 * buffers and never ask the host to sync, and on a directory they fail with
 * EISDIR, which PostgreSQL turns into a PANIC at its first checkpoint. So
 * every descriptor opened here remembers its absolute path, and a sync first
 * flushes through WASI (files only) and then asks the host, by path, to sync
 * the file or directory for real (pglite/host.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pglite/host.h"

/* The real calls (the headers turn these names into ours). */
#undef open
#undef close
#undef fsync
#undef fdatasync

static char **paths;			/* indexed by descriptor */
static int	npaths;

static void
forget(int fd)
{
	if (fd >= 0 && fd < npaths && paths[fd])
	{
		free(paths[fd]);
		paths[fd] = NULL;
	}
}

static void
remember(int fd, const char *path)
{
	char		cwd[1024];
	char	   *full;
	size_t		len;

	if (fd < 0)
		return;
	if (fd >= npaths)
	{
		int			n = fd < 64 ? 64 : fd * 2;
		char	  **grown = realloc(paths, (size_t) n * sizeof(char *));

		if (grown == NULL)
			return;				/* sync falls back to the flush only */
		memset(grown + npaths, 0, (size_t) (n - npaths) * sizeof(char *));
		paths = grown;
		npaths = n;
	}
	forget(fd);
	if (path[0] == '/')
	{
		paths[fd] = strdup(path);
		return;
	}
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return;
	len = strlen(cwd) + 1 + strlen(path) + 1;
	full = malloc(len);
	if (full == NULL)
		return;
	strcpy(full, cwd);
	strcat(full, "/");
	strcat(full, path);
	paths[fd] = full;
}

int
pglite_open(const char *path, int flags,...)
{
	int			fd;
	mode_t		mode = 0;

	if (flags & O_CREAT)
	{
		va_list		ap;

		va_start(ap, flags);
		mode = (mode_t) va_arg(ap, int);
		va_end(ap);
	}
	fd = open(path, flags, mode);
	if (fd >= 0)
		remember(fd, path);
	return fd;
}

int
pglite_close(int fd)
{
	forget(fd);
	return close(fd);
}

static int
host_sync(int fd, int datasync)
{
	const char *path;
	int			rc;

	/* Descriptors not opened here (stdio) have nothing on disk to sync. */
	if (fd < 0 || fd >= npaths || (path = paths[fd]) == NULL)
		return 0;
	rc = pglite_host_sync(path, (int) strlen(path), datasync);
	if (rc != 0)
	{
		errno = rc;
		return -1;
	}
	return 0;
}

int
pglite_fsync(int fd)
{
	/* WASI refuses to flush a directory; the host sync below covers it. */
	if (fsync(fd) != 0 && errno != EISDIR)
		return -1;
	return host_sync(fd, 0);
}

int
pglite_fdatasync(int fd)
{
	if (fdatasync(fd) != 0 && errno != EISDIR)
		return -1;
	return host_sync(fd, 1);
}
