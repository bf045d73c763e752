/*
 * pglite-oxide: POSIX signals inside one WASI process.
 *
 * PostgreSQL installs handlers with sigaction(), blocks them with
 * sigprocmask() and raises them at itself with kill(MyProcPid, ...). With one
 * process and no asynchronous delivery, a raised signal runs its handler at
 * once unless it is blocked; a blocked one stays pending and runs when it is
 * unblocked. That is the same contract PostgreSQL's handlers are written for
 * (they only set flags and set the latch). A signal aimed at any other
 * process fails with ESRCH: there is none.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "pglite_port.h"

#define PGLITE_NSIG 65

static struct sigaction handlers[PGLITE_NSIG];
static unsigned long long blocked;
static unsigned long long pending;

static unsigned long long
bit(int signo)
{
	return 1ULL << signo;
}

static int
valid(int signo)
{
	return signo > 0 && signo < PGLITE_NSIG;
}

int
sigemptyset(sigset_t *set)
{
	*set = 0;
	return 0;
}

int
sigfillset(sigset_t *set)
{
	*set = ~(sigset_t) 0;
	return 0;
}

int
sigaddset(sigset_t *set, int signo)
{
	if (!valid(signo))
	{
		errno = EINVAL;
		return -1;
	}
	*set |= (sigset_t) bit(signo);
	return 0;
}

int
sigdelset(sigset_t *set, int signo)
{
	if (!valid(signo))
	{
		errno = EINVAL;
		return -1;
	}
	*set &= ~(sigset_t) bit(signo);
	return 0;
}

int
sigismember(const sigset_t *set, int signo)
{
	if (!valid(signo))
	{
		errno = EINVAL;
		return -1;
	}
	return (*set & (sigset_t) bit(signo)) != 0;
}

static void
run_handler(int signo)
{
	void		(*handler) (int) = handlers[signo].sa_handler;
	unsigned long long saved = blocked;

	pending &= ~bit(signo);
	if (handler == SIG_IGN || handler == SIG_DFL || handler == NULL)
		return;
	/* As the kernel does: block the handler's mask and the signal itself. */
	blocked |= (unsigned long long) handlers[signo].sa_mask | bit(signo);
	handler(signo);
	blocked = saved;
	/* Signals the handler raised while they were blocked run now. */
	pglite_deliver_pending_signals();
}

void
pglite_deliver_pending_signals(void)
{
	for (int signo = 1; signo < PGLITE_NSIG; signo++)
		if ((pending & bit(signo)) && !(blocked & bit(signo)))
			run_handler(signo);
}

int
sigprocmask(int how, const sigset_t *set, sigset_t *oldset)
{
	if (oldset)
		*oldset = (sigset_t) blocked;
	if (set)
	{
		switch (how)
		{
			case SIG_BLOCK:
				blocked |= (unsigned long long) *set;
				break;
			case SIG_UNBLOCK:
				blocked &= ~(unsigned long long) *set;
				break;
			case SIG_SETMASK:
				blocked = (unsigned long long) *set;
				break;
			default:
				errno = EINVAL;
				return -1;
		}
		pglite_deliver_pending_signals();
	}
	return 0;
}

int
sigaction(int signo, const struct sigaction *act, struct sigaction *oldact)
{
	if (!valid(signo))
	{
		errno = EINVAL;
		return -1;
	}
	if (oldact)
		*oldact = handlers[signo];
	if (act)
		handlers[signo] = *act;
	return 0;
}

void
pglite_raise_signal(int signo)
{
	if (!valid(signo))
		return;
	pending |= bit(signo);
	if (!(blocked & bit(signo)))
		run_handler(signo);
}

int
kill(pid_t pid, int signo)
{
	if (pid != getpid() && pid != 0)
	{
		errno = ESRCH;
		return -1;
	}
	if (signo == 0)
		return 0;
	if (!valid(signo))
	{
		errno = EINVAL;
		return -1;
	}
	pglite_raise_signal(signo);
	return 0;
}
