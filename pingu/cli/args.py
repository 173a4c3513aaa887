"""The ``pingu`` command line: parsing, and the request it makes.

    pingu watch ws://127.0.0.1:8080/ws 127.0.0.1 [-c N] [-i S] [-s B] [-4|-6] [-w S]
    pingu watch --router ws://127.0.0.1:8081/ws [--node NAME ...] 127.0.0.1
    pingu --version
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any, Optional

from pingu import __version__

#: The request fields the command line may set, besides the target.
OPTION_FIELDS = ("count", "interval", "size", "deadline", "family")


class UsageError(Exception):
    """The command line parses but does not make sense (exit status 2)."""


@dataclass(frozen=True)
class WatchArgs:
    """One ``pingu watch``: where to ask, and what."""

    target: str
    options: dict[str, Any] = field(default_factory=dict)
    url: Optional[str] = None  # a pingu WebSocket server, or
    router: Optional[str] = None  # a WAMP router, with
    realm: str = "pingu"
    nodes: tuple[str, ...] = ()

    def fields(self) -> dict[str, Any]:
        """The structured request of the WebSocket face (``pingu.json``)."""
        return {"target": self.target, **self.options}


def build_parser() -> argparse.ArgumentParser:
    """The ``pingu`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="pingu", description="Ping through a pingu server, printed as ping prints."
    )
    parser.add_argument("--version", action="version", version=f"pingu {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    watch = commands.add_parser(
        "watch",
        help="ping through a pingu server",
        description="Print a ping run on a pingu server (WebSocket) or on pingu nodes "
        "(WAMP) as ping prints it, and exit with ping's status.",
    )
    watch.add_argument("url", nargs="?", help="WebSocket URL, e.g. ws://127.0.0.1:8080/ws")
    watch.add_argument("target", help="host name or IP address to ping")
    watch.add_argument("-c", "--count", type=int, help="stop after N replies")
    watch.add_argument("-i", "--interval", type=float, help="seconds between pings")
    watch.add_argument("-s", "--size", type=int, help="payload bytes")
    watch.add_argument("-w", "--deadline", type=int, help="stop after S seconds")
    family = watch.add_mutually_exclusive_group()
    family.add_argument("-4", dest="family", action="store_const", const=4, help="IPv4 only")
    family.add_argument("-6", dest="family", action="store_const", const=6, help="IPv6 only")
    watch.add_argument("--router", help="WAMP router URL (instead of a WebSocket URL)")
    watch.add_argument("--realm", default="pingu", help="WAMP realm (default: pingu)")
    watch.add_argument(
        "--node",
        action="append",
        default=[],
        help="node to ping from (repeatable; default: every node on the router)",
    )
    return parser


def watch_args(namespace: argparse.Namespace) -> WatchArgs:
    """The watch a parsed command line asks for; :class:`UsageError` if it
    names both a WebSocket URL and a router, or neither, or nodes without a
    router."""
    if (namespace.url is None) == (namespace.router is None):
        raise UsageError("give either a WebSocket URL or --router")
    if namespace.node and namespace.router is None:
        raise UsageError("--node needs --router")
    options = {
        name: getattr(namespace, name)
        for name in OPTION_FIELDS
        if getattr(namespace, name) is not None
    }
    return WatchArgs(
        target=namespace.target,
        options=options,
        url=namespace.url,
        router=namespace.router,
        realm=namespace.realm,
        nodes=tuple(dict.fromkeys(namespace.node)),
    )


def parse(argv: Optional[list[str]] = None) -> WatchArgs:
    """Parse ``argv`` (``sys.argv[1:]`` by default).  ``--help``,
    ``--version`` and malformed command lines exit here, as argparse does;
    :class:`UsageError` for the rest."""
    return watch_args(build_parser().parse_args(argv))
