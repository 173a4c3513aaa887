"""The WAMP face: a pingu node on a Crossbar.io router.

A node registers, for its URI-safe name ``<node>`` (every URI is built by
:mod:`pingu.events`, which the page's ``vocabulary.js`` is made from)::

    pingu.<node>.start(target, tool=, count=, interval=, size=, family=, deadline=)
        -> {"run": id, "topic": "pingu.<node>.run.<id>", "backlog": [events]}
    pingu.<node>.backlog(run, since=0) -> [events]   events numbered above since
    pingu.<node>.stop(run) -> {"ending": bool, "viewers": n}
    pingu.<node>.runs() -> [run descriptions]
    pingu.nodes() -> [node names]              shared: any one node answers

and publishes ``pingu.nodes.joined`` ``{"node": name}`` when it joins.

Identical requests share one run (one process); the node publishes its
events on the run's topic, one event dict as the only argument, each with
its number ``n`` in the run.  To follow a run without a gap or a duplicate a
viewer calls ``start``, subscribes to the topic, then calls ``backlog``
(again from the last ``n`` while a page comes back full, see
``--max-backlog-page``), and shows the backlog and the live events in order
of ``n``, each ``n`` once.  ``backlog`` still answers for a while after a
run has ended, so a run that ends between ``start`` and the subscription is
seen whole.

Viewers are counted from the router's meta events, per client as the
router sees it (:mod:`.viewers`); every call is metered per client and in
total.  A viewer subscribes to exact topics only (a run's): the shipped
routers refuse subscriptions by pattern (``.crossbar/pingu_router.py``).
The node joins over CBOR, which carries whatever a viewer may send, and the
router holds at most ``MAX_PENDING_CALLS`` calls of a procedure for it.
The package: :mod:`.node` (procedures and error translation),
:mod:`.viewers` (accounting), :mod:`.retention` (ended runs),
:mod:`.service` (the reconnecting service), :mod:`.names` (node names).
"""

from pingu.events import NO_SUCH_RUN
from pingu.wamp.names import check_node_name, node_name
from pingu.wamp.node import PinguNode
from pingu.wamp.retention import ENDED_KEEP, ENDED_LINGER
from pingu.wamp.service import freeze_boot_objects, make_wamp_service, transport_config
from pingu.wamp.viewers import SUBSCRIBE_GRACE

__all__ = [
    "ENDED_KEEP",
    "ENDED_LINGER",
    "NO_SUCH_RUN",
    "SUBSCRIBE_GRACE",
    "PinguNode",
    "check_node_name",
    "freeze_boot_objects",
    "make_wamp_service",
    "node_name",
    "transport_config",
]
