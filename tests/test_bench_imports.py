"""bench/ runs in a venv of its own with no pytest (bench/run), and imports
the tests' harness by path: the harness must import without pytest."""

from __future__ import annotations

import subprocess
import sys

from tests.harness import REPO

#: what bench/bench.py imports, as it imports it (bench/ and the repository
#: first on sys.path), with pytest made unimportable
BENCH_IMPORTS = """
import sys
sys.modules["pytest"] = None  # as in .venv-bench: no pytest
sys.path[:0] = [{bench!r}, {repo!r}]
import context, machine, report, sampler, servers, wamp_latency  # noqa
from scenarios import SCENARIOS  # noqa
"""


def test_the_bench_imports_the_harness_without_pytest() -> None:
    code = BENCH_IMPORTS.format(bench=str(REPO / "bench"), repo=str(REPO))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert done.returncode == 0, done.stderr
