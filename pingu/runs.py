"""Runs: one request, one ping process, one event log, any number of viewers.

The :class:`RunHub` is the domain object both faces hold.  The WebSocket
face gives each connection its own run; the WAMP face asks for shared runs,
so identical requests on one node are served by one process.  Either way a
run's events are the same dicts (:mod:`pingu.events`), in the same order, to
every viewer: a viewer that joins late gets the backlog and then the live
events, with nothing missed and nothing twice, because both happen in one
reactor turn.

The hub enforces the ceilings and the per-client quotas
(:class:`pingu.limits.Limits`): runs alive at once, starts per second, runs
watched at once, bytes of backlog; and it ends every run on shutdown.  The
path from a client's fields to a run is :mod:`pingu.pipeline`, which
calls the hub (never the other way round).  The reactor is passed in so tests can
control time.
"""

from __future__ import annotations

import itertools
import secrets
import time
from typing import Any, Callable, Optional

from twisted.internet import defer
from twisted.logger import Logger

from pingu import events, tools
from pingu.backlog import Backlog, ByteBudget
from pingu.clients import Counter, RateLimit
from pingu.events import Event
from pingu.lag import LagMeter
from pingu.limits import Limits
from pingu.metrics import Metrics
from pingu.process import PingProcess, spawn
from pingu.refusal import Refused, busy, overloaded
from pingu.request import Policy, ResolvedRequest, Resolver, system_resolver

Listener = Callable[[Event], None]
#: Events a private (unshared) run keeps: its one viewer joins in the turn
#: the run starts and gets them from the backlog (``start``, and ``end`` when
#: the spawn failed); after that it has every event already.  Each event kept
#: is about 1 KB of dicts and strings per session (bench/PROFILE.md).
PRIVATE_BACKLOG = 2
log = Logger(namespace="pingu")


class Run:
    """One tool process and what it said.

    Viewers are keyed by anything hashable (a connection, a WAMP session
    id); each may belong to a client, whose quota of watched runs it uses.
    The run keeps its events in a bounded backlog.
    """

    def __init__(
        self,
        hub: RunHub,
        run_id: str,
        request: ResolvedRequest,
        client: Optional[str],
        shared: bool,
        mode: str = "ws",
    ) -> None:
        self.hub = hub
        self.id = run_id
        self.request = request
        self.tool = tools.get(request.tool)
        self.client = client
        self.shared = shared
        #: how its events reach viewers (a label of the metrics): ws, json, wamp
        self.mode = mode
        self.started = hub.reactor.seconds()
        # Only a shared run can have late viewers; a private run's one viewer
        # joins in the turn the run starts, so a few events are plenty
        # (--max-backlog events of every private run would be gigabytes).
        self.backlog = (
            Backlog(hub.limits.max_backlog, hub.budget) if shared else Backlog(PRIVATE_BACKLOG)
        )
        self.viewers: dict[Any, Optional[Listener]] = {}
        self.listeners: list[Listener] = []
        #: who gets each event: the listeners, then the viewers' listeners
        #: (made again when either changes, not per event: one line's cost)
        self._audience: tuple[Listener, ...] = ()
        #: events still go to the backlog: a private run's stop once its one
        #: viewer has them (an append and a drop per line spared)
        self._keeping = True
        self.ended = False
        self.end_event: Optional[Event] = None
        self.done: defer.Deferred[Event] = defer.Deferred()
        self.argv: list[str] = []
        self.process: Optional[PingProcess] = None
        self._parser = self.tool.parser(request, hub.limits)
        self._stopped_by: Optional[str] = None  # "client", "ceiling", "viewers", "shutdown"
        self._ceiling_call: Optional[Any] = None
        self._emitted = 0
        # viewer key -> its client, and how many viewers each client has here
        self._viewer_client: dict[Any, str] = {}
        self._clients = Counter()

    # -- viewers ---------------------------------------------------------------

    def add_viewer(
        self, key: Any, listener: Optional[Listener] = None, client: Optional[str] = None
    ) -> list[Event]:
        """Add a viewer; returns the events so far, after which ``listener``
        (if any) gets every new event.

        A viewer keeps the run alive.  A viewer without a listener only
        counts: the WAMP face publishes through one listener of its own
        (:meth:`add_listener`) and counts its subscribers as viewers.  A
        viewer of a ``client`` that watches ``--max-watched-per-client``
        other runs already is refused (:class:`Refused`) and not counted."""
        if client is not None and key not in self._viewer_client:
            if not self._clients[client]:
                self.hub.watch(client)
            self._viewer_client[key] = client
            self._clients.add(client)
        self.viewers[key] = listener
        self._regroup()
        kept = list(self.backlog)
        if not self.shared:
            self._keeping = False
        return kept

    def watched_by(self, client: str) -> bool:
        """Does ``client`` watch this run already (its quota is used)?"""
        return self._clients[client] > 0

    def add_listener(self, listener: Listener) -> list[Event]:
        """Get every new event without counting as a viewer; returns the
        events so far."""
        self.listeners.append(listener)
        self._regroup()
        return list(self.backlog)

    def remove_viewer(self, key: Any) -> None:
        """Drop a viewer; a run nobody watches any more is stopped at once."""
        if key in self.viewers:
            del self.viewers[key]
            self._regroup()
            self._forget_client_of(key)
            if not self.viewers:
                self.stop("viewers")

    def _forget_client_of(self, key: Any) -> None:
        client = self._viewer_client.pop(key, None)
        if client is not None:
            self._clients.remove(client)
            if not self._clients[client]:
                self.hub.unwatch(client)

    @property
    def age(self) -> float:
        """Seconds since the run started."""
        return self.hub.reactor.seconds() - self.started

    def describe(self) -> dict[str, Any]:
        """What ``runs()`` shows of a run."""
        return {
            "run": self.id,
            "target": self.request.target,
            "address": self.request.address,
            "family": self.request.family,
            "options": self.request.options.as_dict(),
            "age_s": round(self.age, 3),
            "viewers": len(self.viewers),
        }

    # -- life ------------------------------------------------------------------

    def spawn(self) -> None:
        """Start the tool (called by the hub)."""
        limits = self.hub.limits
        self.argv = self.tool.argv(self.hub.executables[self.tool.name], self.request, limits)
        self.process = PingProcess(
            self.hub.reactor, self._line, self._exited, limits.grace, limits.max_line, self._pending
        )
        self._emit(
            events.start(
                self.request.target,
                self.request.address,
                self.request.family,
                self.request.options.as_dict(),
                self.tool.name,
            )
        )
        try:
            self.hub.spawner(self.hub.reactor, self.process, self.argv, dict(self.tool.env))
        except OSError as e:
            log.error(
                "pingu: cannot start {tool}: {error}",
                tool=self.argv[0],
                error=str(e),
                event="spawn_failed",
                run=self.id,
            )
            self._finish("spawn-failed", None, None)
            return
        # The tool keeps its own count and deadline; this is the server's ceiling.
        self._ceiling_call = self.hub.reactor.callLater(limits.max_duration, self.stop, "ceiling")

    def stop(self, why: str = "client") -> None:
        """Stop the tool.  A client's ``stop`` (and a ceiling) sends SIGINT so
        that ping still prints its statistics; a run whose viewers are gone,
        or a server shutting down, starts at SIGTERM."""
        if self.ended:
            return
        if self._stopped_by is None or why in ("viewers", "shutdown"):
            self._stopped_by = why
        if self.process is not None:
            self.process.stop("INT" if why in ("client", "ceiling") else "TERM")

    def _line(self, text: str, fd: int) -> None:
        for event in self._parser.feed(text):
            self._emit(event)

    def _pending(self, text: str, fd: int) -> None:
        for event in self._parser.pending(text):
            self._emit(event)

    def _exited(self, exit_code: Optional[int], signal: Optional[int]) -> None:
        for event in self._parser.finish():
            self._emit(event)
        self._finish(self._how(exit_code, signal), exit_code, signal)

    def _how(self, exit_code: Optional[int], signal: Optional[int]) -> str:
        if self._stopped_by == "shutdown":
            return "shutdown"
        if self._stopped_by == "ceiling":
            return "ceiling"
        return self.tool.how(exit_code, signal, self._parser, self.request, self.hub.limits)

    def _finish(self, how: str, exit_code: Optional[int], signal: Optional[int]) -> None:
        if self.ended:
            return
        self.ended = True
        if self._ceiling_call is not None and self._ceiling_call.active():
            self._ceiling_call.cancel()
        end = events.end(how, exit_code, signal, self.age, self.tool.name)
        self.end_event = end
        self._emit(end)
        for key in list(self._viewer_client):
            self._forget_client_of(key)  # an ended run costs nobody's quota
        self.hub._ended(self)
        self.done.callback(end)

    def _emit(self, event: Event) -> None:
        # n numbers a run's events from 1: a viewer that has the backlog and
        # the live events can drop what it has twice and see any gap.
        self._emitted += 1
        event["n"] = self._emitted
        event["t"] = round(self.hub.clock_time(), 6)
        if self._keeping:
            self.backlog.append(event)
        for listener in self._audience:
            listener(event)

    def _regroup(self) -> None:
        # A new tuple: an emit under way goes on with the one it started with.
        self._audience = (*self.listeners, *(v for v in self.viewers.values() if v is not None))


class RunHub:
    """All runs of one server: start, share, count, stop.

    Both faces hold one hub and find there all a request needs: the limits,
    the resolver, the address policy and the executables of the tools
    (``ping`` is the ping executable's absolute path; ``executables`` the
    others', by tool name).  ``clock_time`` is the wall clock used for event
    timestamps (``reactor.seconds`` measures ages and may be a fake clock in
    tests).
    """

    def __init__(
        self,
        reactor: Any,
        ping: str,
        limits: Limits,
        resolver: Optional[Resolver] = None,
        policy: Optional[Policy] = None,
        clock_time: Optional[Callable[[], float]] = None,
        spawner: Callable[..., Any] = spawn,
        executables: Optional[dict[str, str]] = None,
        metrics: Optional[Metrics] = None,
        start_wait: Optional[Callable[[], float]] = None,
    ) -> None:
        self.reactor = reactor
        self.executables = {"ping": ping, **(executables or {})}
        self.limits = limits
        self.resolver = resolver if resolver is not None else system_resolver(reactor)
        self.policy = policy if policy is not None else Policy()
        self.clock_time = clock_time or time.time
        self.spawner = spawner  # process.spawn; tests pass one that records argv
        self.budget = ByteBudget(limits.max_backlog_bytes)
        self.runs: dict[str, Run] = {}
        self._shared: dict[Any, Run] = {}
        self._runs_of = Counter()  # runs started, per client
        #: how many runs each client keeps alive (watches)
        self.watched = Counter()
        self._starts = RateLimit(limits.max_starts_per_second)
        self._serial = itertools.count(1)
        self.shutting_down = False
        #: name lookups in flight, per client (``total`` over all): :mod:`pingu.pipeline`'s
        self.resolving = Counter()
        #: how far behind the process is (:mod:`pingu.lag`: the loop's lag, and
        #: ``start_wait()``, how long its oldest start has waited), against --max-lag:
        #: one meter for both faces (the WebSocket server starts it once
        #: running, the WAMP node once it joins; starting is idempotent)
        self.lag = LagMeter(reactor, waits=(start_wait,) if start_wait else ())
        # A registry of this hub's own: hubs built by tests never share one.
        self.metrics = metrics if metrics is not None else Metrics()
        self.metrics.hub = self

    # -- admission ---------------------------------------------------------------

    def behind(self) -> Optional[Refused]:
        """The refusal of a new session or run while the process is more than
        ``--max-lag`` behind (:attr:`lag`), with when to come back; None when
        it keeps up.  Both faces ask before anything is started, so that what
        is admitted already keeps its pace."""
        lag = self.lag.lag()
        if lag <= self.limits.max_lag:
            return None
        return overloaded(self.lag.retry_after(lag))

    def admit(self, client: Optional[str], private: bool = True) -> None:
        """Raise :class:`Refused` if ``client`` may not ask for a run now.

        Called before resolving, so a refused client costs no lookup; this
        is also where a request is counted against the client's rate (a
        join too: it costs the node a lookup and a backlog).  The server's
        capacity is checked here only for a ``private`` run: a shared one may
        join a run that exists, which costs no process."""
        if self.shutting_down:
            raise busy("shutting-down", "the server is shutting down")
        if private:
            self._check_capacity(client)
        if client is not None and not self._starts.take(client, self.reactor.seconds()):
            raise busy(
                "too-many-starts",
                f"at most {self.limits.max_starts_per_second:g} starts per second per client",
            )

    def _check_capacity(self, client: Optional[str]) -> None:
        limits = self.limits
        if self.shutting_down:
            raise busy("shutting-down", "the server is shutting down")
        if len(self.runs) >= limits.max_runs:
            raise busy("too-many-runs", f"the server runs {limits.max_runs} pings already")
        if client is not None and self._runs_of[client] >= limits.max_runs_per_client:
            raise busy(
                "too-many-runs-per-client",
                f"at most {limits.max_runs_per_client} pings at once per client",
            )
        self._check_watch_quota(client)

    def _check_watch_quota(self, client: Optional[str]) -> None:
        if client is not None and self.watched[client] >= self.limits.max_watched_per_client:
            raise busy(
                "too-many-watched",
                f"at most {self.limits.max_watched_per_client} runs watched at once per client",
            )

    def watch(self, client: str) -> None:
        """``client`` starts watching one more run; :class:`Refused` over its quota."""
        self._check_watch_quota(client)
        self.watched.add(client)

    def unwatch(self, client: str) -> None:
        """``client`` no longer watches one of its runs."""
        self.watched.remove(client)

    # -- runs --------------------------------------------------------------------

    def start(
        self,
        request: ResolvedRequest,
        client: Optional[str] = None,
        shared: bool = False,
        mode: Optional[str] = None,
    ) -> Run:
        """Start a run (or, when ``shared``, join the identical one that runs).

        Limits are checked again here: a client may have started other runs
        while this one's name was being resolved.
        """
        if shared:
            existing = self.find_shared(request)
            if existing is not None:
                if client is not None and not existing.watched_by(client):
                    self._check_watch_quota(client)
                return existing
        self._check_capacity(client)
        run_id = f"{next(self._serial)}-{secrets.token_hex(4)}"
        run = Run(self, run_id, request, client, shared, mode or ("wamp" if shared else "ws"))
        self.runs[run_id] = run
        if client is not None:
            self._runs_of.add(client)
        if shared:
            self._shared[request.key()] = run
        self.metrics.run_started(run.tool.name, run.mode)
        run.spawn()
        return run

    def find_shared(self, request: ResolvedRequest) -> Optional[Run]:
        """The live shared run an identical request would join, if any."""
        run = self._shared.get(request.key())
        return run if run is not None and not run.ended else None

    def find(self, run_id: str) -> Optional[Run]:
        """The live run with this id, if any."""
        return self.runs.get(run_id)

    def _ended(self, run: Run) -> None:
        self.runs.pop(run.id, None)
        if self._shared.get(run.request.key()) is run:
            del self._shared[run.request.key()]
        if run.client is not None:
            self._runs_of.remove(run.client)
        end = run.end_event or {}
        self.metrics.run_ended(run.tool.name, str(end.get("how")))
        log.info(
            "run {run} client={client} tool={tool} target={target} address={address} "
            "options={options} duration={duration}s how={how} exit={exit_code}",
            run=run.id,
            client=run.client,
            tool=run.tool.name,
            target=run.request.target,
            address=run.request.address,
            options=run.request.options.as_dict(),
            duration=end.get("duration_s"),
            how=end.get("how"),
            exit_code=end.get("exit_code"),
            signal=end.get("signal"),
            mode=run.mode,
            event="run_ended",
        )
        if not run.backlog.retained:
            # Nobody keeps the events of an ended run for later viewers: they
            # no longer count against the budget of the live ones.
            run.backlog.detach()

    def shutdown(self) -> defer.Deferred[None]:
        """End every run (SIGTERM, then SIGKILL after the grace period); the
        Deferred fires when all children are gone."""
        self.shutting_down = True
        pending = [run.done for run in self.runs.values()]
        for run in list(self.runs.values()):
            run.stop("shutdown")
        return defer.DeferredList(pending).addCallback(lambda _: None)
