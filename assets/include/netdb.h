/* pglite-oxide: host name lookups. The WASI backend has no network; the
 * declarations let PostgreSQL's fallback getaddrinfo compile, and every
 * lookup fails (see port/netdb.c). */
#ifndef PGLITE_NETDB_H
#define PGLITE_NETDB_H
#include <sys/socket.h>
#include <netinet/in.h>

struct hostent
{
	char	   *h_name;
	char	  **h_aliases;
	int			h_addrtype;
	int			h_length;
	char	  **h_addr_list;
};
#define h_addr h_addr_list[0]

struct servent
{
	char	   *s_name;
	char	  **s_aliases;
	int			s_port;
	char	   *s_proto;
};

#define HOST_NOT_FOUND 1
#define TRY_AGAIN 2
#define NO_RECOVERY 3
#define NO_DATA 4

extern int	h_errno;

struct hostent *gethostbyname(const char *name);
struct servent *getservbyname(const char *name, const char *proto);
#endif
