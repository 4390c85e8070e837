// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * test_fuzz.c - a bounded, deterministic fuzz run for `make check`: the
 * corpus (tests/tools/corpus) and the fixtures, mutated the way libFuzzer
 * would (bit flips, interesting bytes, dictionary words, cut, copy,
 * splice), fed to LLVMFuzzerTestOneInput under ASan/UBSan.  Same seed,
 * same inputs, every run.  TCPFLOW_FUZZ_RUNS sets how many (default
 * 200000, about 20 s); a crash stops the run under ASan.
 */
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include "test.h"

#define MAX_INPUT 65536

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static size_t below(size_t n)
{
	return n ? (size_t)(next() % n) : 0;
}

static const char *const dict[] = {
	"n=", " ts=", " seq=4294967295", " ack=-", " af=6", " af=4",
	" laddr=::ffff:1.2.3.4", " raddr=fe80::1", " flags=FSRP.UEW",
	" flags=none", " comm=\\x41", " comm=\\x", " sock=none", " sock=tw",
	" sock=req", " ev=state", " ev=rx", " ev=tx", " old=TIME_WAIT",
	" new=CLOSE", " state=LISTEN", " why=rearm", " why=expire",
	" dur=18446744073709551615", "# tcpflow 1.0\n", "# tcpflow 1.9 x=y\n",
	"# tcpflow 2.0\n", "# gap from=1 to=3\n", "\n", " conn=0",
	" conn=4097", " lport=0", " rport=65535", " win=65536", "=", "-",
	" new=LISTEN", " old=LISTEN", " new=NEW_SYN_RECV", " flags=S",
	" flags=S.", " flags=R.", " flags=F.", " len=4294967295",
	/* JSON lines (jsonin.c) */
	"{\"", "\":", "\",\"", "\\u00", "\\\"", "[", "]", "null", "true",
	"{}", "\"MESSAGE\":\"", "\"_HOSTNAME\":\"", "\"host\":", "\"opts\":{",
	"\"n\":1,", "\\ud800", "1e9", "-1",
};

static const char interesting[] = " =-\n#\\x0:.9\t\r";

struct seed {
	char *data;
	size_t len;
};

static size_t mutate(char *buf, size_t len, const struct seed *seeds,
		     size_t nseeds)
{
	int rounds = 1 + (int)below(8);

	while (rounds--) {
		size_t pos = below(len + 1), k;
		const char *w;

		switch (below(8)) {
		case 0:
			if (len)
				buf[below(len)] ^= (char)(1 << below(8));
			break;
		case 1:
			if (len)
				buf[below(len)] = (char)next();
			break;
		case 2:
			if (len)
				buf[below(len)] = interesting[below(
					sizeof(interesting) - 1)];
			break;
		case 3:	/* cut */
			k = below(16) + 1;
			if (pos + k > len)
				k = len - pos;
			memmove(buf + pos, buf + pos + k, len - pos - k);
			len -= k;
			break;
		case 4:	/* a dictionary word */
			w = dict[below(sizeof(dict) / sizeof(dict[0]))];
			k = strlen(w);
			if (len + k > MAX_INPUT)
				break;
			memmove(buf + pos + k, buf + pos, len - pos);
			memcpy(buf + pos, w, k);
			len += k;
			break;
		case 5:	/* copy a piece elsewhere */
			if (!len)
				break;
			k = below(64) + 1;
			{
				size_t from = below(len);

				if (from + k > len)
					k = len - from;
				if (len + k > MAX_INPUT)
					break;
				memmove(buf + pos + k, buf + pos, len - pos);
				memmove(buf + pos, buf + (from >= pos ?
							  from + k : from), k);
				len += k;
			}
			break;
		case 6:	/* splice another seed's tail */
			{
				const struct seed *s = &seeds[below(nseeds)];
				size_t from = below(s->len);

				k = s->len - from;
				if (pos + k > MAX_INPUT)
					k = MAX_INPUT - pos;
				memcpy(buf + pos, s->data + from, k);
				len = pos + k;
			}
			break;
		case 7:
			len = pos;
			break;
		}
	}
	return len;
}

static void mutation_loop(void **state)
{
	const char *env = getenv("TCPFLOW_FUZZ_RUNS");
	unsigned long runs = env ? strtoul(env, NULL, 10) : 200000;
	struct seed seeds[256];
	size_t nseeds = 0;
	char *buf = malloc(MAX_INPUT + 1);
	glob_t g;

	(void)state;
	if (!glob(TESTDATA "/corpus/*", 0, NULL, &g)) {
		glob(TESTDATA "/fixtures/*.trace", GLOB_APPEND, NULL, &g);
		for (size_t i = 0; i < g.gl_pathc && nseeds < 256; i++) {
			seeds[nseeds].data = read_file(g.gl_pathv[i],
						       &seeds[nseeds].len);
			if (!seeds[nseeds].data)
				continue;
			if (seeds[nseeds].len <= MAX_INPUT)
				nseeds++;
			else	/* too big to mutate in buf: not a seed */
				free(seeds[nseeds].data);
		}
		globfree(&g);
	}
	assert_true(nseeds > 0);
	/* every seed once as it is */
	for (size_t i = 0; i < nseeds; i++)
		LLVMFuzzerTestOneInput((const uint8_t *)seeds[i].data,
				       seeds[i].len);
	for (unsigned long r = 0; r < runs; r++) {
		const struct seed *s = &seeds[below(nseeds)];
		size_t len;

		memcpy(buf, s->data, s->len);
		len = mutate(buf, s->len, seeds, nseeds);
		LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
	}
	for (size_t i = 0; i < nseeds; i++)
		free(seeds[i].data);
	free(buf);
}

int test_fuzz_run(unsigned int *ntests)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mutation_loop),
	};

	*ntests = 1;
	return cmocka_run_group_tests_name("fuzz", tests, NULL, NULL);
}
