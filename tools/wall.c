// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * wall.c - -T: the time of day of a record.  A record's ts is
 * CLOCK_MONOTONIC (the module's ktime_get_mono_fast_ns(), tcpflow-bpf's
 * bpf_ktime_get_ns()); the header of format 1.1 carries epoch_offset,
 * CLOCK_REALTIME - CLOCK_MONOTONIC when it was read, and ts + epoch_offset
 * is then nanoseconds since 1970.  (A clock step between the records and
 * the read moves every time by the step: the header is read last.)
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "show.h"

struct tf_wallclock tf_wall;

int tf_wall_on(void)
{
	return tf_wall.want && tf_wall.have;
}

enum wall_form { W_TIME, W_DATE, W_ISO };

/* ts as the time of day in one of the forms below; its length */
static size_t wall_fmt(char *buf, size_t size, uint64_t ts, enum wall_form f)
{
	int64_t ns = (int64_t)ts + tf_wall.offset;
	time_t secs;
	struct tm tm, *ok;
	long usec;
	int n;

	if (ns < 0)
		ns = 0;
	secs = (time_t)(ns / 1000000000);
	usec = (long)(ns % 1000000000 / 1000);
	ok = tf_wall.utc ? gmtime_r(&secs, &tm) : localtime_r(&secs, &tm);
	if (!ok)
		n = snprintf(buf, size, "?");
	else if (f == W_TIME)
		n = snprintf(buf, size, "%02d:%02d:%02d.%06ld", tm.tm_hour,
			     tm.tm_min, tm.tm_sec, usec);
	else if (f == W_DATE)
		n = snprintf(buf, size, "%04d-%02d-%02d%s", tm.tm_year + 1900,
			     tm.tm_mon + 1, tm.tm_mday,
			     tf_wall.utc ? " UTC" : "");
	else
		n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06ld%s",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			     tm.tm_hour, tm.tm_min, tm.tm_sec, usec,
			     tf_wall.utc ? "Z" : "");
	return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

size_t tf_wall_str(char *buf, size_t size, uint64_t ts)
{
	return wall_fmt(buf, size, ts, W_TIME);
}

size_t tf_wall_date(char *buf, size_t size, uint64_t ts)
{
	return wall_fmt(buf, size, ts, W_DATE);
}

size_t tf_wall_iso(char *buf, size_t size, uint64_t ts)
{
	return wall_fmt(buf, size, ts, W_ISO);
}

/* -T on a trace with no epoch_offset: say so once, show relative times. */
void tf_wall_warn(FILE *err, const char *path)
{
	if (tf_wall.want && !tf_wall.have && err)
		fprintf(err, TF_PROG ": -T: %s has no time of day (no "
			"epoch_offset in its header: written before format "
			"1.1); times are from the first record\n",
			strcmp(path, "-") ? "this trace" : "standard input");
}
