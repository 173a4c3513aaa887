"""A server process under test or under measurement.

    service = Service(argv, workdir, name="thing", ready=lambda: listening(port))
    service.start()      # its own session; returns once ``ready()`` is true
    service.log()        # what it logged (``log_path``), service.output(): what it printed
    service.stop()       # SIGTERM, wait, SIGKILL after a timeout; returns the exit status

Every service runs in its own session (process group) and gets SIGTERM
from the kernel should the process that started it die first
(``PR_SET_PDEATHSIG``), so that nothing outlives a crashed test or bench.
"""

from __future__ import annotations

import ctypes
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

from tests.harness import outside_the_quick_lane, procs


def die_with_parent() -> None:
    """In the child, before exec: a new session, and SIGTERM when the parent dies."""
    os.setsid()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def wait_until(condition: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something true or ``timeout`` passes;
    returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def write_wrapper(folder: Path, name: str, command: list[str]) -> Path:
    """A one-line script that runs ``command`` with the arguments it is given.

    pingu runs one executable (``--ping``) with ping's argv and a clean
    environment, so a child's own settings are baked in here."""
    path = Path(folder) / name
    path.write_text("#!/bin/sh\nexec " + " ".join(shlex.quote(str(c)) for c in command) + ' "$@"\n')
    path.chmod(0o755)
    return path


def read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


class Service:
    """One server process.

    ``log_path`` is where it logs (what :meth:`log` reads); stdout and
    stderr go to ``out_path`` (what :meth:`output` reads), which may be the
    same file.  ``term_group`` sends SIGTERM to the whole process group
    (a controller and its workers); ``sweep`` SIGKILLs whatever is left in
    the group after the service ended (children it did not end itself).
    """

    #: seconds :meth:`start` waits for :meth:`is_ready`
    start_timeout = 20.0
    #: seconds :meth:`stop` waits after SIGTERM before SIGKILL
    stop_timeout = 15.0
    term_group = False
    sweep = False

    def __init__(
        self,
        argv: list[str],
        workdir: Path,
        name: str,
        env: Optional[dict[str, str]] = None,
        log_path: Optional[Path] = None,
        out_path: Optional[Path] = None,
        ready: Optional[Callable[[], bool]] = None,
    ) -> None:
        self.argv = [str(a) for a in argv]
        self.workdir = Path(workdir)
        self.name = name
        self.env = dict(os.environ if env is None else env)
        self.log_path = log_path or self.workdir / f"{name}.log"
        self.out_path = out_path or self.workdir / f"{name}.out"
        self._ready = ready
        self.proc: Optional[subprocess.Popen[bytes]] = None

    # -- running ------------------------------------------------------------

    def launch(self) -> Service:
        """Start the process and return at once."""
        outside_the_quick_lane(f"server ({self.name})", "e2e (or wamp)")
        with open(self.out_path, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                cwd=self.workdir, env=self.env, preexec_fn=die_with_parent,
            )  # fmt: skip
        return self

    def is_ready(self) -> bool:
        return self._ready() if self._ready is not None else True

    def wait_ready(self, timeout: Optional[float] = None) -> Service:
        """Block until :meth:`is_ready`; raise (with the log's tail) if the
        process exits first or ``timeout`` passes."""
        assert self.proc is not None, "not launched"
        timeout = self.start_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while not self.is_ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready in {timeout:g}s:\n{self.tail()}")
            time.sleep(0.05)
        return self

    def start(self, timeout: Optional[float] = None) -> Service:
        """:meth:`launch`, then :meth:`wait_ready`; stopped again if that fails."""
        self.launch()
        try:
            return self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: Optional[float] = None) -> Optional[int]:
        """SIGTERM (to the group with ``term_group``), wait ``timeout``, then
        SIGKILL; with ``sweep``, SIGKILL the group's leftovers.  Returns the
        exit status (None if it was never started)."""
        proc = self.proc
        if proc is None:
            return None
        timeout = self.stop_timeout if timeout is None else timeout
        if proc.poll() is None:
            self._signal(signal.SIGTERM, self.term_group)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL, self.term_group)
                proc.wait()
        if self.sweep:
            self._signal(signal.SIGKILL, True)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None and proc.returncode is not None and not pipe.closed:
                self._piped += pipe.read().decode(errors="replace")
                pipe.close()
        return proc.returncode

    _piped = ""

    def _signal(self, sig: int, group: bool) -> None:
        assert self.proc is not None
        try:
            if group:
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)
        except (ProcessLookupError, PermissionError):
            pass

    # -- looking at it ----------------------------------------------------------

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def children(self) -> list[int]:
        """Pids of its live (and zombie) children, but for pingu's watchdog
        (one per server, not a child of any run)."""
        if self.proc is None:
            return []
        return [pid for pid in procs.children_of(self.pid) if not procs.is_watchdog(pid)]

    def log(self) -> str:
        """What it logged so far."""
        return read_text(self.log_path)

    def output(self) -> str:
        """What it printed (stdout and stderr) so far; with a process whose
        stdout or stderr is a pipe, what came through it once it exited."""
        text = read_text(self.out_path) if self.out_path != self.log_path else ""
        proc = self.proc
        if proc is not None and proc.poll() is not None:
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None and not pipe.closed:
                    self._piped += pipe.read().decode(errors="replace")
                    pipe.close()
        return text + self._piped

    def tail(self, lines: int = 40) -> str:
        """The end of its log and of its output, for an error message."""
        text = self.log()
        if self.out_path != self.log_path:
            text += read_text(self.out_path)
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
