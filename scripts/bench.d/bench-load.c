// SPDX-License-Identifier: GPL-2.0
/*
 * bench-load.c - the workload of scripts/bench, in C because a python
 * client under QEMU TCG is about six times slower than the kernel work it
 * is meant to measure.
 *
 *   bench-load conns N THREADS PORT
 *	listen on 127.0.0.1:PORT; THREADS client threads make N connections
 *	in all (connect, write 1 byte, read the 1-byte reply, close) while
 *	THREADS server threads accept them (read 1 byte, write 1 byte, read
 *	until EOF, close: the client closes first).  The listener is then
 *	shut down.  Prints "conns=N secs=S rate=R" (connections per second,
 *	from the moment all threads are released to the last server close).
 *
 *   bench-load bulk BYTES PORT
 *	one connection on 127.0.0.1:PORT: the client writes BYTES in 128 KiB
 *	writes and shuts down; the server reads to EOF and closes; the client
 *	reads EOF and closes.  Prints "bytes=B secs=S mbps=R" (MB = 10^6 B).
 *
 * Then a line "mib NAME=DELTA ...": every counter of the network
 * namespace's Tcp and TcpExt statistics (/proc/net/snmp, /proc/net/netstat)
 * that moved while the workload ran (InSegs, OutSegs, DelayedACKs,
 * TCPBacklogCoalesce...), to check a tracer's counts against.
 *
 * Exit status 0 when every connection did exactly that, 1 otherwise (the
 * message says what went wrong).  Bounded: N connections, BYTES bytes, and
 * everything on the loopback address.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in srv_addr;
static int lfd;
static long total;			/* connections to make */
static atomic_long next_client;		/* connections handed to clients */
static atomic_long served;		/* connections a server finished */
static atomic_int failed;
static pthread_barrier_t start;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the namespace's TCP counters, before and after ------------------- */

#define MIB_MAX 256

struct mib {
	int n;
	char name[MIB_MAX][48];
	long long val[MIB_MAX];
};

/* "Proto: name name ..." then "Proto: value value ..." for each proto. */
static void mib_file(struct mib *m, const char *path)
{
	static char names[16384], vals[16384];
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	while (fgets(names, sizeof(names), f) && fgets(vals, sizeof(vals), f)) {
		char *sn, *sv, *pn, *pv, *n, *v;
		size_t plen;

		pn = strtok_r(names, " \n", &sn);
		pv = strtok_r(vals, " \n", &sv);
		if (!pn || !pv || strcmp(pn, pv) ||
		    (strcmp(pn, "Tcp:") && strcmp(pn, "TcpExt:")))
			continue;
		plen = strlen(pn) - 1;
		while ((n = strtok_r(NULL, " \n", &sn)) &&
		       (v = strtok_r(NULL, " \n", &sv)) && m->n < MIB_MAX) {
			snprintf(m->name[m->n], sizeof(m->name[0]), "%.*s.%s",
				 (int)plen, pn, n);
			m->val[m->n++] = atoll(v);
		}
	}
	fclose(f);
}

static void mib_read(struct mib *m)
{
	m->n = 0;
	mib_file(m, "/proc/net/snmp");
	mib_file(m, "/proc/net/netstat");
}

static struct mib mib0, mib1;

static void mib_print(void)
{
	int i;

	mib_read(&mib1);
	printf("mib");
	for (i = 0; i < mib1.n && i < mib0.n; i++)
		if (mib1.val[i] != mib0.val[i] &&
		    !strcmp(mib1.name[i], mib0.name[i]) &&
		    strcmp(mib1.name[i], "Tcp.CurrEstab"))
			printf(" %s=%lld", mib1.name[i],
			       mib1.val[i] - mib0.val[i]);
	printf("\n");
}

static void fail(const char *what)
{
	fprintf(stderr, "bench-load: %s: %s\n", what, strerror(errno));
	atomic_store(&failed, 1);
}

static int listener(int port, int backlog)
{
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	srv_addr.sin_family = AF_INET;
	srv_addr.sin_port = htons(port);
	srv_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&srv_addr, sizeof(srv_addr)) ||
	    listen(fd, backlog)) {
		perror("bench-load: listen");
		exit(1);
	}
	return fd;
}

static void *client(void *arg)
{
	char c = 'q';

	(void)arg;
	pthread_barrier_wait(&start);
	while (atomic_fetch_add(&next_client, 1) < total) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0) {
			fail("socket");
			break;
		}
		if (connect(fd, (struct sockaddr *)&srv_addr,
			    sizeof(srv_addr))) {
			fail("connect");
			close(fd);
			break;
		}
		if (write(fd, &c, 1) != 1)
			fail("client write");
		else if (read(fd, &c, 1) != 1)
			fail("client read");
		close(fd);
		if (atomic_load(&failed))
			break;
	}
	if (atomic_load(&failed))
		shutdown(lfd, SHUT_RDWR);	/* no server waits in vain */
	return NULL;
}

static void *server(void *arg)
{
	char c;

	(void)arg;
	pthread_barrier_wait(&start);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0) {
			/* shutdown() of the listener ends the run */
			if (errno != EINVAL && errno != EBADF)
				fail("accept");
			break;
		}
		if (read(fd, &c, 1) != 1)
			fail("server read");
		else if (write(fd, &c, 1) != 1)
			fail("server write");
		else if (read(fd, &c, 1) != 0)
			fail("server read EOF");
		close(fd);
		if (atomic_fetch_add(&served, 1) + 1 >= total ||
		    atomic_load(&failed))
			shutdown(lfd, SHUT_RDWR);	/* wakes the others */
	}
	return NULL;
}

static int conns(long n, int threads, int port)
{
	pthread_t tid[64];
	double t0, t1;
	int i;

	if (n < 1 || threads < 1 || threads > 32) {
		fprintf(stderr, "bench-load: want 1 <= THREADS <= 32, N >= 1\n");
		return 2;
	}
	total = n;
	lfd = listener(port, 4096);
	pthread_barrier_init(&start, NULL, 2 * threads + 1);
	for (i = 0; i < threads; i++) {
		pthread_create(&tid[i], NULL, server, NULL);
		pthread_create(&tid[threads + i], NULL, client, NULL);
	}
	/* No thread passes the barrier before us: the clock starts first. */
	t0 = now();
	pthread_barrier_wait(&start);
	for (i = 0; i < 2 * threads; i++)
		pthread_join(tid[i], NULL);
	t1 = now();
	close(lfd);
	if (atomic_load(&failed) || atomic_load(&served) != n) {
		fprintf(stderr, "bench-load: %ld of %ld connections served\n",
			atomic_load(&served), n);
		return 1;
	}
	printf("conns=%ld secs=%.6f rate=%.1f\n", n, t1 - t0, n / (t1 - t0));
	return 0;
}

static long bulk_got;

static void *bulk_server(void *arg)
{
	static char buf[256 << 10];
	int fd = accept(lfd, NULL, NULL);
	ssize_t r;

	(void)arg;
	if (fd < 0) {
		fail("accept");
		return NULL;
	}
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		bulk_got += r;
	if (r < 0)
		fail("server read");
	close(fd);
	return NULL;
}

static int bulk(long bytes, int port)
{
	static char buf[128 << 10];
	pthread_t tid;
	double t0, t1;
	long left = bytes;
	int fd;
	char c;

	memset(buf, 'b', sizeof(buf));
	lfd = listener(port, 16);
	pthread_create(&tid, NULL, bulk_server, NULL);
	t0 = now();
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&srv_addr,
			      sizeof(srv_addr))) {
		fail("connect");
		return 1;
	}
	while (left > 0) {
		ssize_t w = write(fd, buf, left < (long)sizeof(buf) ?
				  (size_t)left : sizeof(buf));

		if (w <= 0) {
			fail("client write");
			break;
		}
		left -= w;
	}
	shutdown(fd, SHUT_WR);
	if (read(fd, &c, 1) != 0)
		fail("client read EOF");
	close(fd);
	pthread_join(tid, NULL);
	t1 = now();
	close(lfd);
	if (atomic_load(&failed) || bulk_got != bytes) {
		fprintf(stderr, "bench-load: server got %ld of %ld bytes\n",
			bulk_got, bytes);
		return 1;
	}
	printf("bytes=%ld secs=%.6f mbps=%.1f\n", bytes, t1 - t0,
	       bytes / (t1 - t0) / 1e6);
	return 0;
}

int main(int argc, char **argv)
{
	int ret = 2;

	setvbuf(stdout, NULL, _IOLBF, 0);
	mib_read(&mib0);
	if (argc == 5 && !strcmp(argv[1], "conns"))
		ret = conns(atol(argv[2]), atoi(argv[3]), atoi(argv[4]));
	else if (argc == 4 && !strcmp(argv[1], "bulk"))
		ret = bulk(atol(argv[2]), atoi(argv[3]));
	else
		fprintf(stderr, "usage: bench-load conns N THREADS PORT\n"
			"       bench-load bulk BYTES PORT\n");
	if (ret != 2)
		mib_print();
	return ret;
}
