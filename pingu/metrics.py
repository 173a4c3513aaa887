"""Prometheus metrics: every metric pingu exports, defined here and only here.

Each hub holds one :class:`Metrics` with a registry of its own (not
``prometheus_client``'s global one), so that tests and several hubs in one
process never clash.  What can be read from the hub's state when Prometheus
asks (runs alive, connections, buffered bytes, the backlog budget, the WAMP
session) is read then, by :class:`_StateCollector`; only what must be
counted as it happens has a hook: a run started or ended, a refusal, an
event delivered (one integer add per event, see :class:`Tally`), a lookup's
latency.

No label value comes from a client: tools and how a run ended are pingu's
own names, a refusal's reason is one of :data:`REFUSAL_REASONS` (anything
else is counted as ``other``), modes are :data:`MODES`, and node names are
the operator's.  A scrape is rendered in the reactor's thread
(:class:`MetricsResource`), so the collector reads the hub's state without
locks, and a scrape never waits for a thread that a slow DNS lookup holds.
"""

from __future__ import annotations

from typing import Any, Optional, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from twisted.web import resource

from pingu import __version__, events, tools

#: How a run reaches its viewers: the WebSocket text mode, ``pingu.json``, WAMP.
MODES = ("ws", "json", "wamp")

#: Every reason pingu refuses for: the only values of the ``reason`` label.
REFUSAL_REASONS = frozenset(
    {
        # the request's fields (pingu.request, pingu.refusal, the tools)
        "invalid", "invalid-json", "wrong-type", "out-of-range", "missing", "empty",
        "too-long", "too-big", "several-targets", "looks-like-option", "bad-name",
        "bad-address", "bad-characters", "ambiguous-number", "family-mismatch", "unknown-tool",
        "unknown-field", "not-installed",
        # a value outside a tool's fixed list (port, record type, method); a malformed URL
        "not-allowed", "bad-url",
        # the target
        "unresolved", "resolve-timeout", "forbidden",
        # limits
        "shutting-down", "too-many-runs", "too-many-runs-per-client", "too-many-starts",
        "too-many-watched", "too-many-lookups", "too-many-lookups-per-client",
        "too-many-calls", "too-many-calls-per-client", "connections", "handshakes", "busy",
        # the WebSocket face
        "host", "origin", "binary", "idle", "unexpected",
    }
)  # fmt: skip
OTHER = "other"

#: Buckets of the lookup latency, in seconds: a cached answer to a timeout.
RESOLVE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _tool(name: str) -> str:
    return name if name in tools.TOOLS else OTHER


class Tally:
    """A counter a hot path bumps with one integer add (``tally.value += 1``).

    ``prometheus_client``'s ``Counter.inc`` takes a lock and checks its
    argument: about 2 µs, as much as framing the message it would count.
    The collector reads the value when Prometheus asks."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


class NodeGauges(Protocol):
    """What the metrics read of a WAMP node (pingu.wamp.state.NodeState)."""

    def joined(self) -> bool: ...

    def viewer_count(self) -> int: ...


class Metrics:
    """The metrics of one hub and the faces that serve it."""

    def __init__(self, registry: Optional[CollectorRegistry] = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._started = Counter(
            "pingu_runs_started",
            "Runs started (a shared run once, however many join it)",
            ["tool", "mode"],
            registry=r,
        )
        self._ended = Counter(
            "pingu_runs_ended", "Runs ended, by how they ended", ["tool", "how"], registry=r
        )
        self._refusals = Counter(
            "pingu_refusals",
            "Requests and connections refused, by reason",
            ["reason"],
            registry=r,
        )
        self.resolve_seconds = Histogram(
            "pingu_resolve_seconds",
            "Time a name lookup took (answered, failed or timed out)",
            buckets=RESOLVE_BUCKETS,
            registry=r,
        )
        #: events sent to viewers, by mode (one per output line in text mode)
        self.delivered = {mode: Tally() for mode in MODES}
        # Every series exists from the start, at zero: a rate over a counter
        # that appears only with its first increment misses that increment.
        for name in tools.TOOLS:
            for mode in MODES:
                self._started.labels(tool=name, mode=mode)
            for how in events.HOW_TEXT:
                self._ended.labels(tool=name, how=how)
        for reason in (*sorted(REFUSAL_REASONS), OTHER):
            self._refusals.labels(reason=reason)
        #: what the collector reads (set by the hub, the web face and the nodes)
        self.hub: Optional[Any] = None
        self.factory: Optional[Any] = None
        self.nodes: dict[str, Optional[NodeGauges]] = {}
        r.register(_StateCollector(self))

    # -- hooks: one call each, none per output line ----------------------------

    def run_started(self, tool: str, mode: str) -> None:
        """A run started a process."""
        self._started.labels(tool=_tool(tool), mode=mode if mode in MODES else OTHER).inc()

    def run_ended(self, tool: str, how: str) -> None:
        """A run ended."""
        how = how if how in events.HOW_TEXT else OTHER
        self._ended.labels(tool=_tool(tool), how=how).inc()

    def refused(self, reason: str) -> None:
        """A request or a connection was refused for ``reason``."""
        self._refusals.labels(reason=reason if reason in REFUSAL_REASONS else OTHER).inc()

    def node(self, name: str, state: Optional[NodeGauges] = None) -> None:
        """The WAMP node ``name`` (an operator's name): its state while it is
        attached to its router, None while not."""
        self.nodes[name] = state


class _StateCollector(Collector):
    """Gauges read from the hub's and the faces' state at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> list[Metric]:
        m = self.metrics
        info = GaugeMetricFamily("pingu_info", "pingu's version", labels=["version"])
        info.add_metric([__version__], 1)
        delivered = CounterMetricFamily(
            "pingu_events_delivered",
            "Events sent to viewers (text mode: one per output line; WAMP: publications)",
            labels=["mode"],
        )
        for mode, tally in m.delivered.items():
            delivered.add_metric([mode], tally.value)
        out: list[Metric] = [info, delivered]
        if m.hub is not None:
            out.extend(_hub_metrics(m.hub))
        if m.factory is not None:
            out.extend(_web_metrics(m.factory))
        if m.nodes:
            out.extend(_node_metrics(m.nodes))
        return out


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _hub_metrics(hub: Any) -> list[Metric]:
    live = GaugeMetricFamily("pingu_runs_live", "Runs alive now", labels=["tool", "mode"])
    counts: dict[tuple[str, str], int] = {(name, mode): 0 for name in tools.TOOLS for mode in MODES}
    children = 0
    for run in list(hub.runs.values()):
        key = (_tool(run.tool.name), run.mode)
        counts[key] = counts.get(key, 0) + 1
        process = run.process
        # Spawned and not reaped: a child whose spawn thread has not reported
        # its pid yet is running already (its output may even have arrived).
        if process is not None and not process.ended and process.transport is not None:
            children += 1
    for (name, mode), count in counts.items():
        live.add_metric([name, mode], count)
    return [
        live,
        _gauge("pingu_child_processes", "Tool processes running now", children),
        _gauge("pingu_resolving", "Name lookups in flight", hub.resolving.total),
        _gauge("pingu_backlog_bytes", "Bytes the shared backlogs hold", hub.budget.used),
        _gauge(
            "pingu_backlog_budget_bytes",
            "The shared backlogs' byte budget (--max-backlog-bytes)",
            hub.budget.limit,
        ),
    ]


def _web_metrics(factory: Any) -> list[Metric]:
    connections = list(factory.connections)
    buffered = sum(proto._buffered() for proto in connections)
    guard = factory.handshakes
    return [
        _gauge("pingu_connections_open", "WebSocket connections open", len(connections)),
        _gauge(
            "pingu_clients_connected",
            "Distinct clients with an open WebSocket",
            factory.clients_connected(),
        ),
        _gauge(
            "pingu_handshakes_pending",
            "Sockets in their HTTP request or WebSocket upgrade",
            guard.pending.total if guard is not None else 0,
        ),
        _gauge(
            "pingu_buffered_bytes",
            "Bytes written to WebSocket clients, not read yet",
            buffered,
        ),
    ]


def _node_metrics(nodes: dict[str, Optional[NodeGauges]]) -> list[Metric]:
    connected = GaugeMetricFamily(
        "pingu_wamp_connected", "1 while the node is joined to its router", labels=["node"]
    )
    viewers = GaugeMetricFamily(
        "pingu_wamp_viewers", "WAMP sessions watching the node's runs", labels=["node"]
    )
    for name, state in sorted(nodes.items()):
        joined = state is not None and state.joined()
        connected.add_metric([name], 1 if joined else 0)
        viewers.add_metric([name], state.viewer_count() if state is not None and joined else 0)
    return [connected, viewers]


class ParentCollector(Collector):
    """A ``--workers`` parent's own metric: the connections it closed without
    handing them to a worker (:class:`pingu.handoff.Drops`), by reason."""

    def __init__(self, drops: Any) -> None:
        self.drops = drops

    def collect(self) -> list[Metric]:
        dropped = CounterMetricFamily(
            "pingu_parent_dropped",
            "Connections the --workers parent closed without handing them to a worker",
            labels=["reason"],
        )
        for reason, count in self.drops.counts.items():
            dropped.add_metric([reason], count)
        return [dropped]


def parent_registry(drops: Any) -> CollectorRegistry:
    """The registry a ``--workers`` parent serves to whoever gathers."""
    registry = CollectorRegistry()
    registry.register(ParentCollector(drops))
    return registry


class MetricsResource(resource.Resource):
    """``/metrics``: the registry in Prometheus' text format (or OpenMetrics,
    when the scraper asks for it).

    Rendered in the reactor's thread, unlike ``prometheus_client.twisted``'s
    WSGI resource: that one runs in the reactor's thread pool, which pingu's
    name lookups share (a flood of slow lookups would hold up the scrape
    that should show it), and would read the hub's state from another
    thread."""

    isLeaf = True

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()
        self.registry = registry

    def render_GET(self, request: Any) -> bytes:
        return exposition(request, self.registry)


class AllowedNetworks(resource.Resource):
    """``/metrics`` on the page's own port, for ``--metrics-allow`` networks
    only: a scraper whose TCP peer address is in one of ``networks`` gets
    ``metrics`` (a :class:`MetricsResource`, or the workers' gathered one);
    anybody else gets the 404 of a page that has no /metrics.

    The TCP peer, never a forwarded header: behind a proxy every request
    comes from the proxy, and a header is whatever the client wrote."""

    isLeaf = True

    def __init__(self, metrics: resource.Resource, networks: tuple[Any, ...]) -> None:
        super().__init__()
        self.metrics = metrics
        self.networks = networks

    def render(self, request: Any) -> Any:
        from pingu.clients import client_key, in_networks

        # client_key: an IPv4-mapped peer (a tcp6 port) is its IPv4 address
        peer = client_key(getattr(request.getClientAddress(), "host", None), 128)
        if in_networks(peer, self.networks):
            return self.metrics.render(request)
        return resource.NoResource().render(request)


def exposition(request: Any, registry: CollectorRegistry) -> bytes:
    """``registry`` in the format the scraper asked for (``Accept``), with
    the answer's headers set on ``request``."""
    accept = (request.getHeader(b"accept") or b"").decode("latin-1")
    encoder, content_type = choose_encoder(accept)
    request.setHeader(b"content-type", content_type.encode("ascii"))
    request.setHeader(b"cache-control", b"no-store")
    return bytes(encoder(registry))
