/* pglite-oxide: file-mode creation mask (see port/process.c). */
#ifndef PGLITE_SYS_STAT_H
#define PGLITE_SYS_STAT_H
#include_next <sys/stat.h>

mode_t		umask(mode_t mask);

/* wasi-libc's own chmod() fails with ENOTSUP; ours succeeds on files that
 * exist, since WASI files carry no permission bits to change. */
#define chmod pglite_chmod
#define fchmod pglite_fchmod
int			pglite_chmod(const char *path, mode_t mode);
int			pglite_fchmod(int fd, mode_t mode);
#endif
