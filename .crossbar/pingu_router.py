"""Router-side parts of pingu, started by ``config.json`` as components of
the router worker (``"pythonpath": ["."]`` finds this file; nothing of pingu
needs to be installed in Crossbar's venv for it): the viewers' authorizer
(:class:`ViewerAuthorizer`) and the garbage collector's tuning (:class:`Tuning`).

Crossbar's router worker holds some 170,000 objects once it has booted.
Every full (generation 2) collection of Python's garbage collector walks them
all: about 100 ms on a small machine, during which no event is routed, and
under a steady stream of events such a collection comes every few seconds.
:func:`gc.freeze` moves what exists at boot out of the collector's reach, so
that full collections only walk what came later: the p99 of pingu's
publish-to-receive latency drops from a 100 ms stall to a few milliseconds.
"""

import gc
import time

from autobahn.twisted.wamp import ApplicationSession

#: The procedure the ``viewer`` role's authorizer registers (config.json).
AUTHORIZE_VIEWER = "router.authorize_viewer"
#: Everything of pingu's is under this prefix (pingu.events.WAMP_PREFIX).
PINGU = "pingu."


def authorize_viewer(session, uri, action, options=None):
    """What an anonymous viewer may do: call pingu's procedures (the node
    learns who calls: ``disclose``) and subscribe to one topic at a time.

    A subscription by pattern (``match`` ``prefix`` or ``wildcard``) is
    refused: on ``pingu.`` it would get every run's events without being one
    run's viewer, so without counting against its client's quota of watched
    runs (issue 17).  Crossbar's static permissions cannot say this, they
    see the URI and the action only.  Nothing is cached: Crossbar's cache is
    keyed by URI and action without the subscription's options, and would
    grow with every URI a viewer makes up."""
    if not isinstance(uri, str) or not uri.startswith(PINGU):
        return False
    if action == "call":
        return {"allow": True, "disclose": True, "cache": False}
    if action == "subscribe":
        match = (options or {}).get("match", "exact")
        return {"allow": match == "exact", "cache": False}
    return False  # publish, register: the nodes' alone


class ViewerAuthorizer(ApplicationSession):
    """Registers :func:`authorize_viewer` for the router's ``viewer`` role."""

    def onJoin(self, details):
        return self.register(authorize_viewer, AUTHORIZE_VIEWER)


class Tuning(ApplicationSession):
    """Freezes the router worker's boot-time objects, then stays idle (its
    role may do nothing)."""

    def onJoin(self, details):
        began = time.perf_counter()
        gc.collect()
        gc.freeze()
        self.log.info(
            "pingu: froze {count} boot-time objects out of the garbage collector's way "
            "({ms:.0f} ms)",
            count=gc.get_freeze_count(),
            ms=(time.perf_counter() - began) * 1000,
        )
