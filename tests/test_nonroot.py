"""pingu as an unprivileged user: :mod:`pingu.privileges`, and the real server.

The unit tests inject every input of :func:`ping_capability`.  The end-to-end
tests start the real ``twistd pingu`` as ``nobody`` with ``setpriv``, in the
sandboxes that matter (a plain user; ``pingu.service``'s: no_new_privs, no
capability but CAP_NET_RAW in the bounding set, with or without ambient
CAP_NET_RAW), and ping 127.0.0.1 and ::1 through its WebSocket.  The datagram
(``ping_group_range``) cases run in a private network namespace, whose sysctl
they may set without touching the machine's.

Each case runs :func:`drive` in a child process (``python -m tests.test_nonroot``,
as root, under ``unshare --net`` for the namespaced ones); the child starts the
server through ``setpriv``, asks it for the pings and prints what came back.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest

from pingu.privileges import (
    CAP_NET_RAW,
    SYSCTL_FIX,
    Credentials,
    FileCapabilities,
    parse_file_capabilities,
    ping_capability,
    read_credentials,
    read_ping_group_range,
)
from tests.harness.pingu import TESTS_MAX_LAG

REPO = Path(__file__).resolve().parent.parent
RAW = 1 << CAP_NET_RAW
ALL = (1 << 41) - 1
PING = "/usr/bin/ping"


# -- pingu.privileges, every input injected ---------------------------------------------


def creds(
    euid: int = 1000,
    groups: tuple[int, ...] = (1000,),
    bounding: int = ALL,
    permitted: int = 0,
    ambient: int = 0,
    inheritable: int = 0,
    no_new_privs: bool = False,
) -> Credentials:
    return Credentials(
        euid, frozenset(groups), bounding, permitted, ambient, inheritable, no_new_privs
    )


def plain_file(mode: int = 0o755, uid: int = 0) -> os.stat_result:
    return os.stat_result((stat.S_IFREG | mode, 0, 0, 1, uid, 0, 0, 0, 0, 0))


def check(
    credentials: Credentials,
    fcaps: Optional[FileCapabilities] = None,
    group_range: Optional[tuple[int, int]] = (1, 0),
    mode: os.stat_result = plain_file(),
) -> Optional[str]:
    return ping_capability(
        PING,
        credentials=credentials,
        file_capabilities=lambda path: fcaps,
        group_range=lambda: group_range,
        file_mode=lambda path: mode,
    )


NET_RAW_EP = FileCapabilities(permitted=RAW, inheritable=0, effective=True)
NET_RAW_P = FileCapabilities(permitted=RAW, inheritable=0, effective=False)


def test_root_can_ping():
    assert check(creds(euid=0, groups=(0,), permitted=ALL)) is None


def test_root_without_net_raw_in_the_bounding_set_cannot():
    message = check(creds(euid=0, groups=(0,), bounding=ALL & ~RAW))
    assert message is not None and SYSCTL_FIX in message


def test_a_group_inside_ping_group_range_can_ping():
    assert check(creds(groups=(1000, 27)), group_range=(27, 27)) is None
    assert check(creds(), group_range=(0, 2147483647)) is None


def test_a_group_outside_ping_group_range_cannot():
    message = check(creds(groups=(1000,)), group_range=(0, 999))
    assert message is not None
    assert SYSCTL_FIX in message and "ping_group_range is 0 999" in message
    assert "setcap cap_net_raw+p /usr/bin/ping" in message
    assert "\n" not in message


def test_unreadable_range_is_said_unknown():
    message = check(creds(), group_range=None)
    assert message is not None and "is unknown" in message


def test_file_capability_lets_a_user_ping():
    assert check(creds(), fcaps=NET_RAW_EP) is None
    assert check(creds(), fcaps=NET_RAW_P) is None


def test_file_capability_is_not_granted_under_no_new_privs():
    message = check(creds(no_new_privs=True), fcaps=NET_RAW_P)
    assert message is not None
    assert SYSCTL_FIX in message and "AmbientCapabilities=CAP_NET_RAW" in message
    assert "setcap" not in message  # would not help


def test_file_capability_under_no_new_privs_with_net_raw_already_held():
    assert check(creds(no_new_privs=True, permitted=RAW), fcaps=NET_RAW_P) is None


def test_effective_file_capability_outside_the_bounding_set_cannot_even_start():
    message = check(creds(bounding=0), fcaps=NET_RAW_EP, group_range=(0, 2147483647))
    assert message is not None
    assert "execve fails" in message and "setcap cap_net_raw+p /usr/bin/ping" in message
    assert "CapabilityBoundingSet=CAP_NET_RAW" in message


def test_permitted_only_file_capability_outside_the_bounding_set_falls_back_to_datagram():
    assert check(creds(bounding=0), fcaps=NET_RAW_P, group_range=(0, 65535)) is None
    assert check(creds(bounding=0), fcaps=NET_RAW_P) is not None


def test_ambient_net_raw_lets_a_user_ping():
    assert check(creds(no_new_privs=True, ambient=RAW, permitted=RAW)) is None
    assert check(creds(ambient=RAW, bounding=0)) is not None


def test_setuid_root_ping():
    setuid = plain_file(0o4755, uid=0)
    assert check(creds(), mode=setuid) is None
    assert check(creds(no_new_privs=True), mode=setuid) is not None
    assert check(creds(), mode=plain_file(0o4755, uid=1000)) is not None


def test_parse_file_capabilities_revisions():
    v2 = struct.pack("<IIIII", 0x02000001, RAW, 0, 0, 0)
    assert parse_file_capabilities(v2) == NET_RAW_EP
    v3 = struct.pack("<IIIIII", 0x03000000, RAW, 0, 1, 0, 0)
    assert parse_file_capabilities(v3) == FileCapabilities(RAW | 1 << 32, 0, False)
    v1 = struct.pack("<III", 0x01000001, RAW, 0)
    assert parse_file_capabilities(v1) == NET_RAW_EP
    assert parse_file_capabilities(None) is None
    assert parse_file_capabilities(b"\x00" * 4) is None
    assert parse_file_capabilities(struct.pack("<IIIII", 0x07000000, RAW, 0, 0, 0)) is None


def test_read_credentials_and_range_parsing():
    status = (
        "Name:\tx\nCapInh:\t0\nCapPrm:\t0000000000002000\nCapBnd:\t000001ffffffffff\n"
        "CapAmb:\t0000000000002000\nNoNewPrivs:\t1\n"
    )
    read = read_credentials(status)
    assert read.permitted == RAW and read.ambient == RAW and read.bounding == ALL
    assert read.no_new_privs and read.euid == os.geteuid()
    assert read_ping_group_range("1\t0\n") == (1, 0)
    assert read_ping_group_range("0 2147483647") == (0, 2147483647)
    assert read_ping_group_range("garbage") is None


def test_this_process_as_it_is():
    """No injection: root with this machine's ping (a Debian iputils ping has
    cap_net_raw=ep; root needs nothing)."""
    if os.geteuid() != 0:
        pytest.skip("runs as root")
    assert ping_capability(shutil.which("ping") or PING) is None


# -- the real server as nobody -----------------------------------------------------------

#: setpriv's arguments for each sandbox (after --reuid/--regid/--clear-groups).
SANDBOXES: dict[str, list[str]] = {
    # a plain unprivileged user: ping's own file capability does it
    "user": [],
    # pingu.service with AmbientCapabilities=CAP_NET_RAW
    "unit-ambient": [
        "--no-new-privs",
        "--inh-caps=-all,+net_raw",
        "--ambient-caps=+net_raw",
        "--bounding-set=-all,+net_raw",
    ],
    # pingu.service as shipped: no capability at all, ping_group_range
    "unit": ["--no-new-privs", "--inh-caps=-all", "--bounding-set=-all,+net_raw"],
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_user(user: str, sandbox: list[str], argv: list[str]) -> list[str]:
    """``argv`` run as ``user`` in the sandbox.  The command is exec'd by a shell
    already running as that user, so that finding and opening it needs what the
    user has (setpriv itself still holds root's capabilities when it execs)."""
    entry = pwd.getpwnam(user)
    return [
        "setpriv",
        f"--reuid={entry.pw_uid}",
        f"--regid={entry.pw_gid}",
        "--clear-groups",
        *sandbox,
        "--",
        "/bin/sh",
        "-c",
        'exec "$@"',
        "sh",
        *argv,
    ]


def _pings(port: int, target: str) -> list[dict[str, Any]]:
    from websockets.sync.client import connect

    events: list[dict[str, Any]] = []
    try:
        ws = connect(f"ws://127.0.0.1:{port}/ws", subprotocols=["pingu.json"], open_timeout=10)
    except Exception as e:  # shown in the assertion, with the server's output
        return [{"type": "handshake-failed", "error": repr(e)}]
    with ws:
        ws.send(json.dumps({"target": target, "count": 2, "interval": 0.2}))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                event = json.loads(ws.recv(timeout=deadline - time.monotonic()))
            except Exception:  # closed (the normal end) or timed out
                break
            events.append(event)
            if event.get("type") in ("end", "error"):
                break
    return events


def drive(spec: dict[str, Any]) -> dict[str, Any]:
    """In the child (root): set the namespace up, start the server as the user,
    ping each target through it, stop it.  Returns what was seen."""
    if spec.get("netns"):
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        Path("/proc/sys/net/ipv4/ping_group_range").write_text(spec["group_range"])
    user, sandbox = spec["user"], SANDBOXES[spec["sandbox"]]
    python, twistd, ping = spec["python"], spec["twistd"], spec["ping"]
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
    verdict = subprocess.run(
        _as_user(
            user,
            sandbox,
            [
                python,
                "-c",
                "import sys; from pingu.privileges import "
                "ping_capability; print(ping_capability(sys.argv[1]))",
                ping,
            ],
        ),
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        timeout=60,
    )
    port = _free_port()
    server = subprocess.Popen(
        _as_user(
            user,
            sandbox,
            [
                twistd,
                "-n",
                "--pidfile=",
                "pingu",
                "--ping",
                ping,
                "--port",
                f"tcp:{port}:interface=127.0.0.1",
                # the tests' --max-lag: this is a test of privileges, on a
                # machine that runs three suites (the default, 50 ms, is the
                # bench's to measure)
                *TESTS_MAX_LAG,
            ],
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd="/",
    )
    result: dict[str, Any] = {"verdict": verdict.stdout.strip() or verdict.stderr.strip()}
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    result["error"] = "server did not start"
                    return result
                time.sleep(0.1)
        uids = Path(f"/proc/{server.pid}/status").read_text()
        result["uid_line"] = next(line for line in uids.splitlines() if line.startswith("Uid:"))
        result["runs"] = {target: _pings(port, target) for target in spec["targets"]}
    finally:
        server.terminate()
        try:
            output, _ = server.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
        result["server_output"] = output.decode("utf-8", "replace")[-4000:]
    return result


def _can_run(user: str, python: str) -> bool:
    probe = [python, "-c", "import pingu.tap, pingu.privileges, autobahn, twisted"]
    done = subprocess.run(_as_user(user, [], probe), capture_output=True, cwd="/", timeout=60)
    return done.returncode == 0


def _readable_python(user: str, tmp_dir: Path) -> tuple[str, str]:
    """A python with pingu, and its twistd, that ``user`` can run.

    This test's own, if the user can exec and import it.  Else (an interpreter
    under /root, say) a venv made with the system's python of the same version
    in a folder the user can read, that imports what this one has installed
    (when the user can read those); else one with pingu installed afresh.
    """
    if _can_run(user, sys.executable):
        return sys.executable, str(Path(sys.executable).with_name("twistd"))
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system_python = shutil.which(version, path="/usr/bin:/usr/local/bin")
    if system_python is None:
        pytest.skip(f"no {version} outside this venv for {user} to run")
    venv = tmp_dir / "venv"
    subprocess.run([system_python, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    twistd = venv / "bin" / "twistd"
    twistd.write_text(
        f"#!{python}\nimport sys\nfrom twisted.scripts.twistd import run\nsys.exit(run())\n"
    )
    twistd.chmod(0o755)
    ours = next(Path(p) for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())
    theirs = venv / "lib" / version / "site-packages"
    (theirs / "borrowed.pth").write_text(f"import site; site.addsitedir({str(ours)!r})\n")
    if not _can_run(user, python):
        subprocess.run([python, "-m", "ensurepip", "-q"], check=True, timeout=300)
        (theirs / "borrowed.pth").unlink()
        subprocess.run([python, "-m", "pip", "install", "-q", str(REPO)], check=True, timeout=600)
    assert _can_run(user, python), f"{user} cannot run pingu from {venv}"
    return python, str(twistd)


@pytest.fixture(scope="module")
def server_python() -> Iterator[tuple[str, str]]:
    if os.geteuid() != 0:
        pytest.skip("switching to an unprivileged user needs root")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is missing")
    # Not under pytest's own temporary folder: every pytest run that starts
    # meanwhile makes that 0700 again.
    folder = Path(tempfile.mkdtemp(prefix="pingu-nonroot-", dir="/tmp"))
    folder.chmod(0o755)
    try:
        yield _readable_python("nobody", folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run_case(
    server_python: tuple[str, str],
    sandbox: str,
    netns: bool,
    group_range: str = "",
    targets: tuple[str, ...] = ("127.0.0.1", "::1"),
) -> dict[str, Any]:
    python, twistd = server_python
    spec = {
        "user": "nobody",
        "sandbox": sandbox,
        "netns": netns,
        "group_range": group_range,
        "python": python,
        "twistd": twistd,
        "ping": shutil.which("ping") or PING,
        "targets": list(targets),
    }
    argv = [sys.executable, "-m", "tests.test_nonroot", json.dumps(spec)]
    if netns:
        if shutil.which("unshare") is None or shutil.which("ip") is None:
            pytest.skip("unshare (util-linux) or ip (iproute2) is missing")
        argv = ["unshare", "--net", "--", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert "error" not in result, result
    assert result["uid_line"].split()[1:] == ["65534"] * 4, result  # nobody, all four uids
    return result


def _assert_replies(result: dict[str, Any]) -> None:
    for target, events in result["runs"].items():
        kinds = [event["type"] for event in events]
        replies = [event for event in events if event["type"] == "reply"]
        assert len(replies) == 2, (target, kinds, result["server_output"])
        assert all(reply["from"] == target for reply in replies), replies
        assert events[-1]["type"] == "end" and events[-1]["how"] == "completed", events[-1]


@pytest.mark.nonroot
@pytest.mark.e2e
@pytest.mark.parametrize("sandbox", ["user", "unit-ambient"])
def test_nobody_pings_through_the_websocket(server_python, sandbox):
    if (
        sandbox == "user"
        and ping_capability(
            shutil.which("ping") or PING, credentials=creds(euid=65534, groups=(65534,))
        )
        is not None
    ):
        pytest.skip(
            "this machine's ping lets no plain user ping (no file capability, "
            "nogroup outside ping_group_range)"
        )
    result = _run_case(server_python, sandbox, netns=False)
    assert result["verdict"] == "None", result
    _assert_replies(result)


@pytest.mark.nonroot
@pytest.mark.e2e
def test_the_shipped_unit_sandbox_pings_with_datagram_sockets(server_python):
    """pingu.service as shipped: no capability; ping_group_range lets it ping."""
    result = _run_case(server_python, "unit", netns=True, group_range="0 2147483647")
    assert result["verdict"] == "None", result
    _assert_replies(result)


@pytest.mark.nonroot
@pytest.mark.e2e
def test_the_shipped_unit_sandbox_without_the_sysctl_says_the_fix(server_python):
    """The same sandbox without the sysctl: the check names the fix, and the run
    really fails (ping is refused its socket)."""
    result = _run_case(server_python, "unit", netns=True, group_range="1 0", targets=("127.0.0.1",))
    assert SYSCTL_FIX in result["verdict"], result
    assert "AmbientCapabilities=CAP_NET_RAW" in result["verdict"]
    events = result["runs"]["127.0.0.1"]
    assert not [event for event in events if event["type"] == "reply"], events
    assert events[-1]["type"] == "end" and events[-1]["how"] == "ping-error", events


if __name__ == "__main__":
    print(json.dumps(drive(json.loads(sys.argv[1]))))
