/*
 * pglite-oxide: dlopen() and dlsym() for PostgreSQL's dynamic loader
 * (dfmgr.c), over two kinds of module.
 *
 * PostgreSQL's own modules (PL/pgSQL, the snowball stemmers, the encoding
 * conversions) are compiled into postgres.wasm with their common entry
 * points renamed, and assets/modules generates a table of each module's
 * functions from its objects (docs/decisions/0002-core-modules-static.md).
 * The install tree keeps a placeholder file where each module's shared
 * library would be, so dfmgr.c finds and stat()s the file as usual and then
 * calls dlopen() on its path: dlopen() takes the file name without directory
 * and ".so" as the module's name and returns that module; dlsym() looks a
 * function up in its table.
 *
 * Any other library is an extension's WebAssembly side module: the host
 * links it into this instance, sharing its memory, function table and stack
 * (docs/decisions/0011-extension-side-modules.md), and answers dlsym() with
 * function table indices, which are this module's function pointers.
 *
 * The table is referenced weakly, so the port library links without it:
 * configure's link tests find a working dlopen() (and do not add wasi-libc's
 * -ldl), and a backend linked without the table loads side modules only.
 */
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pglite/host.h"
#include "pglite_port.h"

#pragma weak pglite_static_modules

/* What dlerror() returns next: the last failure, reported once. */
static char error_message[512];
static int	error_pending;

/* A side module linked by the host: its handle there. */
typedef struct SideModule
{
	int			host_handle;
} SideModule;

static int
is_static_module(const void *handle)
{
	const PgliteStaticModule *module;

	for (module = pglite_static_modules; module && module->name; module++)
	{
		if ((const void *) module == handle)
			return 1;
	}
	return 0;
}

static void *
open_side_module(const char *file)
{
	SideModule *module;
	int			handle;

	handle = pglite_host_dl_open(file, (int) strlen(file));
	if (handle <= 0)
	{
		pglite_host_dl_error(error_message, sizeof(error_message));
		error_pending = 1;
		return NULL;
	}
	module = malloc(sizeof(SideModule));
	if (module == NULL)
	{
		snprintf(error_message, sizeof(error_message), "out of memory");
		error_pending = 1;
		return NULL;
	}
	module->host_handle = handle;
	return module;
}

void *
dlopen(const char *file, int mode)
{
	const PgliteStaticModule *module;
	const char *name;
	size_t		len;

	(void) mode;
	if (file == NULL)
	{
		snprintf(error_message, sizeof(error_message),
				 "this build has no global symbol table to open");
		error_pending = 1;
		return NULL;
	}

	name = strrchr(file, '/');
	name = name ? name + 1 : file;
	len = strlen(name);
	if (len > 3 && strcmp(name + len - 3, ".so") == 0)
		len -= 3;

	for (module = pglite_static_modules; module && module->name; module++)
	{
		if (strlen(module->name) == len && strncmp(module->name, name, len) == 0)
			return (void *) module;
	}

	return open_side_module(file);
}

void *
dlsym(void *restrict handle, const char *restrict symbol)
{
	const PgliteStaticModule *module;
	const PgliteStaticSymbol *entry;

	if (handle != NULL && !is_static_module(handle))
	{
		const SideModule *side = handle;
		int			address;

		address = pglite_host_dl_sym(side->host_handle, symbol, (int) strlen(symbol));
		if (address == 0)
		{
			snprintf(error_message, sizeof(error_message),
					 "no symbol \"%s\" in the module", symbol);
			error_pending = 1;
			return NULL;
		}
		return (void *) (size_t) address;
	}

	for (module = pglite_static_modules; module && module->name; module++)
	{
		if ((void *) module != handle)
			continue;
		for (entry = module->symbols; entry->name; entry++)
		{
			if (strcmp(entry->name, symbol) == 0)
				return entry->address;
		}
		snprintf(error_message, sizeof(error_message),
				 "module \"%s\" has no function \"%s\"",
				 module->name, symbol);
		error_pending = 1;
		return NULL;
	}

	snprintf(error_message, sizeof(error_message),
			 "invalid handle for symbol \"%s\"", symbol);
	error_pending = 1;
	return NULL;
}

/*
 * Static modules are part of the backend, and PostgreSQL never unloads a
 * library: nothing to do.
 */
int
dlclose(void *handle)
{
	(void) handle;
	return 0;
}

char *
dlerror(void)
{
	if (!error_pending)
		return NULL;
	error_pending = 0;
	return error_message;
}
