// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * test_views.c - --svg, --html and --mermaid against the trace itself.
 *
 * With -S the arrow labels are the segments' own fields, so the labels
 * expected are built here from the fixture's text lines (flags=, seq=,
 * ack=, len= of every tx/rx line), not from the model, and compared with
 * the labels found in the SVG and the Mermaid text.
 */
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "test.h"

struct labels {
	char **s;
	size_t n, cap;
};

static void labels_add(struct labels *l, const char *s, size_t len)
{
	for (size_t i = 0; i < l->n; i++)
		if (strlen(l->s[i]) == len && !memcmp(l->s[i], s, len))
			return;		/* a set: twins and resends once */
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->s = realloc(l->s, l->cap * sizeof(*l->s));
		assert_non_null(l->s);
	}
	l->s[l->n] = strndup(s, len);
	assert_non_null(l->s[l->n]);
	l->n++;
}

static void labels_free(struct labels *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->s[i]);
	free(l->s);
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A key's value in a trace line, or NULL. */
static const char *key(const char *line, const char *k, size_t *len)
{
	size_t kl = strlen(k);
	const char *p = line;

	while ((p = strstr(p, k))) {
		if ((p == line || p[-1] == ' ') && p[kl] == '=') {
			p += kl + 1;
			*len = strcspn(p, " \n");
			return p;
		}
		p += kl;
	}
	return NULL;
}

static int opt_words(char *buf, size_t size, const char *v, size_t n)
{
	int k = 0;

	if (n == 4 && !memcmp(v, "none", 4))
		return snprintf(buf, size, " no options");
	while (n) {
		size_t il = strcspn(v, ",");
		const char *colon = memchr(v, ':', il < n ? il : n);

		il = il < n ? il : n;
		if (colon && !(colon - v == 2 && !memcmp(v, "ts", 2)))
			k += snprintf(buf + k, size - k, " %.*s %.*s",
				      (int)(colon - v), v,
				      (int)(il - (size_t)(colon - v) - 1),
				      colon + 1);
		else
			k += snprintf(buf + k, size - k, " %.*s",
				      (int)(colon ? (size_t)(colon - v) : il),
				      v);
		v += il;
		n -= il;
		if (n) {
			v++;
			n--;
		}
	}
	return k;
}

/*
 * "[F.] seq=41 ack=301 len=5" from each segment line of the trace; with
 * opts, a SYN's options follow as the ladder tags them, "mss 1460 ws 7
 * sack ts" from opts=mss:1460,ws:7,sack,ts:4242 (format 1.2).
 */
static void trace_labels(const char *text, struct labels *l, int opts)
{
	for (const char *line = text; *line; ) {
		size_t len, fl, sl, al, ll;
		const char *ev = key(line, "ev", &len);
		const char *end = strchr(line, '\n');

		if (line[0] != '#' && ev && (!strncmp(ev, "tx ", 3) ||
					     !strncmp(ev, "rx ", 3))) {
			const char *f = key(line, "flags", &fl);
			const char *sq = key(line, "seq", &sl);
			const char *ak = key(line, "ack", &al);
			const char *ln = key(line, "len", &ll);
			const char *op;
			size_t ol;
			char buf[192];
			int n;

			assert_non_null(f);
			n = snprintf(buf, sizeof(buf), "[%.*s] seq=%.*s",
				     (int)fl, f, (int)sl, sq);
			if (memchr(f, '.', fl))
				n += snprintf(buf + n, sizeof(buf) - n,
					      " ack=%.*s", (int)al, ak);
			if (!(ll == 1 && ln[0] == '0'))
				n += snprintf(buf + n, sizeof(buf) - n,
					      " len=%.*s", (int)ll, ln);
			if (opts && (op = key(line, "opts", &ol)) &&
			    !(ol == 1 && op[0] == '-'))
				n += opt_words(buf + n, sizeof(buf) - n, op,
					       ol);
			labels_add(l, buf, (size_t)n);
		}
		line = end ? end + 1 : line + strlen(line);
	}
}

static void assert_same_labels(struct labels *want, struct labels *got,
			       const char *what)
{
	qsort(want->s, want->n, sizeof(*want->s), cmp);
	qsort(got->s, got->n, sizeof(*got->s), cmp);
	for (size_t i = 0; i < want->n && i < got->n; i++)
		if (strcmp(want->s[i], got->s[i]))
			fail_msg("%s: label '%s' where '%s' was expected",
				 what, got->s[i], want->s[i]);
	if (want->n != got->n)
		fail_msg("%s: %zu labels, %zu segments in the trace", what,
			 got->n, want->n);
}

static const char *const tags[] = {
	" [retransmission]", " [dup ack]", " [not received]", " [not traced]",
};

static void each_fixture(void (*fn)(const char *trace, const char *text))
{
	glob_t g;

	assert_int_equal(glob(TESTDATA "/fixtures/*.trace", 0, NULL, &g), 0);
	for (size_t f = 0; f < g.gl_pathc; f++) {
		char *text = read_file(g.gl_pathv[f], NULL);

		assert_non_null(text);
		fn(g.gl_pathv[f], text);
		free(text);
	}
	globfree(&g);
}

/* Every segment of the trace is one labelled arrow of the SVG, and the
 * SVG has no label that is not a segment. */
static void svg_fixture(const char *trace, const char *text)
{
	struct labels want = { 0 }, got = { 0 };
	const char *p;
	struct run r;

	trace_labels(text, &want, 0);
	run_cli(&r, "-S", "--svg", "-", trace);
	assert_int_equal(r.rc, 0);
	for (p = r.out; (p = strstr(p, "<text class=\"label\" ")); ) {
		p = strchr(p, '>') + 1;
		labels_add(&got, p, strcspn(p, "<"));
	}
	assert_same_labels(&want, &got, trace);
	labels_free(&want);
	labels_free(&got);
	run_free(&r);
}

static void svg_arrows_are_the_segments(void **state)
{
	(void)state;
	each_fixture(svg_fixture);
}

/* The same for the Mermaid messages, their tags taken off. */
static void mermaid_fixture(const char *trace, const char *text)
{
	struct labels want = { 0 }, got = { 0 };
	struct run r;
	int diagrams = 0, convs = 0;

	trace_labels(text, &want, 1);
	run_cli(&r, "-S", "--mermaid", trace);
	assert_int_equal(r.rc, 0);
	for (char *line = strtok(r.out, "\n"); line;
	     line = strtok(NULL, "\n")) {
		char *lab;
		size_t len;

		if (!strcmp(line, "sequenceDiagram"))
			diagrams++;
		if (!strncmp(line, "    %% conversation ", 20))
			convs++;
		if (strncmp(line, "    C-", 6) && strncmp(line, "    S-", 6))
			continue;
		/* C->>S: C-xS: C-)S: and the same from S */
		assert_true(!strncmp(line + 5, "->>", 3) ? line[8] != line[4]
			    : (line[5] == '-' && (line[6] == 'x' ||
						   line[6] == ')') &&
			       line[7] != line[4]));
		lab = strstr(line, ": ");
		assert_non_null(lab);
		lab += 2;
		len = strlen(lab);
		for (size_t k = 0; k < sizeof(tags) / sizeof(tags[0]); k++) {
			size_t tl = strlen(tags[k]);

			if (len > tl && !strncmp(lab + len - tl, tags[k], tl)) {
				len -= tl;
				k = (size_t)-1;	/* tags come several */
			}
		}
		labels_add(&got, lab, len);
	}
	assert_true(diagrams > 0);
	assert_int_equal(diagrams, convs);
	assert_same_labels(&want, &got, trace);
	labels_free(&want);
	labels_free(&got);
	run_free(&r);
}

static void mermaid_arrows_are_the_segments(void **state)
{
	(void)state;
	each_fixture(mermaid_fixture);
}

/* Relative numbers by default: the client's ISN shows as 0. */
static void relative_by_default(void **state)
{
	struct run r;

	(void)state;
	run_cli(&r, "--svg", "-", TESTDATA "/fixtures/refused.trace");
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, ">[S] seq=0</text>"));
	assert_null(strstr(r.out, "3141592653"));
	run_free(&r);
	run_cli(&r, "--mermaid", TESTDATA "/fixtures/refused.trace");
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "    C->>S: [S] seq=0\n"));
	assert_non_null(strstr(r.out, "    S->>C: [R.] seq=1 ack=1\n"));
	run_free(&r);
}

/* The teaching notes only with -e, and then the words of the notes. */
static void notes_with_explain(void **state)
{
	static const char note[] = "RST to a SYN: nothing listens on this";
	struct run r;

	(void)state;
	run_cli(&r, "--svg", "-", TESTDATA "/fixtures/refused.trace");
	assert_null(strstr(r.out, "class=\"note\""));
	assert_null(strstr(r.out, note));
	run_free(&r);
	run_cli(&r, "-e", "--svg", "-", TESTDATA "/fixtures/refused.trace");
	assert_non_null(strstr(r.out, note));
	assert_non_null(strstr(r.out, "<rect class=\"note\""));
	run_free(&r);
	run_cli(&r, "--mermaid", TESTDATA "/fixtures/refused.trace");
	assert_null(strstr(r.out, "Note right of"));
	run_free(&r);
	run_cli(&r, "-e", "--mermaid", TESTDATA "/fixtures/refused.trace");
	assert_non_null(strstr(r.out, "    Note right of S: RST to a SYN: "
			       "nothing listens on this<br/>port#59; "));
	run_free(&r);
}

/* A comm from the trace cannot break out of the text (xml-escape.trace:
 * comm=<a/>&"';#%\x01\xc3). */
static void escaped(void **state)
{
	const char *t = TESTDATA "/fixtures/xml-escape.trace";
	struct run r;

	(void)state;
	run_cli(&r, "--svg", "-", t);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "&lt;a/&gt;&amp;&quot;&apos;;#%"));
	assert_null(strstr(r.out, "<a/>"));
	assert_null(strchr(r.out, '\x01'));
	assert_null(strchr(r.out, '\xc3'));
	run_free(&r);
	run_cli(&r, "--html", "-", t);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "&lt;a/&gt;&amp;&quot;&apos;;#%"));
	assert_null(strstr(r.out, "<a/>"));
	assert_null(strchr(r.out, '\x01'));
	assert_null(strchr(r.out, '\xc3'));
	run_free(&r);
	run_cli(&r, "--mermaid", t);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "#60;a/#62;#38;\"'#59;#35;#37;"));
	assert_null(strchr(r.out, '\x01'));
	run_free(&r);
}

/*
 * A page that fetches nothing: no attribute or rule that names another
 * resource, no script that asks for one; "http" only in the SVG's
 * namespace, which is a name, not a fetch.  (Text from a trace, a comm
 * named "src=", would trip it: the fixtures have none.)
 */
static void html_fixture(const char *trace, const char *text)
{
	static const char *const never[] = {
		" src=", " href=", "url(", "https:", "ftp:", "@import", "<link", "<iframe",
		"<object", "<embed", "fetch(", "XMLHttpRequest", "import(",
		"WebSocket", "EventSource", "sendBeacon",
	};
	static const char ns[] = "http://www.w3.org/2000/svg\"";
	struct run r;
	size_t nsvg = 0;

	(void)text;
	run_cli(&r, "--html", "-", trace);
	assert_int_equal(r.rc, 0);
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		if (strstr(r.out, never[i]))
			fail_msg("%s: the page has %s", trace, never[i]);
	for (const char *p = r.out; (p = strstr(p, "http:")); p += 5) {
		if (strncmp(p, ns, sizeof(ns) - 1))
			fail_msg("%s: the page names %.40s", trace, p);
		nsvg++;
	}
	assert_true(nsvg > 0);
	assert_non_null(strstr(r.out, "</html>\n"));
	run_free(&r);
}

static void html_self_contained(void **state)
{
	(void)state;
	each_fixture(html_fixture);
}

static void usage_errors(void **state)
{
	const char *t = TESTDATA "/fixtures/refused.trace";
	struct run r;

	(void)state;
	run_cli(&r, "--svg", "x.svg", "-f", t);
	assert_int_equal(r.rc, 2);
	assert_non_null(strstr(r.err, "not with --follow"));
	run_free(&r);
	run_cli(&r, "--mermaid", "--json", t);
	assert_int_equal(r.rc, 2);
	run_free(&r);
	run_cli(&r, "--mermaid", "-f", t);
	assert_int_equal(r.rc, 2);
	run_free(&r);
	run_cli(&r, "--svg", "-", "--mermaid", t);
	assert_int_equal(r.rc, 2);
	run_free(&r);
	run_cli(&r, "--svg", "-", "-w", "-", t);
	assert_int_equal(r.rc, 2);
	run_free(&r);
	run_cli(&r, t, "--svg");
	assert_int_equal(r.rc, 2);
	run_free(&r);
	/* cannot write: 1, and said */
	run_cli(&r, "--svg", "/nonexistent/dir/x.svg", t);
	assert_int_equal(r.rc, 1);
	assert_non_null(strstr(r.err, "/nonexistent/dir/x.svg"));
	run_free(&r);
}

/* --svg FILE and the terminal ladder (a second view) together. */
static void svg_file_and_mermaid(void **state)
{
	char path[] = "/tmp/tcpflow-svg-XXXXXX";
	struct run r, s;
	char *svg;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	run_cli(&r, "--svg", path, "--mermaid", TESTDATA "/fixtures/refused.trace");
	assert_int_equal(r.rc, 0);
	assert_true(!strncmp(r.out, "sequenceDiagram\n", 16));
	svg = read_file(path, NULL);
	run_cli(&s, "--svg", "-", TESTDATA "/fixtures/refused.trace");
	assert_string_equal(svg, s.out);
	free(svg);
	run_free(&r);
	run_free(&s);
	unlink(path);
}

int test_views_run(unsigned int *ntests)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(svg_arrows_are_the_segments),
		cmocka_unit_test(mermaid_arrows_are_the_segments),
		cmocka_unit_test(relative_by_default),
		cmocka_unit_test(notes_with_explain),
		cmocka_unit_test(escaped),
		cmocka_unit_test(html_self_contained),
		cmocka_unit_test(usage_errors),
		cmocka_unit_test(svg_file_and_mermaid),
	};

	*ntests = sizeof(tests) / sizeof(tests[0]);
	return cmocka_run_group_tests_name("views", tests, NULL, NULL);
}
