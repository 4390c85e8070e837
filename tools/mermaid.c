// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * mermaid.c - --mermaid: each conversation as a Mermaid sequenceDiagram,
 * for Markdown notes and slides.
 *
 *   sequenceDiagram
 *       participant C as client 127.0.0.1:45678 (nc[500])
 *       participant S as server 127.0.0.1:9
 *       Note over C: SYN_SENT
 *       C->>S: [S] seq=0
 *       Note right of S: SYN: the client picks its initial<br/>...
 *
 * The rows are the terminal ladder's (tf_ladder_rows()).  State changes
 * are notes over their end; the teaching notes (--explain) notes right
 * of the server; the tags follow the arrow's label.  A lost segment is
 * an arrow ending in a cross (-x), one to an end not traced an open
 * arrow (-)).  Several conversations give several diagrams, each from
 * its own "sequenceDiagram" line, a blank line between them.
 */
#include <stdlib.h>
#include <string.h>
#include "ladder.h"

/*
 * Text from the trace (comm names) in Mermaid's grammar: ';' and '#'
 * end a statement or start an entity, '<' '>' '&' are HTML to it, so
 * all of them go as Mermaid's entity codes (#59; and so on); bytes
 * that are not printable ASCII as '?'.
 */
static void mm_str(struct obuf *ob, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == ';' || c == '#' || c == '<' || c == '>' || c == '&' ||
		    c == '%')
			ob_printf(ob, "#%u;", c);
		else
			ob_ch(ob, c < ' ' || c > '~' ? '?' : (char)c);
	}
}

static const char *const who[2] = { "C", "S" };

static void mm_conv(const struct tf_trace *t, const struct tf_group *g,
		    const struct tf_rows *rs, struct obuf *ob)
{
	char ep[TF_EP_MAX], info[160], num[24], hl[TF_HOST_LABEL_MAX];

	tf_u64_str(num, g->number);
	ob_str(ob, "sequenceDiagram\n");
	ob_printf(ob, "    %%%% conversation %s%s%s (%s, %s)\n", num,
		  g->host ? " on " : "",
		  g->host ? tf_host_label(&t->hosts, g->host, hl) : "",
		  g->af == 6 ? "IPv6" : "IPv4",
		  g->conn[0] >= 0 && g->conn[1] >= 0 ? "both ends traced" :
		  "one end traced");
	for (unsigned int s = 0; s < 2; s++) {
		tf_endpoint_str(ep, g->af, g->addr[s], g->port[s]);
		tf_side_info(t, g, s, 1, info, sizeof(info));
		ob_printf(ob, "    participant %s as %s ", who[s],
			  s ? "server" : "client");
		mm_str(ob, ep);
		ob_str(ob, "<br/>");
		mm_str(ob, info);
		ob_ch(ob, '\n');
	}
	for (size_t i = 0; i < rs->n; i++) {
		const struct tf_row *w = &rs->r[i];
		unsigned int s = w->side;
		int first = 1;

		if (w->kind == TF_ROW_ARROW) {
			ob_printf(ob, "    %s%s%s: ", who[s], w->lost ? "-x" :
				  w->open ? "-)" : "->>", who[!s]);
			mm_str(ob, w->text);
			if (w->tag[0]) {
				ob_ch(ob, ' ');
				mm_str(ob, w->tag);
			}
			ob_ch(ob, '\n');
		} else if (w->text[0] || w->tag[0]) {
			ob_printf(ob, "    Note over %s: ", who[s]);
			mm_str(ob, w->text);
			if (w->text[0] && w->tag[0])
				ob_ch(ob, ' ');
			mm_str(ob, w->tag);
			ob_ch(ob, '\n');
		}
		for (int k = 0; k < TF_ROW_NOTES && w->note[k]; k++)
			for (unsigned int j = 0; j < TF_NOTE_LINES; j++) {
				const char *line = tf_note_line(w->note[k], j);

				if (!line)
					break;
				ob_str(ob, first ? "    Note right of S: " :
				       "<br/>");
				mm_str(ob, line);
				first = 0;
			}
		if (!first)
			ob_ch(ob, '\n');
	}
}

int tf_view_mermaid(const struct tf_trace *t, const struct tf_opts *o,
		    struct obuf *ob)
{
	struct tf_rows rs = { 0 };
	uint8_t *sel = tf_select_groups(t, o);
	int first = 1, ret = 0;

	if (!sel)
		return -1;
	/* listeners and resets for nobody: the terminal view lists them */
	for (size_t j = 0; j < t->ngroup; j++) {
		const struct tf_group *g = &t->group[j];

		if (!sel[j] || !g->nrec || g->kind != TF_G_CONV)
			continue;
		if (tf_ladder_rows(t, o, g, &rs)) {
			ret = -1;
			break;
		}
		if (!first)
			ob_ch(ob, '\n');
		first = 0;
		mm_conv(t, g, &rs, ob);
	}
	tf_rows_free(&rs);
	free(sel);
	return ret;
}
