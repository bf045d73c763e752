/* pglite-oxide: the socket calls PostgreSQL's postmaster and libpq code
 * names. The WASI backend never opens a socket; each call fails (see
 * port/network.c). libpq's connections go through the host instead
 * (pglite/client.h). */
#ifndef PGLITE_SYS_SOCKET_H
#define PGLITE_SYS_SOCKET_H
#include_next <sys/socket.h>

#ifndef SO_KEEPALIVE
#define SO_KEEPALIVE 9
#endif
#ifndef SO_REUSEADDR
#define SO_REUSEADDR 2
#endif
#ifndef SO_ERROR
#define SO_ERROR 4
#endif

int			socket(int domain, int type, int protocol);
int			bind(int fd, const struct sockaddr *addr, socklen_t len);
int			listen(int fd, int backlog);
int			connect(int fd, const struct sockaddr *addr, socklen_t len);
int			getsockname(int fd, struct sockaddr *addr, socklen_t *len);
int			getpeername(int fd, struct sockaddr *addr, socklen_t *len);
ssize_t		sendto(int fd, const void *buf, size_t len, int flags,
				   const struct sockaddr *addr, socklen_t addrlen);
ssize_t		recvfrom(int fd, void *buf, size_t len, int flags,
					 struct sockaddr *addr, socklen_t *addrlen);
int			setsockopt(int fd, int level, int name, const void *value, socklen_t len);
#endif
