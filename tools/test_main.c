// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * test_main.c - every tool test, then one closing line for CI:
 * "N passed, N failed" (cmocka prints a summary per group above it).
 *
 * test-tools --golden-update rewrites the golden files instead.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "test.h"

unsigned int test_skipped;

int run_argv(struct run *r, const char *const *argv)
{
	FILE *out, *err;
	int argc = 0;

	memset(r, 0, sizeof(*r));
	while (argv[argc])
		argc++;
	out = open_memstream(&r->out, &r->outlen);
	err = open_memstream(&r->err, &r->errlen);
	if (!out || !err)
		abort();
	r->rc = tfs_main(argc, (char **)argv, out, err);
	fclose(out);
	fclose(err);
	return r->rc;
}

void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

int text_file(const char *text, size_t len, char *path, size_t size)
{
	int fd = memfd_create("tcpflow-test", 0);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
		abort();
	lseek(fd, 0, SEEK_SET);
	snprintf(path, size, "/proc/self/fd/%d", fd);
	return fd;
}

int load_text(struct tf_trace *t, const char *text, char **errtext)
{
	struct tf_parser p;
	size_t errlen;
	FILE *err = open_memstream(errtext, &errlen);
	char path[64];
	int fd = text_file(text, strlen(text), path, sizeof(path)), ret;

	tf_trace_init(t);
	tf_parser_init(&p, err);
	ret = tf_load(fd, "test", &p, t);
	tf_parser_done(&p);
	if (!ret && tf_model_build(t))
		ret = -1;
	fclose(err);
	close(fd);
	return ret;
}

char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n + 4096 > cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap + 1);
			if (!buf)
				abort();
		}
		size_t got = fread(buf + n, 1, cap - n, f);

		n += got;
		if (!got)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

int main(int argc, char **argv)
{
	unsigned int total = 0, n;
	int failed = 0, update = argc > 1 && !strcmp(argv[1],
							"--golden-update");

	/* cmocka writes to both streams: keep them in order in a CI log */
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* tcpflow-show would fit its ladder to it (term_width()) */
	unsetenv("COLUMNS");
	if (update) {
		failed = test_golden_run(&n, 1);
		return failed ? 1 : 0;
	}
	failed += test_parse_run(&n);
	total += n;
	failed += test_model_run(&n);
	total += n;
	failed += test_golden_run(&n, 0);
	total += n;
	failed += test_views_run(&n);
	total += n;
	failed += test_fuzz_run(&n);
	total += n;
	failed += test_cli_run(&n);
	total += n;
	failed += test_fleet_run(&n);
	total += n;
	if (test_skipped)
		printf("%u passed, %d failed, %u skipped\n",
		       total - (unsigned int)failed - test_skipped, failed,
		       test_skipped);
	else
		printf("%u passed, %d failed\n", total - (unsigned int)failed,
		       failed);
	return failed ? 1 : 0;
}
