/* pglite-oxide: process and user identity for a single-process WASI backend
 * (see port/process.c). */
#ifndef PGLITE_UNISTD_H
#define PGLITE_UNISTD_H
#include_next <unistd.h>

uid_t		getuid(void);
uid_t		geteuid(void);
gid_t		getgid(void);
gid_t		getegid(void);
pid_t		getppid(void);
pid_t		fork(void);
pid_t		setsid(void);
int			chown(const char *path, uid_t owner, gid_t group);
int			fchown(int fd, uid_t owner, gid_t group);
int			pipe(int fds[2]);
int			dup(int fd);
int			dup2(int fd, int fd2);
unsigned int alarm(unsigned int seconds);
int			execv(const char *path, char *const argv[]);

/* Wasmer reports stdio as a terminal even when it is not (see
 * port/terminal.c). */
#define isatty pglite_isatty
int			pglite_isatty(int fd);
#endif
