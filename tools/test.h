/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * test.h - what the test files share: running the real command line
 * in-process (tfs_main), with its output captured in memory.
 */
#ifndef TCPFLOW_TEST_H
#define TCPFLOW_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "show.h"

#ifndef TESTDATA
#define TESTDATA "../tests/tools"
#endif

struct run {
	int rc;
	char *out, *err;
	size_t outlen, errlen;
};

/* Run tfs_main with these arguments (NULL-terminated). */
int run_argv(struct run *r, const char *const *argv);
#define run_cli(r, ...) run_argv(r, (const char *const[]){ "tcpflow-show", \
					 __VA_ARGS__, NULL })
void run_free(struct run *r);

/* A file holding text, for inputs written inside a test; path in buf. */
int text_file(const char *text, size_t len, char *path, size_t size);
/* Parse text into a trace and build the model; warnings into *err. */
int load_text(struct tf_trace *t, const char *text, char **err);
char *read_file(const char *path, size_t *len);

extern unsigned int test_skipped;	/* cmocka does not return it */

int test_parse_run(unsigned int *ntests);
int test_model_run(unsigned int *ntests);
int test_golden_run(unsigned int *ntests, int update);
int test_fuzz_run(unsigned int *ntests);
int test_views_run(unsigned int *ntests);
int test_cli_run(unsigned int *ntests);
int test_fleet_run(unsigned int *ntests);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
