/* viewer/async_out.c: buffers reach the file whole and in order while the
 * producer fills the other one; a write error is returned by finish. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "async_out.h"
#include "check.h"

int main(void)
{
	char path[] = "/tmp/test_async_out.XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	struct async_out a;
	size_t cap = 4096, total = 0;
	char *b = async_out_start(&a, fd, cap);
	CHECK(b != NULL);
	unsigned char x = 0;
	for (int i = 0; b && i < 500; i++) { /* lengths 0 .. cap, a byte sequence across them */
		size_t n = (size_t)(i * 37) % (cap + 1);
		for (size_t k = 0; k < n; k++)
			b[k] = (char)x++;
		total += n;
		b = async_out_swap(&a, b, n);
		CHECK(b != NULL);
	}
	CHECK(async_out_finish(&a) == 0);
	CHECK(lseek(fd, 0, SEEK_END) == (off_t)total);
	unsigned char *got = malloc(total);
	CHECK(got && pread(fd, got, total, 0) == (ssize_t)total);
	int same = 1;
	for (size_t k = 0; got && k < total; k++)
		same &= got[k] == (unsigned char)k;
	CHECK(same);
	free(got);
	close(fd);
	unlink(path);

	/* a full device: the error comes back once, the rest is dropped */
	int full = open("/dev/full", O_WRONLY);
	if (full >= 0) {
		b = async_out_start(&a, full, cap);
		CHECK(b != NULL);
		for (int i = 0; b && i < 10; i++) {
			memset(b, 'x', cap);
			b = async_out_swap(&a, b, cap);
		}
		CHECK(async_out_finish(&a) == ENOSPC);
		close(full);
	}
	return check_done("test_async_out");
}
