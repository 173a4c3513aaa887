"""``pingu watch`` through a real ``twistd pingu`` whose ping prints hostile
text: escape sequences, C1 controls and bidi overrides reach the terminal only
as visible escapes, and the exit status is still ping's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.pingu import PinguServer

pytestmark = pytest.mark.e2e

PINGU = Path(sys.executable).parent / "pingu"

#: What the hostile ping prints (after its header), and what must be shown.
LINES = {
    "\x1b]0;pwned\x07title": "\\x1b]0;pwned\\x07title",
    "\x1b[2J\x1b[Hcleared": "\\x1b[2J\\x1b[Hcleared",
    "64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.045 ms \x1b[31m": (
        "64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.045 ms \\x1b[31m"
    ),
    "\u009b6n c1 \u202eevil\u202c \u2067x\u2069 \x08\x7f": (
        "\\x9b6n c1 \\u202eevil\\u202c \\u2067x\\u2069 \\x08\\x7f"
    ),
}

HOSTILE_PING = """\
import sys
out = sys.stdout.buffer
out.write(("PING " + sys.argv[-1] + " 56(84) bytes of data.\\n").encode())
for line in {lines!r}:
    out.write(line.encode("utf-8") + b"\\n")
out.write(b"\\n--- 127.0.0.1 ping statistics ---\\n")
out.write(b"1 packets transmitted, 1 received, 0% packet loss, time 0ms\\n")
out.flush()
sys.exit({status})
"""


def hostile_ping(folder: Path, status: int) -> Path:
    """An executable that prints :data:`LINES` as ping would, and exits ``status``."""
    script = folder / "hostile_ping.py"
    script.write_text(HOSTILE_PING.format(lines=list(LINES), status=status))
    wrapper = folder / "hostile-ping"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} {script} \"$@\"\n")
    wrapper.chmod(0o755)
    return wrapper


@pytest.mark.parametrize("status", [0, 1])
def test_hostile_ping_output_is_printed_as_visible_text(tmp_path: Path, status: int) -> None:
    ping = hostile_ping(tmp_path, status)
    with PinguServer(tmp_path, args=("--ping", str(ping))) as server:
        done = subprocess.run(
            [str(PINGU), "watch", server.ws_url, "127.0.0.1", "-c", "1"],
            capture_output=True, text=True, timeout=30,
            env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        )  # fmt: skip
    assert done.returncode == status, done.stderr
    for char in "\x1b\x07\x08\x7f\x9b\u202e\u202c\u2067\u2069":
        assert char not in done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("PING 127.0.0.1")
    assert lines[1 : 1 + len(LINES)] == list(LINES.values())
    assert lines[-1].startswith("1 packets transmitted")


def test_the_fake_pings_hostile_scenario(tmp_path: Path) -> None:
    with PinguServer(tmp_path, fake="hostile") as server:
        done = subprocess.run(
            [str(PINGU), "watch", server.ws_url, "127.0.0.1", "-c", "2", "-i", "0.2"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout
    assert done.stdout.count("ttl=64 time=0.05 ms \\x1b[31m\n") == 2
    assert "<script>alert(1)</script>" in done.stdout  # markup is text for a terminal
