/*
 * pglite-oxide: entry points of the port layer that PostgreSQL's patched
 * sources and the host bridge call.
 */
#ifndef PGLITE_PORT_H
#define PGLITE_PORT_H

/* Runs the handlers of signals that were raised while blocked. */
void		pglite_deliver_pending_signals(void);

/* Raises a signal at this process: runs its handler now unless blocked. */
void		pglite_raise_signal(int signo);

/*
 * Raises SIGALRM if the interval timer set by setitimer() has expired.
 * Returns the microseconds until the timer expires (0 when none is armed),
 * so that a waiting caller can bound its sleep.
 */
long long	pglite_poll_timer(void);

/* Polls the timer on every 256th call (interrupt checks). */
void		pglite_timer_tick(void);

/* Nonzero while the interval timer is armed. */
extern volatile int pglite_timer_armed;

/*
 * PostgreSQL's own loadable modules are linked into the backend (see
 * dlfcn.c). assets/modules generates pglite_static_modules from the
 * modules' objects: per module, the functions dlsym() may be asked for.
 * Both arrays end with an entry whose name is NULL.
 */
typedef struct PgliteStaticSymbol
{
	const char *name;			/* as dlsym() is asked for it */
	void	   *address;
} PgliteStaticSymbol;

typedef struct PgliteStaticModule
{
	const char *name;			/* library file name without directory and
								 * ".so" */
	const PgliteStaticSymbol *symbols;
} PgliteStaticModule;

extern const PgliteStaticModule pglite_static_modules[];

#endif
