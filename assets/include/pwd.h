/* pglite-oxide: one user exists in the WASI backend (see port/users.c). */
#ifndef PGLITE_PWD_H
#define PGLITE_PWD_H
#include <sys/types.h>

struct passwd
{
	char	   *pw_name;
	char	   *pw_passwd;
	uid_t		pw_uid;
	gid_t		pw_gid;
	char	   *pw_gecos;
	char	   *pw_dir;
	char	   *pw_shell;
};

struct passwd *getpwuid(uid_t uid);
int			getpwuid_r(uid_t uid, struct passwd *pwd, char *buf, size_t buflen,
					   struct passwd **result);
struct passwd *getpwnam(const char *name);
#endif
