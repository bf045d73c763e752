/* pglite-oxide: clang lowers only setjmp/longjmp to Wasm exception handling;
 * wasi-libc declares the sig variants but nothing implements them. There is
 * no signal mask to save across a jump in this port (signals are delivered
 * synchronously), so the plain pair is exact. */
#ifndef PGLITE_SETJMP_H
#define PGLITE_SETJMP_H
#include_next <setjmp.h>

#define sigjmp_buf jmp_buf
#define sigsetjmp(env, savemask) setjmp(env)
#define siglongjmp longjmp
#endif
