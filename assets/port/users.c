/*
 * pglite-oxide: the one user of the WASI backend. PostgreSQL asks for the
 * operating-system user's name only as a default (initdb, single-user mode);
 * the host always passes the database user explicitly.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>

static char user_name[] = "postgres";
static char empty[] = "";
static char home[] = "/";

static struct passwd the_user = {
	user_name, empty, 0, 0, empty, home, empty
};

struct passwd *
getpwuid(uid_t uid)
{
	if (uid != 0)
	{
		errno = ENOENT;
		return NULL;
	}
	return &the_user;
}

struct passwd *
getpwnam(const char *name)
{
	if (strcmp(name, user_name) != 0)
	{
		errno = ENOENT;
		return NULL;
	}
	return &the_user;
}

int
getpwuid_r(uid_t uid, struct passwd *pwd, char *buf, size_t buflen,
		   struct passwd **result)
{
	(void) buf;
	(void) buflen;
	*result = NULL;
	if (uid != 0)
		return 0;
	*pwd = the_user;
	*result = pwd;
	return 0;
}

struct group *
getgrgid(gid_t gid)
{
	(void) gid;
	errno = ENOENT;
	return NULL;
}
