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
    port: int, components: tuple[dict[str, Any], ...] = (), webdir: Optional[Path] = None
) -> dict[str, Any]:
    """The shipped configuration, on 127.0.0.1:``port``, serving ``webdir``
    (the repository's page), with ``components`` added to the router worker."""
    config = json.loads((REPO / ".crossbar" / "config.json").read_text())
    router = config["workers"][0]
    transport = router["transports"][0]
    transport["endpoint"] = {"type": "tcp", "port": port, "interface": "127.0.0.1"}
    transport["paths"]["/"]["directory"] = str(webdir or REPO / "web")
    # the router's own page, on this port: the only origin it lets in
    options = transport["paths"]["ws"]["options"]
    options["allowed_origins"] = [
        origin.replace(":8081", f":{port}") for origin in options.get("allowed_origins", [])
    ]
    # relative to the cbdir, which is a copy here: the shipped one's
    options = router.get("options", {})
    if "pythonpath" in options:
        options["pythonpath"] = [str(REPO / ".crossbar" / p) for p in options["pythonpath"]]
    if components:
        router.setdefault("components", []).extend(components)
    return config


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
    ) -> None:
        self.port = free_port()
        name = name or f"crossbar-{self.port}"
        self.cbdir = Path(workdir) / name
        shutil.rmtree(self.cbdir, ignore_errors=True)  # no state from an earlier run
        self.cbdir.mkdir(parents=True)
        (self.cbdir / "config.json").write_text(
            json.dumps(router_config(self.port, components, webdir), indent=1)
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
