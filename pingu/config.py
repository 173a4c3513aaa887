"""The one way a hub is built from an operator's settings.

``twistd pingu`` (:func:`pingu.tap.makeService`) and a node that Crossbar
starts itself (``config.extra`` in the router's configuration) both come
here: the same discovery of the tools' executables, the same start-up
checks of the limits.  Problems an operator can fix are a ``ValueError``
with one line that says what to do.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from functools import partial
from typing import Any, Callable, Optional

from twisted.logger import Logger

from pingu import tools
from pingu.limits import Limits
from pingu.process import spawn
from pingu.request import Policy, system_resolver
from pingu.runs import RunHub
from pingu.spawner import start_wait
from pingu.watchdog import Watchdog

log = Logger(namespace="pingu")

#: Where executables are looked for after the server's own PATH.
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def find_executable(name: str, package: str = "iputils-ping") -> str:
    """The absolute path of ``name`` (a name on PATH or a path)."""
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":" + SYSTEM_PATH)
    if found is None or not os.access(found, os.X_OK):
        raise ValueError(
            f"{name!r} not found or not executable (install {package}, or pass its path)"
        )
    return os.path.abspath(found)


def check_limits(limits: Limits) -> None:
    """The start-up checks of every limit, for the user this process runs as."""
    limits.check(root=os.geteuid() == 0)


def find_tools(paths: Optional[Mapping[str, Optional[str]]] = None) -> dict[str, str]:
    """The executables of the tools other than ping, by tool name.

    ``paths`` holds what the operator named (``--<tool> PATH``): a tool
    named there must be found, or it is a ``ValueError``.  A tool named
    nowhere is looked up on PATH and, when it is not installed, left out
    with one line in the log: the server still starts, and requests for
    that tool are refused ("<tool> is not installed on this server")."""
    paths = paths or {}
    found: dict[str, str] = {}
    for name, tool in tools.TOOLS.items():
        if name == tools.DEFAULT_TOOL:
            continue
        named = paths.get(name)
        if named:
            found[name] = find_executable(named, tool.package)
            continue
        try:
            found[name] = find_executable(tool.executable, tool.package)
        except ValueError as e:
            log.info("pingu: {tool} is not available: {why}", tool=name, why=str(e))
    return found


def build_hub(
    reactor: Any,
    limits: Limits,
    policy: Policy,
    ping: str = "ping",
    resolver: Optional[Any] = None,
    spawner: Callable[..., Any] = spawn,
    paths: Optional[Mapping[str, Optional[str]]] = None,
) -> RunHub:
    """A hub with the executables found (ping's must be; see
    :func:`find_tools` for the others), the limits checked, and a thread
    pool big enough for ``--max-resolving`` lookups at once."""
    check_limits(limits)
    executables = {"ping": find_executable(ping), **find_tools(paths)}
    # A lookup holds a thread until getaddrinfo returns, timed out or not.
    reactor.suggestThreadPoolSize(max(10, limits.max_resolving))
    return RunHub(
        reactor,
        executables["ping"],
        limits,
        resolver if resolver is not None else system_resolver(reactor),
        policy,
        spawner=spawner,
        executables=executables,
        # the server's runs are spawned on pingu.spawner's pool: how long its
        # oldest start has waited counts as lag
        start_wait=start_wait,
    )


def hub_from_extra(reactor: Any, extra: dict[str, Any]) -> RunHub:
    """A hub for a node that Crossbar starts itself, from ``config.extra`` in
    the router's configuration: ``ping`` and each tool's name (paths),
    ``limits`` (by name, as :class:`pingu.limits.Limits`) and ``public``
    (true: ``--public``'s policy)."""
    limits = Limits(**dict(extra.get("limits", {})))
    policy = Policy.build(public=bool(extra.get("public")))
    # No service tree here: the watchdog lives as long as the router worker,
    # and the worker's exit (any way) is what it watches for.
    watchdog = Watchdog(reactor)
    watchdog.start()
    return build_hub(
        reactor,
        limits,
        policy,
        ping=extra.get("ping") or "ping",
        spawner=partial(spawn, watchdog=watchdog),
        paths={name: extra.get(name) for name in tools.TOOLS if name != tools.DEFAULT_TOOL},
    )
