// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * test_model.c - conversations: joining both ends, the listener's SYN,
 * resets with no socket, relative numbers, marks; filters; -f; colour.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "test.h"

#define FIX(name) TESTDATA "/fixtures/" name ".trace"

static int load_fixture(struct tf_trace *t, const char *path)
{
	char *text = read_file(path, NULL), *err = NULL;
	int ret;

	if (!text)
		return -1;
	ret = load_text(t, text, &err);
	free(text);
	free(err);
	return ret;
}

static const struct tf_rec *rec_n(const struct tf_trace *t, uint64_t n)
{
	for (size_t i = 0; i < t->nrec; i++)
		if (t->rec[i].r.n == n)
			return &t->rec[i];
	fail_msg("no record n=%llu", (unsigned long long)n);
	return NULL;
}

static size_t count_kind(const struct tf_trace *t, int kind)
{
	size_t n = 0;

	for (size_t j = 0; j < t->ngroup; j++)
		n += t->group[j].kind == kind;
	return n;
}

static const struct tf_group *first_conv(const struct tf_trace *t)
{
	for (size_t j = 0; j < t->ngroup; j++)
		if (t->group[j].kind == TF_G_CONV)
			return &t->group[j];
	fail_msg("no conversation");
	return NULL;
}

static void join_loopback(void **state)
{
	struct tf_trace t;
	const struct tf_group *g;

	(void)state;
	assert_int_equal(load_fixture(&t, FIX("loopback-ipv4")), 0);
	assert_int_equal(count_kind(&t, TF_G_CONV), 1);
	assert_int_equal(count_kind(&t, TF_G_LISTENER), 1);
	g = first_conv(&t);
	assert_int_equal(g->number, 1);
	assert_int_equal(t.conn[g->conn[0]].id, 4097);
	assert_int_equal(t.conn[g->conn[1]].id, 4098);
	assert_int_equal(g->port[0], 40000);
	assert_int_equal(g->port[1], 8080);
	/* the SYN recorded on the listener joins the conversation */
	const struct tf_rec *syn_rx = rec_n(&t, 4), *syn_tx = rec_n(&t, 3);

	assert_true(syn_rx->mark & TF_MK_ATTACHED);
	assert_int_equal(syn_rx->group, syn_tx->group);
	assert_int_equal(syn_rx->side, 1);
	/* one segment, two records: drawn once */
	assert_int_equal(t.rec[syn_tx->twin].r.n, 4);
	assert_true(syn_rx->mark & TF_MK_SKIP);
	assert_false(syn_tx->mark & TF_MK_SKIP);
	/* every segment of this trace was seen at both ends */
	for (size_t i = 0; i < t.nrec; i++)
		if (tf_is_seg(&t.rec[i]))
			assert_true(t.rec[i].twin >= 0);
	/* the listener keeps its own records */
	assert_int_equal(t.group[rec_n(&t, 1)->group].kind, TF_G_LISTENER);
	/* ISNs: relative numbers start there */
	assert_int_equal(g->base[0], 1633335101U);
	assert_int_equal(g->base[1], 2891423456U);
	/* the full sock's CLOSE after its tw took over is not drawn */
	assert_true(rec_n(&t, 21)->mark & TF_MK_HIDDEN);
	assert_true(rec_n(&t, 20)->mark & TF_MK_HIDDEN);
	assert_false(rec_n(&t, 25)->mark & TF_MK_HIDDEN);
	tf_trace_free(&t);
}

static void join_two_netns(void **state)
{
	struct tf_trace t;
	const struct tf_group *g;

	(void)state;
	assert_int_equal(load_fixture(&t, FIX("halfclose")), 0);
	assert_int_equal(count_kind(&t, TF_G_CONV), 1);
	g = first_conv(&t);
	assert_int_equal(t.conn[g->conn[0]].id, 20481);
	assert_int_equal(t.conn[g->conn[1]].id, 20483);
	assert_int_not_equal(t.rec[t.conn[g->conn[0]].first].r.netns,
			     t.rec[t.conn[g->conn[1]].first].r.netns);
	tf_trace_free(&t);
}

/* A record line with the fields the model looks at. */
static int line(char *buf, size_t size, int n, uint64_t ts, uint64_t conn,
		const char *ev, const char *ep, const char *old,
		const char *new, const char *st, const char *flags,
		const char *seq, const char *ack)
{
	return snprintf(buf, size, "n=%d ts=%llu cpu=0 netns=1 conn=%llu "
			"ev=%s sock=full af=4 %s old=%s new=%s state=%s "
			"flags=%s seq=%s ack=%s win=%s len=%s pid=- comm=- "
			"who=- why=- dur=-\n", n, (unsigned long long)ts,
			(unsigned long long)conn, ev, ep, old, new, st, flags,
			seq, ack, strcmp(ev, "state") ? "100" : "-",
			strcmp(ev, "state") ? "0" : "-");
}

#define EP_C "laddr=10.0.0.1 lport=5000 raddr=10.0.0.2 rport=80"
#define EP_S "laddr=10.0.0.2 lport=80 raddr=10.0.0.1 rport=5000"

static void no_join_far_apart(void **state)
{
	char text[4096];
	size_t n = 0;
	struct tf_trace t;
	char *err;

	(void)state;
	/* mirrored 4-tuples, no SYN, minutes apart: two conversations */
	n += (size_t)line(text + n, sizeof(text) - n, 1, 1000, 11, "state",
			  EP_C, "ESTABLISHED", "FIN_WAIT1", "-", "-", "-",
			  "-");
	n += (size_t)line(text + n, sizeof(text) - n, 2, 2000, 11, "state",
			  EP_C, "FIN_WAIT1", "CLOSE", "-", "-", "-", "-");
	n += (size_t)line(text + n, sizeof(text) - n, 3, 500000000000ULL, 12,
			  "state", EP_S, "ESTABLISHED", "CLOSE_WAIT", "-", "-",
			  "-", "-");
	assert_int_equal(load_text(&t, text, &err), 0);
	assert_string_equal(err, "");
	assert_int_equal(count_kind(&t, TF_G_CONV), 2);
	tf_trace_free(&t);
	free(err);

	/* ... but at the same time they are one */
	n = 0;
	n += (size_t)line(text + n, sizeof(text) - n, 1, 1000, 11, "state",
			  EP_C, "ESTABLISHED", "FIN_WAIT1", "-", "-", "-",
			  "-");
	n += (size_t)line(text + n, sizeof(text) - n, 2, 1500, 12, "state",
			  EP_S, "ESTABLISHED", "CLOSE_WAIT", "-", "-", "-",
			  "-");
	n += (size_t)line(text + n, sizeof(text) - n, 3, 2000, 11, "state",
			  EP_C, "FIN_WAIT1", "FIN_WAIT2", "-", "-", "-", "-");
	assert_int_equal(load_text(&t, text, &err), 0);
	assert_int_equal(count_kind(&t, TF_G_CONV), 1);
	/* no SYN: the higher port is the client's habit */
	assert_int_equal(t.conn[first_conv(&t)->conn[0]].id, 11);
	tf_trace_free(&t);
	free(err);
}

static void isn_picks_the_peer(void **state)
{
	char text[4096];
	size_t n = 0;
	struct tf_trace t;
	char *err;

	(void)state;
	/*
	 * The same 4-tuple twice at once (two netns, same addresses): only
	 * the sequence numbers tell which server end answered which client.
	 */
	n += (size_t)line(text + n, sizeof(text) - n, 1, 100, 21, "tx", EP_C,
			  "-", "-", "SYN_SENT", "S", "1000", "0");
	n += (size_t)line(text + n, sizeof(text) - n, 2, 110, 31, "tx", EP_C,
			  "-", "-", "SYN_SENT", "S", "7000", "0");
	n += (size_t)line(text + n, sizeof(text) - n, 3, 120, 32, "tx", EP_S,
			  "-", "-", "SYN_RECV", "S.", "9000", "7001");
	n += (size_t)line(text + n, sizeof(text) - n, 4, 130, 22, "tx", EP_S,
			  "-", "-", "SYN_RECV", "S.", "5000", "1001");
	assert_int_equal(load_text(&t, text, &err), 0);
	assert_int_equal(count_kind(&t, TF_G_CONV), 2);
	assert_int_equal(rec_n(&t, 1)->group, rec_n(&t, 4)->group);
	assert_int_equal(rec_n(&t, 2)->group, rec_n(&t, 3)->group);
	tf_trace_free(&t);
	free(err);
}

static void reset_without_socket(void **state)
{
	struct tf_trace t;
	const struct tf_rec *rst;

	(void)state;
	assert_int_equal(load_fixture(&t, FIX("refused")), 0);
	assert_int_equal(t.ngroup, 1);
	rst = rec_n(&t, 3);
	assert_int_equal(rst->r.sock, TCPFLOW_SK_NONE);
	assert_true(rst->mark & TF_MK_ATTACHED);
	assert_int_equal(rst->side, 1);
	assert_int_equal(t.rec[rst->twin].r.n, 4);
	tf_trace_free(&t);
}

static void lost_ack_marks(void **state)
{
	struct tf_trace t;

	(void)state;
	assert_int_equal(load_fixture(&t, FIX("lost-ack")), 0);
	/* the first last ACK never arrived; the second one did */
	assert_true(rec_n(&t, 22)->mark & TF_MK_NOTRECV);
	assert_int_equal(rec_n(&t, 22)->twin, -1);
	assert_true(rec_n(&t, 25)->mark & TF_MK_RETRANS);
	assert_true(rec_n(&t, 28)->mark & TF_MK_DUPACK);
	assert_int_equal(t.rec[rec_n(&t, 28)->twin].r.n, 29);
	assert_false(rec_n(&t, 20)->mark & TF_MK_RETRANS);
	tf_trace_free(&t);
}

static void relative_numbers(void **state)
{
	struct run r;

	(void)state;
	run_cli(&r, FIX("loopback-ipv4"));
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "[S] seq=0 -"));
	assert_non_null(strstr(r.out, "[S.] seq=0 ack=1 -"));
	assert_non_null(strstr(r.out, "[.] seq=1 ack=1 -"));
	assert_non_null(strstr(r.out, "[F.] seq=79 ack=521 -"));
	assert_non_null(strstr(r.out, "[.] seq=80 ack=522 -"));
	run_free(&r);
	run_cli(&r, "-S", FIX("loopback-ipv4"));
	assert_non_null(strstr(r.out, "[S] seq=1633335101 -"));
	assert_non_null(strstr(r.out, "[S.] seq=2891423456 ack=1633335102"));
	run_free(&r);
	/* across 2^32: the server's ISN is 4294967000 */
	run_cli(&r, FIX("lost-ack"));
	assert_non_null(strstr(r.out, "[F.] seq=301 ack=42 -"));
	run_free(&r);
	/* a reset to a SYN, Wireshark style */
	run_cli(&r, FIX("refused"));
	assert_non_null(strstr(r.out, "[R.] seq=1 ack=1 -"));
	run_free(&r);
}

static void one_end_only(void **state)
{
	char *text = read_file(FIX("loopback-ipv4"), NULL), path[64];
	char *keep = calloc(1, strlen(text) + 1), *save, *l;
	struct run r;
	int fd;

	(void)state;
	for (l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n",
							       &save))
		if (strstr(l, "conn=4097 ")) {
			strcat(keep, l);
			strcat(keep, "\n");
		}
	fd = text_file(keep, strlen(keep), path, sizeof(path));
	run_cli(&r, path);
	assert_non_null(strstr(r.out, "one end traced"));
	assert_non_null(strstr(r.out, "(not traced)"));
	assert_non_null(strstr(r.out, "|<----- [S.] seq=0 ack=1 ------|"));
	assert_non_null(strstr(r.out, "|--------- [S] seq=0 --------->|"));
	run_free(&r);
	close(fd);
	free(keep);
	free(text);
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static size_t count_str(const char *s, const char *what)
{
	size_t n = 0;

	for (; (s = strstr(s, what)); s++)
		n++;
	return n;
}

/*
 * A real guest trace appended to itself (cat t t | tcpflow-show -): every
 * view shows what the trace alone shows, after one warning.  The second
 * copy's first record is line 32 (its header is line 31).
 */
static void read_twice(void **state)
{
	static const char *const views[][2] = {
		{ "--explain", NULL }, { "-S", NULL }, { "--json", NULL },
		{ "--states", NULL }, { "--json", "-p8080" }, { NULL, NULL },
	};
	size_t len;
	char *text = read_file(FIX("real-loopback-v4"), &len), path[2][64];
	char *twice = malloc(2 * len + 1);
	int fd[2];

	(void)state;
	memcpy(twice, text, len);
	memcpy(twice + len, text, len);
	fd[0] = text_file(text, len, path[0], sizeof(path[0]));
	fd[1] = text_file(twice, 2 * len, path[1], sizeof(path[1]));
	for (size_t v = 0; v < sizeof(views) / sizeof(views[0]); v++) {
		struct run once, two;

		lseek(fd[0], 0, SEEK_SET);
		lseek(fd[1], 0, SEEK_SET);
		if (!views[v][0]) {
			run_cli(&once, path[0]);
			run_cli(&two, path[1]);
		} else if (views[v][1]) {
			run_cli(&once, views[v][0], views[v][1], path[0]);
			run_cli(&two, views[v][0], views[v][1], path[1]);
		} else {
			run_cli(&once, views[v][0], path[0]);
			run_cli(&two, views[v][0], path[1]);
		}
		assert_int_equal(two.rc, 0);
		assert_string_equal(once.err, "");
		assert_string_equal(two.out, once.out);
		assert_string_equal(two.err, "tcpflow-show: line 32: record n=1 "
				    "was read before (the same trace twice?): "
				    "dropped, as is every later repeat\n");
		assert_null(strstr(two.out, "[retransmission]"));
		run_free(&once);
		run_free(&two);
	}
	close(fd[0]);
	close(fd[1]);
	free(twice);
	free(text);
}

/* Numbers that start again with other records: a new trace, kept. */
static void new_trace_not_a_repeat(void **state)
{
	size_t l1, l2;
	char *a = read_file(FIX("real-loopback-v4"), &l1);
	char *b = read_file(FIX("refused"), &l2), path[64];
	char *both = malloc(l1 + l2 + 1);
	struct run r;
	int fd;

	(void)state;
	memcpy(both, a, l1);
	memcpy(both + l1, b, l2);
	fd = text_file(both, l1 + l2, path, sizeof(path));
	run_cli(&r, "--json", path);
	assert_string_equal(r.err, "");
	assert_int_equal(count_str(r.out, "\"n\":1,"), 2);
	assert_int_equal(count_lines(r.out), 29 + 5);
	run_free(&r);
	close(fd);
	free(both);
	free(a);
	free(b);
}

/*
 * Derive a trace from a real one: each op is "keep S1 S2..." (only the
 * record lines holding one of these strings, e.g. "conn=88 "), "drop N",
 * "set N key=value...", "copy N key=value..." (a copy of record N, with
 * these values, appended), "ins M N key=value..." (the same, inserted
 * after record M), "renumber" (n from the first record's on, as
 * if the module had never made the records taken out).  Keys are
 * replaced in place; the header stays.
 */
static void set_keys(char *l, size_t size, const char *kv)
{
	char key[32], val[128];

	while (sscanf(kv, " %31[^=]=%127s", key, val) == 2) {
		char pat[40], *p, *e, tmp[1024];

		snprintf(pat, sizeof(pat), " %s=", key);
		p = strncmp(l, pat + 1, strlen(pat) - 1) ? strstr(l, pat) :
		    l - 1;
		if (!p)
			fail_msg("no key %s in %s", key, l);
		p += strlen(pat);
		e = p + strcspn(p, " \n");
		snprintf(tmp, sizeof(tmp), "%.*s%s%s", (int)(p - l), l, val, e);
		snprintf(l, size, "%s", tmp);
		kv = strchr(kv, '=') + 1;
		kv += strcspn(kv, " ");
	}
}

static unsigned long long rec_no(const char *l)
{
	return strncmp(l, "n=", 2) ? 0 : strtoull(l + 2, NULL, 10);
}

static const char *find_rec(char **lines, size_t n, unsigned long long k)
{
	for (size_t i = 0; i < n; i++)
		if (rec_no(lines[i]) == k)
			return lines[i];
	fail_msg("no record n=%llu", k);
	return NULL;
}

static char *derive(const char *path, const char *const *ops)
{
	char *text = read_file(path, NULL), *save, *l, *lines[4096];
	size_t cap = strlen(text) * 2 + 65536, n = 0, nl = 0;
	char *out = calloc(1, cap), *adds = calloc(1, 65536);
	unsigned long long next_n = 0;
	int renumber = 0;

	for (const char *const *op = ops; *op; op++)
		renumber |= !strcmp(*op, "renumber");
	for (l = strtok_r(text, "\n", &save); l && nl < 4096;
	     l = strtok_r(NULL, "\n", &save))
		lines[nl++] = l;
	for (size_t i = 0; i < nl; i++) {
		char line[1024], ins[8][1024];
		int keep = 1, nins = 0;

		snprintf(line, sizeof(line), "%s\n", lines[i]);
		for (const char *const *op = ops; *op; op++) {
			char what[8];
			unsigned long long k, src;
			int used = 0;

			if (!strncmp(*op, "keep ", 5) && rec_no(line)) {
				char w[64];
				const char *q = *op + 5;

				keep = 0;
				while (sscanf(q, " %63s%n", w, &used) == 1) {
					char pat[70];

					snprintf(pat, sizeof(pat), " %s ", w);
					if (strstr(line, pat))
						keep = 1;
					q += used;
				}
				continue;
			}
			if (sscanf(*op, "%7s %llu%n", what, &k, &used) != 2 ||
			    rec_no(line) != k)
				continue;
			if (!strcmp(what, "drop")) {
				keep = -1;
			} else if (!strcmp(what, "set")) {
				set_keys(line, sizeof(line), *op + used);
			} else if (!strcmp(what, "copy")) {
				char c[1024];

				snprintf(c, sizeof(c), "%s", line);
				set_keys(c, sizeof(c), *op + used);
				strcat(adds, c);
			} else if (!strcmp(what, "ins") && nins < 8) {
				int u2 = 0;

				sscanf(*op + used, " %llu%n", &src, &u2);
				snprintf(ins[nins], sizeof(ins[0]), "%s\n",
					 find_rec(lines, nl, src));
				set_keys(ins[nins], sizeof(ins[0]),
					 *op + used + u2);
				nins++;
			}
		}
		for (int j = -1; j < nins; j++) {
			char *x = j < 0 ? line : ins[j];

			if (j < 0 && keep <= 0)
				continue;
			if (renumber && rec_no(x)) {
				char nv[32];

				if (!next_n)
					next_n = rec_no(x);
				snprintf(nv, sizeof(nv), "n=%llu", next_n++);
				set_keys(x, sizeof(line), nv);
			}
			strcpy(out + n, x);
			n += strlen(x);
		}
	}
	strcpy(out + n, adds);
	free(adds);
	free(text);
	return out;
}

/* Run the command line on a derived trace. */
static void run_text(struct run *r, const char *text, const char *opt)
{
	char path[64];
	int fd = text_file(text, strlen(text), path, sizeof(path));

	if (opt)
		run_cli(r, opt, path);
	else
		run_cli(r, path);
	close(fd);
}

#define REAL FIX("real-guest-scenarios")
#define SYNOPTS FIX("real-guest-synopts")
/* conversation 14 of that trace: the server closes first, the client
 * reconnects from the same port 55 ms later (the "reuse" scenario) */
#define CONV14 "keep conn=87 conn=88 conn=4145"

static void tw_kill_by_syn(void **state)
{
	struct tf_trace t;
	struct run r;

	(void)state;
	assert_int_equal(load_fixture(&t, REAL), 0);
	/* rx SYN on the tw sock (TCP_TW_SYN), then the kill, same CPU */
	assert_int_equal(rec_n(&t, 1198)->cause, TF_CA_SYN);
	assert_int_equal(rec_n(&t, 1199)->cause, TF_CA_SYN);
	assert_int_equal(rec_n(&t, 1256)->cause, TF_CA_SYN);
	assert_int_equal(rec_n(&t, 1257)->cause, TF_CA_SYN);
	/* the new connection's SYN: received, by the old tw sock */
	assert_int_equal(rec_n(&t, 1197)->cause, TF_CA_SYN);
	assert_int_equal(rec_n(&t, 1196)->cause, TF_CA_NONE);
	tf_trace_free(&t);
	run_cli(&r, "--explain", REAL);
	assert_null(strstr(r.out, "(net.ipv4.tcp_tw_reuse)"));
	assert_non_null(strstr(r.out, "| CLOSE                   [TIME_WAIT "
			       "0.055 s] [killed by a new SYN]\n"));
	assert_non_null(strstr(r.out, "TIME_WAIT ended early: the new SYN"));
	assert_non_null(strstr(r.out, "|------ [S] seq=5249593 ------>|       "
			       "                  a SYN to the TIME_WAIT"));
	assert_null(strstr(r.out, "TIME_WAIT over (its 60 s"));
	assert_null(strstr(r.out, "TIME_WAIT ended early by an RST"));
	assert_null(strstr(r.out, "namespace went away"));
	run_free(&r);
}

static void tw_kill_by_rst(void **state)
{
	/* the same TIME_WAIT, ended by an in-window RST instead */
	static const char *const ops[] = {
		CONV14, "drop 1200",
		"set 1198 flags=R seq=212425960 ack=0 win=0", NULL };
	char *text = derive(REAL, ops);
	struct tf_trace t;
	struct run r;
	char *err;

	(void)state;
	assert_int_equal(load_text(&t, text, &err), 0);
	assert_int_equal(rec_n(&t, 1199)->cause, TF_CA_RST);
	tf_trace_free(&t);
	free(err);
	run_text(&r, text, "--explain");
	assert_non_null(strstr(r.out, "[killed by an RST]"));
	assert_non_null(strstr(r.out, "TIME_WAIT ended early by an RST"));
	assert_null(strstr(r.out, "TIME_WAIT over (its 60 s"));
	assert_null(strstr(r.out, "a SYN to the TIME_WAIT"));
	assert_null(strstr(r.out, "the new SYN"));
	run_free(&r);
	free(text);
}

static void tw_kill_other(void **state)
{
	/* nothing reached the tw sock: a netns exit or ss -K looks so */
	static const char *const ops[] = { CONV14, "drop 1198", "drop 1200",
					   NULL };
	char *text = derive(REAL, ops);
	struct run r;

	(void)state;
	run_text(&r, text, "--explain");
	assert_non_null(strstr(r.out, "[TIME_WAIT 0.055 s] [killed: no "
			       "segment]"));
	assert_non_null(strstr(r.out, "namespace went away, or ss -K"));
	assert_null(strstr(r.out, "TIME_WAIT over (its 60 s"));
	assert_null(strstr(r.out, "killed by"));
	run_free(&r);
	free(text);
}

static void tw_kill_reuse(void **state)
{
	/*
	 * Conversation 15's client holds TIME_WAIT (conn 4146); a connect()
	 * from the same port takes the 4-tuple (__inet_check_established):
	 * CLOSE -> SYN_SENT with lport=0, the kill, then its SYN.
	 */
	static const char *const ops[] = {
		"keep conn=4145 conn=4146 conn=4147",
		"copy 1196 n=2000 ts=248000000000 conn=5000 lport=0",
		"copy 1199 n=2001 ts=248000004000 netns=4026532176 conn=4146 "
		"laddr=192.0.2.1 lport=40000 raddr=192.0.2.2 rport=8714 "
		"pid=534 comm=tf-client dur=800000000",
		"copy 1197 n=2002 ts=248000008000 conn=5000", NULL };
	/* the same, but the connect() comes after the kill (ss -K, then a
	 * new connection from that port): the kill was not its doing */
	static const char *const later[] = {
		"keep conn=4145 conn=4146 conn=4147",
		"copy 1199 n=2000 ts=248000000000 netns=4026532176 conn=4146 "
		"laddr=192.0.2.1 lport=40000 raddr=192.0.2.2 rport=8714 "
		"pid=534 comm=tf-client dur=800000000",
		"copy 1196 n=2001 ts=248000004000 conn=5000 lport=0",
		"copy 1197 n=2002 ts=248000008000 conn=5000", NULL };
	char *text = derive(REAL, ops);
	struct run r;

	(void)state;
	run_text(&r, text, "--explain");
	assert_non_null(strstr(r.out, "[killed: 4-tuple reused]"));
	assert_non_null(strstr(r.out, "(net.ipv4.tcp_tw_reuse)"));
	assert_null(strstr(r.out, "TIME_WAIT over (its 60 s"));
	assert_null(strstr(r.out, "namespace went away"));
	run_free(&r);
	free(text);
	/* not: the new connection began after the kill */
	text = derive(REAL, later);
	run_text(&r, text, "--explain");
	assert_null(strstr(r.out, "(net.ipv4.tcp_tw_reuse)"));
	assert_null(strstr(r.out, "4-tuple reused"));
	assert_non_null(strstr(r.out, "[killed: no segment]"));
	run_free(&r);
	free(text);
}

static void tw_expire(void **state)
{
	struct run r;

	(void)state;
	run_cli(&r, "--explain", FIX("loopback-ipv4"));
	assert_non_null(strstr(r.out, "TIME_WAIT over (its 60 s ran out):"));
	assert_null(strstr(r.out, "killed"));
	assert_null(strstr(r.out, "ended early"));
	run_free(&r);
}

/* conversation 18 of REAL: the lost-last-ack scenario (netem drops it) */
#define CONV18 "keep conn=92 conn=93 conn=4150"

static void lost_only_when_traced(void **state)
{
	static const char *const cut[] = {	/* read just after the ACK */
		CONV18, "drop 1310", "drop 1311", "drop 1312", "drop 1313",
		"drop 1314", "drop 1315", NULL };
	static const char *const client_only[] = { "keep conn=92", NULL };
	static const char *const gap[] = { CONV18, "drop 1312", NULL };
	const char *lost = "|------ [.] seq=2 ack=2 ---x   |";
	const char *open = "|------ [.] seq=2 ack=2 ----   |";
	struct tf_trace t;
	struct run r;
	char *text, *err;

	(void)state;
	/* the server (LAST_ACK) was traced before and after: lost */
	assert_int_equal(load_fixture(&t, REAL), 0);
	assert_true(rec_n(&t, 1309)->mark & TF_MK_NOTRECV);
	assert_false(rec_n(&t, 1309)->mark & TF_MK_NOTTRACED);
	tf_trace_free(&t);
	run_cli(&r, REAL);
	assert_non_null(strstr(r.out, lost));
	run_free(&r);

	/* the trace ends after the ACK: the server's side is not known */
	text = derive(REAL, cut);
	assert_int_equal(load_text(&t, text, &err), 0);
	assert_false(rec_n(&t, 1309)->mark & TF_MK_NOTRECV);
	assert_true(rec_n(&t, 1309)->mark & TF_MK_NOTTRACED);
	tf_trace_free(&t);
	free(err);
	run_text(&r, text, NULL);
	assert_non_null(strstr(r.out, open));
	assert_non_null(strstr(r.out, "[not traced]"));
	assert_null(strstr(r.out, "[not received]"));
	run_free(&r);
	free(text);

	/* only the client's records (a netns filter): open, said once */
	text = derive(REAL, client_only);
	run_text(&r, text, "--explain");
	assert_non_null(strstr(r.out, open));
	assert_non_null(strstr(r.out, "(not traced)"));
	assert_null(strstr(r.out, "[not traced]"));
	assert_null(strstr(r.out, "[not received]"));
	assert_null(strstr(r.out, "lost: the other end"));
	run_free(&r);
	free(text);

	/* a record missing between the send and the next arrival */
	text = derive(REAL, gap);
	run_text(&r, text, NULL);
	assert_non_null(strstr(r.out, open));
	assert_null(strstr(r.out, "[not received]"));
	run_free(&r);
	free(text);
}

static void lost_only_if_the_mode_records_it(void **state)
{
	static const char *const drop_rx[] = { "drop 167", "renumber", NULL };
	struct tf_trace t;
	char *text, *err;

	(void)state;
	/*
	 * A simultaneous open in segments=default: each end's last ACK
	 * reaches an ESTABLISHED socket, which that mode does not record
	 * (module/hooks.c want_segment()): not lost, not "not traced".
	 */
	assert_int_equal(load_fixture(&t, FIX("real-guest-more")), 0);
	assert_false(rec_n(&t, 13)->mark & (TF_MK_NOTRECV | TF_MK_NOTTRACED));
	assert_false(rec_n(&t, 16)->mark & (TF_MK_NOTRECV | TF_MK_NOTTRACED));
	assert_int_equal(rec_n(&t, 13)->twin, -1);
	tf_trace_free(&t);
	/* the same in segments=all, recorded: both arrivals are there */
	assert_int_equal(load_fixture(&t, FIX("real-guest-simopen-all")), 0);
	assert_int_equal(rec_n(&t, 162)->twin >= 0, 1);
	tf_trace_free(&t);
	/* segments=all with the server's arrival taken out: lost */
	text = derive(FIX("real-guest-simopen-all"), drop_rx);
	assert_int_equal(load_text(&t, text, &err), 0);
	assert_true(rec_n(&t, 162)->mark & TF_MK_NOTRECV);
	tf_trace_free(&t);
	free(err);
	free(text);
}

static void acked_means_arrived(void **state)
{
	struct tf_trace t;

	(void)state;
	assert_int_equal(load_fixture(&t, FIX("real-guest-more")), 0);
	for (size_t i = 0; i < t.nrec; i++) {
		const struct tf_rec *r = &t.rec[i];

		/* a SYN-ACK answered by a no-socket RST (stale-syn), a late
		 * FIN answered so (fin-wait2-timeout): both arrived */
		if (r->r.event == TCPFLOW_EV_TX && r->twin < 0 &&
		    (r->r.flags & (TCPFLOW_F_SYN | TCPFLOW_F_FIN)))
			assert_false(r->mark & (TF_MK_NOTRECV |
						TF_MK_NOTTRACED));
	}
	tf_trace_free(&t);
	/* tcpflow-bpf's trace: the reopening SYN reached the old tw sock */
	assert_int_equal(load_fixture(&t, FIX("real-guest-scenarios-bpf")), 0);
	for (size_t i = 0; i < t.nrec; i++)
		if ((t.rec[i].r.flags & TCPFLOW_F_SYN) &&
		    t.rec[i].r.event == TCPFLOW_EV_TX)
			assert_false(t.rec[i].mark & TF_MK_NOTRECV);
	tf_trace_free(&t);
}

/* --explain of a trace file, one port's conversation */
static char *explain_port(const char *path, const char *port)
{
	struct run r;
	char *out;

	run_cli(&r, "--explain", "-p", port, path);
	assert_int_equal(r.rc, 0);
	out = r.out;
	r.out = NULL;
	run_free(&r);
	return out;
}

static char *explain_text(const char *text)
{
	struct run r;
	char *out;

	run_text(&r, text, "--explain");
	assert_int_equal(r.rc, 0);
	out = r.out;
	r.out = NULL;
	run_free(&r);
	return out;
}

#define MORE FIX("real-guest-more")
#define HAS(s, t) assert_non_null(strstr(s, t))
#define HASNT(s, t) assert_null(strstr(s, t))

static void simultaneous_close(void **state)
{
	/* real: scenario "simultaneous" (8902), "simultaneous-close" (8717) */
	const char *sim[] = { MORE, "8902", REAL, "8717" };
	char *o;

	(void)state;
	for (int i = 0; i < 4; i += 2) {
		o = explain_port(sim[i], sim[i + 1]);
		HAS(o, "FINs crossing: this FIN does not ack");
		HAS(o, "each side ACKs the other's FIN; both");
		HAS(o, "CLOSING: the peer's FIN came before");
		HASNT(o, "it is done too");
		HASNT(o, "last ACK: acknowledges the second FIN");
		HASNT(o, "closed; the other side may still send");
		free(o);
	}
	/* an ordinary close */
	o = explain_port(REAL, "8716");
	HAS(o, "the other side's FIN: it is done too");
	HAS(o, "last ACK: acknowledges the second FIN");
	HASNT(o, "FINs crossing");
	HASNT(o, "CLOSING:");
	HASNT(o, "each side ACKs");
	free(o);
}

static void reset_notes(void **state)
{
	/*
	 * The listener resets the handshake's last ACK (tcp_check_req(),
	 * embryonic_reset): conversation 18 up to that ACK, then an RST
	 * from the request sock, received by the ESTABLISHED client.
	 */
	static const char *const listen_rst[] = {
		CONV18, "drop 1294", "drop 1295", "drop 1296", "drop 1297",
		"drop 1298", "drop 1299", "drop 1300", "drop 1301",
		"drop 1302", "drop 1303", "drop 1304", "drop 1305",
		"drop 1306", "drop 1307", "drop 1308", "drop 1309",
		"drop 1310", "drop 1311", "drop 1312", "drop 1313",
		"drop 1314", "drop 1315",
		"ins 1293 1293 ts=248552500000 ev=tx flags=R seq=1578263845 "
		"ack=0 win=0",
		"ins 1293 1290 ts=248575000000 flags=R seq=1578263845 ack=0 "
		"win=0 state=ESTABLISHED",
		"renumber", NULL };
	char *text = derive(REAL, listen_rst), *o;

	(void)state;
	o = explain_text(text);
	HASNT(o, "RST to the SYN-ACK");	/* it sent the SYN-ACK */
	HAS(o, "RST from the listener to the last ACK");
	HASNT(o, "nothing listens");
	HASNT(o, "RST instead of FIN");
	free(o);
	free(text);
	/* refused: no SYN-ACK, the RST acks the SYN */
	o = explain_port(REAL, "8707");
	HAS(o, "RST to a SYN: nothing listens on this");
	HASNT(o, "RST from the listener");
	free(o);
	/* an untraced server that acked the client's data had its
	 * connection: its RST is no listener's (real-guest-resend) */
	o = explain_port(FIX("real-guest-resend"), "7500");
	HAS(o, "RST: aborts the connection at once");
	HASNT(o, "RST from the listener");
	free(o);
	/* abortive close (SO_LINGER 0; unread data) */
	for (int i = 0; i < 2; i++) {
		o = explain_port(MORE, i ? "8904" : "8903");
		/* 8903: the client got a SYN-ACK, but is ESTABLISHED */
		HASNT(o, "RST to the SYN-ACK");
		HAS(o, "RST instead of FIN: closed with");
		HASNT(o, "nothing listens");
		HASNT(o, "TIME_WAIT:");
		free(o);
	}
	/* an old SYN's SYN-ACK meets no socket (stale-syn) */
	o = explain_port(MORE, "8905");
	HAS(o, "RST to the SYN-ACK: no socket wants it");
	HASNT(o, "nothing listens");
	free(o);
	/* FIN_WAIT2 timed out; the late FIN gets an RST */
	o = explain_port(MORE, "8906");
	HAS(o, "FIN_WAIT2 timed out: no FIN from the");
	HAS(o, "the late FIN meets no socket");
	HASNT(o, "RST instead of FIN");
	free(o);
	o = explain_port(REAL, "8716");
	HASNT(o, "late FIN");
	HASNT(o, "FIN_WAIT2 timed out");
	free(o);
}

static void time_wait_answers(void **state)
{
	/* the peer's timer fired first; then the first ACK arrived */
	static const char *const late[] = {
		CONV18,
		"ins 1310 1309 ts=249370000000 cpu=0 netns=4026532228 "
		"conn=93 ev=rx sock=full laddr=192.0.2.2 lport=8716 "
		"raddr=192.0.2.1 rport=49382 state=LAST_ACK pid=537 "
		"comm=tf-server",
		"ins 1310 1315 ts=249370100000", "drop 1314", "drop 1315",
		"renumber", NULL };
	/* the SYN of an old incarnation: TIME_WAIT answers with an ACK */
	static const char *const old_syn[] = {
		CONV14, "drop 1199", "drop 1200",
		"ins 1198 1193 ts=247075990000 cpu=0", "renumber", NULL };
	char *text, *o;

	(void)state;
	o = explain_port(REAL, "8716");
	/* not: the last ACK is known lost, and a FIN came, not a SYN */
	HASNT(o, "last ACK did arrive, after the peer's");
	HASNT(o, "or late is not in the trace");
	HASNT(o, "TIME_WAIT refuses this SYN");
	HAS(o, "TIME_WAIT waits (the last ACK was lost)");
	free(o);
	text = derive(REAL, late);
	o = explain_text(text);
	HASNT(o, "or late is not in the trace");	/* it arrived */
	HASNT(o, "TIME_WAIT refuses this SYN");
	HAS(o, "last ACK did arrive, after the peer's");
	HASNT(o, "(the last ACK was lost)");
	HASNT(o, "lost: the other end never got it");
	free(o);
	free(text);
	text = derive(REAL, old_syn);
	o = explain_text(text);
	HAS(o, "TIME_WAIT refuses this SYN");
	HASNT(o, "a SYN to the TIME_WAIT socket");
	HASNT(o, "(the last ACK was lost)");
	HASNT(o, "ended early");
	free(o);
	free(text);
}

static void rearm_notes(void **state)
{
	/* in the window: seq = the timewait sock's rcv_nxt; no answer */
	static const char *const in_win[] = {
		CONV18, "set 1310 flags=. seq=1578263846",
		"set 1311 flags=. seq=1578263846", "drop 1313", "drop 1314",
		"drop 1315", "renumber", NULL };
	/* out of the window, with ACK: answered, and rearmed */
	static const char *const oow[] = {
		CONV18, "set 1310 flags=. seq=1578000000",
		"set 1311 flags=. seq=1578000000", "renumber", NULL };
	char *text, *o;

	(void)state;
	o = explain_port(REAL, "8716");
	HASNT(o, "segment that did it was not recorded");
	HAS(o, "the FIN came again: TIME_WAIT's 60 s");
	HASNT(o, "an ACK came in the window");
	free(o);
	text = derive(REAL, in_win);
	o = explain_text(text);
	/* not: the ACK that restarted it is in the trace */
	HASNT(o, "segment that did it was not recorded");
	HAS(o, "an ACK came in the window: TIME_WAIT's");
	HASNT(o, "the FIN came again");
	HASNT(o, "outside");
	free(o);
	free(text);
	text = derive(REAL, oow);
	o = explain_text(text);
	HASNT(o, "TIME_WAIT refuses this SYN");	/* no SYN came */
	HASNT(o, "segment that did it was not recorded");
	HAS(o, "a segment with ACK came from outside");
	HAS(o, "TIME_WAIT answers a segment outside its");
	HASNT(o, "the FIN came again");
	HASNT(o, "(the last ACK was lost)");
	free(o);
	free(text);
}

#define CONV15 "keep conn=4145 conn=4146 conn=4147"

static void fast_open(void **state)
{
	/* conversation 18's handshake with 100 bytes in the SYN, accepted */
	static const char *const tfo[] = {
		CONV18, "set 1286 len=100", "set 1287 len=100",
		"set 1289 ack=3110938737", "set 1290 ack=3110938737",
		"set 1292 seq=3110938737", "set 1293 seq=3110938737",
		"drop 1294", "drop 1295", "drop 1296", "drop 1297",
		"drop 1298", "drop 1299", "drop 1300", "drop 1301",
		"drop 1302", "drop 1303", "drop 1304", "drop 1305",
		"drop 1306", "drop 1307", "drop 1308", "drop 1309",
		"drop 1310", "drop 1311", "drop 1312", "drop 1313",
		"drop 1314", "drop 1315", NULL };
	char *text = derive(REAL, tfo), *o, *err;
	struct tf_trace t;

	(void)state;
	assert_int_equal(load_text(&t, text, &err), 0);
	assert_int_equal(count_kind(&t, TF_G_CONV), 1);	/* one, not two */
	assert_int_equal(first_conv(&t)->base[0], 3110938636U);
	tf_trace_free(&t);
	free(err);
	o = explain_text(text);
	HAS(o, "SYN-ACK: ack = x+1+len: the SYN's data");
	HAS(o, "[S.] seq=0 ack=101 ");
	HASNT(o, "the server's ISN y, ack = x+1:");
	free(o);
	free(text);
	o = explain_port(REAL, "8716");
	HASNT(o, "Fast Open");
	HAS(o, "the server's ISN y, ack = x+1:");
	free(o);
}

#define NOTES FIX("real-guest-notes")

/*
 * real-guest-notes.trace (tests/guest/91-notes.t, which checks each case
 * against tcpdump there): the notes of five cases the kernel made.
 */
static void real_notes(void **state)
{
	char *o;

	(void)state;
	/* 7910: the server closed inside its delayed ACK: [F.] acks the FIN */
	o = explain_port(NOTES, "7910");
	HAS(o, "the other side's FIN, and in the same");
	HAS(o, "FIN_WAIT2 for an instant: the segment");
	HASNT(o, "FIN_WAIT2: our FIN is acked; now wait");
	HASNT(o, "closed; the other side may still send");
	HASNT(o, "the other side's FIN: it is done too");
	free(o);
	/* client port 47911: the full accept queue's listener resets the
	 * ACK of an ESTABLISHED client (tcp_abort_on_overflow=1) */
	o = explain_port(NOTES, "47911");
	HAS(o, "RST from the listener to the last ACK");
	HASNT(o, "RST to a SYN: nothing listens on this");
	HASNT(o, "RST to the SYN-ACK");
	free(o);
	/* 7930: the last ACK late, after the resent FIN */
	o = explain_port(NOTES, "7930");
	HAS(o, "the FIN came again: TIME_WAIT's 60 s");
	HAS(o, "answered from TIME_WAIT again: the");
	/* the second ACK finds only the listener, which resets it */
	HAS(o, "this end's socket is gone (it closed");
	HASNT(o, "RST: aborts the connection at once");
	HASNT(o, "(the last ACK was lost)");
	HASNT(o, "lost: the other end never got it");
	HASNT(o, "or late is not in the trace");
	free(o);
	/* 7940: an old SYN (raw, seq below) to TIME_WAIT; then an RST */
	o = explain_port(NOTES, "7940");
	HAS(o, "TIME_WAIT refuses this SYN (old seq or");
	HAS(o, "TIME_WAIT ended early by an RST: Linux");
	/* from the client's host: its socket closed from LAST_ACK */
	HAS(o, "this end's socket is gone (it closed");
	HASNT(o, "RST: aborts the connection at once");
	HASNT(o, "(the last ACK was lost)");
	HASNT(o, "the SYN sent again");
	HASNT(o, "[retransmission]");
	HASNT(o, "no options: no mss");
	HASNT(o, "a SYN to the TIME_WAIT socket: its seq");
	free(o);
	/* 7941: a new SYN (seq above) reopens the 4-tuple */
	o = explain_port(NOTES, "7941");
	HAS(o, "a SYN to the TIME_WAIT socket: its seq");
	HAS(o, "TIME_WAIT ended early: the new SYN");
	HASNT(o, "TIME_WAIT refuses this SYN");
	free(o);
	/* 7951: Fast Open, 100 bytes in the SYN, one conversation, x the
	 * SYN's seq (not the SYN-ACK's ack - 1); 7950 asked for the cookie */
	o = explain_port(NOTES, "7951");
	HAS(o, "[S] seq=0 len=100 ");
	HAS(o, "[S.] seq=0 ack=101 ");
	HAS(o, "SYN-ACK: ack = x+1+len: the SYN's data");
	HAS(o, "[.] seq=101 ack=1 ");
	HAS(o, "ISN y; seq = x+1+len: the data in the");
	HASNT(o, "the server's ISN y, ack = x+1:");
	HASNT(o, "ACK: seq = x+1, ack = y+1");
	assert_null(strstr(strstr(o, "conversation ") + 1, "conversation "));
	free(o);
	/* the cookie's handshake: no data in the SYN; the data after it
	 * is the third step (ack = y+1) */
	o = explain_port(NOTES, "7950");
	HAS(o, "the server's ISN y, ack = x+1:");
	HAS(o, "[P.] seq=1 ack=1 len=100 ");
	HASNT(o, "Fast Open");
	HASNT(o, "seq = x+1+len");
	free(o);
}

/*
 * A handshake whose SYN is not in the trace: no x to speak of, so the
 * SYN-ACK's ack says nothing of Fast Open, and the third ACK gets no
 * "seq = x+1" note.  a) only the server's records (it is traced from its
 * request sock on; the listener's rx SYN is the listener's); b) the
 * simultaneous open 8901 without the client's SYN record (n=2): its SYN
 * is drawn only at the server's arrival, after the client's own SYN-ACK
 * with the same seq, so as a resend.
 */
static void handshake_unseen(void **state)
{
	static const char *const server_only[] = { "keep conn=93", NULL };
	static const char *const no_syn[] = {
		"keep lport=8901 rport=8901", "drop 2", NULL };
	const char *const *ops[] = { server_only, no_syn };
	const char *src[] = { REAL, MORE };
	char *text, *o;

	(void)state;
	for (int i = 0; i < 2; i++) {
		text = derive(src[i], ops[i]);
		o = explain_text(text);
		HAS(o, "[S.] seq=0 ack=1 ");
		HASNT(o, "Fast Open");
		HASNT(o, "ACK: seq = x+1, ack = y+1 confirms the");
		free(o);
		free(text);
	}
	/* the handshake seen: the same ACK gets its note */
	o = explain_port(REAL, "8716");
	HAS(o, "ACK: seq = x+1, ack = y+1 confirms the");
	free(o);
}

/*
 * A SYN's options (format 1.2), from real-guest-synopts.trace
 * (tests/guest/89-synopts.t): the tags on each SYN and SYN-ACK, the
 * SYN's note and the SYN-ACK's once per conversation, and a SYN without
 * options (derived: the trace's last handshake, opts=none both ways).
 */
static void synopt_notes(void **state)
{
	static const char *const noopt[] = {
		"keep lport=7654 rport=7654", "set 107 opts=none",
		"set 108 opts=none", "set 110 opts=none", "set 111 opts=none",
		NULL };
	char *o, *text;

	(void)state;
	o = explain_port(SYNOPTS, "7651");	/* TCP_MAXSEG 1000 */
	HAS(o, "[S] seq=0 --------->|                         mss 1000 ws 7 sack ts");
	HAS(o, "options: what this end can do. mss: the");
	HAS(o, "ws, sack and ts are used only if both");
	HASNT(o, "no options: no mss");
	free(o);
	o = explain_port(SYNOPTS, "7654");	/* sack, ts, ws off: mss only */
	HAS(o, "[S] seq=0 --------->|                         mss 1460\n");
	HAS(o, "[S.] seq=0 ack=1 ------|                         mss 1460\n");
	free(o);
	text = derive(SYNOPTS, noopt);
	o = explain_text(text);
	HAS(o, "no options\n");
	HAS(o, "no options: no mss, so the other end");
	HASNT(o, "options: what this end can do");
	free(o);
	free(text);
	o = explain_port(REAL, "8701");		/* format 1.0: no opts key */
	HASNT(o, "options");
	HASNT(o, "mss ");
	free(o);
}

static void three_segment_close(void **state)
{
	/*
	 * Conversation 15 with the server's ACK of the client's FIN left
	 * for its FIN to carry: FIN_WAIT1 -> FIN_WAIT2 -> TIME_WAIT at once.
	 */
	static const char *const three[] = {
		CONV15, "drop 1213", "drop 1214", "drop 1215", "drop 1216",
		"drop 1217", "set 1220 sock=full state=FIN_WAIT1",
		"ins 1220 1215 ts=247269200000 cpu=0",
		"ins 1221 1217 ts=247269230000 cpu=0", "renumber", NULL };
	char *text = derive(REAL, three), *o;

	(void)state;
	o = explain_text(text);
	HAS(o, "the other side's FIN, and in the same");
	HAS(o, "FIN_WAIT2 for an instant");
	HASNT(o, "FIN_WAIT2: our FIN is acked; now wait");
	HASNT(o, "closed; the other side may still send");
	free(o);
	free(text);
	o = explain_port(REAL, "8714");
	HASNT(o, "three-segment");
	HASNT(o, "FIN_WAIT2 for an instant");
	HAS(o, "FIN_WAIT2: our FIN is acked; now wait");
	free(o);
}

static void resend_notes(void **state)
{
	/* the first SYN-ACK is lost; the SYN comes again, to the request
	 * sock, which answers at once (tcp_check_req()) */
	static const char *const dupsyn[] = {
		CONV18, "drop 1290", "drop 1291", "drop 1292", "drop 1293",
		"ins 1289 1286 ts=249512000000",
		"ins 1289 1293 ts=249535000000 flags=S seq=3110938636 ack=0 "
		"win=64240",
		"ins 1289 1289 ts=249535100000",
		"ins 1289 1290 ts=249556000000", "ins 1289 1291 ts=249556100000",
		"ins 1289 1292 ts=249556200000", "ins 1289 1293 ts=249577000000",
		"drop 1294", "drop 1295", "drop 1296", "drop 1297",
		"drop 1298", "drop 1299", "drop 1300", "drop 1301",
		"drop 1302", "drop 1303", "drop 1304", "drop 1305",
		"drop 1306", "drop 1307", "drop 1308", "drop 1309",
		"drop 1310", "drop 1311", "drop 1312", "drop 1313",
		"drop 1314", "drop 1315", "renumber", NULL };
	/* the first SYN-ACK is lost and no SYN comes again: the request
	 * sock's timer sends it again 1 s later (reqsk_timer_handler()),
	 * the client still in SYN_SENT */
	static const char *const synack[] = {
		CONV18, "drop 1290", "drop 1291", "drop 1292", "drop 1293",
		"drop 1294", "drop 1295", "drop 1296", "drop 1297",
		"drop 1298", "drop 1299", "drop 1300", "drop 1301",
		"drop 1302", "drop 1303", "drop 1304", "drop 1305",
		"drop 1306", "drop 1307", "drop 1308", "drop 1309",
		"drop 1310", "drop 1311", "drop 1312", "drop 1313",
		"drop 1314", "drop 1315", "ins 1289 1289 ts=249490492601",
		"ins 1289 1290 ts=249512499891", "renumber", NULL };
	/* simultaneous open (8901) with both SYN-ACKs lost: the client's
	 * SYN_RECV full sock sends its SYN-ACK again on the retransmission
	 * timer (tcp_retransmit_timer()) */
	static const char *const simopen[] = {
		"keep conn=1 conn=4097", "drop 11", "drop 12", "drop 13",
		"drop 14", "drop 15", "drop 16", "drop 17", "drop 18",
		"drop 19", "drop 20", "drop 21", "drop 22", "drop 23",
		"drop 24", "drop 25", "drop 26", "drop 27", "drop 28",
		"drop 29", "drop 30", "drop 31", "drop 32",
		"ins 10 7 ts=11111129088", "renumber", NULL };
	const char *syn = "the SYN sent again: no ACK of it came";
	const char *synack_rtx = "the SYN-ACK sent again: no ACK came in";
	const char *old = "(retransmission timer, or a tail loss";
	char *text = derive(REAL, dupsyn), *o;

	(void)state;
	o = explain_text(text);
	HASNT(o, old);			/* a SYN is no loss probe */
	HASNT(o, synack_rtx);		/* answered at once, not by a timer */
	HASNT(o, "half-open");
	HAS(o, "the SYN came again: Linux answers at");
	HAS(o, syn);			/* the client's SYN, resent */
	free(o);
	free(text);
	text = derive(REAL, synack);
	o = explain_text(text);
	HASNT(o, syn);
	HASNT(o, old);
	HASNT(o, "half-open");
	HASNT(o, "the SYN came again");
	HAS(o, synack_rtx);
	free(o);
	free(text);
	text = derive(MORE, simopen);
	o = explain_text(text);
	HASNT(o, synack_rtx);
	HASNT(o, old);
	HAS(o, "[retransmission]");		/* the client's SYN-ACK */
	HAS(o, syn);
	free(o);
	free(text);
	/* syn-recv: the request sock resends on its own timer */
	o = explain_port(REAL, "8718");
	HASNT(o, synack_rtx);		/* the client is ESTABLISHED */
	HASNT(o, syn);
	HASNT(o, "the SYN came again");
	HAS(o, "half-open: connect() has returned");
	free(o);
	o = explain_port(REAL, "8714");
	HASNT(o, "half-open");
	HASNT(o, "no ACK came in time");
	free(o);
	/* a FIN resent (8716), data resent (real-guest-resend): no SYN */
	o = explain_port(REAL, "8716");
	HASNT(o, syn);
	HASNT(o, synack_rtx);
	HAS(o, old);
	free(o);
	o = explain_port(FIX("real-guest-resend"), "7500");
	HASNT(o, syn);
	HASNT(o, synack_rtx);
	free(o);
}

static void fin_wait2_reset(void **state)
{
	/* data reaches the client's FIN_WAIT2 timewait sock: TCP_TW_RST */
	static const char *const rst[] = {
		CONV15, "drop 1218", "drop 1219", "drop 1220", "drop 1221",
		"drop 1222", "drop 1223", "drop 1224",
		"ins 1217 1219 ts=247235204501 flags=P. len=10 state=CLOSE_WAIT",
		"ins 1217 1220 ts=247269189921 flags=P. len=10",
		"ins 1217 1222 ts=247269246301 flags=R seq=217675553 ack=0 "
		"win=0 state=FIN_WAIT2",
		"ins 1217 1221 ts=247269250000 new=CLOSE why=kill", "renumber",
		NULL };
	/* an RST reaches it instead: killed whatever tcp_rfc1337 says */
	static const char *const rst_in[] = {
		CONV15, "drop 1218", "drop 1219", "drop 1220", "drop 1221",
		"drop 1222", "drop 1223", "drop 1224",
		"ins 1217 1219 ts=247235204501 flags=R seq=5875692 ack=0 "
		"win=0 state=CLOSE_WAIT",
		"ins 1217 1220 ts=247269189921 flags=R seq=5875692 ack=0 "
		"win=0",
		"ins 1217 1221 ts=247269250000 new=CLOSE why=kill", "renumber",
		NULL };
	static const char *const none[] = {
		CONV15, "drop 1218", "drop 1219", "drop 1220", "drop 1221",
		"drop 1222", "drop 1223", "drop 1224",
		"ins 1217 1221 ts=247269250000 new=CLOSE why=kill", "renumber",
		NULL };
	char *text = derive(REAL, rst), *o;

	(void)state;
	o = explain_text(text);
	HAS(o, "[killed: sent RST]");
	HAS(o, "a segment the FIN_WAIT2 end cannot take");
	HASNT(o, "TIME_WAIT ended early");
	HASNT(o, "an RST ended the closed FIN_WAIT2");
	free(o);
	free(text);
	text = derive(REAL, rst_in);
	o = explain_text(text);
	HAS(o, "[killed by an RST]");
	HAS(o, "an RST ended the closed FIN_WAIT2 end");
	HASNT(o, "TIME_WAIT ended early");
	HASNT(o, "a segment the FIN_WAIT2 end cannot take");
	HASNT(o, "the closed FIN_WAIT2 end was removed");
	free(o);
	free(text);
	/* nothing reaches it, and it goes (netns exit, ss -K) */
	text = derive(REAL, none);
	o = explain_text(text);
	HAS(o, "[killed: no segment]");
	HAS(o, "the closed FIN_WAIT2 end was removed");
	HASNT(o, "TIME_WAIT ended early");
	HASNT(o, "an RST ended");
	free(o);
	free(text);
}

static void unseen_and_unknown(void **state)
{
	/* the FIN that restarted TIME_WAIT is missing (overwritten) */
	static const char *const no_fin[] = { CONV18, "drop 1310", "drop 1311",
					      NULL };
	/* a record lost before the server's next arrival: the first ACK's
	 * fate is not known */
	static const char *const gap[] = { CONV18, "drop 1312", NULL };
	char *text, *o;

	(void)state;
	text = derive(REAL, no_fin);
	o = explain_text(text);
	HAS(o, "segment that did it was not recorded");
	HASNT(o, "the FIN came again");
	free(o);
	free(text);
	text = derive(REAL, gap);
	o = explain_text(text);
	HASNT(o, "last ACK did arrive, after the peer's");	/* unknown */
	HAS(o, "or late is not in the trace");
	HASNT(o, "(the last ACK was lost)");
	free(o);
	free(text);
}

/*
 * The notes of an ordinary run, each where it must be given and where it
 * must not (real fixtures, one conversation each by its port).
 */
static void basic_notes(void **state)
{
	static const struct {
		const char *text, *fire, *fport, *not, *nport;
	} t[] = {
		{ "SYN: the client picks its initial", REAL, "8716", NULL,
		  NULL },
		{ "SYN-ACK: the server's ISN y, ack = x+1:", REAL, "8716", MORE,
		  "8901" },
		{ "a SYN from each side, crossing:", MORE, "8901", REAL, "8716" },
		{ "its own SYN again, now with the ACK", MORE, "8901", REAL,
		  "8716" },
		{ "a request sock: SYN_RECV in textbooks;", REAL, "8716", MORE,
		  "8901" },
		{ "ACK: seq = x+1, ack = y+1 confirms the", REAL, "8716", MORE,
		  "8901" },
		{ "ESTABLISHED: data may flow both ways", REAL, "8716", REAL,
		  "8707" },
		{ "data: the next seq is seq + len",
		  FIX("real-guest-segments-all"), "8801", REAL, "8716" },
		{ "half-close: data still flows from", FIX("halfclose"),
		  "7000", REAL, "8716" },
		{ "FIN: no more data from this side;", REAL, "8716", REAL,
		  "8707" },
		{ "CLOSE_WAIT: the peer sent its FIN", REAL, "8716", MORE,
		  "8902" },
		{ "LAST_ACK: waits for the ACK of its FIN", REAL, "8716", MORE,
		  "8902" },
		{ "TIME_WAIT: 60 s on Linux, a fixed", REAL, "8716", MORE,
		  "8903" },
		{ "lost: the other end never got it", REAL, "8716", MORE,
		  "8901" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *o = explain_port(t[i].fire, t[i].fport);

		if (!strstr(o, t[i].text))
			fail_msg("not given: %s", t[i].text);
		free(o);
		if (!t[i].not)
			continue;
		o = explain_port(t[i].not, t[i].nport);
		if (strstr(o, t[i].text))
			fail_msg("given: %s", t[i].text);
		free(o);
	}
}

static void plain_reset(void **state)
{
	/* conversation 18 established, then the server resets it without a
	 * close (tcp_abort(), ss -K, a user timeout) */
	static const char *const rst[] = {
		CONV18, "drop 1296", "drop 1297", "drop 1298", "drop 1299",
		"drop 1300", "drop 1301", "drop 1302", "drop 1303",
		"drop 1304", "drop 1305", "drop 1306", "drop 1307",
		"drop 1308", "drop 1309", "drop 1310", "drop 1311",
		"drop 1312", "drop 1313", "drop 1314", "drop 1315",
		"ins 1295 1300 ts=248600000000 flags=R. state=ESTABLISHED",
		"ins 1295 1301 ts=248620000000 flags=R. state=ESTABLISHED",
		"renumber", NULL };
	char *text = derive(REAL, rst), *o;
	struct run r;

	(void)state;
	o = explain_text(text);
	HAS(o, "RST: aborts the connection at once");
	HASNT(o, "RST instead of FIN");
	free(o);
	free(text);
	o = explain_port(MORE, "8903");
	HASNT(o, "RST: aborts the connection at once");
	free(o);
	/* -S: absolute numbers, no note about relative ones */
	run_cli(&r, "--explain", "-p", "8716", REAL);
	HAS(r.out, "(numbers are relative: x shows as 0;");
	run_free(&r);
	run_cli(&r, "--explain", "-S", "-p", "8716", REAL);
	HASNT(r.out, "(numbers are relative");
	run_free(&r);
}

static void fast_retransmit(void **state)
{
	/*
	 * segments=all, conversation 1: the client's 200 bytes as four
	 * segments of 50, the first lost; each later one brings a duplicate
	 * ACK; after the third the first is sent again.
	 */
	static const char *const fr[] = {
		"keep conn=4156 conn=4157 conn=4158", "set 1435 len=50",
		"drop 1436",
		"ins 1435 1435 ts=258600488841 seq=777496476 len=50",
		"ins 1435 1435 ts=258600489841 seq=777496526 len=50",
		"ins 1435 1435 ts=258600490841 seq=777496576 len=50",
		"ins 1435 1436 ts=258626400000 seq=777496476 len=50",
		"ins 1435 1437 ts=258626410000 ack=777496426",
		"ins 1435 1436 ts=258626420000 seq=777496526 len=50",
		"ins 1435 1437 ts=258626430000 ack=777496426",
		"ins 1435 1436 ts=258626440000 seq=777496576 len=50",
		"ins 1436 1437 ts=258626450000 ack=777496426",
		"ins 1436 1435 ts=258626460000 ev=rx flags=. seq=3257277254 "
		"ack=777496426 len=0 win=508",
		"ins 1436 1435 ts=258626470000 ev=rx flags=. seq=3257277254 "
		"ack=777496426 len=0 win=508",
		"ins 1436 1435 ts=258626480000 ev=rx flags=. seq=3257277254 "
		"ack=777496426 len=0 win=508",
		"ins 1436 1435 ts=258626490000 len=50",
		"ins 1436 1436 ts=258626500000 len=50", "renumber", NULL };
	char *text = derive(FIX("real-guest-segments-all"), fr), *o;

	(void)state;
	o = explain_text(text);
	HAS(o, "three duplicate ACKs came: sent again");
	HASNT(o, "no ACK came in time");
	free(o);
	free(text);
	/* a resend with no duplicate ACKs before it */
	o = explain_port(REAL, "8716");
	HASNT(o, "three duplicate ACKs");
	HAS(o, "no ACK came in time");
	free(o);
}

static void ordinary_notes_not(void **state)
{
	/*
	 * simultaneous-open (real-guest-more 8901) with the client's SYN
	 * not in the trace (n=2 sent, n=8 received; missed, as under
	 * segments=none then): the client side is known from its SYN_SENT
	 * row, and the first SYN is the server side's
	 */
	static const char *const srv_syn[] = { "keep conn=1 conn=4097",
						 "drop 2", "drop 8", NULL };
	char *text, *o;

	(void)state;
	text = derive(MORE, srv_syn);
	o = explain_text(text);
	/* not: the only SYN without ACK is the server side's */
	HASNT(o, "SYN: the client picks its initial");
	HAS(o, "SYN from the server's side: it");
	free(o);
	free(text);
	/* not: the SYN that crosses the client's is the simultaneous one */
	o = explain_port(MORE, "8901");
	HASNT(o, "SYN from the server's side");
	HAS(o, "simultaneous open");
	free(o);
	/* not: an ordinary handshake: the SYN is the client's */
	o = explain_port(REAL, "8716");
	HASNT(o, "SYN from the server's side");
	HAS(o, "SYN: the client picks its initial");
	HASNT(o, "RST: aborts the connection at once");
	free(o);
	/* not: a server that is not traced has no request sock to show,
	 * and with nothing acked past the SYNs there is no third ACK */
	o = explain_port(FIX("real-guest-resend"), "7500");
	HASNT(o, "a request sock: SYN_RECV in textbooks");
	HASNT(o, "FIN: no more data from this side");
	HASNT(o, "CLOSE_WAIT: the peer sent its FIN");
	HASNT(o, "LAST_ACK: waits for the ACK of its FIN");
	free(o);
	/* not: refused (8707): no handshake, nothing established */
	o = explain_port(REAL, "8707");
	HASNT(o, "ACK: seq = x+1, ack = y+1 confirms");
	HASNT(o, "ESTABLISHED: data may flow both ways");
	HASNT(o, "a request sock: SYN_RECV in textbooks");
	free(o);
	/* not: simultaneous close (8717): CLOSING, no CLOSE_WAIT/LAST_ACK */
	o = explain_port(REAL, "8717");
	HASNT(o, "CLOSE_WAIT: the peer sent its FIN");
	HASNT(o, "LAST_ACK: waits for the ACK of its FIN");
	free(o);
	/* not: simultaneous open has no third ACK of a handshake */
	o = explain_port(MORE, "8901");
	HASNT(o, "ACK: seq = x+1, ack = y+1 confirms");
	free(o);
}

/* The CSV line of the conversation with this server port. */
static char *csv_line(const char *path, const char *port)
{
	struct run r;
	char *l, *line = NULL;

	run_cli(&r, "--csv", "-p", port, path);
	assert_int_equal(r.rc, 0);
	l = strchr(r.out, '\n');
	assert_non_null(l);
	assert_non_null(strchr(l + 1, '\n'));	/* one line after the header */
	line = strndup(l + 1, strcspn(l + 1, "\n"));
	run_free(&r);
	return line;
}

static void summary_view(void **state)
{
	/*
	 * Each line against what its scenario did (scripts/scenarios/):
	 * field 8 and 9 bytes each way, 12 who closed first, 13 how it
	 * ended, 14-16 TIME_WAIT's end, how long and how it ended.
	 */
	static const struct {
		const char *path, *port, *want;
	} cases[] = {
		/* exchange: a request of 200, a response of 1000 */
		{ REAL, "8713", ",200,1000,*,*,client,FIN,client,>*,still" },
		/* half-close: the server sends 100 after the client's FIN */
		{ REAL, "8712", ",0,100,*,*,client,FIN,client,>*,still" },
		/* teardown-server-first: the server holds TIME_WAIT */
		{ REAL, "8705", ",0,0,*,*,server,FIN,server,>*,still" },
		/* reset-closed-port: refused; no handshake at the server */
		{ REAL, "8707", ",0,0,*,-,server,RST,-,-,-" },
		/* abort: SO_LINGER 0 at the client */
		{ REAL, "8710", ",0,0,*,*,client,abort,-,-,-" },
		/* reset-unread: the server closes with data unread */
		{ MORE, "8904", ",0,0,*,*,server,abort,-,-,-" },
		/* fin-wait2-timeout: the peer never closes; the late FIN's
		 * RST from no socket is not how it ended */
		{ MORE, "8906", ",0,0,*,*,client,timeout,-,-,-" },
		/* real-guest-resend: 400 sent, the peer's RST */
		{ FIX("real-guest-resend"), "7500",
		  ",400,0,*,-,server,RST,-,-,-" },
	};
	struct run r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *l = csv_line(cases[i].path, cases[i].port);
		char pat[256];
		const char *p = l;
		int fields = 0;

		/* skip conv, client, server, procs, start, duration */
		while (fields < 7 && (p = strchr(p, ',')))
			p++, fields++;
		assert_non_null(p);
		snprintf(pat, sizeof(pat), "%s", cases[i].want + 1);
		/* compare field by field; '*' matches any, '>*' a lower bound */
		for (char *w = strtok(pat, ","); w; w = strtok(NULL, ",")) {
			size_t n = strcspn(p, ",");

			if (strcmp(w, "*") &&
			    !(!strcmp(w, ">*") && *p == '>') &&
			    (strlen(w) != n || strncmp(p, w, n)))
				fail_msg("port %s: '%.*s' where '%s' (%s)",
					 cases[i].port, (int)n, p, w, l);
			p += n + (p[n] == ',');
		}
		free(l);
	}
	/* the TIME_WAIT a reused 4-tuple cut short: killed, in well under
	 * its 60 s */
	{
		char *l = csv_line(REAL, "8714");

		assert_non_null(strstr(l, ",server,FIN,server,0."));
		assert_non_null(strstr(l, ",kill"));
		free(l);
	}
	/* the handshake's round trips are the records' own times: the
	 * client's SYN (n=2 of real-guest-resend) to its SYN-ACK (n=3) */
	{
		char *l = csv_line(FIX("real-guest-resend"), "7500");

		assert_non_null(strstr(l, ",333.407,-,"));
		free(l);
	}
	/* CSV quoting: a comm with a comma and a quote */
	{
		static const char *const odd[] = { "set 1 comm=a,\"b", NULL };
		char *text = derive(FIX("real-guest-resend"), odd);
		const char *path = "summary-odd.trace";
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fputs(text, f);
		fclose(f);
		run_cli(&r, "--csv", path);
		assert_non_null(strstr(r.out, ",\"147/a,\"\"b\","));
		run_free(&r);
		remove(path);
		free(text);
	}
	/* the plain table has the same header words, aligned */
	run_cli(&r, "--summary", REAL);
	HAS(r.out, "conv  client");
	HAS(r.out, "closed_first  ended");
	run_free(&r);
	/* usage errors: two views, or ladder-only options */
	run_cli(&r, "--summary", "--json", REAL);
	assert_int_equal(r.rc, 2);
	run_free(&r);
	run_cli(&r, "--csv", "-e", REAL);
	assert_int_equal(r.rc, 2);
	run_free(&r);
}

static void pid_comm_filters(void **state)
{
	struct run r;

	(void)state;
	/* real-guest-scenarios: each scenario's client and server are
	 * processes of their own; 8713's client is pid 532 */
	run_cli(&r, "--csv", "--pid", "532", REAL);
	assert_int_equal(r.rc, 0);
	HAS(r.out, ":8713,532/tf-client,");
	HASNT(r.out, ":8712,");
	HASNT(r.out, ":8714,");
	run_free(&r);
	/* its server, and a pid no record names */
	run_cli(&r, "--csv", "--pid", "531", REAL);
	HAS(r.out, ":8713,532/tf-client,531/tf-server");
	run_free(&r);
	run_cli(&r, "--csv", "--pid", "999999", REAL);
	assert_int_equal(r.rc, 0);
	assert_null(strchr(strchr(r.out, '\n') + 1, '\n'));	/* header only */
	run_free(&r);
	/* a command name: every conversation whose records name it */
	run_cli(&r, "--csv", "--comm", "42-resend.t",
		FIX("real-guest-resend"));
	HAS(r.out, ":7500,147/42-resend.t,");
	run_free(&r);
	run_cli(&r, "--csv", "--comm", "tf-server", FIX("real-guest-resend"));
	assert_null(strchr(strchr(r.out, '\n') + 1, '\n'));
	run_free(&r);
	/* with another filter: both must hold */
	run_cli(&r, "--csv", "--comm", "tf-client", "-p", "8712", REAL);
	HAS(r.out, ":8712,");
	HASNT(r.out, ":8713,");
	run_free(&r);
	/* the ladder and -f follow it too */
	run_cli(&r, "--pid", "532", REAL);
	HAS(r.out, "[2001:db8::2]:8713");
	HASNT(r.out, "192.0.2.2:8712");
	run_free(&r);
	/* bad values: usage errors */
	run_cli(&r, "--pid", "0", REAL);
	assert_int_equal(r.rc, 2);
	run_free(&r);
	run_cli(&r, "--pid", "12x", REAL);
	assert_int_equal(r.rc, 2);
	run_free(&r);
	run_cli(&r, "--comm", "a-name-of-16-ch", REAL);	/* 15: fine */
	assert_int_equal(r.rc, 0);
	run_free(&r);
	run_cli(&r, "--comm", "a-name-of-16-chr", REAL);
	assert_int_equal(r.rc, 2);
	run_free(&r);
}

static void probe_and_timer(void **state)
{
	/*
	 * real-guest-resend (42-resend.t): a kernel client's four segments
	 * of 100 to a raw peer that acks none; the kernel sent the tail again
	 * (n=10, seq 301: its loss probe), then from the first byte (n=11,
	 * collapsed into one of 400: its retransmission timer).
	 */
	static const char *const no_probe[] = { "drop 10", NULL };
	static const char *const go_back[] = {
		"drop 10", "set 11 len=300",
		"ins 11 11 ts=17373800000 seq=2374302023 len=100", NULL };
	char *text, *o;

	(void)state;
	o = explain_port(FIX("real-guest-resend"), "7500");
	HAS(o, "no ACK for about two round trips: the");
	HAS(o, "no ACK came in time: sent again from");
	HASNT(o, "(retransmission timer, or a tail loss");
	free(o);
	/* not: with no probe the first resend is the timer's */
	text = derive(FIX("real-guest-resend"), no_probe);
	o = explain_text(text);
	HASNT(o, "no ACK for about two round trips");
	HAS(o, "no ACK came in time: sent again from");
	free(o);
	free(text);
	/* not: the tail resent right after another resend (the recovery
	 * after the timer goes on in order) is no probe */
	text = derive(FIX("real-guest-resend"), go_back);
	o = explain_text(text);
	HASNT(o, "no ACK for about two round trips");
	free(o);
	free(text);
	/* not: a lone segment (a FIN) is both head and tail: both named */
	o = explain_port(REAL, "8716");
	HASNT(o, "no ACK for about two round trips");
	HASNT(o, "sent again from");
	HAS(o, "(retransmission timer, or a tail loss");
	free(o);
}

static void explain_notes(void **state)
{
	struct run r;

	(void)state;
	run_cli(&r, "--explain", FIX("loopback-ipv4"));
	assert_non_null(strstr(r.out, "a SYN takes one sequence number"));
	assert_non_null(strstr(r.out, "a FIN takes one sequence number too"));
	assert_non_null(strstr(r.out, "TIME_WAIT: 60 s on Linux, a fixed"));
	assert_non_null(strstr(r.out, "[TIME_WAIT 60.001 s]"));
	run_free(&r);
	run_cli(&r, "--explain", FIX("lost-ack"));
	assert_non_null(strstr(r.out, "[retransmission]"));
	assert_non_null(strstr(r.out, "answered from TIME_WAIT"));
	assert_non_null(strstr(r.out, "[not received]"));
	run_free(&r);
	run_cli(&r, "--explain", FIX("halfclose"));
	assert_non_null(strstr(r.out, "half-close: data still flows"));
	assert_non_null(strstr(r.out, "(TIME_WAIT, still waiting at end of "
			       "trace)"));
	run_free(&r);
	run_cli(&r, FIX("halfclose"));
	assert_null(strstr(r.out, "half-close: data still flows"));
	run_free(&r);
}

static void filters(void **state)
{
	struct run r;

	(void)state;
	run_cli(&r, "--port", "8080", FIX("loopback-ipv4"));
	assert_non_null(strstr(r.out, "conversation 1"));
	run_free(&r);
	run_cli(&r, "--port", "1", FIX("loopback-ipv4"));
	assert_string_equal(r.out, "");
	run_free(&r);
	/* a conn id selects the whole conversation, both ends */
	run_cli(&r, "--conn", "0x1001", FIX("loopback-ipv4"));
	assert_non_null(strstr(r.out, "conn 4098"));
	assert_null(strstr(r.out, "listener"));
	run_free(&r);
	run_cli(&r, "--addr", "::1", FIX("loopback-ipv6"));
	assert_non_null(strstr(r.out, "conversation 1"));
	run_free(&r);
	run_cli(&r, "--addr", "10.9.9.9", FIX("halfclose"));
	assert_string_equal(r.out, "");
	run_free(&r);
	run_cli(&r, "--state", "close_wait", FIX("refused"));
	assert_string_equal(r.out, "");
	run_free(&r);
	run_cli(&r, "--state", "CLOSE_WAIT", "--json", FIX("lost-ack"));
	assert_int_equal(count_lines(r.out), 31);	/* not the listener */
	run_free(&r);
	/* time window: seconds from the first record, or @ts */
	run_cli(&r, "--json", "--since", "63", FIX("loopback-ipv4"));
	assert_int_equal(count_lines(r.out), 1);
	assert_non_null(strstr(r.out, "\"why\":\"expire\""));
	run_free(&r);
	run_cli(&r, "--json", "--until", "3455.8ms", FIX("loopback-ipv4"));
	assert_int_equal(count_lines(r.out), 3);
	run_free(&r);
	run_cli(&r, "--json", "--since", "@8123456798000", "--until",
		"@8123456798000", FIX("loopback-ipv4"));
	assert_int_equal(count_lines(r.out), 1);
	assert_non_null(strstr(r.out, "\"n\":3,"));
	run_free(&r);
}

static void follow_pipe(void **state)
{
	size_t len;
	char *text = read_file(FIX("loopback-ipv4"), &len);
	int fds[2], saved = dup(0);
	struct run r;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], text, len), (ssize_t)len);
	close(fds[1]);
	dup2(fds[0], 0);
	close(fds[0]);
	run_cli(&r, "-f", "-S", "-");
	dup2(saved, 0);
	close(saved);
	assert_int_equal(r.rc, 0);
	assert_int_equal(count_lines(r.out), 29);
	assert_non_null(strstr(r.out, " 4097 tx    127.0.0.1:40000 > "
			       "127.0.0.1:8080: Flags [S], seq 1633335101, "
			       "win 65495, length 0 (SYN_SENT) curl[312]\n"));
	assert_non_null(strstr(r.out, " 4097 state 127.0.0.1:40000 - "
			       "127.0.0.1:8080: SYN_SENT -> ESTABLISHED "
			       "curl[312]\n"));
	assert_non_null(strstr(r.out, "TIME_WAIT -> CLOSE (expire), after "
			       "60001.250 ms"));
	run_free(&r);
	free(text);
}

static void colour(void **state)
{
	struct run r;

	(void)state;
	run_cli(&r, "--color=always", FIX("refused"));
	assert_non_null(strstr(r.out, "\033["));
	run_free(&r);
	run_cli(&r, "--color=never", FIX("refused"));
	assert_null(strstr(r.out, "\033["));
	run_free(&r);
	setenv("NO_COLOR", "1", 1);
	run_cli(&r, "--states", FIX("refused"));	/* not a tty anyway */
	assert_null(strstr(r.out, "\033["));
	run_free(&r);
	unsetenv("NO_COLOR");
}

int test_model_run(unsigned int *ntests)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(join_loopback),
		cmocka_unit_test(join_two_netns),
		cmocka_unit_test(no_join_far_apart),
		cmocka_unit_test(isn_picks_the_peer),
		cmocka_unit_test(reset_without_socket),
		cmocka_unit_test(lost_ack_marks),
		cmocka_unit_test(relative_numbers),
		cmocka_unit_test(one_end_only),
		cmocka_unit_test(read_twice),
		cmocka_unit_test(new_trace_not_a_repeat),
		cmocka_unit_test(tw_kill_by_syn),
		cmocka_unit_test(tw_kill_by_rst),
		cmocka_unit_test(tw_kill_other),
		cmocka_unit_test(tw_kill_reuse),
		cmocka_unit_test(tw_expire),
		cmocka_unit_test(lost_only_when_traced),
		cmocka_unit_test(lost_only_if_the_mode_records_it),
		cmocka_unit_test(acked_means_arrived),
		cmocka_unit_test(simultaneous_close),
		cmocka_unit_test(reset_notes),
		cmocka_unit_test(time_wait_answers),
		cmocka_unit_test(rearm_notes),
		cmocka_unit_test(fast_open),
		cmocka_unit_test(synopt_notes),
		cmocka_unit_test(handshake_unseen),
		cmocka_unit_test(real_notes),
		cmocka_unit_test(three_segment_close),
		cmocka_unit_test(resend_notes),
		cmocka_unit_test(fin_wait2_reset),
		cmocka_unit_test(unseen_and_unknown),
		cmocka_unit_test(basic_notes),
		cmocka_unit_test(plain_reset),
		cmocka_unit_test(fast_retransmit),
		cmocka_unit_test(probe_and_timer),
		cmocka_unit_test(ordinary_notes_not),
		cmocka_unit_test(summary_view),
		cmocka_unit_test(pid_comm_filters),
		cmocka_unit_test(explain_notes),
		cmocka_unit_test(filters),
		cmocka_unit_test(follow_pipe),
		cmocka_unit_test(colour),
	};

	*ntests = sizeof(tests) / sizeof(tests[0]);
	return cmocka_run_group_tests_name("model", tests, NULL, NULL);
}
