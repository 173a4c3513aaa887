"""``pingu watch`` on its own: the printer's sanitising, the exit statuses, the
command line, and the WebSocket watcher against a fake, hostile server.

Whatever a server sends is data: no byte of it may reach the terminal as
control.  The fake server here (``websockets`` in a thread) sends what a
hostile or broken pingu server could; ``tests/test_cli_e2e.py`` does the same
through a real ``twistd pingu`` and a ping that prints escape sequences.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.sync.server import ServerConnection, serve

from pingu import __version__, tools
from pingu.cli import args as cli_args
from pingu.cli import printer as cli_printer
from pingu.cli.printer import EXIT_ERROR, Printer, exit_status, visible
from pingu.cli.wamp import NodeRun, RunFollower, node_names
from pingu.cli.ws import decode
from pingu.tools.spec import DISPLAY_KINDS

PINGU = Path(sys.executable).parent / "pingu"

#: Sequences a hostile server could send, and how each must be printed.
HOSTILE = {
    "\x1b[2J\x1b[H": "\\x1b[2J\\x1b[H",  # CSI: clear the screen, cursor home
    "\x1b]0;pwned\x07": "\\x1b]0;pwned\\x07",  # OSC: set the window title
    "\x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\": "\\x1b]8;;http://evil/\\x1b\\link"
    "\\x1b]8;;\\x1b\\",  # OSC 8 hyperlink
    "\x1bP+q\x1b\\": "\\x1bP+q\\x1b\\",  # DCS
    "\x9b31m": "\\x9b31m",  # C1 CSI
    "\x9d0;t\x9c": "\\x9d0;t\\x9c",  # C1 OSC ... ST
    "a\rb": "a\\x0db",  # carriage return: overwrite the line
    "a\x08b": "a\\x08b",  # backspace
    "\x00\x07\x7f": "\\x00\\x07\\x7f",  # NUL, BEL, DEL
    "tab\there": "tab\\x09here",
    "\u202eevil": "\\u202eevil",  # RIGHT-TO-LEFT OVERRIDE
    "\u2066x\u2069": "\\u2066x\\u2069",  # LEFT-TO-RIGHT ISOLATE ... POP
    "\ud800": "\\ud800",  # a lone surrogate (JSON can carry one)
}
BIDI = [chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]]
UNSAFE_CHARS = [chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]] + BIDI


def unsafe_in(text: str) -> list[str]:
    """The characters of ``text`` a terminal could take as control."""
    return [c for c in text if c in UNSAFE_CHARS or 0xD800 <= ord(c) <= 0xDFFF]


# -- the printer ------------------------------------------------------------------


@pytest.mark.parametrize(("text", "shown"), HOSTILE.items())
def test_visible_escapes_every_control_sequence(text: str, shown: str) -> None:
    assert visible(text) == shown


@pytest.mark.parametrize("char", UNSAFE_CHARS)
def test_visible_escapes_each_c0_c1_and_bidi_control(char: str) -> None:
    out = visible(f"a{char}b")
    assert out.startswith("a\\") and out.endswith("b") and not unsafe_in(out)


def test_visible_keeps_what_ping_prints() -> None:
    line = "64 bytes from ::1 (héllo.例え.jp): icmp_seq=1 ttl=64 time=0.045 ms µ \\x1b"
    assert visible(line) == line
    assert visible(4) == "4" and visible(None) == "None"


@given(st.text())
def test_visible_never_lets_a_control_through(text: str) -> None:
    out = visible(text)
    assert not unsafe_in(out)
    if not unsafe_in(text):
        assert out == text


def printed(*events: dict[str, Any], prefix: str = "") -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    printer = Printer(out, err, prefix=prefix)
    for event in events:
        printer.event(event)
    return out.getvalue(), err.getvalue()


def test_printer_sanitises_lines_errors_and_prefixes() -> None:
    out, err = printed(
        {"type": "line", "raw": "PING \x1b]0;pwned\x07 x"},
        {"type": "summary", "raw": "--- \x9b2J ---\n1 packets \u202etransmitted"},
        {"type": "error", "raw": None, "message": "no \x1b[5mway"},
        prefix="node\x1b[1A: ",
    )
    assert out == (
        "node\\x1b[1A: PING \\x1b]0;pwned\\x07 x\n"
        "node\\x1b[1A: --- \\x9b2J ---\n"
        "node\\x1b[1A: 1 packets \\u202etransmitted\n"
    )
    assert err == "node\\x1b[1A: pingu: no \\x1b[5mway\n"


def test_printer_takes_malformed_events_as_data() -> None:
    out, err = printed(
        {"type": "line", "raw": ["\x1b[2J"]},  # not a string: nothing to print
        {"type": "reply"},  # no raw at all
        {"type": "error", "message": {"\x1b": 1}},  # not a string: shown as text
        {"type": "error"},
    )
    assert out == ""
    assert err == "pingu: {'\\x1b': 1}\npingu: the server refused\n"


def test_the_start_events_tool_picks_the_renderer(monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(cli_printer.DISPLAYS) == set(tools.TOOLS)
    assert set(cli_printer.RENDERERS) == set(DISPLAY_KINDS)

    def upper(event: dict[str, Any]) -> list[str]:
        return [event["raw"].upper()] if event.get("raw") else []

    monkeypatch.setitem(cli_printer.RENDERERS, "shouting", upper)
    monkeypatch.setitem(cli_printer.DISPLAYS, "upper", "shouting")
    line = {"type": "line", "raw": "hop \x1b"}
    assert printed({"type": "start", "tool": "upper"}, line)[0] == "HOP \\x1b\n"
    assert printed({"type": "start", "tool": "nosuchtool"}, line)[0] == "hop \\x1b\n"
    assert printed({"type": "start", "tool": ["upper"]}, line)[0] == "hop \\x1b\n"
    assert printed({"type": "start"}, line)[0] == "hop \\x1b\n"


# -- exit statuses ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("end", "status"),
    [
        (None, 2),
        ({"type": "end", "how": "completed", "exit_code": 0, "signal": None}, 0),
        ({"type": "end", "how": "no-reply", "exit_code": 1, "signal": None}, 1),
        ({"type": "end", "how": "ping-error", "exit_code": 2, "signal": None}, 2),
        ({"type": "end", "how": "ping-error", "exit_code": 3, "signal": None}, 3),
        ({"type": "end", "how": "signal", "exit_code": None, "signal": 9}, 137),
        ({"type": "end", "how": "signal", "exit_code": None, "signal": 2}, 130),
        ({"type": "end", "how": "spawn-failed", "exit_code": None, "signal": None}, 2),
        # what no process can exit with is the server's fault: 2
        ({"type": "end", "exit_code": 256}, 2),
        ({"type": "end", "exit_code": -1}, 2),
        ({"type": "end", "exit_code": "0"}, 2),
        ({"type": "end", "exit_code": True}, 2),
        ({"type": "end", "exit_code": 0.0}, 2),
        ({"type": "end", "exit_code": None, "signal": 0}, 2),
        ({"type": "end", "exit_code": None, "signal": 200}, 2),
        ({"type": "end"}, 2),
    ],
)
def test_exit_status(end: Optional[dict[str, Any]], status: int) -> None:
    assert exit_status(end) == status


def test_a_wamp_watcher_that_left_a_shared_run_exits_with_its_own_status() -> None:
    follower = RunFollower(Printer(io.StringIO(), io.StringIO()))
    follower.catch_up([{"type": "start", "raw": None, "n": 1}])
    follower.finish()  # left, the run goes on for others
    assert follower.status() == 1  # no reply seen
    follower = RunFollower(Printer(io.StringIO(), io.StringIO()))
    follower.catch_up([{"type": "reply", "raw": "r", "n": 1}, "junk", {"n": 2}])
    follower.take({"type": "reply", "raw": "\x1b", "n": True})  # no number: dropped
    follower.finish()
    assert follower.status() == 0 and follower.replies == 1


def test_a_failed_node_exits_2_and_says_why_safely() -> None:
    err = io.StringIO()
    part = NodeRun(session=None, node="alpha", printer=Printer(io.StringIO(), err, "alpha: "))
    part.error("refused: \x1b[31mred")
    assert part.status() == EXIT_ERROR and part.follower.done.called
    assert err.getvalue() == "alpha: pingu: refused: \\x1b[31mred\n"


def test_node_names_take_only_strings() -> None:
    assert node_names(["a", "b", "a", 3, None, "", ["c"]]) == ["a", "b"]
    assert node_names("alpha") == [] and node_names(None) == []


# -- the command line --------------------------------------------------------------


def test_the_command_line_makes_the_request() -> None:
    watch = cli_args.parse(
        ["watch", "ws://h/ws", "127.0.0.1", "-c", "3", "-i", "0.5", "-s", "8", "-6", "-w", "4"]
    )
    assert watch.url == "ws://h/ws" and watch.router is None
    assert watch.fields() == {
        "target": "127.0.0.1", "count": 3, "interval": 0.5, "size": 8, "deadline": 4, "family": 6
    }  # fmt: skip
    wamp = cli_args.parse(["watch", "--router", "ws://r/ws", "--node", "a", "--node", "a", "::1"])
    assert (wamp.url, wamp.router, wamp.nodes, wamp.realm) == (None, "ws://r/ws", ("a",), "pingu")
    assert wamp.fields() == {"target": "::1"}


@pytest.mark.parametrize(
    "argv",
    [
        ["watch", "127.0.0.1"],  # neither a URL nor a router
        ["watch", "--router", "ws://r/ws", "ws://h/ws", "127.0.0.1"],  # both
        ["watch", "--node", "a", "ws://h/ws", "127.0.0.1"],  # a node without a router
    ],
)
def test_a_command_line_that_makes_no_sense_is_refused(argv: list[str]) -> None:
    with pytest.raises(cli_args.UsageError):
        cli_args.parse(argv)


def run_cli(*argv: str, module: bool = False, timeout: float = 30) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pingu.cli"] if module else [str(PINGU)]
    return subprocess.run(
        [*command, *argv], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )  # fmt: skip


@pytest.mark.parametrize("module", [False, True])
def test_version(module: bool) -> None:
    done = run_cli("--version", module=module)
    assert (done.returncode, done.stdout) == (0, f"pingu {__version__}\n")


def test_usage_errors_exit_2() -> None:
    done = run_cli("watch", "127.0.0.1", module=True)
    assert done.returncode == 2
    assert done.stderr == "pingu: give either a WebSocket URL or --router\n"
    assert run_cli("watch").returncode == 2  # argparse's own


def test_nothing_in_the_cli_imports_the_server_or_the_other_watcher() -> None:
    # The CLI reads the tool registry (its flags and views come from it),
    # which imports only the events and the field checks.
    code = (
        "import sys, pingu.cli, pingu.cli.ws, pingu.cli.printer, pingu.cli.args\n"
        "assert 'pingu.cli.wamp' not in sys.modules, 'ws imports wamp'\n"
        "import pingu.cli.wamp\n"
        "bad = [m for m in sys.modules if m.startswith('pingu.') and not"
        " m.startswith(('pingu.cli', 'pingu.tools')) and m not in"
        " ('pingu.events', 'pingu.refusal')]\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    code = "import sys, pingu.cli.wamp\nassert 'pingu.cli.ws' not in sys.modules, 'wamp imports ws'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# -- the WebSocket watcher against a fake server ---------------------------------------


def test_decode_takes_only_events() -> None:
    assert decode(b'{"type": "line", "raw": "x"}') == {"type": "line", "raw": "x"}
    for payload in (b"\xff", b"not json", b"[1]", b'{"raw": "x"}', b'{"type": 1}', b"null"):
        assert decode(payload) is None


Script = Callable[[ServerConnection], None]


class FakeServer:
    """A WebSocket server in a thread that plays ``script`` to each client
    and keeps what the client sent."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.received: list[Any] = []
        self.server = serve(self._handle, "127.0.0.1", 0, subprotocols=["pingu.json"])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.server.socket.getsockname()[1]}/ws"

    def _handle(self, ws: ServerConnection) -> None:
        self.received.append(json.loads(ws.recv(timeout=10)))
        self.script(ws)

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.server.shutdown()
        self.thread.join(10)


def send(*events: Any, close: tuple[int, str] = (1000, "ping completed")) -> Script:
    """A script: send each event (a dict as JSON, anything else as it is), then close."""

    def script(ws: ServerConnection) -> None:
        for event in events:
            ws.send(json.dumps(event) if isinstance(event, dict) else event)
        ws.close(*close)

    return script


@pytest.fixture
def fake() -> Iterator[Callable[[Script], FakeServer]]:
    servers: list[FakeServer] = []

    def start(script: Script) -> FakeServer:
        servers.append(FakeServer(script).__enter__())
        return servers[-1]

    yield start
    for server in servers:
        server.__exit__()


START = {"type": "start", "raw": None, "tool": "ping", "target": "h", "n": 1}


def end(exit_code: Optional[int], signal: Optional[int] = None) -> dict[str, Any]:
    return {"type": "end", "raw": None, "how": "x", "exit_code": exit_code, "signal": signal}


def test_a_hostile_server_reaches_the_terminal_only_as_visible_text(fake) -> None:
    hostile = list(HOSTILE)
    server = fake(
        send(
            START,
            *({"type": "line", "raw": text} for text in hostile),
            {"type": "reply", "raw": "64 bytes: icmp_seq=1 \x1b[31m", "seq": 1},
            {"type": "summary", "raw": "--- \x1b]0;t\x07 ---\n\u202e1 received"},
            end(0),
        )
    )
    done = run_cli("watch", server.url, "127.0.0.1", "-c", "1", "-i", "0.2")
    assert done.returncode == 0, done.stderr
    assert not unsafe_in(done.stdout.replace("\n", "")) and not unsafe_in(done.stderr)
    assert done.stdout.splitlines() == [
        *(HOSTILE[text] for text in hostile),
        "64 bytes: icmp_seq=1 \\x1b[31m",
        "--- \\x1b]0;t\\x07 ---",
        "\\u202e1 received",
    ]
    assert server.received == [{"target": "127.0.0.1", "count": 1, "interval": 0.2}]


def test_a_hostile_refusal_and_close_reason_are_shown_as_text(fake) -> None:
    refusal = {"type": "error", "raw": None, "code": 4400, "message": "bad \x1b[2Jtarget"}
    server = fake(send(refusal, close=(4400, "bad \x1b]0;x\x07")))
    done = run_cli("watch", server.url, "127.0.0.1")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "pingu: bad \\x1b[2Jtarget\n"
    server = fake(send(START, close=(4000, "gone \u202e\x1b[8m")))
    done = run_cli("watch", server.url, "127.0.0.1")
    assert done.returncode == 2
    assert done.stderr == "pingu: connection closed before the end: gone \\u202e\\x1b[8m (4000)\n"


@pytest.mark.parametrize(
    ("last", "status"),
    [(end(0), 0), (end(1), 1), (end(2), 2), (end(None, 9), 137), (end(999), 2)],
)
def test_the_exit_status_is_the_end_events(fake, last: dict[str, Any], status: int) -> None:
    server = fake(send(START, {"type": "line", "raw": "PING h"}, last))
    done = run_cli("watch", server.url, "h")
    assert (done.returncode, done.stdout) == (status, "PING h\n"), done.stderr


@pytest.mark.parametrize("junk", ["not json \x1b[2J", "[1, 2]", '{"raw": "no type"}', b"\x1b"])
def test_what_is_not_an_event_ends_the_watch_with_2(fake, junk: Any) -> None:
    server = fake(send(START, junk, {"type": "line", "raw": "never shown"}, end(0)))
    done = run_cli("watch", server.url, "h")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "pingu: the server sent something that is not a pingu event\n"


def test_no_server() -> None:
    with FakeServer(send()) as server:
        url = server.url
    done = run_cli("watch", url, "h")
    assert done.returncode == 2 and done.stderr.startswith(f"pingu: cannot connect to {url}")


def test_ctrl_c_asks_the_server_to_stop(fake) -> None:
    def script(ws: ServerConnection) -> None:
        ws.send(json.dumps(START))
        ws.send(json.dumps({"type": "reply", "raw": "icmp_seq=1"}))
        server.received.append(json.loads(ws.recv(timeout=20)))  # the stop
        ws.send(json.dumps({"type": "summary", "raw": "1 packets transmitted"}))
        ws.send(json.dumps(end(0)))
        ws.close()

    server = fake(script)
    proc = subprocess.Popen(
        [str(PINGU), "watch", server.url, "h"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "icmp_seq=1\n"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (proc.returncode, out) == (0, "1 packets transmitted\n"), err
    assert server.received == [{"target": "h"}, {"stop": True}]
