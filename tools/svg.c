// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * svg.c - --svg FILE: the ladder as one standalone SVG, for slides and
 * handouts.
 *
 * The rows are the terminal ladder's (tf_ladder_rows()): the same arrow
 * labels, tags and teaching notes.  One section per conversation,
 * stacked: a title, the two ends as lifelines with their state changes
 * beside them, one arrow per segment, the time in ms on the left, the
 * tags and notes on the right.  Light background, large monospace type,
 * so column widths follow from the number of characters, as on the
 * terminal.  No dates and no counters but the conversation's number:
 * the same trace gives the same bytes, so tests compare golden files.
 */
#include <stdlib.h>
#include <string.h>
#include "ladder.h"

#define FONT 20			/* labels, states, notes: px */
#define CHAR_W 12.5		/* DejaVu Sans Mono is 0.6 em wide, and some */
#define LINE_H 26		/* one line of a note */
#define PAD 24
#define ARROW_H 52		/* a row with an arrow: label above the line */
#define STATE_H 36
#define HEAD_H 172		/* title, the ends, the lifeline heads */

/* XML text: the five specials as entities, anything not printable ASCII
 * (XML 1.0 forbids most control characters outright) as '?'. */
void tf_xml_str(struct obuf *ob, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '&':
			ob_str(ob, "&amp;");
			break;
		case '<':
			ob_str(ob, "&lt;");
			break;
		case '>':
			ob_str(ob, "&gt;");
			break;
		case '"':
			ob_str(ob, "&quot;");
			break;
		case '\'':
			ob_str(ob, "&apos;");
			break;
		default:
			ob_ch(ob, c < ' ' || c > '~' ? '?' : (char)c);
		}
	}
}

/*
 * An arrow's class and colour.  The colour is also written on the
 * elements themselves: a reader that ignores <style> (some office
 * suites' SVG import) still draws SYN green and RST red.
 */
static const char *arrow_color(unsigned int c, const char **rgb)
{
	switch (c) {
	case TF_C_SYN:
		*rgb = "#1b7f3b";
		return "syn";
	case TF_C_FIN:
		*rgb = "#1f4fbf";
		return "fin";
	case TF_C_RST:
		*rgb = "#c62828";
		return "rst";
	case TF_C_DATA:
		*rgb = "#6a1b9a";
		return "data";
	default:
		*rgb = "#333333";
		return "ack";
	}
}

/* Lines of the comment column: the tag, then each note's lines. */
static size_t comment_lines(const struct tf_row *w, const char **cl,
			    size_t max)
{
	size_t n = 0;

	if (w->tag[0] && n < max)
		cl[n++] = w->tag;
	for (int k = 0; k < TF_ROW_NOTES && w->note[k]; k++)
		for (unsigned int j = 0; j < TF_NOTE_LINES; j++) {
			const char *line = tf_note_line(w->note[k], j);

			if (!line || n >= max)
				break;
			cl[n++] = line;
		}
	return n;
}

#define MAX_CL (1 + TF_ROW_NOTES * TF_NOTE_LINES)

static int row_height(const struct tf_row *w)
{
	const char *cl[MAX_CL];
	int h = w->kind == TF_ROW_ARROW ? ARROW_H : STATE_H;
	int ch = (int)comment_lines(w, cl, MAX_CL) * LINE_H + 12;

	return ch > h ? ch : h;
}

/* Where the columns go, from the widest text of each. */
struct layout {
	int tx;			/* time: right edge */
	int cx, sx;		/* client and server rails */
	int nx;			/* comment column: left edge */
	int width, height;
};

static int text_w(size_t chars)
{
	return (int)(chars * CHAR_W + 0.5);
}

static void layout(const struct tf_group *g, const struct tf_rows *rs,
		   struct layout *lo)
{
	char head[2][TF_EP_MAX];
	size_t lw = 8, rw = 8, aw = 30, nw = 0;
	const char *cl[MAX_CL];

	for (size_t i = 0; i < rs->n; i++) {
		const struct tf_row *w = &rs->r[i];
		size_t len = strlen(w->text);
		size_t nc = comment_lines(w, cl, MAX_CL);

		if (w->kind == TF_ROW_ARROW)
			aw = len + 6 > aw ? len + 6 : aw;
		else if (w->side)
			rw = len > rw ? len : rw;
		else
			lw = len > lw ? len : lw;
		for (size_t k = 0; k < nc; k++)
			nw = strlen(cl[k]) > nw ? strlen(cl[k]) : nw;
	}
	/* the lifeline heads are centred on the rails */
	for (unsigned int s = 0; s < 2; s++) {
		size_t half = tf_endpoint_str(head[s], g->af, g->addr[s],
					      g->port[s]) / 2 + 2;

		if (!s && half > lw)
			lw = half;
		if (s && half > rw)
			rw = half;
	}
	lo->tx = PAD + text_w(9);
	lo->cx = lo->tx + PAD + text_w(lw) + 16;
	lo->sx = lo->cx + text_w(aw);
	lo->nx = lo->sx + 16 + text_w(rw) + PAD;
	lo->width = lo->nx + (nw ? text_w(nw) + 2 * PAD : 0) + PAD;
	lo->height = HEAD_H + PAD;
	for (size_t i = 0; i < rs->n; i++)
		lo->height += row_height(&rs->r[i]);
}

static void svg_arrow(struct obuf *ob, const struct layout *lo,
		      const struct tf_row *w, int y)
{
	int from = w->side ? lo->sx : lo->cx;
	int to = w->side ? lo->cx : lo->sx;
	int dir = to > from ? 1 : -1;
	const char *rgb;
	const char *cls = arrow_color(w->color, &rgb);
	int end = to;

	/* lost: the line stops short with an x; to nobody traced: no head */
	if (w->lost || w->open)
		end = to - dir * 40;
	ob_printf(ob, "<g class=\"arrow %s\" stroke=\"%s\" fill=\"%s\" "
		  "stroke-width=\"3\">", cls, rgb, rgb);
	ob_printf(ob, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>",
		  from, y, end - (w->lost || w->open ? 0 : dir * 8), y);
	if (!w->lost && !w->open)
		ob_printf(ob, "<path class=\"head\" d=\"M%d %dl%d -8v16z\"/>",
			  to, y, -dir * 16);
	if (w->lost)
		ob_printf(ob, "<path class=\"lost\" d=\"M%d %dl12 12m0 -12l-12 "
			  "12\"/>", end - 6, y - 6);
	ob_printf(ob, "<text class=\"label\" x=\"%d\" y=\"%d\" "
		  "stroke=\"none\" text-anchor=\"middle\">",
		  (lo->cx + lo->sx) / 2, y - 10);
	tf_xml_str(ob, w->text);
	ob_str(ob, "</text></g>\n");
}

void tf_svg_size(const struct tf_group *g, const struct tf_rows *rs,
		 int *width, int *height)
{
	struct layout lo;

	layout(g, rs, &lo);
	*width = lo.width;
	*height = lo.height;
}

void tf_svg_conv(const struct tf_trace *t, const struct tf_group *g,
		 const struct tf_rows *rs, int y0, struct obuf *ob,
		 const struct tf_svg_hook *hk)
{
	char ep[2][TF_EP_MAX], info[2][160], num[24];
	struct layout lo;
	int y;

	for (unsigned int s = 0; s < 2; s++) {
		tf_endpoint_str(ep[s], g->af, g->addr[s], g->port[s]);
		tf_side_info(t, g, s, 1, info[s], sizeof(info[s]));
	}
	layout(g, rs, &lo);
	tf_u64_str(num, g->number);
	ob_printf(ob, "<g id=\"conv-%s\" transform=\"translate(0 %d)\" "
		  "font-family=\"DejaVu Sans Mono, monospace\" "
		  "font-size=\"20\">\n", num, y0);
	ob_printf(ob, "<rect class=\"page\" x=\"0\" y=\"0\" width=\"%d\" "
		  "height=\"%d\" fill=\"#ffffff\"/>\n", lo.width, lo.height);
	ob_printf(ob, "<text class=\"title\" x=\"%d\" y=\"44\">conversation "
		  "%s", PAD, num);
	if (g->host) {		/* a merged stream's (docs/fleet.md) */
		char hl[TF_HOST_LABEL_MAX];

		ob_str(ob, " on ");
		tf_xml_str(ob, tf_host_label(&t->hosts, g->host, hl));
	}
	ob_str(ob, ": ");
	tf_xml_str(ob, ep[0]);
	ob_str(ob, " &gt; ");
	tf_xml_str(ob, ep[1]);
	ob_printf(ob, " (%s, %s)</text>\n", g->af == 6 ? "IPv6" : "IPv4",
		  g->conn[0] >= 0 && g->conn[1] >= 0 ? "both ends traced" :
		  "one end traced");
	for (unsigned int s = 0; s < 2; s++) {
		ob_printf(ob, "<text class=\"who\" x=\"%d\" y=\"%d\">%s ",
			  PAD, 76 + 26 * (int)s, s ? "server" : "client");
		tf_xml_str(ob, ep[s]);
		ob_str(ob, "  ");
		tf_xml_str(ob, info[s]);
		ob_str(ob, "</text>\n");
	}
	y = HEAD_H - 12;
	ob_printf(ob, "<text class=\"time\" x=\"%d\" y=\"%d\">ms</text>\n",
		  lo.tx, y);
	for (unsigned int s = 0; s < 2; s++) {
		ob_printf(ob, "<text class=\"end\" x=\"%d\" y=\"%d\">%s</text>"
			  "\n", s ? lo.sx : lo.cx, y - 22,
			  s ? "server" : "client");
		ob_printf(ob, "<text class=\"addr\" x=\"%d\" y=\"%d\">",
			  s ? lo.sx : lo.cx, y);
		tf_xml_str(ob, ep[s]);
		ob_str(ob, "</text>\n");
		ob_printf(ob, "<line class=\"rail\" x1=\"%d\" y1=\"%d\" "
			  "x2=\"%d\" y2=\"%d\"/>\n", s ? lo.sx : lo.cx,
			  HEAD_H, s ? lo.sx : lo.cx, lo.height - PAD / 2);
	}

	y = HEAD_H;
	for (size_t i = 0; i < rs->n; i++) {
		const struct tf_row *w = &rs->r[i];
		const char *cl[MAX_CL];
		size_t nc = comment_lines(w, cl, MAX_CL);
		int h = row_height(w);
		int base = y + (w->kind == TF_ROW_ARROW ? 38 : 26);
		char ms[32];

		if (hk)
			hk->row(hk->arg, ob, i, y, h, lo.width, 0);
		tf_ms_str(ms, sizeof(ms), w->ts - rs->base);
		ob_printf(ob, "<text class=\"time\" x=\"%d\" y=\"%d\">%s</text>"
			  "\n", lo.tx, base, ms);
		if (w->kind == TF_ROW_ARROW) {
			svg_arrow(ob, &lo, w, base);
		} else if (w->text[0]) {
			int x = w->side ? lo.sx : lo.cx;

			ob_printf(ob, "<circle class=\"dot\" cx=\"%d\" cy=\"%d\" "
				  "r=\"6\"/><text class=\"state %s\" x=\"%d\" "
				  "y=\"%d\">", x, base - 7, w->side ? "right" :
				  "left", x + (w->side ? 16 : -16), base);
			tf_xml_str(ob, w->text);
			ob_str(ob, "</text>\n");
		}
		if (nc) {
			size_t nw = 0;
			int ty = y + 26;

			for (size_t k = 0; k < nc; k++)
				nw = strlen(cl[k]) > nw ? strlen(cl[k]) : nw;
			/* the notes on a yellow slip, the tag above them */
			if (nc > 1 || !w->tag[0])
				ob_printf(ob, "<rect class=\"note\" x=\"%d\" "
					  "y=\"%d\" width=\"%d\" height=\"%d\""
					  "/>\n", lo.nx - 10, y + 6 +
					  (w->tag[0] ? LINE_H : 0),
					  text_w(nw) + 20, (int)(nc -
					  (w->tag[0] ? 1 : 0)) * LINE_H + 2);
			for (size_t k = 0; k < nc; k++, ty += LINE_H) {
				ob_printf(ob, "<text class=\"%s\" x=\"%d\" "
					  "y=\"%d\">", !k && w->tag[0] ?
					  "tag" : "note", lo.nx, ty);
				tf_xml_str(ob, cl[k]);
				ob_str(ob, "</text>\n");
			}
		}
		if (hk)
			hk->row(hk->arg, ob, i, y, h, lo.width, 1);
		y += h;
	}
	ob_str(ob, "</g>\n");
}

const char tf_svg_css[] =
"text { font-family: 'DejaVu Sans Mono', 'Liberation Mono', monospace;"
" font-size: 20px; fill: #1a1a1a; white-space: pre; }\n"
".page { fill: #ffffff; stroke: #c8c8c8; }\n"
".title { font-family: 'DejaVu Sans', 'Liberation Sans', sans-serif;"
" font-size: 30px; font-weight: bold; }\n"
".who { font-size: 18px; fill: #555555; }\n"
".end { font-family: 'DejaVu Sans', sans-serif; font-size: 24px;"
" font-weight: bold; text-anchor: middle; }\n"
".addr { font-size: 18px; text-anchor: middle; fill: #555555; }\n"
".time { text-anchor: end; fill: #777777; font-size: 18px; }\n"
".rail { stroke: #9e9e9e; stroke-width: 3; }\n"
".dot { fill: #b35900; }\n"
".state { fill: #b35900; font-weight: bold; }\n"
".state.left { text-anchor: end; }\n"
".label { text-anchor: middle; }\n"
".arrow text { fill: inherit; }\n"
".lost { stroke-width: 4; }\n"
".tag { fill: #8e2424; font-style: italic; }\n"
".note { fill: #fff6c4; stroke: #e0c96a; }\n"
"text.note { fill: #333333; stroke: none; font-size: 19px; }\n";

int tf_view_svg(const struct tf_trace *t, const struct tf_opts *o,
		struct obuf *ob)
{
	struct tf_rows rs = { 0 };
	uint8_t *sel = tf_select_groups(t, o);
	int y = 0, width = 640, height = 0, ret = 0;

	if (!sel)
		return -1;
	/*
	 * Twice over the conversations: their sizes first, for the root
	 * element, then the drawing.  Listeners and resets for nobody are
	 * not drawn: the terminal view lists them.
	 */
	for (int pass = 0; pass < 2 && !ret; pass++) {
		if (pass) {
			if (!height)
				height = 100;
			ob_printf(ob, "<?xml version=\"1.0\" encoding=\"UTF-8"
				  "\"?>\n<svg xmlns=\"http://www.w3.org/2000/"
				  "svg\" version=\"1.1\" width=\"%d\" "
				  "height=\"%d\" viewBox=\"0 0 %d %d\">\n",
				  width, height, width, height);
			ob_str(ob, "<title>" TF_PROG ": TCP ladder</title>\n");
			ob_str(ob, "<style>\n");
			ob_str(ob, tf_svg_css);
			ob_str(ob, "</style>\n");
			ob_printf(ob, "<rect x=\"0\" y=\"0\" width=\"%d\" "
				  "height=\"%d\" fill=\"#f4f4f4\"/>\n",
				  width, height);
		}
		for (size_t j = 0; j < t->ngroup; j++) {
			const struct tf_group *g = &t->group[j];
			struct layout lo;

			if (!sel[j] || !g->nrec || g->kind != TF_G_CONV)
				continue;
			if (tf_ladder_rows(t, o, g, &rs)) {
				ret = -1;
				break;
			}
			layout(g, &rs, &lo);
			if (pass)
				tf_svg_conv(t, g, &rs, y, ob, NULL);
			y += lo.height + PAD;
			if (lo.width > width)
				width = lo.width;
		}
		if (!pass) {
			height = y;
			y = 0;
		} else if (!y) {
			ob_printf(ob, "<text x=\"%d\" y=\"60\">no conversation "
				  "to draw</text>\n", PAD);
		}
	}
	if (!ret)
		ob_str(ob, "</svg>\n");
	tf_rows_free(&rs);
	free(sel);
	return ret;
}

/* --svg FILE, --html FILE ('-': standard output): view into path */
int tf_view_file(const struct tf_trace *t, const struct tf_opts *o,
		 const char *path, FILE *out, FILE *err,
		 int (*view)(const struct tf_trace *t,
			     const struct tf_opts *o, struct obuf *ob))
{
	int std = !strcmp(path, "-");
	FILE *f = std ? out : fopen(path, "w");
	struct obuf ob;
	int ret;

	if (!f) {
		fprintf(err, TF_PROG ": %s: %m\n", path);
		return 1;
	}
	if (ob_init(&ob, f, 0)) {
		if (!std)
			fclose(f);
		return 1;
	}
	ret = view(t, o, &ob) ? 1 : 0;
	if (ob_done(&ob) && !ret) {
		fprintf(err, TF_PROG ": %s: write error\n", path);
		ret = 1;
	}
	if (!std && fclose(f) && !ret) {
		fprintf(err, TF_PROG ": %s: write error\n", path);
		ret = 1;
	}
	return ret;
}

int tf_svg_file(const struct tf_trace *t, const struct tf_opts *o,
		const char *path, FILE *out, FILE *err)
{
	return tf_view_file(t, o, path, out, err, tf_view_svg);
}
