"""The one definition of pingu's wire vocabulary.

Every face (the plain WebSocket in both its modes, WAMP, the ``pingu watch``
client, the page) speaks in the event dicts built here, with the close codes
and the ending reasons defined here.  Nothing in this module does I/O.

An event is a plain ``dict`` that JSON-encodes as it is:

``type``
    one of :data:`EVENT_TYPES`.
``raw``
    the output line(s) of the tool the event came from, without newline, or
    ``None`` for events that no output line produced (``start``, ``end``,
    ``error``).  A ``summary`` built from two lines carries both, joined by
    ``"\\n"``.
``t``
    server time (seconds since the epoch) at which the event was made, added
    by the run, not by the parser.
``n``
    the event's number in its run, from 1, added by the run: a viewer that
    gets a backlog and live events drops what it has twice and sees gaps.

The remaining keys depend on the type; see :func:`start`, :func:`reply`,
:func:`timeout`, :func:`line`, :func:`summary`, :func:`end`, :func:`error`.
"""

from __future__ import annotations

import enum
import json
from typing import Any, Optional

Event = dict[str, Any]

START = "start"
REPLY = "reply"
TIMEOUT = "timeout"
LINE = "line"
SUMMARY = "summary"
END = "end"
ERROR = "error"
HOP = "hop"
HOP_STATS = "hop_stats"
EVENT_TYPES = (START, REPLY, TIMEOUT, LINE, SUMMARY, END, ERROR, HOP, HOP_STATS)

#: Subprotocols offered by the WebSocket face.
SUBPROTOCOL_TEXT = "pingu"
SUBPROTOCOL_JSON = "pingu.json"


class CloseCode(enum.IntEnum):
    """WebSocket close codes pingu sends (Autobahn allows 1000 and 3000-4999).

    40xx say how a run ended; 44xx say why a request was refused; 45xx are
    the server's own trouble.  WAMP errors reuse the names (see
    :data:`ERROR_URIS`).
    """

    #: the run completed: the tool exited 0 and its target answered (ping: at
    #: least one reply came back), also after ``stop``.
    NORMAL = 1000
    #: the server is shutting down.
    GOING_AWAY = 1001
    #: the target never answered: ping exited 1 (no reply at all, or fewer than
    #: ``count`` by a deadline); traceroute and mtr never reached it; tcp, dns
    #: and http got no answer in the whole run.
    NO_REPLY = 4000
    #: the tool itself reported an error (ping exited 2 or any other status;
    #: traceroute and mtr exited non-zero).
    PING_ERROR = 4001
    #: the tool was ended by a signal it did not choose (crash, or killed
    #: after ignoring INT and TERM).
    SIGNAL = 4002
    #: a server ceiling (``--max-duration``, ``--max-count``, mtr's
    #: ``--max-rounds``) ended the run.
    CEILING = 4003
    #: the request is malformed or out of range (bad target, out-of-range
    #: option, bad JSON, unknown field).
    BAD_REQUEST = 4400
    #: the target name does not resolve (to an address of the asked family).
    UNRESOLVED = 4404
    #: the target's address is refused by the policy (multicast, broadcast,
    #: ``--public``, ``--deny``, not in ``--allow``; a port outside ``--allow-port``).
    FORBIDDEN = 4403
    #: a message arrived that this state of the session cannot take
    #: (anything but ``stop`` while a run is live).
    UNEXPECTED = 4409
    #: the message is larger than ``--max-message`` (above 64 KiB Autobahn
    #: closes with 1009 before reading it whole).
    TOO_BIG = 4413
    #: a binary frame: pingu speaks text only.
    UNSUPPORTED_DATA = 4415
    #: a limit on runs, starts or connections was reached; try again later.
    BUSY = 4429
    #: the client sent no request in time (``--idle-timeout``), or stopped
    #: answering.
    IDLE = 4408
    #: the tool could not be started (missing executable, not permitted, no
    #: descriptor left).
    SPAWN_FAILED = 4500
    #: the server is behind its load (``--max-lag``): nothing was started;
    #: the reason says when to try again ("busy, retry in N s"). A WAMP
    #: node refuses ``start`` so, as ``pingu.error.busy``.
    OVERLOADED = 4503


#: How a run ended, in ``end`` events (``how``), and the close code it maps to.
HOW_CLOSE = {
    "completed": CloseCode.NORMAL,
    "no-reply": CloseCode.NO_REPLY,
    "ping-error": CloseCode.PING_ERROR,
    "signal": CloseCode.SIGNAL,
    "ceiling": CloseCode.CEILING,
    "shutdown": CloseCode.GOING_AWAY,
    "spawn-failed": CloseCode.SPAWN_FAILED,
}

#: Short reason texts for close frames (a close reason is at most 123 bytes).
HOW_TEXT = {
    "completed": "{tool} completed",
    "no-reply": "{tool} got no reply",
    "ping-error": "{tool} reported an error",
    "signal": "{tool} was ended by a signal",
    "ceiling": "a server limit ended the run",
    "shutdown": "server shutting down",
    "spawn-failed": "{tool} could not be started",
}

#: WAMP error URIs for refusals, keyed by the close code of the same meaning.
#: A node behind its load (4503) refuses ``start`` as busy too: the same URI,
#: its own code in the error's ``code``, and "busy, retry in N s".
ERROR_URIS = {
    CloseCode.BAD_REQUEST: "pingu.error.invalid_request",
    CloseCode.UNRESOLVED: "pingu.error.unresolved",
    CloseCode.FORBIDDEN: "pingu.error.forbidden",
    CloseCode.BUSY: "pingu.error.busy",
    CloseCode.SPAWN_FAILED: "pingu.error.spawn_failed",
    CloseCode.UNEXPECTED: "pingu.error.unexpected",
    CloseCode.TOO_BIG: "pingu.error.too_big",
    CloseCode.OVERLOADED: "pingu.error.busy",
}


#: WAMP names, one definition for the node, the watcher and the page
#: (``web/vocabulary.js`` is generated from these by :func:`javascript`).
#: Procedures and topics of node ``<node>`` are ``pingu.<node>.<name>``.
WAMP_PREFIX = "pingu"
#: Answered by any one node: the names of every node on the router.
NODES_PROCEDURE = "pingu.nodes"
#: Published when a node joins: ``{"node": name}``.
JOINED_TOPIC = "pingu.nodes.joined"
#: The WAMP error of a run id that is not (or no longer) known.
NO_SUCH_RUN = "pingu.error.no_such_run"
#: The router's answer to a call of a procedure for which it holds as many
#: calls as the node registered it with (``MAX_PENDING_CALLS`` in
#: :mod:`pingu.wamp.node`): the node is behind, the viewer tries again later.
MAX_CONCURRENCY_REACHED = "crossbar.error.max_concurrency_reached"
#: The WAMP-CRA principal (authid) nodes authenticate as.
NODE_AUTHID = "pingu-node"
#: The environment variable that holds the nodes' shared secret (router and nodes).
SECRET_ENV = "PINGU_WAMP_SECRET"
#: The per-node procedures, by short name.
NODE_PROCEDURES = ("start", "backlog", "stop", "runs", "limits", "tools")


def node_uri(node: str, name: str) -> str:
    """``pingu.<node>.<name>``: one of a node's procedures (or its run topics' stem)."""
    return f"{WAMP_PREFIX}.{node}.{name}"


def run_topic(node: str, run_id: str) -> str:
    """The topic a run's events are published on."""
    return f"{WAMP_PREFIX}.{node}.run.{run_id}"


def how_from_exit(exit_code: Optional[int], signal: Optional[int]) -> str:
    """Name how ping ended from its exit status alone (every other tool
    decides in its own ``how``)."""
    if exit_code is None:
        return "signal"
    if exit_code == 0:
        return "completed"
    if exit_code == 1:
        return "no-reply"
    return "ping-error"


def start(
    target: str, address: str, family: int, options: dict[str, Any], tool: str = "ping"
) -> Event:
    """The run has been spawned: what was asked, what is probed, with which
    tool (a name of :mod:`pingu.tools`) and options."""
    return {
        "type": START,
        "raw": None,
        "tool": tool,
        "target": target,
        "address": address,
        "family": family,
        "options": dict(options),
    }


def reply(
    raw: str,
    seq: Optional[int],
    ttl: Optional[int],
    rtt_ms: Optional[float],
    nbytes: Optional[int],
    source: Optional[str],
    dup: bool = False,
) -> Event:
    """One echo reply: ``from`` is the replying address as ping printed it."""
    return {
        "type": REPLY,
        "raw": raw,
        "seq": seq,
        "ttl": ttl,
        "rtt_ms": rtt_ms,
        "bytes": nbytes,
        "from": source,
        "dup": dup,
    }


def timeout(raw: str, seq: Optional[int]) -> Event:
    """ping reported that the reply to ``seq`` did not come (in time)."""
    return {"type": TIMEOUT, "raw": raw, "seq": seq}


def line(raw: str, **extra: Any) -> Event:
    """Any other output line.  ``extra`` may carry what the parser could tell,
    for example ``seq`` and ``error`` for an ICMP error report."""
    event: Event = {"type": LINE, "raw": raw}
    event.update(extra)
    return event


def summary(
    raw: str,
    transmitted: Optional[int],
    received: Optional[int],
    loss_pct: Optional[float],
    time_ms: Optional[float] = None,
    errors: Optional[int] = None,
    duplicates: Optional[int] = None,
    rtt_min: Optional[float] = None,
    rtt_avg: Optional[float] = None,
    rtt_max: Optional[float] = None,
    rtt_mdev: Optional[float] = None,
) -> Event:
    """ping's closing statistics (``None`` where ping did not print a figure)."""
    return {
        "type": SUMMARY,
        "raw": raw,
        "transmitted": transmitted,
        "received": received,
        "loss_pct": loss_pct,
        "time_ms": time_ms,
        "errors": errors,
        "duplicates": duplicates,
        "min_ms": rtt_min,
        "avg_ms": rtt_avg,
        "max_ms": rtt_max,
        "mdev_ms": rtt_mdev,
    }


def hop(
    raw: str, number: int, address: Optional[str], rtt_ms: list[Optional[float]], **extra: Any
) -> Event:
    """One hop of a path (traceroute, mtr): ``hop`` from 1, ``address`` or
    ``None`` for ``*``, one ``rtt_ms`` per probe (``None`` for a lost one)."""
    event: Event = {"type": HOP, "raw": raw, "hop": number, "address": address, "rtt_ms": rtt_ms}
    event.update(extra)
    return event


def hop_stats(
    raw: Optional[str],
    number: int,
    addresses: list[str],
    sent: int,
    received: int,
    last_ms: Optional[float],
    best_ms: Optional[float],
    avg_ms: Optional[float],
    worst_ms: Optional[float],
    stdev_ms: Optional[float],
    jitter_ms: Optional[float],
) -> Event:
    """mtr's statistics of one hop after a round: what it sent and got back."""
    loss = round(100.0 * (sent - received) / sent, 1) if sent else None
    return {
        "type": HOP_STATS,
        "raw": raw,
        "hop": number,
        "address": addresses[0] if addresses else None,
        "addresses": list(addresses),
        "sent": sent,
        "received": received,
        "loss_pct": loss,
        "last_ms": last_ms,
        "best_ms": best_ms,
        "avg_ms": avg_ms,
        "worst_ms": worst_ms,
        "stdev_ms": stdev_ms,
        "jitter_ms": jitter_ms,
    }


def end(
    how: str,
    exit_code: Optional[int],
    signal: Optional[int],
    duration_s: float,
    tool: str = "ping",
) -> Event:
    """The run is over: ``how`` is a key of :data:`HOW_CLOSE` (``ping-error``
    means the tool itself reported an error, whichever tool it is)."""
    return {
        "type": END,
        "raw": None,
        "how": how,
        "exit_code": exit_code,
        "signal": signal,
        "code": int(HOW_CLOSE[how]),
        "message": HOW_TEXT[how].format(tool=tool),
        "duration_s": round(duration_s, 3),
    }


def error(code: CloseCode, reason: str, message: str, field: Optional[str] = None) -> Event:
    """A refusal: ``reason`` is a short stable tag, ``message`` is for people."""
    event: Event = {
        "type": ERROR,
        "raw": None,
        "code": int(code),
        "reason": reason,
        "message": message,
    }
    if field is not None:
        event["field"] = field
    return event


#: One encoder for every event: json.dumps with options builds a new
#: JSONEncoder on each call.
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def encode(event: Event) -> str:
    """The one JSON encoding of an event (compact, UTF-8 safe)."""
    return _ENCODE(event)


def javascript() -> str:
    """The vocabulary as an ES module for the page (``web/vocabulary.js``)."""
    names = {
        "EVENT_TYPES": list(EVENT_TYPES),
        "SUBPROTOCOL_TEXT": SUBPROTOCOL_TEXT,
        "SUBPROTOCOL_JSON": SUBPROTOCOL_JSON,
        "CLOSE_CODES": {code.name: int(code) for code in CloseCode},
        "HOW_CLOSE": {how: int(code) for how, code in HOW_CLOSE.items()},
        "ERROR_URIS": {CloseCode(code).name: uri for code, uri in ERROR_URIS.items()},
        "WAMP_PREFIX": WAMP_PREFIX,
        "NODES_PROCEDURE": NODES_PROCEDURE,
        "JOINED_TOPIC": JOINED_TOPIC,
        "NO_SUCH_RUN": NO_SUCH_RUN,
        "MAX_CONCURRENCY_REACHED": MAX_CONCURRENCY_REACHED,
        "NODE_PROCEDURES": list(NODE_PROCEDURES),
    }
    lines = [
        "// Generated from pingu/events.py by `python -m pingu.events > web/vocabulary.js`;",
        "// do not edit (tests/test_events.py checks that it matches).",
    ]
    for name, value in names.items():
        text = json.dumps(value)
        frozen = text if isinstance(value, str) else f"Object.freeze({text})"
        lines.append(f"export const {name} = {frozen};")
    lines.append(
        "export const nodeUri = (node, name) => `${WAMP_PREFIX}.${node}.${name}`;"
    )
    lines.append(
        "export const runTopic = (node, run) => `${WAMP_PREFIX}.${node}.run.${run}`;"
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(javascript(), end="")
