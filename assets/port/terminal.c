/*
 * pglite-oxide: terminals inside one WASI process.
 *
 * The backend never has a terminal: the host feeds its stdin and collects
 * its stdout and stderr through buffers. Wasmer nevertheless reports the
 * three stdio descriptors as character devices without seek rights, which
 * is what wasi-libc's isatty() tests, so bootstrap mode would print a
 * "bootstrap> " prompt for every line of postgres.bki. Answer as for a pipe.
 */
#include <errno.h>
#include <unistd.h>

int
pglite_isatty(int fd)
{
	(void) fd;
	errno = ENOTTY;
	return 0;
}
