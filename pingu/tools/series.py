"""Statistics of a series of probes (loss, min/avg/max, p95, jitter), for
the tools whose output has no closing statistics of pingu's shape: each
keeps a :class:`Series` and ends its output with :meth:`Series.summary`."""

from __future__ import annotations

import math
from typing import Optional

from pingu import events
from pingu.events import Event


class Series:
    """The round-trip times of one run's probes, in the order they came."""

    def __init__(self) -> None:
        self.sent = 0
        self.rtts: list[float] = []

    def probe(self) -> int:
        """One more probe sent; its number, from 1."""
        self.sent += 1
        return self.sent

    def answered(self, rtt_ms: float) -> None:
        """A probe's answer came, ``rtt_ms`` after it left."""
        self.rtts.append(rtt_ms)

    def summary(self, name: str) -> Event:
        """A ``summary`` event, with ``p95_ms`` (nearest rank) and
        ``jitter_ms`` (the mean difference of consecutive answers, as
        RFC 3550's jitter without its smoothing); its ``raw`` is one line
        that says the same, for the text face and the CLI."""
        received = len(self.rtts)
        loss = round(100.0 * (self.sent - received) / self.sent, 1) if self.sent else None
        low = high = mean = p95 = jitter = None
        if self.rtts:
            ordered = sorted(self.rtts)
            low, high = ordered[0], ordered[-1]
            mean = round(sum(ordered) / received, 3)
            p95 = ordered[max(0, math.ceil(0.95 * received) - 1)]
            steps = [abs(b - a) for a, b in zip(self.rtts, self.rtts[1:])]
            jitter = round(sum(steps) / len(steps), 3) if steps else 0.0
        raw = f"--- {name} statistics: {self.sent} probes, {received} answered, " + (
            f"{loss:g}% loss" if loss is not None else "no probe sent"
        )
        if low is not None:
            raw += f", rtt min/avg/max/p95 = {low:g}/{mean:g}/{high:g}/{p95:g} ms"
            raw += f", jitter {jitter:g} ms"
        event = events.summary(raw, self.sent, received, loss, None, None, None, low, mean, high)
        event["p95_ms"] = p95
        event["jitter_ms"] = jitter
        return event


def seconds(token: str) -> Optional[float]:
    """``"(0.0013s)"`` as 0.0013; None for anything else."""
    if not (token.startswith("(") and token.endswith("s)")):
        return None
    try:
        value = float(token[1:-2])
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None
