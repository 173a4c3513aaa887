"""Start and stop the servers under test, on 127.0.0.1 and free ports.

Every server runs in its own session (process group) so that stopping it
also ends anything it left behind; each is stopped with SIGTERM, then
SIGKILL to its group after a timeout.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

from procstat import children

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CHILDREN = BENCH / "children"

#: pingu's limits are per client address and all bench clients are
#: 127.0.0.1: raised so that the bench measures the server, not the policy.
PINGU_BENCH_LIMITS = [
    "--max-runs",
    "5000",
    "--max-runs-per-client",
    "5000",
    "--max-connections-per-client",
    "10000",
    "--max-starts-per-second",
    "100000",
    "--min-interval",
    "0.01",
    "--max-count",
    "1000000",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:g}s")


def write_wrapper(folder: Path, name: str, command: list[str]) -> Path:
    """A one-line script for ``--ping``: pingu runs one executable with
    ping's argv and a clean environment, so the child's own settings are
    baked in here."""
    path = folder / name
    path.write_text("#!/bin/sh\nexec " + " ".join(shlex.quote(c) for c in command) + ' "$@"\n')
    path.chmod(0o755)
    return path


class Server:
    kind = "server"
    path = "/"

    def __init__(self, workdir: Path, name: str) -> None:
        self.workdir = workdir
        self.name = name
        self.port = free_port()
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = workdir / f"{name}.log"

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{self.path}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    #: seconds to wait for the port (Crossbar compiles its imports on a first start)
    start_timeout = 20.0

    def start(self) -> Server:
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
            wait_port(self.port, self.proc, self.start_timeout)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 15.0) -> Optional[int]:
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        # Whatever is left in the server's own process group (it was
        # started with its own session): children that did not end.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        return proc.returncode

    def children(self) -> list[int]:
        return children(self.pid) if self.proc else []

    def log_tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


class Pingu(Server):
    """``twistd -n pingu`` from the bench's venv, optionally with another
    source tree first on ``sys.path`` (``--pingu-src``, to measure a patch)
    and optionally under cProfile."""

    kind = "pingu"
    path = "/ws"

    def __init__(
        self,
        workdir: Path,
        name: str,
        ping: Path,
        extra: Optional[list[str]] = None,
        src: Optional[Path] = None,
        profile: Optional[Path] = None,
    ) -> None:
        super().__init__(workdir, name)
        self.ping = ping
        self.extra = extra or []
        self.src = src
        self.profile = profile

    def command(self) -> list[str]:
        twistd = Path(sys.executable).parent / "twistd"
        cmd = [str(twistd), "-n", "--pidfile=", f"--logfile={self.log_path}"]
        if self.profile is not None:
            cmd += [f"--profile={self.profile}", "--profiler=cprofile", "--savestats"]
        return [
            *cmd,
            "pingu",
            "--port",
            f"tcp:{self.port}:interface=127.0.0.1",
            "--ping",
            str(self.ping),
            *PINGU_BENCH_LIMITS,
            *self.extra,
        ]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.src is not None:
            env["PYTHONPATH"] = str(self.src)
        return env


class Websocketd(Server):
    kind = "websocketd"

    def __init__(self, workdir: Path, name: str, child: list[str]) -> None:
        super().__init__(workdir, name)
        self.child = child

    def command(self) -> list[str]:
        return [
            "websocketd",
            f"--port={self.port}",
            "--address=127.0.0.1",
            "--loglevel=error",
            *self.child,
        ]


def stop_all(servers: list[Any]) -> None:
    for s in servers:
        try:
            s.stop()
        except Exception:
            pass
