/*
 * blocking_app: a program with known blocking behaviour and no tracing code
 * of its own; tests/check_blocking asserts what its trace must show. Built
 * twice: linked with -lcproftrace, and plain (run under LD_PRELOAD).
 *
 *  - 4 threads (contender) take one mutex 3 times each, holding it 5 ms;
 *  - a thread (net_reader) blocks in recv() on loopback TCP until the
 *    peer sends, 50 ms later;
 *  - a thread (sleeper) sleeps 30 ms in nanosleep();
 *  - a consumer waits on a condition variable that a producer signals
 *    every 20 ms, 5 times;
 *  - a thread (pipe_reader) blocks in read() on a pipe written 20 ms later;
 *  - a thread (poller) waits 15 ms each in poll() and select() on a pipe and
 *    in epoll_wait() on an epoll set of that pipe (not network: syscall),
 *    then in poll() and epoll_wait() on a socketpair end (network);
 *  - a thread (idler) waits on a condition variable nobody signals: the
 *    capture ends (at exit) while it waits.
 * It prints "name value" facts (addresses, tids) for the checker.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_cond = PTHREAD_COND_INITIALIZER;
static int queued, done_producing;
static int listen_fd, pipe_fds[2];
/* net_reader -> net_writer: about to recv. The 50 ms count from here, so
 * a reader descheduled after accept (a loaded machine) still waits them. */
static _Atomic int reader_ready, pipe_reader_ready;
static pthread_barrier_t ready;

static void sleep_ms(int ms)
{
	struct timespec d = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&d, &d) != 0)
		;
}

static long tid(void)
{
	return syscall(SYS_gettid);
}

static NOINLINE void hold_mutex(void)
{
	pthread_mutex_lock(&mutex);
	sleep_ms(5);
	pthread_mutex_unlock(&mutex);
}

static NOINLINE void *contender(void *arg)
{
	(void)arg;
	printf("contender_tid %ld\n", tid());
	pthread_barrier_wait(&ready);
	for (int i = 0; i < 3; i++)
		hold_mutex();
	return NULL;
}

static NOINLINE void *net_reader(void *arg)
{
	(void)arg;
	int fd = accept(listen_fd, NULL, NULL);
	char buf[16];
	printf("net_reader_tid %ld\n", tid());
	reader_ready = 1;
	ssize_t n = recv(fd, buf, sizeof buf, 0); /* blocks ~50 ms */
	printf("net_reader_got %zd\n", n);
	close(fd);
	return NULL;
}

static NOINLINE void *net_writer(void *arg)
{
	(void)arg;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	getsockname(listen_fd, (struct sockaddr *)&a, &len);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
		perror("connect");
	while (!reader_ready)
		sleep_ms(1);
	sleep_ms(50);
	if (send(fd, "ping", 4, 0) != 4)
		perror("send");
	sleep_ms(5);
	close(fd);
	return NULL;
}

static NOINLINE void *sleeper(void *arg)
{
	(void)arg;
	printf("sleeper_tid %ld\n", tid());
	struct timespec d = {0, 30000000L};
	nanosleep(&d, NULL);
	return NULL;
}

static NOINLINE void *consumer(void *arg)
{
	(void)arg;
	printf("consumer_tid %ld\n", tid());
	pthread_mutex_lock(&queue_lock);
	for (;;) {
		while (!queued && !done_producing)
			pthread_cond_wait(&queue_cond, &queue_lock);
		if (!queued)
			break;
		queued--;
	}
	pthread_mutex_unlock(&queue_lock);
	return NULL;
}

static NOINLINE void *producer(void *arg)
{
	(void)arg;
	printf("producer_tid %ld\n", tid());
	for (int i = 0; i < 5; i++) {
		sleep_ms(20);
		pthread_mutex_lock(&queue_lock);
		queued++;
		pthread_cond_signal(&queue_cond);
		pthread_mutex_unlock(&queue_lock);
	}
	sleep_ms(20);
	pthread_mutex_lock(&queue_lock);
	done_producing = 1;
	pthread_cond_broadcast(&queue_cond);
	pthread_mutex_unlock(&queue_lock);
	return NULL;
}

static NOINLINE void *pipe_reader(void *arg)
{
	(void)arg;
	printf("pipe_reader_tid %ld\n", tid());
	pipe_reader_ready = 1;
	char c;
	if (read(pipe_fds[0], &c, 1) != 1) /* blocks ~20 ms */
		perror("read");
	return NULL;
}

static NOINLINE void *pipe_writer(void *arg)
{
	(void)arg;
	printf("pipe_writer_tid %ld\n", tid());
	while (!pipe_reader_ready) /* the 20 ms count from the reader's read */
		sleep_ms(1);
	sleep_ms(20);
	if (write(pipe_fds[1], "x", 1) != 1)
		perror("write");
	return NULL;
}

/* Waits that time out: what they watch decides their category. */
static NOINLINE void *poller(void *arg)
{
	(void)arg;
	printf("poller_tid %ld\n", tid());
	int p[2], sv[2];
	if (pipe(p) || socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		perror("poller");
		return NULL;
	}
	struct pollfd pf = {.fd = p[0], .events = POLLIN};
	poll(&pf, 1, 15);
	fd_set r;
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	struct timeval tv = {0, 15000};
	select(p[0] + 1, &r, NULL, NULL, &tv);
	struct epoll_event ev = {.events = EPOLLIN}, out;
	int ep_pipe = epoll_create1(0), ep_sock = epoll_create1(0);
	epoll_ctl(ep_pipe, EPOLL_CTL_ADD, p[0], &ev);
	epoll_wait(ep_pipe, &out, 1, 15);
	struct pollfd sf = {.fd = sv[0], .events = POLLIN};
	poll(&sf, 1, 15);
	epoll_ctl(ep_sock, EPOLL_CTL_ADD, sv[0], &ev);
	epoll_wait(ep_sock, &out, 1, 15);
	close(ep_pipe);
	close(ep_sock);
	return NULL;
}

static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER;

static NOINLINE void *idler(void *arg)
{
	(void)arg;
	printf("idler_tid %ld\nidle_cond %p\n", tid(), (void *)&idle_cond);
	pthread_mutex_lock(&idle_lock);
	for (;;)
		pthread_cond_wait(&idle_cond, &idle_lock);
	return NULL;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("mutex %p\ncond %p\nmain_tid %ld\n", (void *)&mutex, (void *)&queue_cond, tid());
	listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bind(listen_fd, (struct sockaddr *)&a, sizeof a) || listen(listen_fd, 4)) {
		perror("bind");
		return 1;
	}
	if (pipe(pipe_fds)) {
		perror("pipe");
		return 1;
	}
	pthread_barrier_init(&ready, NULL, 4);
	void *(*fns[])(void *) = {contender, contender, contender, contender, net_reader, net_writer,
				  sleeper,   consumer,  producer,  pipe_reader, pipe_writer, poller};
	enum { N = sizeof fns / sizeof *fns };
	pthread_t t[N];
	for (int i = 0; i < N; i++)
		pthread_create(&t[i], NULL, fns[i], NULL);
	for (int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	pthread_t idle;
	pthread_create(&idle, NULL, idler, NULL);
	sleep_ms(30); /* it waits for good; exit ends the capture meanwhile */
	printf("done\n");
	return 0;
}
