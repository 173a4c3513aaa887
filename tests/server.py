"""Start the real ``twistd pingu`` for tests, on a free port of 127.0.0.1.

    with PinguServer(tmp_path, fake="normal") as server:
        server.ws_url           # ws://127.0.0.1:PORT/ws
        server.http_url         # http://127.0.0.1:PORT/
        server.recorded_argv()  # argv of every ping the fake was started with
        server.children()       # pids of the server's live child processes
        server.stop()           # SIGTERM, wait, returns the exit status

``fake=None`` runs the real ping.  ``fake="scenario"`` runs the FAKE ping
(``tests/fake_ping.py``) through a small wrapper script, because pingu gives
ping a clean environment and its own argv.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parent.parent
FAKE_PING = REPO / "tests" / "fake_ping.py"
TWISTD = Path(sys.executable).parent / "twistd"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_fake_ping(folder: Path, scenario: str, extra: str = "") -> tuple[Path, Path]:
    """Write a wrapper that runs the FAKE ping; returns (wrapper, record file)."""
    record = folder / f"argv-{scenario}.jsonl"
    wrapper = folder / f"fake-ping-{scenario}"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"exec {shlex.quote(sys.executable)} {shlex.quote(str(FAKE_PING))} "
        f"--scenario {shlex.quote(scenario)} --record {shlex.quote(str(record))} {extra} "
        '--ping-args "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper, record


def children_of(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (zombies included: they still have one)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry))
    return found


def zombies_of(pid: int) -> list[int]:
    """Children of ``pid`` in state Z."""
    out = []
    for child in children_of(pid):
        try:
            with open(f"/proc/{child}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    out.append(child)
        except OSError:
            pass
    return out


def open_fds(pid: int) -> int:
    """How many file descriptors ``pid`` has open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


class PinguServer:
    """A ``twistd -n pingu`` child process."""

    def __init__(
        self,
        workdir: Path,
        fake: Optional[str] = None,
        args: tuple[str, ...] = (),
        fake_extra: str = "",
        env: Optional[dict[str, str]] = None,
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.record: Optional[Path] = None
        ping_args: list[str] = []
        if fake is not None:
            wrapper, self.record = make_fake_ping(workdir, fake, fake_extra)
            ping_args = ["--ping", str(wrapper)]
        self.argv = [
            str(TWISTD), "-n", "--pidfile=", "--logfile", str(workdir / "twistd.log"),
            "pingu", "--port", f"tcp:{self.port}:interface=127.0.0.1", *ping_args, *args,
        ]  # fmt: skip
        self.env = {**os.environ, **(env or {})}
        self.proc: Optional[subprocess.Popen[bytes]] = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 15.0) -> PinguServer:
        self.proc = subprocess.Popen(
            self.argv, cwd=self.workdir, env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"twistd pingu exited {self.proc.returncode}: {self.output()}")
            try:
                with urllib.request.urlopen(self.http_url + "pingu-info.json", timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"twistd pingu did not listen in time: {self.output()}")

    def output(self) -> str:
        log = self.workdir / "twistd.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        if self.proc is not None and self.proc.poll() is not None:
            assert self.proc.stderr is not None
            text += self.proc.stderr.read().decode(errors="replace")
        return text

    def log(self) -> str:
        """What the server logged so far."""
        log = self.workdir / "twistd.log"
        return log.read_text(errors="replace") if log.exists() else ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def children(self) -> list[int]:
        return children_of(self.pid)

    def wait_children(self, count: int, timeout: float = 5.0) -> list[int]:
        """Wait until the server has exactly ``count`` children."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.children()
            if len(found) == count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def recorded_argv(self) -> list[list[str]]:
        if self.record is None or not self.record.exists():
            return []
        return [json.loads(line)["argv"] for line in self.record.read_text().splitlines()]

    def recorded_env(self) -> list[dict[str, str]]:
        if self.record is None or not self.record.exists():
            return []
        return [json.loads(line)["env"] for line in self.record.read_text().splitlines()]

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait; returns twistd's exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> PinguServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
