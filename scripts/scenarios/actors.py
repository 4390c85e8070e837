# SPDX-License-Identifier: GPL-2.0
"""scripts/scenarios/actors.py: the processes that open and close the
sockets.

Each end of a scenario is its own process (an Actor, forked from the
caller, named tf-client or tf-server, in its host's namespace), so the
records of each end can be checked for the right pid and comm.  The
scenario tells it what to do one socket call at a time (_Ops: socket,
bind, connect, close, ...) over a pipe, and reads back the kernel's view
of its sockets (tcp_table(), from /proc/net/tcp) to wait for the state
the next step needs."""

import errno
import json
import os
import select
import signal
import socket
import struct
import sys
import time

from .common import ScenarioError, libc, sleep_until
from .netns import netns_path, setns

# /proc/net/tcp state numbers (include/net/tcp_states.h)
TCP_STATES = {
    1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1",
    5: "FIN_WAIT2", 6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT",
    9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW_SYN_RECV",
}

PR_SET_NAME = 15
SO_COOKIE = 57


def _addr_from_hex(h):
    b = bytes.fromhex(h)
    if len(b) == 4:
        return socket.inet_ntop(socket.AF_INET, b[::-1])
    b = b"".join(b[i:i + 4][::-1] for i in range(0, 16, 4))
    if b[:12] == b"\0" * 10 + b"\xff\xff":
        return socket.inet_ntop(socket.AF_INET, b[12:])
    return socket.inet_ntop(socket.AF_INET6, b)


def tcp_table():
    """The TCP sockets of the caller's network namespace, timewait and
    request socks included, from /proc/net/tcp{,6}: a list of dicts
    laddr lport raddr rport state tx_queue rx_queue."""
    out = []
    for f in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            with open(f) as fh:
                lines = fh.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            w = line.split()
            la, lp = w[1].split(":")
            ra, rp = w[2].split(":")
            tx, rx = w[4].split(":")
            out.append({
                "laddr": _addr_from_hex(la), "lport": int(lp, 16),
                "raddr": _addr_from_hex(ra), "rport": int(rp, 16),
                "state": TCP_STATES.get(int(w[3], 16), w[3]),
                "tx_queue": int(tx, 16), "rx_queue": int(rx, 16),
            })
    return out


class _Ops:
    """What an actor can be told to do.  Sockets have names."""

    def __init__(self):
        self.socks = {}

    def _s(self, name):
        return self.socks[name]

    def op_pid(self):
        return os.getpid()

    def op_socket(self, name, af):
        self.socks[name] = socket.socket(
            socket.AF_INET6 if af == 6 else socket.AF_INET, socket.SOCK_STREAM)
        return None

    def op_reuseaddr(self, name):
        self._s(name).setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def op_linger0(self, name):
        self._s(name).setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))

    def op_bind(self, name, addr, port):
        self._s(name).bind((addr, port))
        return self._s(name).getsockname()[1]

    def op_try_bind(self, af, addr, port, reuse):
        """Can a new socket bind (addr, port), with or without
        SO_REUSEADDR?  Returns "ok" or the errno's name; the socket is
        closed again."""
        s = socket.socket(socket.AF_INET6 if af == 6 else socket.AF_INET,
                          socket.SOCK_STREAM)
        try:
            if reuse:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
            return "ok"
        except OSError as e:
            return errno.errorcode.get(e.errno, str(e.errno))
        finally:
            s.close()

    def op_listen(self, name, backlog):
        self._s(name).listen(backlog)

    def op_connect(self, name, addr, port, timeout):
        s = self._s(name)
        s.settimeout(timeout)
        try:
            s.connect((addr, port))
        finally:
            s.settimeout(None)
        return s.getsockname()[1]

    def op_connect_nb(self, name, addr, port, at=None):
        """Start a connect (at mono() time @at, if given) and return at
        once (the SYN is on its way)."""
        s = self._s(name)
        sleep_until(at)
        s.setblocking(False)
        err = s.connect_ex((addr, port))
        s.setblocking(True)
        if err not in (0, errno.EINPROGRESS):
            raise OSError(err, os.strerror(err))
        return s.getsockname()[1]

    def op_connect_result(self, name, timeout):
        """Wait for a connect_nb to finish; returns its errno (0: done)."""
        s = self._s(name)
        select.select([], [s], [], timeout)
        return s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)

    def op_accept(self, lname, name, timeout):
        ls = self._s(lname)
        ls.settimeout(timeout)
        try:
            s, peer = ls.accept()
        finally:
            ls.settimeout(None)
        s.settimeout(None)
        self.socks[name] = s
        return list(peer[:2])

    def op_send(self, name, nbytes):
        self._s(name).sendall(b"x" * nbytes)
        return nbytes

    def op_recv(self, name, nbytes, timeout):
        """Read exactly nbytes (or until EOF); returns the count."""
        s = self._s(name)
        s.settimeout(timeout)
        got = 0
        try:
            while got < nbytes:
                b = s.recv(nbytes - got)
                if not b:
                    break
                got += len(b)
        finally:
            s.settimeout(None)
        return got

    def op_recv_eof(self, name, timeout):
        """Read until EOF; returns the byte count."""
        s = self._s(name)
        s.settimeout(timeout)
        got = 0
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    return got
                got += len(b)
        finally:
            s.settimeout(None)

    def op_recv_block(self, name):
        """Block in recv() with no timeout: until data, EOF or a
        signal."""
        s = self._s(name)
        s.settimeout(None)
        return len(s.recv(1))

    def op_sigint_default(self):
        """SIGINT kills this actor from now on (SIG_DFL), as it kills
        a C program: no Python handler, no unwinding; the kernel closes
        the process's files when it exits."""
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    def op_shutdown(self, name, how):
        self._s(name).shutdown({"wr": socket.SHUT_WR, "rd": socket.SHUT_RD,
                                "rdwr": socket.SHUT_RDWR}[how])

    def op_close(self, name, at=None):
        """Close (at mono() time @at, if given)."""
        sleep_until(at)
        self.socks.pop(name).close()

    def op_cookie(self, name):
        return struct.unpack("Q", self._s(name).getsockopt(
            socket.SOL_SOCKET, SO_COOKIE, 8))[0]

    def op_rto(self, name):
        """The socket's retransmission timeout (TCP_INFO tcpi_rto), s."""
        info = self._s(name).getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO,
                                        104)
        return struct.unpack_from("I", info, 8)[0] / 1e6

    def op_sockname(self, name):
        return list(self._s(name).getsockname()[:2])

    def op_tcp_table(self):
        return tcp_table()


def _actor_main(rfd, wfd, ns, comm):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if ns:
        setns(netns_path(ns))
    libc.prctl(PR_SET_NAME, comm.encode()[:15], 0, 0, 0)
    ops = _Ops()
    rf = os.fdopen(rfd, "rb")
    wf = os.fdopen(wfd, "wb", buffering=0)
    for line in rf:
        op, args = json.loads(line)
        if op == "exit":
            break
        try:
            res = {"ok": getattr(ops, "op_" + op)(*args)}
        except OSError as e:
            res = {"errno": e.errno or 0,
                   "err": "%s: %s" % (type(e).__name__, e)}
        except Exception as e:  # a bug in the scenario: say so
            res = {"err": "%s: %s" % (type(e).__name__, e)}
        wf.write((json.dumps(res) + "\n").encode())


class ActorError(ScenarioError):
    def __init__(self, actor, op, res):
        self.errno = res.get("errno")
        super().__init__("%s: %s failed: %s" % (actor, op, res.get("err")))


class Actor:
    """One end: a process forked from ours, in network namespace ns, named
    comm, that runs socket operations for us (see _Ops)."""

    def __init__(self, ns, comm):
        self.comm = comm
        r1, w1 = os.pipe()
        r2, w2 = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.close(w1)
                os.close(r2)
                _actor_main(r1, w2, ns, comm)
            except BaseException:
                code = 1
            os._exit(code)
        os.close(r1)
        os.close(w2)
        self.pid = pid
        self.w = os.fdopen(w1, "wb", buffering=0)
        self.r = os.fdopen(r2, "rb")
        self.pending = None

    def start(self, op, *args):
        """Send a command without waiting for its result (see result())."""
        assert self.pending is None
        self.pending = op
        self.w.write((json.dumps([op, list(args)]) + "\n").encode())

    def result(self, timeout=60):
        op, self.pending = self.pending, None
        ready, _, _ = select.select([self.r], [], [], timeout)
        if not ready:
            raise ScenarioError("%s: no answer to %s in %d s" % (
                self.comm, op, timeout))
        line = self.r.readline()
        if not line:
            raise ScenarioError("%s died during %s" % (self.comm, op))
        res = json.loads(line)
        if "ok" not in res:
            raise ActorError(self.comm, op, res)
        return res["ok"]

    def call(self, op, *args, timeout=60):
        self.start(op, *args)
        return self.result(timeout)

    def kill(self, sig):
        """Send sig and reap the actor; returns its wait status."""
        os.kill(self.pid, sig)
        _, status = os.waitpid(self.pid, 0)
        self.pid = None
        for f in (self.w, self.r):
            try:
                f.close()
            except OSError:
                pass
        return status

    def stop(self):
        if self.pid is None:
            return
        try:
            self.w.write(b'["exit", []]\n')
            self.w.close()
        except OSError:
            pass
        try:
            self.r.close()
        except OSError:
            pass
        for _ in range(100):
            if os.waitpid(self.pid, os.WNOHANG)[0]:
                break
            time.sleep(0.05)
        else:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        self.pid = None
