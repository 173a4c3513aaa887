"""The suite's one conftest: its markers, and the quick lane.

Every test that starts something outside the test process is marked with the
kind of thing it starts; ``pytest --quick`` (``./dev test --quick``) runs the
rest: unit and in-memory tests, a minute's work.  The harness holds the lane
to it: in the quick lane, starting a server (``twistd``, Crossbar), a network
namespace or chromium fails the test, naming the mark it lacks.
"""

from __future__ import annotations

import os

import pytest

#: The marks of what the quick lane leaves out: one source for the markers'
#: registration and the lane's selection.
SLOW_KINDS = {
    "e2e": "starts a real twistd pingu process (or another server)",
    "browser": "drives a real chromium",
    "wamp": "needs a real Crossbar router",
    "netns": "builds network namespaces (needs root, ip, nft)",
    "package": "builds pingu from a clean clone and installs it in a fresh venv (about a minute)",
    "nonroot": "runs the real server as an unprivileged user (needs root to switch to it)",
}

#: The environment variable the harness reads (tests/harness/__init__.py's QUICK_LANE).
QUICK_ENV = "PINGU_TEST_QUICK"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--quick",
        action="store_true",
        help="the quick lane: leave out tests marked " + ", ".join(SLOW_KINDS),
    )


def pytest_configure(config: pytest.Config) -> None:
    for name, meaning in SLOW_KINDS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")
    if config.getoption("--quick"):
        os.environ[QUICK_ENV] = "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--quick"):
        return
    kept, left = [], []
    for item in items:
        (left if any(item.get_closest_marker(k) for k in SLOW_KINDS) else kept).append(item)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept
