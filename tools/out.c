// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * out.c - buffered output and the formatting every view needs.
 *
 * One big buffer and hand-made number formatting instead of printf per
 * field: --json and --states print a million records a second this way.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "show.h"

#define OB_SIZE (32 * 1024)

int ob_init(struct obuf *ob, FILE *f, int color)
{
	memset(ob, 0, sizeof(*ob));
	ob->f = f;
	ob->color = color;
	ob->cap = OB_SIZE;
	ob->buf = malloc(ob->cap);
	return ob->buf ? 0 : -1;
}

void ob_flush(struct obuf *ob)
{
	if (ob->len && fwrite(ob->buf, 1, ob->len, ob->f) != ob->len)
		ob->err = 1;
	ob->len = 0;
}

int ob_done(struct obuf *ob)
{
	ob_flush(ob);
	if (fflush(ob->f))
		ob->err = 1;
	free(ob->buf);
	ob->buf = NULL;
	return ob->err ? -1 : 0;
}

void ob_mem(struct obuf *ob, const char *s, size_t n)
{
	if (ob->cap - ob->len < n) {
		ob_flush(ob);
		if (n > ob->cap) {
			if (fwrite(s, 1, n, ob->f) != n)
				ob->err = 1;
			return;
		}
	}
	memcpy(ob->buf + ob->len, s, n);
	ob->len += n;
}

void ob_str(struct obuf *ob, const char *s)
{
	ob_mem(ob, s, strlen(s));
}

void ob_ch(struct obuf *ob, char c)
{
	if (ob->len == ob->cap)
		ob_flush(ob);
	ob->buf[ob->len++] = c;
}

void ob_pad(struct obuf *ob, char c, size_t n)
{
	while (n) {
		size_t k;

		if (ob->len == ob->cap)
			ob_flush(ob);
		k = ob->cap - ob->len;
		if (k > n)
			k = n;
		memset(ob->buf + ob->len, c, k);
		ob->len += k;
		n -= k;
	}
}

size_t tf_u64_str(char *buf, uint64_t v)
{
	char tmp[20];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = '\0';
	return n;
}

void ob_u64(struct obuf *ob, uint64_t v)
{
	char tmp[21];

	ob_mem(ob, tmp, tf_u64_str(tmp, v));
}

void ob_u64w(struct obuf *ob, uint64_t v, size_t width)
{
	char tmp[21];
	size_t n = tf_u64_str(tmp, v);

	if (n < width)
		ob_pad(ob, ' ', width - n);
	ob_mem(ob, tmp, n);
}

/* v / unit with a fixed number of decimals, truncated (not rounded). */
size_t tf_frac_str(char *buf, uint64_t v, uint64_t unit, unsigned int digits)
{
	uint64_t frac = v % unit, scale = unit;
	size_t n = tf_u64_str(buf, v / unit);

	if (!digits)
		return n;
	for (unsigned int i = 0; i < digits; i++)
		scale /= 10;
	if (!scale)
		scale = 1;
	frac /= scale;
	buf[n++] = '.';
	for (unsigned int i = 0; i < digits; i++) {
		buf[n + digits - 1 - i] = (char)('0' + frac % 10);
		frac /= 10;
	}
	n += digits;
	buf[n] = '\0';
	return n;
}

void ob_frac(struct obuf *ob, uint64_t v, uint64_t unit, unsigned int digits)
{
	char tmp[48];

	ob_mem(ob, tmp, tf_frac_str(tmp, v, unit, digits < 20 ? digits : 20));
}

void ob_printf(struct obuf *ob, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	ob_mem(ob, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Colours for ANSI terminals; plain text when ob->color is off. */
static const char *const colors[] = {
	[TF_C_RESET] = "\033[0m",
	[TF_C_BOLD] = "\033[1m",
	[TF_C_DIM] = "\033[2m",
	[TF_C_STATE] = "\033[1;36m",
	[TF_C_SYN] = "\033[32m",
	[TF_C_FIN] = "\033[33m",
	[TF_C_RST] = "\033[31m",
	[TF_C_DATA] = "\033[34m",
	[TF_C_TAG] = "\033[1;31m",
	[TF_C_NOTE] = "\033[35m",
	[TF_C_HEAD] = "\033[1m",
};

const char *tf_ansi(enum tf_color c)
{
	return colors[c];
}

void ob_color(struct obuf *ob, enum tf_color c)
{
	if (ob->color)
		ob_str(ob, colors[c]);
}

size_t tf_addr_str(char *buf, unsigned int af, const uint8_t *a)
{
	if (af == 6) {
		if (!inet_ntop(AF_INET6, a, buf, TF_ADDR_MAX))
			strcpy(buf, "?");
		return strlen(buf);
	}
	size_t n = 0;

	for (int i = 0; i < 4; i++) {
		unsigned int v = a[i];

		if (i)
			buf[n++] = '.';
		if (v >= 100)
			buf[n++] = (char)('0' + v / 100);
		if (v >= 10)
			buf[n++] = (char)('0' + v / 10 % 10);
		buf[n++] = (char)('0' + v % 10);
	}
	buf[n] = '\0';
	return n;
}

/* "addr:port", with brackets for IPv6 like every URL does. */
size_t tf_endpoint_str(char *buf, unsigned int af, const uint8_t *addr,
		       unsigned int port)
{
	size_t n = 0;

	if (af == 6)
		buf[n++] = '[';
	n += tf_addr_str(buf + n, af, addr);
	if (af == 6)
		buf[n++] = ']';
	buf[n++] = ':';
	n += tf_u64_str(buf + n, port);
	return n;
}

/* comm for display: the text format's own escapes, "-" when unknown. */
size_t tf_comm_str(char *buf, const char *comm)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	for (size_t i = 0; i < TCPFLOW_COMM_LEN && comm[i]; i++) {
		unsigned char c = (unsigned char)comm[i];

		if (c < '!' || c > '~' || c == '=' || c == '\\') {
			buf[n++] = '\\';
			buf[n++] = 'x';
			buf[n++] = hex[c >> 4];
			buf[n++] = hex[c & 15];
		} else {
			buf[n++] = (char)c;
		}
	}
	if (!n)
		buf[n++] = '-';
	buf[n] = '\0';
	return n;
}
