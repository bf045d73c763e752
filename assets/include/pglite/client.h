/*
 * pglite-oxide: client connections of a WASI program (pg_dump, pg_restore)
 * to the embedding host's database.
 *
 * WASI has no sockets. Under __wasi__ libpq opens every connection with
 * pglite_socket_open() instead of socket() and connect(), and moves its bytes
 * with these calls instead of send(), recv() and poll(); the host serves the
 * connection as any other client of its database (authentication and the
 * protocol stay libpq's). The handle takes the socket's place in PGconn.
 * Defined in assets/port/client_socket.c over the "pglite_client" imports.
 */
#ifndef PGLITE_CLIENT_H
#define PGLITE_CLIENT_H

#include <stddef.h>
#include <sys/types.h>

/* A new connection to the host's database: a handle, or -1 with errno set. */
int			pglite_socket_open(void);

/* As recv() on a nonblocking socket: bytes read, 0 at the end of the
 * connection, -1 with errno EAGAIN when nothing has arrived yet. */
ssize_t		pglite_socket_recv(int handle, void *buf, size_t len);

/* As send() on a blocking socket: len, or -1 with errno EPIPE once the host
 * has closed the connection. There are no signals to suppress: flags
 * (MSG_NOSIGNAL) changes nothing. */
ssize_t		pglite_socket_send(int handle, const void *buf, size_t len, int flags);

/* As libpq's pqSocketPoll(): 1 when the connection is ready for what is
 * asked, 0 once end_time (a time() value; -1: never) has passed, -1 with
 * errno set on error. */
int			pglite_socket_poll(int handle, int for_read, int for_write,
							   time_t end_time);

/* Ends the connection; the handle is no longer valid. */
void		pglite_socket_close(int handle);

#endif
