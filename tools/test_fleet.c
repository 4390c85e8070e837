// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * test_fleet.c - JSON lines in, and merged streams of many hosts
 * (docs/fleet.md, jsonin.c).
 *
 * The truth each test holds the reader to is the text format's reading
 * of the same records, which the other tests check against real guest
 * traces: --json's output read back is the same records; a host's
 * records in a merged stream, wrapped as journalctl, Vector or Fluent
 * Bit write them and interleaved with another host's that have the very
 * same conn ids and 4-tuples, give what that host's trace alone gives,
 * view by view.
 */
#include <fcntl.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "test.h"

#define FIX(name) TESTDATA "/fixtures/" name ".trace"

/* growing text */
struct buf {
	char *s;
	size_t len, cap;
};

static void add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		if (!b->s)
			abort();
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void adds(struct buf *b, const char *s)
{
	add(b, s, strlen(s));
}

/* a JSON string's contents: our lines are printable ASCII */
static void add_escaped(struct buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			add(b, "\\", 1);
		add(b, s + i, 1);
	}
}

static char *run_out(const char *const *argv, char **err)
{
	struct run r;
	char *out;

	run_argv(&r, argv);
	assert_int_equal(r.rc, 0);
	out = r.out;
	r.out = NULL;
	if (err) {
		*err = r.err;
		r.err = NULL;
	}
	run_free(&r);
	return out;
}

enum form { JOURNAL, VECTOR, FLUENTBIT, TEXT_IN_JOURNAL, BYTES_IN_JOURNAL };

struct host {
	const char *name, *boot;
	enum form form;
};

/* One record (a line of --json, or of the text format) in a log entry. */
static void entry(struct buf *b, const struct host *h, const char *rec,
		  size_t n)
{
	switch (h->form) {
	case JOURNAL:
	case TEXT_IN_JOURNAL:
		adds(b, "{\"__CURSOR\":\"s=0;i=1\",\"__REALTIME_TIMESTAMP\":"
		     "\"1764925200000000\",\"_BOOT_ID\":\"");
		adds(b, h->boot);
		adds(b, "\",\"_HOSTNAME\":\"");
		adds(b, h->name);
		adds(b, "\",\"SYSLOG_IDENTIFIER\":\"tcpflow\","
		     "\"_SYSTEMD_UNIT\":\"tcpflow-journal.service\","
		     "\"MESSAGE\":\"");
		add_escaped(b, rec, n);
		adds(b, "\"}\n");
		break;
	case BYTES_IN_JOURNAL:	/* journalctl's form for binary fields */
		adds(b, "{\"_HOSTNAME\":\"");
		adds(b, h->name);
		adds(b, "\",\"_BOOT_ID\":\"");
		adds(b, h->boot);
		adds(b, "\",\"MESSAGE\":[");
		for (size_t i = 0; i < n; i++) {
			char d[8];

			snprintf(d, sizeof(d), "%s%u", i ? "," : "",
				 (unsigned char)rec[i]);
			adds(b, d);
		}
		adds(b, "]}\n");
		break;
	case VECTOR:		/* journald source, legacy namespace */
		adds(b, "{\"message\":\"");
		add_escaped(b, rec, n);
		adds(b, "\",\"host\":\"");
		adds(b, h->name);
		adds(b, "\",\"_BOOT_ID\":\"");
		adds(b, h->boot);
		adds(b, "\",\"SYSLOG_IDENTIFIER\":\"tcpflow\",\"source_type\":"
		     "\"journald\",\"timestamp\":\"2025-12-05T09:00:00Z\"}\n");
		break;
	case FLUENTBIT:		/* systemd input, Strip_Underscores On */
		adds(b, "{\"HOSTNAME\":\"");
		adds(b, h->name);
		adds(b, "\",\"BOOT_ID\":\"");
		adds(b, h->boot);
		adds(b, "\",\"SYSLOG_IDENTIFIER\":\"tcpflow\",\"MESSAGE\":\"");
		add_escaped(b, rec, n);
		adds(b, "\"}\n");
		break;
	}
}

/* What else a journal holds: another program, and tcpflow-show's stderr. */
static void noise(struct buf *b, const struct host *h)
{
	adds(b, "{\"_HOSTNAME\":\"");
	adds(b, h->name);
	adds(b, "\",\"SYSLOG_IDENTIFIER\":\"sshd\","
	     "\"MESSAGE\":\"{\\\"n\\\":1}\"}\n");
	adds(b, "{\"_HOSTNAME\":\"");
	adds(b, h->name);
	adds(b, "\",\"SYSLOG_IDENTIFIER\":\"tcpflow\",\"MESSAGE\":"
	     "\"tcpflow-show: 3 records were overwritten\"}\n");
}

/*
 * The records of fixture `name`, one log entry each, for every host in
 * turn, record by record (hosts interleaved as in a central journal).
 */
static char *merged(const char *path, const struct host *hs, size_t nh)
{
	char *json = run_out((const char *const[]){ "tcpflow-show", "--json",
						    path, NULL }, NULL);
	char *text = read_file(path, NULL);
	struct buf b = { 0 };
	const char *p = json, *q = text;

	assert_non_null(text);
	adds(&b, "");
	for (size_t i = 0; i < nh; i++)
		noise(&b, &hs[i]);
	while (*p) {
		size_t n = strcspn(p, "\n"), m;

		/* the text line of the same record (the file has comments) */
		while (*q == '#' || *q == '\n')
			q += strcspn(q, "\n") + (q[strcspn(q, "\n")] == '\n');
		m = strcspn(q, "\n");
		for (size_t i = 0; i < nh; i++) {
			if (hs[i].form == TEXT_IN_JOURNAL ||
			    hs[i].form == BYTES_IN_JOURNAL)
				entry(&b, &hs[i], q, m);
			else
				entry(&b, &hs[i], p, n);
		}
		p += n + (p[n] == '\n');
		q += m + (q[m] == '\n');
	}
	for (size_t i = 0; i < nh; i++)
		noise(&b, &hs[i]);
	free(json);
	free(text);
	return b.s;
}

/* Remove every match of re from s, in place. */
static void strip(char *s, const char *re)
{
	regex_t rx;
	regmatch_t m;
	char *p = s;

	assert_int_equal(regcomp(&rx, re, REG_EXTENDED | REG_NEWLINE), 0);
	while (!regexec(&rx, p, 1, &m, 0) && m.rm_eo > m.rm_so) {
		memmove(p + m.rm_so, p + m.rm_eo, strlen(p + m.rm_eo) + 1);
		p += m.rm_so;
	}
	regfree(&rx);
}

/* --json read back: the very records the text gave, every fixture. */
static void json_reads_back(void **state)
{
	static const char *const names[] = {
		"halfclose", "loopback-ipv6", "real-guest-more",
		"real-guest-scenarios", "real-guest-scenarios-bpf",
		"real-guest-synopts", "real-guest-simopen-all", "xml-escape",
		"real-guest-notes",
	};
	/*
	 * JSON lines have no header: the views of a segments=all trace
	 * (what may be lost) and -T (epoch_offset) need the text's.
	 */
	static const char *const same_view[] = {
		"loopback-ipv6", "real-guest-more", "real-guest-scenarios",
		"real-guest-scenarios-bpf", "real-guest-synopts", "xml-escape",
		"real-guest-notes",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[512], jpath[64], *text, *json, *err;
		struct tf_trace a, b;
		int fd;

		snprintf(path, sizeof(path), TESTDATA "/fixtures/%s.trace",
			 names[i]);
		text = read_file(path, NULL);
		assert_int_equal(load_text(&a, text, &err), 0);
		free(err);
		json = run_out((const char *const[]){ "tcpflow-show", "--json",
						      path, NULL }, NULL);
		assert_int_equal(load_text(&b, json, &err), 0);
		if (*err)
			fail_msg("%s: %s", names[i], err);
		free(err);
		assert_int_equal(a.nrec, b.nrec);
		for (size_t k = 0; k < a.nrec; k++) {
			const struct tf_rec *x = &a.rec[k], *y = &b.rec[k];

			if (memcmp(&x->r, &y->r, sizeof(x->r)) ||
			    x->dash != y->dash)
				fail_msg("%s: record %zu differs read back",
					 names[i], k + 1);
			assert_int_equal(b.rec[k].host, 0);
		}
		/* and the views say the same: the ladder with its notes */
		fd = text_file(json, strlen(json), jpath, sizeof(jpath));
		for (size_t v = 0; v < sizeof(same_view) / sizeof(*same_view);
		     v++) {
			if (strcmp(same_view[v], names[i]))
				continue;
			char *l1 = run_out((const char *const[]){
				"tcpflow-show", "-e", path, NULL }, NULL);
			char *l2 = run_out((const char *const[]){
				"tcpflow-show", "-e", jpath, NULL }, NULL);

			assert_string_equal(l1, l2);
			free(l1);
			free(l2);
		}
		close(fd);
		tf_trace_free(&a);
		tf_trace_free(&b);
		free(text);
		free(json);
	}
}

/* What a host's view has that the trace alone has not, or otherwise. */
static void strip_host(char *s, const char *name)
{
	char re[128];

	/* the ladder's and Mermaid's headings; conversations' numbers */
	snprintf(re, sizeof(re), " on %s", name);
	strip(s, re);
	strip(s, "conversation [0-9]+");
	/* --json's keys */
	snprintf(re, sizeof(re), ",\"host\":\"%s\",\"boot\":"
		 "(\"[^\"]*\"|null)", name);
	strip(s, re);
	/* --states' lines */
	snprintf(re, sizeof(re), "^%s: ", name);
	strip(s, re);
	/* --csv: the conv and host columns */
	strip(s, "^[0-9]+,");
	strip(s, "^conv,(host,)?");
	snprintf(re, sizeof(re), "^%s,", name);
	strip(s, re);
}

/*
 * Two hosts whose records are the same (the same conn ids, 4-tuples,
 * netns, times): each host's conversations, and nothing else, are what
 * the trace alone gives; no record is taken for a repeat of the other's.
 */
static void check_two_hosts(const char *fix, const struct host *hs)
{
	char *m = merged(fix, hs, 2), mpath[64], *err;
	struct tf_trace one, two;
	size_t nconv = 0;
	int fd;

	{
		char *text = read_file(fix, NULL);

		assert_int_equal(load_text(&one, text, &err), 0);
		free(err);
		free(text);
	}
	assert_int_equal(load_text(&two, m, &err), 0);
	if (*err)
		fail_msg("%s", err);	/* no warning: noise is skipped */
	free(err);
	assert_int_equal(two.nrec, 2 * one.nrec);
	assert_int_equal(two.ngroup, 2 * one.ngroup);
	assert_int_equal(two.hosts.n, 3);
	for (size_t j = 0; j < two.ngroup; j++) {
		const struct tf_group *g = &two.group[j];
		const struct tf_group *o = &one.group[j % one.ngroup];
		const uint32_t *idx = two.order + g->off;

		/* host 1's groups, then host 2's, each as the trace alone */
		assert_int_equal(g->host, 1 + j / one.ngroup);
		assert_int_equal(g->kind, o->kind);
		assert_int_equal(g->nrec, o->nrec);
		for (uint32_t k = 0; k < g->nrec; k++) {
			const struct tf_rec *r = &two.rec[idx[k]];
			const struct tf_rec *s =
				&one.rec[one.order[o->off + k]];

			assert_int_equal(r->host, g->host);
			assert_memory_equal(&r->r, &s->r, sizeof(r->r));
			assert_int_equal(r->mark, s->mark);
			assert_int_equal(r->side, s->side);
		}
		nconv += g->kind == TF_G_CONV;
	}
	assert_true(nconv >= 2);

	fd = text_file(m, strlen(m), mpath, sizeof(mpath));
	for (int h = 0; h < 2; h++) {
		const char *name = hs[h].name;
		static const char *const views[] = {
			"-e", "--json", "--csv", "--states", "--mermaid",
		};

		for (size_t v = 0; v < sizeof(views) / sizeof(views[0]); v++) {
			char *want = run_out((const char *const[]){
				"tcpflow-show", views[v], fix, NULL }, NULL);
			char *got = run_out((const char *const[]){
				"tcpflow-show", views[v], "--host", name,
				mpath, NULL }, NULL);

			strip_host(want, name);
			strip_host(got, name);
			if (strcmp(got, want))
				fail_msg("%s of host %s differs from the trace "
					 "alone:\n--- got\n%s\n--- want\n%s",
					 views[v], name, got, want);
			free(want);
			free(got);
		}
	}
	close(fd);
	tf_trace_free(&one);
	tf_trace_free(&two);
	free(m);
}

static void journal_hosts_apart(void **state)
{
	const struct host hs[] = {
		{ "lab-a", "0123456789abcdef0123456789abcdef", JOURNAL },
		{ "lab-b", "fedcba9876543210fedcba9876543210", JOURNAL },
	};

	(void)state;
	check_two_hosts(FIX("real-guest-scenarios"), hs);
	check_two_hosts(FIX("real-loopback-v4"), hs);
}

/* Vector's and Fluent Bit's JSON, the text format and bytes as MESSAGE */
static void shippers_forms(void **state)
{
	const struct host vf[] = {
		{ "pc07", "11111111111111111111111111111111", VECTOR },
		{ "pc08", "22222222222222222222222222222222", FLUENTBIT },
	};
	const struct host tb[] = {
		{ "pc07", "11111111111111111111111111111111", TEXT_IN_JOURNAL },
		{ "pc08", "22222222222222222222222222222222",
		  BYTES_IN_JOURNAL },
	};

	(void)state;
	check_two_hosts(FIX("real-guest-scenarios"), vf);
	check_two_hosts(FIX("real-guest-scenarios"), tb);
}

/*
 * One name, two boots (a machine rebooted: conn ids and clocks start
 * over): two sources, labelled by boot.  Two names, one boot
 * (containers of one kernel): two sources too.
 */
static void names_and_boots(void **state)
{
	const struct host reboot[] = {
		{ "pc07", "aaaaaaaa1111111111111111111111111", JOURNAL },
		{ "pc07", "bbbbbbbb2222222222222222222222222", JOURNAL },
	};
	const struct host ct[] = {
		{ "ct1", "cccccccc3333333333333333333333333", JOURNAL },
		{ "ct2", "cccccccc3333333333333333333333333", JOURNAL },
	};
	char *m = merged(FIX("real-loopback-v4"), reboot, 2), path[64], *out;
	int fd = text_file(m, strlen(m), path, sizeof(path));

	(void)state;
	out = run_out((const char *const[]){ "tcpflow-show", path, NULL },
		      NULL);
	assert_non_null(strstr(out, "conversation 1 on pc07 (boot aaaaaaaa):"));
	assert_non_null(strstr(out, "conversation 2 on pc07 (boot bbbbbbbb):"));
	free(out);
	/* --host NAME: every boot of that host */
	out = run_out((const char *const[]){ "tcpflow-show", "--csv",
					     "--host", "pc07", path, NULL },
		      NULL);
	assert_non_null(strstr(out, "\n1,pc07 (boot aaaaaaaa),"));
	assert_non_null(strstr(out, "\n2,pc07 (boot bbbbbbbb),"));
	free(out);
	close(fd);
	free(m);
	m = merged(FIX("real-loopback-v4"), ct, 2);
	fd = text_file(m, strlen(m), path, sizeof(path));
	out = run_out((const char *const[]){ "tcpflow-show", "--summary",
					     path, NULL }, NULL);
	assert_non_null(strstr(out, "\n1     ct1 "));
	assert_non_null(strstr(out, "\n2     ct2 "));
	free(out);
	close(fd);
	free(m);
}

/*
 * A garbled line is a warning that names its line, and the rest is read;
 * a record logged twice by one host (the unit restarted and read the
 * ring again) is dropped, once said.
 */
static void bad_lines_named(void **state)
{
	static const struct {
		const char *line, *says;
	} junk[] = {
		/* a line cut short */
		{ "{\"_HOSTNAME\":\"lab-a\",\"MESSAGE\":\"{\\\"n\\\":7,",
		  "not a JSON record: a string without its closing quote" },
		/* the MESSAGE's record cut short */
		{ "{\"_HOSTNAME\":\"lab-a\",\"SYSLOG_IDENTIFIER\":\"tcpflow\","
		  "\"MESSAGE\":\"{\\\"n\\\":7,\\\"ts_ns\\\"\"}",
		  "the MESSAGE is not a JSON record: no ':' after a key" },
		/* a bad value: a port that is text */
		{ "{\"n\":70,\"ts_ns\":1,\"cpu\":0,\"conn\":9,\"netns\":1,"
		  "\"family\":4,\"event\":\"state\",\"sock\":\"full\","
		  "\"laddr\":\"127.0.0.1\",\"lport\":\"http\",\"raddr\":"
		  "\"127.0.0.1\",\"rport\":1,\"old\":\"CLOSE\",\"new\":"
		  "\"LISTEN\",\"state\":null,\"flags\":null,\"seq\":null,"
		  "\"ack\":null,\"win\":null,\"len\":null,\"pid\":null,"
		  "\"comm\":null,\"who\":null,\"why\":null,\"dur_ns\":null,"
		  "\"opts\":null,\"host\":\"lab-a\"}",
		  "bad value for lport: 'http'" },
		/* a key missing */
		{ "{\"n\":71,\"ts_ns\":1}", "missing key 'cpu'" },
		/* neither a record nor an entry */
		{ "{\"level\":\"info\"}", "a JSON object that is neither" },
		/* a host name with a control character */
		{ "{\"_HOSTNAME\":\"a\\u0007b\",\"MESSAGE\":\"n=1 ts=1 cpu=0 "
		  "netns=1 conn=1 ev=state sock=full af=4 laddr=- lport=- "
		  "raddr=- rport=- old=- new=- state=- flags=- seq=- ack=- "
		  "win=- len=- pid=- comm=- who=- why=- dur=-\"}",
		  "bad host name" },
	};
	const struct host hs[] = {
		{ "lab-a", "0123456789abcdef0123456789abcdef", JOURNAL },
	};
	char *m = merged(FIX("real-loopback-v4"), hs, 1), path[64], want[160];
	struct buf b = { 0 };
	const char *p = m;
	struct run r;
	size_t line = 0, nrec = 0, k = 0, got = 0;
	int fd;

	(void)state;
	/* a junk line after each of the first good ones */
	while (*p) {
		size_t n = strcspn(p, "\n");

		add(&b, p, n + 1);
		line++;
		nrec += !!memmem(p, n, "_SYSTEMD_UNIT", 13);
		p += n + (p[n] == '\n');
		if (k < sizeof(junk) / sizeof(junk[0])) {
			adds(&b, junk[k++].line);
			adds(&b, "\n");
			line++;
		}
	}
	/* the first records again: the unit started over */
	p = m;
	for (int i = 0; i < 9 && *p; i++) {
		size_t n = strcspn(p, "\n");

		add(&b, p, n + 1);
		p += n + (p[n] == '\n');
	}
	fd = text_file(b.s, b.len, path, sizeof(path));
	run_cli(&r, "--json", "--host", "lab-a", path);
	assert_int_equal(r.rc, 0);
	for (k = 0; k < sizeof(junk) / sizeof(junk[0]); k++) {
		snprintf(want, sizeof(want), "line %zu: %s", 2 * k + 2,
			 junk[k].says);
		if (!strstr(r.err, want))
			fail_msg("no '%s' in:\n%s", want, r.err);
	}
	assert_non_null(strstr(r.err, "was read before"));
	/* every good record, once */
	for (const char *q = r.out; (q = strchr(q, '\n')); q++)
		got++;
	assert_int_equal(got, nrec);
	run_free(&r);
	close(fd);
	free(b.s);
	free(m);
}

/* Run the CLI on text in a pipe (big enough for it), as -f reads. */
static void run_pipe(struct run *r, const char *text, size_t len,
		     const char *const *argv)
{
	int fds[2], saved = dup(0);

	assert_int_equal(pipe(fds), 0);
	fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
	assert_int_equal(write(fds[1], text, len), (ssize_t)len);
	close(fds[1]);
	dup2(fds[0], 0);
	close(fds[0]);
	run_argv(r, argv);
	dup2(saved, 0);
	close(saved);
}

/*
 * -f --json: --json's lines, as the records come (the systemd unit's
 * command); and -f of a merged stream: each host's lines as the trace
 * alone gives them (its times, its relative numbers, its notes).
 */
static void follow_json_and_hosts(void **state)
{
	const struct host hs[] = {
		{ "lab-a", "0123456789abcdef0123456789abcdef", JOURNAL },
		{ "lab-b", "fedcba9876543210fedcba9876543210", JOURNAL },
	};
	char *text = read_file(FIX("real-loopback-v4"), NULL), *json, *m;
	struct run r;

	(void)state;
	json = run_out((const char *const[]){ "tcpflow-show", "--json",
					      FIX("real-loopback-v4"), NULL },
		       NULL);
	run_pipe(&r, text, strlen(text), (const char *const[]){
		 "tcpflow-show", "-f", "--json", "-", NULL });
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, json);
	run_free(&r);
	free(json);

	m = merged(FIX("real-loopback-v4"), hs, 2);
	for (int h = 0; h < 2; h++) {
		char re[64], *want;

		run_pipe(&r, text, strlen(text), (const char *const[]){
			 "tcpflow-show", "-f", "-e", "-", NULL });
		want = r.out;
		r.out = NULL;
		run_free(&r);
		run_pipe(&r, m, strlen(m), (const char *const[]){
			 "tcpflow-show", "-f", "-e", "--host", hs[h].name, "-",
			 NULL });
		assert_int_equal(r.rc, 0);
		snprintf(re, sizeof(re), "^%s: ", hs[h].name);
		strip(r.out, re);
		assert_string_equal(r.out, want);
		run_free(&r);
		free(want);
	}
	/* both hosts' lines, interleaved as they came, each with its host */
	run_pipe(&r, m, strlen(m), (const char *const[]){
		 "tcpflow-show", "-f", "--json", "-", NULL });
	assert_int_equal(r.rc, 0);
	{
		const char *p = r.out;
		int k = 0;

		while (*p) {
			size_t n = strcspn(p, "\n");

			const char *h = k % 2 ? "\"host\":\"lab-b\"" :
					  "\"host\":\"lab-a\"";

			assert_non_null(memmem(p, n, h, strlen(h)));
			k++;
			p += n + (p[n] == '\n');
		}
		assert_true(k > 10);
	}
	run_free(&r);
	free(m);
	free(text);
}

int test_fleet_run(unsigned int *ntests)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(json_reads_back),
		cmocka_unit_test(journal_hosts_apart),
		cmocka_unit_test(shippers_forms),
		cmocka_unit_test(names_and_boots),
		cmocka_unit_test(bad_lines_named),
		cmocka_unit_test(follow_json_and_hosts),
	};

	*ntests = sizeof(tests) / sizeof(tests[0]);
	return cmocka_run_group_tests_name("fleet", tests, NULL, NULL);
}
