// SPDX-License-Identifier: GPL-2.0
/*
 * procfs.c - /proc/tcpflow, the module's face.
 *
 * Records become text only here, at read time.  The file offset is a
 * record number, not a byte count, so a reader that remembers where it
 * stopped resumes there (lseek/pread), and nothing is consumed: every
 * reader sees every record still in the ring.  Offset 0 starts with the
 * header.  The format is described in README.md and docs/format.md.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/ctype.h>
#include <linux/delay.h>
#include <linux/inet.h>
#include <linux/irq_work.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/mutex.h>
#include <linux/nsproxy.h>
#include <linux/poll.h>
#include <linux/proc_fs.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <net/ipv6.h>
#include <net/net_namespace.h>
#include "tcpflow.h"

#define TCPFLOW_LINE_MAX	512
/* In a file offset: "inside this record's line" (see tcpflow_read()). */
#define TCPFLOW_MIDLINE		(1LL << 62)
#define TCPFLOW_WRITE_MAX	4096

static const char *const event_names[] = TCPFLOW_EVENT_NAMES;
static const char *const sock_names[] = TCPFLOW_SOCK_NAMES;
static const char *const who_names[] = TCPFLOW_WHO_NAMES;
static const char *const why_names[] = TCPFLOW_WHY_NAMES;
static const char *const state_names[] = TCPFLOW_STATE_NAMES;
const char *const tcpflow_segmode_names[TCPFLOW_SEG_MAX] =
	TCPFLOW_SEGMODE_NAMES;

static struct proc_dir_entry *tcpflow_pde;

/*
 * Followers sleep on this queue in poll(), select() and epoll.  It is
 * allocated, not static: a poller's entry can outlive the module (see
 * tcpflow_proc_exit()), and then the queue must outlive it too.
 */
static wait_queue_head_t *tcpflow_wait;

/*
 * Readers are woken from irq_work, not from the probe: a probe may run
 * in any context, and waking a task takes scheduler locks.
 */
static void tcpflow_wake(struct irq_work *work)
{
	wake_up_interruptible_poll(tcpflow_wait, EPOLLIN | EPOLLRDNORM);
}

static struct irq_work tcpflow_wake_work = IRQ_WORK_INIT(tcpflow_wake);

/* A record was committed: wake the followers, if any (any context). */
void tcpflow_proc_notify(void)
{
	if (wq_has_sleeper(tcpflow_wait))
		irq_work_queue(&tcpflow_wake_work);
}

static DEFINE_MUTEX(tcpflow_cfg_lock);	/* serialises writers of the cfg */

/* One line of text, as far as a reader has got with it. */
struct tcpflow_line {
	loff_t key;		/* offset the line was read at */
	loff_t next;		/* offset once the line has been returned */
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
	u32 netns;		/* the opener's network namespace */
	bool all_netns;		/* opener in the initial namespace */
	struct tcpflow_line cur;	/* the line a read() stopped inside */
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

static unsigned int format_record(char *out, size_t size,
				  const struct tcpflow_record *r)
{
	char la[48], ra[48], flags[9], seq[12], ack[12], win[8], len[12];
	char pid[12], comm[TCPFLOW_COMM_LEN * 4 + 1], dur[24];
	bool seg = r->event != TCPFLOW_EV_STATE;
	bool tw_end = !seg && r->sock == TCPFLOW_SK_TW &&
		      r->old_state == TCP_TIME_WAIT && r->new_state == TCP_CLOSE;

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
	print_u(pid, sizeof(pid), r->who != TCPFLOW_WHO_NONE, r->pid);
	if (r->who != TCPFLOW_WHO_NONE)
		print_comm(comm, r->comm);
	else
		strscpy(comm, "-", sizeof(comm));
	print_u(dur, sizeof(dur), tw_end, r->dur_ns);

	return scnprintf(out, size,
			 "n=%llu ts=%llu cpu=%u netns=%u conn=%llu ev=%s sock=%s af=%u laddr=%s lport=%u raddr=%s rport=%u old=%s new=%s state=%s flags=%s seq=%s ack=%s win=%s len=%s pid=%s comm=%s who=%s why=%s dur=%s\n",
			 r->n, r->ts_ns, r->cpu, r->netns, r->conn,
			 NAME(event_names, r->event), NAME(sock_names, r->sock),
			 r->af, la, r->lport, ra, r->rport,
			 seg ? "-" : NAME(state_names, r->old_state),
			 seg ? "-" : NAME(state_names, r->new_state),
			 seg ? NAME(state_names, r->new_state) : "-",
			 flags, seq, ack, win, len, pid, comm,
			 NAME(who_names, r->who), NAME(why_names, r->why), dur);
}

static unsigned int format_header(char *out, size_t size)
{
	const struct tcpflow_cfg *cfg;
	struct tcpflow_ring_stats st;
	char port[8] = "-", addr[48] = "-", netns[12] = "-";
	u8 mode;

	tcpflow_ring_stats(&st);
	rcu_read_lock();
	cfg = rcu_dereference(tcpflow_cfg);
	mode = cfg->segmode;
	if (cfg->has_port)
		snprintf(port, sizeof(port), "%u", cfg->port);
	if (cfg->has_addr)
		print_addr(addr, sizeof(addr), cfg->addr, cfg->addr_af);
	if (cfg->has_netns)
		snprintf(netns, sizeof(netns), "%u", cfg->netns);
	rcu_read_unlock();

	return scnprintf(out, size,
			 "# tcpflow %d.%d capacity=%llu first=%llu next=%llu overwritten=%llu missed=%lu segments=%s port=%s addr=%s netns=%s\n",
			 TCPFLOW_FMT_MAJOR, TCPFLOW_FMT_MINOR, st.capacity,
			 st.first, st.next, st.overwritten,
			 tcpflow_hooks_missed(), tcpflow_segmode_names[mode],
			 port, addr, netns);
}

/*
 * Put the line for offset @pos into @ln; ln->next is the offset that
 * follows it.  Returns false when there is nothing (yet) to read there.
 */
static bool fill_line(struct tcpflow_reader *rd, struct tcpflow_line *ln,
		      loff_t pos)
{
	struct tcpflow_ring_stats st;
	unsigned int skipped = 0;

	ln->key = pos;
	for (;;) {
		tcpflow_ring_stats(&st);
		if (pos == 0) {
			ln->len = format_header(ln->text, sizeof(ln->text));
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
		if (pos >= st.next)
			return false;
		switch (tcpflow_fetch(pos, &rd->rec)) {
		case TCPFLOW_FETCH_NOTYET:
			return false;
		case TCPFLOW_FETCH_GONE:
			continue;	/* the stats now say where to go on */
		case TCPFLOW_FETCH_OK:
			break;
		}
		pos++;
		if (rd->all_netns || rd->rec.netns == rd->netns) {
			ln->len = format_record(ln->text, sizeof(ln->text),
						&rd->rec);
			ln->next = pos;
			return true;
		}
		if (!(++skipped % 1024))
			cond_resched();
	}
}

/* Is @pos the mark a short read() left inside a line we still hold? */
static bool midline(const struct tcpflow_reader *rd, loff_t pos)
{
	return (pos & TCPFLOW_MIDLINE) && rd->cur.off < rd->cur.len &&
	       rd->cur.key == (pos & ~TCPFLOW_MIDLINE);
}

static ssize_t tcpflow_read(struct file *file, char __user *buf,
			    size_t count, loff_t *ppos)
{
	struct tcpflow_reader *rd = file->private_data;
	struct tcpflow_line *ln;
	size_t copied = 0;
	loff_t pos;
	ssize_t ret = 0;

	if (*ppos < 0)
		return -EINVAL;
	if (mutex_lock_interruptible(&rd->lock))
		return -ERESTARTSYS;
	/*
	 * A read that stops inside record N's line leaves the offset at N
	 * with TCPFLOW_MIDLINE set, and the rest of the line in rd->cur: a
	 * read() goes on from there (the VFS keeps the offset), while a
	 * pread() at N (no mark) starts the line afresh and leaves rd->cur
	 * alone.  An offset with the mark but no such rest is just a number.
	 */
	pos = *ppos;
	rd->back.n = 0;
	if (midline(rd, pos)) {
		ln = &rd->cur;
		pos &= ~TCPFLOW_MIDLINE;
	} else {
		ln = &rd->other;
		ln->len = ln->off = 0;
		back_note(&rd->back, pos, 0);
	}
	while (copied < count) {
		size_t n;

		if (ln->off == ln->len) {
			ln->off = ln->len = 0;
			if (!fill_line(rd, ln, pos))
				break;
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
	if (ln->off < ln->len && (ln == &rd->cur || !rd->cur.len)) {
		/* Stopped inside a line: keep its rest for a read() at the mark. */
		rd->cur = *ln;
		*ppos = ln->key | TCPFLOW_MIDLINE;
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
		/* Inside a line: from its record. */
		off += midline(rd, file->f_pos) ?
			file->f_pos & ~TCPFLOW_MIDLINE : file->f_pos;
		break;
	case SEEK_END:
		tcpflow_ring_stats(&st);
		off += st.next;
		break;
	default:
		off = -1;
	}
	if (off >= 0) {
		/* A seek, even to where we are, starts the line at off afresh. */
		rd->cur.len = rd->cur.off = 0;
		file->f_pos = off;
	}
	mutex_unlock(&rd->lock);
	return off < 0 ? -EINVAL : off;
}

static __poll_t tcpflow_poll(struct file *file, poll_table *wait)
{
	struct tcpflow_reader *rd = file->private_data;
	struct tcpflow_ring_stats st;

	poll_wait(file, tcpflow_wait, wait);
	tcpflow_ring_stats(&st);
	if (READ_ONCE(rd->cur.off) < READ_ONCE(rd->cur.len) ||
	    READ_ONCE(file->f_pos) < st.next)
		return EPOLLIN | EPOLLRDNORM;
	return 0;
}

static int tcpflow_open(struct inode *inode, struct file *file)
{
	struct net *net = current->nsproxy->net_ns;
	struct tcpflow_reader *rd;

	rd = kzalloc(sizeof(*rd), GFP_KERNEL);
	if (!rd)
		return -ENOMEM;
	mutex_init(&rd->lock);
	rd->netns = net->ns.inum;
	rd->all_netns = net_eq(net, &init_net);
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
		cfg->netns = v;
		return 0;
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

	if (!capable(CAP_NET_ADMIN))
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
	tcpflow_wait = kmalloc(sizeof(*tcpflow_wait), GFP_KERNEL);
	if (!tcpflow_wait)
		return -ENOMEM;
	init_waitqueue_head(tcpflow_wait);
	/* 0400: sequence numbers of other users' connections are secrets. */
	tcpflow_pde = proc_create("tcpflow", 0400, NULL, &tcpflow_proc_ops);
	if (!tcpflow_pde) {
		kfree(tcpflow_wait);
		return -ENOMEM;
	}
	return 0;
}

static bool tcpflow_wait_empty(void)
{
	bool empty;

	/* Under the lock: a poller that unhooked has also dropped it. */
	spin_lock_irq(&tcpflow_wait->lock);
	empty = list_empty(&tcpflow_wait->head);
	spin_unlock_irq(&tcpflow_wait->lock);
	return empty;
}

/*
 * Waits for running reads, writes and polls; open files get -EIO
 * afterwards.  Called with no probe left to notify.
 *
 * Pollers can still be queued on tcpflow_wait after proc_remove():
 * poll() and select() sleep outside ->proc_poll, and epoll keeps its
 * entry until the epoll set or our file is closed, both of which may
 * come after rmmod.  So: wake them all with POLLFREE, which makes epoll
 * (and aio, io_uring) unhook at once and wakes poll() and select(),
 * which unhook as they return (procfs answers their next poll for us);
 * wait for that, RCU-delayed as epoll needs; then free the queue.  A
 * poller that does not leave in time (a frozen task) keeps the queue:
 * it is leaked, never freed under it.
 */
void tcpflow_proc_exit(void)
{
	unsigned long deadline = jiffies + 10 * HZ;

	proc_remove(tcpflow_pde);
	irq_work_sync(&tcpflow_wake_work);
	__wake_up(tcpflow_wait, TASK_NORMAL, 0,
		  poll_to_key(EPOLLIN | EPOLLRDNORM | EPOLLHUP | POLLFREE));
	synchronize_rcu();
	while (!tcpflow_wait_empty()) {
		if (time_after(jiffies, deadline)) {
			pr_warn("a process still polls /proc/tcpflow: its wait queue (%zu bytes) is left allocated\n",
				sizeof(*tcpflow_wait));
			tcpflow_wait = NULL;
			return;
		}
		msleep(20);
	}
	kfree(tcpflow_wait);
	tcpflow_wait = NULL;
}
