#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# 70-procfs.t: the /proc/tcpflow interface (docs/format.md).
#   - mode 0600, root only (an unprivileged process cannot open it;
#     72-isolation.t: who may write)
#   - reading does not consume: two reads give the same records
#   - the offset is a record number: lseek(N)/pread at N resume at record N;
#     after a read the offset is the next record; SEEK_END is `next`
#   - poll() reports nothing to read at the end, and wakes up when a
#     record arrives
#   - commands: clear (and the gap line for a reader left behind),
#     segments=none|default|all (all: data segments too, matching the
#     capture), port=/addr=/netns= filters and filter=-; anything else is
#     EINVAL and changes nothing (the header shows the configuration)
import errno
import os
import select
import socket
import stat
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import tcpflow as tf  # noqa: E402
from tcpflow import CLIENT, SERVER  # noqa: E402
import scenarios  # noqa: E402

t = tf.TAP()
tf.need_root_and_module(t)
scene = tf.Scene()
proc = scene.proc


def poke(port, af=4, ns=CLIENT, dst=None):
    """One connect to a closed port from the test process itself, in a
    namespace: a handful of records (SYN_SENT, SYN, RST, CLOSE)."""
    dst = dst or scenarios.ADDR[af][SERVER]
    with tf.in_netns(scene.hosts.ns[ns]):
        s = socket.socket(socket.AF_INET6 if af == 6 else socket.AF_INET)
    try:
        s.settimeout(10)
        err = s.connect_ex((dst, port))
    finally:
        s.close()
    if err != errno.ECONNREFUSED:
        raise RuntimeError("connect to :%d: %s" % (port, os.strerror(err)))
    time.sleep(0.2)


def ports_of(recs):
    return {r["lport"] for r in recs} | {r["rport"] for r in recs}


# ---- mode
st = os.stat(tf.PROC)
t.ok(stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0,
     "/proc/tcpflow is mode 0600, owned by root",
     ["mode %o uid %d" % (stat.S_IMODE(st.st_mode), st.st_uid)])

pid = os.fork()
if pid == 0:
    try:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
        try:
            os.close(os.open(tf.PROC, os.O_RDONLY))
            os._exit(1)
        except PermissionError:
            os._exit(0)
    except BaseException:
        os._exit(2)
_, status = os.waitpid(pid, 0)
t.ok(os.waitstatus_to_exitcode(status) == 0,
     "an unprivileged process (uid 65534) cannot open it (EACCES)",
     ["child exit %d (1: it could open it)" % os.waitstatus_to_exitcode(status)])

# ---- some records to read
for p in (8701, 8702, 8703):
    poke(p)
h = proc.header()
t.ok(str(h.get("version", "")).startswith("1.") and
     h["first"] <= h["next"] and h["capacity"] >= 256 and
     all(k in h for k in ("overwritten", "missed", "segments", "port",
                          "addr", "netns")),
     "the header: tcpflow 1.x, capacity, first <= next, counters, config",
     [repr(h)])

# ---- reads do not consume
a_hdr, a = None, proc.read_raw(0).splitlines()
b = proc.read_raw(0).splitlines()
na = [x for x in a if not x.startswith("#")]
nb = [x for x in b if not x.startswith("#")]
t.ok(len(na) > 5 and nb[:len(na)] == na and a[0].startswith("# tcpflow "),
     "two reads from the start give the header and the same %d records" %
     len(na), ["first read %d records, second %d" % (len(na), len(nb))])

# ---- offsets
recs, _ = proc.records(0)
n_mid = recs[len(recs) // 2]["n"]
fd = os.open(tf.PROC, os.O_RDONLY)
try:
    pos = os.lseek(fd, n_mid, os.SEEK_SET)
    got = proc.records(fd=fd, since=None)[0]
    after = os.lseek(fd, 0, os.SEEK_CUR)
    end = os.lseek(fd, 0, os.SEEK_END)
    nxt = proc.header()["next"]
    nothing = os.read(fd, 4096)
finally:
    os.close(fd)
fd = os.open(tf.PROC, os.O_RDONLY)
try:
    pr = os.pread(fd, 4096, n_mid).decode().splitlines()
finally:
    os.close(fd)
t.ok(pos == n_mid and got and got[0]["n"] == n_mid and
     [r["n"] for r in got] == [r["n"] for r in recs if r["n"] >= n_mid] and
     pr and tf.parse_record(pr[0])["n"] == n_mid,
     "lseek(N) and pread at N give the records from N on, no header",
     ["lseek -> %d, first record %s, pread first line %r" % (
         pos, got[0]["n"] if got else None, pr[:1])])
t.ok(after == got[-1]["n"] + 1 and end == nxt and nothing == b"",
     "after a read the offset is the next record's number; SEEK_END is "
     "`next`, where a read returns nothing (cat ends)",
     ["offset after read %d (last record %d), SEEK_END %d, next %d, "
      "read there %r" % (after, got[-1]["n"], end, nxt, nothing)])

# Reading in small pieces (a reader with a tiny buffer) gives the same
# text as one big read: partial lines continue where they stopped.
first = proc.header()["first"]
upto = proc.mark()
big = proc.read_raw(first)
fd = os.open(tf.PROC, os.O_RDONLY)
try:
    os.lseek(fd, first, os.SEEK_SET)
    pieces = []
    while True:
        b = os.read(fd, 7)
        if not b:
            break
        pieces.append(b)
finally:
    os.close(fd)
small = b"".join(pieces).decode()
n_big = [tf.parse_record(x)["n"] for x in big.splitlines()
         if x and tf.parse_record(x)["n"] < upto]
n_small = [tf.parse_record(x)["n"] for x in small.splitlines()
           if x and tf.parse_record(x)["n"] < upto]
t.ok(n_big and (small.startswith(big) or big.startswith(small)) and
     n_small == n_big,
     "reading 7 bytes at a time gives the same %d records, byte for byte, "
     "as one big read" % len(n_big),
     ["big %d bytes, small %d bytes" % (len(big), len(small))])

# pread() must not disturb the file's own read() stream.
PREAD_BUG = (
    "tcpflow keeps ONE partial-line buffer per open file, shared by read() "
    "and pread(), tagged with the offset it belongs to (rd->expect). A "
    "pread() that stops mid-line leaves its leftover tagged with the "
    "pread's end offset; a later read() at that file offset (reached by "
    "reading, or by an lseek to the current position, which "
    "tcpflow_lseek() does not treat as a move) returns the tail of the "
    "pread's record instead of its own records")
problems = []
first = proc.header()["first"]
for variant in ("pread(60, first), lseek(0, SEEK_CUR), read",
                "pread(60, first), lseek(0, SEEK_END), read",
                "pread(60, next-1), read"):
    fd = os.open(tf.PROC, os.O_RDONLY)
    try:
        while os.read(fd, 65536):
            pass
        cur = os.lseek(fd, 0, os.SEEK_CUR)
        if "next-1" in variant:
            os.pread(fd, 60, cur - 1)
        else:
            os.pread(fd, 60, first)
            os.lseek(fd, 0, os.SEEK_END if "END" in variant else os.SEEK_CUR)
        got_b = os.read(fd, 4096).decode()
    finally:
        os.close(fd)
    # Nothing new was recorded in between (this process made no traffic):
    # a read at the end returns nothing, or whole new records.
    if got_b and not got_b.startswith("n="):
        problems.append("%s at offset %d returned %r" % (variant, cur,
                                                         got_b[:100]))
t.ok(not problems, "a pread() that stops mid-line leaves nothing behind "
     "for the next read() at the file offset", problems, known=PREAD_BUG)

SEEK_BUG = (
    "after a read() that stops mid-line, the file offset is already the "
    "next record's number (N), and the rest of the line stays buffered for "
    "offset N; lseek(fd, N, SEEK_SET) (same offset: tcpflow_lseek keeps the "
    "buffer) or pread at N then returns the rest of record N-1, not record "
    "N as docs/format.md says ('lseek(fd, N, SEEK_SET) (or pread at N) "
    "resumes at record N')")
problems = []
for how in ("lseek(N, SEEK_SET) + read", "pread at N"):
    fd = os.open(tf.PROC, os.O_RDONLY)
    try:
        os.lseek(fd, first, os.SEEK_SET)
        os.read(fd, 30)
        n = os.lseek(fd, 0, os.SEEK_CUR)
        if how.startswith("pread"):
            text = os.pread(fd, 200, n).decode()
        else:
            os.lseek(fd, n, os.SEEK_SET)
            text = os.read(fd, 200).decode()
    finally:
        os.close(fd)
    if not text.startswith("n=%d " % n):
        problems.append("read(30) at %d, then %s with N=%d: %r" % (
            first, how, n, text[:100]))
t.ok(not problems, "after a partial read(), lseek(N)/pread at N (N = the "
     "offset the kernel reports) start at record N", problems,
     known=SEEK_BUG)

# ---- tools that read ahead and give back: GNU head
# head reads 8 KiB, prints its lines, then seeks back by the bytes it did
# not use (lseek(fd, -B, SEEK_CUR)).  The oracle is a plain read of the
# whole file: what head prints, and what a second reader of the same open
# file then reads, must be that text, cut at the same line.
full = proc.read_raw(0).splitlines()
p = subprocess.run(["head", "-n", "3", tf.PROC], stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE, text=True)
out = p.stdout.splitlines()
t.ok(p.returncode == 0 and p.stderr == "" and len(out) == 3 and
     out[0].startswith("# tcpflow ") and out[1:] == full[1:3],
     "head -n 3 /proc/tcpflow prints the header and the first two records, "
     "and no error",
     ["exit %d, stderr %r" % (p.returncode, p.stderr)] + out)
p = subprocess.run(["sh", "-c", "{ head -n 5 >/dev/null; cat; } < " + tf.PROC],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
rest = p.stdout.splitlines()
t.ok(p.returncode == 0 and p.stderr == "" and rest and
     rest[:len(full) - 5] == full[5:5 + len(rest)],
     "{ head -n 5; cat; } < /proc/tcpflow: cat goes on at the 6th line",
     ["exit %d, stderr %r" % (p.returncode, p.stderr),
      "cat's first line: %r" % rest[:1], "the 6th line: %r" % full[5:6]])
problems = []
cut = []
fd = os.open(tf.PROC, os.O_RDONLY)
try:
    got = os.read(fd, 4096)
    cut = [i + 1 for i, c in enumerate(got) if c == ord("\n")]
    if len(cut) < 3:
        problems.append("a 4096-byte read had %d lines" % len(cut))
    else:
        back = len(got) - cut[2]
        os.lseek(fd, -back - 1, os.SEEK_CUR)
        problems.append("a seek back into the middle of a line worked")
except OSError as e:
    if e.errno != errno.EINVAL:
        problems.append("mid-line seek back: %s, want EINVAL" % e)
try:
    if len(cut) >= 3:
        try:
            pos = os.lseek(fd, -back, os.SEEK_CUR)
        except OSError as e:
            problems.append("lseek(-%d, SEEK_CUR) to the 4th line: %s" %
                            (back, e))
            raise
        again = os.read(fd, len(got)).splitlines()
        if not again or again[0] != full[3].encode():
            problems.append("after lseek(-%d, SEEK_CUR) -> %d the read "
                            "gave %r, want %r" % (back, pos, again[:1],
                                                  full[3:4]))
        if pos != tf.parse_record(full[3])["n"]:
            problems.append("lseek(-%d, SEEK_CUR) gave %d, the 4th line is "
                            "record %s" % (back, pos, full[3][:20]))
        try:
            os.lseek(fd, -(1 << 20), os.SEEK_CUR)
            problems.append("a seek back beyond the last read worked")
        except OSError as e:
            if e.errno != errno.EINVAL:
                problems.append("seek back beyond the last read: %s" % e)
except OSError:
    pass
finally:
    os.close(fd)
t.ok(not problems, "lseek(-B, SEEK_CUR) goes back B bytes into what the "
     "last read returned, to a line's start (its record number); into a "
     "line, or further back, EINVAL", problems)

# a follower: remember the offset, come back later
fd = os.open(tf.PROC, os.O_RDONLY)
try:
    os.lseek(fd, 0, os.SEEK_END)
    start = os.lseek(fd, 0, os.SEEK_CUR)
    poke(8704)
    more = proc.records(fd=fd, since=None)[0]
finally:
    os.close(fd)
t.ok(more and more[0]["n"] == start and ports_of(more) >= {8704},
     "a reader that resumes at its offset gets exactly the new records",
     [tf.fmt_rec(r) for r in more])

# ---- poll
fd = os.open(tf.PROC, os.O_RDONLY)
woke = {}
try:
    os.lseek(fd, 0, os.SEEK_END)
    p = select.poll()
    p.register(fd, select.POLLIN)
    idle = p.poll(0)

    def waiter():
        t0 = time.monotonic()
        woke["ev"] = p.poll(20000)
        woke["after"] = time.monotonic() - t0

    th = threading.Thread(target=waiter)
    th.start()
    time.sleep(1.0)
    before = dict(woke)
    poke(8705)
    th.join(30)
    data = os.read(fd, 65536).decode()
finally:
    os.close(fd)
t.ok(idle == [] and not before and woke.get("ev") and
     woke["ev"][0][1] & select.POLLIN and 1.0 <= woke["after"] < 10 and
     "rport=8705" in data,
     "poll() waits at the end and wakes with POLLIN when a record comes",
     ["poll(0) at the end: %r; before the event: %r; woke: %r; read: %r" % (
         idle, before, woke, data[:200])])

# ---- commands: valid ones show in the header
proc.must("port=4242\nsegments=all\n")
h = proc.header()
t.ok(h["port"] == 4242 and h["segments"] == "all",
     "'port=4242' and 'segments=all' in one write: the header shows both",
     [repr(h)])
bad = ["bogus", "port=0", "port=70000", "port=12ab", "port=", "segments=maybe",
       "segments=", "addr=1.2.3", "addr=2001:db8::1::2", "addr=",
       "addr=192.0.02.2", "addr=::ffff:192.0.2.02",
       "netns=abc", "netns=0", "filter=x", "clear=1", "port=1111\nbogus",
       "segments=none\nport=99999", "x" * 5000,
       # Commands are ASCII.  The kernel's isspace() is Latin-1 and takes
       # 0xa0 (no-break space) for a blank: strim() alone would read
       # "netns=-\xa0" as "netns=-" (found by 10-hostile.t's random writes).
       b"netns=-\xa0", b"port=80\xa0", b"\xa0clear", b"segments=all\xc2\xa0",
       b"port=80\nnetns=-\xa0", b"port=\xd9\xa0"]
problems = []
for cmd in bad:
    before = proc.header()
    err = proc.write(cmd + (b"\n" if isinstance(cmd, bytes) else "\n"))
    after = proc.header()
    cfg = ("segments", "port", "addr", "netns")
    if err != errno.EINVAL:
        problems.append("%r: %s, want EINVAL" % (
            cmd[:40], os.strerror(err) if err else "accepted"))
    if any(before[k] != after[k] for k in cfg):
        problems.append("%r changed the configuration: %s -> %s" % (
            cmd[:40], {k: before[k] for k in cfg}, {k: after[k] for k in cfg}))
t.ok(not problems, "invalid commands fail with EINVAL and change nothing, "
     "even when other lines of the write are valid", problems)
proc.must("filter=-\nsegments=default\n")
h = proc.header()
t.ok((h["port"], h["addr"], h["netns"], h["segments"]) ==
     ("-", "-", "-", "default"),
     "'filter=-' removes every filter", [repr(h)])

# ---- filters
problems = []
mark = proc.mark()
proc.must("port=8711\n")
poke(8711)
poke(8712)
proc.must("filter=-\n")
recs = proc.records(mark)[0]
if not recs or any(8711 not in (r["lport"], r["rport"]) for r in recs):
    problems = ["kept: %s" % sorted(ports_of(recs))]
t.ok(not problems, "port=8711 keeps only records with 8711 as local or "
     "remote port (%d)" % len(recs), problems + [tf.fmt_rec(r) for r in recs])

for af in (4, 6):
    a = scenarios.ADDR[af][SERVER]
    mark = proc.mark()
    proc.must("addr=%s\n" % a)
    h = proc.header()
    poke(8713 + af, af=af)                            # over the veth: kept
    poke(8720 + af, af=af, ns=SERVER, dst=scenarios.LOOPBACK[af])  # lo: not
    proc.must("filter=-\n")
    recs = proc.records(mark)[0]
    odd = [r for r in recs if a not in (r["laddr"], r["raddr"])]
    t.ok(h["addr"] == a and recs and not odd and
         ports_of(recs) >= {8713 + af} and 8720 + af not in ports_of(recs),
         "addr=%s keeps only records with that local or remote address "
         "(header: addr=%s)" % (a, h["addr"]),
         [tf.fmt_rec(r) for r in odd or recs])

mark = proc.mark()
cl = scene.hosts.inum[CLIENT]
proc.must("netns=%d\n" % cl)
h = proc.header()
poke(8731)
proc.must("filter=-\n")
recs = proc.records(mark)[0]
t.ok(h["netns"] == cl and recs and all(r["netns"] == cl for r in recs) and
     not [r for r in recs if r["sock"] == "none"],
     "netns=%d keeps only the client namespace's records (not the "
     "server's RST)" % cl, [tf.fmt_rec(r) for r in recs])

# ---- clear, and a reader left behind
old = proc.header()
poke(8741)
behind = proc.mark() - 2
proc.must("clear\n")
h = proc.header()
poke(8742)
recs, comments = proc.records(0)
old_recs = [r for r in recs if r["n"] < h["first"]]
lag, lag_comments = proc.records(behind)
gap = [c for c in lag_comments if c.startswith("# gap")]
t.ok(h["first"] == h["next"] and h["next"] >= old["next"] and
     not old_recs and recs and recs[0]["n"] == h["first"] and
     h["overwritten"] == old["overwritten"],
     "clear: first = next, older records are gone, numbering goes on, "
     "'overwritten' does not count them",
     ["before %r" % old, "after %r" % h, "records %s" % [r["n"] for r in recs]])
t.ok(gap == ["# gap from=%d to=%d" % (behind, h["first"])] and lag and
     lag[0]["n"] == h["first"],
     "a reader left behind the cleared records gets '# gap from=N to=M', "
     "then the records", lag_comments + [tf.fmt_rec(r) for r in lag[:3]])

# ---- comm is escaped: the line stays splittable on spaces and '='
name = b"a b=c\\d\x01"
pid = os.fork()
if pid == 0:
    code = 1
    try:
        import ctypes
        ctypes.CDLL(None).prctl(15, name, 0, 0, 0)
        poke(8761)
        code = 0
    finally:
        os._exit(code)
mark = proc.mark() - 20
os.waitpid(pid, 0)
mine = [r for r in proc.records(max(mark, 1))[0] if r["pid"] == pid]
want = "a\\x20b\\x3dc\\x5cd\\x01"
t.ok(mine and all(r["comm"] == want for r in mine) and
     all(len(r["line"].split()) == len(mine[0]["line"].split())
         for r in mine),
     "a process named %r is comm=%s" % (name.decode(), want),
     [r["line"] for r in mine])

# ---- segment modes
proc.must("segments=all\n")
res = scene.run("exchange", port=8751)
proc.must("segments=default\n")
t.problems(tf.check_capture_all(res), "segments=all: every segment on the "
           "wire (data, pure ACKs) is a tx record on the sender and an rx "
           "record on the receiver; nothing else")
res = scene.run("exchange", port=8752)
data = [r for r in res.records if r["ev"] in ("tx", "rx") and r["len"]]
t.ok(not data and any(p.len for p in res.packets),
     "segments=default: the data segments of ESTABLISHED sockets are not "
     "recorded", [tf.fmt_rec(r) for r in data])
tf.standard_checks(t, res)
proc.must("segments=none\n")
res = scene.run("handshake", port=8753)
proc.must("segments=default\n")
segs = [r for r in res.records if r["ev"] != "state"]
states = [r for r in res.records if r["ev"] == "state"]
t.ok(not segs and len(states) > 10,
     "segments=none: state changes only (%d), no segment" % len(states),
     [tf.fmt_rec(r) for r in segs])

scene.close()
t.done()
