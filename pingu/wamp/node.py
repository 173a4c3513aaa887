"""The node's session: its procedures, and the translation of refusals.

Everything a procedure decides is the hub's (:func:`pingu.pipeline.request`
for ``start``); this module only turns WAMP calls into requests and the
hub's answers and :class:`~pingu.refusal.Refused` into results and WAMP
errors.  Who watches what is :mod:`.viewers`; ended runs are :mod:`.retention`.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable, Optional

from autobahn.twisted.wamp import ApplicationSession
from autobahn.wamp import auth
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import RegisterOptions
from twisted.internet import defer
from twisted.logger import Logger

from pingu import events, pipeline, tools
from pingu.clients import RateLimit
from pingu.events import (
    JOINED_TOPIC,
    NO_SUCH_RUN,
    NODE_AUTHID,
    NODES_PROCEDURE,
    CloseCode,
)
from pingu.refusal import Refused, busy
from pingu.runs import Run, RunHub
from pingu.wamp.names import START_URI, check_node_name, node_name
from pingu.wamp.state import NodeState
from pingu.wamp.viewers import Pending

log = Logger(namespace="pingu")

#: The most PBKDF2 iterations a router's salted WAMP-CRA challenge may ask
#: for: a hostile router must not make the node spend unbounded CPU.
MAX_CRA_ITERATIONS = 100_000
MAX_CRA_KEYLEN = 64

#: The most calls of one procedure the router holds for this node at once
#: (``RegisterOptions(concurrency=)``: Crossbar answers any further call at
#: once with ``crossbar.error.max_concurrency_reached``).  The node answers a
#: call in well under a millisecond, refusals included, so calls pile up only
#: while it cannot read (a stalled or overloaded node); without the bound
#: the router would hold every one of them, each up to its transport's
#: ``max_message_size``.  Crossbar has no bound per caller (see
#: docs/threat-model.rst): this one is per procedure, for all callers.
MAX_PENDING_CALLS = 256


def wamp_error(refused: Refused) -> ApplicationError:
    """The WAMP error of a refusal: its URI says the kind, kwargs the details."""
    uri = events.ERROR_URIS.get(refused.code, events.ERROR_URIS[CloseCode.BAD_REQUEST])
    return ApplicationError(
        uri, refused.message, reason=refused.reason, field=refused.field, code=int(refused.code)
    )


class CallMeter:
    """Calls per second, per client and in total (``--max-calls-per-second*``)."""

    TOTAL = "*"

    def __init__(self, per_client: float, total: float) -> None:
        self.per_client = RateLimit(per_client)
        self.total = RateLimit(total)

    def take(self, client: str, now: float) -> None:
        """Count one call; :class:`Refused` (busy) over either rate."""
        # The client's own rate first: a client's refused flood must not
        # spend the tokens every other client shares.
        if not self.per_client.take(client, now):
            raise busy(
                "too-many-calls-per-client",
                f"at most {self.per_client.rate:g} calls per second per client",
            )
        if not self.total.take(self.TOTAL, now):
            raise busy("too-many-calls", "this node is answering too many calls")


class RefusalLog:
    """At most one log line per refusal reason a second (``pingu: refused``),
    saying how many were left out since the last one: a viewer's flood of
    refused calls must not become a flood of log lines (issue 17)."""

    def __init__(self) -> None:
        self.lines = RateLimit(1.0)
        self.unlogged: dict[str, int] = {}  # reason -> refusals since its last line

    def refused(self, client: str, refused: Refused, now: float) -> None:
        """Log ``refused`` unless its reason has had its line this second."""
        reason = refused.reason
        if not self.lines.take(reason, now):
            self.unlogged[reason] = self.unlogged.get(reason, 0) + 1
            return
        unlogged = self.unlogged.pop(reason, 0)
        log.info(
            "pingu: refused {client}: {reason}: {message}"
            + (" ({unlogged} more for this reason since its last line)" if unlogged else ""),
            client=client,
            reason=reason,
            message=refused.message,
            unlogged=unlogged,
            event="refused",
            face="wamp",
        )


def check_arguments(procedure: Callable[..., Any], args: tuple[Any, ...], kwargs: Any) -> None:
    """:class:`Refused` (bad request) unless ``procedure`` takes these
    arguments: a call the procedure cannot take is a viewer's error, answered
    as one, not a traceback in the node's log."""
    try:
        inspect.signature(procedure).bind(*args, details=None, **kwargs)
    except TypeError as e:
        # the error names the caller's keyword: escaped (no line of its own
        # in the log) and cut short (a name may be as long as a message)
        why = str(e).encode("unicode_escape").decode("ascii")
        why = why if len(why) <= 120 else why[:120] + "..."
        raise Refused(CloseCode.BAD_REQUEST, "wrong-type", f"{procedure.__name__}: {why}") from None


class PinguNode(ApplicationSession):
    """One node's session.

    ``config.extra`` carries ``state`` (the :class:`NodeState` every
    session of the node shares) and ``secret``.  Crossbar can also start
    this class itself, as a router component (``"type": "class"``), with
    ``extra`` from the router's configuration (``node``, ``ping``,
    ``limits``, ``public``, ``trusted_proxies``) and no secret: it then
    joins inside the router, in the role the configuration gives it.
    """

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        extra = config.extra if config is not None and config.extra else {}
        self.secret: Optional[str] = extra.get("secret")
        state = extra.get("state")
        if state is None:
            from twisted.internet import reactor

            from pingu.config import hub_from_extra

            hub = hub_from_extra(reactor, extra)
            name = check_node_name(extra.get("node") or node_name())
            state = NodeState(hub, name, tuple(extra.get("trusted_proxies", ())))
        #: what outlives this session: runs, publishers, viewers, ended runs
        self.state: NodeState = state
        if state.session is None:
            state.session = self  # it publishes once attached (see is_attached)
        self.hub: RunHub = state.hub
        self.node: str = state.node
        self.clients = state.clients
        self.viewers = state.viewers
        self.ended = state.ended
        limits = self.hub.limits
        self.meter = CallMeter(limits.max_calls_per_second, limits.max_calls_per_second_total)
        self.refusal_log = RefusalLog()

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
            iterations = challenge.extra.get("iterations", 1000)
            keylen = challenge.extra.get("keylen", 32)
            if not (
                isinstance(iterations, int)
                and 0 < iterations <= MAX_CRA_ITERATIONS
                and isinstance(keylen, int)
                and 0 < keylen <= MAX_CRA_KEYLEN
            ):
                raise ApplicationError(
                    "pingu.error.auth",
                    f"the router asks for {iterations!r} key derivation iterations "
                    f"(keylen {keylen!r}); this node allows {MAX_CRA_ITERATIONS} at most",
                )
            secret = auth.derive_key(
                secret, challenge.extra["salt"], iterations, keylen
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
        self.state.attached(self)
        yield self.state.recount()
        yield self.publish(JOINED_TOPIC, {"node": self.node})
        log.info(
            "pingu: node {node} joined realm {realm}",
            node=self.node,
            realm=details.realm,
            event="node_joined",
        )

    @defer.inlineCallbacks
    def _register_all(self) -> Any:
        with_caller = RegisterOptions(details_arg="details", concurrency=MAX_PENDING_CALLS)
        viewers = self.viewers
        # meta events first: a viewer must not come before they are heard
        yield self.subscribe(self.clients.joined, "wamp.session.on_join")
        yield self.subscribe(self._on_create, "wamp.subscription.on_create")
        yield self.subscribe(self._on_subscribe, "wamp.subscription.on_subscribe")
        yield self.subscribe(viewers.unsubscribed, "wamp.subscription.on_unsubscribe")
        yield self.subscribe(self._on_delete, "wamp.subscription.on_delete")
        yield self.subscribe(self._on_leave, "wamp.session.on_leave")
        yield self.register(self.start, events.node_uri(self.node, "start"), options=with_caller)
        for name, procedure in (
            ("backlog", self.backlog),
            ("stop", self.stop),
            ("runs", self.runs),
            ("limits", self.limits),
            ("tools", self.tools),
        ):
            yield self.register(
                self._metered(procedure), events.node_uri(self.node, name), options=with_caller
            )
        yield self.register(
            self._metered(self.nodes),
            NODES_PROCEDURE,
            options=RegisterOptions(
                invoke="roundrobin", details_arg="details", concurrency=MAX_PENDING_CALLS
            ),
        )

    def onLeave(self, details: Any) -> None:
        # The runs go on for --router-grace: the runner rejoins meanwhile.
        self.state.detached(self)
        log.info(
            "pingu: node {node} left: {reason}",
            node=self.node,
            reason=details.reason,
            event="node_left",
        )
        super().onLeave(details)

    def onUserError(self, fail: Any, msg: str) -> None:
        # Autobahn logs every error a procedure raises, one line each: an
        # ApplicationError is the node's answer to a viewer (a refusal,
        # already logged by RefusalLog at most once a second, or no such
        # run), and a viewer's flood of them must not flood the log.
        if isinstance(getattr(fail, "value", None), ApplicationError):
            return
        super().onUserError(fail, msg)

    # -- procedures ------------------------------------------------------------

    def _refuse(self, client: str, refused: Refused) -> ApplicationError:
        """Count and log a refusal (as the WebSocket face does); its WAMP error."""
        self.hub.metrics.refused(refused.reason)
        self.refusal_log.refused(client, refused, self.hub.reactor.seconds())
        return wamp_error(refused)

    def _metered(self, procedure: Callable[..., Any]) -> Callable[..., Any]:
        """``procedure`` as registered: counted against its caller's client."""

        @defer.inlineCallbacks
        def metered(*args: Any, details: Any = None, **kwargs: Any) -> Any:
            client = yield self.clients.client(getattr(details, "caller", None))
            try:
                self.meter.take(client, self.hub.reactor.seconds())
                check_arguments(procedure, args, kwargs)
            except Refused as refused:
                raise self._refuse(client, refused) from None
            result = yield defer.maybeDeferred(procedure, *args, details=details, **kwargs)
            return result

        return metered

    @defer.inlineCallbacks
    def start(self, *args: Any, details: Any = None, **options: Any) -> Any:
        """``pingu.<node>.start``: join or start a shared run."""
        caller = getattr(details, "caller", None)
        client = yield self.clients.client(caller)
        try:
            self._keeping_up()
            self.meter.take(client, self.hub.reactor.seconds())
            if len(args) > 1 or (args and "target" in options):
                raise Refused(
                    CloseCode.BAD_REQUEST,
                    "wrong-type",
                    "start takes the target as its only positional argument; "
                    "the options are keyword arguments",
                )
            fields = {"target": args[0], **options} if args else dict(options)
            run = yield pipeline.request(self.hub, fields, client, shared=True)
            if caller is not None and not run.ended:
                self.viewers.pending(run, caller, client)
        except Refused as refused:
            raise self._refuse(client, refused) from None
        topic = self.topic(run)
        self.state.publishing(run)
        page = run.backlog.since(0, self.hub.limits.max_backlog_page)
        return {"run": run.id, "topic": topic, "backlog": page}

    def _keeping_up(self) -> None:
        """:class:`Refused` (4503, "busy, retry in N s") while the node is
        over ``--max-lag`` behind (its event loop, or its oldest tool start,
        :mod:`pingu.lag`): a new run would wait behind
        every other one and slow them all, so it is refused at once, as the
        WebSocket face refuses a new session; the runs going on keep their
        pace.  Only ``start`` is refused so: following a run (backlog, stop)
        is what the runs already admitted need."""
        refused = self.hub.behind()
        if refused is not None:
            raise refused

    def backlog(self, run_id: Any, since: Any = 0, details: Any = None) -> list[events.Event]:
        """``pingu.<node>.backlog``: the run's events numbered above ``since``
        (also for a while after it ended), at most ``--max-backlog-page`` of
        them: a viewer asks again from the last ``n`` it got while a page is
        full."""
        if isinstance(since, bool) or not isinstance(since, int) or since < 0:
            raise wamp_error(Refused(CloseCode.BAD_REQUEST, "out-of-range", "since must be n >= 0"))
        kept = self.ended.get(str(run_id))
        backlog = kept if kept is not None else self._run(run_id).backlog
        return backlog.since(since, self.hub.limits.max_backlog_page)

    def stop(self, run_id: Any, details: Any = None) -> dict[str, Any]:
        """``pingu.<node>.stop``: the caller is no longer interested.

        When nobody else watches, ping is stopped as a client's stop is in the
        WebSocket mode (SIGINT: its statistics and the ``end`` still come on
        the topic); otherwise the run goes on for the others."""
        if str(run_id) in self.ended:
            return {"ending": True, "viewers": 0}
        run = self._run(run_id)
        caller = getattr(details, "caller", None)
        mine = {caller} if caller is None else {caller, Pending(caller)}
        others = [key for key in run.viewers if key not in mine]
        if not others:
            run.stop("client")
            return {"ending": True, "viewers": 0}
        for key in mine & set(run.viewers):
            run.remove_viewer(key)
        return {"ending": False, "viewers": self.viewers.sessions(run)}

    def runs(self, details: Any = None) -> list[dict[str, Any]]:
        """``pingu.<node>.runs``: the live shared runs."""
        described = []
        for run in self.hub.runs.values():
            if run.shared:
                info = run.describe()
                # a session counts once, subscribed or about to be
                info["viewers"] = self.viewers.sessions(run)
                described.append({**info, "topic": self.topic(run), "node": self.node})
        return described

    def limits(self, details: Any = None) -> dict[str, Any]:
        """``pingu.<node>.limits``: this node's limits, as ``/pingu-info.json``
        gives the WebSocket server's (the page paces its starts to them)."""
        return dataclasses.asdict(self.hub.limits)

    def tools(self, details: Any = None) -> list[dict[str, Any]]:
        """``pingu.<node>.tools``: this node's tools, their fields and bounds,
        as ``/pingu-info.json``'s ``tools`` (the page builds its form from
        them in WAMP mode; :func:`pingu.tools.describe`, the one source)."""
        return tools.describe(self.hub.limits, self.hub.executables)

    @defer.inlineCallbacks
    def nodes(self, details: Any = None) -> Any:
        """``pingu.nodes``: every node on the router, from its registrations."""
        found = yield self.call("wamp.registration.list")
        names = set()
        for registration_id in found.get("exact", []):
            info = yield self.call("wamp.registration.get", registration_id)
            match = START_URI.match(info.get("uri", "")) if info else None
            if match:
                names.add(match.group(1))
        return sorted(names)

    # -- viewers, from the router's meta events ----------------------------------

    def topic(self, run: Run) -> str:
        """The topic a run's events are published on."""
        return events.run_topic(self.node, run.id)

    def _run(self, run_id: Any) -> Run:
        run = self.hub.find(str(run_id))
        if run is None or not run.shared:
            raise ApplicationError(NO_SUCH_RUN, f"no live run {run_id!r} on node {self.node}")
        return run

    # The router's meta events (subscribed in onJoin), to the viewer book.
    def _on_create(self, session_id: int, subscription: dict[str, Any]) -> None:
        self.viewers.created(subscription)

    def _on_subscribe(self, session_id: int, subscription_id: int) -> Any:
        return self.viewers.subscribed(session_id, subscription_id)

    def _on_delete(self, session_id: int, subscription_id: int) -> None:
        self.viewers.deleted(session_id, subscription_id)

    def _on_leave(self, session_id: Any, *_: Any) -> None:
        self.state.viewer_left(session_id)
