/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * show.h - what the files of tcpflow-show share.
 *
 * parse.c   text lines of /proc/tcpflow -> struct tf_rec (input, header)
 * model.c   connections by conn id, conversations (both ends joined)
 * out.c     buffered output, number and address formatting, colour
 * ladder.c  the default view: a sequence diagram per conversation; its
 *           rows (ladder.h) are what svg.c and mermaid.c draw too
 * states.c  --states: a tcpstates-like table
 * json.c    --json: JSON lines
 * jsonin.c  JSON lines in: --json's records, and log shippers' entries
 *           holding them (journalctl -o json), each from its host
 * pcap.c    --pcap: synthetic packets through libpcap
 * follow.c  -f: one line per record as it arrives
 * live.c    --live: the module or tcpflow-bpf, the ladder drawn as it grows
 * main.c    options; tfs_main() so tests and the bench can call it
 *
 * The record itself is the module's struct tcpflow_record (tcpflow_abi.h);
 * tf_rec only adds what the text carries beyond it ('-' values, the line
 * number) and what the model learns about it.
 */
#ifndef TCPFLOW_SHOW_H
#define TCPFLOW_SHOW_H

#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <sys/types.h>
#include "tcpflow_abi.h"

#define TF_PROG "tcpflow-show"
#define TF_VERSION "1.0"

/* Keys, in the order the module prints them. */
enum tf_key {
	TF_K_N, TF_K_TS, TF_K_CPU, TF_K_NETNS, TF_K_CONN, TF_K_EV, TF_K_SOCK,
	TF_K_AF, TF_K_LADDR, TF_K_LPORT, TF_K_RADDR, TF_K_RPORT, TF_K_OLD,
	TF_K_NEW, TF_K_STATE, TF_K_FLAGS, TF_K_SEQ, TF_K_ACK, TF_K_WIN,
	TF_K_LEN, TF_K_PID, TF_K_COMM, TF_K_WHO, TF_K_WHY, TF_K_DUR,
	TF_K_OPTS,	/* 1.2: absent before, read as "-" */
	TF_NKEYS
};

/* Keys a record must have: all of format 1.0's. */
#define TF_KEYS_1_0 (TF_DASH(TF_K_OPTS) - 1)

#define TF_DASH(k) (1u << (k))

/* Kernel TCP states (include/net/tcp_states.h), as the ABI numbers them. */
enum tf_state {
	TF_ST_ESTABLISHED = 1, TF_ST_SYN_SENT, TF_ST_SYN_RECV, TF_ST_FIN_WAIT1,
	TF_ST_FIN_WAIT2, TF_ST_TIME_WAIT, TF_ST_CLOSE, TF_ST_CLOSE_WAIT,
	TF_ST_LAST_ACK, TF_ST_LISTEN, TF_ST_CLOSING, TF_ST_NEW_SYN_RECV,
};

/* Marks the model puts on records (tf_rec.mark). */
#define TF_MK_SKIP	0x01	/* drawn once, by its twin on the other end */
#define TF_MK_RETRANS	0x02	/* same seq (and SYN/FIN) as an earlier one */
#define TF_MK_DUPACK	0x04	/* pure ACK equal to an earlier one */
#define TF_MK_NOTRECV	0x08	/* sent; the other end traced then, and would
				   have recorded it, but did not: lost */
#define TF_MK_HIDDEN	0x10	/* full sock's CLOSE after its tw took over */
#define TF_MK_ATTACHED	0x20	/* listener or no-socket record joined to a conv */
#define TF_MK_NOTTRACED	0x40	/* sent; the other end not traced at the time */

struct tf_rec {
	struct tcpflow_record r;
	uint32_t line;		/* input line number, for messages */
	uint32_t dash;		/* TF_DASH(key) for values given as '-' */
	int32_t cx;		/* index of its connection, -1 for sock=none */
	int32_t group;		/* index of its group (conversation) */
	int32_t twin;		/* the same segment seen at the other end */
	/* side and cause share a byte, so that host fits: 152 bytes */
	uint8_t side : 1;	/* 0 client (left), 1 server (right) */
	uint8_t cause : 7;	/* why=kill and what caused it: TF_CA_* */
	uint8_t mark;		/* TF_MK_* */
	uint16_t host;		/* where it was recorded: index in the host
				   table (struct tf_hosts), 0 for none */
};

/*
 * What ended a timewait sock early (why=kill), from the records around
 * it; set on the kill record and on the segment that caused it.
 */
enum tf_cause {
	TF_CA_NONE,
	TF_CA_SYN,	/* rx SYN on the tw sock: TCP_TW_SYN, a listener took it */
	TF_CA_RST,	/* rx RST on the tw sock (tcp_rfc1337=0) */
	TF_CA_RST_SENT,	/* tx RST from the tw sock: TCP_TW_RST (FIN_WAIT2) */
	TF_CA_REUSE,	/* connect() on this side took the 4-tuple */
	TF_CA_OTHER,	/* none of those seen: netns exit, ss -K */
};

struct tf_header {
	int seen;
	unsigned int major, minor;
	uint64_t capacity, first, next, overwritten, missed;
	char segments[16];
	int has_epoch;		/* epoch_offset= was there (format 1.1) */
	int64_t epoch_offset;	/* CLOCK_REALTIME - CLOCK_MONOTONIC, ns */
};

/*
 * -T: times of day instead of times from the first record.  want: the
 * option; have, offset: the last header's epoch_offset (parse.c sets
 * them); utc: --utc.  tf_wall_on() is want && have.
 */
struct tf_wallclock {
	int want, have, utc;
	int64_t offset;
};
extern struct tf_wallclock tf_wall;
int tf_wall_on(void);
/* "HH:MM:SS.uuuuuu" (local, or UTC with --utc) of a ts; its length */
size_t tf_wall_str(char *buf, size_t size, uint64_t ts);
/* "YYYY-MM-DD" (+ " UTC") of a ts, for a column heading */
size_t tf_wall_date(char *buf, size_t size, uint64_t ts);
/* "YYYY-MM-DDTHH:MM:SS.uuuuuu" (+ "Z" with --utc), for --summary/--csv */
size_t tf_wall_iso(char *buf, size_t size, uint64_t ts);
void tf_wall_warn(FILE *err, const char *path);

/*
 * The sources of a merged stream (docs/fleet.md): a host name and, when
 * the log entry gave one, its boot id.  Records of one source share one
 * kernel: its conn ids, its clock, its record numbers; two sources'
 * never meet.  v[0] is the source of a record with neither (a plain
 * trace).
 */
struct tf_host {
	char *name;		/* NULL for v[0] */
	char *boot;		/* NULL when not known */
};

struct tf_hosts {
	struct tf_host *v;
	size_t n, cap;
};

#define TF_HOSTS_MAX 65535	/* tf_rec.host is 16 bits */
#define TF_HOST_NAME_MAX 255
#define TF_HOST_LABEL_MAX (TF_HOST_NAME_MAX + 16)

/* Index of (name, boot), added if new; -1: no memory or too many. */
int tf_hosts_find(struct tf_hosts *h, const char *name, size_t nlen,
		  const char *boot, size_t blen);
int tf_hosts_copy(struct tf_hosts *dst, const struct tf_hosts *src);
void tf_hosts_free(struct tf_hosts *h);
/* "NAME", or "NAME (boot 1a2b3c4d)" when NAME came with other boots
   too; "" for host 0.  buf: TF_HOST_LABEL_MAX bytes. */
const char *tf_host_label(const struct tf_hosts *h, unsigned int host,
			  char *buf);
/* Does the record's host have this name (--host)? */
int tf_host_is(const struct tf_hosts *h, unsigned int host, const char *name);

/* parse.c ------------------------------------------------------------- */

struct tf_parser {
	unsigned long line;	/* number of the line being parsed, from 1 */
	struct tf_header hdr;
	unsigned long nbad;	/* lines skipped as garbled */
	unsigned long ngap;	/* records lost to gaps */
	unsigned long warn_limit; /* stop printing warnings after this many */
	unsigned long nwarned;	/* warnings so far, printed or not */
	int fatal;		/* wrong major version: stop */
	FILE *err;		/* warnings go here; NULL: nowhere */
	/*
	 * Records read so far, (n, hash of the record), in input order, to
	 * drop a record read again (a trace appended to itself, two reads
	 * of /proc/tcpflow that overlap).  Sorted by n while n increases.
	 * One list per host: each host numbers its own records.
	 */
	struct tf_seenlist {
		struct tf_seen { uint64_t n, h; } *v;
		size_t n, cap;
	} *seen;
	size_t nseenl;
	struct tf_hosts hosts;	/* hosts named by the input (jsonin.c) */
	unsigned long nother;	/* log entries of other programs skipped */
	int json;		/* parsing a JSON record: its key names in
				   warnings */
	char *jbuf;		/* jsonin.c's decoded MESSAGE */
	unsigned long ndup;	/* records dropped as read before */
	int check_first;	/* refuse input whose first line is not a
				   header, a gap or a record (tfs_main) */
	int started;		/* a line with something on it was read */
	unsigned long not_trace; /* the line that says it is not a tcpflow
				    trace (fatal), or 0 */
	int from_now;		/* --live on /proc/tcpflow: skip the records
				   the ring held when the first header was
				   read (1: asked; 2: start_n set) */
	uint64_t start_n;	/* the first header's next= */
	unsigned long nbefore;	/* records skipped as older than start_n */
};

enum tf_line {
	TF_LINE_RECORD,		/* *out holds a record */
	TF_LINE_SKIP,		/* empty, comment, header, gap, or garbled */
	TF_LINE_FATAL,		/* unsupported format: stop reading */
};

void tf_parser_init(struct tf_parser *p, FILE *err);
enum tf_line tf_parse_line(struct tf_parser *p, const char *s, size_t len,
			   struct tf_rec *out);
void tf_parser_warn(struct tf_parser *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void tf_parser_done(struct tf_parser *p);
/* parse.c's record parser, for jsonin.c: one text record line */
enum tf_line tf_parse_record(struct tf_parser *p, const char *s, size_t n,
			     struct tf_rec *out);
enum tf_line tf_parse_comment(struct tf_parser *p, const char *s, size_t n);
/* drop a record read before (from the same host); 1 if dropped */
int tf_read_before(struct tf_parser *p, const struct tf_rec *r);
/* jsonin.c: a line that begins with '{'; a key's name in --json */
const char *tf_json_key(int k);
enum tf_line tf_parse_json(struct tf_parser *p, const char *s, size_t n,
			   struct tf_rec *out, int first);

int tf_state_lookup(const char *s, size_t n);	/* -1 if unknown */
const char *tf_state_name(unsigned int st);
const char *tf_event_name(unsigned int ev);
const char *tf_sock_name(unsigned int sk);
const char *tf_who_name(unsigned int who);
const char *tf_why_name(unsigned int why);
size_t tf_flags_str(char *buf, unsigned int flags);	/* >= 9 bytes */
/*
 * A SYN's options (format 1.2), "" for a record without: TF_OPTS_LADDER
 * "mss 1460 ws 7 sack ts" ("no options" for a SYN with none),
 * TF_OPTS_TCPDUMP "mss 1460,sackOK,TS val 4242,wscale 7" (tcpdump's
 * words and order, without nop and ecr).  buf: TF_OPTS_MAX bytes.
 */
enum { TF_OPTS_LADDER, TF_OPTS_TCPDUMP };
#define TF_OPTS_MAX 64
/* Does the record carry a SYN's options (given, not "-")? */
int tf_has_opts(const struct tcpflow_record *x, uint32_t dash);
size_t tf_opts_str(char *buf, const struct tcpflow_record *x,
		   uint32_t dash, int style);
int tf_parse_addr(const char *s, size_t n, uint8_t addr[16]); /* 4, 6, -1 */
int tf_hexval(int c);	/* one hex digit's value, -1 if none */

/* Splits a file descriptor into lines without a copy per line. */
struct tf_input {
	int fd;
	char *buf;
	size_t cap, start, end, scan;
	int skipping;		/* inside a line longer than TF_MAX_LINE */
	int poll_first;		/* a pipe: read() only what poll() says is
				   there, so that an empty pipe is TF_IN_AGAIN
				   and not a read() that blocks */
	int eof;		/* the last read() returned 0 */
};

#define TF_MAX_LINE 65536

enum tf_in {
	TF_IN_LINE,		/* *line, *len: one line without its '\n' */
	TF_IN_LONG,		/* a line longer than TF_MAX_LINE was dropped */
	TF_IN_AGAIN,		/* nothing complete now (read() returned 0,
				   or poll_first and nothing to read) */
	TF_IN_ERR,		/* read error, errno set */
};

int tf_input_init(struct tf_input *in, int fd);
void tf_input_free(struct tf_input *in);
enum tf_in tf_input_next(struct tf_input *in, const char **line, size_t *len,
			 int flush);

/* model.c ------------------------------------------------------------- */

enum tf_role { TF_ROLE_UNKNOWN, TF_ROLE_CLIENT, TF_ROLE_SERVER };

struct tf_conn {
	uint64_t id;
	uint32_t first, last, nrec;	/* record indexes, count */
	uint32_t tuple;			/* a record with the whole 4-tuple */
	uint8_t tuple_full;		/* ... found (else the first record) */
	int32_t group;
	int32_t peer;			/* the other end's conn, or -1 */
	int32_t tnext;			/* tuple hash chain */
	int32_t owner;			/* a record that names a process, -1 */
	uint32_t isn_tx, isn_rx;	/* ISNs learned from SYNs */
	uint8_t has_isn_tx, has_isn_rx;
	uint8_t role;			/* enum tf_role */
	uint8_t listener;
	uint16_t host;			/* its records' host */
};

enum tf_gkind {
	TF_G_CONV,		/* a conversation: one or both ends */
	TF_G_LISTENER,		/* a listening socket's own records */
	TF_G_NOSOCK,		/* a reset sent for nobody's segment */
};

struct tf_group {
	uint8_t kind;		/* enum tf_gkind */
	uint8_t af;
	uint8_t traced[2];	/* a side has records of its own */
	int32_t conn[2];	/* client, server conn; -1 if not traced */
	uint32_t first;		/* first record index */
	uint32_t nrec;		/* records, in t->order[off..off+nrec) */
	uint32_t off;
	uint16_t port[2];	/* client, server port */
	uint8_t addr[2][16];	/* client, server address */
	uint32_t base[2];	/* seq base of what each side sends */
	uint32_t number;	/* conversations: 1, 2... in order; others 0 */
	uint16_t host;		/* its records' host */
};

struct tf_trace {
	struct tf_rec *rec;
	size_t nrec, cap;
	struct tf_header hdr;
	struct tf_conn *conn;
	size_t nconn;
	struct tf_group *group;
	size_t ngroup;
	uint32_t *order;	/* record indexes grouped by group */
	uint64_t t0, tend;	/* first and last ts of the trace */
	struct tf_hosts hosts;	/* the input's hosts (a copy of the parser's) */
	/*
	 * With more than one host, each one's first and last ts (clocks of
	 * different machines do not compare): nht entries, by host index.
	 */
	uint64_t *ht0, *htend;
	size_t nht;
};

void tf_trace_init(struct tf_trace *t);
void tf_trace_free(struct tf_trace *t);
struct tf_rec *tf_trace_add(struct tf_trace *t);	/* NULL: no memory */
int tf_model_build(struct tf_trace *t);			/* 0 or -1 (ENOMEM) */
/* Times count from the first record of the record's host, and a trace
   ends at its host's last record. */
uint64_t tf_t0(const struct tf_trace *t, unsigned int host);
uint64_t tf_tend(const struct tf_trace *t, unsigned int host);
/* Streams: note r's ts as its host's first if it is (0, or -1: no memory) */
int tf_t0_note(struct tf_trace *t, const struct tf_rec *r);

static inline int tf_is_seg(const struct tf_rec *r)
{
	return r->r.event == TCPFLOW_EV_RX || r->r.event == TCPFLOW_EV_TX;
}

/* Side that sent the segment: tx from its own side, rx from the other. */
static inline unsigned int tf_sender(const struct tf_rec *r)
{
	return r->r.event == TCPFLOW_EV_TX ? r->side : !r->side;
}

/* out.c --------------------------------------------------------------- */

struct obuf {
	FILE *f;
	char *buf;
	size_t len, cap;
	int err;		/* a write failed */
	int color;
};

enum tf_color {
	TF_C_RESET, TF_C_BOLD, TF_C_DIM, TF_C_STATE, TF_C_SYN, TF_C_FIN,
	TF_C_RST, TF_C_DATA, TF_C_TAG, TF_C_NOTE, TF_C_HEAD,
};

int ob_init(struct obuf *ob, FILE *f, int color);
int ob_done(struct obuf *ob);		/* flush, free; -1 if a write failed */
void ob_flush(struct obuf *ob);
void ob_mem(struct obuf *ob, const char *s, size_t n);
void ob_str(struct obuf *ob, const char *s);
void ob_ch(struct obuf *ob, char c);
void ob_pad(struct obuf *ob, char c, size_t n);
void ob_u64(struct obuf *ob, uint64_t v);
void ob_u64w(struct obuf *ob, uint64_t v, size_t width); /* right-aligned */
void ob_frac(struct obuf *ob, uint64_t ns, uint64_t unit, unsigned int digits);
void ob_printf(struct obuf *ob, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void ob_color(struct obuf *ob, enum tf_color c);
const char *tf_ansi(enum tf_color c);

static inline void ob_reserve_fast(struct obuf *ob, size_t n)
{
	if (ob->cap - ob->len < n)
		ob_flush(ob);
}

size_t tf_addr_str(char *buf, unsigned int af, const uint8_t *addr);
size_t tf_endpoint_str(char *buf, unsigned int af, const uint8_t *addr,
		       unsigned int port);
size_t tf_u64_str(char *buf, uint64_t v);
size_t tf_frac_str(char *buf, uint64_t v, uint64_t unit, unsigned int digits);
size_t tf_comm_str(char *buf, const char *comm);	/* >= 4*16 bytes */
#define TF_COMM_MAX 68
#define TF_ADDR_MAX 48		/* "[v6]:port" and a NUL */
#define TF_EP_MAX 56

/* main.c: options every view sees ------------------------------------- */

struct tf_opts {
	int absolute;		/* -S */
	int explain;		/* --explain */
	int color;
	int quiet;
	unsigned int width;	/* the ladder's columns at most; 0: no limit */
	/* filters */
	int has_port, has_addr, has_conn, has_state, has_since, has_until;
	int has_pid, has_comm, has_host;
	const char *host;		/* --host NAME */
	uint32_t pid;
	char comm[16];
	uint16_t port;
	uint8_t addr_af;
	uint8_t addr[16];
	uint64_t conn;
	int state;
	int since_abs, until_abs;	/* value is a ts, not relative */
	uint64_t since, until;		/* ns */
};

int tf_group_selected(const struct tf_trace *t, const struct tf_group *g,
		      const struct tf_opts *o);
int tf_rec_in_window(const struct tf_trace *t, const struct tf_rec *r,
		     const struct tf_opts *o);
int tf_rec_selected(const struct tf_trace *t, const struct tf_rec *r,
		    const struct tf_opts *o);	/* per record, for -f */
uint8_t *tf_select_groups(const struct tf_trace *t, const struct tf_opts *o);

/* views */
int tf_view_ladder(const struct tf_trace *t, const struct tf_opts *o,
		   struct obuf *ob);
int tf_view_states(const struct tf_trace *t, const struct tf_opts *o,
		   struct obuf *ob);
int tf_view_json(const struct tf_trace *t, const struct tf_opts *o,
		 struct obuf *ob);
int tf_view_summary(const struct tf_trace *t, const struct tf_opts *o,
		    struct obuf *ob, int csv);
int tf_view_pcap(const struct tf_trace *t, const struct tf_opts *o,
		 const char *path, FILE *err);
void tf_json_rec(struct obuf *ob, const struct tf_rec *r,
		 const struct tf_hosts *h);
struct tf_states;
struct tf_states *tf_states_new(struct obuf *ob, const struct tf_hosts *h);
void tf_states_rec(struct tf_states *s, const struct tf_rec *r, uint64_t t0,
		   int shown);
void tf_states_free(struct tf_states *s);
void tf_follow_line(struct obuf *ob, const struct tf_rec *r, uint64_t t0);
void tf_follow_line_rel(struct obuf *ob, const struct tf_rec *r, uint64_t t0,
			uint32_t seq, uint32_t ack);
/* "HOST: " before a line of a record that has a host */
void tf_host_prefix(struct obuf *ob, const struct tf_hosts *h,
		    const struct tf_rec *r);
int tf_note_for(const struct tf_rec *r, int relative, unsigned int fin);
const char *const *tf_note_lines(int id, const char *const **more);

/* follow.c, live.c: reading as records come, until the end or tf_stop */
extern volatile sig_atomic_t tf_stop;	/* SIGINT/SIGTERM came: finish */
struct tf_wait {
	int is_pipe, polled, stopping;
	long deadline;		/* ms, CLOCK_MONOTONIC, once stopping */
	pid_t child;		/* writer we started (--live), or 0 */
};
int tf_fd_is_pipe(int fd);
int tf_wait(struct tf_wait *w, struct tf_input *in);
int tf_follow(int fd, pid_t child, const struct tf_opts *o,
	      struct tf_parser *p, struct obuf *ob, int json);
const char *tf_live_proc(void);
int tf_live_open(const struct tf_opts *o, pid_t *child, FILE *err);
int tf_live_close(pid_t child, int stopped);
int tf_live_ladder(int fd, pid_t child, const struct tf_opts *o,
		   struct tf_parser *p, struct obuf *ob, int tty);

int tf_read(int fd, const char *name, struct tf_parser *p,
	    int (*fn)(void *arg, const struct tf_rec *r), void *arg);
int tf_load(int fd, const char *name, struct tf_parser *p,
	    struct tf_trace *t);	/* 0, 1 read error, 2 format version */
int tf_stream(int fd, const char *name, struct tf_parser *p,
	      const struct tf_opts *o, struct obuf *ob, int states,
	      uint64_t *nrec);
int tfs_main(int argc, char **argv, FILE *out, FILE *err);

#endif /* TCPFLOW_SHOW_H */
