"""Overload refused, not queued, against the real ``twistd pingu`` and the
real ``pingu watch``.

The overload is made, not waited for: the server is stopped (SIGSTOP) while
a watch connects, so that when it goes on its event loop is more than a
second behind, over ``--max-lag`` 0.5 (named here: the harness gives other
tests 10 s, and the default, 0.05 s, could refuse the watch's retry too on a
test machine running three suites), whatever else the machine runs.  The
session that waited is refused with 4503 and "busy, retry in N s"; the
watch says so, waits, and its next try runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.harness.pingu import PinguServer
from tests.harness.service import wait_until

pytestmark = pytest.mark.e2e

PINGU = Path(sys.executable).parent / "pingu"
#: how long the server is held still: its lag when it goes on (over 0.5 s)
STALL = 1.5


def connected_to(port: int) -> bool:
    """A TCP connection to ``port`` on 127.0.0.1 is established (the kernel
    completes it while the server is stopped; it waits in the listen queue)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state = fields[1], fields[3]
        if local.endswith(f":{port:04X}") and state == "01":
            return True
    return False


def test_a_server_behind_its_load_refuses_with_4503_and_the_watch_tries_again(
    tmp_path: Path,
) -> None:
    with PinguServer(tmp_path, fake="normal", args=("--max-lag", "0.5")) as server:
        stopped = time.monotonic()
        os.kill(server.pid, signal.SIGSTOP)
        try:
            watch = subprocess.Popen(
                [str(PINGU), "watch", server.ws_url, "127.0.0.1", "-c", "2", "-i", "0.2"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            wait_until(lambda: connected_to(server.port), 30, 0.05)
            time.sleep(max(0.0, STALL - (time.monotonic() - stopped)))
        finally:
            os.kill(server.pid, signal.SIGCONT)
        out, err = watch.communicate(timeout=60)
        log = server.log()
    assert "pingu: the server is busy: trying again in" in err, err
    assert watch.returncode == 0, (out, err)
    assert out.count("bytes from 127.0.0.1") == 2, out
    # refused once, as it opened, and logged (nothing was started for it)
    assert log.count("busy, retry in") == 1, log
    assert len(server.recorded_argv()) == 1
