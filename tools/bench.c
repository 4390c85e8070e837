// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * bench.c - records per second for each view of tcpflow-show.
 *
 *   make -C tools bench [BENCH_RECORDS=2000000]
 *
 * Writes a synthetic trace (loopback conversations, both ends traced,
 * handshake and teardown as in the fixtures, some IPv6) to a temporary
 * file, then runs the real command line (tfs_main) once per view with
 * output to /dev/null.  Each figure covers reading, parsing, the model
 * and the view: what a user waits for.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "show.h"

struct gen {
	FILE *f;
	uint64_t n, ts, conn;
};

static void rec(struct gen *g, uint64_t conn, const char *ev,
		const char *sock, int v6, const char *la, unsigned int lp,
		const char *ra, unsigned int rp, const char *old,
		const char *new, const char *st, const char *flags,
		uint32_t seq, uint32_t ack, const char *who)
{
	int seg = strcmp(ev, "state") != 0;

	g->n++;
	g->ts += 3000 + g->n % 7 * 1000;
	fprintf(g->f, "n=%llu ts=%llu cpu=%llu netns=4026531840 conn=%llu "
		"ev=%s sock=%s af=%d laddr=%s lport=%u raddr=%s rport=%u "
		"old=%s new=%s state=%s flags=%s ", (unsigned long long)g->n,
		(unsigned long long)g->ts, (unsigned long long)(g->n % 4),
		(unsigned long long)conn, ev, sock, v6 ? 6 : 4, la, lp, ra,
		rp, seg ? "-" : old, seg ? "-" : new, seg ? st : "-",
		seg ? flags : "-");
	if (seg)
		fprintf(g->f, "seq=%u ack=%u win=512 len=0 ", seq, ack);
	else
		fputs("seq=- ack=- win=- len=- ", g->f);
	if (strcmp(who, "-"))
		fprintf(g->f, "pid=312 comm=curl who=%s why=- dur=-\n", who);
	else
		fputs("pid=- comm=- who=- why=- dur=-\n", g->f);
}

/* One conversation, as tcpflow records it on loopback: 26 records. */
static void conversation(struct gen *g, uint64_t i)
{
	char ca[48], sa[48];
	int v6 = i % 10 == 9;
	unsigned int cp = 1024 + (unsigned int)(i % 60000), sp = 8080;
	uint64_t c = ++g->conn, s = ++g->conn;
	uint32_t x = (uint32_t)(i * 2654435761u), y = x ^ 0x5bd1e995u;

	if (v6) {
		snprintf(ca, sizeof(ca), "fd00::%x:%x", (unsigned int)(i >> 16),
			 (unsigned int)(i & 0xffff));
		strcpy(sa, "fd00::1");
	} else {
		snprintf(ca, sizeof(ca), "127.%u.%u.%u",
			 (unsigned int)(i >> 16 & 255),
			 (unsigned int)(i >> 8 & 255), (unsigned int)(i & 255));
		strcpy(sa, "127.0.0.1");
	}
#define C(...) rec(g, c, __VA_ARGS__)
#define S(...) rec(g, s, __VA_ARGS__)
	C("state", "full", v6, ca, cp, sa, sp, "CLOSE", "SYN_SENT", "", "",
	  0, 0, "cur");
	C("tx", "full", v6, ca, cp, sa, sp, "", "", "SYN_SENT", "S", x, 0,
	  "cur");
	S("state", "req", v6, sa, sp, ca, cp, "LISTEN", "NEW_SYN_RECV", "", "",
	  0, 0, "-");
	S("tx", "req", v6, sa, sp, ca, cp, "", "", "NEW_SYN_RECV", "S.", y,
	  x + 1, "-");
	C("rx", "full", v6, ca, cp, sa, sp, "", "", "SYN_SENT", "S.", y, x + 1,
	  "owner");
	C("state", "full", v6, ca, cp, sa, sp, "SYN_SENT", "ESTABLISHED", "",
	  "", 0, 0, "owner");
	C("tx", "full", v6, ca, cp, sa, sp, "", "", "ESTABLISHED", ".", x + 1,
	  y + 1, "owner");
	S("rx", "req", v6, sa, sp, ca, cp, "", "", "NEW_SYN_RECV", ".", x + 1,
	  y + 1, "-");
	S("state", "full", v6, sa, sp, ca, cp, "NEW_SYN_RECV", "SYN_RECV", "",
	  "", 0, 0, "-");
	S("state", "full", v6, sa, sp, ca, cp, "SYN_RECV", "ESTABLISHED", "",
	  "", 0, 0, "-");
	C("state", "full", v6, ca, cp, sa, sp, "ESTABLISHED", "FIN_WAIT1", "",
	  "", 0, 0, "cur");
	C("tx", "full", v6, ca, cp, sa, sp, "", "", "FIN_WAIT1", "F.", x + 79,
	  y + 521, "cur");
	S("rx", "full", v6, sa, sp, ca, cp, "", "", "ESTABLISHED", "F.",
	  x + 79, y + 521, "owner");
	S("state", "full", v6, sa, sp, ca, cp, "ESTABLISHED", "CLOSE_WAIT",
	  "", "", 0, 0, "owner");
	S("tx", "full", v6, sa, sp, ca, cp, "", "", "CLOSE_WAIT", ".", y + 521,
	  x + 80, "owner");
	C("rx", "full", v6, ca, cp, sa, sp, "", "", "FIN_WAIT1", ".", y + 521,
	  x + 80, "owner");
	C("state", "full", v6, ca, cp, sa, sp, "FIN_WAIT1", "FIN_WAIT2", "",
	  "", 0, 0, "owner");
	S("state", "full", v6, sa, sp, ca, cp, "CLOSE_WAIT", "LAST_ACK", "",
	  "", 0, 0, "cur");
	S("tx", "full", v6, sa, sp, ca, cp, "", "", "LAST_ACK", "F.", y + 521,
	  x + 80, "cur");
	C("rx", "full", v6, ca, cp, sa, sp, "", "", "FIN_WAIT2", "F.",
	  y + 521, x + 80, "owner");
	C("tx", "full", v6, ca, cp, sa, sp, "", "", "FIN_WAIT2", ".", x + 80,
	  y + 522, "owner");
	C("state", "tw", v6, ca, cp, sa, sp, "FIN_WAIT2", "TIME_WAIT", "", "",
	  0, 0, "owner");
	C("state", "full", v6, ca, cp, sa, sp, "FIN_WAIT2", "CLOSE", "", "", 0,
	  0, "owner");
	S("rx", "full", v6, sa, sp, ca, cp, "", "", "LAST_ACK", ".", x + 80,
	  y + 522, "owner");
	S("state", "full", v6, sa, sp, ca, cp, "LAST_ACK", "CLOSE", "", "", 0,
	  0, "owner");
	C("state", "tw", v6, ca, cp, sa, sp, "TIME_WAIT", "CLOSE", "", "", 0,
	  0, "owner");
#undef C
#undef S
}

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

/* user + system time of this process: fair on a busy machine too */
static double cpu(void)
{
	return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

int main(int argc, char **argv)
{
	uint64_t want = argc > 1 && atoll(argv[1]) > 0 ?
			(uint64_t)atoll(argv[1]) : 2000000;
	char path[] = "/tmp/tcpflow-bench-XXXXXX";
	char pcap[] = "/tmp/tcpflow-bench-pcap-XXXXXX";
	struct gen g = { .ts = 8000000000000ULL };
	const struct {
		const char *name;
		const char *args[4];
	} views[] = {
		{ "parse+model", { "--port", "1", NULL } },
		{ "ladder", { NULL } },
		{ "--states", { "--states", NULL } },
		{ "--json", { "--json", NULL } },
		{ "--pcap", { "--pcap", pcap, NULL } },
	};
	FILE *null = fopen("/dev/null", "w");
	int fd = mkstemp(path), pfd = mkstemp(pcap);
	double t, c;

	if (fd < 0 || pfd < 0 || !null || !(g.f = fdopen(fd, "w")))
		return 1;
	close(pfd);
	t = now();
	fprintf(g.f, "# tcpflow 1.0 capacity=%llu first=1 next=%llu "
		"overwritten=0 missed=0 segments=default port=- addr=- "
		"netns=-\n", (unsigned long long)want,
		(unsigned long long)want + 1);
	for (uint64_t i = 0; g.n < want; i++)
		conversation(&g, i);
	fclose(g.f);
	printf("bench: %llu records (%llu conversations) written to %s in "
	       "%.2f s\n", (unsigned long long)g.n,
	       (unsigned long long)g.conn / 2, path, now() - t);

	/* the floor: reading and splitting lines, nothing else */
	{
		struct tf_input in;
		const char *l;
		size_t len, lines = 0;
		int ifd = open(path, O_RDONLY);

		t = now();
		c = cpu();
		if (ifd < 0 || tf_input_init(&in, ifd))
			return 1;
		while (tf_input_next(&in, &l, &len, 1) == TF_IN_LINE)
			lines++;
		tf_input_free(&in);
		close(ifd);
		t = now() - t;
		c = cpu() - c;
		printf("%-12s %9.0f records/s of CPU time (%.2f s), %9.0f of "
		       "wall time (%.2f s)\n", "lines only", (double)g.n / c,
		       c, (double)g.n / t, t);
	}
	for (size_t v = 0; v < sizeof(views) / sizeof(views[0]); v++) {
		const char *av[8] = { "tcpflow-show", "-q" };
		int ac = 2, rc;

		for (int i = 0; views[v].args[i]; i++)
			av[ac++] = views[v].args[i];
		av[ac++] = path;
		av[ac] = NULL;
		t = now();
		c = cpu();
		rc = tfs_main(ac, (char **)av, null, stderr);
		t = now() - t;
		c = cpu() - c;
		printf("%-12s %9.0f records/s of CPU time (%.2f s), %9.0f of "
		       "wall time (%.2f s)%s\n", views[v].name, (double)g.n / c,
		       c, (double)g.n / t, t, rc ? ", FAILED" : "");
	}
	if (!getenv("BENCH_KEEP"))
		unlink(path);
	unlink(pcap);
	fclose(null);
	return 0;
}
