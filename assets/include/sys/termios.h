/* pglite-oxide: libpq's fe-print.c includes this where <termios.h> is
 * missing. WASI has no terminals; nothing of it is used, since wasi-libc
 * defines no TIOCGWINSZ. */
#ifndef PGLITE_SYS_TERMIOS_H
#define PGLITE_SYS_TERMIOS_H
#endif
