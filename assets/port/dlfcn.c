/*
 * pglite-oxide: dlopen() and dlsym() over PostgreSQL's loadable modules,
 * which this build links statically into the backend.
 *
 * WASI has no dynamic loading (wasi-libc's libdl only reports failure), so
 * PostgreSQL's own modules (PL/pgSQL, the snowball stemmers, the encoding
 * conversions) are compiled into postgres.wasm with their common entry
 * points renamed, and assets/modules generates a table of each module's
 * functions from its objects (docs/decisions/0002-core-modules-static.md).
 * The install tree keeps a placeholder file where each module's shared
 * library would be, so dfmgr.c finds and stat()s the file as usual and then
 * calls dlopen() on its path: dlopen() takes the file name without directory
 * and ".so" as the module's name and returns that module; dlsym() looks a
 * function up in its table. Any other library fails to load, saying that it
 * is not part of this build.
 *
 * The table is referenced weakly, so the port library links without it:
 * configure's link tests find a working dlopen() (and do not add wasi-libc's
 * -ldl), and a backend linked without the table loads no module at all.
 */
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "pglite_port.h"

#pragma weak pglite_static_modules

/* What dlerror() returns next: the last failure, reported once. */
static char error_message[256];
static int	error_pending;

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

	snprintf(error_message, sizeof(error_message),
			 "module \"%.*s\" is not available in this build "
			 "(loadable modules are linked into postgres.wasm)",
			 (int) len, name);
	error_pending = 1;
	return NULL;
}

void *
dlsym(void *restrict handle, const char *restrict symbol)
{
	const PgliteStaticModule *module;
	const PgliteStaticSymbol *entry;

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

/* Modules are part of the backend: nothing to unload. */
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
