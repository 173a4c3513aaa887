"""A request pingu will not serve, and the checks of single fields.

Kept apart from :mod:`pingu.request` so that tools (:mod:`pingu.tools`) can
check their own fields without importing the request pipeline.
"""

from __future__ import annotations

from typing import Any, Optional

from pingu import events
from pingu.events import CloseCode


class Refused(Exception):
    """A request pingu will not run; carries the answer for the client."""

    def __init__(
        self, code: CloseCode, reason: str, message: str, field: Optional[str] = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.field = field

    def event(self) -> events.Event:
        """The ``error`` event that tells the client."""
        return events.error(self.code, self.reason, self.message, self.field)


def bad(message: str, field: Optional[str] = None, reason: str = "invalid") -> Refused:
    """A malformed or out-of-range request (4400)."""
    return Refused(CloseCode.BAD_REQUEST, reason, message, field)


def busy(reason: str, message: str) -> Refused:
    """A limit was reached: try again later (4429)."""
    return Refused(CloseCode.BUSY, reason, message)


def overloaded(retry_after: int) -> Refused:
    """The server is behind its load (``--max-lag``, :mod:`pingu.lag`): nothing
    is started, and the client is told when to come back (4503; on WAMP
    ``pingu.error.busy``).  The one wording of "busy, retry in N s", which
    ``pingu watch`` and the page read."""
    return Refused(CloseCode.OVERLOADED, "busy", f"busy, retry in {retry_after} s")


def whole_number(value: Any, name: str, low: int, high: int) -> int:
    """``value`` if it is an int in ``[low, high]`` (a JSON ``true`` is not)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(f"{name} must be a whole number", name, "wrong-type")
    if not low <= value <= high:
        raise bad(f"{name} must be between {low} and {high}", name, "out-of-range")
    return value


def number(value: Any, name: str, low: float, high: float) -> float:
    """``value`` as a float if it is a number in ``[low, high]`` (not NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad(f"{name} must be a number", name, "wrong-type")
    if not low <= value <= high:  # also refuses NaN
        raise bad(f"{name} must be between {low:g} and {high:g}", name, "out-of-range")
    return float(value)
