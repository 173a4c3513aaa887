"""The WAMP face: a pingu node on a Crossbar.io router.

A node registers, for its URI-safe name ``<node>``::

    pingu.<node>.start(target, count=, interval=, size=, family=, deadline=)
        -> {"run": id, "topic": "pingu.<node>.run.<id>", "backlog": [events]}
    pingu.<node>.backlog(run) -> [events]      every event of the run so far
    pingu.<node>.stop(run)                     drop the caller's interest
    pingu.<node>.runs() -> [run descriptions]
    pingu.nodes() -> [node names]              shared: any one node answers

and publishes ``pingu.nodes.joined`` ``{"node": name}`` when it joins.

Identical requests share one run (one ping process); its events are
published on the run's topic, one event dict as the only argument, each
with a per-run sequence number ``n``.  A viewer subscribes to the topic and
drops live events it already has from the backlog (``n`` not above the last
backlog ``n``); on a gap (the first live ``n`` more than one above) it calls
``backlog`` again.  Viewers are counted from the router's meta events (who
subscribes to the topic, who unsubscribes, whose session leaves), not from
clients' goodwill; a caller of ``start`` counts for a short while until it
has subscribed.  A run whose last viewer is gone is stopped at once.
"""

from __future__ import annotations

import re
import socket
from typing import Any, Optional

from autobahn.twisted.component import Component
from autobahn.twisted.wamp import ApplicationSession
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import RegisterOptions, SubscribeOptions
from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger

from pingu import events
from pingu.request import Refused, parse_fields, resolve
from pingu.runs import Run, RunHub

log = Logger(namespace="pingu")

#: The WAMP ticket principal (authid) nodes authenticate as.
NODE_AUTHID = "pingu-node"
#: Seconds a caller of ``start`` counts as a viewer before it has subscribed.
SUBSCRIBE_GRACE = 10.0
#: Published when a node joins: ``{"node": name}``.
JOINED_TOPIC = "pingu.nodes.joined"
#: Answered by any one node: the names of every node on the router.
NODES_PROCEDURE = "pingu.nodes"

_START_URI = re.compile(r"^pingu\.([a-z0-9_]+)\.start$")


def node_name(hostname: Optional[str] = None) -> str:
    """A URI-safe node name: the host name, lower-cased, ``[a-z0-9_]`` only."""
    host = (hostname or socket.gethostname()).split(".")[0].lower()
    return re.sub(r"[^a-z0-9_]", "_", host) or "node"


def _wamp_error(refused: Refused) -> ApplicationError:
    uri = events.ERROR_URIS.get(refused.code, "pingu.error.invalid_request")
    return ApplicationError(
        uri, refused.message, reason=refused.reason, field=refused.field, code=int(refused.code)
    )


class PinguNode(ApplicationSession):
    """One node's session.  ``config.extra`` carries ``hub``, ``node`` and
    ``secret``; Crossbar can also start it as a router component, where
    ``extra`` comes from the router's configuration and no secret is needed."""

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        extra = config.extra if config is not None and config.extra else {}
        self.hub: RunHub = extra["hub"] if "hub" in extra else _hub_from_extra(extra)
        self.node: str = extra.get("node") or node_name()
        self.prefix = f"pingu.{self.node}"
        # subscription id -> run id, to know what an unsubscribe is about
        self._subscription_runs: dict[int, str] = {}
        self._published: set[str] = set()

    # -- joining ---------------------------------------------------------------

    def onConnect(self) -> None:
        # Autobahn's client leaves Nagle on: each small event could wait ~40 ms.
        transport = getattr(getattr(self, "_transport", None), "transport", None)
        if transport is not None and hasattr(transport, "setTcpNoDelay"):
            transport.setTcpNoDelay(True)
        if self.config.extra.get("secret"):
            self.join(self.config.realm, authmethods=["ticket"], authid=NODE_AUTHID)
        else:
            self.join(self.config.realm)

    def onChallenge(self, challenge: Any) -> str:
        if challenge.method != "ticket":
            raise ApplicationError("pingu.error.auth", f"unexpected challenge {challenge.method}")
        return str(self.config.extra["secret"])

    @defer.inlineCallbacks
    def onJoin(self, details: Any) -> Any:
        with_caller = RegisterOptions(details_arg="details")
        p = self.prefix
        yield self.register(self.start, f"{p}.start", options=with_caller)
        yield self.register(self.backlog, f"{p}.backlog")
        yield self.register(self.stop, f"{p}.stop", options=with_caller)
        yield self.register(self.runs, f"{p}.runs")
        yield self.register(
            self.nodes, NODES_PROCEDURE, options=RegisterOptions(invoke="roundrobin")
        )
        with_details = SubscribeOptions(details_arg="details")
        yield self.subscribe(self._on_subscribe, "wamp.subscription.on_subscribe")
        yield self.subscribe(self._on_unsubscribe, "wamp.subscription.on_unsubscribe")
        yield self.subscribe(self._on_unsubscribe, "wamp.subscription.on_delete")
        yield self.subscribe(self._on_leave, "wamp.session.on_leave", options=with_details)
        yield self.publish(JOINED_TOPIC, {"node": self.node})
        log.info("pingu: node {node} joined realm {realm}", node=self.node, realm=details.realm)

    def onLeave(self, details: Any) -> None:
        # Every viewer was a session of the router we left: nobody can see
        # these runs any more, and nobody could be counted leaving.
        for run in list(self.hub.runs.values()):
            if run.shared:
                run.stop("viewers")
        self._subscription_runs.clear()
        super().onLeave(details)

    # -- procedures ------------------------------------------------------------

    @defer.inlineCallbacks
    def start(self, target: Any = None, details: Any = None, **options: Any) -> Any:
        """``pingu.<node>.start``: join or start a shared run."""
        fields = {"target": target, **options}
        caller = getattr(details, "caller", None)
        client = f"wamp:{caller}" if caller is not None else None
        try:
            request = parse_fields(fields, self.hub.limits)
            resolved = yield resolve(request, self.hub.resolver, self.hub.policy)
            if self.hub.find_shared(resolved) is None:
                # joining a run costs nothing; starting one counts
                self.hub.admit(client)
            run = self.hub.start(resolved, client=client, shared=True)
        except Refused as refused:
            raise _wamp_error(refused) from None
        topic = self.topic(run)
        if run.id not in self._published:
            self._published.add(run.id)
            run.add_listener(lambda event, topic=topic: self._publish(topic, event, run))
        if caller is not None and not run.ended:
            self._pending_viewer(run, caller)
        return {"run": run.id, "topic": topic, "backlog": list(run.backlog)}

    def backlog(self, run_id: str) -> list[events.Event]:
        """``pingu.<node>.backlog``: every event of a live run so far."""
        return list(self._run(run_id).backlog)

    def stop(self, run_id: str, details: Any = None) -> None:
        """``pingu.<node>.stop``: the caller is no longer interested."""
        run = self._run(run_id)
        caller = getattr(details, "caller", None)
        for key in [k for k in run.viewers if k == caller or k == ("pending", caller)]:
            run.remove_viewer(key)

    def runs(self) -> list[dict[str, Any]]:
        """``pingu.<node>.runs``: the live shared runs."""
        return [
            {**run.describe(), "topic": self.topic(run)}
            for run in self.hub.runs.values()
            if run.shared
        ]

    @defer.inlineCallbacks
    def nodes(self) -> Any:
        """``pingu.nodes``: every node on the router, from its registrations."""
        found = yield self.call("wamp.registration.list")
        names = set()
        for registration_id in found.get("exact", []):
            info = yield self.call("wamp.registration.get", registration_id)
            match = _START_URI.match(info.get("uri", "")) if info else None
            if match:
                names.add(match.group(1))
        return sorted(names)

    # -- viewers, from the router's meta events ----------------------------------

    def topic(self, run: Run) -> str:
        """The topic a run's events are published on."""
        return f"{self.prefix}.run.{run.id}"

    def _run(self, run_id: Any) -> Run:
        run = self.hub.find(str(run_id))
        if run is None or not run.shared:
            raise ApplicationError("pingu.error.no_such_run", f"no live run {run_id!r}")
        return run

    def _pending_viewer(self, run: Run, caller: int) -> None:
        key = ("pending", caller)
        run.add_viewer(key)
        self.hub.reactor.callLater(SUBSCRIBE_GRACE, run.remove_viewer, key)

    def _run_of_topic(self, uri: str) -> Optional[Run]:
        prefix = f"{self.prefix}.run."
        if not uri.startswith(prefix):
            return None
        run = self.hub.find(uri[len(prefix) :])
        return run if run is not None and run.shared else None

    @defer.inlineCallbacks
    def _on_subscribe(self, session_id: int, subscription_id: int) -> Any:
        info = yield self.call("wamp.subscription.get", subscription_id)
        run = self._run_of_topic(info.get("uri", "")) if info else None
        if run is None or run.ended:
            return
        self._subscription_runs[subscription_id] = run.id
        run.add_viewer(session_id)
        run.remove_viewer(("pending", session_id))  # counted as a subscriber now

    def _on_unsubscribe(self, session_id: int, subscription_id: int) -> None:
        run = self.hub.find(self._subscription_runs.get(subscription_id, ""))
        if run is not None:
            run.remove_viewer(session_id)

    def _on_leave(self, session_id: Any, details: Any = None) -> None:
        for run in list(self.hub.runs.values()):
            if run.shared:
                run.remove_viewer(session_id)
                run.remove_viewer(("pending", session_id))

    def _publish(self, topic: str, event: events.Event, run: Run) -> None:
        if not self.is_attached():
            return
        self.publish(topic, event)
        if event["type"] == events.END:
            self._published.discard(run.id)
            for sub, run_id in list(self._subscription_runs.items()):
                if run_id == run.id:
                    del self._subscription_runs[sub]


def _hub_from_extra(extra: dict[str, Any]) -> RunHub:
    """A hub for a node that Crossbar starts itself (``config.extra`` from
    the router's configuration: ``ping``, and limits by name)."""
    import shutil

    from twisted.internet import reactor

    from pingu.limits import Limits

    ping = extra.get("ping") or shutil.which("ping") or "/usr/bin/ping"
    limits = Limits(**{k: v for k, v in extra.get("limits", {}).items()})
    return RunHub(reactor, ping, limits)


class _ComponentService(service.Service):
    """Runs a reconnecting Autobahn ``Component`` for as long as the service runs."""

    def __init__(self, component: Component, reactor: Any) -> None:
        self.component = component
        self.reactor = reactor
        self._running: Optional[defer.Deferred[Any]] = None

    def startService(self) -> None:
        super().startService()
        self._running = self.component.start(self.reactor)
        self._running.addErrback(
            lambda f: log.error("pingu: WAMP node gave up: {f}", f=f.getErrorMessage())
        )

    def stopService(self) -> Any:
        super().stopService()
        d = self.component.stop()
        return d if isinstance(d, defer.Deferred) else None


def make_wamp_service(
    hub: RunHub,
    router: str,
    realm: str,
    node: Optional[str],
    secret: Optional[str],
    reactor: Any,
) -> service.IService:
    """The node as a Twisted service: joins ``router`` and rejoins, with
    back-off, whenever the connection is lost."""
    name = node or node_name()
    transports = [
        {
            "type": "websocket",
            "url": router,
            "serializers": ["json"],
            "max_retries": -1,  # forever
            "initial_retry_delay": 0.5,
            "max_retry_delay": 10,
            "retry_delay_growth": 1.5,
            "retry_delay_jitter": 0.1,
            "options": {"tcpNoDelay": True, "autoPingInterval": 30, "autoPingTimeout": 30},
        }
    ]

    def make_session(config: Any) -> PinguNode:
        config.extra = {"hub": hub, "node": name, "secret": secret}
        return PinguNode(config)

    component = Component(transports=transports, realm=realm, session_factory=make_session)
    return _ComponentService(component, reactor)
