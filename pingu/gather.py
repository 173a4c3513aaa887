"""``/metrics`` with ``--workers N``: every worker's metrics in one answer.

Each worker serves its own registry on a Unix socket in a private folder
the parent made (``worker-I.sock``).  Whoever answers a scrape (the worker
the scraper's connection went to, or the parent on ``--metrics-port``)
asks all of them, in parallel, and answers with every sample labelled
``worker="I"`` and ``pingu_worker_up{worker="I"}`` 1 or 0, so that a
scrape sees the whole server and a worker that does not answer shows.
Prometheus sums across the label (``sum without (worker) (...)``).  The
parent serves its own metrics the same way (``parent.sock``), merged
without a ``worker`` label.

One gather costs every worker a render of its registry (about 22 ms each
with two workers, issue 17), so a flood of scrapes would keep every worker
busy: one gathered answer serves every scrape for :data:`FRESH` seconds,
and scrapes that come while a gather is under way wait for that one.
``pingu_metrics_gathers`` counts the gathers this process made.

Why not ``prometheus_client``'s multiprocess mode (each process writes its
values to files in ``PROMETHEUS_MULTIPROC_DIR``, any process sums them):
it keeps only what is written as it changes, and ignores custom collectors,
while most of pingu's metrics are read from the hub's state when Prometheus
asks (:class:`pingu.metrics._StateCollector`: runs alive, connections,
bytes buffered, which changes with every write) and the hot counter is a
plain integer add (:class:`pingu.metrics.Tally`).  Measured 2026-12-06
(``bench/libcosts.py``: timeit, best of 5, the shared 2-core machine
under load 4 to 6): ``Counter.inc`` 280 ns (0.9 to 1 µs with its label
looked up), 660 to 830 ns in multiprocess mode, a ``Tally`` add 20 ns;
one message costs 3 to 7 µs to send (:mod:`pingu.sendpath`), so a
multiprocess counter per event would add a tenth to a quarter to it.
Nor does it say which worker is down (``pingu_worker_up``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, Optional

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from twisted.internet import defer
from twisted.internet.endpoints import UNIXClientEndpoint
from twisted.web import resource, server
from twisted.web.client import Agent, readBody
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgentEndpointFactory
from zope.interface import implementer

from pingu.metrics import exposition

#: Seconds a worker has to answer before it counts as down for this scrape.
TIMEOUT = 5.0
#: Seconds one gathered answer serves every scrape (Prometheus scrapes every
#: 15 s or more: an answer a second old is as good as a new one).
FRESH = 1.0
#: What is asked of each worker.
OPENMETRICS = b"application/openmetrics-text; version=1.0.0; charset=utf-8"


def socket_path(folder: str, index: int) -> str:
    """Where worker ``index`` serves its metrics."""
    return os.path.join(folder, f"worker-{index}.sock")


def parent_socket_path(folder: str) -> str:
    """Where the parent serves its own (the connections it dropped)."""
    return os.path.join(folder, "parent.sock")


@implementer(IAgentEndpointFactory)
class _UnixEndpoints:
    def __init__(self, reactor: Any, path: str) -> None:
        self.reactor = reactor
        self.path = path

    def endpointForURI(self, uri: Any) -> Any:
        return UNIXClientEndpoint(self.reactor, self.path, timeout=TIMEOUT)


def fetch(reactor: Any, path: str) -> defer.Deferred[Optional[str]]:
    """One worker's exposition text, or None if it did not answer."""
    agent = Agent.usingEndpointFactory(reactor, _UnixEndpoints(reactor, path))
    # OpenMetrics keeps a counter's _created in its family (the classic text
    # format makes it a gauge of its own, which would clash when re-encoded).
    headers = Headers({b"accept": [OPENMETRICS]})
    d = agent.request(b"GET", b"http://worker/metrics", headers)

    def body(response: Any) -> Any:
        read = readBody(response)
        return read if response.code == 200 else read.addCallback(lambda _: None)

    d.addCallback(body)
    d.addTimeout(TIMEOUT, reactor)
    d.addCallbacks(lambda body: body.decode("utf-8") if body is not None else None, lambda _: None)
    return d


class _Gathered(Collector):
    """The families of every worker that answered, each sample labelled;
    parsed once, when gathered, however many scrapes it serves."""

    def __init__(
        self, answers: list[Optional[str]], parent: Optional[str], gathers: int
    ) -> None:
        up = GaugeMetricFamily(
            "pingu_worker_up", "Did this worker answer this scrape", labels=["worker"]
        )
        families: dict[str, Metric] = {}

        def merge(text: str, extra: dict[str, str]) -> None:
            for family in text_string_to_metric_families(text):
                merged = families.get(family.name)
                if merged is None:
                    merged = families[family.name] = Metric(
                        family.name, family.documentation, family.type, family.unit
                    )
                for sample in family.samples:
                    merged.samples.append(sample._replace(labels={**sample.labels, **extra}))

        for index, text in enumerate(answers):
            up.add_metric([str(index)], 0 if text is None else 1)
            if text is not None:
                merge(text, {"worker": str(index)})
        if parent is not None:
            merge(parent, {})
        gathered = CounterMetricFamily(
            "pingu_metrics_gathers",
            "Gathers of the workers' metrics this process made (one serves a second of scrapes)",
            value=gathers,
        )
        self.families: list[Metric] = [gathered, up, *families.values()]

    def collect(self) -> Iterable[Metric]:
        return self.families


class GatheredMetrics(resource.Resource):
    """``/metrics`` of the whole server, from the workers' sockets."""

    isLeaf = True

    def __init__(self, reactor: Any, folder: str, workers: int) -> None:
        super().__init__()
        self.reactor = reactor
        self.paths = [socket_path(folder, index) for index in range(workers)]
        self.parent_path = parent_socket_path(folder)
        self.gathers = 0
        #: the last gathered registry and when it was gathered
        self._fresh: Optional[tuple[float, CollectorRegistry]] = None
        #: the scrapes waiting for the gather under way (None: none is)
        self._waiting: Optional[list[defer.Deferred[CollectorRegistry]]] = None

    def registry(self) -> defer.Deferred[CollectorRegistry]:
        """The whole server's registry: the last one while it is fresh, else
        the one the gather under way (or a new one) brings."""
        now = self.reactor.seconds()
        if self._fresh is not None and now - self._fresh[0] < FRESH:
            return defer.succeed(self._fresh[1])
        mine: defer.Deferred[CollectorRegistry] = defer.Deferred()
        if self._waiting is not None:
            self._waiting.append(mine)
            return mine
        self._waiting = [mine]
        self.gathers += 1
        paths = [*self.paths, self.parent_path]
        gathered = defer.gatherResults([fetch(self.reactor, path) for path in paths])

        def done(texts: list[Optional[str]]) -> None:
            registry = CollectorRegistry(auto_describe=False)
            registry.register(_Gathered(texts[:-1], texts[-1], self.gathers))
            self._fresh = (self.reactor.seconds(), registry)
            waiting, self._waiting = self._waiting or [], None
            for d in waiting:
                d.callback(registry)

        def failed(failure: Any) -> None:
            waiting, self._waiting = self._waiting or [], None
            for d in waiting:
                d.errback(failure)

        gathered.addCallbacks(done, failed)
        return mine

    def render_GET(self, request: Any) -> Any:
        gathered = self.registry()
        gone: list[Any] = []
        request.notifyFinish().addBoth(gone.append)

        def answer(registry: CollectorRegistry) -> None:
            if gone:  # the scraper left before the workers answered
                return
            request.write(exposition(request, registry))
            request.finish()

        def failed(failure: Any) -> None:
            if not gone:
                request.processingFailed(failure)

        gathered.addCallback(answer)
        gathered.addErrback(failed)
        return server.NOT_DONE_YET

