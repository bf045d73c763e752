/* pglite-oxide: group lookups, unused by the WASI backend but named by
 * PostgreSQL's sources. */
#ifndef PGLITE_GRP_H
#define PGLITE_GRP_H
#include <sys/types.h>

struct group
{
	char	   *gr_name;
	char	   *gr_passwd;
	gid_t		gr_gid;
	char	  **gr_mem;
};

struct group *getgrgid(gid_t gid);
#endif
