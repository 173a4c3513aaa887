"""The part every tool shares (``pingu/tools/base.py``), over every tool the
registry holds: the parsers' default ``pending``, the once-only closing
summary of the tools without statistics of pingu's shape, and the end of a
tool that exits 0 whether or not its target answered."""

from __future__ import annotations

from signal import SIGINT, SIGKILL
from typing import Any, Optional

import pytest

from pingu import tools
from pingu.tools.base import LineParser, SeriesParser, ToolBase
from pingu.tools.series import Series

#: Every tool, as the registry holds it.
TOOLS = list(tools.TOOLS.values())
#: The tools whose parser closes with pingu's own series summary.
SERIES_TOOLS = [t for t in TOOLS if isinstance(t.parser(), SeriesParser)]


def test_every_tool_is_built_on_the_shared_shape() -> None:
    # (a tool of its own shape would not be wrong, but these tests would miss it)
    assert all(isinstance(tool, ToolBase) for tool in TOOLS)
    assert all(isinstance(tool.parser(), LineParser) for tool in TOOLS)
    assert len(SERIES_TOOLS) >= 3


@pytest.mark.parametrize("tool", TOOLS, ids=lambda t: t.name)
def test_a_fresh_parser_ends_with_nothing_held_twice(tool: Any) -> None:
    parser = tool.parser()
    first = parser.finish()
    assert parser.finish() == []  # nothing again: a run's end is read once
    assert all(event["type"] == "summary" for event in first)


@pytest.mark.parametrize("tool", SERIES_TOOLS, ids=lambda t: t.name)
def test_the_series_summary_is_the_tools_and_comes_once(tool: Any) -> None:
    parser = tool.parser()
    parser.series.probe()
    parser.series.answered(1.5)
    assert parser.pending("a line not ended yet") == []
    (summary,) = [e for e in parser.finish() if e["type"] == "summary"]
    assert summary["raw"].startswith(f"--- {tool.name} statistics: 1 probes, 1 answered")
    assert (summary["transmitted"], summary["received"]) == (1, 1)
    assert parser.finish() == []


class Seen:
    """A parser as ``how`` reads it: a series with or without an answer."""

    def __init__(self, answered: bool) -> None:
        self.series = Series()
        if answered:
            self.series.probe()
            self.series.answered(1.0)


@pytest.mark.parametrize(
    ("exit_code", "signal", "answered", "how"),
    [(0, None, True, "completed"), (0, None, False, "no-reply"),
     (None, SIGINT, True, "completed"), (None, SIGINT, False, "no-reply"),
     (None, SIGKILL, True, "signal"), (1, None, True, "ping-error"),
     (2, None, False, "ping-error")],
)  # fmt: skip
def test_the_end_of_a_tool_that_exits_0_either_way(
    exit_code: Optional[int], signal: Optional[int], answered: bool, how: str
) -> None:
    # dns keeps the shared end whole; tcp, traceroute, mtr and http each
    # change a part of it (tested in their own files and below)
    tool = tools.get("dns")
    assert type(tool).how is ToolBase.how and type(tool).failed is ToolBase.failed
    assert tool.how(exit_code, signal, Seen(answered), None, None) == how


@pytest.mark.parametrize(("exit_code", "answered", "how"),
                         [(0, True, "completed"), (7, True, "completed"), (28, False, "no-reply"),
                          (22, False, "no-reply")])  # fmt: skip
def test_a_tool_whose_exit_status_says_nothing_of_the_run(
    exit_code: int, answered: bool, how: str
) -> None:
    # http: curl's exit status is its last request's
    tool = tools.get("http")
    assert tool.how(exit_code, None, Seen(answered), None, None) == how
    assert tool.how(None, SIGKILL, Seen(True), None, None) == "signal"
