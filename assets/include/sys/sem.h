/* pglite-oxide: System V semaphores inside the one WASI process
 * (see port/sysv_ipc.c). */
#ifndef PGLITE_SYS_SEM_H
#define PGLITE_SYS_SEM_H
#include <sys/ipc.h>

#define GETPID 11
#define GETVAL 12
#define GETALL 13
#define SETVAL 16
#define SETALL 17

struct sembuf
{
	unsigned short sem_num;
	short		sem_op;
	short		sem_flg;
};

struct semid_ds
{
	struct ipc_perm sem_perm;
	unsigned short sem_nsems;
};

int			semget(key_t key, int nsems, int flags);
int			semop(int semid, struct sembuf *ops, size_t nops);
int			semctl(int semid, int semnum, int cmd,...);
#endif
