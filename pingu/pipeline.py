"""The one path of a request: check, admit, resolve, admit again, start or join.

Both faces (the WebSocket and the WAMP node) translate their wire into the
fields of a request and who the client is (:mod:`pingu.clients`), call
:func:`request` with the hub, and translate the run or the
:class:`~pingu.refusal.Refused` back.  The pipeline calls the hub (its
admission, its lookups-in-flight counter, :meth:`~pingu.runs.RunHub.start`);
the hub never calls the pipeline.  The order is written here once:

1. **check** the fields (:func:`pingu.request.parse_fields`): no I/O;
2. **admit**: the server is not shutting down, the client's rate of starts,
   and for a private run the server's and the client's capacity, before
   anything costs a lookup;
3. **resolve** the target once, within ``--resolve-timeout``, and only while
   fewer than ``--max-resolving`` lookups (``--max-resolving-per-client``
   for this client) are in flight: a slow or hostile DNS server holds at
   most those, and never another client's;
4. **admit again** and **start or join** (:meth:`~pingu.runs.RunHub.start`):
   the client may have started other runs while its name resolved, and a
   shared request now knows whether it joins a run or needs a process.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.internet import defer
from twisted.python.failure import Failure

from pingu.events import CloseCode
from pingu.refusal import Refused, busy
from pingu.request import Request, ResolvedRequest, choose, parse_fields, resolve
from pingu.runs import Run, RunHub


def request(
    hub: RunHub,
    fields: Any,
    client: str,
    shared: bool = False,
    wanted: Optional[Callable[[], bool]] = None,
    mode: Optional[str] = None,
) -> defer.Deferred[Optional[Run]]:
    """A Deferred firing the run (started, or joined when ``shared``), or
    failing with :class:`Refused`.  ``wanted`` is asked once the name has
    resolved: when the client has gone meanwhile, nothing starts and the
    Deferred fires ``None``."""
    try:
        checked = parse_fields(fields, hub.limits, installed=hub.executables)
        hub.admit(client, private=not shared)
    except Refused:
        return defer.fail()
    d = _resolve(hub, checked, client)

    def start(resolved: ResolvedRequest) -> Optional[Run]:
        if wanted is not None and not wanted():
            return None
        return hub.start(resolved, client=client, shared=shared, mode=mode)

    return d.addCallback(start)


def _resolve(hub: RunHub, request: Request, client: str) -> defer.Deferred[ResolvedRequest]:
    limits = hub.limits
    resolving = hub.resolving
    if request.literal is not None:  # nothing to look up
        return defer.maybeDeferred(choose, request, [str(request.literal)], hub.policy)
    if resolving.total >= limits.max_resolving:
        return defer.fail(busy("too-many-lookups", "the server is busy resolving names"))
    if resolving[client] >= limits.max_resolving_per_client:
        return defer.fail(
            busy(
                "too-many-lookups-per-client",
                f"at most {limits.max_resolving_per_client} name lookups at once per client",
            )
        )
    resolving.add(client)
    answer: defer.Deferred[ResolvedRequest] = defer.Deferred()

    def timed_out() -> None:
        answer.errback(
            Refused(
                CloseCode.UNRESOLVED,
                "resolve-timeout",
                f"{request.target} did not resolve within {limits.resolve_timeout:g} seconds",
                "target",
            )
        )

    timer = hub.reactor.callLater(limits.resolve_timeout, timed_out)
    began = hub.reactor.seconds()

    def settled(result: Any) -> None:
        # The lookup counts until it has really ended, timed out or not:
        # a resolver thread that is still blocked is still spent.
        resolving.remove(client)
        hub.metrics.resolve_seconds.observe(hub.reactor.seconds() - began)
        if not timer.active():
            return  # answered already (timed out): a late failure ends here
        timer.cancel()
        if isinstance(result, Failure):
            answer.errback(result)
        else:
            answer.callback(result)

    resolve(request, hub.resolver, hub.policy).addBoth(settled)
    return answer
