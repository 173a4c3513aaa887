"""What tests/ and bench/ both need to run pingu for real, in one place.

* :mod:`.ports`    free TCP ports on 127.0.0.1, waiting for a listener
* :mod:`.procs`    process trees and their CPU, memory and fds, from /proc
* :mod:`.service`  a server process: its own session, a ready condition, a clean stop
* :mod:`.pingu`    ``twistd pingu`` (web and WAMP node) as a service
* :mod:`.crossbar` a Crossbar.io router with the repository's configuration
* :mod:`.netns`    chains of network namespaces with routers and nftables rules

bench/ imports this package by path (``bench/run`` puts the repository first
on ``PYTHONPATH``), so nothing here imports pytest at module level except
where a fixture is offered.
"""

from pathlib import Path

#: The repository this harness belongs to.
REPO = Path(__file__).resolve().parent.parent.parent


def outside_the_quick_lane(what: str, mark: str) -> None:
    """Raise if the quick lane (``pytest --quick``, tests/conftest.py) is
    running: a test that starts ``what`` must be marked ``mark``."""
    import os

    if os.environ.get("PINGU_TEST_QUICK") == "1":
        raise RuntimeError(f"the quick lane starts no {what}: mark this test {mark}")
