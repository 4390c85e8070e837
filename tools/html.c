// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * html.c - --html FILE: one self-contained page for the class, to step
 * through a trace event by event.
 *
 * One section per conversation: svg.c's picture of its ladder (the same
 * drawing as --svg, each row wrapped in <g class="ev"> with what the
 * script needs as data- attributes), and beside it the RFC 9293 state
 * diagram with the transitions each end took in its colour.  The script
 * (inline, like the styles: the page fetches nothing) hides the rows
 * not reached yet: Right or Space shows the next one and puts its note
 * in the box above the diagram, where the current states and the
 * transition are marked; Left goes back, Home and End jump to the ends,
 * N and P pick the next or previous conversation.  Without the script,
 * and when printed, every row shows: the whole ladder, as a handout.
 *
 * The notes are always on (--explain).  No dates, no counters but the
 * conversations' numbers: the same trace gives the same bytes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "ladder.h"

/* The states of RFC 9293's figure 5, where the diagram draws them. */
enum node {
	N_CLOSED, N_LISTEN, N_SYN_RCVD, N_SYN_SENT, N_ESTAB, N_FW1,
	N_CLOSE_WAIT, N_FW2, N_CLOSING, N_LAST_ACK, N_TIME_WAIT, N_NODES
};

#define BOX_W 140
#define BOX_H 36
#define FSM_X0 0
#define FSM_Y0 (-12)
#define FSM_W 580
#define FSM_H 652

static const struct {
	const char *name;
	int x, y;		/* centre */
} nodes[N_NODES] = {
	[N_CLOSED] = { "CLOSED", 280, 40 },
	[N_LISTEN] = { "LISTEN", 280, 130 },
	[N_SYN_RCVD] = { "SYN_RECEIVED", 100, 220 },
	[N_SYN_SENT] = { "SYN_SENT", 460, 220 },
	[N_ESTAB] = { "ESTABLISHED", 280, 310 },
	[N_FW1] = { "FIN_WAIT_1", 100, 400 },
	[N_CLOSE_WAIT] = { "CLOSE_WAIT", 460, 400 },
	[N_FW2] = { "FIN_WAIT_2", 100, 500 },
	[N_CLOSING] = { "CLOSING", 280, 500 },
	[N_LAST_ACK] = { "LAST_ACK", 460, 500 },
	[N_TIME_WAIT] = { "TIME_WAIT", 280, 590 },
};

#define MAX_PT 6

struct edge {
	uint8_t from, to;
	const char *label;	/* the figure's event / action */
	int npt;
	int pt[MAX_PT][2];	/* a polyline, box edge to box edge */
};

/* Figure 5 of RFC 9293, its two CLOSED boxes made one. */
static const struct edge rfc_edges[] = {
	{ N_CLOSED, N_LISTEN, "passive OPEN", 2, { { 270, 58 }, { 270, 112 } } },
	{ N_LISTEN, N_CLOSED, "CLOSE", 2, { { 290, 112 }, { 290, 58 } } },
	{ N_CLOSED, N_SYN_SENT, "active OPEN, snd SYN", 3,
	  { { 350, 46 }, { 470, 46 }, { 470, 202 } } },
	{ N_LISTEN, N_SYN_RCVD, "rcv SYN, snd SYN,ACK", 3,
	  { { 210, 124 }, { 90, 124 }, { 90, 202 } } },
	{ N_LISTEN, N_SYN_SENT, "SEND, snd SYN", 3,
	  { { 350, 130 }, { 450, 130 }, { 450, 202 } } },
	{ N_SYN_SENT, N_SYN_RCVD, "rcv SYN, snd SYN,ACK (simultaneous open)",
	  2, { { 390, 220 }, { 170, 220 } } },
	{ N_SYN_SENT, N_CLOSED, "CLOSE", 3,
	  { { 510, 202 }, { 510, 34 }, { 350, 34 } } },
	{ N_SYN_RCVD, N_LISTEN, "rcv RST (it came from LISTEN)", 3,
	  { { 120, 202 }, { 120, 136 }, { 210, 136 } } },
	{ N_SYN_RCVD, N_ESTAB, "rcv ACK of SYN", 2,
	  { { 140, 238 }, { 240, 292 } } },
	{ N_SYN_SENT, N_ESTAB, "rcv SYN,ACK, snd ACK", 2,
	  { { 420, 238 }, { 320, 292 } } },
	{ N_SYN_RCVD, N_FW1, "CLOSE, snd FIN", 2,
	  { { 100, 238 }, { 100, 382 } } },
	{ N_ESTAB, N_FW1, "CLOSE, snd FIN", 2, { { 240, 328 }, { 140, 382 } } },
	{ N_ESTAB, N_CLOSE_WAIT, "rcv FIN, snd ACK", 2,
	  { { 320, 328 }, { 420, 382 } } },
	{ N_FW1, N_FW2, "rcv ACK of FIN", 2, { { 100, 418 }, { 100, 482 } } },
	{ N_FW1, N_CLOSING, "rcv FIN, snd ACK (simultaneous close)", 2,
	  { { 140, 418 }, { 240, 482 } } },
	{ N_CLOSE_WAIT, N_LAST_ACK, "CLOSE, snd FIN", 2,
	  { { 460, 418 }, { 460, 482 } } },
	{ N_FW2, N_TIME_WAIT, "rcv FIN, snd ACK", 3,
	  { { 100, 518 }, { 100, 590 }, { 210, 590 } } },
	{ N_CLOSING, N_TIME_WAIT, "rcv ACK of FIN", 2,
	  { { 280, 518 }, { 280, 572 } } },
	{ N_TIME_WAIT, N_CLOSED, "timeout = 2MSL, delete TCB", 5,
	  { { 350, 590 }, { 550, 590 }, { 550, 8 }, { 300, 8 }, { 300, 22 } } },
	{ N_LAST_ACK, N_CLOSED, "rcv ACK of FIN, delete TCB", 5,
	  { { 530, 500 }, { 540, 500 }, { 540, 14 }, { 320, 14 },
	    { 320, 22 } } },
};

#define N_RFC (sizeof(rfc_edges) / sizeof(rfc_edges[0]))

/* A kernel state (tcp_states.h) as the figure names it, or -1. */
static int node_of(unsigned int st)
{
	switch (st) {
	case TF_ST_ESTABLISHED:
		return N_ESTAB;
	case TF_ST_SYN_SENT:
		return N_SYN_SENT;
	case TF_ST_SYN_RECV:
	case TF_ST_NEW_SYN_RECV:	/* the request sock: SYN_RECEIVED */
		return N_SYN_RCVD;
	case TF_ST_FIN_WAIT1:
		return N_FW1;
	case TF_ST_FIN_WAIT2:
		return N_FW2;
	case TF_ST_TIME_WAIT:
		return N_TIME_WAIT;
	case TF_ST_CLOSE:
		return N_CLOSED;
	case TF_ST_CLOSE_WAIT:
		return N_CLOSE_WAIT;
	case TF_ST_LAST_ACK:
		return N_LAST_ACK;
	case TF_ST_LISTEN:
		return N_LISTEN;
	case TF_ST_CLOSING:
		return N_CLOSING;
	}
	return -1;
}

/* A state row's transition, in the figure's states; 0 if none. */
static int row_move(const struct tf_trace *t, const struct tf_row *w,
		    int *from, int *to)
{
	const struct tcpflow_record *x;

	if (w->kind != TF_ROW_STATE || w->rec < 0)
		return 0;
	x = &t->rec[w->rec].r;
	*from = node_of(x->old_state);
	*to = node_of(x->new_state);
	/* NEW_SYN_RECV -> SYN_RECV, a TIME_WAIT restarted: no move */
	return *from >= 0 && *to >= 0 && *from != *to;
}

/*
 * A transition the figure does not draw (an RST, an abort, a timeout
 * to CLOSED; anything else a kernel did): a dashed line of its own.  To
 * CLOSED along the left or the right border, else straight.
 */
static void extra_edge(struct edge *e, unsigned int from, unsigned int to)
{
	int fx = nodes[from].x, fy = nodes[from].y;
	int tx = nodes[to].x, ty = nodes[to].y;

	memset(e, 0, sizeof(*e));
	e->from = (uint8_t)from;
	e->to = (uint8_t)to;
	if (to == N_CLOSED) {
		e->label = "reset, abort or timeout: RFC 9293 3.10.7, "
			   "not drawn in its figure";
		if (fx > 280) {
			static const int p[5][2] = { { 0, 0 }, { 565, 0 },
				{ 565, -4 }, { 310, -4 }, { 310, 22 } };

			e->npt = 5;
			memcpy(e->pt, p, sizeof(p));
			e->pt[0][0] = fx + BOX_W / 2;
			e->pt[0][1] = e->pt[1][1] = fy;
		} else if (fx < 280 || fy == nodes[N_ESTAB].y) {
			e->npt = 4;
			e->pt[0][0] = fx - BOX_W / 2;
			e->pt[0][1] = fy;
			e->pt[1][0] = 12;
			e->pt[1][1] = fy;
			e->pt[2][0] = 12;
			e->pt[2][1] = ty;
			e->pt[3][0] = tx - BOX_W / 2;
			e->pt[3][1] = ty;
		} else {
			/* below the middle column's box, then left */
			static const int p[5][2] = { { 0, 0 }, { 0, 0 },
				{ 12, 0 }, { 12, 40 }, { 210, 40 } };

			e->npt = 5;
			memcpy(e->pt, p, sizeof(p));
			e->pt[0][0] = e->pt[1][0] = fx - 50;
			e->pt[0][1] = fy + BOX_H / 2;
			e->pt[1][1] = e->pt[2][1] = fy + BOX_H / 2 + 27;
		}
		return;
	}
	e->label = "not drawn in RFC 9293's figure";
	e->npt = 2;
	/* centre to centre, cut where the line leaves each box */
	{
		double dx = tx - fx, dy = ty - fy;
		double ax = fabs(dx) > 0 ? (BOX_W / 2.0) / fabs(dx) : 1e9;
		double ay = fabs(dy) > 0 ? (BOX_H / 2.0) / fabs(dy) : 1e9;
		double k = ax < ay ? ax : ay;

		e->pt[0][0] = fx + (int)lround(dx * k);
		e->pt[0][1] = fy + (int)lround(dy * k);
		e->pt[1][0] = tx - (int)lround(dx * k);
		e->pt[1][1] = ty - (int)lround(dy * k);
	}
}

static void edge_out(struct obuf *ob, const struct edge *e, int took,
		     int extra)
{
	const int (*p)[2] = e->pt;
	int n = e->npt;
	double dx = p[n - 1][0] - p[n - 2][0], dy = p[n - 1][1] - p[n - 2][1];
	double len = sqrt(dx * dx + dy * dy), ux, uy;

	ob_printf(ob, "<g class=\"edge%s%s%s\" data-from=\"%s\" data-to=\"%s\""
		  " data-label=\"", extra ? " extra" : "",
		  took & 1 ? " took-c" : "", took & 2 ? " took-s" : "",
		  nodes[e->from].name, nodes[e->to].name);
	tf_xml_str(ob, e->label);
	ob_printf(ob, "\"><title>%s &#8594; %s: ", nodes[e->from].name,
		  nodes[e->to].name);
	tf_xml_str(ob, e->label);
	ob_str(ob, "</title>");
	for (int pass = 0; pass < 1 + (took == 3); pass++) {
		ob_printf(ob, "<path class=\"%s\" d=\"M%d %d", pass ? "both" :
			  "line", p[0][0], p[0][1]);
		for (int i = 1; i < n; i++)
			ob_printf(ob, "L%d %d", p[i][0], p[i][1]);
		ob_str(ob, "\"/>");
	}
	/* the head: 12 long, 10 wide, its tip on the box */
	ux = len > 0 ? dx / len : 0;
	uy = len > 0 ? dy / len : 1;
	ob_printf(ob, "<path class=\"head\" d=\"M%d %dL%.1f %.1fL%.1f %.1fz\"/>"
		  "</g>\n", p[n - 1][0], p[n - 1][1],
		  p[n - 1][0] - 12 * ux - 5 * uy, p[n - 1][1] - 12 * uy + 5 * ux,
		  p[n - 1][0] - 12 * ux + 5 * uy, p[n - 1][1] - 12 * uy - 5 * ux);
}

/* took[s][from][to]: end s moved from -> to in this conversation */
static void fsm_out(struct obuf *ob, const uint8_t took[2][N_NODES][N_NODES])
{
	uint8_t drawn[N_NODES][N_NODES];

	memset(drawn, 0, sizeof(drawn));
	ob_printf(ob, "<svg class=\"fsm\" xmlns=\"http://www.w3.org/2000/svg\" "
		  "viewBox=\"%d %d %d %d\" width=\"%d\" height=\"%d\" "
		  "role=\"img\" aria-label=\"the TCP state diagram of RFC 9293"
		  "\">\n", FSM_X0, FSM_Y0, FSM_W, FSM_H, FSM_W, FSM_H);
	for (size_t i = 0; i < N_RFC; i++) {
		const struct edge *e = &rfc_edges[i];

		edge_out(ob, e, took[0][e->from][e->to] |
			 took[1][e->from][e->to] << 1, 0);
		drawn[e->from][e->to] = 1;
	}
	for (unsigned int a = 0; a < N_NODES; a++)
		for (unsigned int b = 0; b < N_NODES; b++) {
			int k = took[0][a][b] | took[1][a][b] << 1;
			struct edge e;

			if (!k || drawn[a][b])
				continue;
			extra_edge(&e, a, b);
			edge_out(ob, &e, k, 1);
		}
	for (unsigned int i = 0; i < N_NODES; i++) {
		int x = nodes[i].x - BOX_W / 2, y = nodes[i].y - BOX_H / 2;

		ob_printf(ob, "<g class=\"node\" data-state=\"%s\">"
			  "<rect class=\"ring-s\" x=\"%d\" y=\"%d\" width=\"%d\" "
			  "height=\"%d\" rx=\"14\"/>"
			  "<rect class=\"ring-c\" x=\"%d\" y=\"%d\" width=\"%d\" "
			  "height=\"%d\" rx=\"11\"/>"
			  "<rect class=\"box\" x=\"%d\" y=\"%d\" width=\"%d\" "
			  "height=\"%d\" rx=\"8\"/>"
			  "<text x=\"%d\" y=\"%d\">%s</text></g>\n",
			  nodes[i].name, x - 12, y - 12, BOX_W + 24, BOX_H + 24,
			  x - 6, y - 6, BOX_W + 12, BOX_H + 12,
			  x, y, BOX_W, BOX_H, nodes[i].x, nodes[i].y + 6,
			  nodes[i].name);
	}
	ob_str(ob, "</svg>\n");
}

/* What the row hook needs: the states each end is in, row by row. */
struct conv_ctx {
	const struct tf_trace *t;
	const struct tf_rows *rs;
	int cur[2];		/* node, -1: not known */
};

static const char *node_name(int n)
{
	return n >= 0 ? nodes[n].name : "";
}

static void row_hook(void *arg, struct obuf *ob, size_t i, int y, int h,
		     int width, int end)
{
	struct conv_ctx *cc = arg;
	const struct tf_row *w = &cc->rs->r[i];
	int from, to;

	if (end) {
		ob_str(ob, "</g>\n");
		return;
	}
	ob_printf(ob, "<g class=\"ev\" data-i=\"%zu\" data-kind=\"%s\" "
		  "data-side=\"%s\"", i + 1,
		  w->kind == TF_ROW_ARROW ? "arrow" : "state",
		  w->side ? "s" : "c");
	if (row_move(cc->t, w, &from, &to)) {
		cc->cur[w->side] = to;
		ob_printf(ob, " data-from=\"%s\" data-to=\"%s\"",
			  node_name(from), node_name(to));
	}
	ob_printf(ob, " data-c=\"%s\" data-s=\"%s\">\n",
		  node_name(cc->cur[0]), node_name(cc->cur[1]));
	ob_printf(ob, "<rect class=\"band\" x=\"0\" y=\"%d\" width=\"%d\" "
		  "height=\"%d\" fill=\"none\"/>\n", y, width, h);
}

static void html_conv(const struct tf_trace *t, const struct tf_group *g,
		      const struct tf_rows *rs, struct obuf *ob)
{
	uint8_t took[2][N_NODES][N_NODES];
	struct conv_ctx cc = { .t = t, .rs = rs, .cur = { -1, -1 } };
	struct tf_svg_hook hk = { .row = row_hook, .arg = &cc };
	char num[24], id[24];
	int width, height, from, to;
	unsigned int seen[2] = { 0, 0 };

	memset(took, 0, sizeof(took));
	for (size_t i = 0; i < rs->n; i++) {
		const struct tf_row *w = &rs->r[i];

		if (w->kind != TF_ROW_STATE || w->rec < 0)
			continue;
		/* before its first change, an end is in that change's old
		 * state */
		if (!seen[w->side]++)
			cc.cur[w->side] =
				node_of(t->rec[w->rec].r.old_state);
		if (row_move(t, w, &from, &to))
			took[w->side][from][to] = 1;
	}
	tf_u64_str(num, g->number);
	ob_printf(ob, "<section class=\"conv\" id=\"conversation-%s\" "
		  "data-n=\"%s\" data-events=\"%zu\"", num, num, rs->n);
	for (unsigned int s = 0; s < 2; s++) {
		ob_printf(ob, " data-%s-conn=\"", s ? "server" : "client");
		if (g->conn[s] >= 0) {
			tf_u64_str(id, t->conn[g->conn[s]].id);
			ob_str(ob, id);
		}
		ob_ch(ob, '"');
	}
	ob_printf(ob, " aria-label=\"conversation %s\">\n", num);
	ob_str(ob, "<div class=\"panes\">\n<div class=\"ladder\">\n");
	tf_svg_size(g, rs, &width, &height);
	ob_printf(ob, "<svg class=\"ladder-svg\" xmlns=\"http://www.w3.org/"
		  "2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\""
		  ">\n", width, height, width, height);
	tf_svg_conv(t, g, rs, 0, ob, &hk);
	ob_str(ob, "</svg>\n</div>\n<div class=\"side\">\n");
	ob_printf(ob, "<p class=\"step\">event <span class=\"pos\">%zu</span> "
		  "of <span class=\"count\">%zu</span></p>\n", rs->n, rs->n);
	ob_str(ob, "<div class=\"teach\" aria-live=\"polite\"></div>\n");
	fsm_out(ob, (const uint8_t (*)[N_NODES][N_NODES])took);
	ob_str(ob, "<p class=\"legend\"><span class=\"sw c\"></span> client "
		"<span class=\"sw s\"></span> server: the transitions each end "
		"took; dashed: not drawn in RFC 9293's figure.  Linux's names: "
		"SYN_RECV and NEW_SYN_RECV (the request sock) are SYN_RECEIVED,"
		" FIN_WAIT1 and FIN_WAIT2 FIN_WAIT_1 and FIN_WAIT_2, CLOSE "
		"CLOSED.</p>\n</div>\n</div>\n</section>\n");
}

static const char page_css[] =
"html { background: #f4f4f4; color: #1a1a1a; }\n"
"body { margin: 0; padding: 16px 24px; font: 22px/1.4 'DejaVu Sans',"
" 'Liberation Sans', sans-serif; }\n"
"h1 { font-size: 32px; margin: 0 0 4px; }\n"
".help { margin: 0 0 20px; color: #333333; }\n"
"kbd { font: inherit; border: 1px solid #9e9e9e; border-radius: 4px;"
" padding: 0 6px; background: #ffffff; }\n"
"section.conv { margin: 0 0 40px; }\n"
".panes { display: flex; gap: 24px; align-items: flex-start; }\n"
".ladder { flex: 1 1 auto; min-width: 0; overflow-x: auto; }\n"
".ladder-svg { display: block; }\n"
".side { flex: 0 0 480px; position: sticky; top: 8px; background: #ffffff;"
" border: 1px solid #c8c8c8; padding: 12px 16px; }\n"
".step { margin: 0 0 8px; font-weight: bold; }\n"
".teach { min-height: 5.6em; margin: 0 0 12px; padding: 8px 12px;"
" background: #fff6c4; border: 1px solid #e0c96a; font-size: 22px; }\n"
".teach .what { font-weight: bold; }\n"
".teach .rfc { color: #555555; }\n"
".fsm { display: block; width: 100%; height: auto; }\n"
".fsm text { font-family: 'DejaVu Sans Mono', monospace; font-size: 18px;"
" font-weight: bold; text-anchor: middle; fill: #1a1a1a; }\n"
".fsm .box { fill: #ffffff; stroke: #616161; stroke-width: 2; }\n"
".fsm .ring-c, .fsm .ring-s { fill: none; stroke-width: 5;"
" visibility: hidden; }\n"
".fsm .ring-c { stroke: #00838f; }\n"
".fsm .ring-s { stroke: #e65100; }\n"
".fsm .line, .fsm .both { fill: none; stroke: #bdbdbd; stroke-width: 2; }\n"
".fsm .head { fill: #bdbdbd; }\n"
".fsm .extra .line { stroke-dasharray: 8 6; }\n"
".fsm .took-c .line { stroke: #00838f; stroke-width: 5; }\n"
".fsm .took-c .head { fill: #00838f; }\n"
".fsm .took-s .line { stroke: #e65100; stroke-width: 5; }\n"
".fsm .took-s .head { fill: #e65100; }\n"
".fsm .took-c.took-s .both { stroke: #e65100; stroke-width: 5;"
" stroke-dasharray: 12 12; }\n"
".legend { font-size: 17px; color: #333333; margin: 8px 0 0; }\n"
".sw { display: inline-block; width: 28px; height: 8px;"
" vertical-align: middle; }\n"
".sw.c { background: #00838f; }\n"
".sw.s { background: #e65100; }\n"
"@media screen {\n"
"  .stepping g.ev.later { visibility: hidden; }\n"
"  .stepping g.ev.now .band { fill: #fff0a0; }\n"
"  .stepping section.conv.active .side { border: 3px solid #f9a825; }\n"
"  .fsm .node.at-c .ring-c, .fsm .node.at-s .ring-s"
" { visibility: visible; }\n"
"  .fsm .edge.now .line { stroke-width: 9; }\n"
"  .fsm .edge.now-c .line { stroke: #00838f; }\n"
"  .fsm .edge.now-s .line { stroke: #e65100; }\n"
"  .fsm .edge.now .head { fill: #1a1a1a; }\n"
"}\n"
"@media print {\n"
"  html, body { background: #ffffff; }\n"
"  body { padding: 0; font-size: 14pt; }\n"
"  .help, .step, .teach { display: none; }\n"
"  .panes { display: block; }\n"
"  .ladder { overflow: visible; }\n"
"  .ladder-svg { max-width: 100%; height: auto; }\n"
"  .side { position: static; border: 0; padding: 0; margin-top: 12px;"
" break-inside: avoid; }\n"
"  .fsm { max-width: 12cm; }\n"
"  section.conv + section.conv { break-before: page; }\n"
"}\n";

/*
 * Steps through the rows of the active conversation.  Classes only: the
 * styles decide what shows, so print (no "stepping" there) shows all.
 */
static const char page_js[] =
"(function () {\n"
"  'use strict';\n"
"  var convs = Array.prototype.slice.call(\n"
"    document.querySelectorAll('section.conv'));\n"
"  var active = 0;\n"
"  function text(g, sel) {\n"
"    var out = [];\n"
"    g.querySelectorAll(sel).forEach(function (t) {\n"
"      out.push(t.textContent);\n"
"    });\n"
"    return out;\n"
"  }\n"
"  function join(lines) {\n"
"    var s = '';\n"
"    lines.forEach(function (l) {\n"
"      s += (s === '' || /-$/.test(s) ? '' : ' ') + l.trim();\n"
"    });\n"
"    return s;\n"
"  }\n"
"  function para(box, cls, s) {\n"
"    var p = document.createElement('p');\n"
"    p.className = cls;\n"
"    p.textContent = s;\n"
"    p.style.margin = '0 0 6px';\n"
"    box.appendChild(p);\n"
"  }\n"
"  function teach(sec, e) {\n"
"    var box = sec.querySelector('.teach'), who, what, edge;\n"
"    box.textContent = '';\n"
"    if (!e) {\n"
"      para(box, 'what', 'Right arrow or Space: the first event');\n"
"      return;\n"
"    }\n"
"    who = e.dataset.side === 's' ? 'server' : 'client';\n"
"    what = text(e, 'text.time').join('') + ' ms  ';\n"
"    if (e.dataset.kind === 'arrow')\n"
"      what += who + (who === 'client' ? ' \\u2192 server: ' :\n"
"                     ' \\u2192 client: ') + text(e, '.label').join('');\n"
"    else\n"
"      what += who + ': ' + (e.dataset.from ? e.dataset.from +\n"
"        ' \\u2192 ' + e.dataset.to : text(e, 'text.state').join(''));\n"
"    para(box, 'what', what);\n"
"    if (e.dataset.from) {\n"
"      edge = edgeOf(sec, e);\n"
"      if (edge)\n"
"        para(box, 'rfc', 'RFC 9293: ' + edge.dataset.label);\n"
"    }\n"
"    if (text(e, 'text.tag').length)\n"
"      para(box, 'tag', text(e, 'text.tag').join(' '));\n"
"    if (text(e, 'text.note').length)\n"
"      para(box, 'note', join(text(e, 'text.note')));\n"
"  }\n"
"  function edgeOf(sec, e) {\n"
"    var all = sec.querySelectorAll('.fsm .edge'), i;\n"
"    for (i = 0; i < all.length; i++)\n"
"      if (all[i].dataset.from === e.dataset.from &&\n"
"          all[i].dataset.to === e.dataset.to)\n"
"        return all[i];\n"
"    return null;\n"
"  }\n"
"  function show(sec, pos, scroll) {\n"
"    var evs = sec.evs, e, edge;\n"
"    pos = Math.max(0, Math.min(pos, evs.length));\n"
"    sec.pos = pos;\n"
"    evs.forEach(function (g, i) {\n"
"      g.classList.toggle('later', i >= pos);\n"
"      g.classList.toggle('now', i === pos - 1);\n"
"    });\n"
"    sec.querySelector('.pos').textContent = String(pos);\n"
"    sec.querySelectorAll('.fsm .node, .fsm .edge').forEach(function (n) {\n"
"      n.classList.remove('at-c', 'at-s', 'now', 'now-c', 'now-s');\n"
"    });\n"
"    e = pos ? evs[pos - 1] : null;\n"
"    sec.querySelectorAll('.fsm .node').forEach(function (n) {\n"
"      if (e && n.dataset.state === e.dataset.c) n.classList.add('at-c');\n"
"      if (e && n.dataset.state === e.dataset.s) n.classList.add('at-s');\n"
"    });\n"
"    if (e && e.dataset.from) {\n"
"      edge = edgeOf(sec, e);\n"
"      if (edge) edge.classList.add('now', 'now-' + e.dataset.side);\n"
"    }\n"
"    teach(sec, e);\n"
"    if (e && scroll && e.scrollIntoView)\n"
"      e.scrollIntoView({ block: 'nearest', inline: 'nearest' });\n"
"  }\n"
"  function activate(k) {\n"
"    if (k < 0 || k >= convs.length) return;\n"
"    convs[active].classList.remove('active');\n"
"    active = k;\n"
"    convs[active].classList.add('active');\n"
"    convs[active].scrollIntoView({ block: 'start' });\n"
"  }\n"
"  convs.forEach(function (sec, k) {\n"
"    sec.evs = Array.prototype.slice.call(sec.querySelectorAll('g.ev'));\n"
"    show(sec, 0, false);\n"
"    sec.addEventListener('click', function () {\n"
"      if (k !== active) activate(k);\n"
"    });\n"
"  });\n"
"  if (convs.length) convs[0].classList.add('active');\n"
"  document.body.classList.add('stepping');\n"
"  document.addEventListener('keydown', function (ev) {\n"
"    var sec = convs[active];\n"
"    if (!sec || ev.altKey || ev.ctrlKey || ev.metaKey) return;\n"
"    switch (ev.key) {\n"
"    case 'ArrowRight': case ' ': show(sec, sec.pos + 1, true); break;\n"
"    case 'ArrowLeft': show(sec, sec.pos - 1, true); break;\n"
"    case 'Home': show(sec, 0, true); break;\n"
"    case 'End': show(sec, sec.evs.length, true); break;\n"
"    case 'n': case 'N': activate(active + 1); break;\n"
"    case 'p': case 'P': activate(active - 1); break;\n"
"    default: return;\n"
"    }\n"
"    ev.preventDefault();\n"
"  });\n"
"})();\n";

int tf_view_html(const struct tf_trace *t, const struct tf_opts *o,
		 struct obuf *ob)
{
	struct tf_rows rs = { 0 };
	struct tf_opts on = *o;
	uint8_t *sel = tf_select_groups(t, o);
	int ret = 0, any = 0;

	if (!sel)
		return -1;
	on.explain = 1;		/* the notes are what the page is for */
	ob_str(ob, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	       "<meta charset=\"utf-8\">\n"
	       "<meta name=\"viewport\" content=\"width=device-width\">\n"
	       "<title>" TF_PROG ": TCP ladder</title>\n<style>\n");
	ob_str(ob, tf_svg_css);
	ob_str(ob, page_css);
	ob_str(ob, "</style>\n</head>\n<body>\n<header>\n<h1>TCP, step by "
	       "step</h1>\n<p class=\"help\"><kbd>&#8594;</kbd> or "
	       "<kbd>Space</kbd> the next event, <kbd>&#8592;</kbd> back, "
	       "<kbd>Home</kbd> <kbd>End</kbd> the ends; <kbd>N</kbd> "
	       "<kbd>P</kbd> (or a click) the next or previous conversation."
	       " Printed: the whole ladder.</p>\n</header>\n");
	for (size_t j = 0; j < t->ngroup; j++) {
		const struct tf_group *g = &t->group[j];

		if (!sel[j] || !g->nrec || g->kind != TF_G_CONV)
			continue;
		if (tf_ladder_rows(t, &on, g, &rs)) {
			ret = -1;
			break;
		}
		html_conv(t, g, &rs, ob);
		any = 1;
	}
	if (!ret) {
		if (!any)
			ob_str(ob, "<p>no conversation to draw</p>\n");
		ob_str(ob, "<script>\n");
		ob_str(ob, page_js);
		ob_str(ob, "</script>\n</body>\n</html>\n");
	}
	tf_rows_free(&rs);
	free(sel);
	return ret;
}

int tf_html_file(const struct tf_trace *t, const struct tf_opts *o,
		 const char *path, FILE *out, FILE *err)
{
	return tf_view_file(t, o, path, out, err, tf_view_html);
}
