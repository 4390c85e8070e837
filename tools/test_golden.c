// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * test_golden.c - every fixture trace (tests/tools/fixtures/NAME.trace)
 * through every view, compared with tests/tools/golden/NAME.VIEW; and a
 * pcap round trip through tshark for each fixture.
 *
 * New fixtures (traces recorded in the guest) need no code here: drop
 * the .trace in, run `make -C tools golden-update`, read the diff.
 */
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "test.h"

static const struct view {
	const char *name;
	const char *args[4];
} views[] = {
	{ "ladder", { NULL } },
	{ "explain", { "--explain", NULL } },
	{ "absolute", { "-S", NULL } },
	{ "states", { "--states", NULL } },
	{ "json", { "--json", NULL } },
	{ "svg", { "--explain", "--svg", "-", NULL } },
	/* the notes are always on: the page is for the class */
	{ "html", { "--html", "-", NULL } },
	{ "mermaid", { "--explain", "--mermaid", NULL } },
	/* a terminal of 80 columns: no line may be wider (golden() says) */
	{ "narrow", { "--explain", "--width", "80", NULL } },
	/* -T: the time of day, from the header's epoch_offset (halfclose
	 * has one: 09:00:00 UTC at its first record; the others say they
	 * have none) */
	{ "wall", { "-T", "--utc", NULL } },
};

#define NVIEWS (sizeof(views) / sizeof(views[0]))

struct gcase {
	char trace[512];
	char golden[512];
	char name[160];
	const struct view *v;
};

static int golden_update;

/* stdout, then what went to stderr (warnings belong to the result) */
static char *render(const struct gcase *c, int *rc)
{
	const char *argv[8] = { "tcpflow-show" };
	int argc = 1;
	struct run r;
	char *s;

	for (int i = 0; c->v->args[i]; i++)
		argv[argc++] = c->v->args[i];
	argv[argc++] = c->trace;
	argv[argc] = NULL;
	run_argv(&r, argv);
	*rc = r.rc;
	s = malloc(r.outlen + r.errlen + 32);
	memcpy(s, r.out, r.outlen);
	s[r.outlen] = '\0';
	if (r.errlen) {
		strcat(s, "# stderr:\n");
		strcat(s, r.err);
	}
	run_free(&r);
	return s;
}

static void golden(void **state)
{
	const struct gcase *c = *state;
	int rc;
	char *got = render(c, &rc), *want;

	if (golden_update) {
		FILE *f = fopen(c->golden, "w");

		assert_non_null(f);
		fputs(got, f);
		fclose(f);
		free(got);
		return;
	}
	want = read_file(c->golden, NULL);
	if (!want) {
		free(got);
		fail_msg("%s missing: run make -C tools golden-update",
			 c->golden);
	}
	if (strcmp(got, want)) {
		/* show the first line that differs */
		size_t off = 0, start = 0;
		int line = 1;

		while (got[off] && got[off] == want[off]) {
			if (got[off] == '\n') {
				line++;
				start = off + 1;
			}
			off++;
		}
		print_error("%s differs at line %d:\n  got:  %.*s\n"
			    "  want: %.*s\n", c->golden, line,
			    (int)strcspn(got + start, "\n"), got + start,
			    (int)strcspn(want + start, "\n"), want + start);
		free(got);
		free(want);
		fail();
	}
	assert_int_equal(rc, 0);
	if (!strcmp(c->v->name, "narrow")) {
		int line = 1;

		for (const char *p = got; *p; line++) {
			size_t n = strcspn(p, "\n");

			if (n > 80)
				fail_msg("%s line %d is %zu columns wide: %.*s",
					 c->golden, line, n, (int)n, p);
			p += n + (p[n] == '\n');
		}
	}
	free(got);
	free(want);
}

/* The SVG goldens are XML as xmllint (libxml2) reads it. */
static void svg_wellformed(void **state)
{
	const struct gcase *c = *state;
	char path[] = "/tmp/tcpflow-svg-XXXXXX", cmd[256];
	struct run r;
	int fd;

	if (system("command -v xmllint >/dev/null 2>&1")) {
		test_skipped++;
		skip();
	}
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	run_cli(&r, "-e", "--svg", path, c->trace);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "");	/* the picture only, no ladder */
	run_free(&r);
	snprintf(cmd, sizeof(cmd), "xmllint --noout %s", path);
	assert_int_equal(system(cmd), 0);
	unlink(path);
}

/*
 * The pcap has each segment once, as the model drew it; tshark must read
 * the same flags, seq, ack, ports, window and length back, with good
 * checksums.
 */
static void pcap_roundtrip(void **state)
{
	const struct gcase *c = *state;
	char pcap[] = "/tmp/tcpflow-test-XXXXXX", cmd[1024], got[256];
	char want[256];
	struct tf_trace t;
	struct run r;
	FILE *p;
	size_t i = 0, npkt = 0;
	char *text, *err;
	int fd;

	if (system("command -v tshark >/dev/null 2>&1")) {
		test_skipped++;
		skip();
	}
	fd = mkstemp(pcap);
	assert_true(fd >= 0);
	close(fd);
	run_cli(&r, "-q", "--pcap", pcap, c->trace);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "");
	run_free(&r);

	text = read_file(c->trace, NULL);
	assert_int_equal(load_text(&t, text, &err), 0);
	snprintf(cmd, sizeof(cmd), "tshark -n -r %s -o tcp.check_checksum:TRUE"
		 " -o ip.check_checksum:TRUE -T fields -E separator=, "
		 "-e frame.time_epoch -e tcp.srcport -e tcp.dstport "
		 "-e tcp.flags -e tcp.seq_raw -e tcp.ack_raw "
		 "-e tcp.window_size_value -e tcp.len -e tcp.checksum.status "
		 "2>/dev/null", pcap);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(got, sizeof(got), p)) {
		const struct tcpflow_record *x = NULL;
		uint64_t ts;
		int tx;

		while (i < t.nrec && (!tf_is_seg(&t.rec[i]) ||
				      (t.rec[i].mark & TF_MK_SKIP)))
			i++;
		assert_true(i < t.nrec);
		x = &t.rec[i++].r;
		tx = x->event == TCPFLOW_EV_TX;
		/* the time of day where the header has epoch_offset */
		ts = x->ts_ns + (t.hdr.has_epoch ?
				 (uint64_t)t.hdr.epoch_offset : 0);
		/* checksum status 1: good */
		snprintf(want, sizeof(want),
			 "%llu.%09llu,%u,%u,0x%04x,%u,%u,%u,%u,1\n",
			 (unsigned long long)(ts / 1000000000),
			 (unsigned long long)(ts % 1000000000),
			 tx ? x->lport : x->rport, tx ? x->rport : x->lport,
			 x->flags, x->seq, x->ack, x->win, x->len);
		assert_string_equal(got, want);
		npkt++;
	}
	assert_int_equal(pclose(p), 0);
	while (i < t.nrec && (!tf_is_seg(&t.rec[i]) ||
			      (t.rec[i].mark & TF_MK_SKIP)))
		i++;
	assert_int_equal(i, t.nrec);	/* every segment came back */
	assert_true(npkt > 0);
	tf_trace_free(&t);
	free(text);
	free(err);
	unlink(pcap);
}

/* tshark's fields of every packet of a capture file, one line each */
static char *tshark_fields(const char *path, const char *fields)
{
	char cmd[1024];
	struct obuf_like { char *b; size_t n, cap; } o = { 0 };
	char line[4096];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "tshark -n -r %s -T fields -E separator=, "
		 "%s 2>/dev/null", path, fields);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		size_t l = strlen(line);

		o.b = realloc(o.b, o.n + l + 1);
		assert_non_null(o.b);
		memcpy(o.b + o.n, line, l + 1);
		o.n += l;
	}
	assert_int_equal(pclose(p), 0);
	return o.b ? o.b : strdup("");
}

/*
 * -w FILE.pcapng: the same packets as the pcap, byte for byte as tshark
 * reads them, each with a comment that names its sender and its state
 * (tshark's frame.comment), and the section's comment.
 */
static void pcapng_comments(void **state)
{
	const struct gcase *c = *state;
	char pcap[] = "/tmp/tcpflow-test-XXXXXX", ng[64];
	static const char f[] = "-e frame.time_epoch -e tcp.srcport "
		"-e tcp.dstport -e tcp.flags -e tcp.seq_raw -e tcp.ack_raw "
		"-e tcp.window_size_value -e tcp.len -e tcp.checksum.status "
		"-o tcp.check_checksum:TRUE";
	char *a, *b, *cm, *p;
	struct run r;
	int fd, n = 0;

	if (system("command -v tshark >/dev/null 2>&1")) {
		test_skipped++;
		skip();
	}
	fd = mkstemp(pcap);
	assert_true(fd >= 0);
	close(fd);
	snprintf(ng, sizeof(ng), "%s.pcapng", pcap);
	run_cli(&r, "-q", "-w", pcap, c->trace);
	assert_int_equal(r.rc, 0);
	run_free(&r);
	run_cli(&r, "-q", "-w", ng, c->trace);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "");
	run_free(&r);
	a = tshark_fields(pcap, f);
	b = tshark_fields(ng, f);
	assert_string_equal(a, b);
	cm = tshark_fields(ng, "-e frame.comment");
	for (p = cm; *p; p = strchr(p, '\n') + 1, n++)
		if (strncmp(p, "client ", 7) && strncmp(p, "server ", 7))
			fail_msg("%s: a packet's comment is '%.*s'", c->name,
				 (int)strcspn(p, "\n"), p);
	assert_true(n > 0);
	free(a);
	free(b);
	free(cm);
	/* the section comment says what the packets are */
	a = malloc(256);
	snprintf(a, 256, "capinfos %s 2>/dev/null | grep -q 'Capture comment:"
		 " *tcpflow: segments recorded'", ng);
	assert_int_equal(system(a), 0);
	free(a);
	unlink(pcap);
	unlink(ng);
}

int test_golden_run(unsigned int *ntests, int update)
{
	glob_t g;
	struct CMUnitTest *tests;
	struct gcase *cases;
	size_t n = 0;
	int failed;

	golden_update = update;
	if (glob(TESTDATA "/fixtures/*.trace", 0, NULL, &g) || !g.gl_pathc) {
		fprintf(stderr, "no fixtures in " TESTDATA "/fixtures\n");
		*ntests = 1;
		return 1;
	}
	tests = calloc(g.gl_pathc * (NVIEWS + 3), sizeof(*tests));
	cases = calloc(g.gl_pathc * (NVIEWS + 3), sizeof(*cases));
	for (size_t f = 0; f < g.gl_pathc; f++) {
		const char *base = strrchr(g.gl_pathv[f], '/') + 1;
		int blen = (int)(strlen(base) - strlen(".trace"));

		for (size_t v = 0; v <= NVIEWS + 2; v++) {
			struct gcase *c = &cases[n];

			if (v >= NVIEWS && update)
				break;
			snprintf(c->trace, sizeof(c->trace), "%s",
				 g.gl_pathv[f]);
			if (v < NVIEWS) {
				c->v = &views[v];
				snprintf(c->golden, sizeof(c->golden),
					 TESTDATA "/golden/%.*s.%s", blen,
					 base, views[v].name);
				snprintf(c->name, sizeof(c->name),
					 "golden %.*s.%s", blen, base,
					 views[v].name);
				tests[n].test_func = golden;
			} else if (v == NVIEWS) {
				snprintf(c->name, sizeof(c->name),
					 "pcap %.*s", blen, base);
				tests[n].test_func = pcap_roundtrip;
			} else if (v == NVIEWS + 1) {
				snprintf(c->name, sizeof(c->name),
					 "svg xmllint %.*s", blen, base);
				tests[n].test_func = svg_wellformed;
			} else {
				snprintf(c->name, sizeof(c->name),
					 "pcapng %.*s", blen, base);
				tests[n].test_func = pcapng_comments;
			}
			tests[n].name = c->name;
			tests[n].initial_state = c;
			n++;
		}
	}
	failed = _cmocka_run_group_tests(update ? "golden-update" : "golden",
					 tests, n, NULL, NULL);
	*ntests = (unsigned int)n;
	free(tests);
	free(cases);
	globfree(&g);
	return failed;
}
