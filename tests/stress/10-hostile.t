#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# 10-hostile.t: hostile input to /proc/tcpflow changes nothing and breaks
# nothing.
#   - thousands of random writes (random bytes, random text, mutated
#     commands, a valid command followed by an invalid line, oversized
#     writes): each fails with EINVAL, and the header (ring counters,
#     segment mode, filters) is byte-for-byte what it was
#   - a write from a bad or half-mapped user buffer: EFAULT, nothing changes
#   - a write without CAP_NET_ADMIN (fd opened by root, capability
#     dropped; or passed to uid 65534): EPERM, nothing changes
#   - reads into bad or half-mapped buffers: EFAULT or a short count, and
#     the text read on from there is exactly what a clean read gives
#   - lseek with bad whence, negative or overflowing offsets: EINVAL;
#     pread at random and at huge offsets (a record number): the header,
#     a gap line, record n=offset, or nothing
# STRESS_HOSTILE_WRITES (default 3000) sets the number of random writes.
import ctypes
import errno
import mmap
import os
import random
import socket
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

t = lib.TAP()
lib.need_root(t)
ko = lib.module_path()
if not lib.loaded() and (not ko or lib.insmod(ko)):
    print("1..0 # SKIP tcpflow not loaded and cannot be (no tcpflow.ko?)")
    sys.exit(4)

seed = int(os.environ.get("STRESS_SEED") or random.randrange(1 << 30))
rng = random.Random(seed)
t.diag("seed %d (STRESS_SEED=%d reproduces)" % (seed, seed))
NWRITES = int(os.environ.get("STRESS_HOSTILE_WRITES") or 3000)
libc = ctypes.CDLL(None, use_errno=True)
libc.write.restype = libc.read.restype = ctypes.c_ssize_t
libc.write.argtypes = libc.read.argtypes = (ctypes.c_int, ctypes.c_void_p,
                                            ctypes.c_size_t)
libc.lseek.restype = ctypes.c_int64
libc.lseek.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int)

h_orig = lib.header()
RESTORE = "filter=-\nsegments=%s\n" % h_orig["segments"]

# A quiet, known state: only port 1 passes the filter, and a few records
# of connections to 127.0.0.1:1 (refused) are in the ring, so that a
# "clear" or a changed filter would show in the header.
lib.write_cmd("filter=-\nport=1\n")
s = socket.socket()
s.connect_ex(("127.0.0.1", 1))
s.close()
lib.write_cmd("clear\n")     # so that first > 1: there is a gap to read
for _ in range(3):
    s = socket.socket()
    s.connect_ex(("127.0.0.1", 1))
    s.close()
h0 = lib.header()
t.ok(h0["next"] > h0["first"] and h0["port"] == 1,
     "setup: records in the ring, filter port=1", ["header %r" % h0])


def changed(h):
    """Keys of the header that differ from h0."""
    return ["%s: %r -> %r" % (k, h0.get(k), h.get(k))
            for k in sorted(set(h0) | set(h)) if h0.get(k) != h.get(k)]


def reset_state():
    """Back to the configuration of h0.  A clear cannot be undone: after
    one (already reported), compare with the new counters from then on."""
    global h0
    lib.write_cmd("filter=-\nport=1\nsegments=%s\n" % h0["segments"])
    h = lib.header()
    if h["first"] != h0["first"]:
        h0 = h


# ---------------------------------------------------------------- oracle

COMMANDS_OK = {"clear"}
SPACE = b" \t\n\v\f\r"


def live_netns():
    """Inode numbers of the network namespaces that exist: netns=N names
    one of them (the module refuses a number no namespace has).  Those of
    processes and of ip netns; a namespace held only by a socket is
    missed, and the random writes never name one."""
    found = set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                found.add(os.stat("/proc/%s/ns/net" % d).st_ino)
            except OSError:
                pass
    if os.path.isdir("/run/netns"):
        for n in os.listdir("/run/netns"):
            try:
                found.add(os.stat("/run/netns/" + n).st_ino)
            except OSError:
                pass
    return found


def valid_line(line):
    """What docs/format.md says a command is (the module's rules)."""
    if line in COMMANDS_OK:
        return True
    k, sep, v = line.partition("=")
    if not sep:
        return False
    if k == "segments":
        return v in ("none", "default", "all")
    if k == "filter":
        return v == "-"
    if k == "port":
        return v == "-" or (v.isdigit() and v.isascii() and
                            0 < int(v) < 65536)
    if k == "netns":
        # the inode number of a namespace that exists now
        return v == "-" or (v.isdigit() and v.isascii() and
                            int(v) in live_netns())
    if k == "addr":
        if v == "-":
            return True
        for af in (socket.AF_INET, socket.AF_INET6):
            try:
                socket.inet_pton(af, v)
                return True
            except OSError:
                pass
    return False


def contract(b):
    """'ok', 'bad' or 'empty' (nothing but blank lines: either answer is
    fine) for a write of bytes b, per the documented contract: one
    command per line, all valid or nothing applied.  Commands are ASCII:
    a NUL byte, or one of 0x80 and above, fails the write."""
    if not b or len(b) > 4096:
        return "bad"
    if b"\0" in b:
        return "bad"
    try:
        text = b.decode("ascii")
    except UnicodeDecodeError:
        return "bad"
    lines = [ln.strip(" \t\n\v\f\r") for ln in text.split("\n")]
    lines = [ln for ln in lines if ln]
    if not lines:
        return "empty"
    return "ok" if all(valid_line(ln) for ln in lines) else "bad"


# ------------------------------------------------------- random writes

VALID = ["clear", "segments=none", "segments=default", "segments=all",
         "port=80", "port=-", "addr=192.0.2.1", "addr=2001:db8::1",
         "addr=::ffff:10.0.0.1", "addr=-", "netns=4026531840", "netns=-",
         "filter=-"]
INVALID = ["segments=", "segments=al", "segments=ALL", "segments=all x",
           "port=0", "port=65536", "port=-1", "port=80x", "port=0x50",
           "port=", "port=99999999999999999999", "addr=1.2.3", "addr=1.2.3.4.5",
           "addr=256.1.1.1", "addr=::g", "addr=", "netns=0", "netns=-1",
           "netns=4294967296", "netns=abc", "filter=port", "filter=",
           "clear=1", "clearx", "=", "==", "port==80", "segments=all=all",
           "PORT=80", "port =80", "help", "-", "\x7f", "addr=1.2.3.4%lo"]


def mutate(s):
    b = bytearray(s.encode())
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(4)
        i = rng.randrange(len(b) + 1)
        if op == 0 and b:
            del b[min(i, len(b) - 1)]
        elif op == 1:
            b.insert(i, rng.randrange(256))
        elif op == 2 and b:
            b[min(i, len(b) - 1)] = rng.randrange(256)
        else:
            b[i:i] = rng.choice(INVALID).encode()
    return bytes(b)


def random_write():
    k = rng.randrange(100)
    if k < 30:
        return os.urandom(rng.randint(1, 600))
    if k < 45:
        return bytes(rng.choice(b" \n=-.:0123456789abcdefghijklmnopqrstuvwxyz"
                                b"ACDEFGHIJKLMNOPQRSTUVWXYZ")
                     for _ in range(rng.randint(1, 300)))
    if k < 65:
        return mutate(rng.choice(VALID))
    if k < 85:
        # Valid lines, then an invalid one, maybe more valid ones: the
        # valid ones must not be applied (clear must not clear).
        lines = [rng.choice(VALID) for _ in range(rng.randint(1, 4))]
        lines.insert(rng.randint(0, len(lines)), rng.choice(INVALID))
        return ("\n".join(lines) + rng.choice(["", "\n", "\r\n"])).encode()
    if k < 90:
        return rng.choice(INVALID).encode() + b"\n"
    if k < 95:
        return os.urandom(rng.randint(4097, 9000))
    return (rng.choice(VALID) + "\n").encode() * rng.randint(400, 700)


accepted_bad, wrong_errno, changes, nul_accepted = [], [], [], []
fd = os.open(lib.PROC, os.O_RDWR)
n_sent = 0
for i in range(NWRITES):
    b = random_write()
    want = contract(b)
    if want == "ok":
        continue    # a mutation that happens to be valid: not hostile
    n_sent += 1
    try:
        os.write(fd, b)
        err = 0
    except OSError as e:
        err = e.errno
    if err == 0 and want == "bad":
        pre = b.split(b"\0")[0]
        if b"\0" in b and (not pre.strip(SPACE) or contract(pre) != "bad"):
            nul_accepted.append(b)
        else:
            accepted_bad.append(b)
    elif err not in (0, errno.EINVAL):
        wrong_errno.append("%s for %r" % (errno.errorcode.get(err, err),
                                          b[:60]))
    h = lib.header()
    d = changed(h)
    if d:
        changes.append("after writing %r (%s): %s" % (
            b[:80], "accepted" if not err else errno.errorcode[err],
            "; ".join(d)))
        reset_state()
os.close(fd)
t.diag("%d random writes sent" % n_sent)
t.problems(changes, "random writes change nothing: the header (counters, "
           "segment mode, filters) is the same after each")
t.problems(["accepted: %r" % b[:100] for b in accepted_bad] +
           ["%s" % w for w in wrong_errno],
           "random writes with an invalid line fail with EINVAL")

# A NUL byte: the module reads the buffer as a C string, so whatever
# follows a NUL is ignored and the write "succeeds".
nul_cases = [b"\0", b"port=80\0garbage", b"clear\0\xff\xfe", b" \0segments=x",
             b"\0port=80", b"segments=all\0\n\x01\x02"]
nul_results = []
for b in nul_cases:
    e = lib.write_cmd(b)
    d = changed(lib.header())
    nul_results.append((b, e, d))
    reset_state()
nul_bad = ["%r: %s%s" % (b, "accepted (returned the count)" if not e else
                         errno.errorcode[e],
                         "; header changed: " + "; ".join(d) if d else "")
           for b, e, d in nul_results if not e or d]
nul_bad += ["random write %r... accepted" % b[:40] for b in nul_accepted]
t.problems(nul_bad, "writes with a NUL byte fail with EINVAL (a NUL is "
           "part of no command) and change nothing",
           known="tcpflow_write() parses the buffer as a C string "
           "(memdup_user_nul + strsep): bytes after the first NUL are "
           "ignored, so 'port=80\\0garbage' is applied as 'port=80' and "
           "'\\0anything' succeeds as an empty write, against 'a write is "
           "applied only if every line in it is valid'"
           if any(not e for _, e, _ in nul_results) else None)

# Hostile writes from several threads at once, while others read.
stop = threading.Event()
thread_problems = []


def writer(seed):
    r = random.Random(seed)
    f = os.open(lib.PROC, os.O_WRONLY)
    try:
        for _ in range(300):
            b = r.choice([os.urandom(r.randint(1, 200)),
                          (r.choice(VALID) + "\n" + r.choice(INVALID)).encode()])
            if contract(b) != "bad" or b"\0" in b:
                continue
            try:
                os.write(f, b)
                thread_problems.append("accepted %r" % b[:60])
            except OSError as e:
                if e.errno != errno.EINVAL:
                    thread_problems.append("%s for %r" % (e, b[:60]))
    finally:
        os.close(f)


def reader():
    f = os.open(lib.PROC, os.O_RDONLY)
    try:
        while not stop.is_set():
            txt = os.pread(f, 65536, 0).decode()
            if not txt.startswith("# tcpflow "):
                thread_problems.append("read: %r" % txt[:80])
    finally:
        os.close(f)


ths = [threading.Thread(target=writer, args=(seed + i,)) for i in range(3)]
rds = [threading.Thread(target=reader) for _ in range(2)]
for th in ths + rds:
    th.start()
for th in ths:
    th.join()
stop.set()
for th in rds:
    th.join()
d = changed(lib.header())
t.problems(thread_problems + (["header: " + "; ".join(d)] if d else []),
           "3 threads writing garbage while 2 read: every write EINVAL, "
           "nothing changed, reads fine")
reset_state()

# ------------------------------------------------------- bad user memory

PAGE = mmap.PAGESIZE
# Two pages, the second inaccessible: a buffer that runs off its end.
area = mmap.mmap(-1, 2 * PAGE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
base = ctypes.addressof(ctypes.c_char.from_buffer(area))
libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
if libc.mprotect(ctypes.c_void_p(base + PAGE), PAGE, 0) != 0:
    raise OSError(ctypes.get_errno(), "mprotect")


def cwrite(f, addr, n):
    r = libc.write(f, ctypes.c_void_p(addr), n)
    return 0 if r >= 0 else ctypes.get_errno(), r


def cread(f, addr, n):
    r = libc.read(f, ctypes.c_void_p(addr), n)
    return 0 if r >= 0 else ctypes.get_errno(), r


fd = os.open(lib.PROC, os.O_RDWR)
efault = []
cmd = b"clear\n"
area[PAGE - len(cmd):PAGE] = cmd
for what, addr, n in (("NULL", 0, 16), ("address 1", 1, 16),
                      ("a kernel address", 0xffffffff81000000, 16),
                      ("non-canonical", 0x0000800000000000, 16),
                      ("'clear\\n' running into a PROT_NONE page",
                       base + PAGE - len(cmd), len(cmd) + 8),
                      ("wholly PROT_NONE", base + PAGE, 8)):
    err, r = cwrite(fd, addr, n)
    d = changed(lib.header())
    if err != errno.EFAULT or d:
        efault.append("write from %s: %s%s" % (
            what, errno.errorcode.get(err, "returned %d" % r),
            "; header: " + "; ".join(d) if d else ""))
    reset_state()
t.problems(efault, "writes from bad or half-mapped buffers fail with EFAULT "
           "and change nothing")

# Reads: a bad buffer gives EFAULT, and reading on from where that left
# the file gives the clean text: nothing lost, nothing repeated.
clean = lib.read_all(0)
rfault = []
for what, addr, n in (("NULL", 0, 100), ("address 1", 1, 100),
                      ("a kernel address", 0xffffffff81000000, 100),
                      ("wholly PROT_NONE", base + PAGE, 100)):
    os.lseek(fd, 0, os.SEEK_SET)
    err, r = cread(fd, addr, n)
    if err != errno.EFAULT:
        rfault.append("read into %s: %s" % (what, "returned %d" % r if not err
                                           else errno.errorcode[err]))
    chunks = []
    while True:
        b = os.read(fd, 65536)
        if not b:
            break
        chunks.append(b.decode())
    if lib.stable("".join(chunks)) != lib.stable(clean):
        rfault.append("read into %s, then on: the text differs from a clean "
                      "read (%d vs %d bytes)" % (what, len("".join(chunks)),
                                                 len(clean)))
# A read whose buffer ends (mid-line) at an inaccessible page: a short
# count; reading on from the file offset it left must continue the text.
for room in (1, 7, 100, 400):
    os.lseek(fd, 0, os.SEEK_SET)
    err, r = cread(fd, base + PAGE - room, 4096)
    got = bytes(area[PAGE - room:PAGE - room + max(r, 0)]).decode(
        errors="replace")
    if err not in (0, errno.EFAULT):
        rfault.append("read into %d bytes before PROT_NONE: %s" % (
            room, errno.errorcode[err]))
        continue
    chunks = [got]
    while True:
        b = os.read(fd, 65536)
        if not b:
            break
        chunks.append(b.decode())
    if lib.stable("".join(chunks)) != lib.stable(clean):
        rfault.append("buffer %d bytes before PROT_NONE: read %s, then the "
                      "rest: the text is not the clean text (%d vs %d bytes)"
                      % (room, r if r >= 0 else "EFAULT",
                         len("".join(chunks)), len(clean)))
t.problems(rfault, "reads into bad buffers: EFAULT, and reading on gives "
           "exactly the clean text (nothing lost or repeated)")
os.close(fd)
area.close()

# ------------------------------------------------------------- EPERM

CAP_NET_ADMIN = 12


def drop_net_admin():
    class Hdr(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32),
                    ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]
    hdr = Hdr(0x20080522, 0)
    data = (Data * 2)()
    if libc.capget(ctypes.byref(hdr), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    bit = 1 << CAP_NET_ADMIN
    data[0].effective &= ~bit
    data[0].permitted &= ~bit
    data[0].inheritable &= ~bit
    if libc.capset(ctypes.byref(hdr), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def child_writes(how):
    """Fork; in the child open /proc/tcpflow as root, lose the right to
    configure it (how), and try valid commands.  Returns the errnos."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            f = os.open(lib.PROC, os.O_RDWR)
            if how == "cap":
                drop_net_admin()
            else:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            out = []
            for c in (b"clear\n", b"segments=none\n", b"port=80\n",
                      b"filter=-\n", os.urandom(50)):
                try:
                    os.write(f, c)
                    out.append("0")
                except OSError as e:
                    out.append(errno.errorcode.get(e.errno, str(e.errno)))
            # reading through the inherited descriptor still works
            out.append("read:%d" % len(os.pread(f, 4096, 0)))
            os.write(w, " ".join(out).encode())
            os._exit(0)
        except BaseException as e:
            os.write(w, ("error %r" % e).encode())
            os._exit(1)
    os.close(w)
    res = b""
    while True:
        b = os.read(r, 4096)
        if not b:
            break
        res += b
    os.close(r)
    os.waitpid(pid, 0)
    return res.decode().split()


for how, what in (("cap", "root without CAP_NET_ADMIN"),
                  ("uid", "uid 65534 with a descriptor root opened")):
    res = child_writes(how)
    d = changed(lib.header())
    t.ok(res[:5] == ["EPERM"] * 5 and res[5:6] != ["read:0"] and not d,
         "%s: every write fails with EPERM, nothing changes" % what,
         ["results: %s" % " ".join(res)] + d)
    reset_state()

# ------------------------------------------------------- lseek and pread

fd = os.open(lib.PROC, os.O_RDONLY)
big = (1 << 63) - 1
seek_problems = []
for off, whence, want in ((-1, os.SEEK_SET, "EINVAL"),
                          (-(1 << 62), os.SEEK_SET, "EINVAL"),
                          (0, 3, "EINVAL"), (0, 4, "EINVAL"),
                          (0, 5, "EINVAL"), (0, 99, "EINVAL"),
                          (0, -1, "EINVAL"),
                          (big, os.SEEK_SET, big),
                          (-(h0["next"] + 5), os.SEEK_END, "EINVAL"),
                          (-h0["next"], os.SEEK_END, 0),
                          (0, os.SEEK_END, h0["next"]),
                          (5, os.SEEK_SET, 5), (3, os.SEEK_CUR, 8),
                          # back by bytes into the last read: none yet
                          (-9, os.SEEK_CUR, "EINVAL"),
                          (-8, os.SEEK_CUR, "EINVAL"),
                          (-(1 << 63), os.SEEK_CUR, "EINVAL")):
    r = libc.lseek(fd, off, whence)
    got = r if r >= 0 else errno.errorcode[ctypes.get_errno()]
    if got != want:
        seek_problems.append("lseek(%d, %d): %r, want %r" % (off, whence,
                                                             got, want))
# Overflowing sums: the kernel adds without checking; the result must
# still be an error or a non-negative offset, never a crash.
for base_off, off, whence in ((big, big, os.SEEK_CUR), (big, 1, os.SEEK_CUR),
                              (0, big, os.SEEK_END), (0, big - 1, os.SEEK_END)):
    libc.lseek(fd, base_off, os.SEEK_SET)
    r = libc.lseek(fd, off, whence)
    if r < 0 and ctypes.get_errno() != errno.EINVAL:
        seek_problems.append("lseek to %d then (%d, %d): %s" % (
            base_off, off, whence, errno.errorcode[ctypes.get_errno()]))
    elif r >= 0:
        b = os.read(fd, 4096)
        if b:
            seek_problems.append("at offset %d a read gave %r" % (r, b[:60]))
t.problems(seek_problems, "lseek: bad whence and negative results are "
           "EINVAL; SEEK_END is next; huge offsets read nothing")

pread_problems = []
h = lib.header()
# (1 << 62) + N is the offset a read() leaves inside record N's line.
offsets = [0, 1, h["first"] - 1, h["first"], h["next"] - 1, h["next"],
           h["next"] + 1, 1 << 31, 1 << 32, (1 << 62) - 1, big - 4096, big]
offsets += [rng.randrange(0, h["next"] + 50) for _ in range(300)]
offsets += [rng.randrange(0, big) for _ in range(100)]
for off in offsets:
    if off < 0:
        continue
    for size in (1, 64, 4096):
        try:
            b = os.pread(fd, size, off).decode()
        except OSError as e:
            # offset + count past the largest loff_t: the VFS says EINVAL
            if e.errno != errno.EINVAL or off + size <= big:
                pread_problems.append("pread(%d, %d): %s" % (size, off, e))
            continue
        full = os.pread(fd, 4096, min(off, big - 4096)).decode()
        first = full.split("\n", 1)[0]
        if not lib.stable(full).startswith(lib.stable(b)):
            pread_problems.append("pread(%d, %d) = %r is not the start of %r"
                                  % (size, off, b[:40], full[:80]))
        if off == 0:
            ok = first.startswith("# tcpflow ")
        elif off < h["first"]:
            ok = first == "# gap from=%d to=%d" % (off, h["first"])
        elif off < h["next"]:
            ok = first.startswith("n=%d " % off)
        else:
            ok = full == ""
        if not ok:
            pread_problems.append("pread at record %d (first=%d next=%d): %r"
                                  % (off, h["first"], h["next"], first[:80]))
    if len(pread_problems) > 20:
        break
# A short read leaves the rest of a line in the module; a read at another
# record number must not get it.
short_problems = []
for first_size in (1, 10, 50):
    for how in ("pread", "lseek"):
        n = h["first"]
        if how == "pread":
            a = os.pread(fd, first_size, n)
            b = os.pread(fd, 200, n + 1).decode()
        else:
            os.lseek(fd, n, os.SEEK_SET)
            a = os.read(fd, first_size)
            os.lseek(fd, n + 1, os.SEEK_SET)
            b = os.read(fd, 200).decode()
        if not b.startswith("n=%d " % (n + 1)):
            short_problems.append(
                "%s of %d bytes at record %d (%r), then at record %d: %r" % (
                    how, first_size, n, a, n + 1, b[:70]))
t.problems(short_problems, "a read at record N+1 right after a short read "
           "of record N starts with record N+1")
for off in (-1, -(1 << 40)):
    try:
        os.pread(fd, 10, off)
        pread_problems.append("pread at %d succeeded" % off)
    except OSError as e:
        if e.errno != errno.EINVAL:
            pread_problems.append("pread at %d: %s" % (off, e))
os.close(fd)
t.problems(pread_problems, "pread at %d random and extreme record numbers: "
           "the header, the gap line, record n=offset, or nothing" %
           len(offsets))

d = changed(lib.header())
t.ok(not d, "after all of it the header is what it was", d)
lib.write_cmd(RESTORE)
t.done()
