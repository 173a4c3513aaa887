"""What ``pingu watch`` prints, and the status it exits with.

Whatever the server sends is data, never control: every string that came
from it (ping's lines, error messages, close reasons, node names) goes
through :func:`visible` before it reaches the terminal, so an escape
sequence, a control character or a bidi override is printed as a visible
escape (``\\x1b``, ``\\u202e``) and cannot move the cursor, retitle the
window, clear the screen or reorder the text around it.

A run's lines are drawn by the renderer of its tool (:data:`RENDERERS`),
picked by the ``start`` event's ``tool`` field; ping's is the only one yet,
and the one used when the server names no tool or one this client does not
know (a line's ``raw`` text is what every tool prints).
"""

from __future__ import annotations

import re
import sys
from typing import IO, Any, Callable, Optional

from pingu import events

#: ping got at least one reply.
EXIT_OK = 0
#: ping got no reply.
EXIT_NO_REPLY = 1
#: ping reported an error, the server refused, or the connection failed.
EXIT_ERROR = 2
#: Added to the number of the signal that ended ping (the shell's convention).
EXIT_SIGNAL_BASE = 128

#: Characters that a terminal may take as control: C0, DEL, C1, the bidi
#: embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), and
#: lone surrogates (JSON can carry them; no terminal encoding can).
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: Any) -> str:
    """``text`` (anything the server sent) as a string safe to print: each
    control character, bidi control or lone surrogate becomes a visible
    escape such as ``\\x1b`` or ``\\u202e``; everything else is kept."""
    if not isinstance(text, str):
        text = str(text)
    return UNSAFE.sub(_escape, text)


def _int(value: Any) -> Optional[int]:
    """``value`` if it is a genuine integer (JSON ``true`` is not one)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def exit_status(end: Optional[events.Event]) -> int:
    """ping's exit status from an ``end`` event: its exit code, or 128 plus
    the signal that ended it; 2 when there was no ``end`` or it says
    nothing a process could have exited with (the server's figures are not
    trusted to be in range)."""
    if end is None:
        return EXIT_ERROR
    code = _int(end.get("exit_code"))
    if code is not None:
        return code if 0 <= code <= 255 else EXIT_ERROR
    signal = _int(end.get("signal"))
    if signal is not None and 0 < signal < EXIT_SIGNAL_BASE:
        return EXIT_SIGNAL_BASE + signal
    return EXIT_ERROR


def ping_lines(event: events.Event) -> list[str]:
    """ping's renderer: the output lines an event came from, as ping
    printed them (none for ``start`` and ``end``)."""
    raw = event.get("raw")
    if not isinstance(raw, str):
        return []
    return raw.split("\n")


#: A renderer: the lines (not yet sanitised) to print for one event.
Renderer = Callable[[events.Event], list[str]]

#: Renderers by tool name, as the ``start`` event's ``tool`` field names it.
RENDERERS: dict[str, Renderer] = {"ping": ping_lines}
#: The renderer of a run whose ``start`` names no tool (or none known here).
DEFAULT_TOOL = "ping"


def renderer_for(tool: Any) -> Renderer:
    """The renderer of ``tool`` (a server-supplied name), ping's if unknown."""
    if isinstance(tool, str) and tool in RENDERERS:
        return RENDERERS[tool]
    return RENDERERS[DEFAULT_TOOL]


class Printer:
    """Prints one run's events: lines on ``out``, errors on ``err``, each
    line after ``prefix`` (``"node: "`` when several nodes ping), every
    server-supplied string made :func:`visible` first."""

    def __init__(
        self, out: Optional[IO[str]] = None, err: Optional[IO[str]] = None, prefix: str = ""
    ) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.prefix = visible(prefix)
        self.render: Renderer = renderer_for(DEFAULT_TOOL)

    def event(self, event: events.Event) -> None:
        """Print one event (an ``error`` on ``err``, as ``pingu: message``)."""
        kind = event.get("type")
        if kind == events.START:
            self.render = renderer_for(event.get("tool", DEFAULT_TOOL))
        if kind == events.ERROR:
            self.error(event.get("message", "the server refused"))
            return
        for line in self.render(event):
            self.out.write(f"{self.prefix}{visible(line)}\n")
        self.out.flush()

    def error(self, message: Any) -> None:
        """``pingu: message`` on ``err``; the message may hold server text."""
        self.err.write(f"{self.prefix}pingu: {visible(message)}\n")
        self.err.flush()
