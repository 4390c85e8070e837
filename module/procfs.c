// SPDX-License-Identifier: GPL-2.0
/*
 * procfs.c - /proc/tcpflow, the module's face.
 *
 * Records become text only here, at read time.  The file offset is a
 * record number, not a byte count, so a reader that remembers where it
 * stopped resumes there (lseek/pread), and nothing is consumed: every
 * reader sees every record still in the ring.  Offset 0 starts with the
 * header.  The format is described in docs/proc.md and docs/format.md.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/ctype.h>
#include <linux/delay.h>
#include <linux/hash.h>
#include <linux/inet.h>
#include <linux/irq_work.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/mutex.h>
#include <linux/nsproxy.h>
#include <linux/pid_namespace.h>
#include <linux/poll.h>
#include <linux/proc_fs.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>
#include <net/ipv6.h>
#include <net/net_namespace.h>
#include "compat.h"
#include "tcpflow.h"

#define TCPFLOW_LINE_MAX	512
/*
 * A file offset is a record number, or, with TCPFLOW_MIDLINE set, a
 * place inside the line of the record in its low bits: how many bytes of
 * that line were returned sits in the bits above them (see
 * tcpflow_read()).  The offset alone says where a read() goes on.
 */
#define TCPFLOW_MIDLINE		(1LL << 62)
#define TCPFLOW_OFF_SHIFT	53
#define TCPFLOW_POS_MASK	((1LL << TCPFLOW_OFF_SHIFT) - 1)
#define TCPFLOW_WRITE_MAX	4096

static_assert(TCPFLOW_LINE_MAX <= 1 << (62 - TCPFLOW_OFF_SHIFT));

static const char *const event_names[] = TCPFLOW_EVENT_NAMES;
static const char *const sock_names[] = TCPFLOW_SOCK_NAMES;
static const char *const who_names[] = TCPFLOW_WHO_NAMES;
static const char *const why_names[] = TCPFLOW_WHY_NAMES;
static const char *const state_names[] = TCPFLOW_STATE_NAMES;
const char *const tcpflow_segmode_names[TCPFLOW_SEG_MAX] =
	TCPFLOW_SEGMODE_NAMES;

static struct proc_dir_entry *tcpflow_pde;

/* The initial network namespace, as records name it. */
static u32 init_netns, init_net_cookie;

/*
 * Followers sleep in poll(), select() and epoll on one of these queues:
 * readers in the initial network namespace, which see every record, on
 * @all; any other reader on the queue of its namespace's bucket, woken
 * only by records of a namespace in that bucket, so that a follower in a
 * container sleeps through the host's traffic.  Allocated, not static: a
 * poller's entry can outlive the module (see tcpflow_proc_exit()), and
 * then the queues must outlive it too.
 */
#define TCPFLOW_NS_WAIT_BITS	6
#define TCPFLOW_NS_WAITS	(1 << TCPFLOW_NS_WAIT_BITS)

struct tcpflow_waits {
	wait_queue_head_t all;
	wait_queue_head_t ns[TCPFLOW_NS_WAITS];
	DECLARE_BITMAP(pending, TCPFLOW_NS_WAITS);	/* ns[] to wake */
};

static struct tcpflow_waits *tcpflow_waits;

static unsigned int ns_bucket(u32 netns, u32 net_cookie)
{
	return hash_32(netns ^ net_cookie, TCPFLOW_NS_WAIT_BITS);
}

/*
 * Readers are woken from irq_work, not from the probe: a probe may run
 * in any context, and waking a task takes scheduler locks.
 */
static void tcpflow_wake(struct irq_work *work)
{
	struct tcpflow_waits *w = tcpflow_waits;
	unsigned int b;

	wake_up_interruptible_poll(&w->all, EPOLLIN | EPOLLRDNORM);
	for_each_set_bit(b, w->pending, TCPFLOW_NS_WAITS)
		if (test_and_clear_bit(b, w->pending))
			wake_up_interruptible_poll(&w->ns[b],
						   EPOLLIN | EPOLLRDNORM);
}

static DEFINE_IRQ_WORK(tcpflow_wake_work, tcpflow_wake);

/*
 * @r was committed (tcpflow_ring_write() calls this, registered with
 * tcpflow_ring_on_commit()): wake its followers, if any (any context).
 */
static void tcpflow_proc_notify(const struct tcpflow_record *r)
{
	struct tcpflow_waits *w = tcpflow_waits;
	bool wake;

	/*
	 * The barrier pairs with set_current_state() in a sleeper: either
	 * its poll sees the record, or waitqueue_active() sees it queued.
	 */
	smp_mb();
	/* See the barrier above. */
	wake = waitqueue_active(&w->all);
	if (r->netns != init_netns || r->net_cookie != init_net_cookie) {
		unsigned int b = ns_bucket(r->netns, r->net_cookie);

		/* See the barrier above. */
		if (waitqueue_active(&w->ns[b])) {
			set_bit(b, w->pending);
			wake = true;
		}
	}
	if (wake)
		irq_work_queue(&tcpflow_wake_work);
}

static DEFINE_MUTEX(tcpflow_cfg_lock);	/* serialises writers of the cfg */

/* One line of text, as far as a reader has got with it. */
struct tcpflow_line {
	loff_t key;		/* offset the line was read at */
	loff_t next;		/* offset once the line has been returned */
	u64 rec;		/* the record it shows; 0: header, gap */
	unsigned int len;	/* bytes in text[] */
	unsigned int off;	/* bytes of text[] already returned */
	char text[TCPFLOW_LINE_MAX];
};

/*
 * Where the lines of the last read() began, so that a tool that read
 * ahead can give back what it did not use: GNU head prints its lines,
 * then lseek(fd, -bytes_past_the_last, SEEK_CUR).  The offset is a
 * record number, so such a seek is served from here: it must land on the
 * start of a line the last read returned (one of its last
 * TCPFLOW_BACK_MAX), else EINVAL.
 */
#define TCPFLOW_BACK_MAX	128

struct tcpflow_back {
	loff_t end;		/* the offset that read left */
	size_t total;		/* bytes it returned */
	unsigned int n;		/* line starts seen; the last BACK_MAX kept */
	struct {
		loff_t pos;	/* the offset of a line's start */
		size_t at;	/* bytes of the read before it */
	} start[TCPFLOW_BACK_MAX];
};

struct tcpflow_reader {
	struct mutex lock;
	u32 netns;		/* the opener's network namespace: inode */
	u32 net_cookie;		/* and cookie, which is never reused */
	bool all_netns;		/* opener in the initial namespace */
	u32 pidns;		/* the opener's pid namespace (inode) */
	bool all_pids;		/* opener in the initial pid namespace */
	wait_queue_head_t *wait;	/* where its pollers sleep */
	/* Records [clean_from, clean_to) are none of this reader's. */
	loff_t clean_from, clean_to;
	struct tcpflow_line cur;	/* the last line a read stopped inside */
	struct tcpflow_line other;	/* a line read from its start */
	struct tcpflow_record rec;
	struct tcpflow_back back;	/* the last read's line starts */
};

static void back_note(struct tcpflow_back *b, loff_t pos, size_t at)
{
	unsigned int i = b->n++ % TCPFLOW_BACK_MAX;

	b->start[i].pos = pos;
	b->start[i].at = at;
}

/* The offset @bytes before the end of the last read, if a line began there. */
static loff_t back_find(const struct tcpflow_back *b, loff_t from, u64 bytes)
{
	unsigned int i, kept = min_t(unsigned int, b->n, TCPFLOW_BACK_MAX);

	if (from != b->end || bytes > b->total)
		return -1;
	for (i = 0; i < kept; i++)
		if (b->start[i].at == b->total - bytes)
			return b->start[i].pos;
	return -1;
}

static const char *name_of(const char *const *names, size_t n, unsigned int i)
{
	return i < n ? names[i] : "?";
}

#define NAME(tbl, i) name_of(tbl, ARRAY_SIZE(tbl), i)

static void print_addr(char *buf, size_t size, const u8 *a, u8 af)
{
	if (af == 6)
		snprintf(buf, size, "%pI6c", a);
	else
		snprintf(buf, size, "%pI4", a);
}

static void print_flags(char *buf, const struct tcpflow_record *r)
{
	static const u8 bits[] = TCPFLOW_FLAG_BITS;
	static const char letters[] = TCPFLOW_FLAG_LETTERS;
	int i, n = 0;

	for (i = 0; i < ARRAY_SIZE(bits); i++)
		if (r->flags & bits[i])
			buf[n++] = letters[i];
	if (!n)
		n = strscpy(buf, "none", 5);
	buf[n] = '\0';
}

/* comm is any 15 bytes: keep the line splittable on spaces and '='. */
static void print_comm(char *buf, const char *comm)
{
	int i, n = 0;

	for (i = 0; i < TCPFLOW_COMM_LEN && comm[i]; i++) {
		unsigned char c = comm[i];

		if (c > ' ' && c <= '~' && c != '=' && c != '\\')
			buf[n++] = c;
		else
			n += sprintf(buf + n, "\\x%02x", c);
	}
	/* "-" means "no process": a task really named "-" is escaped. */
	if (n == 1 && buf[0] == '-')
		n = sprintf(buf, "\\x2d");
	if (!n)
		buf[n++] = '-';
	buf[n] = '\0';
}

static void print_u(char *buf, size_t size, bool present, u64 v)
{
	if (present)
		snprintf(buf, size, "%llu", v);
	else
		strscpy(buf, "-", size);
}

/*
 * The process as the reader's pid namespace numbers it: the initial
 * namespace sees every pid as recorded; any other sees the pid a process
 * of its own has in it, and nothing of a process outside it.
 */
static bool pid_for_reader(const struct tcpflow_reader *rd,
			   const struct tcpflow_record *r, u32 *pid)
{
	if (r->who == TCPFLOW_WHO_NONE)
		return false;
	if (rd->all_pids) {
		*pid = r->pid;
		return true;
	}
	if (r->pidns != rd->pidns)
		return false;
	*pid = r->vpid;
	return true;
}

static unsigned int format_record(const struct tcpflow_reader *rd, char *out,
				  size_t size, const struct tcpflow_record *r)
{
	char la[48], ra[48], flags[9], seq[12], ack[12], win[8], len[12];
	char pid[12], comm[TCPFLOW_COMM_LEN * 4 + 1], dur[24];
	char opts[TCPFLOW_OPTS_TEXT];
	bool seg = r->event != TCPFLOW_EV_STATE;
	bool tw_end = !seg && r->sock == TCPFLOW_SK_TW &&
		      r->old_state == TCP_TIME_WAIT && r->new_state == TCP_CLOSE;
	bool known;
	u32 p = 0;

	print_addr(la, sizeof(la), r->laddr, r->af);
	print_addr(ra, sizeof(ra), r->raddr, r->af);
	if (seg)
		print_flags(flags, r);
	else
		strscpy(flags, "-", sizeof(flags));
	print_u(seq, sizeof(seq), seg, r->seq);
	print_u(ack, sizeof(ack), seg, r->ack);
	print_u(win, sizeof(win), seg, r->win);
	print_u(len, sizeof(len), seg, r->len);
	known = pid_for_reader(rd, r, &p);
	print_u(pid, sizeof(pid), known, p);
	if (known)
		print_comm(comm, r->comm);
	else
		strscpy(comm, "-", sizeof(comm));
	print_u(dur, sizeof(dur), tw_end, r->dur_ns);
	tcpflow_opts_text(opts, r);

	return scnprintf(out, size,
			 "n=%llu ts=%llu cpu=%u netns=%u conn=%llu ev=%s sock=%s af=%u laddr=%s lport=%u raddr=%s rport=%u old=%s new=%s state=%s flags=%s seq=%s ack=%s win=%s len=%s pid=%s comm=%s who=%s why=%s dur=%s opts=%s\n",
			 r->n, r->ts_ns, r->cpu, r->netns, r->conn,
			 NAME(event_names, r->event), NAME(sock_names, r->sock),
			 r->af, la, r->lport, ra, r->rport,
			 seg ? "-" : NAME(state_names, r->old_state),
			 seg ? "-" : NAME(state_names, r->new_state),
			 seg ? NAME(state_names, r->new_state) : "-",
			 flags, seq, ack, win, len, pid, comm,
			 NAME(who_names, known ? r->who : TCPFLOW_WHO_NONE),
			 NAME(why_names, r->why), dur, opts);
}

/*
 * A reader outside the initial network namespace is told only what is
 * its own: where records are (first, next: its offsets), the segment mode
 * (what its records can hold), and nothing of the host's filters or of
 * the host's losses ("-").
 */
static unsigned int format_header(const struct tcpflow_reader *rd, char *out,
				  size_t size)
{
	const struct tcpflow_cfg *cfg;
	struct tcpflow_ring_stats st;
	char port[8] = "-", addr[48] = "-", netns[12] = "-";
	char lost[24] = "-", missed[24] = "-";
	u8 mode;

	tcpflow_ring_stats(&st);
	rcu_read_lock();
	cfg = rcu_dereference(tcpflow_cfg);
	mode = cfg->segmode;
	if (rd->all_netns) {
		if (cfg->has_port)
			snprintf(port, sizeof(port), "%u", cfg->port);
		if (cfg->has_addr)
			print_addr(addr, sizeof(addr), cfg->addr,
				   cfg->addr_af);
		if (cfg->has_netns)
			snprintf(netns, sizeof(netns), "%u", cfg->netns);
	}
	rcu_read_unlock();
	if (rd->all_netns) {
		snprintf(lost, sizeof(lost), "%llu", st.overwritten);
		snprintf(missed, sizeof(missed), "%lu", st.missed);
	}

	/*
	 * epoch_offset: CLOCK_REALTIME - CLOCK_MONOTONIC now, so that a
	 * reader turns a record's ts into the time of day (format 1.1).
	 */
	return scnprintf(out, size,
			 "# tcpflow %d.%d capacity=%llu first=%llu next=%llu overwritten=%s missed=%s segments=%s port=%s addr=%s netns=%s epoch_offset=%lld\n",
			 TCPFLOW_FMT_MAJOR, TCPFLOW_FMT_MINOR, st.capacity,
			 st.first, st.next, lost, missed,
			 tcpflow_segmode_names[mode], port, addr, netns,
			 (long long)(ktime_get_real_ns() - ktime_get_ns()));
}

static bool own_record(const struct tcpflow_reader *rd,
		       const struct tcpflow_record *r)
{
	return rd->all_netns || (r->netns == rd->netns &&
				 r->net_cookie == rd->net_cookie);
}

/*
 * Put the line for offset @pos into @ln; ln->next is the offset that
 * follows it.  Returns false when there is nothing (yet) to read there;
 * *@scanned is then where the next line can be, past records of other
 * namespaces that were skipped, or @pos.  Gives up (false) on a fatal
 * signal: a scan can go over the whole ring.
 */
static bool fill_line(struct tcpflow_reader *rd, struct tcpflow_line *ln,
		      loff_t pos, loff_t *scanned)
{
	struct tcpflow_ring_stats st;
	unsigned int skipped = 0;

	ln->key = pos;
	ln->rec = 0;
	*scanned = pos;
	for (;;) {
		tcpflow_ring_stats(&st);
		if (pos == 0) {
			ln->len = format_header(rd, ln->text,
						sizeof(ln->text));
			ln->next = st.first;
			return true;
		}
		if (pos < st.first) {
			ln->len = scnprintf(ln->text, sizeof(ln->text),
					    "# gap from=%llu to=%llu\n",
					    (u64)pos, st.first);
			ln->next = st.first;
			return true;
		}
		/* What the reader knew nothing of is known clean. */
		if (pos >= rd->clean_from && pos < rd->clean_to)
			pos = min_t(loff_t, rd->clean_to, st.next);
		*scanned = pos;
		if (pos >= st.next)
			return false;
		switch (tcpflow_fetch(pos, &rd->rec)) {
		case TCPFLOW_FETCH_NOTYET:
			return false;
		case TCPFLOW_FETCH_GONE:
			tcpflow_ring_stats(&st);
			if (pos < st.first)
				continue;	/* the gap line above */
			/* Its writer was lapped and gave it up (ring.c). */
			ln->len = scnprintf(ln->text, sizeof(ln->text),
					    "# gap from=%llu to=%llu\n",
					    (u64)pos, (u64)pos + 1);
			ln->next = pos + 1;
			return true;
		case TCPFLOW_FETCH_OK:
			break;
		}
		pos++;
		if (own_record(rd, &rd->rec)) {
			ln->len = format_record(rd, ln->text,
						sizeof(ln->text), &rd->rec);
			ln->next = pos;
			ln->rec = pos - 1;
			return true;
		}
		*scanned = pos;
		if (!(++skipped % 1024)) {
			if (fatal_signal_pending(current))
				return false;
			cond_resched();
		}
	}
}

/*
 * The line @pos names when it has TCPFLOW_MIDLINE: the one the last
 * read stopped inside, if it is still held, else made again from the
 * ring.  If the ring lost that record meanwhile, the part already
 * returned is ended with a newline and the reader goes on from there (a
 * gap line); a record that never was is nothing to read (NULL).
 */
static struct tcpflow_line *resume_line(struct tcpflow_reader *rd,
					loff_t pos)
{
	struct tcpflow_line *ln = &rd->other;
	loff_t n = pos & TCPFLOW_POS_MASK, scanned;
	unsigned int off = (pos & ~TCPFLOW_MIDLINE) >> TCPFLOW_OFF_SHIFT;
	struct tcpflow_ring_stats st;

	if (rd->cur.key == n && rd->cur.off == off && off < rd->cur.len)
		return &rd->cur;
	tcpflow_ring_stats(&st);
	if (n >= st.next)
		return NULL;
	if (fill_line(rd, ln, n, &scanned) && (n ? ln->rec == n : !ln->rec)) {
		if (off < ln->len) {
			ln->off = off;
			return ln;
		}
		/* A header made again shorter: it is done with. */
		ln->key = n;
		ln->len = ln->off = 0;
		return ln;
	}
	ln->key = n;
	ln->rec = 0;
	ln->len = strscpy(ln->text, "\n", sizeof(ln->text));
	ln->off = 0;
	ln->next = n;
	return ln;
}

static ssize_t tcpflow_read(struct file *file, char __user *buf,
			    size_t count, loff_t *ppos)
{
	struct tcpflow_reader *rd = file->private_data;
	struct tcpflow_line *ln;
	size_t copied = 0;
	loff_t pos, scanned;
	ssize_t ret = 0;

	if (*ppos < 0)
		return -EINVAL;
	if (mutex_lock_interruptible(&rd->lock))
		return -ERESTARTSYS;
	/*
	 * A read that stops inside a line leaves an offset that says which
	 * line and how much of it was returned (TCPFLOW_MIDLINE), so a
	 * read() goes on from there (the VFS keeps the offset) whatever
	 * pread()s came in between: those start at a record number, a line
	 * from its start.
	 */
	pos = *ppos;
	rd->back.n = 0;
	if (pos & TCPFLOW_MIDLINE) {
		ln = resume_line(rd, pos);
		if (!ln) {
			mutex_unlock(&rd->lock);
			return 0;
		}
		pos = ln->len ? ln->key : ln->next;
	} else {
		ln = &rd->other;
		ln->len = ln->off = 0;
		back_note(&rd->back, pos, 0);
	}
	while (copied < count) {
		size_t n;

		if (ln->off == ln->len) {
			ln->off = ln->len = 0;
			if (fatal_signal_pending(current))
				break;
			cond_resched();
			if (!fill_line(rd, ln, pos, &scanned)) {
				/* Past other namespaces' records. */
				pos = scanned;
				break;
			}
		}
		n = min_t(size_t, count - copied, ln->len - ln->off);
		if (copy_to_user(buf + copied, ln->text + ln->off, n)) {
			ret = -EFAULT;
			break;
		}
		ln->off += n;
		copied += n;
		if (ln->off == ln->len) {
			pos = ln->next;
			ln->off = ln->len = 0;
			back_note(&rd->back, pos, copied);
		}
	}
	if (ln->off < ln->len) {
		/* Stopped inside a line: keep it for a read() at the mark. */
		if (ln != &rd->cur)
			rd->cur = *ln;
		*ppos = ln->key | TCPFLOW_MIDLINE |
			(loff_t)ln->off << TCPFLOW_OFF_SHIFT;
	} else {
		*ppos = pos;
	}
	rd->back.end = *ppos;
	rd->back.total = copied;
	mutex_unlock(&rd->lock);
	return copied ? copied : ret;
}

static loff_t tcpflow_lseek(struct file *file, loff_t off, int whence)
{
	struct tcpflow_reader *rd = file->private_data;
	struct tcpflow_ring_stats st;
	loff_t at;

	mutex_lock(&rd->lock);
	switch (whence) {
	case SEEK_SET:
		break;
	case SEEK_CUR:
		/* Back by bytes: into what the last read returned. */
		if (off < 0) {
			off = back_find(&rd->back, file->f_pos, 0 - (u64)off);
			break;
		}
		/* Inside a line: from its record, the line afresh. */
		at = file->f_pos;
		if (at & TCPFLOW_MIDLINE)
			at &= TCPFLOW_POS_MASK;
		off += at;
		break;
	case SEEK_END:
		tcpflow_ring_stats(&st);
		off += st.next;
		break;
	default:
		off = -1;
	}
	if (off >= 0)
		file->f_pos = off;
	mutex_unlock(&rd->lock);
	return off < 0 ? -EINVAL : off;
}

/*
 * Readable exactly when read() would return something: a line under way,
 * or a line at or past the offset (a record of the reader's own, a gap,
 * the header).  A reader outside the initial namespace remembers how far
 * it found none of its own records, so that it scans them only once.
 */
static __poll_t tcpflow_poll(struct file *file, poll_table *wait)
{
	struct tcpflow_reader *rd = file->private_data;
	loff_t pos, scanned;
	__poll_t mask = 0;

	poll_wait(file, rd->wait, wait);
	mutex_lock(&rd->lock);
	pos = file->f_pos;
	if (pos & TCPFLOW_MIDLINE) {
		struct tcpflow_ring_stats st;

		tcpflow_ring_stats(&st);
		if ((pos & TCPFLOW_POS_MASK) < st.next)
			mask = EPOLLIN | EPOLLRDNORM;
	} else if (fill_line(rd, &rd->other, pos, &scanned)) {
		mask = EPOLLIN | EPOLLRDNORM;
	} else if (scanned > pos) {
		rd->clean_from = pos;
		rd->clean_to = scanned;
	}
	mutex_unlock(&rd->lock);
	return mask;
}

/*
 * The configuration (clear, segments, filters) is the host's: only a
 * process with CAP_NET_ADMIN in the initial user namespace, itself in the
 * initial network namespace, may change it.  Root in a container is
 * neither.  The opener must be such a process (file_ns_capable(): the
 * credentials the file was opened with), checked at open for writing, and
 * so must the writer, at each write: a descriptor handed to a process
 * that dropped the capability, or to a container, writes nothing.
 */
static bool may_configure(const struct file *file,
			  const struct tcpflow_reader *rd)
{
	return rd->all_netns &&
	       file_ns_capable(file, &init_user_ns, CAP_NET_ADMIN);
}

static bool writer_may_configure(const struct file *file)
{
	return may_configure(file, file->private_data) &&
	       capable(CAP_NET_ADMIN) &&
	       net_eq(current->nsproxy->net_ns, &init_net);
}

/* The namespaces a reader is in decide what it is shown (see above). */
static int tcpflow_open(struct inode *inode, struct file *file)
{
	struct net *net = current->nsproxy->net_ns;
	struct pid_namespace *pidns = task_active_pid_ns(current);
	struct tcpflow_reader *rd;

	rd = kzalloc(sizeof(*rd), GFP_KERNEL);
	if (!rd)
		return -ENOMEM;
	mutex_init(&rd->lock);
	rd->netns = net->ns.inum;
	rd->net_cookie = (u32)tcpflow_net_cookie(net);
	rd->all_netns = net_eq(net, &init_net);
	rd->pidns = pidns->ns.inum;
	rd->all_pids = pidns == &init_pid_ns;
	rd->wait = rd->all_netns ? &tcpflow_waits->all :
		&tcpflow_waits->ns[ns_bucket(rd->netns, rd->net_cookie)];
	if ((file->f_mode & FMODE_WRITE) && !may_configure(file, rd)) {
		kfree(rd);
		return -EPERM;
	}
	file->private_data = rd;
	return 0;
}

static int tcpflow_release(struct inode *inode, struct file *file)
{
	kfree(file->private_data);
	return 0;
}

int tcpflow_parse_segmode(const char *s, u8 *mode)
{
	int i = match_string(tcpflow_segmode_names, TCPFLOW_SEG_MAX, s);

	if (i < 0)
		return -EINVAL;
	*mode = i;
	return 0;
}

/*
 * An IPv4 octet with a leading zero ("192.0.02.1"): inet_pton() refuses
 * it (inet_aton() reads it as octal), in4_pton() and in6_pton() take it
 * as decimal.  Refuse it rather than guess.
 */
static bool octet_leading_zero(const char *s)
{
	const char *seg = s, *p;

	for (p = s; ; p++) {
		if (*p != '.' && *p != ':' && *p)
			continue;
		if ((*p == '.' || (seg > s && seg[-1] == '.')) &&
		    p - seg > 1 && *seg == '0')
			return true;
		if (!*p)
			return false;
		seg = p + 1;
	}
}

static int parse_addr(const char *s, struct tcpflow_cfg *cfg)
{
	struct in6_addr a6;

	if (octet_leading_zero(s))
		return -EINVAL;
	if (in4_pton(s, -1, cfg->addr, '\0', NULL)) {
		cfg->addr_af = 4;
		return 0;
	}
	if (!in6_pton(s, -1, (u8 *)&a6, '\0', NULL))
		return -EINVAL;
	if (ipv6_addr_v4mapped(&a6)) {
		memcpy(cfg->addr, &a6.s6_addr32[3], 4);
		cfg->addr_af = 4;
	} else {
		memcpy(cfg->addr, &a6, 16);
		cfg->addr_af = 6;
	}
	return 0;
}

/*
 * netns=INUM names the namespace that has that inode number now; the
 * filter keeps to it by its cookie too, so a namespace made later that
 * gets the same number (they are reused) is not taken for it.
 */
static int netns_by_inum(u32 inum, struct tcpflow_cfg *cfg)
{
	struct net *net;
	int err = -EINVAL;

	down_read(&net_rwsem);
	for_each_net(net) {
		if (net->ns.inum == inum) {
			cfg->netns = inum;
			cfg->net_cookie = (u32)tcpflow_net_cookie(net);
			err = 0;
			break;
		}
	}
	up_read(&net_rwsem);
	return err;
}

/* Apply one command line to @cfg; *clear is set for "clear". */
static int apply_command(char *cmd, struct tcpflow_cfg *cfg, bool *clear)
{
	char *val = strchr(cmd, '=');
	bool off;
	u32 v;

	if (!strcmp(cmd, "clear")) {
		*clear = true;
		return 0;
	}
	if (!val)
		return -EINVAL;
	*val++ = '\0';
	off = !strcmp(val, "-");
	if (!strcmp(cmd, "segments"))
		return tcpflow_parse_segmode(val, &cfg->segmode);
	if (!strcmp(cmd, "filter")) {
		if (!off)
			return -EINVAL;
		cfg->has_port = cfg->has_addr = cfg->has_netns = false;
		return 0;
	}
	if (!strcmp(cmd, "port")) {
		cfg->has_port = !off;
		if (off)
			return 0;
		if (kstrtou32(val, 10, &v) || !v || v > 65535)
			return -EINVAL;
		cfg->port = v;
		return 0;
	}
	if (!strcmp(cmd, "netns")) {
		cfg->has_netns = !off;
		if (off)
			return 0;
		if (kstrtou32(val, 10, &v) || !v)
			return -EINVAL;
		return netns_by_inum(v, cfg);
	}
	if (!strcmp(cmd, "addr")) {
		cfg->has_addr = !off;
		return off ? 0 : parse_addr(val, cfg);
	}
	return -EINVAL;
}

/*
 * Commands are ASCII, and a NUL is part of none: such a write is refused
 * whole.  The check matters for blanks too: the kernel's isspace() is
 * Latin-1 (lib/ctype.c) and takes 0xa0, the no-break space, for one, so
 * strim() alone would read "netns=-\xa0" as "netns=-".
 */
static bool write_is_ascii(const char *buf, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (!buf[i] || (u8)buf[i] >= 0x80)
			return false;
	return true;
}

/*
 * Every line of a write must be a valid command, or nothing is applied:
 * a typo never leaves half a configuration behind.
 */
static ssize_t tcpflow_write(struct file *file, const char __user *ubuf,
			     size_t count, loff_t *ppos)
{
	struct tcpflow_cfg *cfg, *old;
	char *buf, *p, *line;
	bool clear = false;
	int err = 0;

	if (!writer_may_configure(file))
		return -EPERM;
	if (!count || count > TCPFLOW_WRITE_MAX)
		return -EINVAL;
	buf = memdup_user_nul(ubuf, count);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	if (!write_is_ascii(buf, count)) {
		kfree(buf);
		return -EINVAL;
	}
	cfg = kmalloc(sizeof(*cfg), GFP_KERNEL);
	if (!cfg) {
		kfree(buf);
		return -ENOMEM;
	}

	mutex_lock(&tcpflow_cfg_lock);
	old = rcu_dereference_protected(tcpflow_cfg,
					lockdep_is_held(&tcpflow_cfg_lock));
	*cfg = *old;
	p = buf;
	while ((line = strsep(&p, "\n")) != NULL) {
		line = strim(line);
		if (!*line)
			continue;
		err = apply_command(line, cfg, &clear);
		if (err)
			break;
	}
	if (!err && clear)
		tcpflow_ring_clear();
	if (!err) {
		rcu_assign_pointer(tcpflow_cfg, cfg);
		kfree_rcu(old, rcu);
	}
	mutex_unlock(&tcpflow_cfg_lock);

	if (err)
		kfree(cfg);
	kfree(buf);
	return err ? err : count;
}

static const struct proc_ops tcpflow_proc_ops = {
	.proc_open	= tcpflow_open,
	.proc_read	= tcpflow_read,
	.proc_write	= tcpflow_write,
	.proc_lseek	= tcpflow_lseek,
	.proc_poll	= tcpflow_poll,
	.proc_release	= tcpflow_release,
};

int tcpflow_proc_init(void)
{
	unsigned int i;

	init_netns = init_net.ns.inum;
	init_net_cookie = (u32)tcpflow_net_cookie(&init_net);
	tcpflow_waits = kzalloc(sizeof(*tcpflow_waits), GFP_KERNEL);
	if (!tcpflow_waits)
		return -ENOMEM;
	init_waitqueue_head(&tcpflow_waits->all);
	for (i = 0; i < TCPFLOW_NS_WAITS; i++)
		init_waitqueue_head(&tcpflow_waits->ns[i]);
	/*
	 * 0600: sequence numbers of other users' connections are secrets,
	 * and only root of the host may write (may_configure()).
	 */
	tcpflow_pde = proc_create("tcpflow", 0600, NULL, &tcpflow_proc_ops);
	if (!tcpflow_pde) {
		kfree(tcpflow_waits);
		return -ENOMEM;
	}
	tcpflow_ring_on_commit(tcpflow_proc_notify);
	return 0;
}

static bool tcpflow_wait_empty(wait_queue_head_t *wq)
{
	bool empty;

	/* Under the lock: a poller that unhooked has also dropped it. */
	spin_lock_irq(&wq->lock);
	empty = list_empty(&wq->head);
	spin_unlock_irq(&wq->lock);
	return empty;
}

static bool tcpflow_waits_empty(void)
{
	unsigned int i;

	for (i = 0; i < TCPFLOW_NS_WAITS; i++)
		if (!tcpflow_wait_empty(&tcpflow_waits->ns[i]))
			return false;
	return tcpflow_wait_empty(&tcpflow_waits->all);
}

static void tcpflow_wake_free(wait_queue_head_t *wq)
{
	__wake_up(wq, TASK_NORMAL, 0,
		  poll_to_key(EPOLLIN | EPOLLRDNORM | EPOLLHUP | POLLFREE));
}

/*
 * Waits for running reads, writes and polls; open files get -EIO
 * afterwards.  Called with no probe left to notify.
 *
 * Pollers can still be queued on tcpflow_waits after proc_remove():
 * poll() and select() sleep outside ->proc_poll, and epoll keeps its
 * entry until the epoll set or our file is closed, both of which may
 * come after rmmod.  So: wake them all with POLLFREE, which makes epoll
 * (and aio, io_uring) unhook at once and wakes poll() and select(),
 * which unhook as they return (procfs answers their next poll for us);
 * wait for that, RCU-delayed as epoll needs; then free the queues.  A
 * poller that does not leave in time (a frozen task) keeps the queues:
 * they are leaked, never freed under it.
 */
void tcpflow_proc_exit(void)
{
	unsigned long deadline = jiffies + 10 * HZ;
	unsigned int i;

	tcpflow_ring_on_commit(NULL);	/* no writer left: hooks went first */
	proc_remove(tcpflow_pde);
	irq_work_sync(&tcpflow_wake_work);
	tcpflow_wake_free(&tcpflow_waits->all);
	for (i = 0; i < TCPFLOW_NS_WAITS; i++)
		tcpflow_wake_free(&tcpflow_waits->ns[i]);
	synchronize_rcu();
	while (!tcpflow_waits_empty()) {
		if (time_after(jiffies, deadline)) {
			pr_warn("a process still polls /proc/tcpflow: its wait queues (%zu bytes) are left allocated\n",
				sizeof(*tcpflow_waits));
			tcpflow_waits = NULL;
			return;
		}
		msleep(20);
	}
	kfree(tcpflow_waits);
	tcpflow_waits = NULL;
}
