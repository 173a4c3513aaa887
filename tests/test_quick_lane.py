"""The quick lane (``pytest --quick``, tests/conftest.py) leaves out what starts
servers, namespaces or chromium, and the harness holds it to that."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import REPO, netns
from tests.harness.service import Service


def collected(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return done.stdout


def test_the_quick_lane_leaves_out_the_marked_tests() -> None:
    assert "test_netns.py::" in collected("tests/test_netns.py")
    quick = collected("--quick", "tests/test_netns.py", "tests/test_limits.py")
    assert "test_netns.py::" not in quick and "test_limits.py::" in quick


def test_in_the_quick_lane_a_server_is_not_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINGU_TEST_QUICK", "1")
    server = Service(["sleep", "30"], tmp_path, "server")
    with pytest.raises(RuntimeError, match="mark this test e2e"):
        server.launch()
    assert server.proc is None


def test_in_the_quick_lane_no_namespace_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PINGU_TEST_QUICK", "1")
    chain = netns.Chain(routers=0)
    with pytest.raises(RuntimeError, match="mark this test netns"):
        chain.up()
    assert chain.tag + "c" not in netns.listed()
