"""A Crossbar.io router with the repository's own configuration.

The configuration is ``.crossbar/config.json`` with only the port changed
(Crossbar reads a port as a number, never from the environment), the page
folder and the worker's ``pythonpath`` made absolute and, if asked, router
components added, so what runs is the configuration that ships.  Crossbar
runs from its own venv (``.ci/crossbar-venv`` makes it; ``PINGU_CROSSBAR_VENV``
says where).  The router is ready when it logs :data:`READY`; it is stopped
with SIGTERM to its process group (controller and workers); should the test
process die first, the kernel kills it (``PR_SET_PDEATHSIG``).

    from tests.harness import crossbar

    pytestmark = crossbar.needed               # skip when the Crossbar venv is missing

    with crossbar.Router(tmp_path) as router:  # the tests' SECRET unless told otherwise
        router.url          # ws://127.0.0.1:PORT/ws   (WAMP)
        router.http_url     # http://127.0.0.1:PORT/   (the page, served by the router)
        router.restart()    # stop and start again on the same port

        node = crossbar.Node(tmp_path, router.url, "alpha")  # twistd pingu --router, launched
        node.wait_joined()  # until its log says it joined (count=2: joined twice)

Or as pytest fixtures, a router and two nodes ``alpha`` and ``beta`` for a
whole test module::

    router = pytest.fixture(scope="module")(crossbar.module_router)
    nodes = pytest.fixture(scope="module")(crossbar.module_nodes)  # needs ``router``
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from tests.harness import REPO
from tests.harness import pingu as harness_pingu
from tests.harness.ports import free_port
from tests.harness.procs import children_of
from tests.harness.service import Service

CROSSBAR_VENV = Path(os.environ.get("PINGU_CROSSBAR_VENV", REPO / ".venv-crossbar"))
CROSSBAR = CROSSBAR_VENV / "bin" / "crossbar"
#: The line Crossbar logs when its configuration has been started.
READY = "NODE_BOOT_COMPLETE"
#: The nodes' shared secret in tests (never a real one).
SECRET = "test-secret-" + os.urandom(6).hex()


def available() -> bool:
    """Is Crossbar installed where the harness looks for it?"""
    return CROSSBAR.exists()


def __getattr__(name: str) -> Any:
    # ``pytestmark = crossbar.needed``: skip a module when Crossbar is missing.
    # Made when asked for, so that bench/ (no pytest in its venv) can import
    # this module (the package's rule: no pytest at module level).
    if name == "needed":
        import pytest

        return pytest.mark.skipif(
            not available(), reason=f"no Crossbar at {CROSSBAR} (make it with .ci/crossbar-venv)"
        )
    raise AttributeError(name)


def router_config(
    port: int,
    components: tuple[dict[str, Any], ...] = (),
    webdir: Optional[Path] = None,
    config: str = "config.json",
    node_port: Optional[int] = None,
) -> dict[str, Any]:
    """The shipped configuration ``.crossbar/CONFIG``, on 127.0.0.1:``port``
    (its 8081; 8082, the router worker's own port for nodes in
    ``config-proxy.json``, on ``node_port``), serving ``webdir`` (the
    repository's page), with ``components`` added to the router worker."""
    config_ = json.loads((REPO / ".crossbar" / config).read_text())
    ports = {8081: port, 8082: node_port or port}
    for worker in config_["workers"]:
        for transport in worker.get("transports", []):
            endpoint = transport.get("endpoint", {})
            if endpoint.get("type") != "tcp":
                continue
            endpoint.update(port=ports[endpoint["port"]], interface="127.0.0.1")
            for path in (transport.get("paths") or {}).values():
                if path.get("type") == "static":
                    path["directory"] = str(webdir or REPO / "web")
                if path.get("type") == "resource" and "directory" in path.get("extra", {}):
                    path["extra"]["directory"] = str(webdir or REPO / "web")  # pingu_router.page
            # the router's own page, on this port: the only origin it lets in
            services = [*(transport.get("paths") or {}).values(), transport]
            for service in services:
                options = service.get("options") or {}
                if "allowed_origins" in options:
                    options["allowed_origins"] = [
                        origin.replace(":8081", f":{port}") for origin in options["allowed_origins"]
                    ]
    router = next(w for w in config_["workers"] if w["type"] == "router")
    # relative to the cbdir, which is a copy here: the shipped one's
    for worker in config_["workers"]:
        options = worker.get("options", {})
        if "pythonpath" in options:
            options["pythonpath"] = [str(REPO / ".crossbar" / p) for p in options["pythonpath"]]
    if components:
        router.setdefault("components", []).extend(components)
    return config_


class Router(Service):
    """One ``crossbar start`` in its own folder ``workdir/NAME`` (fresh), logging
    to ``workdir/NAME.log`` (kept across :meth:`restart`)."""

    start_timeout = 60.0
    stop_timeout = 20.0
    term_group = True
    sweep = True  # a worker that outlived its controller

    def __init__(
        self,
        workdir: Path,
        secret: Optional[str] = SECRET,
        components: tuple[dict[str, Any], ...] = (),
        env: Optional[dict[str, str]] = None,
        webdir: Optional[Path] = None,
        name: Optional[str] = None,
        config: str = "config.json",
    ) -> None:
        self.port = free_port()
        #: the router worker's own port for nodes, where the configuration has one
        self.node_port = free_port() if config != "config.json" else None
        name = name or f"crossbar-{self.port}"
        self.cbdir = Path(workdir) / name
        shutil.rmtree(self.cbdir, ignore_errors=True)  # no state from an earlier run
        self.cbdir.mkdir(parents=True)
        (self.cbdir / "config.json").write_text(
            json.dumps(
                router_config(self.port, components, webdir, config, self.node_port), indent=1
            )
        )
        environ = {**os.environ, **(env or {})}
        environ.pop("PINGU_WAMP_SECRET", None)
        if secret is not None:
            environ["PINGU_WAMP_SECRET"] = secret
        log_path = Path(workdir) / f"{name}.log"
        argv = [str(CROSSBAR), "start", "--cbdir", str(self.cbdir), "--loglevel", "info"]
        super().__init__(argv, workdir, name, environ, log_path=log_path, out_path=log_path)
        self.workdir = self.cbdir  # Crossbar runs in its cbdir
        self._offset = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def node_url(self) -> str:
        """Where nodes join: the router worker's own port if it has one."""
        return f"ws://127.0.0.1:{self.node_port or self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def launch(self) -> Router:
        self._offset = len(self.log())  # a restart logs READY again
        super().launch()
        return self

    def is_ready(self) -> bool:
        return READY in self.log()[self._offset :]

    def restart(self) -> Router:
        """Stop, then start again on the same port."""
        self.stop()
        self.start()
        return self


class Node(harness_pingu.Node):
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


def module_router(tmp_path_factory: Any) -> Any:
    """Fixture body: a router with :data:`SECRET`."""
    with Router(tmp_path_factory.mktemp("router")) as started:
        yield started


#: /metrics on a node's page port, for the tests' scrapes from 127.0.0.1
METRICS_ON_PAGE = ("--metrics-allow", "127.0.0.0/8")


def module_nodes(router: Router, tmp_path_factory: Any) -> Any:
    """Fixture body: two nodes joined to the fixture ``router``, a dict by name:
    ``alpha`` also serves the page and /ws (on ``alpha.port``), ``beta`` does not."""
    workdir = tmp_path_factory.mktemp("nodes")
    yield from joined(
        [
            # alpha's /metrics on its page's port, for the tests' scrapes
            Node(workdir, router.url, "alpha", args=METRICS_ON_PAGE, port=free_port()),
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


def list_page_routers(router: Router, urls: Sequence[str], origins: Sequence[str] = ()) -> None:
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
