"""The servers under test, on 127.0.0.1 and free ports, from the shared
harness (``tests/harness``): pingu (one process, or ``--workers N``: a
parent that accepts and N worker processes), websocketd, and pingu's WAMP
mode (a Crossbar.io router and one ``twistd pingu --router ... --no-web`` node).

Every server runs in its own session (process group); stopping it sends
SIGTERM, waits, and then SIGKILLs whatever is left in its group, so that
nothing a server left behind skews the next step.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Optional

from pingu.limits import Limits
from tests.harness import REPO, procs
from tests.harness import crossbar as harness_crossbar
from tests.harness import pingu as harness_pingu
from tests.harness.ports import free_port, listening
from tests.harness.service import Service

BENCH = Path(__file__).resolve().parent
CHILDREN = BENCH / "children"

#: pingu's limits are per client address: raised so that the bench measures
#: the server, not the policy (the clients come from up to 253 loopback
#: addresses, several sessions each; scenario d's all from 127.0.0.1).  With
#: ``--workers N`` the whole-server ones (--max-runs, --max-handshakes) are
#: divided among the workers, the per-client ones are not.  ``--max-lag``
#: too: the bench measures how much the server carries and how late, which
#: refusing sessions once it is 0.5 s behind (the default) would hide; in the
#: quick run of 2026-12-06 on a busy machine, 168 of pingu-w2's 1000 sessions
#: starting at once were refused busy (4503) under the default.
#: --max-runs 2500: pingu refuses at start-up limits whose worst case does
#: not fit its descriptors (runs x 5 + connections + handshakes + lookups x 2
#: + 64: 17,748 here), and this machine's hard RLIMIT_NOFILE is 20,000; no
#: scenario holds more than 1,000 runs at once.
PINGU_BENCH_LIMITS = [
    "--max-runs", "2500",
    "--max-runs-per-client", "2500",
    "--max-connections-per-client", "10000",
    "--max-starts-per-second", "100000",
    "--min-interval", "0.01",
    "--max-count", "1000000",
    "--max-watched-per-client", "5000",
    "--max-handshakes-per-client", "1024",
    "--max-handshakes", "1024",
    "--max-lag", "3600",
]  # fmt: skip

#: the WAMP node's name and the router's secret, for this run only
NODE = "bench"
SECRET = "bench-" + os.urandom(6).hex()


class BenchServer:
    """What the scenarios use of a server: ``url``, ``pid``, ``children()``,
    ``stop()``; the log and the output share one file."""

    sweep = True
    path = "/"
    port: int

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{self.path}"

    def roles(self, table: dict[int, int]) -> dict[str, int]:
        """The processes that count as the server, by role (``table``: pid ->
        parent pid, one pass over /proc): the one process here."""
        return {"server": self.pid}


class Pingu(BenchServer, harness_pingu.Pingu):
    """``twistd -n pingu`` from the bench's venv with the bench's limits,
    optionally from another source tree (``--pingu-src``) and under cProfile.

    With ``workers`` > 1, ``twistd -n pingu --workers N``: the parent accepts
    and hands each connection to its client's worker (``twistd ... --worker
    I/N``, a child of the parent), and each worker has its own watchdog and
    tool children.  The server is then the parent, the workers and their
    watchdogs (:meth:`roles`); :meth:`children` are the tool processes (ping)
    of every worker.  Ready once the port listens and every worker has
    started its watchdog."""

    path = "/ws"

    def __init__(
        self,
        workdir: Path,
        name: str,
        ping: Path,
        src: Optional[Path] = None,
        profile: Optional[Path] = None,
        workers: int = 1,
        refuse_busy: bool = False,
    ) -> None:
        self.workers = workers
        self._watchdog: dict[int, bool] = {}  # pid -> is it a watchdog (cmdline read once)
        limits = list(PINGU_BENCH_LIMITS)
        if refuse_busy:  # pingu's default --max-lag (scenario f), named: the harness
            # would otherwise give the tests' own
            limits[limits.index("--max-lag") + 1] = f"{Limits().max_lag:g}"
        args = [*limits, *(["--workers", str(workers)] if workers > 1 else [])]
        super().__init__(workdir, name, ping=ping, args=args, src=src, profile=profile, wait="port")

    def worker_pids(self, table: Optional[dict[int, int]] = None) -> dict[int, int]:
        """Worker index -> pid (from its ``--worker I/N``), the live ones."""
        found = {}
        for pid in procs.children_of(self.pid, table):
            index = worker_index(pid)
            if index is not None:
                found[index] = pid
        return found

    def roles(self, table: dict[int, int]) -> dict[str, int]:
        if self.workers == 1:
            return {"server": self.pid}
        found = {"parent": self.pid}
        for index, pid in sorted(self.worker_pids(table).items()):
            found[f"worker {index}"] = pid
            for kid in procs.children_of(pid, table):
                if self.is_watchdog(kid):
                    found[f"watchdog {index}"] = kid
        return found

    def is_watchdog(self, pid: int) -> bool:
        """:func:`procs.is_watchdog`, remembered once the process has exec'd
        (a child not yet past exec still shows its worker's command line)."""
        known = self._watchdog.get(pid)
        if known is not None:
            return known
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read()
        except OSError:
            return False
        answer = b"pingu/watchdog.py" in argv
        # (an empty command line is a process between fork and exec, or
        # exiting: asked again next time)
        if answer or (argv and b"twisted.scripts.twistd" not in argv):
            self._watchdog[pid] = answer
        return answer

    def children(self) -> list[int]:
        """The tool processes (ping): the server's children, or with
        ``--workers``, the workers' children; never a watchdog."""
        if self.workers == 1 or self.proc is None:
            return super().children()
        table = procs.parents()
        return [
            kid
            for pid in self.worker_pids(table).values()
            for kid in procs.children_of(pid, table)
            if not self.is_watchdog(kid)
        ]

    def is_ready(self) -> bool:
        if not super().is_ready():
            return False
        if self.workers == 1:
            return True
        watchdogs = [r for r in self.roles(procs.parents()) if r.startswith("watchdog ")]
        return len(watchdogs) == self.workers


def worker_index(pid: int) -> Optional[int]:
    """I of a ``twistd ... pingu ... --worker I/N`` process, None for another."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return None
    if b"--worker" not in argv[:-1]:
        return None
    try:
        return int(argv[argv.index(b"--worker") + 1].split(b"/")[0])
    except ValueError:
        return None


class Websocketd(BenchServer, Service):
    """``websocketd --port=P --address=127.0.0.1 CHILD ARGS``."""

    def __init__(self, workdir: Path, name: str, child: list[str]) -> None:
        self.port = free_port()
        argv = ["websocketd", f"--port={self.port}", "--address=127.0.0.1", "--loglevel=error"]
        log = workdir / f"{name}.log"
        super().__init__([*argv, *child], workdir, name, log_path=log, out_path=log)

    def is_ready(self) -> bool:
        return listening(self.port)


class PythonPeer(BenchServer, Service):
    """One of the bench's Python peers (``bench/peers``): ``websockets_peer``
    (python-websockets) or ``asgi_peer`` (an ASGI app on uvicorn), run by the
    bench's own Python: ``PEER.py --port P -- CHILD ARGS``."""

    def __init__(self, workdir: Path, name: str, peer: str, child: list[str]) -> None:
        self.port = free_port()
        script = Path(__file__).resolve().parent / "peers" / f"{peer}.py"
        argv = [sys.executable, str(script), "--port", str(self.port), "--", *child]
        log = workdir / f"{name}.log"
        super().__init__(argv, workdir, name, log_path=log, out_path=log)

    def is_ready(self) -> bool:
        return listening(self.port)


class Router(BenchServer, harness_crossbar.Router):
    """The router for the WAMP fan-out (Crossbar compiles its imports on a
    first start: a long timeout)."""

    start_timeout = 120.0
    path = "/ws"

    def __init__(self, workdir: Path, name: str) -> None:
        super().__init__(workdir, SECRET, name=name)

    def viewer_spec(self, target: str) -> dict[str, Any]:
        """What bench/wampclient.py needs to watch ``target`` on the node."""
        return {
            "url": self.url,
            "subprotocol": "wamp.2.json",
            "realm": "pingu",
            "node": NODE,
            "target": target,
        }


class Node(BenchServer, harness_pingu.Node):
    """One ``twistd pingu --router URL --node bench --no-web`` node."""

    def __init__(self, workdir: Path, name: str, router: Router, ping: Path, src: Any) -> None:
        super().__init__(
            workdir,
            router.url,
            NODE,
            SECRET,
            args=PINGU_BENCH_LIMITS,
            ping=ping,
            name=name,
            src=src,
        )


def wamp_available(src: Optional[Path] = None) -> Any:
    """True, or why the WAMP fan-out cannot run here."""
    tree = (src or REPO) / "pingu"
    if not ((tree / "wamp.py").exists() or (tree / "wamp").is_dir()):
        return f"{tree}/wamp(.py) is missing"
    if not (REPO / ".crossbar" / "config.json").exists():
        return ".crossbar/config.json is missing"
    if not harness_crossbar.available():
        return f"no Crossbar.io at {harness_crossbar.CROSSBAR} (run .ci/crossbar-venv)"
    return True
