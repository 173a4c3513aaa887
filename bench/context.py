"""What every scenario shares: the run's context (options, folders, the
servers it started), the compared variants and how a client greets each."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Optional

from servers import CHILDREN, Node, Pingu, PythonPeer, Router, Websocketd

from tests.harness.procs import machine_ticks
from tests.harness.service import Service, write_wrapper

#: a shell-script child's first line
SH = "#!/bin/sh\n"

PY = "/usr/bin/python3"  # the children's interpreter (pingu gives them PATH only)

__all__ = [
    "CHILDREN", "PY", "Ctx", "child_wrapper", "failed", "greeting", "log", "sources", "stop",
    "stop_all", "wait_children",
]  # fmt: skip

LIVE: list[Service] = []  # servers to stop whatever happens


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Ctx:
    """One bench run: its options, its folders, the servers it starts."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick = args.quick
        self.out = Path(args.out).resolve()
        self.tmp = self.out / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.src = Path(args.pingu_src).resolve() if args.pingu_src else None
        self.serial = 0
        self.quiet_budget = float(args.wait_quiet)  # seconds, for the whole run
        #: what the scenarios run so far found (scenario f reads e's)
        self.results: dict[str, Any] = {}

    def gate(self) -> float:
        """The machine's CPU use by others right before a step (% of one
        CPU); with --wait-quiet, first wait for it to fall under 30 % (the
        option's seconds are a budget for the whole run).  Other jobs on the
        machine skew every figure."""

        def busy(seconds: float = 0.3) -> float:
            b0, t0 = machine_ticks()
            time.sleep(seconds)
            b1, t1 = machine_ticks()
            return 100.0 * (os.cpu_count() or 1) * (b1 - b0) / max(t1 - t0, 1)

        load = busy()
        started = time.monotonic()
        while load > 30 and time.monotonic() - started < self.quiet_budget:
            load = busy(2.0)
        self.quiet_budget = max(0.0, self.quiet_budget - (time.monotonic() - started))
        if load > 30:
            log(f"the machine is busy ({load:.0f}% of a CPU used by others): figures are skewed")
        return load

    def pick(self, names: list[str]) -> list[str]:
        """``names``, less those --servers leaves out."""
        wanted = self.args.servers.split(",") if self.args.servers else None
        return [n for n in names if wanted is None or n in wanted]

    def name(self, what: str) -> str:
        self.serial += 1
        return f"{self.serial:02d}-{what}"

    def _start(self, server: Any) -> Any:
        LIVE.append(server)
        return server.start()

    def pingu(
        self,
        child: list[str],
        tag: str,
        profile: Optional[Path] = None,
        workers: int = 1,
        refuse_busy: bool = False,
    ) -> Pingu:
        wrapper = child_wrapper(self.tmp, f"child-{tag}", child)
        name = self.name(f"pingu-w{workers}-{tag}" if workers > 1 else f"pingu-{tag}")
        server = Pingu(
            self.tmp, name, wrapper, src=self.src, profile=profile, workers=workers,
            refuse_busy=refuse_busy,
        )  # fmt: skip
        return self._start(server)

    def websocketd(self, child: list[str], tag: str) -> Websocketd:
        return self._start(Websocketd(self.tmp, self.name(f"websocketd-{tag}"), child))

    def server(
        self, variant: str, child: list[str], tag: str, refuse_busy: bool = False
    ) -> Any:
        """The server that ``variant`` runs, serving ``child``, started
        (pingu at its default ``--max-lag`` with ``refuse_busy``)."""
        spec = VARIANTS[variant]
        if spec["server"] == "pingu":
            return self.pingu(child, tag, workers=spec.get("workers", 1), refuse_busy=refuse_busy)
        if spec["server"] in PYTHON_PEERS:
            peer = PythonPeer(self.tmp, self.name(f"{variant}-{tag}"), spec["server"], child)
            return self._start(peer)
        return self.websocketd(child, tag)

    def wamp(self, child: list[str]) -> tuple[Router, Node]:
        """A Crossbar router and a pingu node whose ping is ``child``, started."""
        router = self._start(Router(self.tmp, self.name("crossbar")))
        wrapper = child_wrapper(self.tmp, "child-wamp", child)
        node = self._start(Node(self.tmp, self.name("pingu-node"), router, wrapper, self.src))
        return router, node


def child_wrapper(folder: Path, name: str, child: list[str]) -> Path:
    """The executable pingu runs for ``child`` (pingu runs one executable
    with the tool's argv: the child's own arguments are baked in here).

    A shell-script child (realping, mixed) is copied with its arguments set
    in front, so that pingu's child is the same one shell websocketd and the
    Python peers start: wrapping it in a second shell cost pingu's children
    0.7 ms of CPU a session more than theirs (measured: sh → sh → true 2.0 ms,
    sh → true 1.3 ms), some 0.4 of a core at 600 sessions/s.  Other children
    (Python ones) get the harness's one-line wrapper."""
    script = Path(child[0])
    with open(script, "rb") as f:
        if f.read(len(SH)) != SH.encode():
            return write_wrapper(folder, name, child)
    text = script.read_text()
    args = " ".join(shlex.quote(a) for a in child[1:])
    # the script's "$0" is its own path (mixed finds its siblings by it)
    body = text[len(SH) :].replace('"$0"', shlex.quote(str(script)))
    path = Path(folder) / name
    path.write_text(f'{SH}set -- {args} "$@"\n{body}')
    path.chmod(0o755)
    return path


def failed(row: dict[str, Any], e: Exception) -> dict[str, Any]:
    """Record ``e`` as the row's error (its traceback goes to the log); the row."""
    row["error"] = f"{type(e).__name__}: {e}"
    log(traceback.format_exc())
    return row


def stop(server: Any) -> None:
    """Stop a server this run started (nothing when ``server`` is None)."""
    if server is None:
        return
    server.stop()
    if server in LIVE:
        LIVE.remove(server)


def stop_all() -> None:
    """Every server still running, the last started first."""
    for server in reversed(list(LIVE)):
        try:
            stop(server)
        except Exception as e:
            log(f"{server.name}: {e}")


#: The compared variants: the server kind (and pingu's --workers) and how
#: the client speaks to it.  pingu-w2 is ``twistd pingu --workers 2``: its
#: server CPU and RSS are sums over the parent, the workers and their watchdogs.
VARIANTS: dict[str, dict[str, Any]] = {
    "pingu": {"server": "pingu", "subprotocol": None},
    "pingu.json": {"server": "pingu", "subprotocol": "pingu.json"},
    "pingu-w2": {"server": "pingu", "workers": 2, "subprotocol": None},
    "pingu-w2.json": {"server": "pingu", "workers": 2, "subprotocol": "pingu.json"},
    "websocketd": {"server": "websocketd", "subprotocol": None},
    "py-websockets": {"server": "websockets_peer", "subprotocol": None},
    "py-asgi": {"server": "asgi_peer", "subprotocol": None},
}
#: the bench's Python peers (bench/peers): what people would write instead
PYTHON_PEERS = ("websockets_peer", "asgi_peer")
#: the peers' variants, in every scenario beside pingu and websocketd
PEERS = ["py-websockets", "py-asgi"]

#: How many loopback addresses the load clients' sessions come from
#: (127.0.0.2 … 127.0.0.254, round-robin by session): distinct clients, as
#: real ones are, for every server alike (pingu's per-client limits and its
#: --workers hand-off go by the client's address).
SOURCES = 253


def sources(first: int = 0) -> dict[str, int]:
    """A client spec's ``sources`` and ``source_base`` (see wsclient.py):
    session i comes from 127.0.0.(2 + (first + i) % 253)."""
    return {"sources": SOURCES, "source_base": first}


def first_message(variant: str, target: str) -> str:
    if VARIANTS[variant]["subprotocol"] == "pingu.json":
        return json.dumps({"target": target})
    return target


def greeting(variant: str, target: str) -> dict[str, Any]:
    """The client spec's ``first`` message and ``subprotocol`` for ``variant``."""
    return {
        "first": first_message(variant, target),
        "subprotocol": VARIANTS[variant]["subprotocol"],
    }


def wait_children(server: Any, n: int, timeout: float) -> int:
    """Wait until the server has ``n`` children (at least n, or none when n == 0)."""
    deadline = time.monotonic() + timeout
    while True:
        count = len(server.children())
        if count >= n if n else count == 0:
            return count
        if time.monotonic() > deadline:
            log(f"{server.name}: {count} children after {timeout:g}s (waited for {n})")
            return count
        time.sleep(0.1)
