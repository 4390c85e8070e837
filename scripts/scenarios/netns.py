# SPDX-License-Identifier: GPL-2.0
"""scripts/scenarios/netns.py: the two hosts and the links between them.

Two hosts are two network namespaces, "client" and "server", joined by a
veth pair (veth-c in client, veth-s in server) with documentation-range
addresses:

    client  veth-c  192.0.2.1/24  2001:db8::1/64
    server  veth-s  192.0.2.2/24  2001:db8::2/64

A scenario runs either across the veth pair (link="veth") or on the
server's loopback (link="lo": both ends in the server namespace, 127.0.0.1
or ::1).  Every link delays what it carries (netem, Hosts); nftables
tables (nft()) and commands in a namespace (ns_run(), ip_batch()) are
what the scenarios change the network with."""

import ctypes
import os
import subprocess

from .common import CLIENT, SERVER, ScenarioError, libc

VETH = {CLIENT: "veth-c", SERVER: "veth-s"}
ADDR = {
    4: {CLIENT: "192.0.2.1", SERVER: "192.0.2.2"},
    6: {CLIENT: "2001:db8::1", SERVER: "2001:db8::2"},
}
PREFIX = {4: 24, 6: 64}
LOOPBACK = {4: "127.0.0.1", 6: "::1"}

CLONE_NEWNET = 0x40000000


def netns_path(name):
    return "/run/netns/" + name


def netns_inum(name):
    """The namespace's inode number: what tcpflow prints as netns=."""
    return os.stat(netns_path(name)).st_ino


def setns(path):
    """Move the calling THREAD into the network namespace at path."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns(%s): %s" % (path, os.strerror(e)))
    finally:
        os.close(fd)


class in_netns:
    """with in_netns("client"): ... runs the block (this thread only) in
    the namespace; sockets made there stay in it after the block."""

    def __init__(self, name):
        self.name = name
        self.saved = None

    def __enter__(self):
        self.saved = os.open("/proc/thread-self/ns/net",
                             os.O_RDONLY | os.O_CLOEXEC)
        setns(netns_path(self.name))
        return self

    def __exit__(self, *exc):
        try:
            if libc.setns(self.saved, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
        finally:
            os.close(self.saved)
        return False


def ns_run(ns, argv, input=None, check=True, timeout=60):
    """Run argv inside network namespace ns (None: where we are).
    Returns the CompletedProcess (text mode)."""
    pre = (lambda: setns(netns_path(ns))) if ns else None
    p = subprocess.run(argv, input=input, capture_output=True, text=True,
                       preexec_fn=pre, timeout=timeout)
    if check and p.returncode != 0:
        raise ScenarioError("%s%s failed (%d): %s" % (
            "[netns %s] " % ns if ns else "", " ".join(argv), p.returncode,
            (p.stderr or p.stdout).strip()))
    return p


def ip_batch(lines, ns=None, force=False):
    argv = ["ip"] + (["-n", ns] if ns else []) + \
        (["-force"] if force else []) + ["-batch", "-"]
    return subprocess.run(argv, input="\n".join(lines) + "\n",
                          capture_output=True, text=True, timeout=60)


def nft(ns, script):
    ns_run(ns, ["nft", "-f", "-"], input=script)


class Hosts:
    """The two hosts: namespaces client and server and the veth pair.
    Use as a context manager (or call up() and down()); down() also runs
    at exit.  Anything left by an earlier run is removed first.

    Every link (veth-c, veth-s and the server's lo) delays packets by
    delay_ms (netem), as a real network would.  Without a delay a peer's
    ACK can arrive while the closing process is still inside close()
    holding the socket lock, and the kernel then keeps the orphaned
    FIN_WAIT2 socket as a full socket instead of handing it to a timewait
    sock: the same scenario would tell two different stories."""

    def __init__(self, names=(CLIENT, SERVER), delay_ms=20):
        self.client, self.server = names
        self.ns = {CLIENT: self.client, SERVER: self.server}
        self.delay_ms = delay_ms
        self.netem = True       # until tc says this kernel has none
        self.is_up = False

    def up(self):
        self.down(force=True)
        p = ip_batch([
            "netns add %s" % self.client,
            "netns add %s" % self.server,
            "link add %s netns %s type veth peer name %s netns %s" % (
                VETH[CLIENT], self.client, VETH[SERVER], self.server),
        ])
        if p.returncode != 0:
            raise ScenarioError("ip: " + p.stderr.strip())
        self.is_up = True
        import atexit
        atexit.register(self.down)
        for end in (CLIENT, SERVER):
            p = ip_batch([
                "link set lo up",
                "link set %s up" % VETH[end],
                "addr add %s/%d dev %s" % (ADDR[4][end], PREFIX[4], VETH[end]),
                "addr add %s/%d dev %s nodad" % (ADDR[6][end], PREFIX[6],
                                                 VETH[end]),
            ], ns=self.ns[end])
            if p.returncode != 0:
                raise ScenarioError("ip -n %s: %s" % (self.ns[end],
                                                      p.stderr.strip()))
        self.inum = {end: netns_inum(self.ns[end]) for end in (CLIENT, SERVER)}
        if self.delay_ms:
            for end, devs in ((CLIENT, [VETH[CLIENT]]),
                              (SERVER, [VETH[SERVER], "lo"])):
                p = ns_run(self.ns[end], ["tc", "-batch", "-"],
                           input="".join(
                               "qdisc add dev %s root netem delay %dms\n" % (
                                   d, self.delay_ms) for d in devs),
                           check=False)
                if p.returncode != 0:
                    # A kernel without sch_netem (this project's own build
                    # machines): the links run undelayed.  What that
                    # changes is true all the same (a close may tell the
                    # other story above), so nothing is said here; the
                    # scenarios that need a delay to tell their story at
                    # all say so (Ctx.netem(): NoNetem).
                    self.netem = False
                    self.delay_ms = 0
                    break
        return self

    def down(self, force=False):
        if not self.is_up and not force:
            return
        self.is_up = False
        names = [n for n in (self.client, self.server)
                 if os.path.exists(netns_path(n))]
        if names:
            ip_batch(["netns del %s" % n for n in names], force=True)

    def __enter__(self):
        return self.up()

    def __exit__(self, *exc):
        self.down()
        return False
