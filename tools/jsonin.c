// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * jsonin.c - JSON lines in (docs/fleet.md): a line that begins with '{'.
 *
 * Two kinds of object are read:
 * - a record as --json writes it (tools/README.md), maybe with the
 *   "host" and "boot" keys --json adds to a record that came from a host;
 * - a log entry that holds a record, as log shippers write them: one
 *   line of journalctl -o json (MESSAGE, _HOSTNAME, _BOOT_ID; a central
 *   journal of many hosts read back the same way), Vector's journald
 *   source (message, host, _BOOT_ID), Fluent Bit's systemd input
 *   (MESSAGE, _HOSTNAME or, with Strip_Underscores, HOSTNAME).  Its
 *   message is a record, as JSON or as a line of the text format; the
 *   entry names the host it came from.
 * An entry of another program (SYSLOG_IDENTIFIER other than tcpflow), or
 * whose message does not look like a record (tcpflow-show's own
 * warnings, which the unit's stderr sends to the journal too), is
 * skipped without a word; a record that does not parse is a warning
 * with its line number, as in the text format.
 *
 * A JSON record is turned into a line of the text format and parsed by
 * parse.c, so both forms are checked by the same rules; warnings name
 * the JSON keys.  Hosts are kept as (name, boot id): cloned lab machines
 * may share a name, containers share a boot, one machine's boots share
 * nothing but the name, and each of those has its own conn ids.
 */
#include <stdlib.h>
#include <string.h>
#include "show.h"

#define DEPTH_MAX 16		/* nesting a skipped value may have */
#define VALUE_MAX 64		/* bytes of a record's string value */

/* The record's keys as --json names them, in enum tf_key's order. */
static const char *const json_keys[TF_NKEYS] = {
	"n", "ts_ns", "cpu", "netns", "conn", "event", "sock", "family",
	"laddr", "lport", "raddr", "rport", "old", "new", "state", "flags",
	"seq", "ack", "win", "len", "pid", "comm", "who", "why", "dur_ns",
	"opts",
};

/* ... and as the text format does (parse.c's keys[]). */
static const char *const text_keys[TF_NKEYS] = {
	"n", "ts", "cpu", "netns", "conn", "ev", "sock", "af", "laddr",
	"lport", "raddr", "rport", "old", "new", "state", "flags", "seq",
	"ack", "win", "len", "pid", "comm", "who", "why", "dur", "opts",
};

const char *tf_json_key(int k)
{
	return k >= 0 && k < TF_NKEYS ? json_keys[k] : "?";
}

/* Hosts --------------------------------------------------------------- */

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static int same_str(const char *a, const char *b, size_t n)
{
	return a ? b && strlen(a) == n && !memcmp(a, b, n) : !b;
}

int tf_hosts_find(struct tf_hosts *h, const char *name, size_t nlen,
		  const char *boot, size_t blen)
{
	struct tf_host *e;

	if (!h->n) {		/* v[0]: records with no host */
		h->cap = 16;
		h->v = calloc(h->cap, sizeof(*h->v));
		if (!h->v)
			return -1;
		h->n = 1;
	}
	/* most lines come from the host of the line before */
	for (size_t i = h->n; i-- > 1;) {
		e = &h->v[i];
		if (same_str(e->name, name, nlen) &&
		    (boot ? same_str(e->boot, boot, blen) : !e->boot))
			return (int)i;
	}
	if (h->n > TF_HOSTS_MAX)
		return -1;
	if (h->n == h->cap) {
		struct tf_host *v = realloc(h->v, 2 * h->cap * sizeof(*v));

		if (!v)
			return -1;
		h->v = v;
		h->cap *= 2;
	}
	e = &h->v[h->n];
	e->name = dup_n(name, nlen);
	e->boot = boot ? dup_n(boot, blen) : NULL;
	if (!e->name || (boot && !e->boot)) {
		free(e->name);
		free(e->boot);
		return -1;
	}
	return (int)h->n++;
}

int tf_hosts_copy(struct tf_hosts *dst, const struct tf_hosts *src)
{
	memset(dst, 0, sizeof(*dst));
	if (!src->n)
		return 0;
	dst->v = calloc(src->n, sizeof(*dst->v));
	if (!dst->v)
		return -1;
	dst->cap = src->n;
	dst->n = 1;
	for (size_t i = 1; i < src->n; i++) {
		const struct tf_host *e = &src->v[i];

		if (tf_hosts_find(dst, e->name, strlen(e->name), e->boot,
				  e->boot ? strlen(e->boot) : 0) != (int)i) {
			tf_hosts_free(dst);
			return -1;
		}
	}
	return 0;
}

void tf_hosts_free(struct tf_hosts *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->v[i].name);
		free(h->v[i].boot);
	}
	free(h->v);
	memset(h, 0, sizeof(*h));
}

const char *tf_host_label(const struct tf_hosts *h, unsigned int host,
			  char *buf)
{
	const struct tf_host *e;
	int others = 0;

	buf[0] = '\0';
	if (!host || host >= h->n)
		return buf;
	e = &h->v[host];
	for (size_t i = 1; i < h->n && !others; i++)
		others = i != host && !strcmp(h->v[i].name, e->name);
	if (others && e->boot)
		snprintf(buf, TF_HOST_LABEL_MAX, "%s (boot %.8s)", e->name,
			 e->boot);
	else if (others)
		snprintf(buf, TF_HOST_LABEL_MAX, "%s (no boot id)", e->name);
	else
		snprintf(buf, TF_HOST_LABEL_MAX, "%s", e->name);
	return buf;
}

int tf_host_is(const struct tf_hosts *h, unsigned int host, const char *name)
{
	return host && host < h->n && !strcmp(h->v[host].name, name);
}

/* JSON ---------------------------------------------------------------- */

enum jtype { J_NONE, J_NULL, J_BOOL, J_NUM, J_STR, J_OBJ, J_ARR };

/* A value as found: its type and its bytes in the line, quotes and all. */
struct jval {
	enum jtype type;
	const char *s, *e;
};

struct jscan {
	const char *s, *e;
	const char *err;	/* what is wrong, for the warning */
};

static void ws(struct jscan *j)
{
	while (j->s < j->e && (*j->s == ' ' || *j->s == '\t' ||
			       *j->s == '\r' || *j->s == '\n'))
		j->s++;
}

static int fail(struct jscan *j, const char *what)
{
	if (!j->err)
		j->err = what;
	return -1;
}

static int hex4(const char *s, const char *e, unsigned int *v)
{
	*v = 0;
	if (e - s < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int d = tf_hexval((unsigned char)s[i]);

		if (d < 0)
			return -1;
		*v = *v << 4 | (unsigned int)d;
	}
	return 0;
}

/* A code point as UTF-8, in 1 to 4 bytes. */
static size_t utf8(char *b, unsigned int u)
{
	if (u < 0x80) {
		b[0] = (char)u;
		return 1;
	}
	if (u < 0x800) {
		b[0] = (char)(0xc0 | u >> 6);
		b[1] = (char)(0x80 | (u & 0x3f));
		return 2;
	}
	if (u < 0x10000) {
		b[0] = (char)(0xe0 | u >> 12);
		b[1] = (char)(0x80 | (u >> 6 & 0x3f));
		b[2] = (char)(0x80 | (u & 0x3f));
		return 3;
	}
	b[0] = (char)(0xf0 | u >> 18);
	b[1] = (char)(0x80 | (u >> 12 & 0x3f));
	b[2] = (char)(0x80 | (u >> 6 & 0x3f));
	b[3] = (char)(0x80 | (u & 0x3f));
	return 4;
}

/* \uXXXX at s (after the 'u'), a surrogate pair too; its end, or NULL. */
static const char *unicode(const char *s, const char *e, unsigned int *u)
{
	unsigned int lo;

	if (hex4(s, e, u))
		return NULL;
	s += 4;
	if (*u >= 0xdc00 && *u < 0xe000)
		return NULL;
	if (*u < 0xd800 || *u >= 0xdc00)
		return s;
	if (e - s < 6 || s[0] != '\\' || s[1] != 'u' || hex4(s + 2, e, &lo) ||
	    lo < 0xdc00 || lo >= 0xe000)
		return NULL;
	*u = 0x10000 + ((*u - 0xd800) << 10) + (lo - 0xdc00);
	return s + 6;
}

/*
 * A string's contents, decoded (UTF-8 out), into out (NULL: only
 * checked).  s points at the opening quote.  Returns the length, or -1.
 * bytes: \u0000..\u00ff are bytes, as --json writes a comm's (any
 * byte but printable ASCII); nothing above.
 */
static long str_decode_as(const char *s, const char *e, char *out,
			  size_t cap, int bytes)
{
	size_t o = 0;

	for (s++; s < e; s++) {
		unsigned char c = (unsigned char)*s;
		unsigned int u;
		char tmp[4];
		size_t k = 0;

		if (c == '"')
			return (long)o;
		if (c < 0x20)
			return -1;
		if (c != '\\') {
			tmp[k++] = (char)c;
		} else {
			if (++s >= e)
				return -1;
			switch (*s) {
			case '"': case '\\': case '/':
				tmp[k++] = *s;
				break;
			case 'b': tmp[k++] = '\b'; break;
			case 'f': tmp[k++] = '\f'; break;
			case 'n': tmp[k++] = '\n'; break;
			case 'r': tmp[k++] = '\r'; break;
			case 't': tmp[k++] = '\t'; break;
			case 'u':
				s = unicode(s + 1, e, &u);
				if (!s || (bytes && u > 0xff))
					return -1;
				s--;	/* the loop steps past the last digit */
				if (bytes)
					tmp[k++] = (char)u;
				else
					k = utf8(tmp, u);
				break;
			default:
				return -1;
			}
		}
		if (out) {
			if (o + k > cap)
				return -1;
			memcpy(out + o, tmp, k);
		}
		o += k;
	}
	return -1;
}

static long str_decode(const char *s, const char *e, char *out, size_t cap)
{
	return str_decode_as(s, e, out, cap, 0);
}

static int scan_value(struct jscan *j, struct jval *v, int depth);

static int scan_string(struct jscan *j, struct jval *v)
{
	const char *s = j->s;

	/* find the closing quote, then check the escapes in between */
	for (j->s++; j->s < j->e && *j->s != '"'; j->s++)
		if (*j->s == '\\' && ++j->s >= j->e)
			break;
	if (j->s >= j->e)
		return fail(j, "a string without its closing quote");
	j->s++;
	if (str_decode(s, j->s, NULL, 0) < 0)
		return fail(j, "a string with a bad escape or a control "
			    "character");
	v->type = J_STR;
	v->s = s;
	v->e = j->s;
	return 0;
}

static int scan_number(struct jscan *j, struct jval *v)
{
	const char *s = j->s;

	if (j->s < j->e && *j->s == '-')
		j->s++;
	if (j->s >= j->e || *j->s < '0' || *j->s > '9')
		return fail(j, "not a JSON value");
	while (j->s < j->e && ((*j->s >= '0' && *j->s <= '9') ||
			       *j->s == '.' || *j->s == 'e' || *j->s == 'E' ||
			       *j->s == '+' || *j->s == '-'))
		j->s++;
	v->type = J_NUM;
	v->s = s;
	v->e = j->s;
	return 0;
}

static int word(struct jscan *j, const char *w, enum jtype t, struct jval *v)
{
	size_t n = strlen(w);

	if ((size_t)(j->e - j->s) < n || memcmp(j->s, w, n))
		return fail(j, "not a JSON value");
	v->type = t;
	v->s = j->s;
	v->e = j->s += n;
	return 0;
}

/* An object or an array, members checked and skipped. */
static int scan_nest(struct jscan *j, struct jval *v, int depth)
{
	char close = *j->s == '{' ? '}' : ']';
	int obj = close == '}';
	struct jval k, x;

	if (depth >= DEPTH_MAX)
		return fail(j, "nested too deep");
	v->type = obj ? J_OBJ : J_ARR;
	v->s = j->s++;
	ws(j);
	if (j->s < j->e && *j->s == close) {
		v->e = ++j->s;
		return 0;
	}
	for (;;) {
		ws(j);
		if (obj) {
			if (j->s >= j->e || *j->s != '"' || scan_string(j, &k))
				return fail(j, "an object key that is not a "
					    "string");
			ws(j);
			if (j->s >= j->e || *j->s++ != ':')
				return fail(j, "no ':' after a key");
			ws(j);
		}
		if (scan_value(j, &x, depth + 1))
			return -1;
		ws(j);
		if (j->s < j->e && *j->s == ',') {
			j->s++;
			continue;
		}
		if (j->s < j->e && *j->s == close) {
			v->e = ++j->s;
			return 0;
		}
		return fail(j, obj ? "no ',' or '}' after a value" :
			    "no ',' or ']' after a value");
	}
}

static int scan_value(struct jscan *j, struct jval *v, int depth)
{
	ws(j);
	if (j->s >= j->e)
		return fail(j, "a value is missing");
	switch (*j->s) {
	case '"':
		return scan_string(j, v);
	case '{':
	case '[':
		return scan_nest(j, v, depth);
	case 't':
		return word(j, "true", J_BOOL, v);
	case 'f':
		return word(j, "false", J_BOOL, v);
	case 'n':
		return word(j, "null", J_NULL, v);
	default:
		return scan_number(j, v);
	}
}

/*
 * The members of the object at j->s, one call of fn(key, value) each
 * (key decoded, cut at 63 bytes); the whole line must be the object.
 */
static int scan_object(struct jscan *j, void *arg,
		       void (*fn)(void *arg, const char *key, size_t klen,
				  const struct jval *v))
{
	struct jval k, v;

	ws(j);
	if (j->s >= j->e || *j->s != '{')
		return fail(j, "not a JSON object");
	j->s++;
	ws(j);
	if (j->s < j->e && *j->s == '}') {
		j->s++;
	} else {
		for (;;) {
			char key[64];
			long kl;

			ws(j);
			if (j->s >= j->e || *j->s != '"' || scan_string(j, &k))
				return fail(j, "an object key that is not a "
					    "string");
			kl = str_decode(k.s, k.e, NULL, 0);
			if (kl >= (long)sizeof(key))
				kl = sizeof(key) - 1;
			str_decode(k.s, k.s + 1 + kl, key, sizeof(key));
			ws(j);
			if (j->s >= j->e || *j->s++ != ':')
				return fail(j, "no ':' after a key");
			if (scan_value(j, &v, 1))
				return -1;
			fn(arg, key, (size_t)kl, &v);
			ws(j);
			if (j->s < j->e && *j->s == ',') {
				j->s++;
				continue;
			}
			if (j->s < j->e && *j->s == '}') {
				j->s++;
				break;
			}
			return fail(j, "no ',' or '}' after a value");
		}
	}
	ws(j);
	if (j->s != j->e)
		return fail(j, "more after the object");
	return 0;
}

/* Records -------------------------------------------------------------- */

struct jrec {
	struct jval key[TF_NKEYS];
	struct jval host, boot;
};

static int is_key(const char *key, size_t klen, const char *name)
{
	return strlen(name) == klen && !memcmp(key, name, klen);
}

static void rec_member(void *arg, const char *key, size_t klen,
		       const struct jval *v)
{
	struct jrec *r = arg;

	for (int k = 0; k < TF_NKEYS; k++) {
		if (is_key(key, klen, json_keys[k])) {
			r->key[k] = *v;
			return;
		}
	}
	if (is_key(key, klen, "host"))
		r->host = *v;
	else if (is_key(key, klen, "boot"))
		r->boot = *v;
	/* a key of a newer version: skipped, as in the text format */
}

struct tbuf {
	char *p, *end;
	int over;
};

static void put(struct tbuf *b, const char *s, size_t n)
{
	if ((size_t)(b->end - b->p) < n) {
		b->over = 1;
		return;
	}
	memcpy(b->p, s, n);
	b->p += n;
}

static void puts_(struct tbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* An integer, as the text format has it: digits only. */
static int put_int(struct tbuf *b, const struct jval *v)
{
	if (v->e - v->s > 20)
		return -1;
	for (const char *c = v->s; c < v->e; c++)
		if (*c < '0' || *c > '9')
			return -1;
	put(b, v->s, (size_t)(v->e - v->s));
	return 0;
}

/*
 * A string value as a text-format word: the comm with the text's \xNN
 * for what it may not hold as is; any other value printable, no blank,
 * no '=' (it is a name, an address, a flag set).
 */
static int put_word(struct tbuf *b, int k, const struct jval *v)
{
	static const char hex[] = "0123456789abcdef";
	char s[VALUE_MAX];
	long n = str_decode_as(v->s, v->e, s, sizeof(s), k == TF_K_COMM);

	if (n < 0)
		return -1;
	for (long i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		int plain = c > ' ' && c < 0x7f && c != '=';

		if (k == TF_K_COMM && (!plain || c == '\\')) {
			char x[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };

			put(b, x, 4);
		} else if (plain) {
			put(b, (char *)&c, 1);
		} else {
			return -1;
		}
	}
	return 0;
}

struct jopts {
	struct jval mss, ws, sack, ts;
};

static void opts_member(void *arg, const char *key, size_t klen,
			const struct jval *v)
{
	struct jopts *o = arg;

	if (is_key(key, klen, "mss"))
		o->mss = *v;
	else if (is_key(key, klen, "ws"))
		o->ws = *v;
	else if (is_key(key, klen, "sack"))
		o->sack = *v;
	else if (is_key(key, klen, "ts"))
		o->ts = *v;
}

/*
 * {"mss":1460,"ws":7,"sack":true,"ts":4242} -> mss:1460,ws:7,sack,ts:4242,
 * the text's order; a SYN with none of them -> none.
 */
static int put_opts(struct tbuf *b, const struct jval *v)
{
	struct jscan j = { v->s, v->e, NULL };
	struct jopts o;
	const char *sep = "";
	const struct jval *num[3];
	static const char *const names[] = { "mss", "ws", "ts" };
	int sack;

	memset(&o, 0, sizeof(o));
	if (scan_object(&j, &o, opts_member))
		return -1;
	if (o.sack.type != J_NONE && o.sack.type != J_NULL &&
	    o.sack.type != J_BOOL)
		return -1;
	sack = o.sack.type == J_BOOL && *o.sack.s == 't';
	num[0] = &o.mss;
	num[1] = &o.ws;
	num[2] = &o.ts;
	for (int i = 0; i < 3; i++) {
		if (i == 2 && sack) {
			puts_(b, sep);
			puts_(b, "sack");
			sep = ",";
		}
		if (num[i]->type == J_NONE || num[i]->type == J_NULL)
			continue;
		if (num[i]->type != J_NUM)
			return -1;
		puts_(b, sep);
		puts_(b, names[i]);
		puts_(b, ":");
		if (put_int(b, num[i]))
			return -1;
		sep = ",";
	}
	if (!*sep)
		puts_(b, "none");
	return 0;
}

/* The record as a line of the text format, in buf; its length or -1. */
static long rec_text(struct tf_parser *p, const struct jrec *r, char *buf,
		     size_t size)
{
	struct tbuf b = { buf, buf + size, 0 };

	for (int k = 0; k < TF_NKEYS; k++) {
		const struct jval *v = &r->key[k];
		int bad = 0;

		if (v->type == J_NONE) {
			if (k == TF_K_OPTS)
				continue;	/* before 1.2 */
			tf_parser_warn(p, "missing key '%s'", json_keys[k]);
			return -1;
		}
		puts_(&b, text_keys[k]);
		puts_(&b, "=");
		switch (v->type) {
		case J_NULL:
			puts_(&b, "-");
			break;
		case J_NUM:
			bad = put_int(&b, v);
			break;
		case J_STR:
			bad = put_word(&b, k, v);
			break;
		case J_OBJ:
			bad = k != TF_K_OPTS || put_opts(&b, v);
			break;
		default:
			bad = 1;
		}
		if (bad) {
			char q[48];
			size_t n = (size_t)(v->e - v->s);

			if (n > 40)
				n = 40;
			memcpy(q, v->s, n);
			q[n] = '\0';
			for (size_t i = 0; i < n; i++)
				if ((unsigned char)q[i] < ' ' ||
				    (unsigned char)q[i] > '~')
					q[i] = '?';
			tf_parser_warn(p, "bad value for %s: %s%s",
				       json_keys[k], q,
				       (size_t)(v->e - v->s) > 40 ? "..." : "");
			return -1;
		}
		puts_(&b, " ");
	}
	if (b.over) {
		tf_parser_warn(p, "a record longer than %zu bytes", size);
		return -1;
	}
	return (long)(b.p - buf);
}

/* A host name or boot id: printable ASCII, no blank. */
static long name_of(const struct jval *v, char *buf, size_t size)
{
	long n;

	if (v->type != J_STR)
		return -1;
	n = str_decode(v->s, v->e, buf, size);
	if (n <= 0)
		return -1;
	for (long i = 0; i < n; i++)
		if ((unsigned char)buf[i] <= ' ' ||
		    (unsigned char)buf[i] >= 0x7f)
			return -1;
	return n;
}

/*
 * The host of a record: its own keys, else the entry's (ehost, eboot
 * set by the caller).  Returns the index, 0 for none, -1 on a warning.
 */
static int host_of(struct tf_parser *p, const struct jval *host,
		   const struct jval *boot)
{
	char name[TF_HOST_NAME_MAX + 1], id[65];
	long nl, bl = 0;
	int h;

	if (host->type == J_NONE || host->type == J_NULL)
		return 0;
	nl = name_of(host, name, sizeof(name) - 1);
	if (nl < 0) {
		tf_parser_warn(p, "bad host name (printable ASCII, at most "
			       "%d bytes)", TF_HOST_NAME_MAX);
		return -1;
	}
	if (boot->type != J_NONE && boot->type != J_NULL) {
		bl = name_of(boot, id, sizeof(id) - 1);
		if (bl < 0) {
			tf_parser_warn(p, "bad boot id");
			return -1;
		}
	}
	h = tf_hosts_find(&p->hosts, name, (size_t)nl, bl ? id : NULL,
			  (size_t)bl);
	if (h < 0) {
		tf_parser_warn(p, "more than %d hosts, or no memory",
			       TF_HOSTS_MAX);
		return -1;
	}
	return h;
}

static enum tf_line json_record(struct tf_parser *p, const struct jrec *r,
				const struct jval *ehost,
				const struct jval *eboot, struct tf_rec *out)
{
	char text[2048];
	long n;
	int h;
	enum tf_line ret;

	p->json = 1;
	n = rec_text(p, r, text, sizeof(text));
	ret = n < 0 ? TF_LINE_SKIP : tf_parse_record(p, text, (size_t)n, out);
	p->json = 0;
	if (n < 0) {
		p->nbad++;
		return TF_LINE_SKIP;
	}
	if (ret != TF_LINE_RECORD)
		return ret;
	if (r->host.type != J_NONE && r->host.type != J_NULL)
		h = host_of(p, &r->host, &r->boot);
	else
		h = host_of(p, ehost, eboot);
	if (h < 0) {
		p->nbad++;
		return TF_LINE_SKIP;
	}
	out->host = (uint16_t)h;
	return tf_read_before(p, out) ? TF_LINE_SKIP : TF_LINE_RECORD;
}

/* Log entries ----------------------------------------------------------- */

struct jentry {
	struct jval msg, host, boot, ident;
	int n;			/* the object has an "n": a record */
	struct jrec rec;
};

static void entry_member(void *arg, const char *key, size_t klen,
			 const struct jval *v)
{
	struct jentry *e = arg;

	rec_member(&e->rec, key, klen, v);
	if (is_key(key, klen, "n"))
		e->n = 1;
	else if (is_key(key, klen, "MESSAGE") || is_key(key, klen, "message"))
		e->msg = *v;
	/* journald's trusted field; Fluent Bit's Strip_Underscores; Vector */
	else if (is_key(key, klen, "_HOSTNAME") ||
		 is_key(key, klen, "HOSTNAME"))
		e->host = *v;
	else if (is_key(key, klen, "host") && e->host.type == J_NONE)
		e->host = *v;
	else if (is_key(key, klen, "_BOOT_ID") || is_key(key, klen, "BOOT_ID"))
		e->boot = *v;
	else if (is_key(key, klen, "SYSLOG_IDENTIFIER"))
		e->ident = *v;
}

/* journalctl writes a field that is not text as an array of its bytes. */
static long bytes_of(const struct jval *v, char *buf, size_t size)
{
	const char *s = v->s + 1;
	size_t n = 0;

	while (s < v->e) {
		unsigned int x = 0;
		int digits = 0;

		while (s < v->e && (*s == ' ' || *s == ','))
			s++;
		if (*s == ']')
			return (long)n;
		while (s < v->e && *s >= '0' && *s <= '9' && digits < 4) {
			x = x * 10 + (unsigned int)(*s++ - '0');
			digits++;
		}
		if (!digits || x > 255 || n >= size)
			return -1;
		buf[n++] = (char)x;
	}
	return -1;
}

static int looks_like_record(const char *s, size_t n)
{
	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	return (n && (*s == '{' || *s == '#')) ||
	       (n >= 2 && s[0] == 'n' && s[1] == '=');
}

enum tf_line tf_parse_json(struct tf_parser *p, const char *s, size_t n,
			   struct tf_rec *out, int first)
{
	struct jscan j = { s, s + n, NULL };
	struct jentry e;
	const char *m;
	long ml;
	char ident[16];
	int h;

	memset(&e, 0, sizeof(e));
	if (scan_object(&j, &e, entry_member)) {
		if (first)
			goto not_trace;
		tf_parser_warn(p, "not a JSON record: %s (at byte %zu)", j.err,
			       (size_t)(j.s - s) + 1);
		p->nbad++;
		return TF_LINE_SKIP;
	}
	/* the first line says what the input is: a record has n and ts_ns */
	if (first && e.msg.type == J_NONE &&
	    (!e.n || e.rec.key[TF_K_TS].type == J_NONE))
		goto not_trace;
	if (e.n)
		return json_record(p, &e.rec, &e.rec.host, &e.rec.boot, out);
	if (e.msg.type == J_NONE) {
		if (first)
			goto not_trace;
		tf_parser_warn(p, "a JSON object that is neither a record "
			       "nor a log entry with a MESSAGE");
		p->nbad++;
		return TF_LINE_SKIP;
	}
	/* another program's entry in the same journal */
	if (e.ident.type == J_STR &&
	    (str_decode(e.ident.s, e.ident.e, ident, sizeof(ident)) != 7 ||
	     memcmp(ident, "tcpflow", 7))) {
		p->nother++;
		return TF_LINE_SKIP;
	}
	if (!p->jbuf && !(p->jbuf = malloc(TF_MAX_LINE + 1)))
		return TF_LINE_SKIP;
	if (e.msg.type == J_STR)
		ml = str_decode(e.msg.s, e.msg.e, p->jbuf, TF_MAX_LINE);
	else if (e.msg.type == J_ARR)
		ml = bytes_of(&e.msg, p->jbuf, TF_MAX_LINE);
	else
		ml = -1;
	m = p->jbuf;
	if (ml < 0 || !looks_like_record(m, (size_t)ml)) {
		p->nother++;	/* a message of ours that is no record */
		return TF_LINE_SKIP;
	}
	while (*m == ' ' || *m == '\t') {
		m++;
		ml--;
	}
	if (*m == '#')
		return tf_parse_comment(p, m, (size_t)ml);
	if (*m == '{') {
		struct jscan k = { m, m + ml, NULL };
		struct jentry r;

		memset(&r, 0, sizeof(r));
		if (scan_object(&k, &r.rec, rec_member)) {
			tf_parser_warn(p, "the MESSAGE is not a JSON record: "
				       "%s (at byte %zu)", k.err,
				       (size_t)(k.s - m) + 1);
			p->nbad++;
			return TF_LINE_SKIP;
		}
		return json_record(p, &r.rec, &e.host, &e.boot, out);
	}
	/* a line of the text format (tcpflow-bpf -f into the journal) */
	if (tf_parse_record(p, m, (size_t)ml, out) != TF_LINE_RECORD)
		return TF_LINE_SKIP;
	h = host_of(p, &e.host, &e.boot);
	if (h < 0) {
		p->nbad++;
		return TF_LINE_SKIP;
	}
	out->host = (uint16_t)h;
	return tf_read_before(p, out) ? TF_LINE_SKIP : TF_LINE_RECORD;
not_trace:
	p->not_trace = p->line;
	p->fatal = 1;
	return TF_LINE_FATAL;
}
