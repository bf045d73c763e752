/* pglite-oxide: wasi-libc emulates mmap() by copying the file into memory and
 * has no msync(). PostgreSQL's fd.c uses mmap+msync(MS_ASYNC) only as a
 * write-back hint when MS_ASYNC is defined; hiding it makes fd.c take its
 * posix_fadvise() hint instead of copying the file. */
#ifndef PGLITE_SYS_MMAN_H
#define PGLITE_SYS_MMAN_H
#include_next <sys/mman.h>

#undef MS_ASYNC
#endif
