"""Line reassembly, and the life of a real child (the FAKE ping) under Twisted."""

from __future__ import annotations

import os

import pytest
import pytest_twisted
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet import defer, reactor, task

from pingu.process import LineSplitter, PingProcess, spawn
from tests.harness.pingu import make_fake_ping
from tests.harness.procs import children_of

# -- LineSplitter -----------------------------------------------------------------


def test_lines_across_chunks() -> None:
    splitter = LineSplitter(100)
    assert splitter.feed(b"64 bytes fr") == []
    assert splitter.feed(b"om ::1\n64 by") == ["64 bytes from ::1"]
    assert splitter.feed(b"tes\r\n\n") == ["64 bytes", ""]
    assert splitter.flush() == []


def test_crlf_split_between_chunks() -> None:
    splitter = LineSplitter(100)
    assert splitter.feed(b"a\r") == []
    assert splitter.feed(b"\nb") == ["a"]
    assert splitter.flush() == ["b"]


def test_overlong_line_is_cut_and_bounded() -> None:
    splitter = LineSplitter(10)
    assert splitter.feed(b"x" * 25) == ["x" * 10]
    assert splitter.feed(b"y" * 1000) == []  # still the same line: discarded
    assert len(splitter._buffer) <= 10
    assert splitter.feed(b"z\nnext\n") == ["next"]


def test_overlong_line_then_newline_in_same_chunk() -> None:
    splitter = LineSplitter(4)
    assert splitter.feed(b"abcdefgh\nij\n") == ["abcd", "ij"]


def test_invalid_utf8_is_replaced() -> None:
    assert LineSplitter(100).feed(b"\xff\xfeok\n") == ["\ufffd\ufffdok"]


@given(st.lists(st.binary(max_size=50), max_size=30))
def test_chunking_does_not_change_lines(chunks: list[bytes]) -> None:
    data = b"".join(chunks)
    whole = LineSplitter(10_000)
    expected = whole.feed(data) + whole.flush()
    pieces = LineSplitter(10_000)
    got = [line for chunk in chunks for line in pieces.feed(chunk)] + pieces.flush()
    assert got == expected
    # and memory stays bounded with a small limit
    small = LineSplitter(8)
    for chunk in chunks:
        small.feed(chunk)
        assert len(small._buffer) <= 8


def test_pending_is_the_unended_line_and_nothing_else() -> None:
    splitter = LineSplitter(10)
    assert splitter.pending() is None
    assert splitter.feed(b"one\n two") == ["one"]
    assert splitter.pending() == " two"
    assert splitter.feed(b" ms\r") == []
    assert splitter.pending() == " two ms"  # a lone \r may yet be a CRLF's
    assert splitter.feed(b"\n") == [" two ms"]
    assert splitter.pending() is None
    splitter.feed(b"0123456789abc")  # cut: the rest of an overlong line is dropped
    assert splitter.pending() is None


# -- PingProcess with a real child ----------------------------------------------------


class Collected:
    def __init__(self) -> None:
        self.lines: list[tuple[str, int]] = []
        self.exits: list[tuple[object, object]] = []
        self.done: defer.Deferred = defer.Deferred()

    def line(self, text: str, fd: int) -> None:
        self.lines.append((text, fd))

    def exited(self, code: object, sig: object) -> None:
        self.exits.append((code, sig))
        self.done.callback(None)


def start_fake(tmp_path, scenario: str, ping_args: list[str], grace: float = 0.3):
    wrapper, _ = make_fake_ping(tmp_path, scenario)
    got = Collected()
    proto = PingProcess(reactor, got.line, got.exited, grace=grace, max_line=4096)
    spawn(reactor, proto, [str(wrapper), *ping_args], {"PATH": "/usr/bin:/bin"})
    return proto, got


@pytest_twisted.inlineCallbacks
def test_partial_lines_and_crlf(tmp_path):
    _, got = start_fake(tmp_path, "partial", ["-c", "2", "-i", "0.05", "--", "127.0.0.1"])
    yield got.done
    replies = [text for text, _ in got.lines if "icmp_seq" in text]
    assert replies == [
        "64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.051 ms",
        "64 bytes from 127.0.0.1: icmp_seq=2 ttl=64 time=0.062 ms",
    ]
    assert got.exits == [(0, None)]


@pytest_twisted.inlineCallbacks
def test_the_unended_line_is_offered_before_its_newline(tmp_path):
    # Like traceroute: a line's text now, its newline only when the next begins.
    go = tmp_path / "go"
    script = tmp_path / "late-newline"
    script.write_text(
        "#!/bin/sh\nprintf ' 1  a'\n"
        # at most 10 s: without the offer, the test fails instead of hanging
        f"n=0; while [ ! -e {go} ] && [ $n -lt 1000 ]; do sleep 0.01; n=$((n+1)); done\n"
        "printf '\\n 2  b\\n'\n"
    )
    script.chmod(0o755)
    got = Collected()
    offered: list[tuple[str, int]] = []

    def pending(text: str, fd: int) -> None:
        offered.append((text, fd))
        go.touch()  # only now may the newline come

    proto = PingProcess(reactor, got.line, got.exited, 0.3, 4096, pending)
    spawn(reactor, proto, [str(script)], {"PATH": "/usr/bin:/bin"})
    yield got.done
    assert offered[0] == (" 1  a", 1)
    assert [text for text, _ in got.lines] == [" 1  a", " 2  b"]
    assert got.exits == [(0, None)]


@pytest_twisted.inlineCallbacks
def test_stderr_lines_and_exit_2(tmp_path):
    _, got = start_fake(tmp_path, "exit2", ["--", "127.0.0.1"])
    yield got.done
    assert got.lines == [("ping: 127.0.0.1: Name or service not known", 2)]
    assert got.exits == [(2, None)]


@pytest_twisted.inlineCallbacks
def test_stop_sends_sigint_and_summary_arrives(tmp_path):
    proto, got = start_fake(tmp_path, "normal", ["-i", "0.05", "--", "127.0.0.1"])
    yield task.deferLater(reactor, 0.3, lambda: None)
    proto.stop()
    yield got.done
    texts = [text for text, _ in got.lines]
    assert any("packets transmitted" in t for t in texts)
    assert got.exits == [(0, None)]


@pytest_twisted.inlineCallbacks
def test_stubborn_child_is_killed(tmp_path):
    proto, got = start_fake(tmp_path, "stubborn", ["-i", "0.05", "--", "127.0.0.1"], grace=0.2)
    yield task.deferLater(reactor, 0.3, lambda: None)
    pid = proto.pid
    proto.stop()
    yield got.done
    assert got.exits[0][0] is None and got.exits[0][1] == 9  # SIGKILL
    assert pid not in children_of(os.getpid())  # reaped: no zombie
    assert proto.signal("INT") is False  # ProcessExitedAlready is not an error


@pytest_twisted.inlineCallbacks
def test_crash_reports_the_signal(tmp_path):
    _, got = start_fake(tmp_path, "crash", ["-i", "0.01", "--", "127.0.0.1"])
    yield got.done
    assert got.exits == [(None, 11)]


@pytest_twisted.inlineCallbacks
def test_long_line_is_cut(tmp_path):
    _, got = start_fake(tmp_path, "longline", ["-c", "1", "--", "127.0.0.1"])
    yield got.done
    assert ("x" * 4096, 1) in got.lines
    assert any("icmp_seq=1" in text for text, _ in got.lines)


@pytest_twisted.inlineCallbacks
def test_no_fd_leak_over_many_children(tmp_path):
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(10):
        _, got = start_fake(tmp_path, "normal", ["-c", "1", "--", "127.0.0.1"])
        yield got.done
    assert len(os.listdir("/proc/self/fd")) <= before


def test_missing_executable_raises(tmp_path):
    proto = PingProcess(reactor, print, print, grace=1, max_line=100)
    with pytest.raises(FileNotFoundError):
        spawn(reactor, proto, [str(tmp_path / "nope"), "--", "127.0.0.1"], {})


def test_non_executable_raises(tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("#!/bin/sh\n")
    plain.chmod(0o644)
    proto = PingProcess(reactor, print, print, grace=1, max_line=100)
    with pytest.raises(PermissionError):
        spawn(reactor, proto, [str(plain), "--", "127.0.0.1"], {})
