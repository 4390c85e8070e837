// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * fuzz_parse.c - libFuzzer target: any bytes as a /proc/tcpflow trace,
 * through the parser, the model and every view.  Nothing may crash,
 * leak or read out of bounds.
 *
 *   make -C tools fuzz-run          (clang, -fsanitize=fuzzer)
 *
 * test_fuzz.c calls the same function from a deterministic mutation loop
 * under ASan/UBSan in `make check`, where clang may not be installed.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "ladder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *null;
	static int fd = -1;
	struct tf_parser p;
	struct tf_trace t;
	struct tf_opts o;
	struct obuf ob;
	uint8_t knobs = size ? data[0] : 0;

	if (!null)
		null = fopen("/dev/null", "w");
	if (fd < 0)
		fd = memfd_create("fuzz", 0);
	if (!null || fd < 0 || ftruncate(fd, 0) ||
	    pwrite(fd, data, size, 0) != (ssize_t)size ||
	    lseek(fd, 0, SEEK_SET))
		return 0;

	/* The first byte turns options on, so they get fuzzed too. */
	memset(&o, 0, sizeof(o));
	o.absolute = knobs & 1;
	o.explain = !(knobs & 2);
	o.color = !!(knobs & 4);
	if (knobs & 8) {
		o.has_port = 1;
		o.port = 8080;
	}
	if (knobs & 16) {
		o.has_state = 1;
		o.state = TF_ST_TIME_WAIT;
		o.has_host = 1;
		o.host = "lab-a";
	}
	if (knobs & 32) {
		o.has_since = 1;
		o.since = 1000;
	}

	tf_trace_init(&t);
	tf_parser_init(&p, null);
	if (!tf_load(fd, "fuzz", &p, &t) && !tf_model_build(&t) &&
	    !ob_init(&ob, null, o.color)) {
		tf_view_ladder(&t, &o, &ob);
		tf_view_states(&t, &o, &ob);
		tf_view_json(&t, &o, &ob);
		for (size_t i = 0; i < t.nrec; i++)
			tf_follow_line(&ob, &t.rec[i], t.t0);
		if (knobs & 64) {
			tf_view_pcap(&t, &o, "/dev/null", null);
			tf_view_svg(&t, &o, &ob);
		} else {
			tf_view_mermaid(&t, &o, &ob);
		}
		ob_done(&ob);
	}
	tf_parser_done(&p);
	tf_trace_free(&t);
	/* and the streaming path of --json and --states */
	if (!lseek(fd, 0, SEEK_SET) && !ob_init(&ob, null, o.color)) {
		tf_parser_init(&p, null);
		tf_stream(fd, "fuzz", &p, &o, &ob, knobs & 128, NULL);
		tf_parser_done(&p);
		ob_done(&ob);
	}
	return 0;
}
