"""pingu's WAMP mode for the fan-out scenario: a Crossbar.io router and one
``twistd pingu --router ... --no-web`` node, both on 127.0.0.1.

The router runs the repository's own ``.crossbar/config.json`` with only the
port changed (as tests/crossbar.py does), from the Crossbar venv that
``.ci/crossbar-venv`` makes (``PINGU_CROSSBAR_VENV``, default
``.venv-crossbar``).  Viewers are bench/wampclient.py sessions.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from servers import PINGU_BENCH_LIMITS, REPO, Server, write_wrapper

CROSSBAR_VENV = Path(os.environ.get("PINGU_CROSSBAR_VENV", REPO / ".venv-crossbar"))
CROSSBAR = CROSSBAR_VENV / "bin" / "crossbar"
NODE = "bench"
SECRET = "bench-" + os.urandom(6).hex()


def available() -> Any:
    """True, or why not."""
    if not (REPO / "pingu" / "wamp.py").exists():
        return "pingu/wamp.py is missing"
    if not (REPO / ".crossbar" / "config.json").exists():
        return ".crossbar/config.json is missing"
    if not CROSSBAR.exists():
        return f"no Crossbar.io at {CROSSBAR} (run .ci/crossbar-venv)"
    return True


def wait_log(server: Server, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert server.proc is not None
        try:
            if text in server.log_path.read_text(errors="replace"):
                return
        except OSError:
            pass
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited: {server.log_tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{server.name}: no {text!r} after {timeout:g}s: {server.log_tail()}"
            )
        time.sleep(0.1)


class Router(Server):
    kind = "crossbar"
    path = "/ws"
    start_timeout = 120.0

    def __init__(self, workdir: Path, name: str) -> None:
        super().__init__(workdir, name)
        self.cbdir = workdir / name
        shutil.rmtree(self.cbdir, ignore_errors=True)  # no state from an earlier run
        self.cbdir.mkdir(parents=True)
        # as tests/crossbar.py's router_config(): the shipped configuration
        # with the port, the page folder and the worker's pythonpath changed
        config = json.loads((REPO / ".crossbar" / "config.json").read_text())
        router = config["workers"][0]
        transport = router["transports"][0]
        transport["endpoint"] = {"type": "tcp", "port": self.port, "interface": "127.0.0.1"}
        transport["paths"]["/"]["directory"] = str(REPO / "web")
        options = router.get("options", {})
        if "pythonpath" in options:
            options["pythonpath"] = [str(REPO / ".crossbar" / p) for p in options["pythonpath"]]
        (self.cbdir / "config.json").write_text(json.dumps(config, indent=1))

    def command(self) -> list[str]:
        return [str(CROSSBAR), "start", "--cbdir", str(self.cbdir), "--loglevel", "info"]

    def env(self) -> dict[str, str]:
        return {**os.environ, "PINGU_WAMP_SECRET": SECRET}

    def start(self) -> Router:
        super().start()
        wait_log(self, "NODE_BOOT_COMPLETE", self.start_timeout)
        return self

    def stop(self, timeout: float = 20.0) -> Any:
        # the controller and its worker processes, as tests/crossbar.py does
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        return super().stop(timeout)

    def viewer_spec(self, target: str) -> dict[str, Any]:
        return {
            "url": self.url,
            "subprotocol": "wamp.2.json",
            "realm": "pingu",
            "node": NODE,
            "target": target,
        }


class Node(Server):
    kind = "pingu-node"

    def __init__(self, workdir: Path, name: str, router: Router, ping: Path, src: Any) -> None:
        super().__init__(workdir, name)
        self.router = router
        self.ping = ping
        self.src = src

    def command(self) -> list[str]:
        twistd = Path(sys.executable).parent / "twistd"
        return [
            str(twistd),
            "-n",
            "--pidfile=",
            f"--logfile={self.log_path}",
            "pingu",
            "--router",
            self.router.url,
            "--node",
            NODE,
            "--no-web",
            "--ping",
            str(self.ping),
            *PINGU_BENCH_LIMITS,
        ]

    def env(self) -> dict[str, str]:
        env = {**os.environ, "PINGU_WAMP_SECRET": SECRET}
        if self.src is not None:
            env["PYTHONPATH"] = str(self.src)
        return env

    def start(self) -> Node:
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            env=self.env(),
            start_new_session=True,
        )
        log.close()
        try:
            wait_log(self, f"node {NODE} joined", 60)
        except Exception:
            self.stop()
            raise
        return self


def start_wamp(ctx: Any, child: list[str], live: list[Server]) -> tuple[Router, Node]:
    """A router and a node whose ping is ``child``; both put in ``live``."""
    router = Router(ctx.tmp, ctx.name("crossbar"))
    live.append(router)
    router.start()
    wrapper = write_wrapper(ctx.tmp, "child-wamp", child)
    node = Node(ctx.tmp, ctx.name("pingu-node"), router, wrapper, ctx.src)
    live.append(node)
    node.start()
    return router, node
