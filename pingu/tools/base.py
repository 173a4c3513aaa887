"""What every tool's class and parser share, so that a tool's module holds
only its own knowledge: its fields, its argv, its output, its end.

:class:`ToolBase` is the :class:`pingu.tools.Tool` interface's common part:
the child's environment, options checked from the declared fields, a parser
made without the request, and the end of a tool that exits 0 whether or
not its target answered.  :class:`LineParser` is a parser (by default one
whose tool ends each line as it prints it); :class:`SeriesParser` one that
closes with pingu's own :class:`pingu.tools.series.Series` summary, once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from signal import SIGINT  # what pingu stops a run with (Run.stop)
from typing import Any, Callable, Generic, Optional, TypeVar

from pingu.events import Event
from pingu.tools.common import TOOL_ENV
from pingu.tools.series import Series
from pingu.tools.spec import ADDRESS, Field, Limit, ResolvedRequest, checked
from pingu.tools.spec import LimitValues as Limits

#: A tool's own options (a frozen dataclass of its module).
OptionsT = TypeVar("OptionsT")


class LineParser(ABC):
    """A parser of a tool's output, one line at a time (the
    :class:`pingu.tools.OutputParser` interface).  Unless it says otherwise
    (traceroute), its tool ends each line as it prints it (itself, or
    through ``stdbuf -oL``): an unended line is only ever read whole."""

    @abstractmethod
    def feed(self, line: str) -> list[Event]:
        """Take one line (without its newline); return the events it completes."""

    def pending(self, line: str) -> list[Event]:
        """Nothing from an unended line: it comes whole to :meth:`feed`."""
        return []

    @abstractmethod
    def finish(self) -> list[Event]:
        """End of output: whatever the parser still held."""


class SeriesParser(LineParser):
    """A parser of a tool without closing statistics of pingu's shape: it
    counts probes in a :class:`Series`, and ends, once however often it is
    asked, with what it still held and then the series' ``summary``."""

    def __init__(self, tool: str) -> None:
        #: the tool's name, which its summary carries
        self.tool = tool
        self.series = Series()
        self._summarised = False

    def finish(self) -> list[Event]:
        """End of output (once): :meth:`held`, then :meth:`summary`."""
        if self._summarised:
            return []
        self._summarised = True
        return [*self.held(), self.summary()]

    def held(self) -> list[Event]:
        """What the parser still holds at the end of output (nothing)."""
        return []

    def summary(self) -> Event:
        """The run's closing statistics."""
        return self.series.summary(self.tool)


class ToolBase(Generic[OptionsT]):
    """The part of a :class:`pingu.tools.Tool` that is the same for every
    tool; a tool's class names what is its own (``name``, ``executable``,
    ``package``, ``fields``, ``display``, ``options_type``, ``argv``, and
    ``parser_type`` or its own ``parser``) and overrides what differs."""

    name: str
    executable: str
    package: str
    fields: tuple[Field, ...]
    display: str
    limits: tuple[Limit, ...] = ()
    target: str = ADDRESS
    env: Mapping[str, str] = TOOL_ENV
    #: the frozen dataclass of the tool's checked options
    options_type: Callable[..., OptionsT]
    #: the tool's parser, for a tool whose parser needs nothing of the request
    parser_type: Callable[[], LineParser]

    def options(self, fields: Mapping[str, Any], limits: Limits) -> OptionsT:
        """Check the request's fields against their bounds."""
        return self.checked_options(fields, limits)

    def checked_options(self, fields: Mapping[str, Any], limits: Limits, **known: Any) -> OptionsT:
        """The options: every declared field the request carries, checked
        (``Refused`` when one is not), the family, and ``known``: what the
        tool read from the request itself."""
        values = checked(self.fields, fields, limits)
        return self.options_type(**known, **values, family=fields.get("family"))

    def parser(
        self, request: Optional[ResolvedRequest] = None, limits: Optional[Limits] = None
    ) -> LineParser:
        """A parser of the tool's output (it needs nothing of the request)."""
        return self.parser_type()

    def how(
        self,
        exit_code: Optional[int],
        signal: Optional[int],
        parser: Any,
        request: ResolvedRequest,
        limits: Limits,
    ) -> str:
        """The end of a tool that exits 0 whether or not its target
        answered: ``completed`` when it did (:meth:`answered`), ``no-reply``
        (4000) when not; an error of the tool's own (:meth:`failed`) is
        ``ping-error`` (4001).  A stop (SIGINT, whether the tool dies of it
        or catches it) counts as exit 0; any other signal is ``signal`` (4002)."""
        if exit_code is None and signal != SIGINT:
            return "signal"
        if self.failed(exit_code, parser):
            return "ping-error"  # not ping's 1 = "no reply": an error of the tool's own
        return "completed" if self.answered(parser) else "no-reply"

    def failed(self, exit_code: Optional[int], parser: Any) -> bool:
        """Did the tool report an error of its own?  Any exit status but 0
        (None: it died of the stop)."""
        return exit_code not in (0, None)

    def answered(self, parser: Any) -> bool:
        """Did any probe get an answer (the parser's :class:`Series`)?"""
        return bool(getattr(parser, "series", Series()).rtts)
