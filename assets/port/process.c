/*
 * pglite-oxide: process, user and permission calls inside one WASI process.
 *
 * There is one process and one user. WASI reports every file as owned by
 * uid 0, so this process is uid 0 as well: PostgreSQL's data-directory
 * ownership checks then compare like with like. Nothing here can start
 * another process; every such call fails with ENOSYS, so a feature that
 * needs one (archive_command, COPY ... PROGRAM) reports an error instead of
 * doing nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static mode_t current_umask = 022;

uid_t
getuid(void)
{
	return 0;
}

uid_t
geteuid(void)
{
	return 0;
}

gid_t
getgid(void)
{
	return 0;
}

gid_t
getegid(void)
{
	return 0;
}

pid_t
getppid(void)
{
	return 1;
}

mode_t
umask(mode_t mask)
{
	mode_t		old = current_umask;

	current_umask = mask & 0777;
	return old;
}

/* WASI files have no permission bits: there is nothing to change. */
int
pglite_chmod(const char *path, mode_t mode)
{
	struct stat st;

	(void) mode;
	return stat(path, &st);
}

int
pglite_fchmod(int fd, mode_t mode)
{
	struct stat st;

	(void) mode;
	return fstat(fd, &st);
}

int
chown(const char *path, uid_t owner, gid_t group)
{
	(void) path;
	(void) owner;
	(void) group;
	errno = EPERM;
	return -1;
}

int
fchown(int fd, uid_t owner, gid_t group)
{
	(void) fd;
	(void) owner;
	(void) group;
	errno = EPERM;
	return -1;
}

pid_t
fork(void)
{
	errno = ENOSYS;
	return -1;
}

pid_t
setsid(void)
{
	errno = ENOSYS;
	return -1;
}

int
pipe(int fds[2])
{
	(void) fds;
	errno = ENOSYS;
	return -1;
}

int
dup(int fd)
{
	(void) fd;
	errno = ENOSYS;
	return -1;
}

int
dup2(int fd, int fd2)
{
	(void) fd;
	(void) fd2;
	errno = ENOSYS;
	return -1;
}

int
execv(const char *path, char *const argv[])
{
	(void) path;
	(void) argv;
	errno = ENOSYS;
	return -1;
}

pid_t
waitpid(pid_t pid, int *status, int options)
{
	(void) pid;
	(void) status;
	(void) options;
	errno = ECHILD;
	return -1;
}

pid_t
wait(int *status)
{
	(void) status;
	errno = ECHILD;
	return -1;
}

FILE *
popen(const char *command, const char *mode)
{
	(void) command;
	(void) mode;
	errno = ENOSYS;
	return NULL;
}

int
pclose(FILE *stream)
{
	(void) stream;
	errno = ECHILD;
	return -1;
}

int
system(const char *command)
{
	/* system(NULL) asks whether a shell exists: there is none. */
	if (command == NULL)
		return 0;
	errno = ENOSYS;
	return -1;
}
