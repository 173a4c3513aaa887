"""A real Crossbar.io router and real ``twistd pingu`` nodes, for tests.

    from tests import crossbar

    pytestmark = crossbar.needed               # skip when the Crossbar venv is missing

    with crossbar.Router(tmp_path, secret) as router:   # started, stopped at the end
        router.url          # ws://127.0.0.1:PORT/ws   (WAMP)
        router.http_url     # http://127.0.0.1:PORT/   (the page, served by the router)
        router.restart()    # stop and start again on the same port
        router.log()        # everything Crossbar printed

        node = crossbar.Node(tmp_path, router.url, "alpha", secret)  # twistd pingu --router
        node.wait_joined()  # until its log says it joined (count=2: joined twice)
        node.children()     # pids of its children (the ping processes)
        node.stop()

Or as pytest fixtures, a router and two nodes ``alpha`` and ``beta`` for a
whole test module::

    router = pytest.fixture(scope="module")(crossbar.module_router)
    nodes = pytest.fixture(scope="module")(crossbar.module_nodes)  # needs ``router``

The configuration is the repository's ``.crossbar/config.json`` with only the
port changed (Crossbar reads a port as a number, never from the
environment), the page folder and the worker's ``pythonpath`` made absolute
and, if asked, router components added, so the tests check the configuration that ships.  Crossbar
runs from its own venv (``.ci/crossbar-venv`` makes it; ``PINGU_CROSSBAR_VENV``
says where); it is started in its own process group, stopped with SIGTERM
(SIGKILL after a while) and, should the test process die first, killed by
the kernel (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import pytest

from tests.server import REPO, TWISTD, children_of, free_port

CROSSBAR_VENV = Path(os.environ.get("PINGU_CROSSBAR_VENV", REPO / ".venv-crossbar"))
CROSSBAR = CROSSBAR_VENV / "bin" / "crossbar"
#: The line Crossbar logs when its configuration has been started.
READY = "NODE_BOOT_COMPLETE"
#: The nodes' shared secret in tests (never a real one).
SECRET = "test-secret-" + os.urandom(6).hex()


def available() -> bool:
    """Is Crossbar installed where the tests look for it?"""
    return CROSSBAR.exists()


#: ``pytestmark = crossbar.needed``: skip a module when Crossbar is missing.
needed = pytest.mark.skipif(
    not available(), reason=f"no Crossbar at {CROSSBAR} (make it with .ci/crossbar-venv)"
)


def _die_with_parent() -> None:
    """In the child, before exec: a new session, and SIGTERM when the parent dies."""
    os.setsid()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def router_config(
    port: int, components: tuple[dict[str, Any], ...] = (), webdir: Optional[Path] = None
) -> dict[str, Any]:
    """The shipped configuration, on 127.0.0.1:``port``, serving ``webdir``
    (the repository's page), with ``components`` added to the router worker."""
    config = json.loads((REPO / ".crossbar" / "config.json").read_text())
    router = config["workers"][0]
    transport = router["transports"][0]
    transport["endpoint"] = {"type": "tcp", "port": port, "interface": "127.0.0.1"}
    transport["paths"]["/"]["directory"] = str(webdir or REPO / "web")
    # relative to the cbdir, which is a copy here: the shipped one's
    options = router.get("options", {})
    if "pythonpath" in options:
        options["pythonpath"] = [str(REPO / ".crossbar" / p) for p in options["pythonpath"]]
    if components:
        router.setdefault("components", []).extend(components)
    return config


class Router:
    """One ``crossbar start`` process in its own folder under ``workdir``."""

    def __init__(
        self,
        workdir: Path,
        secret: Optional[str] = SECRET,
        components: tuple[dict[str, Any], ...] = (),
        env: Optional[dict[str, str]] = None,
        webdir: Optional[Path] = None,
    ) -> None:
        self.port = free_port()
        self.cbdir = Path(workdir) / f"crossbar-{self.port}"
        self.cbdir.mkdir(parents=True, exist_ok=True)
        (self.cbdir / "config.json").write_text(
            json.dumps(router_config(self.port, components, webdir), indent=1)
        )
        self.env = {**os.environ, **(env or {})}
        self.env.pop("PINGU_WAMP_SECRET", None)
        if secret is not None:
            self.env["PINGU_WAMP_SECRET"] = secret
        self.log_path = Path(workdir) / f"crossbar-{self.port}.log"
        self.proc: Optional[subprocess.Popen[bytes]] = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 60.0) -> Router:
        """Start Crossbar; returns when it logged :data:`READY`."""
        offset = len(self.log())
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [str(CROSSBAR), "start", "--cbdir", str(self.cbdir), "--loglevel", "info"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env, cwd=self.cbdir, preexec_fn=_die_with_parent,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while READY not in self.log()[offset:]:
            if self.proc.poll() is not None:
                raise RuntimeError(f"crossbar exited {self.proc.returncode}:\n{self.log()[-5000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"crossbar not ready in {timeout}s:\n{self.log()[-5000:]}")
            time.sleep(0.05)
        return self

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to Crossbar's process group; SIGKILL after ``timeout``."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass
        try:  # a worker that outlived its controller
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def restart(self) -> Router:
        """Stop, then start again on the same port."""
        self.stop()
        return self.start()

    def __enter__(self) -> Router:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


#: The name the first version of this helper had.
CrossbarRouter = Router


class Node:
    """A ``twistd pingu --router URL --node NAME --no-web`` process (or, with
    ``port``, one that also serves the page and /ws there)."""

    def __init__(
        self,
        workdir: Path,
        router: str,
        name: str,
        secret: Optional[str] = SECRET,
        args: tuple[str, ...] = (),
        port: Optional[int] = None,
    ) -> None:
        self.name = name
        self.port = port
        self.log_path = Path(workdir) / f"node-{name}-{os.urandom(3).hex()}.log"
        web = ["--port", f"tcp:{port}:interface=127.0.0.1"] if port else ["--no-web"]
        env = {k: v for k, v in os.environ.items() if k != "PINGU_WAMP_SECRET"}
        if secret is not None:
            env["PINGU_WAMP_SECRET"] = secret
        self.proc = subprocess.Popen(
            [str(TWISTD), "-n", "--pidfile=", "--logfile", str(self.log_path), "pingu",
             "--router", router, "--node", name, *web, *args],
            cwd=workdir, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
        )  # fmt: skip

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def joined(self) -> int:
        """How many times the node has joined the router so far."""
        return self.log().count(f"node {self.name} joined")

    def wait_joined(self, count: int = 1, timeout: float = 30.0) -> Node:
        """Block until the node has joined ``count`` times."""
        deadline = time.monotonic() + timeout
        while self.joined() < count:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node {self.name} exited:\n{self.output()}{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {self.name} did not join in {timeout}s:\n{self.log()}")
            time.sleep(0.05)
        return self

    def output(self) -> str:
        """What the process printed (once it has exited)."""
        if self.proc.poll() is None or self.proc.stdout is None:
            return ""
        return self.proc.stdout.read().decode(errors="replace")

    def children(self) -> list[int]:
        """Pids of the node's children: its ping processes."""
        return children_of(self.proc.pid)

    def stop(self, timeout: float = 15.0) -> Optional[int]:
        """SIGTERM, wait; SIGKILL after ``timeout``.  Returns the exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode


def module_router(tmp_path_factory: Any) -> Any:
    """Fixture body: a router with :data:`SECRET`."""
    with Router(tmp_path_factory.mktemp("router")) as started:
        yield started


def module_nodes(router: Router, tmp_path_factory: Any) -> Any:
    """Fixture body: two nodes joined to the fixture ``router``, a dict by name:
    ``alpha`` also serves the page and /ws (on ``alpha.port``), ``beta`` does not."""
    workdir = tmp_path_factory.mktemp("nodes")
    started = [
        Node(workdir, router.url, "alpha", port=free_port()),
        Node(workdir, router.url, "beta"),
    ]
    try:
        for node in started:
            node.wait_joined()
        yield {node.name: node for node in started}
    finally:
        for node in started:
            node.stop()


def tcp_nodelay(pid: int, port: int) -> list[bool]:
    """TCP_NODELAY of every established TCP connection of process ``pid``
    whose local or remote port is ``port`` (Linux, as root: the sockets are
    borrowed with ``pidfd_getfd``).  Raises OSError where that cannot be done."""
    import socket

    inodes = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for row in f.readlines()[1:]:
                fields = row.split()
                local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
                ports = {int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16)}
                if state == "01" and port in ports:  # ESTABLISHED
                    inodes[inode] = True
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    found = []
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if not (link.startswith("socket:[") and link[8:-1] in inodes):
                continue
            mine = libc.syscall(438, pidfd, int(fd), 0)  # pidfd_getfd
            if mine < 0:
                raise OSError(ctypes.get_errno(), "pidfd_getfd")
            with socket.socket(fileno=mine) as sock:
                found.append(bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)))
    finally:
        os.close(pidfd)
    return found


def router_worker(router: Router) -> int:
    """The pid of the router worker (the process that holds the connections)."""
    assert router.proc is not None
    workers = children_of(router.proc.pid)
    assert len(workers) == 1, workers
    return workers[0]
