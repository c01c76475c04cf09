/* tiny_http N: serves N HTTP requests on 127.0.0.1 (a free port, printed
 * first as "port P"), each answered "hello from tiny_http\n", then exits. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 8) || getsockname(s, (struct sockaddr *)&a, &len))
		return perror("listen"), 1;
	printf("port %d\n", ntohs(a.sin_port));
	fflush(stdout);
	static const char body[] = "hello from tiny_http\n";
	for (int i = 0; i < n; i++) {
		int c = accept(s, NULL, NULL);
		if (c < 0)
			return perror("accept"), 1;
		char req[4096];
		ssize_t got = 0, k;
		while (got < (ssize_t)sizeof req - 1 && (k = recv(c, req + got, sizeof req - 1 - (size_t)got, 0)) > 0) {
			got += k;
			req[got] = 0;
			if (strstr(req, "\r\n\r\n"))
				break;
		}
		char resp[256];
		int m = snprintf(resp, sizeof resp,
				 "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
				 "Connection: close\r\n\r\n%s", sizeof body - 1, body);
		if (send(c, resp, (size_t)m, 0) != m)
			perror("send");
		close(c);
	}
	return 0;
}
