"""The registry of diagnostic tools: what makes ping ping, behind one interface.

A tool is one module that provides a :class:`Tool`: its name, executable
and Debian package, the request fields it takes (:class:`spec.Field`:
type, bounds and the limits that hold them, CLI flag, URL parameter, label
and help), its own limits (:class:`spec.Limit`), what its target is, its
argv from a resolved request, its output parser, how its exit status
becomes an ``end`` and which display kind shows it.  Everything else
(``twistd pingu``'s options, the limits' checks, ``/pingu-info.json``, the
CLI, ``./dev``'s packages, the docs' tables) is derived from :data:`TOOLS`,
so a new tool is one more module here, and nothing outside this
package names a tool.  A module of this package with a ``TOOL`` is
registered by being there; :mod:`pingu.tools.base` holds what every
tool's class and parser share, so that a tool's module holds only its own
knowledge.

Every tool speaks the one event vocabulary of :mod:`pingu.events`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from typing import Any, Optional, Protocol

from pingu.events import Event
from pingu.tools.spec import (
    DEFAULT_TOOL,
    PROBED_FIELD,
    PROBED_INPUT,
    Field,
    Limit,
    LimitValues,
    Options,
    ResolvedRequest,
)

__all__ = ["DEFAULT_TOOL", "TOOLS", "Options", "OutputParser", "Tool", "get"]


class OutputParser(Protocol):
    """Turns a tool's output, one line at a time, into events."""

    def feed(self, line: str) -> list[Event]:
        """Take one line (without its newline); return the events it completes."""

    def pending(self, line: str) -> list[Event]:
        """Take the line begun but not ended yet (offered after each chunk of
        output, possibly again, longer, before it comes whole to ``feed``):
        the events it already completes, which ``feed`` must not repeat."""

    def finish(self) -> list[Event]:
        """End of output: whatever the parser still held."""


class Tool(Protocol):
    """One diagnostic tool."""

    #: its name in requests (``tool``), URLs and ``start`` events.
    name: str
    #: the executable looked up on PATH when the operator names none.
    executable: str
    #: the Debian package that installs it (``./dev``, the operator's message).
    package: str
    #: the option fields a request may carry besides ``target`` and ``tool``.
    fields: tuple[Field, ...]
    #: the limits this tool brings (``twistd pingu`` options of their own).
    limits: tuple[Limit, ...]
    #: what ``target`` is (:data:`spec.PROBED_FIELD`): ``address`` (a host,
    #: resolved once and policed) or ``name-at-resolver`` (a name, queried
    #: at the host in ``server``, which is resolved and policed).
    target: str
    #: how the page and the CLI show a run (:data:`spec.DISPLAY_KINDS`).
    display: str
    #: the child's whole environment.
    env: Mapping[str, str]

    def options(self, fields: Mapping[str, Any], limits: LimitValues) -> Options:
        """Check the option fields against the server's limits (``Refused``)."""

    def argv(self, executable: str, request: ResolvedRequest, limits: LimitValues) -> list[str]:
        """The full argv: a list, never a shell line, ``--`` before the literal."""

    def parser(
        self, request: Optional[ResolvedRequest] = None, limits: Optional[LimitValues] = None
    ) -> OutputParser:
        """A fresh parser for one run's output (``request``: the run's, so
        that a parser can tell the target's own answers from the hops';
        ``limits``: the server's, which bound the tool's defaults)."""

    def how(
        self,
        exit_code: Optional[int],
        signal: Optional[int],
        parser: OutputParser,
        request: ResolvedRequest,
        limits: LimitValues,
    ) -> str:
        """How the run ended (a key of :data:`pingu.events.HOW_CLOSE`), from
        the exit status and what the parser saw."""


def _registry() -> dict[str, Tool]:
    # Every module of this package with a TOOL is a tool: adding a tool is
    # adding its module.  The default tool first, then by name.
    found: list[Tool] = []
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            tool = getattr(importlib.import_module(f"{__name__}.{module.name}"), "TOOL", None)
            if tool is not None:
                found.append(tool)
    found.sort(key=lambda tool: (tool.name != DEFAULT_TOOL, tool.name))
    return {tool.name: tool for tool in found}


#: Every tool this server knows, by name.
TOOLS: Mapping[str, Tool] = _registry()


def get(name: str) -> Tool:
    """The tool called ``name``; ``KeyError`` when there is none."""
    return TOOLS[name]


def text_fields(name: str, message: str) -> dict[str, Any]:
    """The fields of a text-face request for tool ``name`` (the message is
    its only field): the tool's own reading of it (``text_fields``: tcp's
    ``host:port``, dns's ``name@resolver``), else the message is the target."""
    split = getattr(TOOLS.get(name), "text_fields", None)
    fields: dict[str, Any] = split(message) if split is not None else {"target": message}
    return {**fields, "tool": name}


def field_names(tool: Tool) -> tuple[str, ...]:
    """The fields a request for ``tool`` may carry besides target and tool."""
    probed = PROBED_FIELD[tool.target]
    return (*(f.name for f in tool.fields), *(() if probed == "target" else (probed,)), "family")


def tool_limits() -> list[tuple[str, Limit]]:
    """Every limit the tools bring, with the name of the tool that brings
    it, in the tools' order (a limit two tools share is declared by one)."""
    return [(tool.name, limit) for tool in TOOLS.values() for limit in tool.limits]


def describe(
    limits: LimitValues, installed: Optional[Mapping[str, str]] = None
) -> list[dict[str, Any]]:
    """The tools for ``/pingu-info.json`` and ``pingu.<node>.tools``: name,
    display kind, target kind, whether this server has the executable, the
    probed field when it is not ``target`` (``probed``: dns's resolver, with
    its URL parameter, label and help; else null), and every field with its
    bounds.  The page builds its form, URL parameters and views from it."""
    return [
        {
            "name": tool.name,
            "display": tool.display,
            "target": tool.target,
            "installed": installed is None or tool.name in installed,
            "probed": PROBED_INPUT.get(PROBED_FIELD[tool.target]),
            "fields": [f.describe(limits) for f in tool.fields],
        }
        for tool in TOOLS.values()
    ]
