// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * main.c - options, then read, model, view.
 *
 * Everything goes through tfs_main(argc, argv, out, err) with no exit()
 * and no global state left behind, so the tests and the bench run the
 * real command line in-process (under ASan in the tests).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "ladder.h"

#define DEFAULT_INPUT "/proc/tcpflow"

static const char usage_text[] =
"Usage: " TF_PROG " [OPTION]... [FILE]\n"
"       " TF_PROG " --live [OPTION]...\n"
"Show the TCP connections traced by the tcpflow module (or tcpflow-bpf):\n"
"handshake, teardown, every state change.  FILE is standard input when\n"
"that is not a terminal, else " DEFAULT_INPUT "; '-' reads standard input.\n"
"FILE may also be JSON lines: --json's, or log entries holding records\n"
"(journalctl -o json), many hosts' merged: each host's apart.\n"
"Default view: a ladder diagram per conversation, client on the left,\n"
"server on the right.\n"
"\n"
"  -l, --live          trace now and draw as it happens, until Ctrl-C:\n"
"                      reads " DEFAULT_INPUT " if the module is loaded, else\n"
"                      runs tcpflow-bpf -f (root); loads nothing itself\n"
"  -e, --explain       teaching notes next to the arrows (ladder, -f)\n"
"  -S, --absolute      absolute seq/ack numbers (default: relative)\n"
"  -s, --states        a table of state changes, like tcpstates\n"
"  -j, --json          JSON lines, one object per record (with -f: as\n"
"                      they arrive)\n"
"      --summary       one line per connection: ends, start, duration,\n"
"                      bytes each way, handshake round trips, who\n"
"                      closed first, how it ended, TIME_WAIT\n"
"      --csv           the summary as CSV, with a header line\n"
"  -w, --pcap FILE     write the segments to a pcap file ('-': stdout)\n"
"      --svg FILE      write the ladder as an SVG picture ('-': stdout)\n"
"      --html FILE     write one page to step through in class: the\n"
"                      ladder with its notes and the state diagram\n"
"                      ('-': stdout)\n"
"      --mermaid       the ladder as Mermaid sequenceDiagram text\n"
"  -f, --follow        print records as they arrive, one line each,\n"
"                      until the input ends or Ctrl-C\n"
"  -p, --port PORT     only conversations with this local or remote port\n"
"  -a, --addr ADDR     only conversations with this IPv4/IPv6 address\n"
"  -c, --conn ID       only the conversation of this conn id (0x: hex)\n"
"      --pid PID       only conversations a record of which names PID\n"
"      --comm NAME     only conversations a record of which names the\n"
"                      command NAME (the first 15 bytes, as the kernel)\n"
"      --host NAME     only records of host NAME (a merged stream)\n"
"      --state NAME    only conversations that were in state NAME\n"
"      --since TIME    only records from TIME on: seconds from the first\n"
"                      record (1.5, 250ms, 20us, 100ns), or @NS, a ts\n"
"      --until TIME    only records up to TIME, same forms\n"
"      --color[=WHEN]  colour: auto (a terminal and no NO_COLOR), always,\n"
"                      never\n"
"  -T, --time=WHEN     the time column: rel (the default: from the first\n"
"                      record) or wall (-T: the time of day, from the\n"
"                      header's epoch_offset); ladder, -f, --live,\n"
"                      --summary/--csv (start: ISO 8601)\n"
"      --utc           with -T: in UTC, not local time\n"
"      --width N       the ladder in N columns at most (default: COLUMNS,\n"
"                      else the terminal's width; no limit in a pipe):\n"
"                      where it is too wide, notes go under their arrow\n"
"  -q, --quiet         no warnings about garbled lines\n"
"  -h, --help          show this help\n"
"  -V, --version       show the version\n"
"\n"
"Exit status: 0 ok (Ctrl-C included, with -f and --live), 1 cannot read\n"
"or write, 2 usage, or not a tcpflow trace, or its format version.\n";

enum {
	OPT_STATE = 256, OPT_SINCE, OPT_UNTIL, OPT_COLOR, OPT_SUMMARY, OPT_CSV,
	OPT_SVG, OPT_HTML, OPT_MERMAID, OPT_PID, OPT_COMM, OPT_WIDTH, OPT_TIME, OPT_UTC,
	OPT_HOST,
};

static void on_stop(int sig)
{
	(void)sig;
	tf_stop = 1;
}

static const struct option long_opts[] = {
	{ "explain", no_argument, NULL, 'e' },
	{ "absolute", no_argument, NULL, 'S' },
	{ "states", no_argument, NULL, 's' },
	{ "json", no_argument, NULL, 'j' },
	{ "summary", no_argument, NULL, OPT_SUMMARY },
	{ "csv", no_argument, NULL, OPT_CSV },
	{ "pcap", required_argument, NULL, 'w' },
	{ "follow", no_argument, NULL, 'f' },
	{ "live", no_argument, NULL, 'l' },
	{ "port", required_argument, NULL, 'p' },
	{ "addr", required_argument, NULL, 'a' },
	{ "conn", required_argument, NULL, 'c' },
	{ "pid", required_argument, NULL, OPT_PID },
	{ "comm", required_argument, NULL, OPT_COMM },
	{ "host", required_argument, NULL, OPT_HOST },
	{ "state", required_argument, NULL, OPT_STATE },
	{ "since", required_argument, NULL, OPT_SINCE },
	{ "until", required_argument, NULL, OPT_UNTIL },
	{ "color", optional_argument, NULL, OPT_COLOR },
	{ "colour", optional_argument, NULL, OPT_COLOR },
	{ "svg", required_argument, NULL, OPT_SVG },
	{ "html", required_argument, NULL, OPT_HTML },
	{ "mermaid", no_argument, NULL, OPT_MERMAID },
	{ "width", required_argument, NULL, OPT_WIDTH },
	{ "time", required_argument, NULL, OPT_TIME },
	{ "utc", no_argument, NULL, OPT_UTC },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static int parse_num(const char *s, uint64_t max, uint64_t *v)
{
	char *end;
	int base = 10;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		base = 16;
	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	*v = strtoull(s, &end, base);
	return errno || *end || *v > max ? -1 : 0;
}

/* "1.5" seconds, "250ms", "20us", "100ns", or "@NS" (a ts value). */
static int parse_time(const char *s, uint64_t *ns, int *abs)
{
	static const struct {
		const char *suffix;
		double scale;
	} units[] = {
		{ "ns", 1 }, { "us", 1e3 }, { "ms", 1e6 }, { "s", 1e9 },
		{ "", 1e9 },
	};
	char *end;
	double v;

	*abs = s[0] == '@';
	if (*abs)
		return parse_num(s + 1, UINT64_MAX, ns);
	if (!isdigit((unsigned char)s[0]) && s[0] != '.')
		return -1;
	v = strtod(s, &end);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix))
			continue;
		v *= units[i].scale;
		if (!isfinite(v) || v < 0 || v >= 1.8e19)
			return -1;
		*ns = (uint64_t)v;
		return 0;
	}
	return -1;
}

static int parse_addr_opt(const char *s, struct tf_opts *o)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					      0xff, 0xff };
	int af = tf_parse_addr(s, strlen(s), o->addr);

	if (af < 0)
		return -1;
	/* The module shows v4-mapped IPv6 addresses as IPv4. */
	if (af == 6 && !memcmp(o->addr, v4mapped, 12)) {
		memmove(o->addr, o->addr + 12, 4);
		memset(o->addr + 4, 0, 12);
		af = 4;
	}
	o->addr_af = (uint8_t)af;
	return 0;
}

static int bad_arg(FILE *err, const char *opt, const char *arg)
{
	fprintf(err, TF_PROG ": bad value for %s: '%s'\n"
		"Try '" TF_PROG " --help'.\n", opt, arg);
	return 2;
}

/*
 * Read a trace line by line, handing each record to fn (which returns
 * nonzero to stop: out of memory).  0, 1 (read error), 2 (format).
 */
int tf_read(int fd, const char *name, struct tf_parser *p,
	    int (*fn)(void *arg, const struct tf_rec *r), void *arg)
{
	struct tf_input in;
	struct tf_rec rec;
	int ret = 0;

	if (tf_input_init(&in, fd))
		return 1;
	for (;;) {
		const char *line;
		size_t len;
		enum tf_in got = tf_input_next(&in, &line, &len, 1);

		if (got == TF_IN_AGAIN)
			break;
		if (got == TF_IN_ERR) {
			if (p->err)
				fprintf(p->err, TF_PROG ": %s: %s\n", name,
					strerror(errno));
			ret = 1;
			break;
		}
		if (got == TF_IN_LONG) {
			p->line++;
			p->nbad++;
			tf_parser_warn(p, "longer than %d bytes, skipped",
				       TF_MAX_LINE);
			continue;
		}
		switch (tf_parse_line(p, line, len, &rec)) {
		case TF_LINE_RECORD:
			if (fn(arg, &rec)) {
				if (p->err)
					fprintf(p->err, TF_PROG ": out of "
						"memory\n");
				ret = 1;
				break;
			}
			continue;
		case TF_LINE_SKIP:
			continue;
		case TF_LINE_FATAL:
			ret = 2;
			break;
		}
		break;
	}
	tf_input_free(&in);
	return ret;
}

static int add_rec(void *arg, const struct tf_rec *r)
{
	struct tf_rec *slot = tf_trace_add(arg);

	if (!slot)
		return -1;
	*slot = *r;
	return 0;
}

/* Read a whole trace into t (not yet modelled). */
int tf_load(int fd, const char *name, struct tf_parser *p,
	    struct tf_trace *t)
{
	int ret = tf_read(fd, name, p, add_rec, t);

	t->hdr = p->hdr;
	tf_hosts_free(&t->hosts);
	if (tf_hosts_copy(&t->hosts, &p->hosts) && !ret) {
		if (p->err)
			fprintf(p->err, TF_PROG ": out of memory\n");
		ret = 1;
	}
	return ret;
}

/*
 * --json and --states go a record at a time, with nothing kept, unless a
 * filter picks whole conversations (that needs the model).
 */
struct stream {
	const struct tf_opts *o;
	struct obuf *ob;
	struct tf_states *states;	/* NULL: --json */
	struct tf_trace t;		/* t0 (each host's) only */
	const struct tf_hosts *hosts;	/* the parser's */
	int have_t0;
	uint64_t n;
};

static int stream_rec(void *arg, const struct tf_rec *r)
{
	struct stream *s = arg;
	int shown;

	if (!s->have_t0) {
		s->t.t0 = r->r.ts_ns;
		s->have_t0 = 1;
	}
	if (r->host && tf_t0_note(&s->t, r))
		return -1;
	s->n++;
	shown = tf_rec_in_window(&s->t, r, s->o);
	if (s->states)
		tf_states_rec(s->states, r, tf_t0(&s->t, r->host), shown);
	else if (shown)
		tf_json_rec(s->ob, r, s->hosts);
	return 0;
}

int tf_stream(int fd, const char *name, struct tf_parser *p,
	      const struct tf_opts *o, struct obuf *ob, int states,
	      uint64_t *nrec)
{
	struct stream s = { .o = o, .ob = ob, .hosts = &p->hosts };
	int ret;

	tf_trace_init(&s.t);
	if (states && !(s.states = tf_states_new(ob, &p->hosts)))
		return 1;
	ret = tf_read(fd, name, p, stream_rec, &s);
	free(s.t.ht0);
	tf_states_free(s.states);
	if (nrec)
		*nrec = s.n;
	return ret;
}

static const char no_module_text[] =
"  The tcpflow module is not loaded (make; sudo insmod tcpflow.ko).  Two\n"
"  other routes:\n"
"  tcpflow-bpf, the same records from BPF with no module (root; README,\n"
"  docs/bpf.md): sudo tcpflow-show --live, or tcpflow-bpf -o FILE; or the\n"
"  QEMU lab, which boots a guest that loads it (scripts/lab, docs/lab.md).\n";

static void not_trace(FILE *err, const char *path, const struct tf_parser *p)
{
	if (!p->started)
		fprintf(err, TF_PROG ": %s: empty: not a tcpflow trace\n",
			path);
	else
		fprintf(err, TF_PROG ": %s: not a tcpflow trace (line %lu is "
			"neither a '# tcpflow' header nor a record; "
			"docs/format.md)\n", path, p->not_trace);
}

static int usage_error(FILE *err, const char *msg)
{
	fprintf(err, TF_PROG ": %s\nTry '" TF_PROG " --help'.\n", msg);
	return 2;
}

/*
 * Options that do nothing together are refused, not ignored.  What each
 * output honours: the ladder (default, --live) -e and -S; -f -e and -S;
 * --states and --json (-f --json too) neither; --pcap alone prints
 * nothing.
 */
/*
 * The ladder's width when --width is not given: COLUMNS (as ls and
 * less take it), else the terminal's own, else 0 (no limit: a pipe or
 * a file gets the ladder at its natural width).
 */
static unsigned int term_width(FILE *out)
{
	const char *cols = getenv("COLUMNS");
	struct winsize ws;
	uint64_t v;

	if (cols && !parse_num(cols, 100000, &v) && v >= 20)
		return (unsigned int)v;
	if (isatty(fileno(out)) && !ioctl(fileno(out), TIOCGWINSZ, &ws) &&
	    ws.ws_col >= 20)
		return ws.ws_col;
	return 0;
}

static int check_combos(FILE *err, int states, int json, int follow, int live,
			int summary, int mermaid, const char *pcap_path,
			const char *svg_path, const char *html_path,
			const struct tf_opts *o, int named)
{
	/* the views that draw the ladder's rows, and so take -e and -S */
	int ladder = !states && !json && !summary && !mermaid && !follow &&
		     !pcap_path && !svg_path && !html_path;
	int text = ladder || (follow && !json) || svg_path || html_path ||
		   mermaid;
	int pcap_out = pcap_path && !strcmp(pcap_path, "-");
	int html_out = html_path && !strcmp(html_path, "-");

	/* -f --json: --json's lines as the records come */
	if (states + json + follow + mermaid + !!summary - (follow && json) > 1)
		return usage_error(err, "--states, --json, --follow, --mermaid "
				   "and --summary/--csv are views: pick one "
				   "(-f --json is one)");
	if (live && named)
		return usage_error(err, "--live reads the module or "
				   "tcpflow-bpf, not a FILE (for a file or a "
				   "pipe: -f FILE)");
	if (live && (states || (json && !follow) || pcap_path || summary ||
		     mermaid || svg_path || html_path))
		return usage_error(err, "--live draws the ladder (or lines, "
				   "with -f, and JSON lines, with -f --json): "
				   "not with --states, --json alone, --pcap, "
				   "--summary, --svg, --html or --mermaid");
	if (follow && pcap_path)
		return usage_error(err, "--pcap writes a whole trace: not "
				   "with --follow");
	if (follow && svg_path)
		return usage_error(err, "--svg draws whole conversations: not "
				   "with --follow");
	if (follow && html_path)
		return usage_error(err, "--html draws whole conversations: not "
				   "with --follow");
	if (svg_path && !strcmp(svg_path, "-") &&
	    (states || json || mermaid || summary || pcap_out || html_out))
		return usage_error(err, "--svg - and another output both want "
				   "standard output");
	if (html_out && (states || json || mermaid || summary || pcap_out))
		return usage_error(err, "--html - and another output both want "
				   "standard output");
	if (pcap_out && (states || json || mermaid || summary))
		return usage_error(err, "--pcap - and a text view both want "
				   "standard output");
	if (o->explain && !text)
		return usage_error(err, "--explain is for the ladder, -f, --svg, "
				   "--html and --mermaid: --states, --json, "
				   "--summary and --pcap have no notes");
	if (tf_wall.utc && !tf_wall.want)
		return usage_error(err, "--utc is for -T (--time=wall)");
	if (tf_wall.want && ((!ladder && !follow && !summary) || json))
		return usage_error(err, "-T (--time=wall) is for the ladder, -f, "
				   "--live and --summary/--csv: --json has ts as "
				   "it is, a pcap always gets the time of day, "
				   "--states shows durations");
	if (o->width && !ladder)
		return usage_error(err, "--width is for the ladder (and "
				   "--live): the other views are not drawn in "
				   "columns");
	if (o->absolute && !text)
		return usage_error(err, "--absolute is for the ladder, -f, "
				   "--svg, --html and --mermaid: --states and "
				   "--summary show no numbers, --json and "
				   "--pcap always have them as on the wire");
	return 0;
}

int tfs_main(int argc, char **argv, FILE *out, FILE *err)
{
	struct tf_opts o;
	struct tf_parser p;
	struct tf_trace t;
	struct obuf ob;
	const char *path = DEFAULT_INPUT, *pcap_path = NULL, *svg_path = NULL;
	const char *html_path = NULL;
	int states = 0, json = 0, follow = 0, live = 0, color = -1, c, fd;
	int ret = 0, named = 0, piped = 0, summary = 0, mermaid = 0;
	pid_t child = 0;
	struct sigaction sa, old_int, old_term;
	uint64_t v;

	memset(&o, 0, sizeof(o));
	memset(&tf_wall, 0, sizeof(tf_wall));
	optind = 0;		/* glibc: full reset, tfs_main may run again */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":eSsjTw:flp:a:c:qhV", long_opts,
				NULL)) != -1) {
		switch (c) {
		case 'e':
			o.explain = 1;
			break;
		case 'S':
			o.absolute = 1;
			break;
		case 's':
			states = 1;
			break;
		case 'j':
			json = 1;
			break;
		case OPT_SUMMARY:
			summary = 1;
			break;
		case OPT_CSV:
			summary = 2;
			break;
		case 'w':
			pcap_path = optarg;
			break;
		case 'f':
			follow = 1;
			break;
		case 'l':
			live = 1;
			break;
		case 'p':
			if (parse_num(optarg, 65535, &v))
				return bad_arg(err, "--port", optarg);
			o.has_port = 1;
			o.port = (uint16_t)v;
			break;
		case 'a':
			if (parse_addr_opt(optarg, &o))
				return bad_arg(err, "--addr", optarg);
			o.has_addr = 1;
			break;
		case 'c':
			if (parse_num(optarg, UINT64_MAX, &o.conn))
				return bad_arg(err, "--conn", optarg);
			o.has_conn = 1;
			break;
		case OPT_PID:
			if (parse_num(optarg, UINT32_MAX, &v) || !v)
				return bad_arg(err, "--pid", optarg);
			o.pid = (uint32_t)v;
			o.has_pid = 1;
			break;
		case OPT_COMM:
			/* the kernel keeps 15 bytes of a command's name */
			if (!*optarg || strlen(optarg) >= sizeof(o.comm))
				return bad_arg(err, "--comm", optarg);
			snprintf(o.comm, sizeof(o.comm), "%s", optarg);
			o.has_comm = 1;
			break;
		case OPT_HOST:
			if (!*optarg || strlen(optarg) > TF_HOST_NAME_MAX)
				return bad_arg(err, "--host", optarg);
			o.host = optarg;
			o.has_host = 1;
			break;
		case OPT_STATE: {
			char name[32];
			size_t i;

			for (i = 0; optarg[i] && i < sizeof(name) - 1; i++)
				name[i] = (char)toupper((unsigned char)
							optarg[i]);
			name[i] = '\0';
			o.state = tf_state_lookup(name, i);
			if (o.state < 0 || optarg[i])
				return bad_arg(err, "--state", optarg);
			o.has_state = 1;
			break;
		}
		case OPT_SINCE:
			if (parse_time(optarg, &o.since, &o.since_abs))
				return bad_arg(err, "--since", optarg);
			o.has_since = 1;
			break;
		case OPT_UNTIL:
			if (parse_time(optarg, &o.until, &o.until_abs))
				return bad_arg(err, "--until", optarg);
			o.has_until = 1;
			break;
		case OPT_COLOR:
			if (!optarg || !strcmp(optarg, "auto"))
				color = -1;
			else if (!strcmp(optarg, "always"))
				color = 1;
			else if (!strcmp(optarg, "never"))
				color = 0;
			else
				return bad_arg(err, "--color", optarg);
			break;
		case OPT_SVG:
			svg_path = optarg;
			break;
		case OPT_HTML:
			html_path = optarg;
			break;
		case OPT_MERMAID:
			mermaid = 1;
			break;
		case 'T':
			tf_wall.want = 1;
			break;
		case OPT_TIME:
			if (!strcmp(optarg, "wall"))
				tf_wall.want = 1;
			else if (!strcmp(optarg, "rel"))
				tf_wall.want = 0;
			else
				return bad_arg(err, "--time", optarg);
			break;
		case OPT_UTC:
			tf_wall.utc = 1;
			break;
		case OPT_WIDTH:
			if (parse_num(optarg, 100000, &v) || v < 20)
				return bad_arg(err, "--width", optarg);
			o.width = (unsigned int)v;
			break;
		case 'q':
			o.quiet = 1;
			break;
		case 'h':
			fputs(usage_text, out);
			return 0;
		case 'V':
			fprintf(out, TF_PROG " " TF_VERSION " (reads /proc/"
				"tcpflow format %d.x)\n", TCPFLOW_FMT_MAJOR);
			return 0;
		case ':':
			fprintf(err, TF_PROG ": option '%s' needs a value\n"
				"Try '" TF_PROG " --help'.\n",
				argv[optind - 1]);
			return 2;
		default:
			fprintf(err, TF_PROG ": unknown option '%s'\n"
				"Try '" TF_PROG " --help'.\n",
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		path = argv[optind++];
		named = 1;
	}
	if (optind < argc) {
		fprintf(err, TF_PROG ": one input only ('%s'?)\n"
			"Try '" TF_PROG " --help'.\n", argv[optind]);
		return 2;
	}
	ret = check_combos(err, states, json, follow, live, summary, mermaid,
			   pcap_path, svg_path, html_path, &o, named);
	if (ret)
		return ret;
	if (color < 0) {
		const char *nc = getenv("NO_COLOR");

		color = isatty(fileno(out)) && !(nc && *nc);
	}
	o.color = color;
	if (!o.width)
		o.width = term_width(out);

	if (live) {
		fd = tf_live_open(&o, &child, err);
		if (fd < 0)
			return 1;
		path = child ? "tcpflow-bpf" : tf_live_proc();
	} else if (!named && !isatty(STDIN_FILENO)) {
		path = "-";	/* tcpflow-show < trace, ... | tcpflow-show */
	}
	if (live) {
		;
	} else if (!strcmp(path, "-")) {
		fd = STDIN_FILENO;
	} else {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(err, TF_PROG ": %s: %s\n", path,
				strerror(errno));
			if (!strcmp(path, DEFAULT_INPUT) && errno == ENOENT)
				fputs(no_module_text, err);
			return 1;
		}
	}
	tf_parser_init(&p, o.quiet ? NULL : err);
	p.check_first = 1;
	/*
	 * --live traces from now on either route: /proc/tcpflow starts with
	 * the whole ring (records of hours ago on a busy machine), so what
	 * its header says was there is skipped; tcpflow-bpf starts empty.
	 */
	if (live && !child)
		p.from_now = 1;
	if (ob_init(&ob, out, color)) {
		if (fd != STDIN_FILENO)
			close(fd);
		tf_live_close(child, 0);
		return 1;
	}
	if (follow || live) {
		/* Ctrl-C: stop reading, show what is left, exit 0. */
		tf_stop = 0;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_stop;	/* no SA_RESTART: EINTR */
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, &old_int);
		sigaction(SIGTERM, &sa, &old_term);
		if (follow)
			ret = tf_follow(fd, child, &o, &p, &ob, json);
		else
			ret = tf_live_ladder(fd, child, &o, &p, &ob,
					     isatty(fileno(out)));
		ret |= tf_live_close(child, tf_stop);
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		if (ret == 2 && p.not_trace)
			not_trace(err, path, &p);
		goto done;
	}

	/*
	 * A whole trace from a pipe: the first Ctrl-C, which reaches the
	 * writer too (tcpflow-bpf | tcpflow-show), does not end the reader:
	 * it reads on to the end of the pipe, what the writer wrote as it
	 * ended included, and shows it all.  A second one ends it.
	 */
	piped = tf_fd_is_pipe(fd) && !isatty(fd);
	if (piped) {
		tf_stop = 0;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_stop;
		sa.sa_flags = SA_RESETHAND | SA_RESTART;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, &old_int);
	}
	if ((states || json) && !pcap_path && !svg_path && !html_path &&
	    !o.has_port &&
	    !o.has_addr && !o.has_conn && !o.has_state && !o.has_pid &&
	    !o.has_comm && !o.has_host) {
		uint64_t n = 0;

		ret = tf_stream(fd, path, &p, &o, &ob, states, &n);
		if (!ret && !p.started)
			ret = 2;
		if (ret == 2 && (p.not_trace || !p.started)) {
			not_trace(err, path, &p);
			ob.len = 0;	/* not even --states' heading */
		}
		else if (!ret && !n && !o.quiet)
			fprintf(err, TF_PROG ": %s: no records\n", path);
		goto done;
	}
	tf_trace_init(&t);
	ret = tf_load(fd, path, &p, &t);
	if (!ret && !p.started)
		ret = 2;
	if (ret == 2 && (p.not_trace || !p.started))
		not_trace(err, path, &p);
	if (!ret && tf_model_build(&t)) {
		fprintf(err, TF_PROG ": out of memory\n");
		ret = 1;
	}
	if (!ret) {
		if (!t.nrec && !o.quiet)
			fprintf(err, TF_PROG ": %s: no records\n", path);
		if (t.nrec)
			tf_wall_warn(err, path);
		if (pcap_path && tf_view_pcap(&t, &o, pcap_path, err))
			ret = 1;
		if (svg_path)
			ret |= tf_svg_file(&t, &o, svg_path, out, err);
		if (html_path)
			ret |= tf_html_file(&t, &o, html_path, out, err);
		if (summary)
			ret |= tf_view_summary(&t, &o, &ob, summary == 2) ?
			       1 : 0;
		else if (states)
			ret |= tf_view_states(&t, &o, &ob) ? 1 : 0;
		else if (json)
			ret |= tf_view_json(&t, &o, &ob) ? 1 : 0;
		else if (mermaid)
			ret |= tf_view_mermaid(&t, &o, &ob) ? 1 : 0;
		else if (!pcap_path && !svg_path && !html_path)
			ret |= tf_view_ladder(&t, &o, &ob) ? 1 : 0;
	}
	tf_trace_free(&t);
done:
	if (piped)
		sigaction(SIGINT, &old_int, NULL);
	tf_parser_done(&p);
	if (ob_done(&ob) && !ret) {
		fprintf(err, TF_PROG ": write error\n");
		ret = 1;
	}
	if (fd != STDIN_FILENO)
		close(fd);
	return ret;
}
