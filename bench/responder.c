/* ISC license. */
/*
 * bench/responder PORTFILE RULES: the smallest HTTP/1.1 server the
 * benchmarks need, so that a Python emulator is not what they measure.
 * RULES has one rule a line, "METHOD PREFIX FILE": a request whose method
 * is METHOD and whose target starts with PREFIX is answered 200 with FILE's
 * bytes (read once, at start) as application/json, with X-Nomad-Index and
 * X-Consul-Index 10; the first rule that matches wins, no rule is 404.
 * FILE "hold" answers a chunked "{}\n" and never ends it (an event stream
 * with nothing to say).  One thread, poll(2), keep-alive; it binds
 * 127.0.0.1 on a free port and writes the port to PORTFILE.  It counts the
 * requests of each rule and prints the counts on SIGTERM.  Not part of
 * albatros.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXCONN 4096
#define MAXRULE 32
#define BUFSZ 65536

struct rule {
	char method[16], prefix[512];
	char *resp;	/* the whole response, headers included */
	size_t len;
	int hold;
	unsigned long hits;
};

struct conn {
	char buf[BUFSZ];
	size_t len;
	int held;
};

static struct rule rules[MAXRULE];
static int nrules;
static struct conn *conns[MAXCONN];
static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void
load(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[2048], file[1024];

	if (f == NULL) {
		perror(path);
		exit(100);
	}
	while (fgets(line, sizeof line, f) && nrules < MAXRULE) {
		struct rule *r = &rules[nrules];
		char *body = NULL;
		size_t blen = 0;

		if (sscanf(line, "%15s %511s %1023s", r->method, r->prefix, file) != 3)
			continue;
		if (strcmp(file, "hold") == 0) {
			r->hold = 1;
			body = strdup("3\r\n{}\n\r\n");
			blen = strlen(body);
		} else {
			FILE *b = fopen(file, "r");
			if (b == NULL) {
				perror(file);
				exit(100);
			}
			body = malloc(1 << 20);
			blen = fread(body, 1, 1 << 20, b);
			fclose(b);
		}
		r->resp = malloc(blen + 256);
		r->len = (size_t)sprintf(r->resp, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		    "X-Nomad-Index: 10\r\nX-Consul-Index: 10\r\n%s\r\n",
		    r->hold ? "Transfer-Encoding: chunked\r\n" : "");
		if (!r->hold)
			r->len = (size_t)sprintf(r->resp, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			    "X-Nomad-Index: 10\r\nX-Consul-Index: 10\r\nContent-Length: %zu\r\n\r\n", blen);
		memcpy(r->resp + r->len, body, blen);
		r->len += blen;
		free(body);
		nrules++;
	}
	fclose(f);
}

static void
send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* Answer every complete request in c's buffer; 0 to keep the connection. */
static int
serve(int fd, struct conn *c)
{
	static const char nf[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";

	for (;;) {
		char *end = memmem(c->buf, c->len, "\r\n\r\n", 4), *cl;
		size_t head, body = 0, total;
		char method[16], target[1024];
		int i;

		if (end == NULL)
			return c->len == sizeof c->buf ? -1 : 0;
		head = (size_t)(end - c->buf) + 4;
		*end = 0;
		if ((cl = strcasestr(c->buf, "\r\ncontent-length:")) != NULL)
			body = strtoul(cl + 17, NULL, 10);
		if (body > sizeof c->buf - head)
			return -1;
		if (c->len < head + body) {
			*end = '\r';
			return 0;
		}
		total = head + body;
		if (sscanf(c->buf, "%15s %1023s", method, target) != 2)
			return -1;
		for (i = 0; i < nrules; i++)
			if (strcmp(rules[i].method, method) == 0 &&
			    strncmp(target, rules[i].prefix, strlen(rules[i].prefix)) == 0)
				break;
		if (i == nrules)
			send_all(fd, nf, sizeof nf - 1);
		else {
			rules[i].hits++;
			send_all(fd, rules[i].resp, rules[i].len);
			if (rules[i].hold)
				c->held = 1;
		}
		memmove(c->buf, c->buf + total, c->len - total);
		c->len -= total;
	}
}

int
main(int argc, char **argv)
{
	static struct pollfd pfd[MAXCONN];
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof sa;
	int ls, one = 1, n, i;
	FILE *pf;

	if (argc != 3) {
		fputs("usage: responder portfile rules\n", stderr);
		return 100;
	}
	load(argv[2]);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((ls = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 1024) < 0 ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl) < 0) {
		perror("responder");
		return 111;
	}
	if ((pf = fopen(argv[1], "w")) == NULL)
		return 111;
	fprintf(pf, "%d\n", ntohs(sa.sin_port));
	fclose(pf);
	for (i = 0; i < MAXCONN; i++)
		pfd[i].fd = -1;
	pfd[0].fd = ls;
	pfd[0].events = POLLIN;
	n = 1;
	while (!stop) {
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 111;
		}
		for (i = 1; i < n; i++) {
			struct conn *c = conns[i];
			ssize_t r;

			if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(pfd[i].fd, c->buf + c->len, sizeof c->buf - c->len);
			if (r > 0) {
				c->len += (size_t)r;
				if (c->held || serve(pfd[i].fd, c) == 0)
					continue;
			}
			close(pfd[i].fd);
			pfd[i].fd = -1;
			free(c);
			conns[i] = NULL;
		}
		if (pfd[0].revents & POLLIN) {
			int fd = accept(ls, NULL, NULL);
			for (i = 1; i < MAXCONN && fd >= 0; i++)
				if (pfd[i].fd < 0) {
					pfd[i].fd = fd;
					pfd[i].events = POLLIN;
					conns[i] = calloc(1, sizeof(struct conn));
					if (i >= n)
						n = i + 1;
					fd = -1;
				}
			if (fd >= 0)
				close(fd);
		}
		while (n > 1 && pfd[n - 1].fd < 0)
			n--;
	}
	for (i = 0; i < nrules; i++)
		fprintf(stderr, "%s %s %lu\n", rules[i].method, rules[i].prefix, rules[i].hits);
	return 0;
}
