/* pglite-oxide: pipes to child processes; the WASI backend has no child
 * processes, so popen() fails (see port/process.c). wasi-libc only declares
 * tmpfile(), deprecated: pg_dump's tar format asks for one, and gets an
 * error (port/tmpfile.c). */
#ifndef PGLITE_STDIO_H
#define PGLITE_STDIO_H
#include_next <stdio.h>

FILE	   *popen(const char *command, const char *mode);
int			pclose(FILE *stream);

FILE	   *pglite_tmpfile(void);
#define tmpfile pglite_tmpfile
#endif
