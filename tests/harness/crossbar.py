"""A Crossbar.io router with the repository's own configuration.

The configuration is ``.crossbar/config.json`` with only the port changed
(Crossbar reads a port as a number, never from the environment), the page
folder and the worker's ``pythonpath`` made absolute and, if asked, router
components added, so what runs is the configuration that ships.  Crossbar
runs from its own venv (``.ci/crossbar-venv`` makes it; ``PINGU_CROSSBAR_VENV``
says where).  The router is ready when it logs :data:`READY`; it is stopped
with SIGTERM to its process group (controller and workers).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Optional

from tests.harness import REPO
from tests.harness.ports import free_port
from tests.harness.service import Service

CROSSBAR_VENV = Path(os.environ.get("PINGU_CROSSBAR_VENV", REPO / ".venv-crossbar"))
CROSSBAR = CROSSBAR_VENV / "bin" / "crossbar"
#: The line Crossbar logs when its configuration has been started.
READY = "NODE_BOOT_COMPLETE"


def available() -> bool:
    """Is Crossbar installed where the harness looks for it?"""
    return CROSSBAR.exists()


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
        secret: Optional[str],
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
