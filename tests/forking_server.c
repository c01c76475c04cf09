/*
 * forking_server: a tiny pre-forking HTTP server shaped like nginx (a
 * master that forks workers without exec; each worker waits in
 * epoll_wait, takes connections with accept4 and answers with writev),
 * for the process-tree tests. Listens on 127.0.0.1, a free port, printed
 * as "port N" on stdout. SIGTERM to the master stops the workers and then
 * the master, which exits 0 once both have exited cleanly.
 *
 *   forking_server [workers [app]]     (default 2 workers)
 *
 * With app, the master also starts, before it prints the port, an exec'd
 * descendant that lives until the master ends: `sh -c "<self> sleeper;
 * true"` (a shell, and this program again sleeping in 20 ms naps); and on
 * each SIGUSR1 it forks a child that naps 5 x 40 ms and exits, and starts
 * `sh -c app` (fork + exec). For remote captures of a tree: descendants
 * exec'd before a capture and processes started during one.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop, spawn;

static void on_usr1(int sig)
{
	(void)sig;
	spawn = 1;
}

/* `sh -c cmd` in a child; returns its pid. */
static pid_t shell(const char *cmd)
{
	pid_t p = fork();
	if (p == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return p;
}

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void serve(int lfd)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	static const char body[] = "hello from forking_server\n";
	char head[128];
	int hlen = snprintf(head, sizeof head,
			    "HTTP/1.0 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", sizeof body - 1);
	while (!stop) {
		struct epoll_event got[8];
		int n = epoll_wait(ep, got, 8, 200);
		for (int i = 0; i < n; i++) {
			int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (c < 0)
				continue; /* the other worker took it */
			char req[2048];
			ssize_t k = read(c, req, sizeof req);
			if (k > 0) {
				struct iovec iov[2] = {{head, (size_t)hlen}, {(void *)body, sizeof body - 1}};
				if (writev(c, iov, 2) < 0)
					perror("writev");
			}
			close(c);
		}
	}
	close(ep);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "sleeper") == 0) { /* until its shell ends */
		pid_t parent = getppid();
		while (getppid() == parent)
			usleep(20000);
		return 0;
	}
	int workers = argc > 1 ? atoi(argv[1]) : 2;
	const char *app = argc > 2 ? argv[2] : NULL;
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	if (bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 128) ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen)) {
		perror("forking_server: listen");
		return 1;
	}
	struct sigaction sa = {.sa_handler = on_term};
	sigaction(SIGTERM, &sa, NULL);
	pid_t kids[64];
	workers = workers < 1 ? 1 : workers > 64 ? 64 : workers;
	for (int i = 0; i < workers; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			serve(lfd);
			exit(0);
		}
	}
	pid_t sleeper = -1;
	if (app) {
		char cmd[4200];
		snprintf(cmd, sizeof cmd, "'%s' sleeper; true", argv[0]);
		sleeper = shell(cmd);
		struct sigaction su = {.sa_handler = on_usr1};
		sigaction(SIGUSR1, &su, NULL);
	}
	printf("port %d\n", ntohs(a.sin_port));
	fflush(stdout);
	while (!stop) {
		pause();
		if (spawn && app) {
			spawn = 0;
			if (fork() == 0) {
				for (int i = 0; i < 5; i++)
					usleep(40000);
				exit(0);
			}
			shell(app);
		}
		while (waitpid(-1, NULL, WNOHANG) > 0) /* the spawned ones: workers end only after the loop */
			;
	}
	if (sleeper > 0)
		kill(sleeper, SIGTERM);
	int ok = 1;
	for (int i = 0; i < workers; i++)
		kill(kids[i], SIGTERM);
	for (int i = 0; i < workers; i++) {
		int st;
		while (waitpid(kids[i], &st, 0) < 0 && errno == EINTR)
			;
		ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	return ok ? 0 : 1;
}
