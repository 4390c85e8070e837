// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * tcpflow-bpf - the records of tcpflow.ko, from BPF, in the /proc/tcpflow
 * text format (v1.0): for hosts that cannot load the module.
 *
 * Loads tcpflow.bpf.c (through its skeleton), attaches it to tracepoints,
 * reads its ring buffer until SIGINT/SIGTERM or -d SECONDS, then writes
 * the header and the records, numbered from 1 in the order they were
 * read, to standard output or -o FILE.  With -f the header is written
 * first and records as they come (the header's counters are then those
 * of the start; a last comment line has the final ones).
 *
 * The ring also carries link messages: a request sock's records carry a
 * placeholder id until its cookie is known (tcpflow_bpf.h); records wait
 * here, in order, until then (flush()).
 *
 * See docs/bpf.md for what it records and what it cannot see.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

/*
 * libbpf brings <linux/types.h>, whose __u64 (unsigned long long) is not
 * the ABI header's userspace one (uint64_t): let the header take the
 * kernel's, already included.
 */
#define __KERNEL__
#include "tcpflow_abi.h"
#undef __KERNEL__
#include "tcpflow_bpf.h"
#include "idmap.h"
#include "tcpflow.skel.h"

#define PROG "tcpflow-bpf"

_Static_assert(sizeof(struct tcpflow_record) == 128, "record is 128 bytes");

static const char *const event_names[] = TCPFLOW_EVENT_NAMES;
static const char *const sock_names[] = TCPFLOW_SOCK_NAMES;
static const char *const who_names[] = TCPFLOW_WHO_NAMES;
static const char *const why_names[] = TCPFLOW_WHY_NAMES;
static const char *const state_names[] = TCPFLOW_STATE_NAMES;
static const char *const segmode_names[] = TCPFLOW_SEGMODE_NAMES;

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NAME(tbl, i) ((size_t)(i) < ARRAY_SIZE(tbl) ? (tbl)[i] : "?")

static volatile sig_atomic_t stop;

struct opts {
	const char *out;
	double duration;	/* 0: until a signal */
	int segmode;
	int port;		/* -1: no filter */
	unsigned long ringbuf;
	bool follow;
	bool verbose;
};

/*
 * How long a record with an unresolved placeholder holds back the ones
 * after it: a request sock's cookie is known at its child's birth or at
 * its first SYN-ACK retransmit, 1 s after it was sent (TCP_TIMEOUT_INIT).
 * One that died before both never had a cookie: TCPFLOW_BPF_CONN_NOCOOKIE.
 */
#define HOLD_NS 2000000000ULL

struct state {
	FILE *out;		/* where records go as they come */
	bool raw;		/* out is the spool: binary records */
	uint64_t next;		/* number of the next record */
	bool failed;		/* a write failed */
	int werr;		/* its errno: EPIPE, the reader is gone */
	struct idmap ids;	/* placeholder -> cookie (idmap.h) */
	struct tcpflow_record *q;	/* read, not written yet */
	size_t head, tail, cap;
	bool oom;
};

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: " PROG " [-o FILE] [-d SECONDS] [--segments none|default|all]\n"
"                   [-p PORT] [-b BYTES] [-f]\n"
"Trace TCP connections with BPF and print the records in the /proc/tcpflow\n"
"text format (v%d.%d), as tcpflow.ko would.  Needs root (CAP_BPF and\n"
"CAP_PERFMON), BTF (/sys/kernel/btf/vmlinux) and tracepoints.\n"
"\n"
"  -o, --output FILE        write there instead of standard output\n"
"  -d, --duration SECONDS   stop after that long (default: at SIGINT/SIGTERM)\n"
"  -s, --segments MODE      none, default (handshake, teardown, resets) or all\n"
"  -p, --port PORT          only events whose local or remote port is PORT\n"
"  -b, --ringbuf BYTES      BPF ring buffer size: a power of two, at least\n"
"                           4096; K and M suffixes (default %uM)\n"
"  -f, --follow             write records as they come, header first\n"
"  -v, --verbose            libbpf's warnings and what was attached\n"
"  -h, --help\n",
		TCPFLOW_FMT_MAJOR, TCPFLOW_FMT_MINOR,
		TCPFLOW_BPF_RINGBUF_DEFAULT >> 20);
}

static int parse_size(const char *s, unsigned long *v)
{
	char *end;
	unsigned long x;

	errno = 0;
	x = strtoul(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	if (*end == 'K' || *end == 'k') {
		x <<= 10;
		end++;
	} else if (*end == 'M' || *end == 'm') {
		x <<= 20;
		end++;
	}
	if (*end || x < 4096 || x > (1UL << 30) || (x & (x - 1)))
		return -1;
	*v = x;
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "duration", required_argument, NULL, 'd' },
		{ "segments", required_argument, NULL, 's' },
		{ "port", required_argument, NULL, 'p' },
		{ "ringbuf", required_argument, NULL, 'b' },
		{ "follow", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	o->segmode = TCPFLOW_SEG_DEFAULT;
	o->port = -1;
	o->ringbuf = TCPFLOW_BPF_RINGBUF_DEFAULT;
	while ((c = getopt_long(argc, argv, "o:d:s:p:b:fvh", lo, NULL)) != -1) {
		char *end;
		long v;
		size_t i;

		switch (c) {
		case 'o':
			o->out = optarg;
			break;
		case 'd':
			errno = 0;
			o->duration = strtod(optarg, &end);
			if (errno || end == optarg || *end ||
			    !(o->duration > 0) || o->duration > 1e9) {
				fprintf(stderr, PROG ": -d %s: want a number "
					"of seconds > 0\n", optarg);
				return -1;
			}
			break;
		case 's':
			for (i = 0; i < ARRAY_SIZE(segmode_names); i++)
				if (!strcmp(optarg, segmode_names[i]))
					break;
			if (i == ARRAY_SIZE(segmode_names)) {
				fprintf(stderr, PROG ": --segments %s: want "
					"none, default or all\n", optarg);
				return -1;
			}
			o->segmode = (int)i;
			break;
		case 'p':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v < 1 ||
			    v > 65535) {
				fprintf(stderr, PROG ": -p %s: want a port "
					"from 1 to 65535\n", optarg);
				return -1;
			}
			o->port = (int)v;
			break;
		case 'b':
			if (parse_size(optarg, &o->ringbuf)) {
				fprintf(stderr, PROG ": -b %s: want a power "
					"of two from 4096 to 1G\n", optarg);
				return -1;
			}
			break;
		case 'f':
			o->follow = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return -1;
	}
	return 0;
}

/*
 * Kernel addresses the BPF side compares against: the timewait and
 * request sock timers' functions, and the extent of
 * inet_twsk_deschedule_put() (from its address to the next symbol's).
 */
struct ksyms {
	uint64_t tw_timer;
	uint64_t req_timer;
	uint64_t kill_lo;
	uint64_t kill_hi;
	bool read;		/* /proc/kallsyms has names (any user) */
	bool ptr_cookie;	/* bpf_get_socket_ptr_cookie: kernel_lacks() */
};

static void find_ksyms(struct ksyms *ks)
{
	FILE *f = fopen("/proc/kallsyms", "r");
	char line[512], name[256];
	uint64_t next = UINT64_MAX;
	unsigned long long a;
	char t;

	memset(ks, 0, sizeof(*ks));
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx %c %255s", &a, &t, name) != 3)
			continue;
		ks->read = true;
		if (!strcmp(name, "bpf_get_socket_ptr_cookie"))
			ks->ptr_cookie = true;
		else if (!strcmp(name, "tw_timer_handler") && !ks->tw_timer)
			ks->tw_timer = a;
		else if (!strcmp(name, "reqsk_timer_handler") && !ks->req_timer)
			ks->req_timer = a;
		else if (!strcmp(name, "inet_twsk_deschedule_put") &&
			 !ks->kill_lo)
			ks->kill_lo = a;
	}
	if (ks->kill_lo) {
		rewind(f);
		while (fgets(line, sizeof(line), f)) {
			if (sscanf(line, "%llx %c %255s", &a, &t, name) != 3)
				continue;
			if (a > ks->kill_lo && a < next)
				next = a;
		}
		ks->kill_hi = next == UINT64_MAX ? ks->kill_lo + 4096 : next;
	}
	fclose(f);
}

static void print_addr(char *buf, size_t size, const uint8_t *a, int af)
{
	if (!inet_ntop(af == 6 ? AF_INET6 : AF_INET, a, buf, (socklen_t)size))
		snprintf(buf, size, "?");
}

static void print_flags(char *buf, uint8_t flags)
{
	static const uint8_t bits[] = TCPFLOW_FLAG_BITS;
	static const char letters[] = TCPFLOW_FLAG_LETTERS;
	size_t i, n = 0;

	for (i = 0; i < ARRAY_SIZE(bits); i++)
		if (flags & bits[i])
			buf[n++] = letters[i];
	if (!n) {
		strcpy(buf, "none");
		return;
	}
	buf[n] = '\0';
}

/* As the module: keep the line splittable on spaces and '='. */
static void print_comm(char *buf, const char *comm)
{
	int i, n = 0;

	for (i = 0; i < TCPFLOW_COMM_LEN && comm[i]; i++) {
		unsigned char c = (unsigned char)comm[i];

		if (c > ' ' && c <= '~' && c != '=' && c != '\\')
			buf[n++] = (char)c;
		else
			n += sprintf(buf + n, "\\x%02x", c);
	}
	if (!n)
		buf[n++] = '-';
	buf[n] = '\0';
}

static void print_u(char *buf, size_t size, bool present, uint64_t v)
{
	if (present)
		snprintf(buf, size, "%" PRIu64, v);
	else
		snprintf(buf, size, "-");
}

/* One line, byte for byte as module/procfs.c format_record() writes it. */
static int write_record(FILE *f, const struct tcpflow_record *r)
{
	char la[INET6_ADDRSTRLEN], ra[INET6_ADDRSTRLEN], flags[9];
	char seq[24], ack[24], win[24], len[24], pid[24], dur[24];
	char comm[TCPFLOW_COMM_LEN * 4 + 1], opts[TCPFLOW_OPTS_TEXT];
	bool seg = r->event != TCPFLOW_EV_STATE;
	bool tw_end = !seg && r->sock == TCPFLOW_SK_TW &&
		      r->old_state == 6 && r->new_state == 7;

	print_addr(la, sizeof(la), r->laddr, r->af);
	print_addr(ra, sizeof(ra), r->raddr, r->af);
	if (seg)
		print_flags(flags, r->flags);
	else
		strcpy(flags, "-");
	print_u(seq, sizeof(seq), seg, r->seq);
	print_u(ack, sizeof(ack), seg, r->ack);
	print_u(win, sizeof(win), seg, r->win);
	print_u(len, sizeof(len), seg, r->len);
	print_u(pid, sizeof(pid), r->who != TCPFLOW_WHO_NONE, r->pid);
	if (r->who != TCPFLOW_WHO_NONE)
		print_comm(comm, r->comm);
	else
		strcpy(comm, "-");
	print_u(dur, sizeof(dur), tw_end && r->dur_ns != TCPFLOW_BPF_DUR_UNKNOWN,
		r->dur_ns);
	tcpflow_opts_text(opts, r);

	return fprintf(f, "n=%" PRIu64 " ts=%" PRIu64 " cpu=%u netns=%u "
		       "conn=%" PRIu64 " ev=%s sock=%s af=%u laddr=%s lport=%u "
		       "raddr=%s rport=%u old=%s new=%s state=%s flags=%s "
		       "seq=%s ack=%s win=%s len=%s pid=%s comm=%s who=%s "
		       "why=%s dur=%s opts=%s\n",
		       (uint64_t)r->n, (uint64_t)r->ts_ns, r->cpu, r->netns,
		       (uint64_t)r->conn,
		       NAME(event_names, r->event), NAME(sock_names, r->sock),
		       r->af, la, r->lport, ra, r->rport,
		       seg ? "-" : NAME(state_names, r->old_state),
		       seg ? "-" : NAME(state_names, r->new_state),
		       seg ? NAME(state_names, r->new_state) : "-",
		       flags, seq, ack, win, len, pid, comm,
		       NAME(who_names, r->who), NAME(why_names, r->why), dur,
		       opts);
}

static int write_header(FILE *f, const struct opts *o, uint64_t next,
			uint64_t missed)
{
	char port[16] = "-";
	struct timespec real, mono;

	if (o->port >= 0)
		snprintf(port, sizeof(port), "%d", o->port);
	/* ts is bpf_ktime_get_ns(), CLOCK_MONOTONIC: epoch_offset turns it
	 * into the time of day, as the module's header does (format 1.1).
	 */
	clock_gettime(CLOCK_REALTIME, &real);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	/* capacity: records the BPF ring buffer holds (each has 8 bytes
	 * of ring header); nothing is overwritten, a full ring drops
	 * (missed).
	 */
	return fprintf(f, "# tcpflow %d.%d capacity=%lu first=1 next=%" PRIu64
		       " overwritten=0 missed=%" PRIu64 " segments=%s port=%s "
		       "addr=- netns=- epoch_offset=%lld\n", TCPFLOW_FMT_MAJOR,
		       TCPFLOW_FMT_MINOR,
		       o->ringbuf / (sizeof(struct tcpflow_record) + 8), next,
		       missed, segmode_names[o->segmode], port,
		       (long long)(real.tv_sec - mono.tv_sec) * 1000000000LL +
		       (real.tv_nsec - mono.tv_nsec));
}

/* ---- sockets that were there before us ---------------------------------- */

/* Socket inode -> a process holding it, as ss -p finds it. */
struct sockowner {
	uint64_t ino;
	uint32_t pid;
};

struct seeds {
	struct sockowner *own;	/* from /proc/PID/fd */
	size_t n_own, cap_own;
	uint64_t sockets;	/* sockets the iterator visited */
	uint64_t owned;		/* of those, with an owner found */
	int namespaces;
};

static int cmp_owner(const void *a, const void *b)
{
	const struct sockowner *x = a, *y = b;

	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static int cmp_ino(const void *a, const void *b)
{
	const struct sockowner *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* Every process's socket inodes, by inode, then pid. */
static void scan_fds(struct seeds *sd)
{
	DIR *proc = opendir("/proc"), *fds;
	struct dirent *p, *f;
	char path[300], link[64];

	if (!proc)
		return;
	while ((p = readdir(proc))) {
		char *end;
		unsigned long pid = strtoul(p->d_name, &end, 10);

		if (*end || !pid)
			continue;
		snprintf(path, sizeof(path), "/proc/%lu/fd", pid);
		fds = opendir(path);
		if (!fds)
			continue;
		while ((f = readdir(fds))) {
			unsigned long long ino;
			ssize_t n;

			snprintf(path, sizeof(path), "/proc/%lu/fd/%s", pid,
				 f->d_name);
			n = readlink(path, link, sizeof(link) - 1);
			if (n <= 0)
				continue;
			link[n] = 0;
			if (sscanf(link, "socket:[%llu]", &ino) != 1)
				continue;
			if (sd->n_own == sd->cap_own) {
				size_t cap = sd->cap_own ? 2 * sd->cap_own : 256;
				void *m = realloc(sd->own, cap * sizeof(*sd->own));

				if (!m)
					break;
				sd->own = m;
				sd->cap_own = cap;
			}
			sd->own[sd->n_own++] = (struct sockowner){ ino, pid };
		}
		closedir(fds);
	}
	closedir(proc);
	if (sd->n_own)
		qsort(sd->own, sd->n_own, sizeof(*sd->own), cmp_owner);
}

/* The iterator said "cookie inode": record the owner under that id. */
static void seed_owner(struct tcpflow_bpf *skel, struct seeds *sd,
		       uint64_t cookie, uint64_t ino)
{
	struct sockowner key = { .ino = ino }, *o;
	struct {
		uint32_t pid;
		char comm[TCPFLOW_COMM_LEN];
	} val;
	char path[64];
	FILE *f;

	sd->sockets++;
	o = sd->n_own ? bsearch(&key, sd->own, sd->n_own, sizeof(*o),
				cmp_ino) : NULL;
	if (!o)
		return;
	while (o > sd->own && o[-1].ino == ino)	/* the lowest pid */
		o--;
	memset(&val, 0, sizeof(val));
	val.pid = o->pid;
	snprintf(path, sizeof(path), "/proc/%u/comm", o->pid);
	f = fopen(path, "r");
	if (!f)
		return;
	if (fgets(val.comm, sizeof(val.comm), f))
		val.comm[strcspn(val.comm, "\n")] = 0;
	fclose(f);
	/* The program's own lessons (a state change seen) win. */
	if (!bpf_map_update_elem(bpf_map__fd(skel->maps.owners), &cookie, &val,
				 BPF_NOEXIST))
		sd->owned++;
}

/* Run the iterator in the network namespace we are in now. */
static int seed_here(struct tcpflow_bpf *skel, struct seeds *sd)
{
	char line[128];
	unsigned long long cookie, ino;
	int fd = bpf_iter_create(bpf_link__fd(skel->links.tf_seed));
	FILE *f;

	if (fd < 0)
		return -errno;
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -errno;
	}
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%llu %llu", &cookie, &ino) == 2)
			seed_owner(skel, sd, cookie, ino);
	fclose(f);
	sd->namespaces++;
	return 0;
}

static bool seen_ns(const uint64_t *seen, size_t n, uint64_t ino)
{
	for (size_t i = 0; i < n; i++)
		if (seen[i] == ino)
			return true;
	return false;
}

/* Visit one namespace, by a path to it, unless it was visited already. */
static void seed_ns(struct tcpflow_bpf *skel, struct seeds *sd,
		    const char *path, uint64_t **seen, size_t *n, size_t *cap)
{
	struct stat sb;
	int fd;

	if (stat(path, &sb) || seen_ns(*seen, *n, sb.st_ino))
		return;
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 64;
		void *m = realloc(*seen, c * sizeof(**seen));

		if (!m)
			return;
		*seen = m;
		*cap = c;
	}
	(*seen)[(*n)++] = sb.st_ino;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (!setns(fd, CLONE_NEWNET))
		seed_here(skel, sd);
	close(fd);
}

/*
 * Sockets that were there before we attached: the iterator sees one
 * network namespace at a time, ours at its creation, so visit every one
 * that has a process in it or a name in /run/netns (ip netns).
 */
static int seed(struct tcpflow_bpf *skel, struct seeds *sd)
{
	uint64_t *seen = NULL;
	size_t n = 0, cap = 0;
	int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	char path[300];
	struct dirent *d;
	DIR *dir;
	int err;

	if (home < 0)
		return -errno;
	scan_fds(sd);
	seed_ns(skel, sd, "/proc/self/ns/net", &seen, &n, &cap);
	dir = opendir("/proc");
	while (dir && (d = readdir(dir))) {
		if (d->d_name[0] < '1' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/net", d->d_name);
		seed_ns(skel, sd, path, &seen, &n, &cap);
	}
	if (dir)
		closedir(dir);
	dir = opendir("/run/netns");
	while (dir && (d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/run/netns/%s", d->d_name);
		seed_ns(skel, sd, path, &seen, &n, &cap);
	}
	if (dir)
		closedir(dir);
	err = setns(home, CLONE_NEWNET) ? -errno : 0;
	close(home);
	free(seen);
	free(sd->own);
	sd->own = NULL;
	return err;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * Write the records read so far, in order, each with its placeholder
 * replaced by its cookie; stop at one whose cookie is not known yet,
 * unless it has waited HOLD_NS or @all.
 */
static void flush(struct state *st, bool all)
{
	uint64_t now = 0;	/* read once, when a record waits for it */

	while (st->head < st->tail) {
		struct tcpflow_record *r = &st->q[st->head];

		if (r->conn & TCPFLOW_BPF_CONN_SYNTH) {
			uint64_t *v = idmap_find(&st->ids, r->conn);

			if (!v && !all && !now)
				now = mono_ns();
			if (v)
				r->conn = *v;
			else if (!all && (now < r->ts_ns ||
					  now - r->ts_ns < HOLD_NS))
				break;
			else
				r->conn = TCPFLOW_BPF_CONN_NOCOOKIE |
					  (r->conn & (TCPFLOW_BPF_CONN_NOCOOKIE - 1));
		}
		r->n = st->next++;
		if (st->raw ? fwrite(r, sizeof(*r), 1, st->out) != 1 :
		    write_record(st->out, r) < 0) {
			st->failed = true;
			st->werr = errno;
		}
		st->head++;
	}
	if (st->head == st->tail)
		st->head = st->tail = 0;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct state *st = ctx;
	struct tcpflow_record r;

	if (size < sizeof(r))
		return 0;
	memcpy(&r, data, sizeof(r));
	if (r.event == TCPFLOW_BPF_EV_LINK) {
		if (idmap_put(&st->ids, r.conn, r.dur_ns, mono_ns()))
			st->oom = true;
		flush(st, false);
		return 0;
	}
	if (st->tail == st->cap && st->head) {
		memmove(st->q, st->q + st->head,
			(st->tail - st->head) * sizeof(r));
		st->tail -= st->head;
		st->head = 0;
	}
	if (st->tail == st->cap) {
		size_t cap = st->cap ? 2 * st->cap : 1024;
		void *m = realloc(st->q, cap * sizeof(r));

		if (m) {
			st->q = m;
			st->cap = cap;
		} else {
			/* Write them all now: some ids may suffer. */
			st->oom = true;
			flush(st, true);
			st->head = st->tail = 0;
			if (!st->cap) {
				struct tcpflow_record *q = st->q;

				st->q = &r;
				st->tail = 1;
				flush(st, true);
				st->q = q;
				st->head = st->tail = 0;
				return 0;
			}
		}
	}
	st->q[st->tail++] = r;
	flush(st, false);
	return 0;
}

/* Events the kernel could not hand us: a full ring, a nested program. */
/* The slot in the nest map of a hook that has a twin, or -1. */
static int nest_slot(const char *prog)
{
	static const struct {
		const char *name;
		int slot;
	} twinned[] = {
		{ "tf_state", TCPFLOW_BPF_NEST_STATE },
		{ "tf_timer_start", TCPFLOW_BPF_NEST_TIMER_START },
		{ "tf_timer_cancel", TCPFLOW_BPF_NEST_TIMER_CANCEL },
	};

	for (size_t i = 0; i < sizeof(twinned) / sizeof(twinned[0]); i++)
		if (!strcmp(prog, twinned[i].name))
			return twinned[i].slot;
	return -1;
}

/*
 * A program's runs the kernel skipped (recursion misses) and, for a hook
 * with a twin (its slot >= 0), how many of those the twin took, on all
 * CPUs.  -1 when its info cannot be read.
 */
static int prog_skips(struct tcpflow_bpf *skel, struct bpf_program *prog,
		      int slot, uint64_t *skipped, uint64_t *taken)
{
	int ncpu = libbpf_num_possible_cpus();
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);
	uint32_t key = (uint32_t)slot;
	struct tcpflow_bpf_nest *v;

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
		return -1;
	*skipped = info.recursion_misses;
	*taken = 0;
	if (slot < 0 || ncpu <= 0)
		return 0;
	v = calloc((size_t)ncpu, sizeof(*v));
	if (v && !bpf_map_lookup_elem(bpf_map__fd(skel->maps.nest), &key, v))
		for (int i = 0; i < ncpu; i++)
			*taken += v[i].taken;
	free(v);
	return 0;
}

/*
 * -v: for each hook with a twin, how many of its runs the kernel skipped
 * (nested in itself on a CPU) and how many of those its twin took.
 */
static void say_nesting(struct tcpflow_bpf *skel)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, skel->obj) {
		const char *name = bpf_program__name(prog);
		int slot = nest_slot(name);
		uint64_t skipped, taken;

		if (slot < 0 || prog_skips(skel, prog, slot, &skipped, &taken))
			continue;
		fprintf(stderr, PROG ": %s: %" PRIu64 " runs nested in another "
			"on its CPU, skipped by the kernel; %" PRIu64 " taken by "
			"its twin\n", name, skipped, taken);
	}
}

static uint64_t count_missed(struct tcpflow_bpf *skel)
{
	struct bpf_program *prog;
	uint64_t total = 0;
	int ncpu = libbpf_num_possible_cpus();
	uint32_t zero = 0;

	if (ncpu > 0) {
		uint64_t *v = calloc((size_t)ncpu, sizeof(*v));

		if (v && !bpf_map_lookup_elem(bpf_map__fd(skel->maps.missed),
					      &zero, v))
			for (int i = 0; i < ncpu; i++)
				total += v[i];
		free(v);
	}
	/*
	 * Runs the kernel skipped (recursion misses), less those a twin
	 * took (tcpflow.bpf.c, nest); a twin's own misses are runs its
	 * first did, or ones counted there.
	 */
	bpf_object__for_each_program(prog, skel->obj) {
		const char *name = bpf_program__name(prog);
		uint64_t skipped, taken;

		if (strstr(name, "_twin") ||
		    prog_skips(skel, prog, nest_slot(name), &skipped, &taken))
			continue;
		total += skipped > taken ? skipped - taken : 0;
	}
	return total;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * The spool's binary records, written out as text.  Formatting (a dozen
 * conversions a record) is the dear part of writing one: done here,
 * after tracing, it takes no CPU from the traced workload.  (The records
 * a fast churn lost were the ring buffer's wake-ups, ring_submit() in
 * tcpflow.bpf.c, not the reader's speed.)
 */
static int format_spool(FILE *from, FILE *to)
{
	struct tcpflow_record r;

	rewind(from);
	while (fread(&r, sizeof(r), 1, from) == 1)
		if (write_record(to, &r) < 0)
			return -1;
	return ferror(from) ? -1 : 0;
}

/*
 * What this kernel lacks that tcpflow-bpf cannot do without, said in one
 * line (exit 3).  BTF: the programs are CO-RE and tp_btf.  Linux 5.12
 * (c5dbb89fc2ac "bpf: Expose bpf_get_socket_cookie to tracing
 * programs"): every conn is the socket's cookie, read or set from
 * tracing programs; that helper, bpf_get_socket_ptr_cookie in kallsyms,
 * came with it (5.12 also brought the atomic fetch-and-add the programs
 * use).  Only asked after a load failed, so that a kernel that renamed
 * the helper is not refused.
 */
static const char *kernel_lacks(const struct ksyms *ks, bool load_failed)
{
	if (access("/sys/kernel/btf/vmlinux", F_OK))
		return "BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF)";
	if (load_failed && ks->read && !ks->ptr_cookie)
		return "Linux 5.12 or later (bpf_get_socket_cookie() from "
		       "BTF tracepoint programs)";
	return NULL;
}

static int say_kernel_lacks(const char *what)
{
	struct utsname u;

	if (uname(&u))
		strcpy(u.release, "?");
	fprintf(stderr, PROG ": needs %s; this is Linux %s\n", what,
		u.release);
	return 3;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct state st = { .next = 1 };
	struct seeds sd = { 0 };
	struct tcpflow_bpf *skel = NULL;
	struct ring_buffer *rb = NULL;
	struct sigaction sa;
	struct ksyms ks;
	FILE *out = stdout, *spool = NULL;
	double deadline = 0;
	uint64_t missed;
	int err, ret = 1;

	if (parse_opts(argc, argv, &o))
		return 2;
	/* A closed pipe is EPIPE, a quiet end (below), not a death. */
	signal(SIGPIPE, SIG_IGN);
	if (o.out) {
		out = fopen(o.out, "w");
		if (!out) {
			fprintf(stderr, PROG ": %s: %s\n", o.out,
				strerror(errno));
			return 1;
		}
	}
	libbpf_set_print(o.verbose ? libbpf_print : NULL);

	find_ksyms(&ks);
	if (!ks.tw_timer)
		fprintf(stderr, PROG ": tw_timer_handler not in /proc/kallsyms:"
			" TIME_WAIT's begin, rearm and end will be missing\n");
	else if (!ks.kill_lo)
		fprintf(stderr, PROG ": inet_twsk_deschedule_put not in "
			"/proc/kallsyms: timewait kills will be missing\n");
	if (!ks.req_timer && o.verbose)
		fprintf(stderr, PROG ": reqsk_timer_handler not in "
			"/proc/kallsyms: request socks are seen at their "
			"first SYN-ACK\n");

	if (kernel_lacks(&ks, false)) {
		ret = say_kernel_lacks(kernel_lacks(&ks, false));
		goto out;
	}
	skel = tcpflow_bpf__open();
	if (!skel) {
		fprintf(stderr, PROG ": cannot open the BPF object: %s\n",
			strerror(errno));
		goto out;
	}
	skel->rodata->cfg_segmode = (uint8_t)o.segmode;
	skel->rodata->cfg_has_port = o.port >= 0;
	skel->rodata->cfg_port = o.port >= 0 ? (uint16_t)o.port : 0;
	skel->rodata->cfg_tw_timer_fn = ks.tw_timer;
	skel->rodata->cfg_req_timer_fn = ks.req_timer;
	skel->rodata->cfg_kill_lo = ks.kill_lo;
	skel->rodata->cfg_kill_hi = ks.kill_hi;
	/* Writing at the end: woken when an eighth of the ring is full,
	 * else at the poll's timeout.  -f: at every record. */
	skel->rodata->cfg_wake_bytes = o.follow ? 0 : o.ringbuf / 8;
	err = bpf_map__set_max_entries(skel->maps.events, (uint32_t)o.ringbuf);
	if (!err)
		err = tcpflow_bpf__load(skel);
	if (err && kernel_lacks(&ks, true)) {
		ret = say_kernel_lacks(kernel_lacks(&ks, true));
		goto out;
	}
	if (err) {
		fprintf(stderr, PROG ": cannot load the BPF programs: %s "
			"(root? BTF at /sys/kernel/btf/vmlinux? -v says more)\n",
			strerror(-err));
		goto out;
	}
	err = tcpflow_bpf__attach(skel);
	if (err) {
		fprintf(stderr, PROG ": cannot attach to the tracepoints: %s\n",
			strerror(-err));
		goto out;
	}

	if (o.follow) {
		/* Each record out as it comes, for a reader that draws it. */
		setvbuf(out, NULL, _IOLBF, 0);
		st.out = out;
		if (write_header(out, &o, 1, 0) < 0 || fflush(out)) {
			st.failed = true;
			st.werr = errno;
		}
	} else {
		spool = tmpfile();
		if (!spool) {
			fprintf(stderr, PROG ": tmpfile: %s\n",
				strerror(errno));
			goto out;
		}
		st.out = spool;
		st.raw = true;
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, &st,
			      NULL);
	if (!rb) {
		fprintf(stderr, PROG ": ring buffer: %s\n", strerror(errno));
		goto out;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (o.duration > 0)
		deadline = now_s() + o.duration;
	/*
	 * Attached first, then the sockets already there: none falls
	 * between the two (what the programs saw is kept, NOEXIST).
	 */
	err = seed(skel, &sd);
	if (err) {
		fprintf(stderr, PROG ": cannot go back to our network "
			"namespace: %s\n", strerror(-err));
		goto out;
	}
	if (o.verbose)
		fprintf(stderr, PROG ": %" PRIu64 " sockets already there, in "
			"%d network namespaces (%" PRIu64 " with an owner)\n",
			sd.sockets, sd.namespaces, sd.owned);
	fprintf(stderr, PROG ": tracing, ring buffer %lu bytes, segments=%s\n",
		o.ringbuf, segmode_names[o.segmode]);

	while (!stop && !st.failed) {
		int timeout = 200;

		if (deadline) {
			double left = deadline - now_s();

			if (left <= 0)
				break;
			if (left * 1000 < timeout)
				timeout = (int)(left * 1000) + 1;
		}
		err = ring_buffer__poll(rb, timeout);
		/* Not woken for each record (cfg_wake_bytes): take what
		 * waits at each timeout too, so that records are seen (and
		 * their ids linked) within HOLD_NS of being made. */
		if (!o.follow && err >= 0)
			err = ring_buffer__consume(rb);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, PROG ": ring buffer poll: %s\n",
				strerror(-err));
			goto out;
		}
		flush(&st, false);
		if (o.follow && err >= 0 && fflush(out)) {
			st.failed = true;
			st.werr = errno;
		}
	}
	/* Whatever the programs wrote before we stop listening. */
	tcpflow_bpf__detach(skel);
	ring_buffer__consume(rb);
	flush(&st, true);
	if (st.oom)
		fprintf(stderr, PROG ": out of memory: some request socks' "
			"records may have an id of their own, not their "
			"cookie\n");
	missed = count_missed(skel);
	if (o.verbose)
		say_nesting(skel);

	if (st.failed) {
		;	/* nothing more to write there */
	} else if (o.follow) {
		fprintf(out, "# tcpflow-bpf end next=%" PRIu64 " missed=%"
			PRIu64 "\n", st.next, missed);
	} else if (write_header(out, &o, st.next, missed) < 0 ||
		   (fflush(spool), format_spool(spool, out))) {
		st.failed = true;
		st.werr = errno;
	}
	if (!st.failed && (fflush(out) || ferror(out))) {
		st.failed = true;
		st.werr = errno;
	}
	/*
	 * The reader went away (tcpflow-show ended by Ctrl-C, head):
	 * nothing is wrong, and there is no one to tell.
	 */
	if (st.failed && st.werr == EPIPE) {
		ret = 0;
		goto out;
	}
	if (st.failed) {
		errno = st.werr;
		fprintf(stderr, PROG ": writing %s: %s\n",
			o.out ? o.out : "standard output", strerror(errno));
		goto out;
	}
	if (missed)
		fprintf(stderr, PROG ": %" PRIu64 " events were lost "
			"(ring buffer full? try a larger -b)\n", missed);
	ret = 0;
out:
	free(st.q);
	idmap_free(&st.ids);
	ring_buffer__free(rb);
	tcpflow_bpf__destroy(skel);
	if (spool)
		fclose(spool);
	if (out != stdout && fclose(out) && !ret) {
		fprintf(stderr, PROG ": %s: %s\n", o.out, strerror(errno));
		ret = 1;
	}
	return ret;
}
