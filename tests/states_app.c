/*
 * An unmodified, CPU-oversubscribed program for the threads analysis'
 * oracle test (tests/e2e_states.sh): on 2 CPUs, 3 CPU-bound threads, 2
 * lock contenders (each holds the lock 3 ms, sleeping), 2 sleepers and 2
 * condition-variable waiters signalled every 10 ms by the main thread.
 *
 * Every thread reads its own /proc/thread-self/schedstat (ns on CPU, ns on
 * a run queue) and CLOCK_MONOTONIC at its start and end and prints
 *   thread TID ROLE WALL_NS ONCPU_NS RUNQ_NS
 * the kernel's own account of the thread's time, to compare the trace with.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct account {
	uint64_t wall, on, rq;
};

static void read_account(struct account *a)
{
	char buf[128] = {0};
	int fd = open("/proc/thread-self/schedstat", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	unsigned long long on = 0, rq = 0;
	if (n <= 0 || sscanf(buf, "%llu %llu", &on, &rq) != 2) {
		fprintf(stderr, "states_app: cannot read /proc/thread-self/schedstat\n");
		exit(2);
	}
	a->on = on;
	a->rq = rq;
	a->wall = now_ns();
}

static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

static void report(const char *role, const struct account *a)
{
	struct account b;
	read_account(&b);
	pthread_mutex_lock(&print_lock);
	printf("thread %ld %s %llu %llu %llu\n", (long)syscall(SYS_gettid), role,
	       (unsigned long long)(b.wall - a->wall), (unsigned long long)(b.on - a->on),
	       (unsigned long long)(b.rq - a->rq));
	fflush(stdout);
	pthread_mutex_unlock(&print_lock);
}

static void sleep_ns(long ns)
{
	struct timespec d = {ns / 1000000000, ns % 1000000000};
	nanosleep(&d, NULL);
}

static volatile uint64_t sink;

static void spin_for(uint64_t ns)
{
	uint64_t end = now_ns() + ns;
	while (now_ns() < end)
		for (int i = 0; i < 1000; i++)
			sink = sink * 6364136223846793005ull + 1;
}

static void *burner(void *arg)
{
	(void)arg;
	struct account a;
	read_account(&a);
	spin_for(1000000000ull);
	report("burner", &a);
	return NULL;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *contender(void *arg)
{
	(void)arg;
	struct account a;
	read_account(&a);
	for (int i = 0; i < 100; i++) {
		pthread_mutex_lock(&lock);
		sleep_ns(3000000);
		pthread_mutex_unlock(&lock);
	}
	report("contender", &a);
	return NULL;
}

static void *sleeper(void *arg)
{
	(void)arg;
	struct account a;
	read_account(&a);
	for (int i = 0; i < 50; i++) {
		sleep_ns(10000000);
		spin_for(200000);
	}
	report("sleeper", &a);
	return NULL;
}

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_cond = PTHREAD_COND_INITIALIZER;
static int ticks, done;

static void *waiter(void *arg)
{
	(void)arg;
	struct account a;
	read_account(&a);
	pthread_mutex_lock(&queue_lock);
	for (int seen = 0; !done;) {
		while (ticks == seen && !done)
			pthread_cond_wait(&queue_cond, &queue_lock);
		seen = ticks;
	}
	pthread_mutex_unlock(&queue_lock);
	report("waiter", &a);
	return NULL;
}

int main(void)
{
	void *(*roles[])(void *) = {burner, burner, burner, contender, contender, sleeper, sleeper, waiter, waiter};
	enum { N = sizeof roles / sizeof roles[0] };
	pthread_t t[N];
	for (int i = 0; i < N; i++)
		pthread_create(&t[i], NULL, roles[i], NULL);
	for (int i = 0; i < 100; i++) {
		sleep_ns(10000000);
		pthread_mutex_lock(&queue_lock);
		ticks++;
		pthread_cond_broadcast(&queue_cond);
		pthread_mutex_unlock(&queue_lock);
	}
	pthread_mutex_lock(&queue_lock);
	done = 1;
	pthread_cond_broadcast(&queue_cond);
	pthread_mutex_unlock(&queue_lock);
	for (int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	return 0;
}
