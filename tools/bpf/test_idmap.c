// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * test_idmap.c - tcpflow-bpf's link table (idmap.c): links found while
 * they may be needed, dropped after, and the table bounded under a
 * steady stream of links, as under -f on a busy server.  Built with
 * -fsanitize=address,undefined (make unit); the last line is
 * "N passed, N failed".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "idmap.h"
#include "tcpflow_bpf.h"

#define S 1000000000ULL
#define PH(i) (TCPFLOW_BPF_CONN_SYNTH | (uint64_t)(i))

static void test_find_and_grow(void **state)
{
	struct idmap m = { 0 };
	uint64_t t0 = 5 * S, i;

	(void)state;
	assert_null(idmap_find(&m, PH(1)));
	/* past the first table's 1024 slots: it grows, nothing is lost */
	for (i = 0; i < 5000; i++)
		assert_int_equal(idmap_put(&m, PH(i), 1000 + i, t0 + i), 0);
	for (i = 0; i < 5000; i++) {
		uint64_t *v = idmap_find(&m, PH(i));

		assert_non_null(v);
		assert_int_equal(*v, 1000 + i);
	}
	assert_null(idmap_find(&m, PH(5000)));
	assert_int_equal(idmap_size(&m), 5000);
	/* a second link for a placeholder replaces the first */
	assert_int_equal(idmap_put(&m, PH(7), 99, t0 + 6000), 0);
	assert_int_equal(*idmap_find(&m, PH(7)), 99);
	assert_int_equal(idmap_size(&m), 5000);
	idmap_free(&m);
}

/* A link is found for at least IDMAP_KEEP_NS, gone after twice that. */
static void test_kept_then_dropped(void **state)
{
	struct idmap m = { 0 };
	uint64_t t0 = 100 * S, k = IDMAP_KEEP_NS;

	(void)state;
	assert_int_equal(idmap_put(&m, PH(1), 11, t0), 0);
	/* just before a generation: the same one */
	assert_int_equal(idmap_put(&m, PH(2), 22, t0 + k - 1), 0);
	/* a generation on: both are in the one before, still found */
	assert_int_equal(idmap_put(&m, PH(3), 33, t0 + k), 0);
	assert_int_equal(*idmap_find(&m, PH(1)), 11);
	assert_int_equal(*idmap_find(&m, PH(2)), 22);
	assert_int_equal(*idmap_find(&m, PH(3)), 33);
	/* another generation on: 1 and 2 go, 3 (one generation old) stays */
	assert_int_equal(idmap_put(&m, PH(4), 44, t0 + 2 * k), 0);
	assert_null(idmap_find(&m, PH(1)));
	assert_null(idmap_find(&m, PH(2)));
	assert_int_equal(*idmap_find(&m, PH(3)), 33);
	assert_int_equal(*idmap_find(&m, PH(4)), 44);
	assert_int_equal(idmap_size(&m), 2);
	/* no link for two generations: everything held is that old, gone */
	assert_int_equal(idmap_put(&m, PH(5), 55, t0 + 4 * k + 1), 0);
	assert_null(idmap_find(&m, PH(3)));
	assert_null(idmap_find(&m, PH(4)));
	assert_int_equal(*idmap_find(&m, PH(5)), 55);
	assert_int_equal(idmap_size(&m), 1);
	idmap_free(&m);
}

/*
 * 2,000 passive connections a second for an hour, each with a link (no
 * cookie on its request sock): the table never holds more than two
 * generations' links, and each link is found for IDMAP_KEEP_NS after it
 * came.  The table before idmap.c kept all 7.2 million.
 */
static void test_bounded_under_churn(void **state)
{
	struct idmap m = { 0 };
	const uint64_t rate = 2000, step = S / rate;
	const uint64_t n = 3600 * rate;
	const size_t most = 2 * IDMAP_KEEP_NS / S * rate;
	size_t peak = 0;
	uint64_t i;

	(void)state;
	for (i = 1; i <= n; i++) {
		uint64_t now = 7 * S + i * step;

		assert_int_equal(idmap_put(&m, PH(i), i, now), 0);
		if (idmap_size(&m) > peak)
			peak = idmap_size(&m);
		/* the link that came IDMAP_KEEP_NS ago is still there */
		if (i > IDMAP_KEEP_NS / step) {
			uint64_t *v = idmap_find(&m, PH(i - IDMAP_KEEP_NS / step));

			assert_non_null(v);
			assert_int_equal(*v, i - IDMAP_KEEP_NS / step);
		}
	}
	print_message("%llu links over an hour at %llu a second: at most %zu "
		      "held at once (two generations: %zu)\n",
		      (unsigned long long)n, (unsigned long long)rate, peak,
		      most);
	assert_true(peak <= most);
	assert_true(peak >= most / 2);
	assert_null(idmap_find(&m, PH(1)));
	idmap_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find_and_grow),
		cmocka_unit_test(test_kept_then_dropped),
		cmocka_unit_test(test_bounded_under_churn),
	};
	int n = sizeof(tests) / sizeof(tests[0]);
	int failed = cmocka_run_group_tests_name("idmap", tests, NULL, NULL);

	printf("%d passed, %d failed\n", n - failed, failed);
	return failed != 0;
}
