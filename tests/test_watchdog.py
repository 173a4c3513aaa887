"""No ping child outlives the server (pingu.watchdog), with real processes.

A small driver (DRIVER below) stands for the server: a real reactor,
pingu.process.spawn with the watchdog, real ``ping -q -i 0.2 127.0.0.1``
children.  The test SIGKILLs the driver and asserts that within 2 s no child
is left running; the same test without the watchdog shows the children do
survive then, so the test can fail.  The last tests do the same against the
real ``twistd pingu``, once pingu.tap starts the watchdog.

``-q`` matters: a ping that prints a line after the server has died gets
SIGPIPE from its output pipe and dies anyway, which would hide a missing
watchdog; a quiet ping (or one with a long interval, or no reply to print)
lives on, and that is the case the watchdog is for.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import pytest

from pingu import watchdog as wd
from tests.harness import REPO
from tests.harness.procs import children_of

PING = shutil.which("ping") or "/usr/bin/ping"
pytestmark = pytest.mark.skipif(not os.path.exists(PING), reason="needs iputils ping")

#: The stand-in for the server.  argv: mode (on, off, clean, abandon), how many
#: pings, drain timeout, ping, and optionally the watchdog's interpreter.
#: Prints one JSON line when the pings run (each has printed its header), and
#: one more with their exits after a clean stop (SIGTERM).
DRIVER = r"""
import json, os, sys
from twisted.internet import defer, reactor, task
from pingu.process import PingProcess, spawn
from pingu.watchdog import WatchdogService, watchdog_argv

mode, count, drain, ping = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
argv = watchdog_argv()
if len(sys.argv) > 5:  # another interpreter for the watchdog
    argv[0] = sys.argv[5]
service = None if mode == "off" else WatchdogService(reactor, drain_timeout=drain, argv=argv)
exits, procs = [], []

headed = set()

def exited(code, sig):
    exits.append([code, sig])
    if len(headed) < count:  # ended before it ran: nothing to print pids for
        sys.stderr.write(f"a ping ended at once: exit {code}, signal {sig}\n")
        os._exit(1)

def header_of(index):
    # A quiet ping still prints its "PING ..." header first: until it has,
    # it is not ready to be left behind (a header written after the driver
    # died would end it by SIGPIPE, and the control tests would see one fewer).
    def printed(text, fd):
        if fd == 1 and index not in headed:
            headed.add(index)
            if len(headed) == count:
                ready()
    return printed

def run():
    for index in range(count):
        proto = PingProcess(reactor, header_of(index), exited, 0.5, 4096)
        spawn(reactor, proto, [ping, "-q", "-i", "0.2", "127.0.0.1"],
              {"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
              watchdog=service.watchdog if service else None)
        procs.append(proto)

def ready():
    pipe = None
    if service is not None:
        pipe = os.fstat(service.watchdog._fd).st_ino
    print(json.dumps({"pids": [p.pid for p in procs],
                      "watchdog": service.watchdog.pid if service else None,
                      "pipe": pipe}), flush=True)

def stop_children():
    for proto in procs:
        proto.stop("TERM")

def stopping():
    # As twistd does, every service is told to stop at once; the server's
    # own runs take a while to end (here 0.3 s), and the watchdog must wait.
    waits = []
    if mode == "clean":
        waits.append(task.deferLater(reactor, 0.3, stop_children))
    if service is not None:
        waits.append(service.stopService())
    return defer.DeferredList(waits)

if service is not None:
    service.startService()  # as twistd does: before the reactor runs
reactor.addSystemEventTrigger("before", "shutdown", stopping)
reactor.callWhenRunning(run)
reactor.run()
print(json.dumps({"exits": exits}), flush=True)
"""


def stat_of(pid: int) -> Optional[list[str]]:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def running(pid: int, start: int) -> bool:
    """Is the process that had this pid and start time still running?

    A zombie is not running (it only waits for its new parent to reap it)."""
    stat = stat_of(pid)
    return stat is not None and int(stat[19]) == start and stat[0] not in ("Z", "X")


AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def python_for_nobody() -> str:
    """An interpreter nobody may run (the venv's may live under a private /root).

    The watchdog needs the standard library only, so any Python 3 will do."""
    for python in (sys.executable, "/usr/bin/python3"):
        done = subprocess.run(
            [
                *AS_NOBODY,
                python,
                "-I",
                "-S",
                "-c",
                f"import os; os.execv({python!r}, [{python!r}, '-c', ''])",
            ],
            capture_output=True,
        )
        if done.returncode == 0:
            return python
    pytest.skip("no Python that nobody may run")


class Driver:
    def __init__(self, mode: str, count: int = 3, drain: float = 5.0, user: bool = False):
        prefix = AS_NOBODY if user else []
        python = [python_for_nobody()] if user else []
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-c", DRIVER, mode, str(count), str(drain), PING, *python],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd="/",  # readable by nobody too
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(5)
            raise RuntimeError(f"driver failed: {self.proc.stderr.read().decode()}")  # type: ignore[union-attr]
        self.info: dict[str, Any] = json.loads(line)
        self.pids: list[int] = self.info["pids"]
        self.starts = {pid: int(stat_of(pid)[19]) for pid in self.pids}  # type: ignore[index]
        assert all(running(pid, start) for pid, start in self.starts.items())

    def alive(self) -> list[int]:
        return [pid for pid, start in self.starts.items() if running(pid, start)]

    def wait_all_gone(self, within: float) -> list[int]:
        """The children still running after ``within`` seconds (polling)."""
        deadline = time.monotonic() + within
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.alive()

    def cleanup(self) -> None:
        for pid in self.alive():
            os.kill(pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def drivers():
    made: list[Driver] = []

    def make(*args: Any, **kwargs: Any) -> Driver:
        made.append(Driver(*args, **kwargs))
        return made[-1]

    yield make
    for driver in made:
        driver.cleanup()


def watchdogs_of(pid: int) -> list[int]:
    found = []
    for child in children_of(pid):
        try:
            with open(f"/proc/{child}/cmdline", "rb") as f:
                if b"pingu/watchdog.py" in f.read():
                    found.append(child)
        except OSError:
            pass
    return found


# -- the server killed with SIGKILL ------------------------------------------------


def test_sigkill_of_the_server_leaves_no_child_running(drivers) -> None:
    driver = drivers("on")
    assert driver.info["watchdog"] in watchdogs_of(driver.proc.pid)
    driver.proc.kill()
    driver.proc.wait(5)
    assert driver.wait_all_gone(within=2.0) == []
    # ... and the watchdog has gone too
    watchdog = driver.info["watchdog"]
    deadline = time.monotonic() + 2
    while stat_of(watchdog) not in (None,) and stat_of(watchdog)[0] not in ("Z", "X"):  # type: ignore[index]
        assert time.monotonic() < deadline, "the watchdog did not exit"
        time.sleep(0.02)


def test_without_the_watchdog_the_children_do_survive_a_sigkill(drivers) -> None:
    # The control: this is what the test above would see without the watchdog.
    driver = drivers("off")
    driver.proc.kill()
    driver.proc.wait(5)
    time.sleep(2.0)
    assert sorted(driver.alive()) == sorted(driver.pids)


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to become nobody"
)
def test_also_when_the_server_is_not_root(drivers) -> None:
    # As nobody, Debian's ping runs with file capabilities: the kernel would
    # clear a PDEATHSIG on its exec, and makes it non-dumpable. The watchdog
    # (same user) can still read its start time and kill it.
    driver = drivers("on", user=True)
    uids = {open(f"/proc/{pid}/status").read().split("Uid:")[1].split()[0] for pid in driver.pids}
    assert uids == {str(int(subprocess.check_output(["id", "-u", "nobody"])))}
    driver.proc.kill()
    driver.proc.wait(5)
    assert driver.wait_all_gone(within=2.0) == []


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to become nobody"
)
def test_not_root_without_the_watchdog_the_children_survive(drivers) -> None:
    driver = drivers("off", user=True)
    driver.proc.kill()
    driver.proc.wait(5)
    time.sleep(2.0)
    assert sorted(driver.alive()) == sorted(driver.pids)


def test_a_restarted_server_finds_none_of_the_old_children(drivers) -> None:
    old = drivers("on")
    old.proc.kill()
    old.proc.wait(5)
    new = drivers("on", count=1)  # up as fast as a supervisor could restart it
    assert old.alive() == []
    assert new.alive() == new.pids


def test_ping_children_do_not_hold_the_write_end(drivers) -> None:
    # If one did, the pipe would not reach end of file while it runs.
    driver = drivers("on")
    pipe = f"pipe:[{driver.info['pipe']}]"
    for pid in driver.pids:
        assert pipe not in fds(pid).values()
    # The watchdog holds it only as its stdin, read-only.
    watchdog = driver.info["watchdog"]
    holding = [fd for fd, link in fds(watchdog).items() if link == pipe]
    assert holding == ["0"]
    flags = Path(f"/proc/{watchdog}/fdinfo/0").read_text().split("flags:")[1].split()[0]
    assert int(flags, 8) & os.O_ACCMODE == os.O_RDONLY


def fds(pid: int) -> dict[str, str]:
    """fd -> what it is, of a process."""
    return {fd: os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}


def test_a_killed_watchdog_is_replaced_and_told_every_child(drivers) -> None:
    driver = drivers("on")
    first = driver.info["watchdog"]
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while True:
        others = [pid for pid in watchdogs_of(driver.proc.pid) if pid != first]
        live = [pid for pid in others if (stat_of(pid) or ["Z"])[0] != "Z"]
        if live:
            break
        assert time.monotonic() < deadline, "no new watchdog"
        time.sleep(0.05)
    time.sleep(0.3)  # let it start reading
    driver.proc.kill()
    driver.proc.wait(5)
    assert driver.wait_all_gone(within=2.0) == []


# -- a clean stop ---------------------------------------------------------------------


def _clean_stop(driver: Driver) -> tuple[dict[str, Any], str]:
    driver.proc.send_signal(signal.SIGTERM)
    out, err = driver.proc.communicate(timeout=15)
    return json.loads(out.decode().splitlines()[-1]), err.decode()


def test_a_clean_stop_kills_nothing_and_ends_the_watchdog(drivers) -> None:
    driver = drivers("clean")
    watchdog = driver.info["watchdog"]
    result, err = _clean_stop(driver)
    assert driver.proc.returncode == 0, err
    # every ping ended by the server's own TERM, none by the watchdog's KILL
    assert result["exits"] == [[None, signal.SIGTERM]] * len(driver.pids)
    assert "pingu watchdog" not in err
    assert stat_of(watchdog) is None  # exited, and reaped by the driver


def test_a_clean_stop_that_leaves_children_running_still_leaves_none(drivers) -> None:
    # A server that stops without ending its children (here: the driver in
    # "abandon" mode) would leave them behind: after the drain timeout the
    # watchdog kills them.
    driver = drivers("abandon", drain=0.5)
    _, err = _clean_stop(driver)
    assert driver.wait_all_gone(within=2.0) == []
    assert "pingu watchdog: the server is gone; killed 3 child(ren)" in err


# -- the watchdog process itself --------------------------------------------------------


def run_watchdog(lines: list[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        wd.watchdog_argv(), input="".join(lines).encode(), capture_output=True, timeout=10
    )


@pytest.fixture
def victim():
    proc = subprocess.Popen(["sleep", "30"])
    yield proc
    proc.kill()
    proc.wait()


def test_the_watchdog_kills_a_listed_process_at_end_of_file(victim) -> None:
    start = wd.start_time(victim.pid)
    done = run_watchdog([f"+ {victim.pid} {start}\n"])
    assert done.returncode == 0
    assert victim.wait(2) == -signal.SIGKILL
    assert f"killed 1 child(ren): {victim.pid}" in done.stderr.decode()


def test_a_pid_whose_start_time_differs_is_left_alone(victim) -> None:
    # The pid was reused by another process: it is not the child that was listed.
    start = wd.start_time(victim.pid)
    done = run_watchdog([f"+ {victim.pid} {start + 1}\n"])
    assert done.returncode == 0 and done.stderr == b""
    assert victim.poll() is None


def test_a_reaped_child_is_forgotten(victim) -> None:
    start = wd.start_time(victim.pid)
    run_watchdog([f"+ {victim.pid} {start}\n", f"- {victim.pid}\n", "junk line\n", "+ x y\n"])
    assert victim.poll() is None


def test_a_forget_line_names_the_start_time_it_forgets(victim) -> None:
    # "- PID START" forgets only that child: a pid listed since with another
    # start time (a new child that got the pid) stays listed, and is killed.
    start = wd.start_time(victim.pid)
    assert start is not None
    run_watchdog([f"+ {victim.pid} {start}\n", f"- {victim.pid} {start}\n"])
    assert victim.poll() is None
    done = run_watchdog([f"+ {victim.pid} {start}\n", f"- {victim.pid} {start - 1}\n"])
    assert victim.wait(2) == -signal.SIGKILL
    assert f"killed 1 child(ren): {victim.pid}" in done.stderr.decode()


def _pipe_watchdog() -> tuple[Any, Any, int]:
    """A Watchdog on a clock, its pipe read here (no watchdog process)."""
    from twisted.internet.testing import MemoryReactorClock

    reactor = MemoryReactorClock()
    dog = wd.Watchdog(reactor, argv=["/bin/true"])
    read, write = os.pipe()
    os.set_blocking(read, False)
    dog._fd = write
    return reactor, dog, read


def _written(read: int) -> list[str]:
    try:
        return os.read(read, 65536).decode().splitlines()
    except BlockingIOError:
        return []


def test_reaped_children_are_told_together_within_forget_delay() -> None:
    # One write a reaped child was a system call in the server and a wake-up
    # of the watchdog per session: the "-" lines wait FORGET_DELAY, together.
    reactor, dog, read = _pipe_watchdog()
    try:
        dog.watched = {pid: 1000 + pid for pid in range(100, 400)}
        for pid in range(100, 400):
            dog.ended(pid)
        assert _written(read) == []
        reactor.advance(wd.FORGET_DELAY)
        lines: list[str] = []
        while chunk := _written(read):
            lines += chunk
        assert lines == [f"- {pid} {1000 + pid}" for pid in range(100, 400)]
        assert dog.watched == {} and not reactor.getDelayedCalls()
    finally:
        os.close(read)
        dog._close_pipe()


def test_the_held_back_lines_are_written_in_whole_lines_of_pipe_buf_at_most() -> None:
    reactor, dog, read = _pipe_watchdog()
    sizes: list[int] = []
    send = dog._send
    dog._send = lambda text: (sizes.append(len(text)), send(text))  # type: ignore[method-assign]
    try:
        dog.watched = {pid: 123456789 for pid in range(1_000_000, 1_000_600)}
        for pid in list(dog.watched):
            dog.ended(pid)
        reactor.advance(wd.FORGET_DELAY)
        assert len(sizes) > 1 and max(sizes) <= wd.PIPE_BUF
        assert sum(sizes) == 600 * len("- 1000000 123456789\n")
    finally:
        os.close(read)
        dog._close_pipe()


def test_closing_writes_the_held_back_lines_first() -> None:
    # A clean stop: the watchdog's list is empty before its end of file.
    reactor, dog, read = _pipe_watchdog()
    try:
        dog.watched = {4242: 7}
        dog.ended(4242)
        dog.close()
        assert _written(read) == ["- 4242 7"]
        assert not reactor.getDelayedCalls()
    finally:
        os.close(read)


def ignored_mask(pid: int) -> int:
    """The signals ``pid`` ignores (SigIgn), as a bit mask; 0 before it has one."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return int(line.split()[1], 16)
    return 0


def test_the_watchdog_ignores_the_signals_of_a_terminal() -> None:
    # Ctrl-C reaches the whole foreground process group: the watchdog must
    # stay until the server has stopped (or died).
    proc = subprocess.Popen(wd.watchdog_argv(), stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Every one of them ignored, not SIGINT alone: the watchdog ignores
        # them one after the other, and a SIGTERM sent in between (seen
        # under load) killed it before it ignored SIGTERM.
        every = sum(1 << (getattr(signal, name) - 1) for name in wd.IGNORED_SIGNALS)
        deadline = time.monotonic() + 5
        while ignored_mask(proc.pid) & every != every:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        for name in wd.IGNORED_SIGNALS:
            os.kill(proc.pid, getattr(signal, name))
        time.sleep(0.2)
        assert proc.poll() is None
        proc.stdin.close()  # type: ignore[union-attr]
        assert proc.wait(5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_start_time_is_field_22_even_with_a_strange_command_name(tmp_path: Path) -> None:
    # A command name may hold spaces and parentheses: ") (" must not shift fields.
    strange = tmp_path / "a b) (c"
    os.symlink("/bin/sleep", strange)
    proc = subprocess.Popen([str(strange), "30"])
    try:
        deadline = time.monotonic() + 5
        while b"a b) (c" not in Path(f"/proc/{proc.pid}/stat").read_bytes():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        stat = Path(f"/proc/{proc.pid}/stat").read_text()
        # starttime never changes; compare with the kernel's own field
        # counted from the right, which the command name cannot shift
        fields_after = stat.rsplit(")", 1)[1].split()
        assert wd.start_time(proc.pid) == int(fields_after[19])
        assert wd.start_time(proc.pid) == int(stat.split()[-52 + 21])
    finally:
        proc.kill()
        proc.wait()
    assert wd.start_time(proc.pid) is None  # reaped: gone


def test_the_watchdog_runs_without_twisted() -> None:
    # 10 MB instead of 30: it must not import Twisted (it runs with -S).
    code = "import runpy, sys; sys.argv=['x']; sys.stdin.close()"
    assert "-S" in wd.watchdog_argv()
    done = subprocess.run(
        [
            *wd.watchdog_argv()[:-1],
            "-c",
            code + f"; runpy.run_path({wd.watchdog_argv()[-1]!r}, run_name='__main__')",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=10,
    )
    assert done.returncode == 0, done.stderr


# -- the real twistd pingu -------------------------------------------------------------
# NEEDS THE WIRING in pingu.tap (see pingu.watchdog.WatchdogService): these
# tests skip until pingu.tap has the --no-watchdog option that comes with it.


def tap_has_watchdog() -> bool:
    from pingu.tap import Options

    return any(flag[0] == "no-watchdog" for flag in Options.optFlags)


needs_wiring = pytest.mark.skipif(
    not tap_has_watchdog(), reason="pingu.tap does not start the watchdog yet (--no-watchdog)"
)


def _twistd_pings(tmp_path: Path, *args: str) -> tuple[Any, dict[int, int], Any]:
    """A real twistd pingu running two real pings; its sockets are the caller's to close."""
    from websockets.sync.client import connect

    from tests.harness.pingu import PinguServer

    server = PinguServer(tmp_path, args=args).start()
    sockets = contextlib.ExitStack()  # closed by _close
    for _ in range(2):
        ws = sockets.enter_context(connect(server.ws_url, subprotocols=["pingu.json"]))
        # A long interval: after its first reply ping prints nothing for 30 s,
        # so it does not die of SIGPIPE when the server's end of its pipe goes.
        ws.send(json.dumps({"target": "127.0.0.1", "interval": 30}))
        ws.recv(timeout=5)  # the start event: ping runs
    deadline = time.monotonic() + 5
    while True:
        pings = [
            pid
            for pid in children_of(server.pid)
            if os.path.realpath(f"/proc/{pid}/exe") == os.path.realpath(PING)
        ]
        if len(pings) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert len(pings) == 2
    return server, {pid: wd.start_time(pid) for pid in pings}, sockets  # type: ignore[misc]


def _close(server: Any, pings: dict[int, int], sockets: contextlib.ExitStack) -> None:
    sockets.close()
    for pid, start in pings.items():
        if running(pid, start):
            os.kill(pid, signal.SIGKILL)
    server.stop()


@pytest.mark.e2e
@needs_wiring
def test_twistd_pingu_killed_leaves_no_ping_and_a_restart_finds_none(tmp_path: Path) -> None:
    server, pings, sockets = _twistd_pings(tmp_path)
    try:
        assert len(watchdogs_of(server.pid)) == 1
        server.proc.kill()
        server.proc.wait(5)
        deadline = time.monotonic() + 2
        while any(running(p, s) for p, s in pings.items()) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [p for p, s in pings.items() if running(p, s)] == []
        (tmp_path / "again").mkdir()
        from tests.harness.pingu import PinguServer

        with PinguServer(tmp_path / "again"):
            assert [p for p, s in pings.items() if running(p, s)] == []
    finally:
        _close(server, pings, sockets)


@pytest.mark.e2e
@needs_wiring
def test_twistd_pingu_without_the_watchdog_leaves_pings_behind(tmp_path: Path) -> None:
    # The control for the test above: it can fail.
    server, pings, sockets = _twistd_pings(tmp_path, "--no-watchdog")
    try:
        assert watchdogs_of(server.pid) == []
        server.proc.kill()
        server.proc.wait(5)
        time.sleep(2)
        assert sorted(p for p, s in pings.items() if running(p, s)) == sorted(pings)
    finally:
        _close(server, pings, sockets)


@pytest.mark.e2e
@needs_wiring
def test_twistd_pingu_clean_stop_ends_the_watchdog(tmp_path: Path) -> None:
    server, pings, sockets = _twistd_pings(tmp_path)
    try:
        watchdog = watchdogs_of(server.pid)[0]
        # twistd stops cleanly, then exits by the signal it was sent (Twisted >= 23.8)
        assert server.stop() in (0, -signal.SIGTERM)
        assert stat_of(watchdog) is None
        assert [p for p, s in pings.items() if running(p, s)] == []
        assert "pingu watchdog" not in server.output()
    finally:
        _close(server, pings, sockets)


def test_a_child_the_spawn_thread_announced_is_told_once() -> None:
    """announce() (the spawn thread) tells the watchdog; started() (the
    reactor, a moment later) only keeps the books, unless the watchdog was
    replaced in between: then the new one is told too."""
    import threading

    from twisted.internet.testing import MemoryReactor

    dog = wd.Watchdog(MemoryReactor(), argv=["/bin/true"])
    # No watchdog process: its pipe, read here, stands in for it.
    read, write = os.pipe()
    dog._fd = write
    dog._generation = 1
    me = os.getpid()
    thread = threading.Thread(target=dog.announce, args=(me,))
    thread.start()
    thread.join()
    dog.started(me)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        lines = pipe.read().decode().splitlines()
    assert lines == [f"+ {me} {wd.start_time(me)}"]
    assert dog.watched == {me: wd.start_time(me)}
    # announced to watchdog 1, started once watchdog 2 runs: told again
    read, write = os.pipe()
    dog._fd = write
    dog._announced[me] = (wd.start_time(me), 1)
    dog._generation = 2
    dog.started(me)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        assert pipe.read().decode().splitlines() == [f"+ {me} {wd.start_time(me)}"]
