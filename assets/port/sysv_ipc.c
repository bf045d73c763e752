/*
 * pglite-oxide: System V shared memory and semaphores inside one WASI process.
 *
 * PostgreSQL's own sysv_shmem.c and sysv_sema.c run unchanged on top of this.
 * "Shared" memory is ordinary memory of the one process: a segment is
 * allocated once, attaching returns its address. Semaphores are counters;
 * since no other process exists to post one, a wait on a zero semaphore can
 * never end, so semop() fails with EDEADLK instead of hanging.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

#define MAX_SEGMENTS 64
#define MAX_SEM_SETS 256
#define SHM_ALIGN 4096
#define WASM_PAGE 65536
/* Segments at least this large get pages of their own (see fresh_pages). */
#define FRESH_PAGES_MIN (4 * 1024 * 1024)

struct segment
{
	int			used;
	key_t		key;
	size_t		size;
	void	   *base;			/* as allocated; NULL for fresh pages */
	void	   *addr;			/* aligned */
	shmatt_t	nattch;
	int			removed;
};

struct sem_set
{
	int			used;
	key_t		key;
	int			nsems;
	int		   *values;
	pid_t	   *last_pid;
};

/* Ids are index + 1, so that 0 is never a valid id. */
static struct segment segments[MAX_SEGMENTS];
static struct sem_set sem_sets[MAX_SEM_SETS];

static struct segment *
segment_by_id(int shmid)
{
	if (shmid < 1 || shmid > MAX_SEGMENTS || !segments[shmid - 1].used)
	{
		errno = EINVAL;
		return NULL;
	}
	return &segments[shmid - 1];
}

static void
segment_free(struct segment *seg)
{
	/* Fresh pages (base NULL) stay with the process: memory never shrinks. */
	free(seg->base);
	memset(seg, 0, sizeof(*seg));
}

/*
 * New pages at the end of linear memory for a large segment (the main one:
 * shared_buffers and friends). Wasm guarantees grown memory is zero, so
 * unlike calloc() nothing is written, and the host maps pages only as
 * PostgreSQL first touches them: a database that reads a few tables never
 * pays for the rest of shared_buffers. malloc() copes with the gap (it
 * starts a new segment after ours when it next grows memory).
 */
static void *
fresh_pages(size_t size)
{
	size_t		pages = (size + WASM_PAGE - 1) / WASM_PAGE;
	size_t		old = __builtin_wasm_memory_grow(0, pages);

	if (old == (size_t) -1)
		return NULL;
	return (void *) (old * WASM_PAGE);
}

int
shmget(key_t key, size_t size, int flags)
{
	int			free_slot = -1;

	for (int i = 0; i < MAX_SEGMENTS; i++)
	{
		if (!segments[i].used)
		{
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (key != IPC_PRIVATE && segments[i].key == key && !segments[i].removed)
		{
			if ((flags & IPC_CREAT) && (flags & IPC_EXCL))
			{
				errno = EEXIST;
				return -1;
			}
			if (size > segments[i].size)
			{
				errno = EINVAL;
				return -1;
			}
			return i + 1;
		}
	}
	if (!(flags & IPC_CREAT))
	{
		errno = ENOENT;
		return -1;
	}
	if (free_slot < 0)
	{
		errno = ENOSPC;
		return -1;
	}
	{
		struct segment *seg = &segments[free_slot];
		void	   *base = NULL;
		void	   *addr;

		if (size >= FRESH_PAGES_MIN)
			addr = fresh_pages(size);
		else
		{
			base = calloc(1, size + SHM_ALIGN);
			addr = base ? (void *) (((uintptr_t) base + SHM_ALIGN - 1) & ~(uintptr_t) (SHM_ALIGN - 1)) : NULL;
		}
		if (addr == NULL)
		{
			errno = ENOMEM;
			return -1;
		}
		seg->used = 1;
		seg->key = key;
		seg->size = size;
		seg->base = base;
		seg->addr = addr;
	}
	return free_slot + 1;
}

void *
shmat(int shmid, const void *addr, int flags)
{
	struct segment *seg = segment_by_id(shmid);

	(void) flags;
	if (seg == NULL)
		return (void *) -1;
	if (addr != NULL && addr != seg->addr)
	{
		errno = EINVAL;
		return (void *) -1;
	}
	seg->nattch++;
	return seg->addr;
}

int
shmdt(const void *addr)
{
	for (int i = 0; i < MAX_SEGMENTS; i++)
	{
		struct segment *seg = &segments[i];

		if (seg->used && seg->addr == addr && seg->nattch > 0)
		{
			seg->nattch--;
			if (seg->removed && seg->nattch == 0)
				segment_free(seg);
			return 0;
		}
	}
	errno = EINVAL;
	return -1;
}

int
shmctl(int shmid, int cmd, struct shmid_ds *buf)
{
	struct segment *seg = segment_by_id(shmid);

	if (seg == NULL)
		return -1;
	switch (cmd)
	{
		case IPC_STAT:
			memset(buf, 0, sizeof(*buf));
			buf->shm_perm.__key = seg->key;
			buf->shm_perm.mode = 0600;
			buf->shm_segsz = seg->size;
			buf->shm_cpid = getpid();
			buf->shm_nattch = seg->nattch;
			return 0;
		case IPC_RMID:
			seg->removed = 1;
			if (seg->nattch == 0)
				segment_free(seg);
			return 0;
		case IPC_SET:
			return 0;
		default:
			errno = EINVAL;
			return -1;
	}
}

static struct sem_set *
sem_set_by_id(int semid)
{
	if (semid < 1 || semid > MAX_SEM_SETS || !sem_sets[semid - 1].used)
	{
		errno = EINVAL;
		return NULL;
	}
	return &sem_sets[semid - 1];
}

int
semget(key_t key, int nsems, int flags)
{
	int			free_slot = -1;

	for (int i = 0; i < MAX_SEM_SETS; i++)
	{
		if (!sem_sets[i].used)
		{
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (key != IPC_PRIVATE && sem_sets[i].key == key)
		{
			if ((flags & IPC_CREAT) && (flags & IPC_EXCL))
			{
				errno = EEXIST;
				return -1;
			}
			return i + 1;
		}
	}
	if (!(flags & IPC_CREAT))
	{
		errno = ENOENT;
		return -1;
	}
	if (free_slot < 0 || nsems <= 0)
	{
		errno = free_slot < 0 ? ENOSPC : EINVAL;
		return -1;
	}
	{
		struct sem_set *set = &sem_sets[free_slot];

		set->values = calloc((size_t) nsems, sizeof(int));
		set->last_pid = calloc((size_t) nsems, sizeof(pid_t));
		if (set->values == NULL || set->last_pid == NULL)
		{
			free(set->values);
			free(set->last_pid);
			errno = ENOMEM;
			return -1;
		}
		set->used = 1;
		set->key = key;
		set->nsems = nsems;
	}
	return free_slot + 1;
}

int
semop(int semid, struct sembuf *ops, size_t nops)
{
	struct sem_set *set = sem_set_by_id(semid);

	if (set == NULL)
		return -1;
	/* All or nothing, as the kernel does: check first, then apply. */
	for (size_t i = 0; i < nops; i++)
	{
		if (ops[i].sem_num >= set->nsems)
		{
			errno = EFBIG;
			return -1;
		}
		if (ops[i].sem_op < 0 && set->values[ops[i].sem_num] + ops[i].sem_op < 0)
		{
			errno = (ops[i].sem_flg & IPC_NOWAIT) ? EAGAIN : EDEADLK;
			return -1;
		}
	}
	for (size_t i = 0; i < nops; i++)
	{
		set->values[ops[i].sem_num] += ops[i].sem_op;
		set->last_pid[ops[i].sem_num] = getpid();
	}
	return 0;
}

/* The fourth argument, when present, is this union (SUSv3 leaves its
 * definition to the caller; PostgreSQL declares the same layout). */
union semun
{
	int			val;
	struct semid_ds *buf;
	unsigned short *array;
};

int
semctl(int semid, int semnum, int cmd,...)
{
	struct sem_set *set = sem_set_by_id(semid);
	union semun arg = {0};
	va_list		ap;

	if (set == NULL)
		return -1;
	if (cmd == SETVAL || cmd == SETALL || cmd == IPC_STAT)
	{
		va_start(ap, cmd);
		arg = va_arg(ap, union semun);
		va_end(ap);
	}
	if ((cmd == SETVAL || cmd == GETVAL || cmd == GETPID) &&
		(semnum < 0 || semnum >= set->nsems))
	{
		errno = EINVAL;
		return -1;
	}
	switch (cmd)
	{
		case SETVAL:
			set->values[semnum] = arg.val;
			return 0;
		case GETVAL:
			return set->values[semnum];
		case GETPID:
			return set->last_pid[semnum];
		case SETALL:
			for (int i = 0; i < set->nsems; i++)
				set->values[i] = arg.array[i];
			return 0;
		case IPC_STAT:
			memset(arg.buf, 0, sizeof(*arg.buf));
			arg.buf->sem_perm.__key = set->key;
			arg.buf->sem_nsems = (unsigned short) set->nsems;
			return 0;
		case IPC_RMID:
			free(set->values);
			free(set->last_pid);
			memset(set, 0, sizeof(*set));
			return 0;
		default:
			errno = EINVAL;
			return -1;
	}
}
