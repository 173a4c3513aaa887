"""A real Crossbar.io router for tests, on a free port of 127.0.0.1.

    router = CrossbarRouter(tmp_path, secret="...").start()
    router.url          # ws://127.0.0.1:PORT/ws   (WAMP)
    router.http_url     # http://127.0.0.1:PORT/   (the page, served by the router)
    router.restart()    # stop and start again on the same port
    router.stop()

The configuration is the repository's ``.crossbar/config.json`` with only the
port changed and the page folder made absolute, so the tests check the
configuration that ships.  Crossbar runs from its own venv
(``.ci/crossbar-venv`` makes it; ``PINGU_CROSSBAR_VENV`` says where).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Optional

from tests.server import REPO, free_port

CROSSBAR_VENV = Path(os.environ.get("PINGU_CROSSBAR_VENV", REPO / ".venv-crossbar"))
CROSSBAR = CROSSBAR_VENV / "bin" / "crossbar"


def available() -> bool:
    """Is Crossbar installed where the tests look for it?"""
    return CROSSBAR.exists()


def router_config(port: int, extra_workers: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    """The shipped configuration, on ``port``, serving the repository's page."""
    config = json.loads((REPO / ".crossbar" / "config.json").read_text())
    router = config["workers"][0]
    transport = router["transports"][0]
    transport["endpoint"] = {"type": "tcp", "port": port, "interface": "127.0.0.1"}
    transport["paths"]["/"]["directory"] = str(REPO / "web")
    config["workers"].extend(extra_workers)
    return config


class CrossbarRouter:
    """One ``crossbar start`` process."""

    def __init__(
        self,
        workdir: Path,
        secret: str,
        extra_workers: tuple[dict[str, Any], ...] = (),
        env: Optional[dict[str, str]] = None,
    ) -> None:
        self.port = free_port()
        self.cbdir = workdir / "crossbar"
        self.cbdir.mkdir(parents=True, exist_ok=True)
        (self.cbdir / "config.json").write_text(
            json.dumps(router_config(self.port, extra_workers), indent=1)
        )
        self.env = {**os.environ, "PINGU_WAMP_SECRET": secret, **(env or {})}
        self.log_path = workdir / "crossbar.log"
        self.proc: Optional[subprocess.Popen[bytes]] = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 60.0, ready: str = "NODE_BOOT_COMPLETE") -> CrossbarRouter:
        offset = len(self.log())
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [str(CROSSBAR), "start", "--cbdir", str(self.cbdir), "--loglevel", "info"],
                stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=self.cbdir,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while ready not in self.log()[offset:]:
            if self.proc.poll() is not None:
                raise RuntimeError(f"crossbar exited {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"crossbar not ready in {timeout}s:\n{self.log()}")
            time.sleep(0.1)
        return self

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        # the node's own ports are free again once the process group is gone

    def restart(self) -> CrossbarRouter:
        self.stop()
        return self.start()

    def __enter__(self) -> CrossbarRouter:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
