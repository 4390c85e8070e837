// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * test_cli.c - the command line as a user meets it: what is refused and
 * how, standard input by default, -f as a stream (a child process fed
 * record by record through a pipe, its output read as it comes), Ctrl-C
 * (SIGINT) in -f and --live, and --live's two sources (TCPFLOW_PROC,
 * TCPFLOW_BPF).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "test.h"

#define FIX(name) TESTDATA "/fixtures/" name ".trace"

/* Run the CLI on text given as standard input (a pipe). */
static int run_stdin(struct run *r, const char *text, size_t len,
		     const char *const *argv)
{
	int fds[2], saved = dup(0);

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], text, len), (ssize_t)len);
	close(fds[1]);
	dup2(fds[0], 0);
	close(fds[0]);
	run_argv(r, argv);
	dup2(saved, 0);
	close(saved);
	return r->rc;
}

static void not_a_trace(void **state)
{
	static const char *const texts[] = {
		"",
		"\n\n",
		"{\"n\":1,\"ts\":8120001000000,\"ev\":\"state\"}\n",
		("12:00:00.000001 IP 127.0.0.1.40000 > 127.0.0.1.8080: "
		 "Flags [S], seq 1, win 65495, length 0\n"),
	};
	const char *const views[][3] = {
		{ "tcpflow-show", "-", NULL },
		{ "tcpflow-show", "--json", "-" },
		{ "tcpflow-show", "--states", "-" },
	};
	char pcap[] = "/tmp/tcpflow-test-XXXXXX";
	char *bytes;
	size_t len;
	struct run r;
	int fd;

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		for (size_t v = 0; v < 3; v++) {
			const char *argv[] = { views[v][0], views[v][1],
					       views[v][2], NULL };

			run_stdin(&r, texts[i], strlen(texts[i]), argv);
			assert_int_equal(r.rc, 2);
			assert_non_null(strstr(r.err, "not a tcpflow trace"));
			assert_string_equal(r.out, "");
			run_free(&r);
		}
	}
	/* a real pcap, written by --pcap from a real trace */
	fd = mkstemp(pcap);
	assert_true(fd >= 0);
	close(fd);
	run_cli(&r, "--pcap", pcap, FIX("loopback-ipv4"));
	assert_int_equal(r.rc, 0);
	run_free(&r);
	bytes = read_file(pcap, &len);
	assert_true(len > 24);
	run_cli(&r, pcap);
	assert_int_equal(r.rc, 2);
	assert_non_null(strstr(r.err, "not a tcpflow trace"));
	run_free(&r);
	run_stdin(&r, bytes, len,
		  (const char *const[]){ "tcpflow-show", "-f", "-", NULL });
	assert_int_equal(r.rc, 2);
	assert_non_null(strstr(r.err, "not a tcpflow trace"));
	run_free(&r);
	free(bytes);
	unlink(pcap);
	/* JSON that is no record and no log entry */
	run_stdin(&r, "{\"a\":1}\n", 8,
		  (const char *const[]){ "tcpflow-show", NULL });
	assert_int_equal(r.rc, 2);
	assert_non_null(strstr(r.err, "not a tcpflow trace"));
	run_free(&r);
	/* but the JSON of a real trace is that trace (docs/fleet.md) */
	run_cli(&r, "--json", FIX("refused"));
	bytes = r.out;
	r.out = NULL;
	run_free(&r);
	run_stdin(&r, bytes, strlen(bytes),
		  (const char *const[]){ "tcpflow-show", NULL });
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.err, "");
	{
		struct run s;

		run_cli(&s, FIX("refused"));
		assert_string_equal(r.out, s.out);
		run_free(&s);
	}
	run_free(&r);
	free(bytes);
	/* a header only is a trace, of no records */
	run_stdin(&r, "# tcpflow 1.0 capacity=8 first=1 next=1\n", 40,
		  (const char *const[]){ "tcpflow-show", NULL });
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.err, "no records"));
	run_free(&r);
}

/*
 * --html FILE: the page in FILE and nothing on standard output, the same
 * bytes as --html -; another view may go to standard output with it.  A
 * FILE that cannot be written is exit 1 and a message that names it.
 */
static void html_file(void **state)
{
	char path[] = "/tmp/tcpflow-html-XXXXXX";
	struct run r, s;
	char *page;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	run_cli(&r, "--html", path, FIX("halfclose"));
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "");
	assert_string_equal(r.err, "");
	run_free(&r);
	page = read_file(path, NULL);
	assert_non_null(page);
	run_cli(&s, "--html", "-", FIX("halfclose"));
	assert_int_equal(s.rc, 0);
	assert_string_equal(page, s.out);
	assert_true(!strncmp(page, "<!DOCTYPE html>\n", 16));
	free(page);
	run_free(&s);
	run_cli(&r, "--html", path, "--mermaid", FIX("halfclose"));
	assert_int_equal(r.rc, 0);
	assert_true(!strncmp(r.out, "sequenceDiagram\n", 16));
	run_free(&r);
	unlink(path);

	run_cli(&r, "--html", "/nonexistent/dir/x.html", FIX("refused"));
	assert_int_equal(r.rc, 1);
	assert_non_null(strstr(r.err, "/nonexistent/dir/x.html: No such file"));
	assert_string_equal(r.out, "");
	run_free(&r);
	run_cli(&r, "--html", "/tmp", FIX("refused"));
	assert_int_equal(r.rc, 1);
	assert_non_null(strstr(r.err, "/tmp: Is a directory"));
	run_free(&r);
	/* opens, but no room for the page */
	if (!access("/dev/full", W_OK)) {
		run_cli(&r, "--html", "/dev/full", FIX("refused"));
		assert_int_equal(r.rc, 1);
		assert_non_null(strstr(r.err, "/dev/full: write error"));
		run_free(&r);
	}
}

static void combos_refused(void **state)
{
	static const char *const bad[][5] = {
		{ "-w", "/tmp/tcpflow-test-never.pcap", "-e" },
		{ "-w", "/tmp/tcpflow-test-never.pcap", "-S" },
		{ "-j", "-e" },
		{ "-s", "-e" },
		{ "-j", "-S" },
		{ "-s", "-S" },
		{ "-f", "-w", "/tmp/tcpflow-test-never.pcap" },
		/* -f --json: --json's lines as they come, nothing else */
		{ "-f", "-j", "-e" },
		{ "-f", "-j", "-S" },
		{ "-f", "-j", "-T" },
		{ "-f", "-j", "-s" },
		{ "--live", "-j" },
		{ "--live", "-s" },
		{ "--live", "-w", "/tmp/tcpflow-test-never.pcap" },
		{ "--live", "x.trace" },
		{ "-j", "--width", "80" },
		{ "-s", "--width", "80" },
		{ "-f", "--width", "80" },
		{ "--summary", "--width", "80" },
		{ "--width", "5" },
		{ "--width", "80x" },
		{ "-j", "-T" },
		{ "-s", "-T" },
		{ "--utc" },
		{ "--time=now" },
		/* --html draws whole conversations, from a whole trace */
		{ "-f", "--html", "/tmp/tcpflow-test-never.html" },
		{ "--live", "--html", "/tmp/tcpflow-test-never.html" },
		{ "--html", "-", "-j" },
		{ "--html", "-", "-s" },
		{ "--html", "-", "--mermaid" },
		{ "--html", "-", "--summary" },
		{ "--html", "-", "-w", "-" },
		{ "--html", "-", "--svg", "-" },
		{ "--html", "/tmp/tcpflow-test-never.html", "-T" },
		{ "--html", "/tmp/tcpflow-test-never.html", "--width", "80" },
		{ "--html" },
	};
	struct run r;

	(void)state;
	unlink("/tmp/tcpflow-test-never.pcap");
	unlink("/tmp/tcpflow-test-never.html");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *argv[8] = { "tcpflow-show" };
		size_t n = 1;

		for (size_t k = 0; k < 5 && bad[i][k]; k++)
			argv[n++] = bad[i][k];
		argv[n++] = bad[i][0][1] == '-' ? NULL : FIX("refused");
		run_argv(&r, argv);
		assert_int_equal(r.rc, 2);
		assert_non_null(strstr(r.err, "Try 'tcpflow-show --help'"));
		assert_string_equal(r.out, "");
		run_free(&r);
	}
	assert_int_equal(access("/tmp/tcpflow-test-never.pcap", F_OK), -1);
	assert_int_equal(access("/tmp/tcpflow-test-never.html", F_OK), -1);
	/* and what does combine still works */
	run_cli(&r, "-w", "/dev/null", "-s", FIX("refused"));
	assert_int_equal(r.rc, 0);
	run_free(&r);
	run_cli(&r, "-e", "-S", FIX("refused"));
	assert_int_equal(r.rc, 0);
	run_free(&r);
	run_cli(&r, "-e", "--width", "80", FIX("refused"));
	assert_int_equal(r.rc, 0);
	run_free(&r);
	/* -T's summary: the start as a date and time (halfclose: 1.1) */
	run_cli(&r, "--csv", "-T", "--utc", FIX("halfclose"));
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, ",start,duration_s,"));
	assert_non_null(strstr(r.out, ",2026-12-05T09:00:00.500010Z,"));
	run_free(&r);
}

static void stdin_by_default(void **state)
{
	size_t len;
	char *text = read_file(FIX("refused"), &len);
	struct run r, want;

	(void)state;
	/* the test's stdin is a pipe here: not a terminal */
	run_stdin(&r, text, len, (const char *const[]){ "tcpflow-show",
							 NULL });
	run_cli(&want, FIX("refused"));
	assert_int_equal(r.rc, 0);
	assert_int_equal(want.rc, 0);
	assert_string_equal(r.out, want.out);
	run_free(&r);
	run_free(&want);
	free(text);
}

static void missing_proc_names_routes(void **state)
{
	struct run r;

	(void)state;
	if (!access("/proc/tcpflow", F_OK)) {
		test_skipped++;
		skip();		/* the module is loaded here */
	}
	run_cli(&r, "/proc/tcpflow");
	assert_int_equal(r.rc, 1);
	assert_non_null(strstr(r.err, "No such file"));
	assert_non_null(strstr(r.err, "tcpflow-bpf"));
	assert_non_null(strstr(r.err, "lab"));
	run_free(&r);
	setenv("TCPFLOW_PROC", "/nonexistent/tcpflow", 1);
	setenv("TCPFLOW_BPF", "/nonexistent/tcpflow-bpf", 1);
	run_cli(&r, "--live");
	unsetenv("TCPFLOW_PROC");
	unsetenv("TCPFLOW_BPF");
	assert_int_equal(r.rc, 1);
	assert_non_null(strstr(r.err, "tcpflow-bpf"));
	assert_non_null(strstr(r.err, "lab"));
	assert_non_null(strstr(r.err, "insmod tcpflow.ko"));
	run_free(&r);
}

/* -f with and without -S and -e, numbers checked against the trace's. */
static void follow_numbers_and_notes(void **state)
{
	size_t len;
	char *text = read_file(FIX("loopback-ipv4"), &len);
	struct run r;

	(void)state;
	/* relative: the SYN is seq 0, the SYN-ACK seq 0 ack 1 (x+1) */
	run_stdin(&r, text, len, (const char *const[]){ "tcpflow-show", "-f",
							 "-", NULL });
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, " 4097 tx    127.0.0.1:40000 > "
			       "127.0.0.1:8080: Flags [S], seq 0, "
			       "win 65495, length 0 (SYN_SENT) curl[312]\n"));
	assert_non_null(strstr(r.out, " 4097 rx    127.0.0.1:8080 > "
			       "127.0.0.1:40000: Flags [S.], seq 0, ack 1, "));
	assert_null(strstr(r.out, "1633335101"));
	assert_null(strstr(r.out, "# "));
	run_free(&r);
	{
		/* -T: halfclose's header has epoch_offset (09:00:00 UTC) */
		size_t hlen;
		char *half = read_file(FIX("halfclose"), &hlen);

		run_stdin(&r, half, hlen, (const char *const[]){
				  "tcpflow-show", "-f", "-T", "--utc", "-",
				  NULL });
		assert_int_equal(r.rc, 0);
		assert_non_null(strstr(r.out, "09:00:00.500010 20481 tx "));
		run_free(&r);
		free(half);
	}
	run_stdin(&r, text, len, (const char *const[]){ "tcpflow-show", "-f",
							 "-S", "-", NULL });
	assert_non_null(strstr(r.out, "Flags [S], seq 1633335101, "));
	assert_non_null(strstr(r.out, "Flags [S.], seq 2891423456, ack "
			       "1633335102, "));
	run_free(&r);
	run_stdin(&r, text, len, (const char *const[]){ "tcpflow-show", "-f",
							 "-e", "-", NULL });
	assert_non_null(strstr(r.out, "(SYN_SENT) curl[312]\n"
			       "            # SYN: the client picks its "
			       "initial\n"));
	assert_non_null(strstr(r.out, "# (numbers are relative"));
	assert_non_null(strstr(r.out, "# TIME_WAIT: 60 s on Linux"));
	/* the client's FIN is the first (at both ends), the server's the
	 * second, in the trace */
	assert_non_null(strstr(r.out, "(FIN_WAIT1) curl[312]\n"
			       "            # FIN: no more data"));
	assert_non_null(strstr(r.out, "(LAST_ACK) python3[300]\n"
			       "            # the other side's FIN"));
	assert_int_equal(strstr(strstr(r.out, "# the other side's FIN") + 1,
				"# the other side's FIN") == NULL, 1);
	/* once per conversation: the SYN is recorded at both ends */
	assert_int_equal(strstr(strstr(r.out, "# SYN: the") + 1,
				"# SYN: the") == NULL, 1);
	run_free(&r);
	free(text);
}

/* A child running tfs_main on a pipe; its output read as it comes. */
struct child {
	pid_t pid;
	int in, out;		/* we write its stdin, read its stdout */
};

static void child_start(struct child *c, const char *const *argv,
			const char *proc)
{
	int in[2], out[2];

	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (!c->pid) {
		FILE *o, *e;
		int argc = 0;

		dup2(in[0], 0);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		o = fdopen(out[1], "w");
		e = fopen("/dev/null", "w");
		if (proc)
			setenv("TCPFLOW_PROC", proc, 1);
		while (argv[argc])
			argc++;
		_exit(tfs_main(argc, (char **)argv, o, e) ? 3 :
		      (fclose(o), 0));
	}
	close(in[0]);
	close(out[1]);
	c->in = in[1];
	c->out = out[0];
}

/* Read what comes within ms; returns what was read (appended to buf). */
static size_t read_for(int fd, char *buf, size_t have, size_t cap, int ms)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long el;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &t);
		el = (t.tv_sec - t0.tv_sec) * 1000 +
		     (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (el >= ms || poll(&p, 1, (int)(ms - el)) <= 0)
			break;
		n = read(fd, buf + have, cap - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		if (memchr(buf + have - (size_t)n, '\n', (size_t)n))
			break;	/* a whole line: enough for now */
	}
	buf[have] = '\0';
	return have;
}

static int child_wait(struct child *c)
{
	int status;

	assert_int_equal(waitpid(c->pid, &status, 0), c->pid);
	close(c->out);
	if (c->in >= 0)
		close(c->in);
	return status;
}

/*
 * -f on a pipe shows each record as it comes (before the next is written;
 * tests/live/run times it), and SIGINT
 * with the writer still there ends it: exit 0, every record shown.
 */
static void follow_streams(void **state)
{
	char *text = read_file(FIX("loopback-ipv4"), NULL), *line, *save;
	static char got[65536];
	struct child c;
	size_t have = 0;
	int nrec = 0, status;

	(void)state;
	child_start(&c, (const char *const[]){ "tcpflow-show", "-f", "-S",
					       "-", NULL }, NULL);
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char seq[32] = "";
		const char *s = strstr(line, " seq=");

		assert_int_equal(write(c.in, line, strlen(line)),
				 (ssize_t)strlen(line));
		assert_int_equal(write(c.in, "\n", 1), 1);
		if (line[0] != 'n')
			continue;
		nrec++;
		have = read_for(c.out, got, have, sizeof(got), 2000);
		/* this record's line is there: count lines, check seq */
		{
			int lines = 0;

			for (size_t i = 0; i < have; i++)
				lines += got[i] == '\n';
			assert_int_equal(lines, nrec);
		}
		if (s && s[5] != '-') {
			snprintf(seq, sizeof(seq), "seq %.*s,",
				 (int)strcspn(s + 5, " "), s + 5);
			assert_non_null(strstr(got, seq));
		}
	}
	/* Ctrl-C while the writer still holds the pipe open */
	kill(c.pid, SIGINT);
	have = read_for(c.out, got, have, sizeof(got), 2000);
	status = child_wait(&c);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(nrec, 29);
	free(text);
}

/*
 * --live from TCPFLOW_PROC (a regular file, read as tail -f does) into a
 * pipe: at SIGINT the whole ladder, the same as the file's own ladder.
 * --live draws from the header's next= on (what the ring held before it
 * started is not drawn): the fixture's header says next=32, after all
 * of its records, so the copy read here says next=1, an empty ring.
 */
static void live_proc_file(void **state)
{
	static char got[1 << 17];
	char proc[] = "/tmp/tcpflow-test-XXXXXX";
	struct run want;
	struct child c;
	size_t have = 0;
	char *text, *at;
	FILE *f;
	int status, fd;

	(void)state;
	text = read_file(FIX("lost-ack"), NULL);
	assert_non_null(text);
	at = strstr(text, " next=32 ");
	assert_non_null(at);
	fd = mkstemp(proc);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fprintf(f, "%.*s next=1 %s", (int)(at - text), text, at + 9);
	fclose(f);
	free(text);
	child_start(&c, (const char *const[]){ "tcpflow-show", "--live", "-e",
					       NULL }, proc);
	close(c.in);
	c.in = -1;
	have = read_for(c.out, got, have, sizeof(got), 300);
	assert_int_equal(have, 0);	/* not a terminal: once, at the end */
	kill(c.pid, SIGINT);
	while (have < sizeof(got) - 1) {
		size_t before = have;

		have = read_for(c.out, got, have, sizeof(got), 2000);
		if (have == before)
			break;
	}
	status = child_wait(&c);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	run_cli(&want, "-e", FIX("lost-ack"));
	unlink(proc);
	assert_string_equal(got, want.out);
	run_free(&want);
}

/* --live with no /proc/tcpflow runs TCPFLOW_BPF -f [-p PORT]. */
static void live_bpf_child(void **state)
{
	char dir[] = "/tmp/tcpflow-test-XXXXXX", script[64], args[80];
	struct run r, want;
	FILE *f;
	char *a;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(script, sizeof(script), "%s/fake-bpf", dir);
	snprintf(args, sizeof(args), "%s/args", dir);
	f = fopen(script, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\necho \"$@\" > %s\ncat %s\n", args,
		FIX("halfclose"));
	fclose(f);
	chmod(script, 0755);
	setenv("TCPFLOW_PROC", "/nonexistent/tcpflow", 1);
	setenv("TCPFLOW_BPF", script, 1);
	run_cli(&r, "--live", "-p", "8080");
	run_cli(&want, "-p", "8080", FIX("halfclose"));
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, want.out);
	run_free(&r);
	run_free(&want);
	a = read_file(args, NULL);
	assert_string_equal(a, "-f -p 8080\n");
	free(a);
	/* --live -f: lines, from the same child */
	run_cli(&r, "--live", "-f");
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "Flags [S], seq 0,"));
	run_free(&r);
	/* a child that fails says so (exit 1) */
	f = fopen(script, "w");
	fprintf(f, "#!/bin/sh\nexit 1\n");
	fclose(f);
	run_cli(&r, "--live");
	assert_int_equal(r.rc, 1);
	run_free(&r);
	unsetenv("TCPFLOW_PROC");
	unsetenv("TCPFLOW_BPF");
	unlink(script);
	unlink(args);
	rmdir(dir);
}

int test_cli_run(unsigned int *ntests)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(not_a_trace),
		cmocka_unit_test(combos_refused),
		cmocka_unit_test(html_file),
		cmocka_unit_test(stdin_by_default),
		cmocka_unit_test(missing_proc_names_routes),
		cmocka_unit_test(follow_numbers_and_notes),
		cmocka_unit_test(follow_streams),
		cmocka_unit_test(live_proc_file),
		cmocka_unit_test(live_bpf_child),
	};

	*ntests = sizeof(tests) / sizeof(tests[0]);
	return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
