"""What a tool module declares about itself: its request fields and its
own limits, as data; and the request a tool is handed.

A leaf module (it imports nothing of pingu's but the field checks), so that
:mod:`pingu.limits`, :mod:`pingu.request` and every tool can use it without
an import circle.  From these declarations, and nothing else, come the
``twistd pingu`` options of the tools' limits and executables, the checks
of those limits at start-up, ``/pingu-info.json``'s ``tools``, the CLI's
flags, the checks of a request's fields, and the docs' tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol, Union

from pingu.refusal import bad, number, whole_number

#: The tool of a request that names none: the protocol's first tool, and
#: every client older than the ``tool`` field.
DEFAULT_TOOL = "ping"

#: A bound: a number, or the name of the limit that holds it.
Bound = Union[int, float, str]

#: The display kinds the page and the CLI know (a view per kind).
RTT_SERIES = "rtt-series"  # one reply per probe: chart, statistics
HOP_TABLE = "hop-table"  # one line per hop, once
HOP_STATS = "hop-stats"  # per-hop statistics updated each round
HTTP_TIMINGS = "http-timings"  # one request per probe: its phases, its status
DISPLAY_KINDS = (RTT_SERIES, HOP_TABLE, HOP_STATS, HTTP_TIMINGS)

#: What a tool's ``target`` is.  ``address``: a host to probe, resolved once
#: by the server and policed.  ``name-at-resolver``: a name to query, sent
#: as data to the resolver in the ``server`` field, which is the host that
#: is resolved, policed and probed.
ADDRESS = "address"
NAME_AT_RESOLVER = "name-at-resolver"
#: ``url``: the target is a URL whose host is resolved and policed; the
#: tool's options carry that host (``options.host``), checked by the tool.
URL = "url"
#: The field holding the host pingu resolves, polices and sends to, by target kind.
PROBED_FIELD = {ADDRESS: "target", NAME_AT_RESOLVER: "server", URL: "target"}
#: A probed field other than ``target``, as the page asks for it
#: (``/pingu-info.json``'s ``probed``): its URL parameter, label and help.
PROBED_INPUT = {
    "server": {
        "name": "server",
        "type": "host",
        "param": "r",
        "label": "Resolver",
        "help": "the resolver's host name or address (policed like any target)",
    },
}


class LimitValues(Protocol):
    """The server's limits as a tool reads them (:class:`pingu.limits.Limits`)."""

    def __getattr__(self, name: str) -> Any: ...


@dataclass(frozen=True)
class Limit:
    """A limit a tool brings: a ``twistd pingu`` option ``--<name>``.

    ``floor``: ``"one"`` (a whole number at least 1), ``"zero"`` (at least
    0) or ``"positive"`` (above 0); ``ceiling``: the most the tool itself
    accepts; ``user_floor``: the least the tool accepts from a user other
    than root; ``below``: the limit this one may not exceed (a floor's
    ceiling); ``parse``: for a limit that is not a number (a list, written
    as text), what reads it, raising ``ValueError`` with the reason when
    it cannot."""

    name: str
    kind: type
    default: Union[int, float, str]
    help: str
    floor: str = "one"
    ceiling: Optional[Union[int, float]] = None
    user_floor: Optional[float] = None
    below: str = ""
    parse: Optional[Callable[[Any], Any]] = None


@dataclass(frozen=True)
class Field:
    """A request field a tool takes besides ``target`` and ``tool``.

    ``low`` and ``high`` are numbers or names of limits; ``flag`` is the
    CLI's short flag (``-c``; ``""``: only the long one, ``--<name>``),
    ``param`` the page's URL parameter (``c``).  Tools that take a field of
    the same name declare it alike (one flag, one parameter).  A field of
    kind ``str`` takes one of ``choices`` (its bounds are unused)."""

    name: str
    kind: type
    low: Bound
    high: Bound
    flag: str
    param: str
    label: str
    help: str
    unit: str = ""
    choices: tuple[str, ...] = ()

    def bounds(self, limits: LimitValues) -> tuple[Any, Any]:
        """(low, high) with the limits' values put in."""
        return _value(self.low, limits), _value(self.high, limits)

    def check(self, value: Any, limits: LimitValues) -> Any:
        """``value`` checked against the bounds (``Refused`` when it is not)."""
        if self.kind is str:
            if not isinstance(value, str) or value not in self.choices:
                raise bad(f"{self.name} must be one of: {', '.join(self.choices)}", self.name,
                          "not-allowed")  # fmt: skip
            return value
        low, high = self.bounds(limits)
        if self.kind is int:
            return whole_number(value, self.name, low, high)
        return number(value, self.name, low, high)

    def describe(self, limits: LimitValues) -> dict[str, Any]:
        """For ``/pingu-info.json``: what the page builds its form from."""
        low, high = self.bounds(limits) if self.kind is not str else (None, None)
        return {
            "name": self.name,
            "type": self.kind.__name__,
            "choices": list(self.choices),
            "min": low,
            "max": high,
            "flag": self.flag,
            "param": self.param,
            "label": self.label,
            "help": self.help,
            "unit": self.unit,
        }


def _value(bound: Bound, limits: LimitValues) -> Any:
    return getattr(limits, bound) if isinstance(bound, str) else bound


def checked(
    fields: tuple[Field, ...], values: Mapping[str, Any], limits: LimitValues
) -> dict[str, Any]:
    """Every declared field the request carries, checked; None for the rest."""
    return {
        f.name: None if values.get(f.name) is None else f.check(values[f.name], limits)
        for f in fields
    }


class Options(Protocol):
    """A tool's checked options: frozen (runs are shared on them), with a family."""

    @property
    def family(self) -> Optional[int]:
        """4, 6, or None for either."""

    def as_dict(self) -> dict[str, Any]:
        """The options as ``start`` events and ``runs()`` show them."""


@dataclass(frozen=True)
class ResolvedRequest:
    """A request ready to run: ``address`` is the literal the tool will get."""

    target: str
    address: str
    family: int
    options: Any  # the tool's own Options (a frozen dataclass of its module)
    tool: str = DEFAULT_TOOL

    def key(self) -> tuple[Any, ...]:
        """Identical keys mean identical runs: what shared runs are keyed on."""
        return (self.tool, self.address, self.family, self.options)
