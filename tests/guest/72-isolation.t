#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# 72-isolation.t: /proc/tcpflow seen from a container (docs/proc.md,
# "Containers"): the host's tracing is the host's, a container sees only
# its own connections.
#   - writes (clear, segments, filters) need CAP_NET_ADMIN in the initial
#     user namespace, from the initial network namespace, checked at open:
#     `ip netns exec` root, `unshare --user --map-root-user` root and root
#     without CAP_NET_ADMIN all get EPERM, and the host's records and
#     configuration are unchanged afterwards
#   - a reader in another network namespace gets only that namespace's
#     records, and a header with nothing of the host's (no filters, no
#     host loss counts)
#   - a namespace that gets a dead namespace's inode number (they are
#     reused: made here by deleting and creating namespaces) sees none of
#     the dead one's records, and a netns= filter set for the dead one
#     does not let the new one's records through
#   - pids as the reader's pid namespace numbers them (unshare --pid):
#     its own processes by their pid in it, a host process acting in its
#     network namespace as pid=- comm=- who=-; the host sees global pids
#     (the truth: each process's NSpid line in /proc/PID/status)
#   - poll() and read() agree: a follower in a namespace, on epoll, uses
#     no CPU and is not woken while only the host has traffic, and wakes
#     for its own; a read that finds nothing moves past the host's records
#   - read() and pread() mixed on one file never return a byte twice
import errno
import json
import os
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import tcpflow as tf  # noqa: E402

t = tf.TAP()
tf.need_root_and_module(t)
proc = tf.Proc()
proc.must("filter=-\nsegments=default\n")
NS = ("tfiso-a", "tfiso-b", "tfiso-p")
SLOW = float(os.environ.get("TCPFLOW_SLOW", "1"))


def sh(*argv, check=True, **kw):
    return subprocess.run(list(argv), check=check, capture_output=True,
                          text=True, **kw)


def ns_add(name):
    sh("ip", "netns", "del", name, check=False)
    sh("ip", "netns", "add", name)
    sh("ip", "-n", name, "link", "set", "lo", "up")
    return os.stat("/run/netns/" + name).st_ino


def ns_del(name):
    sh("ip", "netns", "del", name, check=False)


def cleanup():
    for n in NS:
        ns_del(n)
    for i in range(64):
        ns_del("tfiso-r%d" % i)


cleanup()

# Code the children run (python3 -c CHILD ROLE ...), in namespaces made
# by ip netns exec or unshare.  Each prints one JSON object.
CHILD = r'''
import errno, json, os, select, socket, sys, time, resource
PROC = "/proc/tcpflow"
role = sys.argv[1]

def poke(port, n=1):
    for _ in range(n):
        s = socket.socket()
        s.settimeout(5)
        s.connect_ex(("127.0.0.1", port))
        s.close()

def read_all(fd):
    out = []
    while True:
        b = os.read(fd, 65536)
        if not b:
            return b"".join(out).decode()
        out.append(b)

def nspid():
    for line in open("/proc/self/status"):
        if line.startswith("NSpid:"):
            return [int(x) for x in line.split()[1:]]

if role == "open":
    res = {}
    for name, flags in (("rdonly", os.O_RDONLY), ("wronly", os.O_WRONLY),
                        ("rdwr", os.O_RDWR)):
        try:
            os.close(os.open(PROC, flags))
            res[name] = 0
        except OSError as e:
            res[name] = e.errno
    try:
        with open(PROC, "w") as f:
            f.write("clear\n")
        res["echo"] = 0
    except OSError as e:
        res["echo"] = e.errno
    print(json.dumps(res))
elif role == "read":
    if len(sys.argv) > 2:
        poke(int(sys.argv[2]))
        time.sleep(0.2)
    fd = os.open(PROC, os.O_RDONLY)
    text = read_all(fd)
    print(json.dumps({"text": text, "pos": os.lseek(fd, 0, os.SEEK_CUR),
                      "nspid": nspid()}))
elif role == "pids":
    # pid 1 of a new pid namespace: a listener and a client of its own
    port = int(sys.argv[2])
    ls = socket.socket()
    ls.bind(("127.0.0.1", port))
    ls.listen(4)
    c = socket.socket()
    c.connect(("127.0.0.1", port))
    a, _ = ls.accept()
    c.sendall(b"x")
    a.recv(1)
    c.close()
    a.close()
    ls.close()
    time.sleep(0.3)
    fd = os.open(PROC, os.O_RDONLY)
    print(json.dumps({"text": read_all(fd), "nspid": nspid()}), flush=True)
    sys.stdin.readline()    # the host looks at this process meanwhile
elif role == "follow":
    # an epoll follower: read to the end, then wait; count what wakes it
    secs = float(sys.argv[2])
    fd = os.open(PROC, os.O_RDONLY | os.O_NONBLOCK)
    read_all(fd)
    pos0 = os.lseek(fd, 0, os.SEEK_CUR)
    ep = select.epoll()
    ep.register(fd, select.EPOLLIN)
    print(json.dumps({"ready": True}), flush=True)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    wakes = empty = 0
    got = ""
    end = time.monotonic() + secs
    while time.monotonic() < end and wakes < 100000:
        ev = ep.poll(max(0.0, end - time.monotonic()))
        if not ev:
            continue
        wakes += 1
        b = read_all(fd)
        if not b:
            empty += 1
        got += b
        if "rport=%s " % sys.argv[3] in got or "lport=%s " % sys.argv[3] in got:
            break
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print(json.dumps({"wakes": wakes, "empty": empty, "cpu": cpu,
                      "text": got, "pos0": pos0}), flush=True)
'''


def child(prefix, role, *args, timeout=120):
    p = sh(*prefix, "python3", "-c", CHILD, role, *[str(a) for a in args],
           check=False, timeout=timeout)
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError("child %s %s: exit %d, stdout %r, stderr %r" % (
            prefix, role, p.returncode, p.stdout[-300:], p.stderr[-600:]))


def ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def records(text):
    return [tf.parse_record(x) for x in text.splitlines()
            if x and not x.startswith("#")]


def header_of(text):
    return tf.parse_header(text.splitlines()[0])


def poke(port, ns=None):
    """A connect to a closed port (SYN_SENT, SYN, RST, CLOSE), on the
    loopback of the host or of namespace ns."""
    if ns:
        sh("ip", "netns", "exec", ns, "python3", "-c",
           "import socket; s = socket.socket(); s.settimeout(5); "
           "s.connect_ex(('127.0.0.1', %d)); s.close()" % port)
    else:
        s = socket.socket()
        s.settimeout(5)
        s.connect_ex(("127.0.0.1", port))
        s.close()


try:
    inum_a = ns_add("tfiso-a")
    inum_b = ns_add("tfiso-b")

    # ---- the file's mode says who may write
    st = os.stat(tf.PROC)
    t.ok(oct(st.st_mode & 0o777) == "0o600" and st.st_uid == 0,
         "/proc/tcpflow is mode 0600: root may read it and write commands",
         ["mode %o uid %d" % (st.st_mode & 0o777, st.st_uid)])

    # ---- writes from anywhere but the host's root are refused
    poke(7301)
    time.sleep(0.2)
    before_h = proc.header()
    before = proc.records(before_h["first"])[0]
    who = {
        "ip netns exec (root, the same user namespace)":
            ["ip", "netns", "exec", "tfiso-a"],
        "unshare --user --map-root-user --net":
            ["unshare", "--user", "--map-root-user", "--net"],
        "root without CAP_NET_ADMIN, host namespaces":
            ["setpriv", "--inh-caps=-net_admin", "--ambient-caps=-net_admin",
             "--bounding-set=-net_admin"],
    }
    for name, prefix in who.items():
        res = child(prefix, "open")
        t.ok(res["wronly"] == errno.EPERM and res["rdwr"] == errno.EPERM and
             res["echo"] == errno.EPERM and
             res["rdonly"] in (0, errno.EACCES),
             "%s: opening for writing fails with EPERM (a read-only open "
             "does not)" % name,
             ["%s: %s" % (k, errno.errorcode.get(v, v) if v else "ok")
              for k, v in res.items()])
    after_h = proc.header()
    after = proc.records(before_h["first"])[0]
    t.ok(after_h["first"] == before_h["first"] and
         after_h["segments"] == before_h["segments"] and
         [r["line"] for r in after[:len(before)]] ==
         [r["line"] for r in before] and before,
         "after those writes the host's records (%d) and configuration are "
         "unchanged" % len(before),
         ["before %r" % before_h, "after %r" % after_h])
    for bad in ("netns=%d\n" % (max(inum_a, inum_b) + 1000003),):
        err = proc.write(bad)
        t.ok(err == errno.EINVAL and proc.header()["netns"] == "-",
             "%r (no namespace has that inode number) is EINVAL" %
             bad.strip(), ["write -> %s" % errno.errorcode.get(err, err)])

    # ---- a reader in a namespace: its records, its header
    mark = proc.mark()
    poke(7311, "tfiso-a")
    poke(7312, "tfiso-b")
    poke(7313)
    time.sleep(0.2)
    proc.must("port=7319\n")
    try:
        got = child(["ip", "netns", "exec", "tfiso-a"], "read")
    finally:
        proc.must("filter=-\n")
    host_a = [r["line"] for r in proc.records(mark)[0]
              if r["netns"] == inum_a]
    mine = [r for r in records(got["text"]) if r["n"] >= mark]
    t.ok(mine and [r["line"] for r in mine] == host_a and
         {r["lport"] for r in mine} | {r["rport"] for r in mine} >= {7311},
         "a reader in namespace A gets exactly A's records (%d), not B's or "
         "the host's" % len(host_a),
         [r["line"] for r in mine] + ["host's view of A:"] + host_a)
    h = header_of(got["text"])
    t.ok(h["port"] == "-" and h["addr"] == "-" and h["netns"] == "-" and
         h["overwritten"] == "-" and h["missed"] == "-" and
         h["segments"] == "default" and isinstance(h["next"], int),
         "its header shows nothing of the host's: filters and loss counts "
         "'-' (the host had port=7319 set), positions and segment mode kept",
         [got["text"].splitlines()[0]])
    later = [r["n"] for r in proc.records(mark)[0]
             if 7313 in (r["lport"], r["rport"])]
    t.ok(later and mine and got["pos"] > max(later),
         "a read that ends on other namespaces' records leaves the offset "
         "past them (%d), not after its own last record (%d)" % (
             got["pos"], mine[-1]["n"] if mine else -1),
         ["offset %d, the host's later records %s" % (got["pos"], later)])

    # ---- inode numbers come back: the new namespace is not the old one
    proc.must("netns=%d\n" % inum_a)
    poke(7321, "tfiso-a")
    time.sleep(0.2)
    old_a = [r for r in proc.records(mark)[0] if r["netns"] == inum_a]
    ns_del("tfiso-a")
    reborn = None
    for i in range(64):
        # the old namespace is freed by a worker: give it time
        time.sleep(0.2 * SLOW)
        ino = ns_add("tfiso-r%d" % i)
        if ino == inum_a:
            reborn = "tfiso-r%d" % i
            break
        ns_del("tfiso-r%d" % i)
    if not reborn:
        proc.must("filter=-\n")
        t.skip("a namespace that reuses a dead one's inode number",
               "the kernel gave %d out again in 64 tries" % inum_a)
    else:
        mark2 = proc.mark()
        poke(7322, reborn)
        time.sleep(0.2)
        leaked = [r for r in proc.records(mark2)[0] if r["netns"] == inum_a]
        t.ok(old_a and not leaked,
             "netns=%d, set for namespace A, keeps only A's records: after A "
             "is gone, namespace %s, with the same inode number, is not "
             "recorded" % (inum_a, reborn), [r["line"] for r in leaked])
        proc.must("filter=-\n")
        poke(7323, reborn)
        time.sleep(0.2)
        got = child(["ip", "netns", "exec", reborn], "read")
        seen = records(got["text"])
        ghosts = [r for r in seen if r["n"] < mark2]
        own = [r for r in seen if 7323 in (r["lport"], r["rport"])]
        t.ok(not ghosts and own,
             "a reader in %s (inode %d, as dead A had) sees none of A's %d "
             "records, and its own" % (reborn, inum_a, len(old_a)),
             [r["line"] for r in ghosts[:5]])
    proc.must("filter=-\n")

    # ---- pids: as the reader's pid namespace numbers them
    ns_add("tfiso-p")
    poke(7331, "tfiso-p")     # a host process in the container's netns
    time.sleep(0.2)
    mark3 = proc.mark() - 8
    c = subprocess.Popen(["ip", "netns", "exec", "tfiso-p", "unshare",
                          "--pid", "--mount-proc", "--fork", "python3", "-c",
                          CHILD, "pids", "7332"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        got = json.loads(c.stdout.readline())
        # The truth from outside: the process unshare forked, and its
        # NSpid line in the host's /proc (host pid, then its pid inside).
        # (From each process's stat line: /proc/PID/task/TID/children
        # needs CONFIG_PROC_CHILDREN, which the debug kernel lacks.)
        kid = [int(d) for d in os.listdir("/proc") if d.isdigit() and
               ppid(int(d)) == c.pid][0]
        with open("/proc/%d/status" % kid) as f:
            nsl = [x for x in f if x.startswith("NSpid:")][0].split()[1:]
        host_pid, ns_pid = int(nsl[0]), int(nsl[-1])
    finally:
        c.stdin.close()
        c.wait(timeout=60)
    inside = records(got["text"])
    own = [r for r in inside if 7332 in (r["lport"], r["rport"])]
    strangers = [r for r in inside if 7331 in (r["lport"], r["rport"])]
    bad_own = [r["line"] for r in own if r["who"] != "-" and
               (r["pid"] != ns_pid or r["comm"] != "python3")]
    t.ok(own and ns_pid == 1 and not bad_own and
         any(r["who"] != "-" for r in own),
         "in a new pid namespace, its own process's records say pid=%d (its "
         "pid there; %d on the host)" % (ns_pid, host_pid), bad_own)
    bad_str = [r["line"] for r in strangers if
               (r["pid"], r["comm"], r["who"]) != (None, "-", "-")]
    t.ok(strangers and not bad_str,
         "a host process that connected from the container's network "
         "namespace is pid=- comm=- who=- there (%d records)" %
         len(strangers), bad_str)
    host = [r for r in proc.records(mark3)[0]
            if 7332 in (r["lport"], r["rport"]) and r["who"] != "-"]
    t.ok(host and all(r["pid"] == host_pid for r in host),
         "the host sees the same records with the global pid %d" % host_pid,
         [r["line"] for r in host if r["pid"] != host_pid])

    # ---- a follower in a namespace sleeps through the host's traffic
    secs = 4 * SLOW
    f = subprocess.Popen(["ip", "netns", "exec", "tfiso-b", "python3", "-c",
                          CHILD, "follow", str(secs + 60 * SLOW), "7342"],
                         stdout=subprocess.PIPE, text=True)
    try:
        json.loads(f.stdout.readline())
        m = proc.mark()
        end = time.monotonic() + secs
        n = 0
        while time.monotonic() < end:
            poke(7341)
            n += 1
        host_recs = proc.mark() - m
        poke(7342, "tfiso-b")
        res = json.loads(f.stdout.readline())
    finally:
        f.kill()
        f.wait()
    wanted = [r for r in records(res["text"]) if 7342 in
              (r["lport"], r["rport"])]
    # The one read its own connection wakes skips every host record
    # since its last position inside the kernel (0.27 s CPU for 107,000
    # of them on a crowded host): what tells a sleeping follower from a
    # polling one is the empty reads, and a CPU time far below the
    # interval (a poller spends most of it).
    t.ok(res["empty"] == 0 and res["cpu"] < 0.25 * secs and wanted,
         "an epoll follower in a namespace: %d host records in %.0f s woke it "
         "%d times for nothing (%.3f s CPU, under a quarter of the time); "
         "its own connection woke it" % (
             host_recs, secs, res["empty"], res["cpu"]),
         ["wakes %d, empty reads %d, cpu %.3f s, own records %d" % (
             res["wakes"], res["empty"], res["cpu"], len(wanted))])

    # ---- read() and pread() mixed: never a byte twice
    # On a fast kernel the follower's loop has filled the ring (262144
    # records, ~50 MB of text): 7-byte reads of all that take longer than
    # the test may and more memory than the guest has.  A few records do.
    proc.write("clear\n")
    poke(7351)
    poke(7352)
    time.sleep(0.2)
    first = proc.header()["first"]
    upto = proc.mark()
    big = proc.read_raw(0)
    fd = os.open(tf.PROC, os.O_RDONLY)
    try:
        os.pread(fd, 100, first)       # stops inside record `first`
        pieces, total = [], 0
        while total < 2 * len(big):
            b = os.read(fd, 7)
            if not b:
                break
            pieces.append(b)
            total += len(b)
            if len(pieces) == 3:
                os.pread(fd, 50, upto - 2)    # stops inside another line
    finally:
        os.close(fd)
    small = b"".join(pieces).decode()

    def body(text):
        lines = text.splitlines()
        return [x for x in lines[1:] if x.startswith("n=") and
                tf.parse_record(x)["n"] < upto]
    t.ok(body(small) == body(big) and small.startswith("# tcpflow ") and
         small.count("# tcpflow ") == 1,
         "read() 7 bytes at a time, with pread()s that stop inside lines "
         "in between, returns the same text as one read (no byte twice)",
         ["one read %d bytes, pieces %d bytes" % (len(big), len(small)),
          repr(small[:200])])
finally:
    proc.write("filter=-\n")
    cleanup()

t.done()
