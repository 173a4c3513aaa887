"""``twistd -n pingu`` as a :class:`~tests.harness.service.Service`.

    Pingu(workdir, ping=wrapper, args=[...]).start()     # serves the page and /ws
    Node(workdir, router.url, "alpha", secret).start()  # joins a router (WAMP)

    with PinguServer(tmp_path, fake="normal") as server:  # the tests' server, started
        server.ws_url           # ws://127.0.0.1:PORT/ws
        server.http_url         # http://127.0.0.1:PORT/
        server.recorded_argv()  # argv of every ping the fake was started with
        server.children()       # pids of the server's live child processes
        server.stop()           # SIGTERM, wait, returns the exit status

``fake=None`` runs the real ping.  ``fake="scenario"`` runs the FAKE ping
(:data:`FAKE_PING`) through a small wrapper script (:func:`make_fake_ping`),
because pingu gives ping a clean environment and its own argv.

Both log to ``workdir/NAME.log`` (twistd's ``--logfile``) and listen on
127.0.0.1 only.  ``src`` puts another source tree first on ``PYTHONPATH``
(a patched copy of pingu); ``profile`` runs twistd under cProfile.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

from tests.harness.ports import free_port, listening
from tests.harness.service import Service, wait_until, write_wrapper

#: twistd next to the running interpreter (the venv's)
TWISTD = Path(sys.executable).parent / "twistd"
#: The FAKE ping, for what real ping cannot do on demand.
FAKE_PING = Path(__file__).resolve().parent / "fake_ping.py"


#: The tests' ``--max-lag`` unless a test sets its own: the suite runs three
#: test files at once on two cores beside chromium and Crossbar, where an event
#: loop a second behind is the machine, not the server under test.  A test of
#: the overload refusal itself names the lag it means (test_overload_e2e).
TESTS_MAX_LAG = ("--max-lag", "10")


def twistd_argv(
    log_path: Path, pingu_args: Sequence[str], profile: Optional[Path] = None
) -> list[str]:
    """``twistd -n pingu ARGS`` logging to ``log_path``, optionally under cProfile."""
    argv = [str(TWISTD), "-n", "--pidfile=", "--logfile", str(log_path)]
    if profile is not None:
        argv += [f"--profile={profile}", "--profiler=cprofile", "--savestats"]
    lag = () if "--max-lag" in pingu_args else TESTS_MAX_LAG
    return [*argv, "pingu", *lag, *pingu_args]


def pingu_env(
    env: Optional[dict[str, str]] = None,
    secret: Optional[str] = None,
    src: Optional[Path] = None,
) -> dict[str, str]:
    """The environment for a pingu process: ours plus ``env``, the WAMP
    secret only when given, ``src`` first on ``PYTHONPATH``."""
    out = {k: v for k, v in os.environ.items() if k != "PINGU_WAMP_SECRET"}
    out.update(env or {})
    if secret is not None:
        out["PINGU_WAMP_SECRET"] = secret
    if src is not None:
        out["PYTHONPATH"] = str(src)
    return out


class Pingu(Service):
    """A pingu web server on ``127.0.0.1:port``.

    Ready when ``/pingu-info.json`` answers (``wait="http"``) or, for a tree
    that may not serve it, when the port accepts connections (``"port"``)."""

    def __init__(
        self,
        workdir: Path,
        name: str = "twistd",
        ping: Optional[Path] = None,
        args: Sequence[str] = (),
        env: Optional[dict[str, str]] = None,
        src: Optional[Path] = None,
        profile: Optional[Path] = None,
        wait: str = "http",
    ) -> None:
        self.port = free_port()
        log_path = Path(workdir) / f"{name}.log"
        ping_args = ["--ping", str(ping)] if ping is not None else []
        argv = twistd_argv(
            log_path,
            ["--port", f"tcp:{self.port}:interface=127.0.0.1", *ping_args, *args],
            profile,
        )
        super().__init__(argv, workdir, name, pingu_env(env, src=src), log_path=log_path)
        self.wait = wait

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def is_ready(self) -> bool:
        if self.wait == "port":
            return listening(self.port)
        try:
            with urllib.request.urlopen(self.http_url + "pingu-info.json", timeout=1):
                return True
        except OSError:
            return False


class Node(Service):
    """``twistd pingu --router URL --node NAME --no-web`` (or, with ``port``,
    one that also serves the page and /ws there).  Ready once its log says it
    joined the router ``want`` times."""

    start_timeout = 60.0

    def __init__(
        self,
        workdir: Path,
        router: str,
        node: str,
        secret: Optional[str],
        args: Sequence[str] = (),
        port: Optional[int] = None,
        ping: Optional[Path] = None,
        name: Optional[str] = None,
        src: Optional[Path] = None,
    ) -> None:
        self.node = node
        self.port = port
        name = name or f"node-{node}-{os.urandom(3).hex()}"
        log_path = Path(workdir) / f"{name}.log"
        web = ["--port", f"tcp:{port}:interface=127.0.0.1"] if port else ["--no-web"]
        ping_args = ["--ping", str(ping)] if ping is not None else []
        argv = twistd_argv(log_path, ["--router", router, "--node", node, *web, *ping_args, *args])
        super().__init__(argv, workdir, name, pingu_env(secret=secret, src=src), log_path=log_path)
        self.want = 1

    def joined(self) -> int:
        """How many times the node has joined the router so far."""
        return self.log().count(f"node {self.node} joined")

    def wait_joined(self, count: int = 1, timeout: float = 30.0) -> Node:
        """Block until the node has joined ``count`` times."""
        self.want = count
        self.wait_ready(timeout)
        return self

    def is_ready(self) -> bool:
        return self.joined() >= self.want


@contextmanager
def chain_served(
    chain: Any, workdir: Path, args: Sequence[str], helper: Any
) -> Iterator[Any]:
    """``chain`` (a :class:`netns.Chain`) with ``chain.server``, twistd
    pingu in its client namespace (:class:`NamespacePingu`, with ``args``),
    for the block; then ``helper`` (the test's own server in the chain, a
    ``Popen``) killed and waited for, however the block ends."""
    server = NamespacePingu(chain.client, workdir, f"pingu-{chain.client.name}", args)
    try:
        with server:
            chain.server = server
            yield chain
    finally:
        helper.kill()
        helper.wait()


class NamespacePingu(Pingu):
    """``twistd pingu`` inside network namespace ``ns`` (a :class:`netns.Namespace`),
    on that namespace's 127.0.0.1; :meth:`socket` connects from inside it."""

    def __init__(self, ns: Any, workdir: Path, name: str, args: Sequence[str]) -> None:
        super().__init__(workdir, name=name, args=tuple(args), wait="port")
        self.ns = ns
        self.argv = ns.argv(*self.argv)

    def socket(self, source: str = "127.0.0.1") -> socket.socket:
        """A TCP connection to the server from ``source``, made in its namespace."""
        from tests.harness.netns import in_namespace

        return in_namespace(
            self.ns.name,
            lambda: socket.create_connection(("127.0.0.1", self.port), 5, (source, 0)),
        )

    def run_json(
        self, request: dict[str, Any], timeout: float = 30
    ) -> tuple[list[dict[str, Any]], int]:
        """One ``pingu.json`` request from inside the namespace: every event
        until the server closes, and the close code (:func:`json_events`)."""
        import json

        from websockets.sync.client import connect

        with connect(
            f"ws://127.0.0.1:{self.port}/ws", sock=self.socket(), proxy=None,
            open_timeout=5, subprotocols=["pingu.json"],
        ) as conn:  # fmt: skip
            conn.send(json.dumps(request))
            return json_events(conn, timeout)

    def is_ready(self) -> bool:
        try:
            self.socket().close()
            return True
        except OSError:
            return False


def json_events(conn: Any, timeout: float) -> tuple[list[dict[str, Any]], int]:
    """Every ``pingu.json`` event on an open (websockets sync) connection
    until the server closes it, and the close code (1006 for none);
    ``TimeoutError`` if it has not closed within ``timeout`` seconds."""
    from websockets.exceptions import ConnectionClosed

    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            got.append(json.loads(conn.recv(timeout=max(0.1, deadline - time.monotonic()))))
    except ConnectionClosed as closed:
        return got, closed.rcvd.code if closed.rcvd else 1006
    except TimeoutError:
        raise TimeoutError(f"no close within {timeout} s: {got}") from None


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
    """The tests' ``twistd -n pingu``, optionally with the fake ping."""

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
