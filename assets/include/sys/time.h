/* pglite-oxide: interval timers for a single-process WASI backend
 * (see port/timer.c). */
#ifndef PGLITE_SYS_TIME_H
#define PGLITE_SYS_TIME_H
#include_next <sys/time.h>

#define ITIMER_REAL 0

struct itimerval
{
	struct timeval it_interval;
	struct timeval it_value;
};

int			getitimer(int which, struct itimerval *value);
int			setitimer(int which, const struct itimerval *value, struct itimerval *ovalue);
#endif
