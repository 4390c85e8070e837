// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * live.c - --live: trace now, draw as it happens.
 *
 * The records come from /proc/tcpflow when the module is loaded, else
 * from tcpflow-bpf -f, run here as a child (found next to this program,
 * in bpf/ next to it as in the source tree, in ../sbin as installed, or
 * in PATH).  Nothing is
 * loaded here.  TCPFLOW_PROC and TCPFLOW_BPF name others (the tests).
 *
 * The ladder fits its columns to a whole conversation and the model joins
 * both ends of it, so after each batch of records the model is built
 * again over all of them and the ladder drawn again, into memory.  On a
 * terminal only what changed is written: new lines at the bottom; when
 * an earlier line changed (a new row in a conversation above, a wider
 * column), the cursor goes back up to it (ESC [ n A) and the rest is
 * written again below (ESC [ J); when that line has left the screen,
 * the screen and its scrollback are cleared and all of it written again.
 * Not a terminal: the ladder is written once, at the end.
 *
 * The child stays in our process group, so that the terminal's Ctrl-C
 * reaches it too; on that signal both finish: it writes what it has and
 * exits, we read to the end of its pipe (tf_wait()) and draw the last
 * picture.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "show.h"

#define DEFAULT_PROC "/proc/tcpflow"

const char *tf_live_proc(void)
{
	const char *p = getenv("TCPFLOW_PROC");

	return p && *p ? p : DEFAULT_PROC;
}

static int executable(const char *path)
{
	return !access(path, X_OK);
}

/* tcpflow-bpf: $TCPFLOW_BPF, next to us, in bpf/ next to us, in PATH. */
static int find_bpf(char *buf, size_t size)
{
	const char *env = getenv("TCPFLOW_BPF"), *path = getenv("PATH");
	char self[3801];
	ssize_t n;

	if (env && *env) {
		snprintf(buf, size, "%s", env);
		return executable(buf) ? 0 : -1;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			if ((size_t)snprintf(buf, size, "%.3800s/tcpflow-bpf",
					     self) < size && executable(buf))
				return 0;
			if ((size_t)snprintf(buf, size, "%.3800s/bpf/tcpflow-bpf",
					     self) < size && executable(buf))
				return 0;
			/* make install: bin/tcpflow-show, sbin/tcpflow-bpf */
			if ((size_t)snprintf(buf, size,
					     "%.3800s/../sbin/tcpflow-bpf",
					     self) < size && executable(buf))
				return 0;
		}
	}
	while (path && *path) {
		const char *end = strchr(path, ':');
		size_t len = end ? (size_t)(end - path) : strlen(path);

		if (len) {
			snprintf(buf, size, "%.*s/tcpflow-bpf", (int)len, path);
			if (executable(buf))
				return 0;
		}
		path = end ? end + 1 : NULL;
	}
	return -1;
}

/* The input of --live: an fd, and the child's pid when there is one. */
int tf_live_open(const struct tf_opts *o, pid_t *child, FILE *err)
{
	const char *proc = tf_live_proc();
	char bpf[4096], port[8];
	char *argv[5];
	int fds[2], fd, i = 0;

	*child = 0;
	if (!access(proc, F_OK)) {
		fd = open(proc, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fprintf(err, TF_PROG ": %s: %s\n", proc,
				strerror(errno));
		return fd;
	}
	if (find_bpf(bpf, sizeof(bpf))) {
		fprintf(err, TF_PROG ": --live: %s is not there (the tcpflow "
			"module is not loaded)\n  and no tcpflow-bpf was found "
			"(%s).\n  Load the module (make; sudo insmod "
			"tcpflow.ko), or build tcpflow-bpf\n  (make -C "
			"tools/bpf; it runs as root, with BTF), or use the "
			"QEMU lab\n  (scripts/lab, docs/lab.md): see "
			"README.\n", proc,
			getenv("TCPFLOW_BPF") && *getenv("TCPFLOW_BPF") ?
			"TCPFLOW_BPF is not executable" :
			"not next to tcpflow-show, nor in PATH");
		return -1;
	}
	argv[i++] = bpf;
	argv[i++] = "-f";
	if (o->has_port) {	/* less to send; tcpflow-show filters too */
		snprintf(port, sizeof(port), "%u", o->port);
		argv[i++] = "-p";
		argv[i++] = port;
	}
	argv[i] = NULL;
	if (pipe2(fds, O_CLOEXEC)) {
		fprintf(err, TF_PROG ": pipe: %s\n", strerror(errno));
		return -1;
	}
	fflush(NULL);
	*child = fork();
	if (*child < 0) {
		fprintf(err, TF_PROG ": fork: %s\n", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		*child = 0;
		return -1;
	}
	if (!*child) {
		dup2(fds[1], STDOUT_FILENO);
		execv(bpf, argv);
		fprintf(err, TF_PROG ": %s: %s\n", bpf, strerror(errno));
		fflush(err);
		_exit(127);
	}
	close(fds[1]);
	return fds[0];
}

/*
 * Wait for the child.  Returns 1 if it failed on its own (not stopped by
 * us or by the terminal's Ctrl-C), else 0.
 */
int tf_live_close(pid_t child, int stopped)
{
	int status;

	if (child <= 0)
		return 0;
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			return 1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status) != 0;
	return !stopped;
}

/* What is on the screen: the lines of the last drawing. */
struct screen {
	char *text;
	size_t len;
	size_t *line;		/* start of each line in text */
	size_t nline, cap;
	unsigned int rows, cols;
};

static int split(struct screen *s)
{
	s->nline = 0;
	for (size_t i = 0; i < s->len; ) {
		char *nl = memchr(s->text + i, '\n', s->len - i);

		if (s->nline == s->cap) {
			size_t cap = s->cap ? 2 * s->cap : 256;
			size_t *l = realloc(s->line, cap * sizeof(*l));

			if (!l)
				return -1;
			s->line = l;
			s->cap = cap;
		}
		s->line[s->nline++] = i;
		i = nl ? (size_t)(nl - s->text) + 1 : s->len;
	}
	return 0;
}

static size_t line_len(const struct screen *s, size_t k)
{
	size_t end = k + 1 < s->nline ? s->line[k + 1] : s->len;

	return end - s->line[k];	/* with its '\n' */
}

/* Rows of the terminal a line takes: long lines wrap. */
static size_t line_rows(const struct screen *s, size_t k)
{
	const char *p = s->text + s->line[k];
	size_t n = line_len(s, k), w = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\033') {	/* ESC [ ... letter: no width */
			while (i + 1 < n && !((p[i + 1] >= 'a' &&
					       p[i + 1] <= 'z') ||
					      (p[i + 1] >= 'A' &&
					       p[i + 1] <= 'Z')))
				i++;
			i++;
			continue;
		}
		if (p[i] != '\n' && ((unsigned char)p[i] & 0xc0) != 0x80)
			w++;
	}
	return w ? (w + s->cols - 1) / s->cols : 1;
}

static void term_size(struct screen *s, FILE *f)
{
	struct winsize ws;

	s->rows = 24;
	s->cols = 80;
	if (!ioctl(fileno(f), TIOCGWINSZ, &ws) && ws.ws_row && ws.ws_col) {
		s->rows = ws.ws_row;
		s->cols = ws.ws_col;
	}
}

/* The new drawing (in s->text): write what differs from old. */
static void update(struct screen *s, const struct screen *old,
		   struct obuf *ob)
{
	size_t d = 0, up = 0, from;

	while (d < s->nline && d < old->nline &&
	       line_len(s, d) == line_len(old, d) &&
	       !memcmp(s->text + s->line[d], old->text + old->line[d],
		       line_len(s, d)))
		d++;
	for (size_t k = d; k < old->nline; k++)
		up += line_rows(old, k);
	from = d;
	if (up >= s->rows) {
		/* Above the screen: start over, the scrollback too. */
		ob_str(ob, "\033[H\033[2J\033[3J");
		from = 0;
	} else if (up) {
		ob_printf(ob, "\r\033[%zuA\033[J", up);
	}
	if (from < s->nline)
		ob_mem(ob, s->text + s->line[from], s->len - s->line[from]);
	ob_flush(ob);
	fflush(ob->f);
}

static int draw(struct tf_trace *t, const struct tf_opts *o,
		struct screen *cur, struct obuf *ob)
{
	struct screen next = { .rows = cur->rows, .cols = cur->cols };
	struct obuf mem;
	FILE *f;
	int ret;

	if (tf_model_build(t))
		return -1;
	f = open_memstream(&next.text, &next.len);
	if (!f)
		return -1;
	if (ob_init(&mem, f, ob->color)) {
		fclose(f);
		free(next.text);
		return -1;
	}
	ret = tf_view_ladder(t, o, &mem);
	ret |= ob_done(&mem);
	fclose(f);
	if (ret || split(&next)) {
		free(next.text);
		free(next.line);
		return -1;
	}
	update(&next, cur, ob);
	free(cur->text);
	free(cur->line);
	*cur = next;
	return 0;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 0 at the end, 1 on error, 2 not a trace or a wrong format version. */
int tf_live_ladder(int fd, pid_t child, const struct tf_opts *o,
		   struct tf_parser *p, struct obuf *ob, int tty)
{
	struct tf_input in;
	struct tf_trace t;
	struct tf_rec rec;
	struct tf_wait w = { .child = child };
	struct screen scr = { 0 };
	long drawn = 0;
	int dirty = 0, ret = 0;

	tf_trace_init(&t);
	if (tf_input_init(&in, fd))
		return 1;
	term_size(&scr, ob->f);
	w.is_pipe = tf_fd_is_pipe(fd);
	in.poll_first = w.is_pipe;
	for (;;) {
		const char *line;
		size_t len;
		enum tf_in got = tf_input_next(&in, &line, &len, w.is_pipe);

		if (got == TF_IN_LONG) {
			p->line++;
			tf_parser_warn(p, "longer than %d bytes, skipped",
				       TF_MAX_LINE);
			continue;
		}
		if (got == TF_IN_ERR) {
			if (p->err)
				fprintf(p->err, TF_PROG ": read: %s\n",
					strerror(errno));
			ret = 1;
			break;
		}
		/* Drawn when the input pauses, and at least every 100 ms. */
		if (tty && dirty && (got == TF_IN_AGAIN ||
				     now_ms() - drawn >= 100)) {
			term_size(&scr, ob->f);
			if (draw(&t, o, &scr, ob))
				goto oom;
			drawn = now_ms();
			dirty = 0;
		}
		if (got == TF_IN_AGAIN) {
			if (ob->err || tf_wait(&w, &in))
				break;
			continue;
		}
		w.polled = 0;
		switch (tf_parse_line(p, line, len, &rec)) {
		case TF_LINE_FATAL:
			ret = 2;
			goto out;
		case TF_LINE_SKIP:
			continue;
		case TF_LINE_RECORD:
			break;
		}
		{
			struct tf_rec *slot = tf_trace_add(&t);

			if (!slot)
				goto oom;
			*slot = rec;
			dirty = 1;
		}
	}
	/* The whole picture, last. */
	if (tty && dirty && draw(&t, o, &scr, ob))
		goto oom;
	if (!tty && !ret) {
		if (tf_model_build(&t) || tf_view_ladder(&t, o, ob))
			goto oom;
	}
	goto out;
oom:
	if (p->err)
		fprintf(p->err, TF_PROG ": out of memory\n");
	ret = 1;
out:
	free(scr.text);
	free(scr.line);
	tf_trace_free(&t);
	tf_input_free(&in);
	return ret;
}
