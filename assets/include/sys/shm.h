/* pglite-oxide: System V shared memory inside the one WASI process
 * (see port/sysv_ipc.c). */
#ifndef PGLITE_SYS_SHM_H
#define PGLITE_SYS_SHM_H
#include <sys/ipc.h>
#include <stddef.h>

#define SHM_RDONLY 010000
#define SHM_SHARE_MMU 0

typedef unsigned long shmatt_t;

struct shmid_ds
{
	struct ipc_perm shm_perm;
	size_t		shm_segsz;
	pid_t		shm_cpid;
	pid_t		shm_lpid;
	shmatt_t	shm_nattch;
};

int			shmget(key_t key, size_t size, int flags);
void	   *shmat(int shmid, const void *addr, int flags);
int			shmdt(const void *addr);
int			shmctl(int shmid, int cmd, struct shmid_ds *buf);
#endif
