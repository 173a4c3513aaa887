"""The ``pingu`` command line: parsing, and the request it makes.

    pingu watch ws://127.0.0.1:8080/ws 127.0.0.1 [-c N] [-i S] [-s B] [-4|-6] [-w S]
    pingu watch --tool TOOL URL 10.0.0.1 [the tool's options]
    pingu watch --router ws://127.0.0.1:8081/ws [--node NAME ...] [--tool T] 127.0.0.1
    pingu --version

The tools and their options are the registry's (:mod:`pingu.tools`): each
field a tool declares is an option with the flag it declares (``pingu
watch --help`` lists them, and which tools take each).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any, Optional

from pingu import __version__, tools
from pingu.tools import DEFAULT_TOOL
from pingu.tools.spec import PROBED_FIELD, Field

#: The tools and the fields each takes (family aside, which -4/-6 set).
TOOL_FIELDS = {
    name: tuple(n for n in tools.field_names(tool) if n != "family")
    for name, tool in tools.TOOLS.items()
}
#: The fields naming the host a tool sends to when it is not the target
#: (a resolver's ``server``): options taking a host name or address.
HOST_FIELDS = tuple(dict.fromkeys(f for f in PROBED_FIELD.values() if f != "target"))
#: The node's ``--max-backlog-page`` unless told otherwise.
DEFAULT_BACKLOG_PAGE = 1000


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
    tool: str = DEFAULT_TOOL
    #: the most events one WAMP backlog answer holds (the node's limit)
    backlog_page: int = DEFAULT_BACKLOG_PAGE

    def request_options(self) -> dict[str, Any]:
        """The options with the tool (named only when it is not ping, so
        that a server older than the tools still takes a ping)."""
        tool = {} if self.tool == DEFAULT_TOOL else {"tool": self.tool}
        return {**tool, **self.options}

    def fields(self) -> dict[str, Any]:
        """The structured request of the WebSocket face (``pingu.json``)."""
        return {"target": self.target, **self.request_options()}


def option_fields() -> dict[str, tuple[Field, dict[str, list[str]]]]:
    """Each field name any tool takes: its first declaration (flag, type)
    and each help text with the tools that declare it so."""
    out: dict[str, tuple[Field, dict[str, list[str]]]] = {}
    for tool in tools.TOOLS.values():
        for f in tool.fields:
            first, helps = out.setdefault(f.name, (f, {}))
            helps.setdefault(f.help, []).append(tool.name)
    return out


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
    watch.add_argument(
        "--tool", choices=tuple(TOOL_FIELDS), default=DEFAULT_TOOL,
        help=f"{DEFAULT_TOOL} (the default), " + ", ".join(
            name for name in TOOL_FIELDS if name != DEFAULT_TOOL
        ),
    )  # fmt: skip
    for name, (first, helps) in option_fields().items():
        flags = [first.flag] if first.flag else []
        watch.add_argument(
            *flags, "--" + name.replace("_", "-"), type=first.kind, dest=name,
            choices=first.choices or None,
            help="; ".join(f"{help} ({', '.join(names)})" for help, names in helps.items()),
        )  # fmt: skip
    for name in HOST_FIELDS:
        watch.add_argument(
            f"--{name}", help="host name or address the query is sent to (" + ", ".join(
                tool for tool, fields in TOOL_FIELDS.items() if name in fields) + ")",
        )  # fmt: skip
    watch.add_argument(
        "--max-backlog-page", type=int, default=DEFAULT_BACKLOG_PAGE,
        help="events per WAMP backlog answer, as the node's --max-backlog-page "
        f"(default {DEFAULT_BACKLOG_PAGE})",
    )  # fmt: skip
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
    if namespace.max_backlog_page < 1:
        raise UsageError("--max-backlog-page must be at least 1")
    options = {
        name: getattr(namespace, name)
        for name in (*option_fields(), *HOST_FIELDS, "family")
        if getattr(namespace, name) is not None
    }
    takes = (*TOOL_FIELDS[namespace.tool], "family")
    foreign = [name for name in options if name not in takes]
    if foreign:
        option = "--" + foreign[0].replace("_", "-")
        raise UsageError(f"{option} is not an option of {namespace.tool}")
    return WatchArgs(
        target=namespace.target,
        options=options,
        url=namespace.url,
        router=namespace.router,
        realm=namespace.realm,
        nodes=tuple(dict.fromkeys(namespace.node)),
        tool=namespace.tool,
        backlog_page=namespace.max_backlog_page,
    )


def parse(argv: Optional[list[str]] = None) -> WatchArgs:
    """Parse ``argv`` (``sys.argv[1:]`` by default).  ``--help``,
    ``--version`` and malformed command lines exit here, as argparse does;
    :class:`UsageError` for the rest."""
    return watch_args(build_parser().parse_args(argv))
