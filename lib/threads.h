/*
 * threads: a batch of independent items spread over threads of this
 * process (-j N), for work that shares one open handle (an unlocked vault,
 * the CA key) and needs no process of its own.  Each thread takes the next
 * item not taken; the calling thread works too.  Forked workers, with
 * handles of their own, are lib/workers.
 */
#ifndef SMZ_THREADS_H
#define SMZ_THREADS_H

#include <stddef.h>

#define SMZ_THREADS_MAX 64

/* fn(arg, i) for every i below n, on up to jobs threads (1 to
 * SMZ_THREADS_MAX; fewer when a thread cannot be started), all done on
 * return.  fn must be safe to run on several items at once. */
void smz_threads_each(size_t n, int jobs, void (*fn)(void *arg, size_t i), void *arg);

#endif
