/* fork_exec: forks twice; one child execs `sh -c "echo exec-ok"`, the
 * other keeps running this program's code and exits 7; the parent waits. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	fflush(stdout);
	pid_t a = fork();
	if (a == 0) {
		execl("/bin/sh", "sh", "-c", "echo exec-ok", (char *)NULL);
		_exit(127);
	}
	pid_t b = fork();
	if (b == 0) {
		usleep(2000);
		_exit(7);
	}
	int sa = 0, sb = 0;
	waitpid(a, &sa, 0);
	waitpid(b, &sb, 0);
	int ok = WIFEXITED(sa) && WEXITSTATUS(sa) == 0 && WIFEXITED(sb) && WEXITSTATUS(sb) == 7;
	printf("fork_exec: %s\n", ok ? "ok" : "FAILED");
	return ok ? 0 : 1;
}
