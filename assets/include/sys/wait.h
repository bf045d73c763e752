/* pglite-oxide: there are no child processes in the WASI backend; these are
 * the names PostgreSQL compiles against. waitpid() always fails with ECHILD. */
#ifndef PGLITE_SYS_WAIT_H
#define PGLITE_SYS_WAIT_H
#include <sys/types.h>

#define WNOHANG 1
#define WEXITSTATUS(s) (((s) & 0xff00) >> 8)
#define WTERMSIG(s) ((s) & 0x7f)
#define WIFEXITED(s) (WTERMSIG(s) == 0)
#define WIFSIGNALED(s) (((signed char) (((s) & 0x7f) + 1) >> 1) > 0)
#define WIFSTOPPED(s) 0

pid_t		waitpid(pid_t pid, int *status, int options);
pid_t		wait(int *status);
#endif
