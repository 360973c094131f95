#include "threads.h"

#include <pthread.h>

struct each {
	size_t n, next;
	pthread_mutex_t mu;
	void (*fn)(void *arg, size_t i);
	void *arg;
};

static void *
take(void *arg)
{
	struct each *x = arg;
	for (;;) {
		pthread_mutex_lock(&x->mu);
		size_t i = x->next++;
		pthread_mutex_unlock(&x->mu);
		if (i >= x->n)
			return NULL;
		x->fn(x->arg, i);
	}
}

void
smz_threads_each(size_t n, int jobs, void (*fn)(void *arg, size_t i), void *arg)
{
	struct each x = {n, 0, PTHREAD_MUTEX_INITIALIZER, fn, arg};
	pthread_t th[SMZ_THREADS_MAX];
	int started = 0;
	jobs = jobs < 1 ? 1 : jobs > SMZ_THREADS_MAX ? SMZ_THREADS_MAX : jobs;
	for (; started < jobs - 1 && (size_t)started + 1 < n; started++)
		if (pthread_create(&th[started], NULL, take, &x) != 0)
			break;
	take(&x);
	for (int t = 0; t < started; t++)
		pthread_join(th[t], NULL);
}
