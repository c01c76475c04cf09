/* many_threads N [BATCH]: creates and joins N threads, BATCH at a time, each
 * taking a shared mutex once; prints the count. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static long counter;

static void *body(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&m);
	counter++;
	pthread_mutex_unlock(&m);
	return NULL;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 10000, batch = argc > 2 ? atol(argv[2]) : 50;
	pthread_t t[256];
	if (batch > 256)
		batch = 256;
	for (long done = 0; done < n;) {
		long k = n - done < batch ? n - done : batch;
		for (long i = 0; i < k; i++)
			if (pthread_create(&t[i], NULL, body, NULL))
				return perror("pthread_create"), 1;
		for (long i = 0; i < k; i++)
			pthread_join(t[i], NULL);
		done += k;
	}
	printf("many_threads: %ld\n", counter);
	return counter == n ? 0 : 1;
}
