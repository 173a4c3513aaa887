"""One version, from ``pingu.__version__``: ``pingu --version``,
``twistd pingu --version`` and ``/pingu-info.json``."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

import pingu
from tests.harness.pingu import TWISTD, PinguServer

EXPECTED = f"pingu {pingu.__version__}"


def test_the_cli_says_the_version():
    done = subprocess.run(
        [sys.executable, "-m", "pingu.cli", "--version"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0 and done.stdout.strip() == EXPECTED


def test_the_console_script_says_the_version():
    script = Path(sys.executable).parent / "pingu"
    if not script.exists():
        pytest.skip("the pingu console script is not installed in this environment")
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout.strip() == EXPECTED


def test_twistd_pingu_says_the_version():
    done = subprocess.run(
        [str(TWISTD), "pingu", "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.strip() == EXPECTED


@pytest.mark.e2e
def test_pingu_info_carries_the_version(tmp_path):
    with PinguServer(tmp_path, args=("--metrics-allow", "127.0.0.1/32")) as server:
        with urllib.request.urlopen(server.http_url + "pingu-info.json", timeout=5) as answer:
            info = json.loads(answer.read())
        with urllib.request.urlopen(server.http_url + "metrics", timeout=5) as answer:
            metrics = answer.read().decode()
    assert info["version"] == pingu.__version__
    assert f'pingu_info{{version="{pingu.__version__}"}} 1.0' in metrics
