/*
 * pglite-oxide: the functions the embedded host provides to the backend.
 *
 * They are Wasm imports from the module "pglite"; the Rust runtime defines
 * them. The host is the backend's one client connection: it queues whole
 * frontend messages, and the backend reads and writes protocol bytes through
 * these calls instead of a socket.
 */
#ifndef PGLITE_HOST_H
#define PGLITE_HOST_H

/*
 * Copies up to len queued frontend bytes into buf. Returns the count, or 0
 * when the host has nothing more for this call (end of input); a blocking
 * host (a server connection) may wait for its client before answering.
 */
__attribute__((import_module("pglite"), import_name("read")))
int			pglite_host_read(void *buf, int len);

/* Takes len backend bytes from buf. Returns len, or -1 if the client is
 * gone. */
__attribute__((import_module("pglite"), import_name("write")))
int			pglite_host_write(const void *buf, int len);

/* Number of frontend bytes the host has queued and not yet handed over. */
__attribute__((import_module("pglite"), import_name("input_pending")))
int			pglite_host_input_pending(void);

/*
 * Loading extension modules (side modules: see assets/port/dlfcn.c and
 * docs/decisions/0011-extension-side-modules.md). The host links the
 * WebAssembly side module at path into this instance and returns a handle
 * greater than 0, or 0 after which pglite_host_dl_error() says why.
 */
__attribute__((import_module("pglite"), import_name("dl_open")))
int			pglite_host_dl_open(const char *path, int len);

/*
 * The address of symbol name of the module with handle: for a function its
 * index in the function table (a C function pointer), for data its address.
 * 0 if the module has no such symbol.
 */
__attribute__((import_module("pglite"), import_name("dl_sym")))
int			pglite_host_dl_sym(int handle, const char *name, int len);

/* Copies the last failure's message (at most len bytes, NUL-terminated);
 * returns its length. */
__attribute__((import_module("pglite"), import_name("dl_error")))
int			pglite_host_dl_error(char *buf, int len);

#endif
