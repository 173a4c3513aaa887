"""The WAMP face: a pingu node on a Crossbar.io router.

A node registers, for its URI-safe name ``<node>``::

    pingu.<node>.start(target, count=, interval=, size=, family=, deadline=)
        -> {"run": id, "topic": "pingu.<node>.run.<id>", "backlog": [events]}
    pingu.<node>.backlog(run) -> [events]      every event of the run so far
    pingu.<node>.stop(run) -> {"ending": bool, "viewers": n}
    pingu.<node>.runs() -> [run descriptions]
    pingu.nodes() -> [node names]              shared: any one node answers

and publishes ``pingu.nodes.joined`` ``{"node": name}`` when it joins.

Identical requests share one run (one ping process); the node publishes its
events on the run's topic, one event dict as the only argument, each with
its number ``n`` in the run.  To follow a run without a gap or a duplicate a
viewer calls ``start``, subscribes to the topic, then calls ``backlog``, and
shows the backlog and the live events in order of ``n``, each ``n`` once.
Nothing is lost in between: anything the node published before it answered
``backlog`` is in the answer, anything later reaches the subscription, which
the router had set up before the call.  ``backlog`` still answers for a while
after a run has ended, so a run that ends between ``start`` and the
subscription is seen whole.

Viewers are counted from the router's meta events (who subscribes to the
topic, who unsubscribes, whose session leaves), not from clients' goodwill;
a caller of ``start`` counts for a short while until it has subscribed.  A
run whose last viewer is gone is stopped at once; a ``stop`` from the last
viewer stops it with SIGINT, so that ping's statistics still come.
"""

from __future__ import annotations

import gc
import re
import socket
from collections import OrderedDict
from typing import Any, Optional

from autobahn.twisted.component import Component
from autobahn.twisted.wamp import ApplicationSession
from autobahn.wamp import auth
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import RegisterOptions
from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger

from pingu import events
from pingu.events import (
    JOINED_TOPIC,
    NO_SUCH_RUN,
    NODE_AUTHID,
    NODES_PROCEDURE,
    SECRET_ENV,
    CloseCode,
)
from pingu.request import Refused, parse_fields, resolve
from pingu.runs import Run, RunHub

log = Logger(namespace="pingu")

#: Seconds a caller of ``start`` counts as a viewer before it has subscribed.
SUBSCRIBE_GRACE = 10.0
#: Seconds ``backlog`` still answers for a run that has ended, and how many
#: ended runs are kept that long at most.
ENDED_LINGER = 60.0
ENDED_KEEP = 256

_START_URI = re.compile(r"^pingu\.([a-z0-9_]+)\.start$")
_NODE_NAME = re.compile(r"^[a-z0-9_]+$")


def node_name(hostname: Optional[str] = None) -> str:
    """A URI-safe node name: the host's short name, lower-cased, every
    character but ``a-z0-9_`` made ``_``."""
    host = (hostname if hostname is not None else socket.gethostname()).split(".")[0].lower()
    return re.sub(r"[^a-z0-9_]", "_", host) or "node"


def check_node_name(name: str) -> str:
    """``name`` if it can stand in a URI (``pingu.<name>.start``), else ValueError."""
    if not _NODE_NAME.match(name):
        raise ValueError(f"a node name is made of a-z, 0-9 and _ only, not {name!r}")
    return name


def _wamp_error(refused: Refused) -> ApplicationError:
    uri = events.ERROR_URIS.get(refused.code, "pingu.error.invalid_request")
    return ApplicationError(
        uri, refused.message, reason=refused.reason, field=refused.field, code=int(refused.code)
    )


class PinguNode(ApplicationSession):
    """One node's session.

    ``config.extra`` carries ``hub``, ``node`` and ``secret``.  Crossbar can
    also start this class itself, as a router component (``"type": "class"``),
    with ``extra`` from the router's configuration (``node``, ``ping``,
    ``limits``, ``public``) and no secret: it then joins inside the router, in the role
    the configuration gives it.
    """

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        extra = config.extra if config is not None and config.extra else {}
        self.hub: RunHub = extra["hub"] if "hub" in extra else _hub_from_extra(extra)
        self.node: str = check_node_name(extra.get("node") or node_name())
        self.secret: Optional[str] = extra.get("secret")
        self.prefix = f"pingu.{self.node}"
        # subscription id -> topic, from wamp.subscription.on_create (or a lookup)
        self._topics: dict[int, str] = {}
        # (session, subscription) unsubscribed while its topic was being looked up
        self._gone: set[tuple[int, int]] = set()
        self._published: set[str] = set()
        # run id -> its events, for ``backlog`` a while after the run ended
        self._ended: OrderedDict[str, list[events.Event]] = OrderedDict()

    # -- joining ---------------------------------------------------------------

    def onConnect(self) -> None:
        # Nagle off: a small event must not wait for the previous one's ACK.
        transport = getattr(getattr(self, "_transport", None), "transport", None)
        if transport is not None and hasattr(transport, "setTcpNoDelay"):
            try:
                transport.setTcpNoDelay(True)
            except OSError:  # not a TCP socket
                pass
        if self.secret:
            self.join(self.config.realm, authmethods=["wampcra"], authid=NODE_AUTHID)
        else:
            self.join(self.config.realm)

    def onChallenge(self, challenge: Any) -> str:
        if challenge.method != "wampcra" or not self.secret:
            raise ApplicationError("pingu.error.auth", f"unexpected challenge {challenge.method}")
        secret = self.secret
        if "salt" in challenge.extra:  # a salted secret in the router's configuration
            secret = auth.derive_key(
                secret,
                challenge.extra["salt"],
                challenge.extra["iterations"],
                challenge.extra["keylen"],
            ).decode("ascii")
        return auth.compute_wcs(secret, challenge.extra["challenge"]).decode("ascii")

    @defer.inlineCallbacks
    def onJoin(self, details: Any) -> Any:
        try:
            yield self._register_all()
        except ApplicationError as e:
            # Most often a node of this name is still registered: another
            # machine, or this one's last session that the router has not
            # yet seen go.  Leaving with an error makes the runner retry.
            log.error(
                "pingu: node {node} cannot serve on this router: {error}",
                node=self.node,
                error=e.error_message(),
            )
            yield self.leave("pingu.error.node_not_registered", e.error_message())
            return
        yield self.publish(JOINED_TOPIC, {"node": self.node})
        log.info("pingu: node {node} joined realm {realm}", node=self.node, realm=details.realm)

    @defer.inlineCallbacks
    def _register_all(self) -> Any:
        with_caller = RegisterOptions(details_arg="details")
        p = self.prefix
        # meta events first: a viewer must not come before they are heard
        yield self.subscribe(self._on_create, "wamp.subscription.on_create")
        yield self.subscribe(self._on_subscribe, "wamp.subscription.on_subscribe")
        yield self.subscribe(self._on_unsubscribe, "wamp.subscription.on_unsubscribe")
        yield self.subscribe(self._on_delete, "wamp.subscription.on_delete")
        yield self.subscribe(self._on_leave, "wamp.session.on_leave")
        yield self.register(self.start, f"{p}.start", options=with_caller)
        yield self.register(self.backlog, f"{p}.backlog")
        yield self.register(self.stop, f"{p}.stop", options=with_caller)
        yield self.register(self.runs, f"{p}.runs")
        yield self.register(
            self.nodes, NODES_PROCEDURE, options=RegisterOptions(invoke="roundrobin")
        )

    def onLeave(self, details: Any) -> None:
        # Every viewer was a session of the router we left: nobody can see
        # these runs any more, and nobody could be counted leaving.
        for run in list(self.hub.runs.values()):
            if run.shared:
                run.stop("viewers")
        self._topics.clear()
        log.info("pingu: node {node} left: {reason}", node=self.node, reason=details.reason)
        super().onLeave(details)

    # -- procedures ------------------------------------------------------------

    @defer.inlineCallbacks
    def start(self, *args: Any, details: Any = None, **options: Any) -> Any:
        """``pingu.<node>.start``: join or start a shared run."""
        caller = getattr(details, "caller", None)
        client = f"wamp:{caller}" if caller is not None else None
        try:
            if len(args) > 1 or (args and "target" in options):
                raise Refused(
                    CloseCode.BAD_REQUEST,
                    "wrong-type",
                    "start takes the target as its only positional argument; "
                    "the options are keyword arguments",
                )
            fields = {"target": args[0], **options} if args else dict(options)
            request = parse_fields(fields, self.hub.limits)
            resolved = yield resolve(request, self.hub.resolver, self.hub.policy)
            if self.hub.find_shared(resolved) is None:
                self.hub.admit(client)  # joining a run costs nothing; starting one counts
            run = self.hub.start(resolved, client=client, shared=True)
        except Refused as refused:
            raise _wamp_error(refused) from None
        topic = self.topic(run)
        if run.id not in self._published:
            self._published.add(run.id)
            # the spawn's own events (start, and end when it failed) are in
            # the backlog already; everything after goes out on the topic
            run.add_listener(lambda event: self._publish(topic, event, run))
            if run.ended:
                self._keep_ended(run)
        if caller is not None and not run.ended:
            self._pending_viewer(run, caller)
        return {"run": run.id, "topic": topic, "backlog": list(run.backlog)}

    def backlog(self, run_id: Any) -> list[events.Event]:
        """``pingu.<node>.backlog``: every event of a run so far (also for a
        while after it ended)."""
        kept = self._ended.get(str(run_id))
        if kept is not None:
            return list(kept)
        return list(self._run(run_id).backlog)

    def stop(self, run_id: Any, details: Any = None) -> dict[str, Any]:
        """``pingu.<node>.stop``: the caller is no longer interested.

        When nobody else watches, ping is stopped as a client's stop is in the
        WebSocket mode (SIGINT: its statistics and the ``end`` still come on
        the topic); otherwise the run goes on for the others."""
        if str(run_id) in self._ended:
            return {"ending": True, "viewers": 0}
        run = self._run(run_id)
        caller = getattr(details, "caller", None)
        mine = {caller, ("pending", caller)}
        others = [key for key in run.viewers if key not in mine]
        if not others:
            run.stop("client")
            return {"ending": True, "viewers": 0}
        for key in mine & set(run.viewers):
            run.remove_viewer(key)
        return {"ending": False, "viewers": len({_session_of(k) for k in others})}

    def runs(self) -> list[dict[str, Any]]:
        """``pingu.<node>.runs``: the live shared runs."""
        described = []
        for run in self.hub.runs.values():
            if run.shared:
                info = run.describe()
                # a session counts once, subscribed or about to be
                info["viewers"] = len({_session_of(k) for k in run.viewers})
                described.append({**info, "topic": self.topic(run), "node": self.node})
        return described

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
            raise ApplicationError(NO_SUCH_RUN, f"no live run {run_id!r} on node {self.node}")
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
        return run if run is not None and run.shared and not run.ended else None

    def _on_create(self, session_id: int, subscription: dict[str, Any]) -> None:
        # comes right before the first subscriber's on_subscribe: no lookup then
        exact = subscription.get("match", "exact") == "exact"
        self._topics[subscription["id"]] = subscription.get("uri", "") if exact else ""

    @defer.inlineCallbacks
    def _on_subscribe(self, session_id: int, subscription_id: int) -> Any:
        uri = self._topics.get(subscription_id)
        if uri is None:  # created before this node joined: ask the router
            info = yield self.call("wamp.subscription.get", subscription_id)
            exact = bool(info) and info.get("match", "exact") == "exact"
            uri = self._topics[subscription_id] = info.get("uri", "") if exact else ""
            if (session_id, subscription_id) in self._gone:
                self._gone.discard((session_id, subscription_id))
                return  # it unsubscribed while we asked
        run = self._run_of_topic(uri)
        if run is not None:
            run.add_viewer(session_id)
            run.remove_viewer(("pending", session_id))  # counted as a subscriber now

    def _on_unsubscribe(self, session_id: int, subscription_id: int) -> None:
        uri = self._topics.get(subscription_id)
        if uri is None:
            self._gone.add((session_id, subscription_id))
            if len(self._gone) > 4096:
                self._gone.clear()
            return
        run = self._run_of_topic(uri)
        if run is not None:
            run.remove_viewer(session_id)

    def _on_delete(self, session_id: int, subscription_id: int) -> None:
        self._on_unsubscribe(session_id, subscription_id)
        self._topics.pop(subscription_id, None)

    def _on_leave(self, session_id: Any, *_: Any) -> None:
        for run in list(self.hub.runs.values()):
            if run.shared:
                run.remove_viewer(("pending", session_id))
                run.remove_viewer(session_id)

    # -- publishing --------------------------------------------------------------

    def _publish(self, topic: str, event: events.Event, run: Run) -> None:
        if self.is_attached():
            self.publish(topic, event)
        if event["type"] == events.END:
            self._keep_ended(run)

    def _keep_ended(self, run: Run) -> None:
        self._published.discard(run.id)
        self._ended[run.id] = list(run.backlog)
        while len(self._ended) > ENDED_KEEP:
            self._ended.popitem(last=False)
        self.hub.reactor.callLater(ENDED_LINGER, self._ended.pop, run.id, None)


def _session_of(key: Any) -> Any:
    """The WAMP session a viewer key stands for (pending or subscribed)."""
    return key[1] if isinstance(key, tuple) and key and key[0] == "pending" else key


def _hub_from_extra(extra: dict[str, Any]) -> RunHub:
    """A hub for a node that Crossbar starts itself, from ``config.extra`` in
    the router's configuration: ``ping`` (a path), ``limits`` (by name, as
    :class:`pingu.limits.Limits`) and ``public`` (true: ``--public``'s policy)."""
    import shutil

    from twisted.internet import reactor

    from pingu.limits import Limits
    from pingu.request import Policy

    ping = extra.get("ping") or shutil.which("ping") or "/usr/bin/ping"
    limits = Limits(**dict(extra.get("limits", {})))
    return RunHub(reactor, ping, limits, policy=Policy.build(public=bool(extra.get("public"))))


class _ComponentService(service.Service):
    """Runs a reconnecting Autobahn ``Component`` for as long as the service runs."""

    def __init__(self, component: Component, reactor: Any) -> None:
        self.component = component
        self.reactor = reactor
        self._running: Optional[defer.Deferred[Any]] = None

    def startService(self) -> None:
        super().startService()
        self.reactor.callWhenRunning(freeze_boot_objects)
        self._running = self.component.start(self.reactor)
        self._running.addErrback(
            lambda f: log.error("pingu: WAMP node gave up: {f}", f=f.getErrorMessage())
        )

    def stopService(self) -> Any:
        super().stopService()
        d = self.component.stop()
        return d if isinstance(d, defer.Deferred) else None


def freeze_boot_objects() -> None:
    """Move what exists once the process has started out of the garbage
    collector's reach (:func:`gc.freeze`): a full collection then walks only
    what came later, instead of stalling the reactor, and every event in it,
    for tens of milliseconds (the router does the same, see
    ``.crossbar/pingu_router.py``)."""
    gc.collect()
    gc.freeze()


def transport_config(router: str) -> dict[str, Any]:
    """The runner's transport: retry forever, with back-off; Nagle off."""
    return {
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


def make_wamp_service(
    hub: RunHub,
    router: str,
    realm: str,
    node: Optional[str],
    secret: Optional[str],
    reactor: Any,
) -> service.IService:
    """The node as a Twisted service: joins ``router`` and rejoins, with
    back-off, whenever the connection is lost.

    Without a secret there is nothing to authenticate with: the shipped
    router configuration lets no anonymous session register, so this is an
    operator's error (``SystemExit`` with one line, as ``twistd`` shows it).
    """
    if not secret:
        raise SystemExit(
            f"pingu: --router needs the nodes' shared secret in the environment "
            f"variable {SECRET_ENV} (the same as the router's)"
        )
    try:
        name = check_node_name(node) if node else node_name()
    except ValueError as e:
        raise SystemExit(f"pingu: --node: {e}") from None

    def make_session(config: Any) -> PinguNode:
        config.extra = {"hub": hub, "node": name, "secret": secret}
        return PinguNode(config)

    component = Component(
        transports=[transport_config(router)], realm=realm, session_factory=make_session
    )
    return _ComponentService(component, reactor)
