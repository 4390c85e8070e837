#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""
tests/stress/workers.py: the processes 40-unload.t runs while it loads and
unloads tcpflow.  Each runs until the file STOP exists (or its own
deadline), never gives up because /proc/tcpflow is gone (it waits for it
to come back), and prints one JSON object at the end: counts, and the
problems it saw.

  workers.py churn STOP SECS     loopback connections, bounded in time and
                                 count: normal (1 byte each way) over IPv4
                                 and IPv6, refused, aborted (SO_LINGER 0)
  workers.py bytes STOP SEED     1-byte reads from offset 0 to the end
  workers.py random STOP SEED    pread and lseek+read at random record
                                 numbers, random sizes
  workers.py follow STOP SEED [KICK ACK]
                                 follow mode: read to the end, then poll()
                                 (or epoll, every other open) with a
                                 timeout, read what came; with KICK and
                                 ACK, fenced out of poll around rmmod
  workers.py hold STOP SEED      open, read a little, keep the file open
                                 until tcpflow is unloaded, then read:
                                 must fail with EIO (write too), close

What a reader checks in the text: the first line at offset 0 is the
header; every other line is a record with all the keys in order, or a
"# gap from=A to=B" line; record numbers go up by one, or jump exactly as
a gap line says.
"""

import errno
import json
import os
import random
import select
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

PROC = lib.PROC
MAX_PROBLEMS = 20
# Pause between operations, seconds: the point is to overlap with insmod
# and rmmod, not to starve them of the guest's two CPUs.
PACE = float(os.environ.get("STRESS_PACE") or 0.01)


class Worker:
    def __init__(self, stop):
        self.stop_file = stop
        self.problems = []
        self.counts = {}

    def stopped(self):
        return os.path.exists(self.stop_file)

    def count(self, what, n=1):
        self.counts[what] = self.counts.get(what, 0) + n

    def problem(self, what):
        self.count("problems")
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(what)

    def open(self, flags=os.O_RDONLY, idle=None):
        """Open /proc/tcpflow, waiting for it while it is not there."""
        while not self.stopped():
            if idle:
                idle()
            try:
                fd = os.open(PROC, flags)
                self.count("opens")
                return fd
            except FileNotFoundError:
                time.sleep(0.01)
            except OSError as e:
                # EIO/ENOENT races with rmmod are fine; anything else not.
                if e.errno not in (errno.ENOENT, errno.EIO):
                    self.problem("open: %s" % e)
                time.sleep(0.01)
        return None

    def result(self):
        print(json.dumps({"counts": self.counts, "problems": self.problems}))


class TextCheck:
    """Feed it what a reader read, in order; it checks the lines."""

    def __init__(self, w, start):
        self.w = w
        self.partial = ""
        self.expect = None      # next record number, once known
        self.at0 = start == 0
        self.first_line = True
        if start:
            self.expect = start

    def feed(self, text):
        text = self.partial + text
        lines = text.split("\n")
        self.partial = lines.pop()
        for ln in lines:
            self.line(ln)

    def line(self, ln):
        w = self.w
        if self.first_line and self.at0:
            self.first_line = False
            try:
                h = lib.parse_header(ln)
                self.expect = h["first"]
            except ValueError:
                w.problem("first line is not the header: %r" % ln[:100])
            return
        self.first_line = False
        m = lib.GAP_RE.match(ln)
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            if self.expect is not None and a != self.expect:
                w.problem("gap from=%d, expected record %d" % (a, self.expect))
            if b <= a:
                w.problem("gap backwards: %r" % ln)
            self.expect = b
            w.count("gaps")
            return
        try:
            r = lib.parse_record(ln)
        except ValueError as e:
            w.problem("bad line %r: %s" % (ln[:120], e))
            return
        if self.expect is not None and r["n"] != self.expect:
            w.problem("record n=%d, expected %d" % (r["n"], self.expect))
        self.expect = r["n"] + 1
        w.count("records")


# ------------------------------------------------------------------ churn

def churn(stop, secs):
    w = Worker(stop)
    end = time.time() + float(secs)
    ls = {}
    for af, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        s = socket.socket(af)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, 0))
        s.listen(128)
        ls[af] = (s, addr, s.getsockname()[1])
    kinds = ("v4", "v4", "v6", "refused", "abort")
    i = 0
    while not w.stopped() and time.time() < end and i < 200000:
        kind = kinds[i % len(kinds)]
        i += 1
        time.sleep(PACE)
        af = socket.AF_INET6 if kind == "v6" else socket.AF_INET
        lsock, addr, port = ls[af]
        c = socket.socket(af)
        c.settimeout(10)
        try:
            if kind == "refused":
                # the port of a listener just closed: nobody listens there
                e = c.connect_ex((addr, 1))
                if e != errno.ECONNREFUSED:
                    w.problem("connect to a closed port: %s" % os.strerror(e))
                w.count(kind)
                continue
            c.connect((addr, port))
            lsock.settimeout(10)
            a, _ = lsock.accept()
            a.settimeout(10)
            if kind == "abort":
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))
                c.close()
                try:
                    a.recv(1)
                except OSError:
                    pass
                a.close()
            else:
                c.sendall(b"x")
                a.recv(1)
                a.sendall(b"y")
                c.recv(1)
                c.close()
                a.recv(1)
                a.close()
            w.count(kind)
        except OSError as e:
            w.problem("%s connection: %s" % (kind, e))
        finally:
            c.close()
    for s, _, _ in ls.values():
        s.close()
    w.result()


# ---------------------------------------------------------------- readers

def read_or_eio(w, fn, what):
    """fn() -> bytes; None after EIO (tcpflow went away)."""
    try:
        return fn()
    except OSError as e:
        if e.errno == errno.EIO:
            w.count("eio")
        else:
            w.problem("%s: %s" % (what, e))
        return None


def bytes_reader(stop, seed):
    w = Worker(stop)
    rng = random.Random(int(seed))
    passed = False
    while not w.stopped():
        fd = w.open()
        if fd is None:
            break
        chk = TextCheck(w, 0)
        limit = rng.randint(200, 20000)
        n = 0
        while n < limit and not w.stopped():
            b = read_or_eio(w, lambda: os.read(fd, 1), "1-byte read")
            if b is None:
                break
            if not b:
                # At the end: wait for more on the same file, as tail -f
                # does; starting again from offset 0 would mean the header
                # again, and on a slow kernel never getting past it.
                w.count("eof")
                time.sleep(10 * PACE)
                continue
            n += 1
            chk.feed(b.decode("latin-1"))
            if b == b"\n" and not passed and (w.counts.get("records") or
                                              w.counts.get("gaps")):
                # past the header: 40-unload.t's first hold waits for this
                passed = True
                open(stop + ".bytes-past-header", "w").close()
            if not n % 64:
                time.sleep(PACE)
        w.count("bytes", n)
        os.close(fd)
    w.result()


def first_line_ok(text, off, h):
    """Whether a read at record number off may start with text."""
    ln = text.split("\n", 1)[0]
    complete = "\n" in text
    if off == 0:
        want = ["# tcpflow "]
    else:
        # records may have come, and gone, since the header was read
        want = ["n=%d " % off, "# gap from=%d to=" % off]
    return any((ln.startswith(x) if complete or len(ln) >= len(x)
                else x.startswith(ln)) for x in want)


TAIL = ("a read at record N right after a short read that stopped inside "
        "the line before gets the rest of that line, not record N")


def random_reader(stop, seed):
    w = Worker(stop)
    rng = random.Random(int(seed))
    while not w.stopped():
        fd = w.open()
        if fd is None:
            break
        short = False       # the last read on fd ended inside a line
        for _ in range(rng.randint(1, 200)):
            if w.stopped():
                break
            time.sleep(PACE)
            hb = read_or_eio(w, lambda: os.pread(fd, 1024, 0), "pread 0")
            if hb is None:
                break
            short = not hb.endswith(b"\n")
            try:
                h = lib.parse_header(hb.decode().split("\n", 1)[0])
            except ValueError:
                w.problem("pread at 0: %r" % hb[:100])
                break
            off = rng.choice([0, h["first"], h["next"], h["next"] + 1,
                              max(0, h["first"] - 1),
                              rng.randint(0, h["next"] + 3),
                              rng.randint(0, h["next"] + 3)])
            size = rng.choice([1, 2, 17, 100, 400, 4096, 65536])
            if rng.random() < 0.5:
                b = read_or_eio(w, lambda: os.pread(fd, size, off), "pread")
                w.count("preads")
            else:
                def seek_read():
                    try:
                        os.lseek(fd, off, os.SEEK_SET)
                    except OSError as e:
                        # procfs answers a seek on a removed entry with
                        # EINVAL (proc_reg_llseek), a read with EIO
                        if e.errno == errno.EINVAL:
                            os.read(fd, 1)      # EIO if tcpflow went away
                        raise
                    return os.read(fd, size)
                b = read_or_eio(w, seek_read, "lseek+read")
                w.count("seek_reads")
            if b is None:
                break
            try:
                text = b.decode()
            except UnicodeDecodeError:
                w.problem("not text at %d: %r" % (off, b[:60]))
                continue
            if text and not first_line_ok(text, off, h):
                what = "read at %d (header first=%d next=%d): %r" % (
                    off, h["first"], h["next"], text.split("\n")[0][:100])
                if short and not text.startswith(("n=", "#")):
                    w.count("tail_after_short_read")
                    if w.counts["tail_after_short_read"] <= 3:
                        w.problem(TAIL + ": " + what)
                else:
                    w.problem(what)
            short = bool(b) and not b.endswith(b"\n")
        os.close(fd)
    w.result()


def follow_reader(stop, seed, kick=None, ack=None):
    """Follow mode.  With kick and ack (pipe fds), it is fenced out of
    poll() around each rmmod: a "F" on kick makes it drop every wait it
    has on the file (return from poll, close the epoll instance), answer
    "A" on ack and wait for "U".  Sleeping in poll() or holding an epoll
    registration across rmmod is 90-poll-unload.t's business."""
    w = Worker(stop)
    rng = random.Random(int(seed))
    kick = int(kick) if kick is not None else None
    ack = int(ack) if ack is not None else None
    if kick is not None:
        os.set_blocking(kick, False)

    def fence():
        """Answer a kick, if there is one; True if there was."""
        if kick is None:
            return False
        try:
            b = os.read(kick, 1)
        except BlockingIOError:
            return False
        if b != b"F":
            w.problem("kick pipe: %r" % b)
            return False
        os.write(ack, b"A")
        w.count("fenced")
        while True:
            select.select([kick], [], [])
            try:
                b = os.read(kick, 1)
            except BlockingIOError:
                continue
            if b == b"U" or not b:
                return True

    use_epoll = False
    while not w.stopped():
        fd = w.open(idle=fence)
        if fd is None:
            break
        use_epoll = not use_epoll
        chk = TextCheck(w, 0)
        ep = p = None

        def arm():
            nonlocal ep, p
            if use_epoll:
                ep = select.epoll()
                ep.register(fd, select.EPOLLIN)
                if kick is not None:
                    ep.register(kick, select.EPOLLIN)
                w.count("epoll_opens")
            else:
                p = select.poll()
                p.register(fd, select.POLLIN)
                if kick is not None:
                    p.register(kick, select.POLLIN)

        def disarm():
            nonlocal ep
            if ep is not None:
                ep.close()
                ep = None

        arm()
        gone = False
        while not w.stopped() and not gone:
            while True:
                b = read_or_eio(w, lambda: os.read(fd, 65536), "read")
                if b is None:
                    gone = True
                    break
                if not b:
                    break
                chk.feed(b.decode())
            if gone:
                break
            ms = rng.choice([20, 100, 300])
            ev = ep.poll(ms / 1000.0) if use_epoll else p.poll(ms)
            kicked = any(e[0] == kick for e in ev)
            ev = [e for e in ev if e[0] != kick]
            w.count("wakeups" if ev else "timeouts")
            if kicked:
                disarm()
                fence()
                arm()       # the module may be gone now: reads say EIO
        disarm()
        os.close(fd)
    w.result()


def hold_reader(stop, seed):
    w = Worker(stop)
    rng = random.Random(int(seed))
    while not w.stopped():
        fd = w.open(os.O_RDWR)
        if fd is None:
            break
        b = read_or_eio(w, lambda: os.read(fd, rng.randint(1, 300)), "read")
        if b is None:
            os.close(fd)
            continue
        while os.path.exists(PROC) and not w.stopped():
            time.sleep(0.005)
        if w.stopped():
            os.close(fd)
            break
        # Gone from /proc: reads must fail with EIO (right away, or once
        # the removal has waited out the reads in progress).
        deadline = time.time() + 10
        while True:
            try:
                os.read(fd, 100)
                if time.time() > deadline:
                    w.problem("reads still succeed 10 s after /proc/tcpflow "
                              "went away")
                    break
                time.sleep(0.01)
            except OSError as e:
                if e.errno == errno.EIO:
                    w.count("eio_after_rmmod")
                else:
                    w.problem("read after rmmod: %s" % e)
                break
        for what, fn in (("pread", lambda: os.pread(fd, 10, 0)),
                         ("write", lambda: os.write(fd, b"clear\n"))):
            try:
                fn()
                w.problem("%s after rmmod succeeded" % what)
            except OSError as e:
                if e.errno != errno.EIO:
                    w.problem("%s after rmmod: %s" % (what, e))
        p = select.poll()
        p.register(fd, select.POLLIN)
        p.poll(0)
        os.close(fd)
        w.count("held_across_rmmod")
    w.result()


if __name__ == "__main__":
    kind, stop = sys.argv[1], sys.argv[2]
    fn = {"churn": churn, "bytes": bytes_reader, "random": random_reader,
          "follow": follow_reader, "hold": hold_reader}[kind]
    fn(stop, *sys.argv[3:])
