/*
 * as_limit_app: issue item 4. Blocks (stacks captured), lowers its own
 * address-space limit to what it uses now plus HEADROOM_KB (argv[1],
 * default 0), blocks again through new call sites, and returns: the
 * CPROF_TRACE_FILE capture then symbolizes the new stacks at exit with no
 * memory to spare. libdw crashed there (SIGSEGV in dwarf_getsrclines) and
 * the trace lost its end marker; now the frames degrade and the file ends
 * complete.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static long vm_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0;
	if (f) {
		if (fscanf(f, "%ld", &pages) != 1)
			pages = 0;
		fclose(f);
	}
	return pages * (sysconf(_SC_PAGESIZE) / 1024);
}

__attribute__((noinline)) static void before_limit(void)
{
	struct timespec d = {0, 2000000};
	nanosleep(&d, NULL);
}

__attribute__((noinline)) static void after_limit(void)
{
	struct timespec d = {0, 2000000};
	nanosleep(&d, NULL);
	usleep(3000);
}

int main(int argc, char **argv)
{
	before_limit();
	long kb = vm_kb() + (argc > 1 ? atol(argv[1]) : 0);
	struct rlimit r = {(rlim_t)kb * 1024, (rlim_t)kb * 1024};
	if (setrlimit(RLIMIT_AS, &r))
		return perror("setrlimit"), 1;
	after_limit();
	return 0;
}
