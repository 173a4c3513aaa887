"""The servers under test, on 127.0.0.1 and free ports, from the shared
harness (``tests/harness``): pingu, websocketd, and pingu's WAMP mode (a
Crossbar.io router and one ``twistd pingu --router ... --no-web`` node).

Every server runs in its own session (process group); stopping it sends
SIGTERM, waits, and then SIGKILLs whatever is left in its group, so that
nothing a server left behind skews the next step.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

from tests.harness import REPO
from tests.harness import crossbar as harness_crossbar
from tests.harness import pingu as harness_pingu
from tests.harness.ports import free_port, listening
from tests.harness.service import Service

BENCH = Path(__file__).resolve().parent
CHILDREN = BENCH / "children"

#: pingu's limits are per client address and all bench clients are
#: 127.0.0.1: raised so that the bench measures the server, not the policy.
PINGU_BENCH_LIMITS = [
    "--max-runs", "5000",
    "--max-runs-per-client", "5000",
    "--max-connections-per-client", "10000",
    "--max-starts-per-second", "100000",
    "--min-interval", "0.01",
    "--max-count", "1000000",
    "--max-watched-per-client", "5000",
    "--max-handshakes-per-client", "1024",
    "--max-handshakes", "1024",
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


class Pingu(BenchServer, harness_pingu.Pingu):
    """``twistd -n pingu`` from the bench's venv with the bench's limits,
    optionally from another source tree (``--pingu-src``) and under cProfile."""

    path = "/ws"

    def __init__(
        self,
        workdir: Path,
        name: str,
        ping: Path,
        src: Optional[Path] = None,
        profile: Optional[Path] = None,
    ) -> None:
        super().__init__(
            workdir, name, ping=ping, args=PINGU_BENCH_LIMITS, src=src, profile=profile, wait="port"
        )


class Websocketd(BenchServer, Service):
    """``websocketd --port=P --address=127.0.0.1 CHILD ARGS``."""

    def __init__(self, workdir: Path, name: str, child: list[str]) -> None:
        self.port = free_port()
        argv = ["websocketd", f"--port={self.port}", "--address=127.0.0.1", "--loglevel=error"]
        log = workdir / f"{name}.log"
        super().__init__([*argv, *child], workdir, name, log_path=log, out_path=log)

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
