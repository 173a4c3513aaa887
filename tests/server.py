"""Start the real ``twistd pingu`` for tests, on a free port of 127.0.0.1.

    with PinguServer(tmp_path, fake="normal") as server:
        server.ws_url           # ws://127.0.0.1:PORT/ws
        server.http_url         # http://127.0.0.1:PORT/
        server.recorded_argv()  # argv of every ping the fake was started with
        server.children()       # pids of the server's live child processes
        server.stop()           # SIGTERM, wait, returns the exit status

``fake=None`` runs the real ping.  ``fake="scenario"`` runs the FAKE ping
(``tests/fake_ping.py``) through a small wrapper script, because pingu gives
ping a clean environment and its own argv.  Starting, waiting and stopping
are the shared harness's (``tests/harness``, which bench/ uses too).
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Optional

from tests.harness import REPO
from tests.harness.pingu import TWISTD, Pingu
from tests.harness.ports import free_port
from tests.harness.procs import children_of, open_fds, zombies_of
from tests.harness.service import wait_until, write_wrapper

__all__ = [
    "FAKE_PING", "REPO", "TWISTD", "PinguServer", "children_of", "free_port",
    "make_fake_ping", "open_fds", "zombies_of",
]  # fmt: skip

FAKE_PING = REPO / "tests" / "fake_ping.py"


def make_fake_ping(folder: Path, scenario: str, extra: str = "") -> tuple[Path, Path]:
    """Write a wrapper that runs the FAKE ping; returns (wrapper, record file)."""
    record = folder / f"argv-{scenario}.jsonl"
    wrapper = write_wrapper(
        folder,
        f"fake-ping-{scenario}",
        [sys.executable, FAKE_PING, "--scenario", scenario, "--record", record,
         *shlex.split(extra), "--ping-args"],
    )  # fmt: skip
    return wrapper, record


class PinguServer(Pingu):
    """A ``twistd -n pingu`` child process, optionally with the fake ping."""

    def __init__(
        self,
        workdir: Path,
        fake: Optional[str] = None,
        args: tuple[str, ...] = (),
        fake_extra: str = "",
        env: Optional[dict[str, str]] = None,
    ) -> None:
        self.record: Optional[Path] = None
        wrapper = None
        if fake is not None:
            wrapper, self.record = make_fake_ping(workdir, fake, fake_extra)
        super().__init__(workdir, ping=wrapper, args=args, env=env)

    def output(self) -> str:
        """Its log and what it printed."""
        return self.log() + super().output()

    def wait_children(self, count: int, timeout: float = 5.0) -> list[int]:
        """Wait until the server has exactly ``count`` children."""
        found: list[int] = []

        def exactly() -> bool:
            found[:] = self.children()
            return len(found) == count

        wait_until(exactly, timeout, 0.02)
        return found

    def _records(self) -> list[dict]:
        if self.record is None or not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]

    def recorded_argv(self) -> list[list[str]]:
        return [r["argv"] for r in self._records()]

    def recorded_env(self) -> list[dict[str, str]]:
        return [r["env"] for r in self._records()]
