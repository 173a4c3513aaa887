"""What every tool module shares: its child's environment, how a number of
seconds is written in an argv, the options' dict, reading optional fields."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Callable

#: A tool's whole environment: nothing inherited (no LD_PRELOAD, no tool
#: options from the server's environment); the C locale keeps the output in
#: the form the parsers read (decimal points, English words).
TOOL_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}


def seconds_arg(value: float) -> str:
    """``0.2`` as ``"0.2"``, never ``"0.2000000001"`` nor ``"2e-01"``: the
    tools read it with strtod."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


class OptionsDict:
    """For the frozen dataclasses of a tool's options."""

    def as_dict(self) -> dict[str, Any]:
        """The options as the ``start`` event and WAMP ``runs()`` show them."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]


def optional(
    fields: Mapping[str, Any], name: str, check: Callable[..., Any], *bounds: Any
) -> Any:
    """``fields[name]`` checked by ``check(value, name, *bounds)``, or None
    when the request leaves it out (the tool's own default)."""
    value = fields.get(name)
    return None if value is None else check(value, name, *bounds)
