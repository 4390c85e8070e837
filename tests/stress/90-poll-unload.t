#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# 90-poll-unload.t: a follower waiting on /proc/tcpflow while tcpflow is
# unloaded.
#   - poll(): a process asleep in poll() (4 s timeout) on the file when
#     rmmod runs; the module is not loaded again until it is done. Its
#     poll must return (woken, or at its timeout), a read then fails with
#     EIO, and the kernel log stays clean.
#   - epoll: a process with the file in an epoll set across rmmod, which
#     then waits on the set and closes it; the same expectations.
# Both leave a wait queue entry on the module's wait queue head after
# proc_remove(): rmmod must wake them (POLLFREE) and wait for them to
# unhook before it frees the queue, or their removal writes to freed
# memory (KASAN: use-after-free in remove_wait_queue). Runs last: if that
# crashes the kernel, the other results are already out. Leaves tcpflow
# loaded with the parameters it had.
import errno
import os
import select
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

t, ko, orig = lib.start()
if not lib.loaded() and lib.insmod(ko, orig):
    print("1..0 # SKIP tcpflow does not load")
    sys.exit(4)

def in_syscall(pid, nr):
    try:
        with open("/proc/%d/syscall" % pid) as f:
            return f.read().split()[0] == str(nr)
    except (OSError, IndexError):
        return False


def child(kind, rd_go, wr_res):
    """Runs in the forked child; reports one line on wr_res."""
    res = []
    try:
        fd = os.open(lib.PROC, os.O_RDONLY)
        while os.read(fd, 65536):
            pass
        if kind == "poll":
            p = select.poll()
            p.register(fd, select.POLLIN)
            t0 = time.time()
            ev = p.poll(4000)
            res.append("poll returned %r after %.1f s" % (ev, time.time() -
                                                          t0))
        else:
            ep = select.epoll()
            ep.register(fd, select.EPOLLIN)
            ep.poll(0.05)
            os.write(wr_res, b"ready\n")
            os.read(rd_go, 1)       # the parent has unloaded tcpflow
            ev = ep.poll(1)
            res.append("epoll_wait after rmmod: %r" % ev)
            ep.close()
            res.append("epoll set closed")
        try:
            os.read(fd, 100)
            res.append("read: succeeded")
        except OSError as e:
            res.append("read: %s" % errno.errorcode.get(e.errno, e.errno))
        os.close(fd)
    except Exception as e:      # noqa: BLE001
        res.append("exception %r" % e)
    os.write(wr_res, ("; ".join(res) + "\n").encode())
    os._exit(0)


def case(kind):
    k = lib.Kmsg()
    go_r, go_w = os.pipe()
    res_r, res_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        child(kind, go_r, res_w)
    os.close(res_w)
    os.close(go_r)
    f = os.fdopen(res_r)
    notes = []
    if kind == "poll":
        # Wait until the child sleeps in poll (syscall 7).
        end = time.time() + 10
        while not in_syscall(pid, 7) and time.time() < end:
            time.sleep(0.02)
        time.sleep(0.2)
        notes.append("child in poll(): %s" % in_syscall(pid, 7))
    else:
        notes.append("child: " + f.readline().strip())
    err = lib.rmmod()
    notes.append("rmmod: %s" % (errno.errorcode.get(err, err) if err
                                else "ok"))
    try:
        os.write(go_w, b"g")
    except BrokenPipeError:
        pass            # the poll() child is done already: it was woken
    line = f.readline().strip()
    _, status = os.waitpid(pid, 0)
    f.close()
    os.close(go_w)
    time.sleep(0.2)
    bad = lib.bad_lines(k.lines())
    k.close()
    notes.append("child: %s" % (line or "(nothing)"))
    if os.WIFSIGNALED(status):
        notes.append("child killed by signal %d" % os.WTERMSIG(status))
    ok = (not err and line.endswith("read: EIO") and not bad and
          os.WIFEXITED(status))
    # Only now: a new tcpflow could take the old one's addresses.
    lib.insmod(ko, orig)
    return ok, notes + ["kernel: " + b for b in bad[:10]]


# Nothing may wake the poller but rmmod: keep every record out.
lib.write_cmd("port=1\n")
ok, notes = case("poll")
t.ok(ok, "a process asleep in poll() on /proc/tcpflow across rmmod: poll "
     "returns, read fails with EIO, the kernel log stays clean", notes)
ok, notes = case("epoll")
t.ok(ok, "/proc/tcpflow in an epoll set across rmmod: epoll_wait and closing "
     "the set are safe, read fails with EIO, the kernel log stays clean",
     notes)
t.done()
