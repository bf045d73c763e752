/*
 * pglite-oxide: temporary files. wasi-libc has no tmpfile(): a WASI program
 * has no temporary directory of its own. pg_dump's tar format is the one
 * user; it reports the error.
 */
#include <errno.h>
#include <stdio.h>

FILE *
pglite_tmpfile(void)
{
	errno = ENOSYS;
	return NULL;
}
