"""What ``pingu watch`` prints, and the status it exits with.

Whatever the server sends is data, never control: every string that came
from it (ping's lines, error messages, close reasons, node names) goes
through :func:`visible` before it reaches the terminal, so an escape
sequence, a control character or a bidi override is printed as a visible
escape (``\\x1b``, ``\\u202e``) and cannot move the cursor, retitle the
window, clear the screen or reorder the text around it.

A run's lines are drawn by the renderer of its tool's display kind
(:data:`RENDERERS`; the registry, :mod:`pingu.tools`, says each tool's),
picked by the ``start`` event's ``tool`` field; the default tool's is the
one used when the server names no tool or one this client does not know
(a line's ``raw`` text is what every tool prints: hop lines, readable
per-hop lines).  On a terminal, and for one node, a run shown as per-hop
statistics is drawn as a live table instead (:class:`HopStatsTable`),
redrawn in place after each round with cursor movements this module
writes itself; the table's cells are server text and go through
:func:`visible` like everything else.
"""

from __future__ import annotations

import re
import sys
from typing import IO, Any, Callable, Optional

from pingu import events, tools
from pingu.tools import DEFAULT_TOOL
from pingu.tools.spec import HOP_STATS, HOP_TABLE, HTTP_TIMINGS, RTT_SERIES

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

#: Renderers by display kind: each tool's ``raw`` lines are what it prints
#: (per-hop statistics made readable by the tool's parser).
RENDERERS: dict[str, Renderer] = {
    RTT_SERIES: ping_lines,
    HOP_TABLE: ping_lines,
    HOP_STATS: ping_lines,
    HTTP_TIMINGS: ping_lines,
}
#: Each tool's display kind, as the ``start`` event's ``tool`` field names it.
DISPLAYS: dict[str, str] = {name: tool.display for name, tool in tools.TOOLS.items()}


def display_of(tool: Any) -> str:
    """The display kind of ``tool`` (a server-supplied name); the default
    tool's when it is not a tool this client knows."""
    if isinstance(tool, str) and tool in DISPLAYS:
        return DISPLAYS[tool]
    return DISPLAYS[DEFAULT_TOOL]


def renderer_for(tool: Any) -> Renderer:
    """The renderer of ``tool`` (a server-supplied name), ping's if unknown."""
    return RENDERERS[display_of(tool)]


def _figure(value: Any, width: int, digits: int = 2) -> str:
    """A number from the server, right-aligned; anything else a dash."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-".rjust(width)
    text = f"{value:.{digits}f}" if isinstance(value, float) or digits else str(value)
    return text[:width].rjust(width)


class HopStatsTable:
    """A live per-hop table, as mtr's report shows it: the latest
    ``hop_stats`` of each hop, in hop order."""

    HEADER = f"{'Host':<27}{'Loss%':>6}{'Snt':>6}" + "".join(
        f"{name:>7}" for name in ("Last", "Avg", "Best", "Wrst", "StDev")
    )

    def __init__(self) -> None:
        self.rows: dict[int, events.Event] = {}
        self.addresses: dict[int, str] = {}

    def takes(self, event: events.Event) -> bool:
        """Is this an event the table shows (a hop or its statistics)?"""
        hop = event.get("hop")
        return (
            event.get("type") in (events.HOP, events.HOP_STATS)
            and isinstance(hop, int)
            and not isinstance(hop, bool)
            and 0 < hop < 256
        )

    def update(self, event: events.Event) -> list[str]:
        """Take a hop or hop_stats event; the table's lines (not yet sanitised)."""
        hop = event["hop"]
        if isinstance(event.get("address"), str):
            self.addresses.setdefault(hop, event["address"])
        if event.get("type") == events.HOP_STATS:
            self.rows[hop] = event
        return self.lines()

    def lines(self) -> list[str]:
        """The header and one line per hop known so far."""
        out = [self.HEADER]
        for hop in sorted(set(self.rows) | set(self.addresses)):
            row = self.rows.get(hop, {})
            host = visible(self.addresses.get(hop, "???"))
            loss = _figure(row.get("loss_pct"), 5, 1)
            out.append(
                f"{hop:>2}. {host:<23}{loss}%{_figure(row.get('sent'), 6, 0)}"
                + "".join(
                    _figure(row.get(key), 7)
                    for key in ("last_ms", "avg_ms", "best_ms", "worst_ms", "stdev_ms")
                )
            )
        return out


#: Display kinds drawn as a live table on a terminal.
TABLES: dict[str, Callable[[], HopStatsTable]] = {HOP_STATS: HopStatsTable}
#: Move the cursor to the start of the line ``n`` lines up, and clear from
#: there to the end of the screen (ECMA-48 CPL and ED).
CURSOR_UP = "\x1b[{n}F"
CLEAR_DOWN = "\x1b[J"


class Printer:
    """Prints one run's events: lines on ``out``, errors on ``err``, each
    line after ``prefix`` (``"node: "`` when several nodes ping), every
    server-supplied string made :func:`visible` first.

    A display kind of :data:`TABLES` whose output is a terminal (and that has no
    prefix: the run of one node) is drawn as a table redrawn in place;
    other lines (the tool's messages) print above it."""

    def __init__(
        self, out: Optional[IO[str]] = None, err: Optional[IO[str]] = None, prefix: str = ""
    ) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.prefix = visible(prefix)
        self.render: Renderer = renderer_for(DEFAULT_TOOL)
        self.table: Optional[HopStatsTable] = None
        self._drawn = 0  # lines of the table on the screen now

    def _terminal(self) -> bool:
        isatty = getattr(self.out, "isatty", None)
        try:
            return bool(isatty and isatty())
        except ValueError:  # a closed stream
            return False

    def event(self, event: events.Event) -> None:
        """Print one event (an ``error`` on ``err``, as ``pingu: message``)."""
        kind = event.get("type")
        if kind == events.START:
            tool = event.get("tool", DEFAULT_TOOL)
            self.render = renderer_for(tool)
            table = TABLES.get(display_of(tool))
            if table is not None and not self.prefix and self._terminal():
                self.table = table()
        if kind == events.ERROR:
            self.error(event.get("message", "the server refused"))
            return
        if self.table is not None and self.table.takes(event):
            self._draw(self.table.update(event))
            return
        lines = self.render(event)
        if lines and self._drawn:
            self._erase()
            self._write(lines)
            self._draw(self.table.lines() if self.table is not None else [])
            return
        self._write(lines)

    def _write(self, lines: list[str]) -> None:
        for line in lines:
            self.out.write(f"{self.prefix}{visible(line)}\n")
        self.out.flush()

    def _erase(self) -> None:
        if self._drawn:
            self.out.write(CURSOR_UP.format(n=self._drawn) + CLEAR_DOWN)
            self._drawn = 0

    def _draw(self, lines: list[str]) -> None:
        """Replace the table on the screen with ``lines`` (already built of
        sanitised cells; sanitised again, which changes nothing)."""
        self._erase()
        self._write(lines)
        self._drawn = len(lines)

    def error(self, message: Any) -> None:
        """``pingu: message`` on ``err``; the message may hold server text."""
        self.err.write(f"{self.prefix}pingu: {visible(message)}\n")
        self.err.flush()
