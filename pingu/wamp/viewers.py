"""Who watches which run, from the router's meta events, and who they are.

The router tells the node (``wamp.subscription.on_create``,
``on_subscribe``, ``on_unsubscribe``, ``on_delete``, ``wamp.session.on_join``
and ``on_leave``) who subscribes to a run's topic and who goes away; a
caller of ``start`` counts as a :class:`Pending` viewer for a short while
until its subscription is seen.  Every viewer belongs to a client
(:mod:`pingu.clients`), which the node learns from the router, never from
the caller: the session's transport peer (or its authid when it has
authenticated), asked once per session and cached until the session leaves.
A viewer over its client's quota of watched runs is not counted.

The clock is injected; nothing here needs a router to be tested: the
router's part is the ``ask`` callable (a WAMP call) and the handlers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from twisted.internet import defer
from twisted.logger import Logger

from pingu.clients import authid_key, peer_client
from pingu.refusal import Refused
from pingu.runs import Run, RunHub

log = Logger(namespace="pingu")

#: Seconds a caller of ``start`` counts as a viewer before it has subscribed.
SUBSCRIBE_GRACE = 10.0
#: The client of sessions the router would not describe: they share one quota.
UNKNOWN_CLIENT = "unknown"

Ask = Callable[..., Any]  # ask(procedure, *args) -> Deferred: a call to the router


@dataclass(frozen=True)
class Pending:
    """A caller of ``start`` that has not subscribed yet."""

    session: int


def session_of(key: Any) -> Any:
    """The WAMP session a viewer key stands for (pending or subscribed)."""
    return key.session if isinstance(key, Pending) else key


#: Sessions that came to the router through one of its own proxy workers: the
#: router joins them with these methods, whatever the client authenticated with.
PROXY_METHODS = ("anonymous-proxy", "cryptosign-proxy")


def _proxied(method: Any, seen: str) -> bool:
    """Did the session come through one of the router's own proxy workers?
    ``anonymous-proxy`` only over a Unix socket (Crossbar's proxies use it on
    nothing else), ``cryptosign-proxy`` proven with the proxy node's key."""
    if method == "cryptosign-proxy":
        return True
    return method == "anonymous-proxy" and seen.partition(":")[0] == "unix"


def client_of_details(
    details: dict[str, Any], trusted_proxies: tuple[Any, ...] = (), prefix6: int = 64
) -> str:
    """The client of a session, from the router's description of it
    (``wamp.session.get`` or ``on_join``): its authid when it authenticated,
    else its transport's peer (``tcp4:192.0.2.1:4711``), read through
    ``--trusted-proxy`` like a WebSocket's.

    Crossbar takes the ``transport`` it describes from the session's
    authextra when there is one there, and an anonymous client writes its
    authextra itself (HELLO): so the description's ``transport`` is believed
    only when its peer is the connection the router itself saw
    (``authextra.x_cb_peer``, which the router always writes over the
    client's, port included), or when the session came through one of the
    router's own proxy workers (``.crossbar/config-proxy.json``): then the
    peer the router saw is the proxy, and ``transport`` is the browser's
    connection to the proxy, forwarded by the proxy (which refuses a client
    that brings its own).  Otherwise the client is ``x_cb_peer``, headers
    unread.  A proxied session's authid is the proxy's stand-in: it is
    counted by its address, like an anonymous one."""
    method = details.get("authmethod")
    authid = details.get("authid")
    if method not in (None, "anonymous", *PROXY_METHODS) and authid:
        return authid_key(str(authid))
    transport = details.get("transport") or {}
    peer = str(transport.get("peer") or "")
    received = transport.get("http_headers_received") or {}
    seen = (details.get("authextra") or {}).get("x_cb_peer")
    if seen is not None and not _proxied(method, str(seen)) and peer != str(seen):
        peer, received = str(seen), {}  # a transport the client wrote itself
    kind, _, rest = peer.partition(":")
    if kind not in ("tcp4", "tcp6") or ":" not in rest:
        return UNKNOWN_CLIENT
    host = rest.rsplit(":", 1)[0].strip("[]")
    headers = {str(k).lower(): str(v) for k, v in received.items()}
    return peer_client(host, headers, trusted_proxies, prefix6)


class SessionClients:
    """The client of each live session, asked of the router once per session."""

    def __init__(self, ask: Ask, trusted_proxies: tuple[Any, ...] = (), prefix6: int = 64):
        self.ask = ask
        self.trusted_proxies = trusted_proxies
        self.prefix6 = prefix6
        self._known: dict[int, str] = {}

    def joined(self, details: dict[str, Any]) -> None:
        """``wamp.session.on_join``: the router describes a new session."""
        session = details.get("session")
        if isinstance(session, int):
            self._known[session] = client_of_details(details, self.trusted_proxies, self.prefix6)

    def left(self, session: int) -> None:
        """The session is gone: forget it."""
        self._known.pop(session, None)

    def forget_all(self) -> None:
        """The router is gone: its session ids mean nothing any more."""
        self._known.clear()

    @defer.inlineCallbacks
    def client(self, session: Optional[int]) -> Any:
        """A Deferred firing the client of ``session``."""
        if session is None:
            return UNKNOWN_CLIENT
        known = self._known.get(session)
        if known is not None:
            return known
        try:
            details = yield self.ask("wamp.session.get", session)
        except Exception as e:
            log.warn(
                "pingu: the router would not describe session {session} ({error}): it "
                "shares the quota of every such session",
                session=session,
                error=str(e),
            )
            return UNKNOWN_CLIENT
        client = client_of_details(details or {}, self.trusted_proxies, self.prefix6)
        if len(self._known) < 100_000:
            self._known[session] = client
        return client


class ViewerBook:
    """The node's viewers, kept in the hub's runs from the meta events.

    ``run_of_topic(uri)`` finds the live shared run a topic belongs to."""

    def __init__(
        self,
        hub: RunHub,
        clients: SessionClients,
        run_of_topic: Callable[[str], Optional[Run]],
        ask: Ask,
        clock: Any,
    ) -> None:
        self.hub = hub
        self.clients = clients
        self.run_of_topic = run_of_topic
        self.ask = ask
        self.clock = clock
        # subscription id -> topic, from wamp.subscription.on_create (or a lookup)
        self.topics: dict[int, str] = {}
        # (session, subscription) unsubscribed while its topic was being looked up
        self._gone: set[tuple[int, int]] = set()

    def pending(self, run: Run, session: int, client: str) -> None:
        """A caller of ``start`` counts for :data:`SUBSCRIBE_GRACE` seconds."""
        key = Pending(session)
        run.add_viewer(key, client=client)
        self.clock.callLater(SUBSCRIBE_GRACE, run.remove_viewer, key)

    def created(self, subscription: dict[str, Any]) -> None:
        """``on_create`` comes right before the first subscriber's ``on_subscribe``."""
        exact = subscription.get("match", "exact") == "exact"
        self.topics[subscription["id"]] = subscription.get("uri", "") if exact else ""

    @defer.inlineCallbacks
    def subscribed(self, session: int, subscription: int) -> Any:
        """A session subscribed: a viewer of the run of that topic, if any."""
        uri = self.topics.get(subscription)
        if uri is None:  # created before this node joined: ask the router
            info = yield self.ask("wamp.subscription.get", subscription)
            exact = bool(info) and info.get("match", "exact") == "exact"
            uri = self.topics[subscription] = info.get("uri", "") if exact else ""
            if (session, subscription) in self._gone:
                self._gone.discard((session, subscription))
                return  # it unsubscribed while we asked
        run = self.run_of_topic(uri)
        if run is None:
            return
        client = yield self.clients.client(session)
        if run.ended:
            return
        try:
            run.add_viewer(session, client=client)
        except Refused:
            # Over its client's quota: the router still delivers the events,
            # but this subscription keeps nothing alive.
            log.info("pingu: {client} watches too many runs: not counted", client=client)
        run.remove_viewer(Pending(session))  # counted as a subscriber now (or not at all)

    def unsubscribed(self, session: int, subscription: int) -> None:
        """A session unsubscribed: no longer a viewer of that run."""
        uri = self.topics.get(subscription)
        if uri is None:
            self._gone.add((session, subscription))
            if len(self._gone) > 4096:
                self._gone.clear()
            return
        run = self.run_of_topic(uri)
        if run is not None:
            run.remove_viewer(session)

    def deleted(self, session: int, subscription: int) -> None:
        """The topic's last subscriber is gone."""
        self.unsubscribed(session, subscription)
        self.topics.pop(subscription, None)

    def left(self, session: int) -> None:
        """A session left the router: it watches nothing any more."""
        self.clients.left(session)
        for run in list(self.hub.runs.values()):
            if run.shared:
                run.remove_viewer(Pending(session))
                run.remove_viewer(session)

    @staticmethod
    def watches(run: Run, session: int) -> bool:
        """Is ``session`` a viewer of ``run`` (subscribed or about to be)?"""
        return session in run.viewers or Pending(session) in run.viewers

    @staticmethod
    def sessions(run: Run) -> int:
        """How many sessions watch ``run`` (subscribed or about to be; not
        the places kept for viewers that may come back)."""
        return len({session_of(k) for k in run.viewers if isinstance(k, (int, Pending))})
