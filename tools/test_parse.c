// SPDX-License-Identifier: GPL-2.0 OR MIT
/* test_parse.c - the text format, line by line (docs/format.md). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "test.h"

/* The two example lines of docs/format.md. */
static const char ex_tx[] =
	"n=5 ts=8123456789 cpu=1 netns=4026531840 conn=4097 ev=tx sock=full "
	"af=4 laddr=192.0.2.1 lport=40000 raddr=192.0.2.2 rport=8080 old=- "
	"new=- state=SYN_SENT flags=S seq=1633335101 ack=0 win=64240 len=0 "
	"pid=312 comm=curl who=cur why=- dur=-";
static const char ex_state[] =
	"n=6 ts=8123501234 cpu=1 netns=4026531840 conn=4097 ev=state "
	"sock=full af=4 laddr=192.0.2.1 lport=40000 raddr=192.0.2.2 "
	"rport=8080 old=SYN_SENT new=ESTABLISHED state=- flags=- seq=- ack=- "
	"win=- len=- pid=312 comm=curl who=owner why=- dur=-";

struct pctx {
	struct tf_parser p;
	FILE *err;
	char *errtext;
	size_t errlen;
	struct tf_rec r;
};

static int setup(void **state)
{
	struct pctx *c = calloc(1, sizeof(*c));

	c->err = open_memstream(&c->errtext, &c->errlen);
	tf_parser_init(&c->p, c->err);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct pctx *c = *state;

	tf_parser_done(&c->p);
	fclose(c->err);
	free(c->errtext);
	free(c);
	return 0;
}

static enum tf_line parse(struct pctx *c, const char *s)
{
	return tf_parse_line(&c->p, s, strlen(s), &c->r);
}

static const char *errs(struct pctx *c)
{
	fflush(c->err);
	return c->errtext ? c->errtext : "";
}

static void every_field_tx(void **state)
{
	struct pctx *c = *state;
	const struct tcpflow_record *x = &c->r.r;
	const uint8_t la[4] = { 192, 0, 2, 1 }, ra[4] = { 192, 0, 2, 2 };

	assert_int_equal(parse(c, ex_tx), TF_LINE_RECORD);
	assert_int_equal(x->n, 5);
	assert_int_equal(x->ts_ns, 8123456789ULL);
	assert_int_equal(x->cpu, 1);
	assert_int_equal(x->netns, 4026531840U);
	assert_int_equal(x->conn, 4097);
	assert_int_equal(x->event, TCPFLOW_EV_TX);
	assert_int_equal(x->sock, TCPFLOW_SK_FULL);
	assert_int_equal(x->af, 4);
	assert_memory_equal(x->laddr, la, 4);
	assert_memory_equal(x->raddr, ra, 4);
	assert_int_equal(x->lport, 40000);
	assert_int_equal(x->rport, 8080);
	assert_int_equal(x->old_state, 0);
	assert_int_equal(x->new_state, TF_ST_SYN_SENT);
	assert_int_equal(x->flags, TCPFLOW_F_SYN);
	assert_int_equal(x->seq, 1633335101U);
	assert_int_equal(x->ack, 0);
	assert_int_equal(x->win, 64240);
	assert_int_equal(x->len, 0);
	assert_int_equal(x->pid, 312);
	assert_string_equal(x->comm, "curl");
	assert_int_equal(x->who, TCPFLOW_WHO_CUR);
	assert_int_equal(x->why, TCPFLOW_WHY_NONE);
	assert_true(c->r.dash & TF_DASH(TF_K_DUR));
	assert_false(c->r.dash & TF_DASH(TF_K_SEQ));
	assert_int_equal(c->r.line, 1);
	assert_string_equal(errs(c), "");
}

/*
 * opts (1.2): a SYN's options as the module prints them (module/procfs.c
 * through tcpflow_opts_text()); a 1.1 line without the key reads as "-";
 * the three text forms of the reader.
 */
static void synopt(void **state)
{
	struct pctx *c = *state;
	const struct tcpflow_record *x = &c->r.r;
	char line[512], buf[TF_OPTS_MAX], txt[TCPFLOW_OPTS_TEXT];

	snprintf(line, sizeof(line), "%s opts=mss:1460,ws:7,sack,ts:4242",
		 ex_tx);
	assert_int_equal(parse(c, line), TF_LINE_RECORD);
	assert_false(c->r.dash & TF_DASH(TF_K_OPTS));
	assert_int_equal(x->opt.bits, TCPFLOW_OPT_SEEN | TCPFLOW_OPT_MSS |
			 TCPFLOW_OPT_WS | TCPFLOW_OPT_SACK | TCPFLOW_OPT_TS);
	assert_int_equal(x->opt.mss, 1460);
	assert_int_equal(x->opt.ws, 7);
	assert_int_equal(x->opt.tsval, 4242);
	tf_opts_str(buf, x, c->r.dash, TF_OPTS_LADDER);
	assert_string_equal(buf, "mss 1460 ws 7 sack ts");
	tf_opts_str(buf, x, c->r.dash, TF_OPTS_TCPDUMP);
	assert_string_equal(buf, "mss 1460,sackOK,TS val 4242,wscale 7");
	tcpflow_opts_text(txt, x);	/* what the module would print */
	assert_string_equal(txt, "mss:1460,ws:7,sack,ts:4242");

	snprintf(line, sizeof(line), "%s opts=ws:0,future:3,xyz", ex_tx);
	assert_int_equal(parse(c, line), TF_LINE_RECORD);
	assert_int_equal(x->opt.bits, TCPFLOW_OPT_SEEN | TCPFLOW_OPT_WS);
	tcpflow_opts_text(txt, x);
	assert_string_equal(txt, "ws:0");

	snprintf(line, sizeof(line), "%s opts=none", ex_tx);
	assert_int_equal(parse(c, line), TF_LINE_RECORD);
	assert_int_equal(x->opt.bits, TCPFLOW_OPT_SEEN);
	tf_opts_str(buf, x, c->r.dash, TF_OPTS_LADDER);
	assert_string_equal(buf, "no options");
	tcpflow_opts_text(txt, x);
	assert_string_equal(txt, "none");

	assert_int_equal(parse(c, ex_tx), TF_LINE_RECORD);	/* 1.1 */
	assert_true(c->r.dash & TF_DASH(TF_K_OPTS));
	assert_int_equal(tf_opts_str(buf, x, c->r.dash, TF_OPTS_LADDER), 0);
	assert_string_equal(errs(c), "");

	snprintf(line, sizeof(line), "%s opts=mss:70000", ex_tx);
	assert_int_equal(parse(c, line), TF_LINE_SKIP);
	snprintf(line, sizeof(line), "%s opts=mss:1460,", ex_tx);
	assert_int_equal(parse(c, line), TF_LINE_SKIP);
	snprintf(line, sizeof(line), "%s opts=sack:1", ex_tx);
	assert_int_equal(parse(c, line), TF_LINE_SKIP);
	assert_non_null(strstr(errs(c), "bad value for opts: 'mss:70000'"));
}

static void every_field_state(void **state)
{
	struct pctx *c = *state;
	const struct tcpflow_record *x = &c->r.r;

	assert_int_equal(parse(c, ex_state), TF_LINE_RECORD);
	assert_int_equal(x->event, TCPFLOW_EV_STATE);
	assert_int_equal(x->old_state, TF_ST_SYN_SENT);
	assert_int_equal(x->new_state, TF_ST_ESTABLISHED);
	assert_int_equal(x->who, TCPFLOW_WHO_OWNER);
	for (int k = TF_K_STATE; k <= TF_K_LEN; k++)
		assert_true(c->r.dash & TF_DASH(k));
	assert_false(c->r.dash & TF_DASH(TF_K_OLD));
}

static void tw_expire_and_dash(void **state)
{
	struct pctx *c = *state;
	const struct tcpflow_record *x = &c->r.r;

	assert_int_equal(parse(c, "n=9 ts=1 cpu=0 netns=1 conn=7 ev=state "
			       "sock=tw af=4 laddr=10.0.0.1 lport=1 "
			       "raddr=10.0.0.2 rport=2 old=TIME_WAIT new=CLOSE "
			       "state=- flags=- seq=- ack=- win=- len=- pid=- "
			       "comm=- who=- why=expire "
			       "dur=60001234567"), TF_LINE_RECORD);
	assert_int_equal(x->sock, TCPFLOW_SK_TW);
	assert_int_equal(x->why, TCPFLOW_WHY_EXPIRE);
	assert_int_equal(x->dur_ns, 60001234567ULL);
	assert_int_equal(x->who, TCPFLOW_WHO_NONE);
	assert_true(c->r.dash & TF_DASH(TF_K_PID));
	assert_true(c->r.dash & TF_DASH(TF_K_COMM));
	assert_string_equal(x->comm, "");
}

static void ipv6(void **state)
{
	struct pctx *c = *state;
	const struct tcpflow_record *x = &c->r.r;
	const uint8_t lo[16] = { [15] = 1 };
	const uint8_t db8[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x2a };

	assert_int_equal(parse(c, "n=1 ts=1 cpu=0 netns=1 conn=1 ev=rx "
			       "sock=req af=6 laddr=::1 lport=443 "
			       "raddr=2001:db8::2a rport=50000 old=- new=- "
			       "state=NEW_SYN_RECV flags=. seq=1 ack=2 win=3 "
			       "len=0 pid=- comm=- who=- why=- dur=-"),
			 TF_LINE_RECORD);
	assert_int_equal(x->af, 6);
	assert_memory_equal(x->laddr, lo, 16);
	assert_memory_equal(x->raddr, db8, 16);
	assert_int_equal(x->sock, TCPFLOW_SK_REQ);
	assert_int_equal(x->new_state, TF_ST_NEW_SYN_RECV);
	assert_int_equal(x->flags, TCPFLOW_F_ACK);
	/* an IPv6 address with af=4 is garbled */
	assert_int_equal(parse(c, "n=1 ts=1 cpu=0 netns=1 conn=1 ev=rx "
			       "sock=req af=4 laddr=::1 lport=443 "
			       "raddr=::2 rport=50000 old=- new=- "
			       "state=NEW_SYN_RECV flags=. seq=1 ack=2 win=3 "
			       "len=0 pid=- comm=- who=- why=- dur=-"),
			 TF_LINE_SKIP);
	assert_non_null(strstr(errs(c), "line 2: address family"));
}

static void comm_escapes(void **state)
{
	struct pctx *c = *state;
	char line[512];

	snprintf(line, sizeof(line), "%.*scomm=my\\x20app\\x3d\\x5c\\xff "
		 "who=cur why=- dur=-", (int)(strstr(ex_tx, "comm=") - ex_tx),
		 ex_tx);
	assert_int_equal(parse(c, line), TF_LINE_RECORD);
	assert_string_equal(c->r.r.comm, "my app=\\\xff");

	/* round trip for display */
	char out[TF_COMM_MAX];

	tf_comm_str(out, c->r.r.comm);
	assert_string_equal(out, "my\\x20app\\x3d\\x5c\\xff");

	/* half an escape, a NUL, too long, a raw '=' */
	static const char *const bad[] = {
		"comm=ab\\x2", "comm=\\x00", "comm=abcdefghijklmnop",
		"comm=a=b", "comm=\\y41",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "%.*s%s who=cur why=- dur=-",
			 (int)(strstr(ex_tx, "comm=") - ex_tx), ex_tx, bad[i]);
		assert_int_equal(parse(c, line), TF_LINE_SKIP);
	}
	assert_non_null(strstr(errs(c), "bad value for comm: 'ab\\x2'"));
}

static void flags_all_letters(void **state)
{
	struct pctx *c = *state;
	char line[512], buf[12];
	const char *p = strstr(ex_tx, "flags=S");

	snprintf(line, sizeof(line), "%.*sflags=FSRP.UEW%s",
		 (int)(p - ex_tx), ex_tx, p + 7);
	assert_int_equal(parse(c, line), TF_LINE_RECORD);
	assert_int_equal(c->r.r.flags, 0xff);
	tf_flags_str(buf, c->r.r.flags);
	assert_string_equal(buf, "FSRP.UEW");
	snprintf(line, sizeof(line), "%.*sflags=none%s", (int)(p - ex_tx),
		 ex_tx, p + 7);
	assert_int_equal(parse(c, line), TF_LINE_RECORD);
	assert_int_equal(c->r.r.flags, 0);
	tf_flags_str(buf, 0);
	assert_string_equal(buf, "none");
	snprintf(line, sizeof(line), "%.*sflags=SX%s", (int)(p - ex_tx),
		 ex_tx, p + 7);
	assert_int_equal(parse(c, line), TF_LINE_SKIP);
}

static void unknown_keys_ignored(void **state)
{
	struct pctx *c = *state;
	char line[1024];
	const char *p = strstr(ex_tx, " seq=");

	/* a newer minor version: new keys anywhere, even in the middle */
	snprintf(line, sizeof(line), "%.*s rtt=123 color=blue%s mss=1460",
		 (int)(p - ex_tx), ex_tx, p);
	assert_int_equal(parse(c, line), TF_LINE_RECORD);
	assert_int_equal(c->r.r.seq, 1633335101U);
	assert_string_equal(errs(c), "");
}

static void bad_values_with_line_numbers(void **state)
{
	struct pctx *c = *state;
	char line[512];
	const char *p = strstr(ex_tx, "seq=");

	assert_int_equal(parse(c, ""), TF_LINE_SKIP);
	assert_int_equal(parse(c, "# a comment"), TF_LINE_SKIP);
	snprintf(line, sizeof(line), "%.*sseq=x12%s", (int)(p - ex_tx), ex_tx,
		 p + 14);
	assert_int_equal(parse(c, line), TF_LINE_SKIP);
	assert_non_null(strstr(errs(c), TF_PROG
			       ": line 3: bad value for seq: 'x12'\n"));
	/* overflow of each width */
	snprintf(line, sizeof(line), "%.*sseq=4294967296%s", (int)(p - ex_tx),
		 ex_tx, p + 14);
	assert_int_equal(parse(c, line), TF_LINE_SKIP);
	assert_int_equal(parse(c, "n=18446744073709551616"), TF_LINE_SKIP);
	assert_non_null(strstr(errs(c), "line 5: bad value for n"));
	assert_int_equal(parse(c, "garbage"), TF_LINE_SKIP);
	assert_non_null(strstr(errs(c),
			       "line 6: expected key=value, got 'garbage'"));
	/* truncated line: keys missing */
	assert_int_equal(parse(c, "n=5 ts=8123456789 cpu=1"), TF_LINE_SKIP);
	assert_non_null(strstr(errs(c), "line 7: missing key 'netns'"));
	/* binary junk is quoted, not printed raw */
	assert_int_equal(tf_parse_line(&c->p, "n=\x01\x1b[31m", 8, &c->r),
			 TF_LINE_SKIP);
	assert_non_null(strstr(errs(c), "'\\x01\\x1b[31m'"));
	assert_int_equal(c->p.nbad, 6);
}

static void nul_and_crlf(void **state)
{
	struct pctx *c = *state;
	char line[512];
	size_t n = strlen(ex_tx);

	memcpy(line, ex_tx, n);
	memcpy(line + n, "\r", 1);
	assert_int_equal(tf_parse_line(&c->p, line, n + 1, &c->r),
			 TF_LINE_RECORD);
	line[10] = '\0';
	assert_int_equal(tf_parse_line(&c->p, line, n, &c->r), TF_LINE_SKIP);
}

static void header_versions(void **state)
{
	struct pctx *c = *state;

	assert_int_equal(parse(c, "# tcpflow 1.0 capacity=262144 first=1 "
			       "next=58 overwritten=0 missed=0 "
			       "segments=default port=- addr=- netns=-"),
			 TF_LINE_SKIP);
	assert_true(c->p.hdr.seen);
	assert_int_equal(c->p.hdr.capacity, 262144);
	assert_int_equal(c->p.hdr.next, 58);
	assert_string_equal(c->p.hdr.segments, "default");
	/* a newer minor version is fine, with keys we do not know */
	assert_int_equal(parse(c, "# tcpflow 1.7 capacity=8 color=red"),
			 TF_LINE_SKIP);
	assert_int_equal(c->p.hdr.minor, 7);
	assert_false(c->p.fatal);
	/* another major is not */
	assert_int_equal(parse(c, "# tcpflow 2.0 capacity=8"), TF_LINE_FATAL);
	assert_true(c->p.fatal);
	assert_non_null(strstr(errs(c), "line 3: format version 2.0 is not "
			       "supported"));
	/* and everything after it is refused too */
	assert_int_equal(parse(c, ex_tx), TF_LINE_FATAL);
}

static void header_garbled_version(void **state)
{
	struct pctx *c = *state;

	assert_int_equal(parse(c, "# tcpflow one.zero"), TF_LINE_FATAL);
	assert_non_null(strstr(errs(c), "not a format version"));
}

static void gap_line(void **state)
{
	struct pctx *c = *state;

	assert_int_equal(parse(c, "# gap from=100 to=250"), TF_LINE_SKIP);
	assert_non_null(strstr(errs(c), "line 1: records 100..249 were "
			       "overwritten before they were read"));
	assert_int_equal(c->p.ngap, 150);
	assert_int_equal(parse(c, "# gap from=9 to=x"), TF_LINE_SKIP);
	assert_non_null(strstr(errs(c), "line 2: garbled gap line"));
}

static void warning_limit(void **state)
{
	struct pctx *c = *state;

	for (int i = 0; i < 60; i++)
		parse(c, "junk");
	tf_parser_done(&c->p);
	assert_non_null(strstr(errs(c), "line 50: expected"));
	assert_null(strstr(errs(c), "line 51: expected"));
	assert_non_null(strstr(errs(c), "10 more warnings not shown"));
}

/* Lines through tf_input: long ones, no final newline. */
static void input_splitting(void **state)
{
	size_t big = 3 << 20;
	char *text = malloc(big + 4096), path[64];
	const char *line;
	size_t len, n = 0;
	struct tf_input in;
	int fd;

	(void)state;
	n += (size_t)sprintf(text + n, "first\n");
	memset(text + n, 'a', big);	/* longer than the buffer */
	n += big;
	n += (size_t)sprintf(text + n, "\nsecond\nlast");
	fd = text_file(text, n, path, sizeof(path));
	assert_int_equal(tf_input_init(&in, fd), 0);
	assert_int_equal(tf_input_next(&in, &line, &len, 1), TF_IN_LINE);
	assert_int_equal(len, 5);
	assert_memory_equal(line, "first", 5);
	assert_int_equal(tf_input_next(&in, &line, &len, 1), TF_IN_LONG);
	assert_int_equal(tf_input_next(&in, &line, &len, 1), TF_IN_LINE);
	assert_memory_equal(line, "second", 6);
	assert_int_equal(tf_input_next(&in, &line, &len, 1), TF_IN_LINE);
	assert_int_equal(len, 4);
	assert_int_equal(tf_input_next(&in, &line, &len, 1), TF_IN_AGAIN);
	tf_input_free(&in);
	close(fd);
	free(text);
}

/* The command line on bad input: the rest is still shown. */
static void cli_garbled_line(void **state)
{
	struct run r;
	char path[64], *text = read_file(TESTDATA "/fixtures/refused.trace",
					 NULL);
	char *p = strstr(text, "\nn=3 ");
	char buf[8192];
	int fd;

	(void)state;
	assert_non_null(p);
	snprintf(buf, sizeof(buf), "%.*s\nn=x3 junk here%s", (int)(p - text),
		 text, p);
	fd = text_file(buf, strlen(buf), path, sizeof(path));
	run_cli(&r, "--states", path);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.err, "line 4: bad value for n: 'x3'"));
	assert_non_null(strstr(r.out, "SYN_SENT     -> CLOSE"));
	run_free(&r);
	close(fd);
	free(text);
}

static void cli_wrong_major(void **state)
{
	static const char text[] = "# tcpflow 2.0 capacity=1\nn=1\n";
	struct run r;
	char path[64];
	int fd = text_file(text, sizeof(text) - 1, path, sizeof(path));

	(void)state;
	run_cli(&r, path);
	assert_int_equal(r.rc, 2);
	assert_non_null(strstr(r.err, "format version 2.0 is not supported"));
	assert_string_equal(r.out, "");
	run_free(&r);
	close(fd);
}

static void cli_usage(void **state)
{
	struct run r;

	(void)state;
	run_cli(&r, "--help");
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "--explain"));
	assert_non_null(strstr(r.out, "--pcap FILE"));
	run_free(&r);
	run_cli(&r, "--bogus");
	assert_int_equal(r.rc, 2);
	assert_non_null(strstr(r.err, "unknown option '--bogus'"));
	run_free(&r);
	run_cli(&r, "--port", "70000", "x");
	assert_int_equal(r.rc, 2);
	run_free(&r);
	run_cli(&r, "--state", "NOPE", "x");
	assert_int_equal(r.rc, 2);
	run_free(&r);
	run_cli(&r, "/nonexistent/trace");
	assert_int_equal(r.rc, 1);
	assert_non_null(strstr(r.err, "No such file"));
	run_free(&r);
	run_cli(&r, "-s", "-j", "x");
	assert_int_equal(r.rc, 2);
	run_free(&r);
}

int test_parse_run(unsigned int *ntests)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(every_field_tx),
		T(every_field_state),
		T(synopt),
		T(tw_expire_and_dash),
		T(ipv6),
		T(comm_escapes),
		T(flags_all_letters),
		T(unknown_keys_ignored),
		T(bad_values_with_line_numbers),
		T(nul_and_crlf),
		T(header_versions),
		T(header_garbled_version),
		T(gap_line),
		T(warning_limit),
		cmocka_unit_test(input_splitting),
		cmocka_unit_test(cli_garbled_line),
		cmocka_unit_test(cli_wrong_major),
		cmocka_unit_test(cli_usage),
	};
#undef T
	*ntests = sizeof(tests) / sizeof(tests[0]);
	return cmocka_run_group_tests_name("parse", tests, NULL, NULL);
}
