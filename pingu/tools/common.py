"""What every tool module shares: its child's environment, how a number of
seconds is written in an argv, the options' dict."""

from __future__ import annotations

import dataclasses
from typing import Any

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
        """The options as the ``start`` event and WAMP ``runs()`` show them.

        Every option is a scalar (a string, a number or None), so a shallow
        copy is what ``dataclasses.asdict``'s deep one makes, at a fifth of
        its cost (0.8 µs against 3.9 µs; twice a session, bench/PROFILE.md
        section 9); a test holds every tool's options to that."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]  # a mixin of dataclasses
