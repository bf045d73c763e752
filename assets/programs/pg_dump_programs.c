/*
 * pglite-oxide: pg_dump and pg_restore in one WASI module. The two share
 * nearly all their code (the archiver, libpq, the frontend libraries), so
 * one module is 40% smaller than two; argv[0] names the program to run, as
 * with a multi-call binary. Their main() functions are compiled under the
 * names below (recipes/postgres.toml).
 */
#include <stdio.h>
#include <string.h>

extern int	pglite_pg_dump_main(int argc, char *argv[]);
extern int	pglite_pg_restore_main(int argc, char *argv[]);

int
main(int argc, char *argv[])
{
	const char *name = argc > 0 ? argv[0] : "";
	const char *slash = strrchr(name, '/');

	if (slash != NULL)
		name = slash + 1;
	if (strcmp(name, "pg_dump") == 0)
		return pglite_pg_dump_main(argc, argv);
	if (strcmp(name, "pg_restore") == 0)
		return pglite_pg_restore_main(argc, argv);
	fprintf(stderr, "%s: this module runs pg_dump or pg_restore, named by argv[0]\n",
			name);
	return 2;
}
