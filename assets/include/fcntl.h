/* pglite-oxide: wasi-libc spells O_DSYNC and O_SYNC with a cast, which
 * PostgreSQL compares in #if (xlogdefs.h). Same values, plain integers. */
#ifndef PGLITE_FCNTL_H
#define PGLITE_FCNTL_H
#include_next <fcntl.h>

#undef O_DSYNC
#define O_DSYNC (1 << 1)
#undef O_RSYNC
#define O_RSYNC (1 << 3)
#undef O_SYNC
#define O_SYNC (1 << 4)
#endif
