/*
 * pglite-oxide: what util-linux 2.38's configure finds for libuuid on
 * wasm32-wasip1 (wasi-libc with the port's headers, assets/include),
 * forced into every file of the build (assets/libraries/libuuid/Makefile).
 *
 * Left undefined on purpose: HAVE_GETRANDOM (WASI has none; the patch
 * under patches/libuuid gives randutils.c one made of getentropy()),
 * HAVE_TLS (the backend runs one thread), HAVE_UUIDD and the socket and
 * network-interface headers (no uuidd daemon, no MAC address under WASI:
 * time-based UUIDs get a random node with the multicast bit set, as RFC
 * 4122 4.5 prescribes), HAVE_SYS_FILE_H (no file locks; see the patch),
 * ENABLE_NLS (no message catalogs).
 */
#define _GNU_SOURCE 1

#define PACKAGE "util-linux"
#define PACKAGE_VERSION "2.38.1"
#define PACKAGE_STRING "util-linux 2.38.1"

#define HAVE_UNISTD_H 1
#define HAVE_STDLIB_H 1
#define HAVE_SYS_TIME_H 1
#define HAVE_LOCALE_H 1

#define HAVE_JRAND48 1
#define HAVE_SRANDOM 1
#define HAVE_NANOSLEEP 1
#define HAVE_USLEEP 1
#define HAVE_STRNLEN 1
#define HAVE_STRNDUP 1

#define LIBUUID_CLOCK_FILE "/var/lib/libuuid/clock.txt"

/*
 * Declared only: c.h's inline drop_permissions() names them, and WASI has
 * no users to switch between; libuuid never calls it, so no import results
 * (a call would fail to load: undefined symbol).
 */
#include <sys/types.h>
int setuid(uid_t uid);
int setgid(gid_t gid);
