/*
 * run_rusage: runs a command and prints "WALL_US CPU_US MAXRSS_KB" on
 * stderr (or to -o FILE): wall time, user + system CPU of the command and
 * all its waited-for descendants (getrusage RUSAGE_CHILDREN, microseconds,
 * unlike /usr/bin/time's 10 ms), and the largest resident set among them.
 *   run_rusage [-o FILE] COMMAND [ARG]...
 * Exits with the command's status.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *out = NULL;
	int a = 1;
	if (a + 1 < argc && strcmp(argv[a], "-o") == 0) {
		out = argv[a + 1];
		a += 2;
	}
	if (a >= argc) {
		fprintf(stderr, "usage: run_rusage [-o FILE] COMMAND [ARG]...\n");
		return 2;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t pid = fork();
	if (pid < 0) {
		perror("run_rusage: fork");
		return 2;
	}
	if (pid == 0) {
		execvp(argv[a], argv + a);
		perror("run_rusage: exec");
		_exit(127);
	}
	int status;
	struct rusage ru;
	if (wait4(pid, &status, 0, &ru) < 0) {
		perror("run_rusage: wait4");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long long wall = (long long)(t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
	long long cpu = (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec +
			ru.ru_stime.tv_usec;
	FILE *f = out ? fopen(out, "w") : stderr;
	if (!f) {
		perror("run_rusage: -o");
		return 2;
	}
	fprintf(f, "%lld %lld %ld\n", wall, cpu, ru.ru_maxrss);
	if (out)
		fclose(f);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
