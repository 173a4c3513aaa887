"""``pingu watch --tool``: the command line per tool, the renderers (mtr's
live table on a terminal, plain lines elsewhere, server text sanitised),
and the WAMP watcher's paging through a long backlog.  End to end against
the real server and tools: tests/test_paths_e2e.py."""

from __future__ import annotations

import io
from typing import Any

import pytest
from autobahn.wamp.exception import ApplicationError
from twisted.internet import defer

from pingu.cli.args import UsageError, parse
from pingu.cli.printer import CLEAR_DOWN, Printer
from pingu.cli.wamp import NO_SUCH_RUN, NodeRun

# -- the command line --------------------------------------------------------------------


def test_tool_and_its_options_make_the_request() -> None:
    args = parse(["watch", "--tool", "traceroute", "ws://h/ws", "10.0.0.1", "-m", "5", "-q", "2",
                  "--wait", "0.5", "-s", "100", "-6"])  # fmt: skip
    assert args.fields() == {
        "target": "10.0.0.1", "tool": "traceroute", "max_hops": 5, "queries": 2, "wait": 0.5,
        "size": 100, "family": 6,
    }  # fmt: skip
    mtr = parse(["watch", "--tool", "mtr", "ws://h/ws", "10.0.0.1", "-c", "3", "-i", "1"])
    assert mtr.fields() == {"target": "10.0.0.1", "tool": "mtr", "count": 3, "interval": 1.0}
    # ping stays as it was: no tool field, which every server takes
    assert parse(["watch", "ws://h/ws", "10.0.0.1", "-c", "1"]).fields() == {
        "target": "10.0.0.1", "count": 1,
    }  # fmt: skip
    wamp = parse(["watch", "--router", "ws://h/ws", "--tool", "mtr", "10.0.0.1", "-c", "2"])
    assert wamp.request_options() == {"tool": "mtr", "count": 2}
    assert wamp.backlog_page == 1000


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--tool", "mtr", "-q", "2"], "--queries is not an option of mtr"),
        (["--tool", "traceroute", "-c", "2"], "--count is not an option of traceroute"),
        (["-m", "3"], "--max-hops is not an option of ping"),
        (["--tool", "mtr", "-w", "3"], "--deadline is not an option of mtr"),
        (["--max-backlog-page", "0"], "--max-backlog-page must be at least 1"),
    ],
)
def test_options_of_another_tool_are_refused(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse(["watch", *argv, "ws://h/ws", "10.0.0.1"])


def test_an_unknown_tool_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse(["watch", "--tool", "nmap", "ws://h/ws", "10.0.0.1"])
    assert "invalid choice: 'nmap'" in capsys.readouterr().err


# -- printing ----------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def stats(hop: int, address: Any, sent: int, received: int, last: float) -> dict[str, Any]:
    return {
        "type": "hop_stats", "hop": hop, "address": address, "addresses": [address],
        "sent": sent, "received": received,
        "loss_pct": round(100.0 * (sent - received) / sent, 1), "last_ms": last,
        "avg_ms": last, "best_ms": last, "worst_ms": last, "stdev_ms": 0.0, "jitter_ms": None,
        "raw": f"{hop:>2}. {address}  plain {sent}",
    }  # fmt: skip


RUN = [
    {"type": "start", "tool": "mtr", "raw": None},
    {"type": "hop", "hop": 1, "address": "10.213.0.2", "rtt_ms": [], "raw": " 1. 10.213.0.2"},
    stats(1, "10.213.0.2", 1, 1, 0.09),
    stats(2, None, 1, 0, 0.0) | dict.fromkeys(("last_ms", "avg_ms", "best_ms", "worst_ms")),
    {"type": "line", "raw": "mtr: a message"},
    stats(1, "10.213.0.2", 2, 2, 0.12),
]


def test_mtr_on_a_terminal_is_a_table_redrawn_in_place() -> None:
    out = Terminal()
    printer = Printer(out, io.StringIO())
    for event in RUN:
        printer.event(event)
    screen = out.getvalue()
    frames = screen.split(CLEAR_DOWN)
    # each redraw first moves up over the table it drew (header + hops)
    assert screen.count("\x1b[2F") == 2 and screen.count("\x1b[3F") == 2
    final = frames[-1].splitlines()
    assert final[0].startswith("Host") and "Loss%" in final[0] and "StDev" in final[0]
    assert final[1].split() == ["1.", "10.213.0.2", "0.0%", "2", "0.12", "0.12", "0.12", "0.12",
                                "0.00"]  # fmt: skip
    assert final[2].split() == ["2.", "???", "100.0%", "1", "-", "-", "-", "-", "0.00"]
    # the tool's own line is printed above the table, once
    assert screen.count("mtr: a message\n") == 1
    assert "plain" not in screen  # the table, not the raw lines


def test_mtr_not_on_a_terminal_prints_plain_lines() -> None:
    out = io.StringIO()
    printer = Printer(out, io.StringIO())
    for event in RUN:
        printer.event(event)
    assert out.getvalue().splitlines() == [
        " 1. 10.213.0.2", " 1. 10.213.0.2  plain 1", " 2. None  plain 1", "mtr: a message",
        " 1. 10.213.0.2  plain 2",
    ]  # fmt: skip
    assert "\x1b" not in out.getvalue()


def test_several_nodes_print_plain_lines_even_on_a_terminal() -> None:
    out = Terminal()
    printer = Printer(out, io.StringIO(), prefix="alpha: ")
    for event in RUN:
        printer.event(event)
    assert "\x1b" not in out.getvalue()
    assert out.getvalue().splitlines()[0] == "alpha:  1. 10.213.0.2"


def test_the_table_sanitises_server_text() -> None:
    out = Terminal()
    printer = Printer(out, io.StringIO())
    printer.event({"type": "start", "tool": "mtr"})
    printer.event(stats(1, "\x1b[2J\u202eevil", 1, 1, 0.1) | {"sent": "\x1b[5m"})
    screen = out.getvalue()
    assert "\\x1b[2J\\u202eevil" in screen and "\u202e" not in screen
    # the only escapes are the table's own cursor movements, none from the server
    assert screen.replace("\\x1b", "").count("\x1b") == 0  # first draw: nothing to erase
    for bad_hop in (0, 256, True, "3", None):
        printer.event(stats(1, "10.0.0.1", 1, 1, 0.1) | {"hop": bad_hop})


def test_traceroute_prints_as_traceroute_does() -> None:
    out = io.StringIO()
    printer = Printer(out, io.StringIO())
    printer.event({"type": "start", "tool": "traceroute"})
    printer.event({"type": "line", "raw": "traceroute to 10.213.2.2 (10.213.2.2), 30 hops max"})
    printer.event({"type": "hop", "hop": 1, "address": None, "rtt_ms": [None], "raw": " 1  *"})
    assert out.getvalue() == "traceroute to 10.213.2.2 (10.213.2.2), 30 hops max\n 1  *\n"


# -- paging the WAMP backlog ---------------------------------------------------------------


class Session:
    """A node that answers ``backlog(run, since=n)`` from ``events``, ``page`` at a time."""

    def __init__(self, count: int, page: int, gone_after: int = 0) -> None:
        self.events = [{"type": "line", "raw": f"l{n}", "n": n} for n in range(1, count + 1)]
        self.page = page
        self.calls: list[int] = []
        self.gone_after = gone_after

    def call(self, procedure: str, run: str, since: int = 0) -> defer.Deferred:
        assert procedure == "pingu.mem.backlog" and run == "r1"
        self.calls.append(since)
        if self.gone_after and len(self.calls) > self.gone_after:
            return defer.fail(ApplicationError(NO_SUCH_RUN, "gone"))
        return defer.succeed([e for e in self.events if e["n"] > since][: self.page])


def fetch(session: Session, first: list[dict], page: int) -> list[int]:
    part = NodeRun(session, "mem", Printer(io.StringIO(), io.StringIO()), backlog_page=page)
    part.run = "r1"
    got: list[Any] = []
    part.fetch_backlog(first).addBoth(got.append)
    return [e["n"] for e in got[0]]


def test_the_backlog_is_fetched_page_by_page_from_the_last_n() -> None:
    session = Session(count=2500, page=1000)
    first = session.events[:1000]  # start's reply: the first page
    assert fetch(session, first, 1000) == list(range(1, 2501))
    assert session.calls == [1000, 2000]  # 1001-2000 full, 2001-2500 not: done


def test_a_backlog_that_fits_one_page_costs_one_call() -> None:
    session = Session(count=10, page=1000)
    assert fetch(session, session.events[:4], 1000) == list(range(1, 11))
    assert session.calls == [4]


def test_a_run_gone_meanwhile_keeps_what_came() -> None:
    session = Session(count=30, page=10, gone_after=1)
    assert fetch(session, session.events[:10], 10) == list(range(1, 21))
    assert session.calls == [10, 20]
