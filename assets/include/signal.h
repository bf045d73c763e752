/* pglite-oxide: signals for a single-process WASI backend (see port/signal.c). */
#ifndef PGLITE_SIGNAL_H
#define PGLITE_SIGNAL_H
#include <sys/types.h>
/* Defines wasi-libc's one-byte sigset_t once, before anything else can. */
#include <__typedef_sigset_t.h>
#include_next <signal.h>

/* wasi-libc's sigset_t has 8 bits; PostgreSQL uses signals up to 31. */
typedef unsigned long long pglite_sigset_t;
#define sigset_t pglite_sigset_t

#define SA_RESTART 0x10000000
#define SA_NODEFER 0x40000000
#define SA_SIGINFO 4

#ifndef SIG_BLOCK
#define SIG_BLOCK 0
#define SIG_UNBLOCK 1
#define SIG_SETMASK 2
#endif

struct sigaction
{
	void		(*sa_handler) (int);
	sigset_t	sa_mask;
	int			sa_flags;
};

int			sigemptyset(sigset_t *set);
int			sigfillset(sigset_t *set);
int			sigaddset(sigset_t *set, int signo);
int			sigdelset(sigset_t *set, int signo);
int			sigismember(const sigset_t *set, int signo);
int			sigprocmask(int how, const sigset_t *set, sigset_t *oldset);
int			sigaction(int signo, const struct sigaction *act, struct sigaction *oldact);
int			kill(pid_t pid, int signo);
#endif
