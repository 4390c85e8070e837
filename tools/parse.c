// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * parse.c - lines of /proc/tcpflow (docs/format.md) into struct tf_rec.
 *
 * Hand-rolled on purpose: the bench wants millions of lines a second, and
 * every byte of input may be junk (the fuzzer sees to that), so each value
 * is checked with its length in hand and nothing relies on a NUL.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "show.h"

static const char *const state_names[] = TCPFLOW_STATE_NAMES;
static const char *const event_names[] = TCPFLOW_EVENT_NAMES;
static const char *const sock_names[] = TCPFLOW_SOCK_NAMES;
static const char *const who_names[] = TCPFLOW_WHO_NAMES;
static const char *const why_names[] = TCPFLOW_WHY_NAMES;
static const uint8_t flag_bits[] = TCPFLOW_FLAG_BITS;
static const char flag_letters[] = TCPFLOW_FLAG_LETTERS;

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	const char *name;
	uint8_t len;
} keys[TF_NKEYS] = {
#define K(x) { x, sizeof(x) - 1 }
	K("n"), K("ts"), K("cpu"), K("netns"), K("conn"), K("ev"), K("sock"),
	K("af"), K("laddr"), K("lport"), K("raddr"), K("rport"), K("old"),
	K("new"), K("state"), K("flags"), K("seq"), K("ack"), K("win"),
	K("len"), K("pid"), K("comm"), K("who"), K("why"), K("dur"),
	K("opts"),
#undef K
};

const char *tf_state_name(unsigned int st)
{
	return st < ARRAY_SIZE(state_names) ? state_names[st] : "?";
}

const char *tf_event_name(unsigned int ev)
{
	return ev < ARRAY_SIZE(event_names) ? event_names[ev] : "?";
}

const char *tf_sock_name(unsigned int sk)
{
	return sk < ARRAY_SIZE(sock_names) ? sock_names[sk] : "?";
}

const char *tf_who_name(unsigned int who)
{
	return who < ARRAY_SIZE(who_names) ? who_names[who] : "?";
}

const char *tf_why_name(unsigned int why)
{
	return why < ARRAY_SIZE(why_names) ? why_names[why] : "?";
}

size_t tf_flags_str(char *buf, unsigned int flags)
{
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(flag_bits); i++)
		if (flags & flag_bits[i])
			buf[n++] = flag_letters[i];
	if (!n) {
		memcpy(buf, "none", 4);
		n = 4;
	}
	buf[n] = '\0';
	return n;
}

int tf_has_opts(const struct tcpflow_record *x, uint32_t dash)
{
	return !(dash & TF_DASH(TF_K_OPTS)) && x->event != TCPFLOW_EV_STATE &&
	       (x->flags & TCPFLOW_F_SYN) && (x->opt.bits & TCPFLOW_OPT_SEEN);
}

size_t tf_opts_str(char *buf, const struct tcpflow_record *x, uint32_t dash,
		   int style)
{
	const struct tcpflow_synopt *o = &x->opt;
	int td = style == TF_OPTS_TCPDUMP, n = 0;

	buf[0] = '\0';
	if (!tf_has_opts(x, dash))
		return 0;
#define ADD(...) (n += snprintf(buf + n, (size_t)(TF_OPTS_MAX - n), \
				__VA_ARGS__))
	if (o->bits & TCPFLOW_OPT_MSS)
		ADD("%smss %u", n ? (td ? "," : " ") : "", o->mss);
	if (!td && (o->bits & TCPFLOW_OPT_WS))
		ADD("%sws %u", n ? " " : "", o->ws);
	if (o->bits & TCPFLOW_OPT_SACK)
		ADD("%s%s", n ? (td ? "," : " ") : "", td ? "sackOK" : "sack");
	if (o->bits & TCPFLOW_OPT_TS) {
		if (td)
			ADD("%sTS val %u", n ? "," : "", o->tsval);
		else
			ADD("%sts", n ? " " : "");
	}
	if (td && (o->bits & TCPFLOW_OPT_WS))
		ADD("%swscale %u", n ? "," : "", o->ws);
	if (!n)
		ADD("%s", td ? "" : "no options");
#undef ADD
	return (size_t)n;
}

static int same(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)	/* short words: no memcmp call */
		if (a[i] != b[i])
			return 0;
	return 1;
}

/* Index in a name table, or -1; "-" is index 0 where the table has it. */
static int lookup(const char *const *tab, size_t ntab, const char *s,
		  size_t n)
{
	for (size_t i = 0; i < ntab; i++) {
		size_t j = 0;

		while (j < n && tab[i][j] && tab[i][j] == s[j])
			j++;
		if (j == n && !tab[i][n])
			return (int)i;
	}
	return -1;
}

int tf_state_lookup(const char *s, size_t n)
{
	int i = lookup(state_names, ARRAY_SIZE(state_names), s, n);

	return i > 0 ? i : -1;
}

static int parse_u64(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;

	if (n == 0 || n > 20)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned int d = (unsigned char)s[i] - '0';

		if (d > 9)
			return -1;
		if (x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

static int parse_uint(const char *s, size_t n, uint64_t max, uint64_t *v)
{
	return parse_u64(s, n, v) || *v > max ? -1 : 0;
}

static int parse_ipv4(const char *s, size_t n, uint8_t *addr)
{
	unsigned int part = 0, val = 0, digits = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (!digits || part > 3)
				return -1;
			addr[part++] = (uint8_t)val;
			val = digits = 0;
			continue;
		}
		if (s[i] < '0' || s[i] > '9' || ++digits > 3)
			return -1;
		val = val * 10 + (unsigned int)(s[i] - '0');
		if (val > 255)
			return -1;
	}
	return part == 4 ? 0 : -1;
}

int tf_parse_addr(const char *s, size_t n, uint8_t addr[16])
{
	char tmp[INET6_ADDRSTRLEN];

	memset(addr, 0, 16);
	if (memchr(s, ':', n)) {
		if (n >= sizeof(tmp) || memchr(s, '\0', n))
			return -1;
		memcpy(tmp, s, n);
		tmp[n] = '\0';
		return inet_pton(AF_INET6, tmp, addr) == 1 ? 6 : -1;
	}
	return parse_ipv4(s, n, addr) ? -1 : 4;
}

int tf_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* comm: printable bytes as they are, the rest (and '=' '\') as \xNN. */
static int parse_comm(const char *s, size_t n, char *comm)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '\\') {
			int hi, lo;

			if (i + 3 >= n || s[i + 1] != 'x')
				return -1;
			hi = tf_hexval((unsigned char)s[i + 2]);
			lo = tf_hexval((unsigned char)s[i + 3]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi << 4 | lo;
			if (!c)
				return -1;	/* a comm has no NUL inside */
			i += 3;
		} else if (c < '!' || c > '~' || c == '=') {
			return -1;
		}
		if (o >= TCPFLOW_COMM_LEN - 1)
			return -1;
		comm[o++] = (char)c;
	}
	comm[o] = '\0';
	return 0;
}

static int parse_flags(const char *s, size_t n, uint8_t *flags)
{
	uint8_t f = 0;

	if (n == 4 && !memcmp(s, "none", 4)) {
		*flags = 0;
		return 0;
	}
	if (!n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *p = memchr(flag_letters, s[i],
				       sizeof(flag_letters) - 1);

		if (!p)
			return -1;
		f |= flag_bits[p - flag_letters];
	}
	*flags = f;
	return 0;
}

void tf_parser_init(struct tf_parser *p, FILE *err)
{
	memset(p, 0, sizeof(*p));
	p->err = err;
	p->warn_limit = 50;
}

void tf_parser_warn(struct tf_parser *p, const char *fmt, ...)
{
	va_list ap;

	if (!p->err)
		return;
	if (p->nwarned >= p->warn_limit) {
		p->nwarned++;
		return;
	}
	p->nwarned++;
	fprintf(p->err, TF_PROG ": line %lu: ", p->line);
	va_start(ap, fmt);
	vfprintf(p->err, fmt, ap);
	va_end(ap);
	fputc('\n', p->err);
}

void tf_parser_done(struct tf_parser *p)
{
	for (size_t i = 0; i < p->nseenl; i++)
		free(p->seen[i].v);
	free(p->seen);
	p->seen = NULL;
	p->nseenl = 0;
	tf_hosts_free(&p->hosts);
	free(p->jbuf);
	p->jbuf = NULL;
	if (p->err && p->nwarned > p->warn_limit)
		fprintf(p->err, TF_PROG ": %lu more warnings not shown\n",
			p->nwarned - p->warn_limit);
	p->nwarned = 0;
}

/* Quote a value for a message: junk bytes as \xNN, cut after 40. */
static const char *quote(const char *s, size_t n, char *buf, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 8 < size; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i == 40) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c < ' ' || c > '~')
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o] = '\0';
	return buf;
}

static enum tf_line parse_header(struct tf_parser *p, const char *s, size_t n)
{
	const char *e = s + n, *v;
	uint64_t major = 0, minor = 0;
	char q[200];

	/* "# tcpflow MAJOR.MINOR key=value ..." */
	v = s;
	while (v < e && *v >= '0' && *v <= '9')
		v++;
	if (v == s || v >= e || *v != '.' ||
	    parse_u64(s, (size_t)(v - s), &major)) {
		if (p->err)
			fprintf(p->err, TF_PROG ": line %lu: not a format "
				"version: '%s'\n", p->line,
				quote(s, n, q, sizeof(q)));
		p->fatal = 1;
		return TF_LINE_FATAL;
	}
	s = ++v;
	while (v < e && *v >= '0' && *v <= '9')
		v++;
	if (v == s || parse_u64(s, (size_t)(v - s), &minor) ||
	    (v < e && *v != ' ')) {
		if (p->err)
			fprintf(p->err, TF_PROG ": line %lu: not a format "
				"version: '%s'\n", p->line,
				quote(s, (size_t)(e - s), q, sizeof(q)));
		p->fatal = 1;
		return TF_LINE_FATAL;
	}
	if (major != TCPFLOW_FMT_MAJOR) {
		if (p->err)
			fprintf(p->err, TF_PROG ": line %lu: format version "
				"%llu.%llu is not supported (this reader knows "
				"%d.x)\n", p->line, (unsigned long long)major,
				(unsigned long long)minor, TCPFLOW_FMT_MAJOR);
		p->fatal = 1;
		return TF_LINE_FATAL;
	}
	memset(&p->hdr, 0, sizeof(p->hdr));
	p->hdr.seen = 1;
	p->hdr.major = (unsigned int)major;
	p->hdr.minor = minor > 65535 ? 65535 : (unsigned int)minor;

	/* The counters are for messages only; unknown keys are fine. */
	while (v < e) {
		const char *k, *eq, *end;
		uint64_t x;

		while (v < e && *v == ' ')
			v++;
		k = v;
		while (v < e && *v != ' ')
			v++;
		end = v;
		eq = memchr(k, '=', (size_t)(end - k));
		if (!eq)
			continue;
#define HKEY(name) ((size_t)(eq - k) == sizeof(name) - 1 && \
		    !memcmp(k, name, sizeof(name) - 1))
		if (HKEY("segments")) {
			size_t l = (size_t)(end - eq - 1);

			if (l >= sizeof(p->hdr.segments))
				l = sizeof(p->hdr.segments) - 1;
			memcpy(p->hdr.segments, eq + 1, l);
			p->hdr.segments[l] = '\0';
			continue;
		}
		if (HKEY("epoch_offset")) {
			/* CLOCK_REALTIME - CLOCK_MONOTONIC (1.1), signed */
			const char *d = eq + 1;
			int neg = d < end && *d == '-';

			if (!parse_u64(d + neg, (size_t)(end - d - neg), &x) &&
			    x <= INT64_MAX) {
				p->hdr.has_epoch = 1;
				p->hdr.epoch_offset = neg ? -(int64_t)x : (int64_t)x;
				tf_wall.have = 1;
				tf_wall.offset = p->hdr.epoch_offset;
			}
			continue;
		}
		if (parse_u64(eq + 1, (size_t)(end - eq - 1), &x))
			continue;
		if (HKEY("capacity"))
			p->hdr.capacity = x;
		else if (HKEY("first"))
			p->hdr.first = x;
		else if (HKEY("next"))
			p->hdr.next = x;
		else if (HKEY("overwritten"))
			p->hdr.overwritten = x;
		else if (HKEY("missed"))
			p->hdr.missed = x;
#undef HKEY
	}
	if (p->err && p->hdr.overwritten)
		fprintf(p->err, TF_PROG ": %llu records were overwritten "
			"before this read; the oldest conversations may be "
			"incomplete\n",
			(unsigned long long)p->hdr.overwritten);
	if (p->err && p->hdr.missed)
		fprintf(p->err, TF_PROG ": the module missed %llu probe "
			"hits; some events may be absent\n",
			(unsigned long long)p->hdr.missed);
	return TF_LINE_SKIP;
}

enum tf_line tf_parse_comment(struct tf_parser *p, const char *s, size_t n)
{
	const char *e = s + n;
	uint64_t from, to;
	const char *a, *b;

	s++;
	while (s < e && *s == ' ')
		s++;
	n = (size_t)(e - s);
	if (n >= 8 && !memcmp(s, "tcpflow ", 8))
		return parse_header(p, s + 8, n - 8);
	if (n < 4 || memcmp(s, "gap ", 4))
		return TF_LINE_SKIP;	/* a comment we do not know */

	/* "# gap from=N to=M" */
	s += 4;
	if ((size_t)(e - s) < 5 || memcmp(s, "from=", 5))
		goto bad_gap;
	a = s += 5;
	while (s < e && *s != ' ')
		s++;
	if (parse_u64(a, (size_t)(s - a), &from))
		goto bad_gap;
	if ((size_t)(e - s) < 4 || memcmp(s, " to=", 4))
		goto bad_gap;
	b = s += 4;
	while (s < e && *s != ' ')
		s++;
	if (parse_u64(b, (size_t)(s - b), &to) || to < from)
		goto bad_gap;
	p->ngap += to - from;
	if (p->err)
		fprintf(p->err, TF_PROG ": line %lu: records %llu..%llu were "
			"overwritten before they were read\n", p->line,
			(unsigned long long)from, (unsigned long long)to - 1);
	return TF_LINE_SKIP;
bad_gap:
	tf_parser_warn(p, "garbled gap line");
	p->nbad++;
	return TF_LINE_SKIP;
}

/*
 * opts (1.2): "none", or a comma list of mss:N, ws:N, sack, ts:N; an item
 * a newer version adds (name or name:value) is skipped.
 */
static int parse_opts(const char *v, size_t n, struct tcpflow_synopt *o)
{
	const char *e = v + n;

	memset(o, 0, sizeof(*o));
	o->bits = TCPFLOW_OPT_SEEN;
	if (n == 4 && !memcmp(v, "none", 4))
		return 0;
	while (v < e) {
		const char *c = memchr(v, ',', (size_t)(e - v));
		const char *end = c ? c : e, *colon;
		size_t len = (size_t)(end - v), nlen;
		uint64_t x = 0;

		colon = memchr(v, ':', len);
		nlen = colon ? (size_t)(colon - v) : len;
		if (!nlen || (colon && parse_u64(colon + 1,
						 (size_t)(end - colon - 1), &x)))
			return -1;
#define IS(s) (nlen == sizeof(s) - 1 && !memcmp(v, s, nlen))
		if (IS("mss")) {
			if (!colon || x > 65535)
				return -1;
			o->mss = (uint16_t)x;
			o->bits |= TCPFLOW_OPT_MSS;
		} else if (IS("ws")) {
			if (!colon || x > 255)
				return -1;
			o->ws = (uint8_t)x;
			o->bits |= TCPFLOW_OPT_WS;
		} else if (IS("sack")) {
			if (colon)
				return -1;
			o->bits |= TCPFLOW_OPT_SACK;
		} else if (IS("ts")) {
			if (!colon || x > UINT32_MAX)
				return -1;
			o->tsval = (uint32_t)x;
			o->bits |= TCPFLOW_OPT_TS;
		}
#undef IS
		if (!c)
			break;
		v = c + 1;
		if (v == e)
			return -1;	/* a trailing comma */
	}
	return 0;
}

static int find_key(const char *k, size_t n, int hint)
{
	if (hint < TF_NKEYS && keys[hint].len == n && same(keys[hint].name, k, n))
		return hint;
	for (int i = 0; i < TF_NKEYS; i++)
		if (keys[i].len == n && same(keys[i].name, k, n))
			return i;
	return -1;
}

/* A '-' is allowed for every key but these. */
#define TF_NEED_VALUE (TF_DASH(TF_K_N) | TF_DASH(TF_K_TS) | \
		       TF_DASH(TF_K_CONN) | TF_DASH(TF_K_EV) | \
		       TF_DASH(TF_K_SOCK) | TF_DASH(TF_K_AF))

static int parse_value(struct tcpflow_record *r, int k, const char *v,
		       size_t n, int *addr_af)
{
	uint64_t x;
	int i;

	switch (k) {
	case TF_K_N:
		if (parse_u64(v, n, &x))
			return -1;
		r->n = x;
		return 0;
	case TF_K_TS:
		if (parse_u64(v, n, &x))
			return -1;
		r->ts_ns = x;
		return 0;
	case TF_K_CONN:
		if (parse_u64(v, n, &x))
			return -1;
		r->conn = x;
		return 0;
	case TF_K_DUR:
		if (parse_u64(v, n, &x))
			return -1;
		r->dur_ns = x;
		return 0;
	case TF_K_CPU:
	case TF_K_LPORT:
	case TF_K_RPORT:
	case TF_K_WIN:
		if (parse_uint(v, n, 65535, &x))
			return -1;
		if (k == TF_K_CPU)
			r->cpu = (uint16_t)x;
		else if (k == TF_K_LPORT)
			r->lport = (uint16_t)x;
		else if (k == TF_K_RPORT)
			r->rport = (uint16_t)x;
		else
			r->win = (uint16_t)x;
		return 0;
	case TF_K_NETNS:
	case TF_K_SEQ:
	case TF_K_ACK:
	case TF_K_LEN:
	case TF_K_PID:
		if (parse_uint(v, n, UINT32_MAX, &x))
			return -1;
		if (k == TF_K_NETNS)
			r->netns = (uint32_t)x;
		else if (k == TF_K_SEQ)
			r->seq = (uint32_t)x;
		else if (k == TF_K_ACK)
			r->ack = (uint32_t)x;
		else if (k == TF_K_LEN)
			r->len = (uint32_t)x;
		else
			r->pid = (uint32_t)x;
		return 0;
	case TF_K_EV:
		i = lookup(event_names, ARRAY_SIZE(event_names), v, n);
		if (i <= 0)
			return -1;
		r->event = (uint8_t)i;
		return 0;
	case TF_K_SOCK:
		i = lookup(sock_names, ARRAY_SIZE(sock_names), v, n);
		if (i < 0)
			return -1;
		r->sock = (uint8_t)i;
		return 0;
	case TF_K_AF:
		if (n != 1 || (v[0] != '4' && v[0] != '6'))
			return -1;
		r->af = (uint8_t)(v[0] - '0');
		return 0;
	case TF_K_LADDR:
	case TF_K_RADDR:
		i = tf_parse_addr(v, n, k == TF_K_LADDR ? r->laddr : r->raddr);
		if (i < 0)
			return -1;
		addr_af[k == TF_K_RADDR] = i;
		return 0;
	case TF_K_OLD:
	case TF_K_NEW:
	case TF_K_STATE:
		i = tf_state_lookup(v, n);
		if (i < 0)
			return -1;
		if (k == TF_K_OLD)
			r->old_state = (uint8_t)i;
		else
			r->new_state = (uint8_t)i;
		return 0;
	case TF_K_FLAGS:
		return parse_flags(v, n, &r->flags);
	case TF_K_COMM:
		return parse_comm(v, n, r->comm);
	case TF_K_WHO:
		i = lookup(who_names, ARRAY_SIZE(who_names), v, n);
		if (i <= 0)
			return -1;
		r->who = (uint8_t)i;
		return 0;
	case TF_K_WHY:
		i = lookup(why_names, ARRAY_SIZE(why_names), v, n);
		if (i <= 0)
			return -1;
		r->why = (uint8_t)i;
		return 0;
	case TF_K_OPTS:
		return parse_opts(v, n, &r->opt);
	}
	return -1;
}

enum { C_BLANK = 1, C_EQ = 2 };
static const uint8_t cls[256] = { [' '] = C_BLANK, ['\t'] = C_BLANK,
				  ['='] = C_EQ };

enum tf_line tf_parse_record(struct tf_parser *p, const char *s, size_t n,
			     struct tf_rec *out)
{
	struct tcpflow_record *r = &out->r;
	const char *e = s + n;
	uint32_t seen = 0, dash = 0;
	int hint = 0, addr_af[2] = { 0, 0 };
	char q[200];

	memset(out, 0, sizeof(*out));
	while (s < e) {
		const char *tok, *eq, *v;
		size_t vlen;
		int k;

		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		if (s == e)
			break;
		/* key up to '=', then the value up to a blank */
		tok = s;
		eq = NULL;
		while (s < e && !cls[(unsigned char)*s])
			s++;
		if (s < e && cls[(unsigned char)*s] == C_EQ) {
			eq = s++;
			while (s < e && cls[(unsigned char)*s] != C_BLANK)
				s++;
		}
		if (!eq || eq == tok) {
			tf_parser_warn(p, "expected key=value, got '%s'",
				       quote(tok, (size_t)(s - tok), q,
					     sizeof(q)));
			goto bad;
		}
		k = find_key(tok, (size_t)(eq - tok), hint);
		if (k < 0)
			continue;	/* a newer minor version's key */
		hint = k + 1;
		v = eq + 1;
		vlen = (size_t)(s - v);
		seen |= TF_DASH(k);
		if (vlen == 1 && *v == '-' && !(TF_DASH(k) & TF_NEED_VALUE)) {
			dash |= TF_DASH(k);
			continue;
		}
		if (parse_value(r, k, v, vlen, addr_af)) {
			tf_parser_warn(p, "bad value for %s: '%s'",
				       p->json ? tf_json_key(k) : keys[k].name,
				       quote(v, vlen, q, sizeof(q)));
			goto bad;
		}
	}
	if (!(seen & TF_DASH(TF_K_OPTS)))
		dash |= TF_DASH(TF_K_OPTS);	/* before 1.2 */
	if ((seen & TF_KEYS_1_0) != TF_KEYS_1_0) {
		int k = 0;

		while (seen & TF_DASH(k))
			k++;
		tf_parser_warn(p, "missing key '%s'", keys[k].name);
		goto bad;
	}
	if ((addr_af[0] && addr_af[0] != r->af) ||
	    (addr_af[1] && addr_af[1] != r->af)) {
		tf_parser_warn(p, "address family is not %s=%u",
			       p->json ? "family" : "af", r->af);
		goto bad;
	}
	/*
	 * old/new are state events' keys, state the segments'; one field of
	 * the struct carries new and state, so keep the one that applies.
	 */
	if (r->event != TCPFLOW_EV_STATE) {
		r->old_state = 0;
		dash |= TF_DASH(TF_K_OLD) | TF_DASH(TF_K_NEW);
	}
	out->dash = dash;
	out->line = p->line > UINT32_MAX ? UINT32_MAX : (uint32_t)p->line;
	out->cx = -1;
	out->group = -1;
	out->twin = -1;
	return TF_LINE_RECORD;
bad:
	p->nbad++;
	return TF_LINE_SKIP;
}

static uint64_t rec_hash(const struct tf_rec *r)
{
	uint64_t w[sizeof(r->r) / 8], h = r->dash;

	memcpy(w, &r->r, sizeof(w));
	for (size_t i = 0; i < sizeof(w) / 8; i++) {
		h = (h ^ w[i]) * 0x9e3779b97f4a7c15ULL;
		h ^= h >> 29;
	}
	return h;
}

/*
 * A record number the module gave once, with the same content as before:
 * the same record read twice.  The module numbers records from 1 and
 * prints them in order, so n only goes back when the input repeats itself
 * (cat t t, two overlapping reads) or a new trace begins (module loaded
 * again).  For the first, find n among the records read since n last
 * went back; for the second, start that list afresh.  Each host numbers
 * its own records: one list per host.
 */
int tf_read_before(struct tf_parser *p, const struct tf_rec *r)
{
	uint64_t n = r->r.n, h = rec_hash(r);
	struct tf_seenlist *l;
	size_t lo = 0, hi;

	if (r->host >= p->nseenl) {
		size_t cap = (size_t)r->host + 1;
		struct tf_seenlist *v = realloc(p->seen, cap * sizeof(*v));

		if (!v)
			return 0;	/* no memory: keep repeats, no harm */
		memset(v + p->nseenl, 0, (cap - p->nseenl) * sizeof(*v));
		p->seen = v;
		p->nseenl = cap;
	}
	l = &p->seen[r->host];
	hi = l->n;
	if (l->n && n <= l->v[l->n - 1].n) {
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (l->v[mid].n < n)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < l->n && l->v[lo].n == n && l->v[lo].h == h) {
			if (!p->ndup++)
				tf_parser_warn(p, "record n=%llu was read "
					       "before (the same trace twice?):"
					       " dropped, as is every later "
					       "repeat", (unsigned long long)n);
			return 1;
		}
		l->n = 0;	/* a new trace: numbers start again */
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		struct tf_seen *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return 0;	/* no memory: keep repeats, no harm */
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].n = n;
	l->v[l->n++].h = h;
	return 0;
}

/*
 * One line, without its newline.  A record fills *out; anything else is
 * TF_LINE_SKIP, after a warning if it was garbled or read before.
 */
enum tf_line tf_parse_line(struct tf_parser *p, const char *s, size_t n,
			   struct tf_rec *out)
{
	p->line++;
	if (p->fatal)
		return TF_LINE_FATAL;
	if (n && s[n - 1] == '\r')
		n--;
	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	if (!n)
		return TF_LINE_SKIP;
	/*
	 * A trace starts with its header or a record (docs/format.md), or
	 * is JSON lines of records or of log entries holding them
	 * (jsonin.c): a pcap, other JSON or tcpdump's text is refused here,
	 * not read as lines that are all garbled.
	 */
	if (!p->started) {
		p->started = 1;
		if (p->check_first && *s == '{')
			return tf_parse_json(p, s, n, out, 1);
		if (p->check_first && !(n >= 9 && !memcmp(s, "# tcpflow", 9)) &&
		    !(n >= 6 && !memcmp(s, "# gap ", 6)) &&
		    !(n >= 2 && !memcmp(s, "n=", 2))) {
			p->not_trace = p->line;
			p->fatal = 1;
			return TF_LINE_FATAL;
		}
	}
	if (*s == '#') {
		enum tf_line l = tf_parse_comment(p, s, n);

		if (p->from_now == 1 && p->hdr.seen) {
			p->start_n = p->hdr.next;
			p->from_now = 2;
		}
		return l;
	}
	if (*s == '{')
		return tf_parse_json(p, s, n, out, 0);
	if (tf_parse_record(p, s, n, out) != TF_LINE_RECORD)
		return TF_LINE_SKIP;
	/* --live traces from now: what the ring held is not drawn */
	if (p->from_now == 2 && out->r.n < p->start_n) {
		p->nbefore++;
		return TF_LINE_SKIP;
	}
	return tf_read_before(p, out) ? TF_LINE_SKIP : TF_LINE_RECORD;
}

/* Input ---------------------------------------------------------------- */

int tf_input_init(struct tf_input *in, int fd)
{
	memset(in, 0, sizeof(*in));
	in->fd = fd;
	in->cap = 32768;	/* grows to 2 * TF_MAX_LINE for long lines */
	in->buf = malloc(in->cap);
	return in->buf ? 0 : -1;
}

void tf_input_free(struct tf_input *in)
{
	free(in->buf);
	in->buf = NULL;
}

/*
 * Next line.  With flush, a last line without a newline counts as a line
 * (end of a file); without, it waits in the buffer for the rest (follow).
 */
enum tf_in tf_input_next(struct tf_input *in, const char **line, size_t *len,
			 int flush)
{
	for (;;) {
		char *nl = memchr(in->buf + in->scan, '\n', in->end - in->scan);
		ssize_t got;

		if (nl) {
			size_t start = in->start;

			in->start = in->scan = (size_t)(nl - in->buf) + 1;
			if (in->skipping) {
				in->skipping = 0;
				return TF_IN_LONG;
			}
			*line = in->buf + start;
			*len = (size_t)(nl - in->buf) - start;
			return TF_IN_LINE;
		}
		in->scan = in->end;
		if (in->skipping) {
			in->start = in->scan = in->end = 0;
		} else if (in->end - in->start >= in->cap / 2 &&
			   in->cap < 2 * TF_MAX_LINE) {
			char *b = realloc(in->buf, in->cap * 2);

			if (!b)
				return TF_IN_ERR;
			in->buf = b;
			in->cap *= 2;
			continue;
		} else if (in->end - in->start > TF_MAX_LINE) {
			/* Drop what we have and the rest up to a newline. */
			in->skipping = 1;
			in->start = in->scan = in->end = 0;
		} else if (in->start) {
			memmove(in->buf, in->buf + in->start,
				in->end - in->start);
			in->end -= in->start;
			in->scan -= in->start;
			in->start = 0;
		}
		if (in->poll_first) {
			struct pollfd pfd = { .fd = in->fd, .events = POLLIN };

			if (poll(&pfd, 1, 0) <= 0)
				return TF_IN_AGAIN;	/* none, or EINTR */
		}
		got = read(in->fd, in->buf + in->end, in->cap - in->end);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return TF_IN_ERR;
		}
		if (got > 0) {
			in->end += (size_t)got;
			in->eof = 0;
			continue;
		}
		in->eof = 1;
		if (!flush)
			return TF_IN_AGAIN;
		if (in->skipping) {
			in->skipping = 0;
			return TF_IN_LONG;
		}
		if (in->end > in->start) {
			*line = in->buf + in->start;
			*len = in->end - in->start;
			in->start = in->scan = in->end = 0;
			return TF_IN_LINE;
		}
		return TF_IN_AGAIN;
	}
}
