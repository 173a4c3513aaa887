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
the kernel (``PR_SET_PDEATHSIG``).  The router and the node are the shared
harness's (``tests/harness/crossbar.py``, ``tests/harness/pingu.py``), which
bench/ uses too; this module adds the tests' secret, fixtures and checks.
"""

from __future__ import annotations

import ctypes
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import pytest

from tests.harness import crossbar as harness
from tests.harness.crossbar import CROSSBAR, CROSSBAR_VENV, READY, available, router_config
from tests.harness.pingu import Node as HarnessNode
from tests.harness.ports import free_port
from tests.harness.procs import children_of

__all__ = [
    "CROSSBAR", "CROSSBAR_VENV", "READY", "SECRET", "CrossbarRouter", "Node", "Router",
    "available", "free_port", "list_page_routers", "module_nodes", "module_router", "needed",
    "router_config", "router_worker", "tcp_nodelay",
]  # fmt: skip

#: The nodes' shared secret in tests (never a real one).
SECRET = "test-secret-" + os.urandom(6).hex()

#: ``pytestmark = crossbar.needed``: skip a module when Crossbar is missing.
needed = pytest.mark.skipif(
    not available(), reason=f"no Crossbar at {CROSSBAR} (make it with .ci/crossbar-venv)"
)


class Router(harness.Router):
    """One ``crossbar start`` process in its own folder under ``workdir``,
    with the tests' :data:`SECRET` unless told otherwise."""

    def __init__(
        self,
        workdir: Path,
        secret: Optional[str] = SECRET,
        components: tuple[dict[str, Any], ...] = (),
        env: Optional[dict[str, str]] = None,
        webdir: Optional[Path] = None,
    ) -> None:
        super().__init__(workdir, secret, components, env, webdir)


#: The name the first version of this helper had.
CrossbarRouter = Router


class Node(HarnessNode):
    """A ``twistd pingu --router URL --node NAME --no-web`` process (or, with
    ``port``, one that also serves the page and /ws there), started at once."""

    def __init__(
        self,
        workdir: Path,
        router: str,
        name: str,
        secret: Optional[str] = SECRET,
        args: tuple[str, ...] = (),
        port: Optional[int] = None,
    ) -> None:
        super().__init__(workdir, router, name, secret, args=args, port=port)
        self.name = name
        self.launch()

    def wait_joined(self, count: int = 1, timeout: float = 30.0) -> Node:
        """Block until the node has joined ``count`` times."""
        self.want = count
        self.wait_ready(timeout)
        return self


def module_router(tmp_path_factory: Any) -> Any:
    """Fixture body: a router with :data:`SECRET`."""
    with Router(tmp_path_factory.mktemp("router")) as started:
        yield started


def module_nodes(router: Router, tmp_path_factory: Any) -> Any:
    """Fixture body: two nodes joined to the fixture ``router``, a dict by name:
    ``alpha`` also serves the page and /ws (on ``alpha.port``), ``beta`` does not."""
    workdir = tmp_path_factory.mktemp("nodes")
    yield from joined(
        [
            Node(workdir, router.url, "alpha", port=free_port()),
            Node(workdir, router.url, "beta"),
        ]
    )


def joined(started: list[Node]) -> Any:
    """Fixture body: ``started`` nodes, once all have joined, as a dict by
    name; every one stopped afterwards, however the tests ended."""
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


def list_page_routers(
    router: harness.Router, urls: Sequence[str], origins: Sequence[str] = ()
) -> None:
    """Before ``router`` starts: its page lets a link name the routers ``urls``
    (``pingu_router.page``'s ``extra.routers``), and its ``/ws`` lets pages of
    ``origins`` in (``allowed_origins``)."""
    path = router.cbdir / "config.json"
    config = json.loads(path.read_text())
    for worker in config["workers"]:
        for transport in worker.get("transports", []):
            for service in (transport.get("paths") or {}).values():
                if service.get("classname") == "pingu_router.page":
                    service["extra"]["routers"] = list(urls)
                allowed = (service.get("options") or {}).get("allowed_origins")
                if allowed is not None:
                    allowed.extend(origins)
    path.write_text(json.dumps(config, indent=1))


def router_worker(router: Router) -> int:
    """The pid of the router worker (the process that holds the connections)."""
    assert router.proc is not None
    workers = children_of(router.proc.pid)
    assert len(workers) == 1, workers
    return workers[0]
