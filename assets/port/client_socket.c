/*
 * pglite-oxide: libpq's connections under WASI (see pglite/client.h), over
 * the host's "pglite_client" imports. The host answers with plain counts or
 * -1; errno is set here, as the socket calls libpq expects would set it.
 */
#include <errno.h>
#include <limits.h>
#include <time.h>

#include "pglite/client.h"

__attribute__((import_module("pglite_client"), import_name("open")))
int			pglite_client_open(void);

/* Bytes copied into buf; 0 at the end; -1 when nothing is there now. */
__attribute__((import_module("pglite_client"), import_name("recv")))
int			pglite_client_recv(int handle, void *buf, int len);

/* Takes all len bytes (waiting while the host's buffer is full); -1 once
 * the connection is closed. */
__attribute__((import_module("pglite_client"), import_name("send")))
int			pglite_client_send(int handle, const void *buf, int len);

/* Waits up to timeout_ms (-1: without limit) until the connection has
 * bytes to read, or has ended; 1 if so, 0 on timeout, -1 for a bad handle. */
__attribute__((import_module("pglite_client"), import_name("wait_readable")))
int			pglite_client_wait_readable(int handle, int timeout_ms);

__attribute__((import_module("pglite_client"), import_name("close")))
void		pglite_client_close(int handle);

int
pglite_socket_open(void)
{
	int			handle = pglite_client_open();

	if (handle < 0)
		errno = ECONNREFUSED;
	return handle;
}

ssize_t
pglite_socket_recv(int handle, void *buf, size_t len)
{
	int			n = pglite_client_recv(handle, buf, len > INT_MAX ? INT_MAX : (int) len);

	if (n < 0)
		errno = EAGAIN;
	return n;
}

ssize_t
pglite_socket_send(int handle, const void *buf, size_t len, int flags)
{
	int			n;

	(void) flags;
	n = pglite_client_send(handle, buf, len > INT_MAX ? INT_MAX : (int) len);

	if (n < 0)
		errno = EPIPE;
	return n;
}

int
pglite_socket_poll(int handle, int for_read, int for_write, time_t end_time)
{
	int			timeout_ms = -1;
	int			ready;

	/* Sends never wait for room: writing is always possible. */
	if (for_write)
		return 1;
	if (!for_read)
		return 0;
	if (end_time != (time_t) -1)
	{
		time_t		now = time(NULL);

		if (end_time <= now)
			timeout_ms = 0;
		else if (end_time - now < INT_MAX / 1000)
			timeout_ms = (int) ((end_time - now) * 1000);
		else
			timeout_ms = INT_MAX;
	}
	ready = pglite_client_wait_readable(handle, timeout_ms);
	if (ready < 0)
		errno = EBADF;
	return ready;
}

void
pglite_socket_close(int handle)
{
	pglite_client_close(handle);
}
