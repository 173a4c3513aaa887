"""Chains of network namespaces joined by veth pairs, with forwarding
routers between them, for tests that need real hops, loss and silence.

    with Chain(routers=1) as chain:                 # client -- r1 -- target
        chain.client.run("ping", "-c", "1", chain.target.v4[0])
        chain.target.drop_randomly(30)              # nftables: 30 % of what comes in
        chain.target.drop_echo_requests()           # a silent host
        chain.routers[0].drop_time_exceeded()       # a silent hop
        chain.client.popen("twistd", ...)           # anything, inside a namespace

Or as a pytest fixture (skips, with the reason, where namespaces cannot be
made)::

    chain = netns.fixture(routers=2)

Names are ``PREFIX`` + 6 random hex digits + a role (``pg1a2b3cc``,
``pg1a2b3cr1``, ``pg1a2b3ct``), so suites can run side by side; interface
names stay under 15 characters.  Link ``i`` (0 is the client's) is
10.213.i.0/24 and fd00:213:i::/64, the left end .1 / ::1, the right end .2 /
::2; those addresses exist only inside the chain's namespaces.  A chain is
torn down (its processes killed, its namespaces deleted) on leaving the
``with`` block, whatever happened in it, and at interpreter exit should
that not have run.  Needs root, ``ip`` (iproute2) and, for the rules,
``nft`` (nftables).
"""

from __future__ import annotations

import atexit
import ctypes
import ipaddress
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from tests.harness import outside_the_quick_lane

#: the nftables table every rule goes in (one per namespace)
TABLE = "pingu_test"


def unavailable() -> Optional[str]:
    """Why this machine cannot make network namespaces, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "no ip command (apt-get install iproute2)"
    if shutil.which("unshare") is not None:
        probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, text=True)
        if probe.returncode != 0:
            return f"unshare --net is refused here: {probe.stderr.strip()}"
    return None


def nft_unavailable() -> Optional[str]:
    """Why nftables rules cannot be set, or None."""
    return None if shutil.which("nft") else "no nft command (apt-get install nftables)"


def ip(*args: str) -> None:
    """``ip ARGS``; raises with ip's message when it fails."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def listed() -> list[str]:
    """The names ``ip netns list`` shows."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


@dataclass
class Namespace:
    """One namespace of a chain; ``v4``/``v6`` are its addresses, the one
    facing the client first."""

    name: str
    v4: list[str] = field(default_factory=list)
    v6: list[str] = field(default_factory=list)
    _tables: bool = False

    def argv(self, *command: str) -> list[str]:
        """``command`` run inside this namespace."""
        return ["ip", "netns", "exec", self.name, *command]

    def run(self, *command: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """Run ``command`` inside; text output captured unless told otherwise."""
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        return subprocess.run(self.argv(*command), **kwargs)

    def popen(self, *command: str, **kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``command`` inside; ended when the chain is torn down."""
        return subprocess.Popen(self.argv(*command), **kwargs)

    def sh(self, *command: str) -> str:
        """Run ``command`` inside, raise if it fails; its stdout."""
        done = self.run(*command)
        if done.returncode != 0:
            raise RuntimeError(f"{self.name}: {' '.join(command)}: {done.stderr.strip()}")
        return done.stdout

    # -- nftables ---------------------------------------------------------------

    def nft(self, script: str) -> None:
        """Load an nftables script inside this namespace."""
        done = self.run("nft", "-f", "-", input=script)
        if done.returncode != 0:
            raise RuntimeError(f"{self.name}: nft: {done.stderr.strip()}\n{script}")

    def rule(self, hook: str, rule: str) -> None:
        """Add ``rule`` to this namespace's ``hook`` chain (input, output, forward)."""
        if not self._tables:
            chains = "".join(
                f"  chain {h} {{ type filter hook {h} priority 0; policy accept; }}\n"
                for h in ("input", "output", "forward")
            )
            self.nft(f"table inet {TABLE} {{\n{chains}}}\n")
            self._tables = True
        self.nft(f"add rule inet {TABLE} {hook} {rule}\n")

    def drop_randomly(self, percent: int, hook: str = "input", match: str = "") -> None:
        """Drop ``percent`` % of the packets (that ``match``) at ``hook``, at random."""
        self.rule(hook, f"{match} numgen random mod 100 < {int(percent)} drop".strip())

    def drop_echo_requests(self) -> None:
        """A silent host: echo requests (IPv4 and IPv6) never get an answer."""
        self.rule("input", "icmp type echo-request drop")
        self.rule("input", "icmpv6 type echo-request drop")

    def drop_time_exceeded(self) -> None:
        """A silent hop: this router sends no ICMP time exceeded (IPv4, IPv6)."""
        self.rule("output", "icmp type time-exceeded drop")
        self.rule("output", "icmpv6 type time-exceeded drop")

    def flush_rules(self) -> None:
        """Remove every rule set here."""
        if self._tables:
            self.nft(f"delete table inet {TABLE}\n")
            self._tables = False


#: chains not torn down yet (for the exit handler)
_LIVE: list[Chain] = []


class Chain:
    """client -- router 1 -- ... -- router N -- target."""

    def __init__(self, routers: int = 1, prefix: str = "pg", ipv6: bool = True) -> None:
        if routers < 0 or routers > 9:
            raise ValueError("0 to 9 routers")
        tag = prefix + os.urandom(3).hex()
        if len(tag) + 2 > 15:
            raise ValueError(f"prefix {prefix!r} too long for interface names")
        self.tag = tag
        self.ipv6 = ipv6
        self.client = Namespace(f"{tag}c")
        self.routers = [Namespace(f"{tag}r{k + 1}") for k in range(routers)]
        self.target = Namespace(f"{tag}t")
        self.up_ = False

    @property
    def namespaces(self) -> list[Namespace]:
        return [self.client, *self.routers, self.target]

    @property
    def names(self) -> list[str]:
        return [ns.name for ns in self.namespaces]

    def up(self, timeout: float = 15.0) -> Chain:
        """Make the namespaces, links, addresses and routes; return once the
        client reaches the target (IPv4, and IPv6 unless ``ipv6=False``)."""
        outside_the_quick_lane("network namespace", "netns")
        _LIVE.append(self)
        try:
            self._build()
            self._wait(timeout)
        except BaseException:
            self.down()
            raise
        self.up_ = True
        return self

    def _build(self) -> None:
        nodes = self.namespaces
        for ns in nodes:
            ip("netns", "add", ns.name)
            ip("-n", ns.name, "link", "set", "lo", "up")
        for ns in self.routers:
            ns.sh("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
            if self.ipv6:
                ns.sh("sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1")
        links = len(nodes) - 1
        for i in range(links):
            left, right = nodes[i], nodes[i + 1]
            a, b = f"{self.tag}{i}a", f"{self.tag}{i}b"
            ip("link", "add", a, "netns", left.name, "type", "veth", "peer", "name", b,
               "netns", right.name)  # fmt: skip
            for ns, dev, end in ((left, a, 1), (right, b, 2)):
                ip("-n", ns.name, "addr", "add", f"10.213.{i}.{end}/24", "dev", dev)
                ns.v4.append(f"10.213.{i}.{end}")
                if self.ipv6:
                    v6 = str(ipaddress.IPv6Address(f"fd00:213:{i}::{end}"))  # as ping prints it
                    ip("-n", ns.name, "-6", "addr", "add", f"{v6}/64", "dev", dev, "nodad")
                    ns.v6.append(v6)
                ip("-n", ns.name, "link", "set", dev, "up")
        # the ends: everything through their one neighbour; a router: the
        # links on its left through its left neighbour, on its right through
        # its right one
        for k, ns in enumerate(nodes):
            for j in range(links):
                if j in (k - 1, k):
                    continue  # its own links
                via = k - 1 if j < k else k  # its link towards link j
                end = 1 if j < k else 2
                ip("-n", ns.name, "route", "add", f"10.213.{j}.0/24", "via", f"10.213.{via}.{end}")
                if self.ipv6:
                    ip("-n", ns.name, "-6", "route", "add", f"fd00:213:{j}::/64", "via",
                          f"fd00:213:{via}::{end}")  # fmt: skip

    def _wait(self, timeout: float) -> None:
        targets = [self.target.v4[0]] + ([self.target.v6[0]] if self.ipv6 else [])
        deadline = time.monotonic() + timeout
        for address in targets:
            while True:
                done = self.client.run("ping", "-c", "1", "-W", "1", address)
                if done.returncode == 0:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.client.name} cannot reach {address}: {done.stdout}")
                time.sleep(0.2)

    def down(self) -> None:
        """End every process inside and delete the namespaces (idempotent)."""
        present = set(listed())
        for ns in self.namespaces:
            if ns.name not in present:
                continue
            pids = subprocess.run(["ip", "netns", "pids", ns.name], capture_output=True, text=True)
            for pid in pids.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", ns.name], capture_output=True)
        self.up_ = False
        if self in _LIVE:
            _LIVE.remove(self)

    def __enter__(self) -> Chain:
        return self.up()

    def __exit__(self, *exc: Any) -> None:
        self.down()


@atexit.register
def _down_all() -> None:
    for chain in list(_LIVE):
        chain.down()


def fixture(routers: int = 1, scope: str = "function", ipv6: bool = True) -> Any:
    """A pytest fixture that yields an up :class:`Chain` (skipped, with the
    reason, where the machine forbids namespaces)::

        chain = netns.fixture(routers=2)
    """
    import pytest

    @pytest.fixture(scope=scope)
    def chain() -> Any:
        reason = unavailable()
        if reason:
            pytest.skip(reason)
        with Chain(routers, ipv6=ipv6) as made:
            yield made

    return chain


_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def in_namespace(name: str, make: Callable[[], Any]) -> Any:
    """``make()`` run in a thread that has entered network namespace ``name``:
    the sockets it makes belong to that namespace for good."""
    result: dict[str, Any] = {}

    def body() -> None:
        try:
            fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
            finally:
                os.close(fd)
            result["value"] = make()
        except BaseException as e:
            result["error"] = e

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]
