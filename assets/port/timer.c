/*
 * pglite-oxide: the ITIMER_REAL interval timer inside one WASI process.
 *
 * PostgreSQL's timeout.c arms one real-time timer and expects SIGALRM when it
 * expires; statement_timeout, lock_timeout and idle timeouts hang on it. WASI
 * has neither timers nor asynchronous signals, so the deadline is kept here
 * and checked by pglite_poll_timer(), which the backend calls from its
 * interrupt checks while a deadline is armed, and before it sleeps in a
 * wait (patches/0005-wasi-interval-timer.patch). Expiry raises SIGALRM through
 * port/signal.c, so PostgreSQL's own handler runs unchanged.
 *
 * The same polls deliver the host's cancel requests: the host sets
 * pglite_cancel_requested from another thread while a statement runs (the
 * way a postmaster would send SIGINT), and the next poll raises SIGINT, whose
 * handler (StatementCancelHandler) cancels the statement with 57014.
 */
#include <errno.h>
#include <signal.h>
#include <sys/time.h>
#include <time.h>

#include "pglite_port.h"

static long long deadline_us;	/* 0: disarmed */
static long long interval_us;

/* Nonzero while a deadline is set: interrupt checks poll only then. */
volatile int pglite_timer_armed;

/*
 * Set to nonzero by the host, from any thread, to cancel the running
 * statement. Interrupt checks read it on every call (one load).
 */
volatile int pglite_cancel_requested;

/*
 * While nothing else is due, waits still wake this often to look for a
 * cancel request (the backend sleeps in waits only in pg_sleep() and the
 * like: between statements it waits in the host, not here).
 */
#define CANCEL_POLL_US 20000

/* The address of the cancel flag in linear memory, for the host. */
__attribute__((export_name("pglite_cancel_flag")))
volatile int *
pglite_cancel_flag(void)
{
	return &pglite_cancel_requested;
}

static void
take_cancel_request(void)
{
	if (pglite_cancel_requested)
	{
		pglite_cancel_requested = 0;
		pglite_raise_signal(SIGINT);
	}
}

static long long
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long
to_us(const struct timeval *tv)
{
	return (long long) tv->tv_sec * 1000000 + tv->tv_usec;
}

static void
from_us(long long us, struct timeval *tv)
{
	tv->tv_sec = us / 1000000;
	tv->tv_usec = us % 1000000;
}

int
getitimer(int which, struct itimerval *value)
{
	long long left;

	if (which != ITIMER_REAL)
	{
		errno = EINVAL;
		return -1;
	}
	left = deadline_us ? deadline_us - now_us() : 0;
	if (deadline_us && left <= 0)
		left = 1;
	from_us(left, &value->it_value);
	from_us(interval_us, &value->it_interval);
	return 0;
}

int
setitimer(int which, const struct itimerval *value, struct itimerval *ovalue)
{
	long long first;

	if (which != ITIMER_REAL)
	{
		errno = EINVAL;
		return -1;
	}
	if (ovalue && getitimer(which, ovalue) != 0)
		return -1;
	first = to_us(&value->it_value);
	interval_us = to_us(&value->it_interval);
	deadline_us = first > 0 ? now_us() + first : 0;
	pglite_timer_armed = deadline_us != 0;
	return 0;
}

unsigned int
alarm(unsigned int seconds)
{
	struct itimerval value = {{0, 0}, {seconds, 0}};
	struct itimerval old;

	setitimer(ITIMER_REAL, &value, &old);
	return (unsigned int) old.it_value.tv_sec;
}

/*
 * Called by every interrupt check while the timer is armed or a cancel is
 * requested. Reading the clock is a host call that costs about a
 * microsecond, and interrupt checks run once per tuple in tight loops, so
 * the clock is read on every 256th call only: a due timer fires within a
 * few hundred checks.
 */
void
pglite_timer_tick(void)
{
	static unsigned int calls;

	take_cancel_request();
	if (pglite_timer_armed && (++calls & 255) == 0)
		pglite_poll_timer();
}

/*
 * Fires the timer if it is due and delivers a cancel request. Returns how
 * long a wait may sleep before it must poll again, in microseconds.
 */
long long
pglite_poll_timer(void)
{
	long long now;
	long long left;

	take_cancel_request();
	if (deadline_us == 0)
		return CANCEL_POLL_US;
	now = now_us();
	if (now >= deadline_us)
	{
		deadline_us = interval_us > 0 ? now + interval_us : 0;
		pglite_timer_armed = deadline_us != 0;
		pglite_raise_signal(SIGALRM);
		if (deadline_us == 0)
			return CANCEL_POLL_US;
		now = now_us();
	}
	left = deadline_us - now;
	return left < CANCEL_POLL_US ? left : CANCEL_POLL_US;
}
