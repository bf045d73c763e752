/*
 * pglite-oxide: the network calls PostgreSQL's postmaster and client code
 * name. The WASI backend talks to its host through exported functions, never
 * through sockets, so each call fails with a plain errno and name lookups
 * find nothing.
 */
#include <errno.h>
#include <netdb.h>
#include <sys/socket.h>

int			h_errno;

struct hostent *
gethostbyname(const char *name)
{
	(void) name;
	h_errno = HOST_NOT_FOUND;
	return NULL;
}

struct servent *
getservbyname(const char *name, const char *proto)
{
	(void) name;
	(void) proto;
	return NULL;
}

int
socket(int domain, int type, int protocol)
{
	(void) domain;
	(void) type;
	(void) protocol;
	errno = EAFNOSUPPORT;
	return -1;
}

int
bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	(void) fd;
	(void) addr;
	(void) len;
	errno = EBADF;
	return -1;
}

int
listen(int fd, int backlog)
{
	(void) fd;
	(void) backlog;
	errno = EBADF;
	return -1;
}

int
connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	(void) fd;
	(void) addr;
	(void) len;
	errno = EBADF;
	return -1;
}

int
getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	(void) fd;
	(void) addr;
	(void) len;
	errno = EBADF;
	return -1;
}

int
getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	(void) fd;
	(void) addr;
	(void) len;
	errno = EBADF;
	return -1;
}

int
setsockopt(int fd, int level, int name, const void *value, socklen_t len)
{
	(void) fd;
	(void) level;
	(void) name;
	(void) value;
	(void) len;
	errno = EBADF;
	return -1;
}

ssize_t
sendto(int fd, const void *buf, size_t len, int flags,
	   const struct sockaddr *addr, socklen_t addrlen)
{
	(void) fd;
	(void) buf;
	(void) len;
	(void) flags;
	(void) addr;
	(void) addrlen;
	errno = EBADF;
	return -1;
}

ssize_t
recvfrom(int fd, void *buf, size_t len, int flags,
		 struct sockaddr *addr, socklen_t *addrlen)
{
	(void) fd;
	(void) buf;
	(void) len;
	(void) flags;
	(void) addr;
	(void) addrlen;
	errno = EBADF;
	return -1;
}
