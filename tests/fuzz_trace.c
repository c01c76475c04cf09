/*
 * libFuzzer target over everything that reads a trace file: the reader, the
 * walk, every report (text and JSON), every pprof profile, Chrome JSON, the
 * dump, a task drill-down and the web UI's timeline index. Built and run by
 * tests/fuzz.sh (clang -fsanitize=fuzzer,address,undefined) from the seed
 * corpus in tests/fuzz/trace/. Each input is handed to the commands as a
 * file (a memfd, through /proc/self/fd), the way the CLI reads it.
 */
#define _GNU_SOURCE /* memfd_create */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "timeline.h"
#include "viewer.h"
#include "walk.h"

static int fd = -1;
static char path[64];
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fd = memfd_create("fuzz-trace", MFD_CLOEXEC);
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	devnull = fopen("/dev/null", "w");
	/* stdout (reports, pprof) and stderr (messages about bad input):
	 * tests/fuzz.sh runs with -close_fd_mask=3; crash reports still show */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size)
		return 0;
	static const char *const reports[] = {"threads", "net", "sync", "syscall", "sched", "tasks", "regions", "cpu"};
	for (size_t i = 0; i < sizeof reports / sizeof *reports; i++) {
		viewer_report(path, reports[i], 0, NULL);
		viewer_report(path, reports[i], 1, NULL);
	}
	viewer_report(path, "task:t", 0, NULL);
	viewer_report(path, "cpu", 0, "0:1000000");
	static const char *const profiles[] = {"net", "sync", "syscall", "sched", "cpu"};
	for (size_t i = 0; i < sizeof profiles / sizeof *profiles; i++)
		viewer_pprof(path, profiles[i]);
	viewer_json(path, "/dev/null");
	viewer_dump(path, devnull);
	/* the UI's index: the timeline consumer over the walk */
	struct walk w = {0};
	struct timeline tl = {0};
	struct walk_consumer c = timeline_consumer(&tl);
	walk_file(&w, path, &c, 1);
	timeline_free(&tl);
	walk_close(&w);
	return 0;
}
