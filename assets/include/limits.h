/* pglite-oxide: wasi-libc's times() counts in CLOCKS_PER_SEC units
 * (nanoseconds) but leaves CLK_TCK, which PostgreSQL's getrusage() divides
 * by, undefined. */
#ifndef PGLITE_LIMITS_H
#define PGLITE_LIMITS_H
#include_next <limits.h>

#ifndef CLK_TCK
#define CLK_TCK 1000000000LL
#endif
#endif
