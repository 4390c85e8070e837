/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * ladder.h - the rows a ladder is drawn from.
 *
 * ladder.c walks a conversation once and computes its rows: one per
 * state change (next to its side's rail) or segment (an arrow), each
 * with its label, its Wireshark-like tags and, with --explain, the
 * teaching notes.  The views draw the same rows: the terminal ladder
 * (ladder.c), --svg (svg.c), --html (html.c, around svg.c's picture)
 * and --mermaid (mermaid.c), so a note is decided in one place.
 */
#ifndef TCPFLOW_LADDER_H
#define TCPFLOW_LADDER_H

#include "show.h"

enum tf_row_kind { TF_ROW_STATE, TF_ROW_ARROW };

#define TF_ROW_TEXT 72
#define TF_ROW_TAG 64
#define TF_ROW_NOTES 3
#define TF_NOTE_LINES 5		/* lines of one note, at most */

struct tf_row {
	uint64_t ts;
	uint8_t kind, side;	/* side: the state's, or the arrow's sender */
	uint8_t color;		/* enum tf_color of an arrow */
	uint8_t lost, open;	/* arrow not received; receiver not traced */
	char text[TF_ROW_TEXT];	/* state text or arrow label; may be "" */
	char tag[TF_ROW_TAG];	/* comment column */
	uint8_t note[TF_ROW_NOTES];	/* note ids, 0: none */
	int32_t rec;		/* the record it shows (t->rec), -1: none */
};

struct tf_rows {
	struct tf_row *r;
	size_t n, cap;
	int oom;		/* a row could not be added */
	uint64_t base;		/* ts of the conversation's first record */
};

/* Rows of conversation g (kind TF_G_CONV), replacing rs's; 0 or -1. */
int tf_ladder_rows(const struct tf_trace *t, const struct tf_opts *o,
		   const struct tf_group *g, struct tf_rows *rs);
void tf_rows_free(struct tf_rows *rs);

/* Line i of note id, or NULL past its last line. */
const char *tf_note_line(unsigned int id, unsigned int i);

/*
 * Who is on side s: "conn 12289  netns 4026531840  nc[500]", or what
 * stands for an end that was not traced.  The comm as tf_comm_str()
 * prints it (no control bytes) if safe, else as recorded.
 */
void tf_side_info(const struct tf_trace *t, const struct tf_group *g,
		  unsigned int s, int safe, char *buf, size_t size);

/* "12.345" ms from ns */
void tf_ms_str(char *buf, size_t size, uint64_t ns);

/* views drawing the rows */
int tf_view_svg(const struct tf_trace *t, const struct tf_opts *o,
		struct obuf *ob);
int tf_svg_file(const struct tf_trace *t, const struct tf_opts *o,
		const char *path, FILE *out, FILE *err);	/* 0 or 1 */
int tf_view_mermaid(const struct tf_trace *t, const struct tf_opts *o,
		    struct obuf *ob);
int tf_view_html(const struct tf_trace *t, const struct tf_opts *o,
		 struct obuf *ob);
int tf_html_file(const struct tf_trace *t, const struct tf_opts *o,
		 const char *path, FILE *out, FILE *err);	/* 0 or 1 */
/* view into path ('-': out); 0 or 1, a message on err */
int tf_view_file(const struct tf_trace *t, const struct tf_opts *o,
		 const char *path, FILE *out, FILE *err,
		 int (*view)(const struct tf_trace *t,
			     const struct tf_opts *o, struct obuf *ob));

/*
 * svg.c's drawing of one conversation, for html.c: the same picture,
 * with a hook around each row (its index in rs, its top, height and the
 * picture's width; end 0 before the row, 1 after it).
 */
struct tf_svg_hook {
	void (*row)(void *arg, struct obuf *ob, size_t i, int y, int h,
		    int width, int end);
	void *arg;
};
void tf_svg_size(const struct tf_group *g, const struct tf_rows *rs,
		 int *width, int *height);
void tf_svg_conv(const struct tf_trace *t, const struct tf_group *g,
		 const struct tf_rows *rs, int y0, struct obuf *ob,
		 const struct tf_svg_hook *hk);
extern const char tf_svg_css[];		/* the SVG's <style>, no tags */
/* XML (and HTML) text: the specials as entities, non-ASCII as '?' */
void tf_xml_str(struct obuf *ob, const char *s);

#endif
