/*
 * pglite-oxide: the functions the host calls in the backend module.
 *
 * The module is a WASI reactor: the host calls _initialize once, then one
 * of these. pgl_main runs PostgreSQL's main() with the WASI arguments, as a
 * command would (bootstrap and single-user modes; it ends with exit()).
 * pgl_start_embedded runs main() for an embedded session: the arguments are
 * those of single-user mode, but the client speaks the frontend/backend
 * protocol through the host functions of pglite/host.h, and main() returns
 * once the session has sent its first ReadyForQuery. pgl_process then
 * handles the messages the host has queued and returns when they are used
 * up.
 */
#include <stdbool.h>

/* wasi-libc: reads the WASI arguments and calls main(). */
extern int	__main_void(void);

/* postgres.c (patches/0004-wasi-embedded-protocol-session.patch) */
extern bool pglite_embedded;
extern void PostgresMainLoop(void);

__attribute__((export_name("pgl_main")))
int
pgl_main(void)
{
	return __main_void();
}

__attribute__((export_name("pgl_start_embedded")))
int
pgl_start_embedded(void)
{
	pglite_embedded = true;
	return __main_void();
}

__attribute__((export_name("pgl_process")))
void
pgl_process(void)
{
	PostgresMainLoop();
}
