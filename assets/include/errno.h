/* pglite-oxide: an errno value PostgreSQL names that WASI lacks. */
#ifndef PGLITE_ERRNO_H
#define PGLITE_ERRNO_H
#include_next <errno.h>

#ifndef EHOSTDOWN
#define EHOSTDOWN 112
#endif
#endif
