"""The seam for diagnostic tools: what makes ping ping, behind one interface.

A tool is one module that provides a :class:`Tool`: the request fields it
takes and their bounds, its argv from a resolved request, its output parser
and how its exit status becomes an ``end``.  Runs, faces, the CLI and the
page only ever talk to this interface, so a new tool is one more module
registered in :data:`TOOLS`, and nothing outside this package knows which
tool a run is running.

Every tool speaks the one event vocabulary of :mod:`pingu.events`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional, Protocol

from pingu.events import Event

if TYPE_CHECKING:
    from pingu.limits import Limits
    from pingu.request import ResolvedRequest

#: The tool of a request that names none: every client older than the seam.
DEFAULT_TOOL = "ping"


class Options(Protocol):
    """A tool's checked options: frozen (runs are shared on them), with a family."""

    @property
    def family(self) -> Optional[int]:
        """4, 6, or None for either."""

    def as_dict(self) -> dict[str, Any]:
        """The options as ``start`` events and ``runs()`` show them."""


class OutputParser(Protocol):
    """Turns a tool's output, one line at a time, into events."""

    def feed(self, line: str) -> list[Event]:
        """Take one line (without its newline); return the events it completes."""

    def finish(self) -> list[Event]:
        """End of output: whatever the parser still held."""


class Tool(Protocol):
    """One diagnostic tool."""

    # read-only members (properties), so that a tool's class attributes match them

    @property
    def name(self) -> str:
        """Its name in requests (``tool``), URLs and ``start`` events."""

    @property
    def executable(self) -> str:
        """The executable looked up on PATH when the operator names none."""

    @property
    def package(self) -> str:
        """The Debian package that installs it (for the operator's message)."""

    @property
    def fields(self) -> tuple[str, ...]:
        """The option fields a request may carry besides ``target`` and ``tool``."""

    @property
    def env(self) -> Mapping[str, str]:
        """The child's whole environment."""

    def options(self, fields: Mapping[str, Any], limits: Limits) -> Options:
        """Check the option fields against the server's limits (``Refused``)."""

    def argv(self, executable: str, request: ResolvedRequest, limits: Limits) -> list[str]:
        """The full argv: a list, never a shell line, ``--`` before the literal."""

    def parser(self, request: Optional[ResolvedRequest] = None) -> OutputParser:
        """A fresh parser for one run's output (``request``: the run's, so
        that a parser can tell the target's own answers from the hops')."""

    def how(
        self,
        exit_code: Optional[int],
        signal: Optional[int],
        parser: OutputParser,
        request: ResolvedRequest,
        limits: Limits,
    ) -> str:
        """How the run ended (a key of :data:`pingu.events.HOW_CLOSE`), from
        the exit status and what the parser saw."""


def _registry() -> dict[str, Tool]:
    from pingu.tools import mtr, ping, traceroute

    tools: tuple[Tool, ...] = (ping.TOOL, traceroute.TOOL, mtr.TOOL)
    return {tool.name: tool for tool in tools}


#: Every tool this server knows, by name.
TOOLS: Mapping[str, Tool] = _registry()


def get(name: str) -> Tool:
    """The tool called ``name``; ``KeyError`` when there is none."""
    return TOOLS[name]
