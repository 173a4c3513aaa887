"""What a node keeps across its sessions with the router.

The reconnecting runner makes a new session object each time the node
(re)joins; the runs, their publishers and the ended runs must outlive any
one session, so that a router restart loses nothing that can be kept:

* when the router goes, the shared runs go on for ``--router-grace``
  seconds; their events stay in the backlog (nothing is published while
  detached, so nothing is published twice);
* when the node rejoins within the grace, it recounts every run's viewers
  from the router (the subscribers of its topic) before it ends any run, and
  gives viewers that have not resubscribed yet :data:`REJOIN_GRACE` seconds;
* a run whose last viewer's session left (its connection may have blipped)
  goes on for :data:`VIEWER_GRACE` seconds, time for it to rejoin and
  resubscribe as a new session.

Session ids and subscription ids are the router's: they are forgotten on
every rejoin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from autobahn.twisted.wamp import ApplicationSession
from twisted.internet import defer
from twisted.logger import Logger

from pingu import events
from pingu.refusal import Refused
from pingu.runs import Run, RunHub
from pingu.wamp.retention import EndedRuns
from pingu.wamp.viewers import SessionClients, ViewerBook

log = Logger(namespace="pingu")

#: Seconds shared runs go on after the node lost its router (``--router-grace``):
#: longer than the runner's first retries (0.5 s, growing by 1.5).
ROUTER_GRACE = 15.0
#: Seconds a run keeps its viewers' place after the node rejoined, for
#: viewers that have not resubscribed yet.
REJOIN_GRACE = 10.0
#: Seconds a viewer whose session left keeps its runs alive.
VIEWER_GRACE = 5.0


@dataclass(frozen=True)
class Rejoining:
    """The place of the viewers a run had before the router went."""

    run: str


@dataclass(frozen=True)
class Leaving:
    """A viewer whose session left: it may come back as a new session."""

    session: int


class NodeState:
    """The node's runs, publishers, viewers and ended runs, across sessions."""

    def __init__(
        self,
        hub: RunHub,
        node: str,
        trusted_proxies: tuple[Any, ...] = (),
        router_grace: float = ROUTER_GRACE,
    ) -> None:
        self.hub = hub
        self.node = node
        self.router_grace = router_grace
        #: the node's session with the router while it is attached (a PinguNode)
        self.session: Optional[ApplicationSession] = None
        self.clients = SessionClients(self._ask, trusted_proxies, hub.limits.client_prefix6)
        self.viewers = ViewerBook(hub, self.clients, self.run_of_topic, self._ask, hub.reactor)
        self.ended = EndedRuns(hub.reactor)
        self.published: set[str] = set()
        self.delivered = hub.metrics.delivered["wamp"]  # one add per publication
        self._grace_call: Optional[Any] = None

    def _ask(self, procedure: str, *args: Any) -> Any:
        if self.session is None:
            return defer.fail(RuntimeError("not attached to the router"))
        return self.session.call(procedure, *args)

    # -- sessions ------------------------------------------------------------------

    def attached(self, session: ApplicationSession) -> None:
        """A session joined the router: it publishes from now on."""
        if self._grace_call is not None and self._grace_call.active():
            self._grace_call.cancel()
        self._grace_call = None
        self.session = session
        self.hub.metrics.node(self.node, self)
        # how far behind the node is (RunHub.behind refuses a start over
        # --max-lag), measured from the first join on, for the process's
        # life (once: a rejoin finds it ticking)
        self.hub.lag.start()

    def detached(self, session: ApplicationSession) -> None:
        """The session left the router: runs go on for the grace period."""
        if self.session is not session:
            return
        self.session = None
        self.hub.metrics.node(self.node, None)
        # The router's ids mean nothing to the next router, or the next session.
        self.viewers.topics.clear()
        self.clients.forget_all()
        shared = [run for run in self.hub.runs.values() if run.shared]
        if not shared:
            return
        for run in shared:
            # Hold every run while detached: the meta events of the router's
            # last moments (its sessions leaving) and the places they leave
            # must not end a run its viewers will come back to.
            run.add_viewer(Rejoining(run.id))
        if self.router_grace <= 0:
            self._grace_over()
            return
        log.info(
            "pingu: node {node} lost its router: {count} run(s) go on for {grace} s",
            node=self.node,
            count=len(shared),
            grace=self.router_grace,
        )
        self._grace_call = self.hub.reactor.callLater(self.router_grace, self._grace_over)

    def _grace_over(self) -> None:
        # Every viewer was a session of the router we lost: nobody can see
        # these runs any more, and nobody could be counted leaving.
        self._grace_call = None
        for run in list(self.hub.runs.values()):
            if run.shared:
                run.stop("viewers")

    @defer.inlineCallbacks
    def recount(self) -> Any:
        """After a rejoin: each run's viewers are its topic's subscribers now
        (and, for a while, the place of those that have not resubscribed)."""
        for run in [r for r in self.hub.runs.values() if r.shared and not r.ended]:
            place = Rejoining(run.id)
            run.add_viewer(place)
            self.hub.reactor.callLater(REJOIN_GRACE, run.remove_viewer, place)
            sessions: list[int] = []
            try:
                subscription = yield self._ask(
                    "wamp.subscription.lookup", events.run_topic(self.node, run.id)
                )
                if subscription is not None:
                    sessions = yield self._ask("wamp.subscription.list_subscribers", subscription)
            except Exception as e:
                log.warn("pingu: cannot recount the viewers of {run}: {e}", run=run.id, e=str(e))
            for key in [k for k in run.viewers if k != place]:
                run.remove_viewer(key)  # the old router's sessions
            for session in sessions or []:
                client = yield self.clients.client(session)
                if run.ended:
                    break
                try:
                    run.add_viewer(session, client=client)
                except Refused:
                    pass  # over its client's quota: not counted

    def viewer_left(self, session: int) -> None:
        """A viewer's session left: a run it was the last viewer of keeps its
        place for :data:`VIEWER_GRACE` seconds (its connection may have
        blipped); a run others still watch needs no place kept."""
        for run in list(self.hub.runs.values()):
            if run.shared and not run.ended and self.viewers.watches(run, session):
                if self.viewers.sessions(run) <= 1:
                    place = Leaving(session)
                    run.add_viewer(place)
                    self.hub.reactor.callLater(VIEWER_GRACE, run.remove_viewer, place)
        self.viewers.left(session)

    # -- runs ------------------------------------------------------------------------

    def run_of_topic(self, uri: str) -> Optional[Run]:
        """The live shared run of a topic of this node, if any."""
        prefix = events.run_topic(self.node, "")
        if not uri.startswith(prefix):
            return None
        run = self.hub.find(uri[len(prefix) :])
        return run if run is not None and run.shared and not run.ended else None

    def publishing(self, run: Run) -> None:
        """Publish ``run``'s events from now on (once per run, whatever the session)."""
        if run.id in self.published:
            return
        self.published.add(run.id)
        self.ended.retain(run.backlog)
        topic = events.run_topic(self.node, run.id)
        # the spawn's own events (start, and end when it failed) are in the
        # backlog already; everything after goes out on the topic
        run.add_listener(lambda event: self._publish(topic, event, run))
        if run.ended:
            self._keep_ended(run)

    def joined(self) -> bool:
        """Is the node on its router now (for the metrics)?"""
        return self.session is not None and self.session.is_attached()

    def viewer_count(self) -> int:
        """WAMP sessions watching this node's shared runs (for the metrics)."""
        return sum(self.viewers.sessions(run) for run in self.hub.runs.values() if run.shared)

    def _publish(self, topic: str, event: events.Event, run: Run) -> None:
        session = self.session
        if session is not None and session.is_attached():
            session.publish(topic, event)
            self.delivered.value += 1
        if event["type"] == events.END:
            self._keep_ended(run)

    def _keep_ended(self, run: Run) -> None:
        self.published.discard(run.id)
        self.ended.add(run.id, run.backlog)
