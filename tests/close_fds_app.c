/*
 * close_fds_app: a daemon-like program for issue item 5. It sleeps once
 * through a frame without unwind tables (the tracer unwinds it, libunwind
 * validates addresses through its pipe), closes every descriptor from 3 up
 * (close_range, as daemons do), opens its data file (which gets fd 3),
 * sleeps the same way on new threads, then writes its data. The file must hold the
 * data: the tracer must not have closed, read or written fd 3.
 *   close_fds_app FILE      exit 0 when FILE holds "data\n"
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

void noinfo_sleep(void);

/* A new thread: new stack pages and an empty validation cache in
 * libunwind, so it validates (through its pipe) again. */
static void *sleeper(void *arg)
{
	(void)arg;
	noinfo_sleep();
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	noinfo_sleep();
	noinfo_sleep();
	syscall(SYS_close_range, 3u, ~0u, 0u); /* raw: any libc */
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return perror(argv[1]), 1;
	for (int i = 0; i < 3; i++) {
		pthread_t t;
		pthread_create(&t, NULL, sleeper, NULL);
		pthread_join(t, NULL);
	}
	ssize_t n = write(fd, "data\n", 5);
	if (n != 5) {
		fprintf(stderr, "close_fds_app: write to fd %d: %zd (%m)\n", fd, n);
		return 1;
	}
	close(fd);
	char buf[16] = "";
	fd = open(argv[1], O_RDONLY);
	n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (n != 5 || strcmp(buf, "data\n") != 0) {
		fprintf(stderr, "close_fds_app: the file holds %zd bytes \"%s\"\n", n, buf);
		return 1;
	}
	return 0;
}
