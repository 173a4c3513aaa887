#!/usr/bin/env python3
"""WAMP viewers for the fan-out scenario, on the bench's small client.

Each viewer is one WebSocket session with subprotocol ``wamp.2.json``: HELLO
(anonymous, realm ``realm``), CALL ``pingu.<node>.start(target, **options)``
(identical requests share one run), SUBSCRIBE to the run's topic; from then
on every EVENT is counted like a line (and its ``mono=`` timestamp read).

A start refused for load (the router's ``max_concurrency_reached``, the
node's ``pingu.error.busy``) is tried again as ``pingu watch`` and the page
try it (``pingu.cli.retry``: a wait with jitter, 5 tries); the result counts
the tries made again (``retries``).

The spec is wsclient.py's plus ``realm``, ``node``, ``target``, ``options``.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys

import wsclient
from wsclient import Run, Session, frame

from pingu.cli.retry import retry_delay


class Viewer(Session):
    control = True
    tries = 0

    def on_open(self) -> None:
        hello = [
            1,
            self.run.spec.get("realm", "pingu"),
            {"roles": {"caller": {}, "subscriber": {}}},
        ]
        self.transport.write(frame(1, json.dumps(hello).encode()))

    def on_control(self, payload: bytes, now: int) -> None:
        msg = json.loads(payload)
        kind = msg[0]
        if kind == 2:  # WELCOME
            self.start()
        elif kind == 8 and msg[1] == 48 and msg[2] == 1:  # ERROR of start
            args = msg[5] if len(msg) > 5 else []
            message = args[0] if args and isinstance(args[0], str) else None
            delay = retry_delay(msg[4], message, self.tries, random.random())
            if delay is None:
                self.fail("wamp " + json.dumps(msg)[:100])
                return
            self.tries += 1
            self.run.retries += 1
            asyncio.get_running_loop().call_later(delay, self.start)
        elif kind == 50 and msg[1] == 1:  # RESULT of start
            topic = msg[3][0]["topic"]
            self.transport.write(frame(1, json.dumps([32, 2, {}, topic]).encode()))
        elif kind == 33:  # SUBSCRIBED: events are data from now on
            self.control = False
        elif kind in (3, 8, 6):  # ABORT, ERROR, GOODBYE
            self.fail("wamp " + json.dumps(msg)[:100])

    def start(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        spec = self.run.spec
        call = [
            48,
            1,
            {},
            f"pingu.{spec['node']}.start",
            [spec.get("target", "127.0.0.1")],
            spec.get("options") or {},
        ]
        self.transport.write(frame(1, json.dumps(call).encode()))


class ViewerRun(Run):
    session_class = Viewer
    #: starts tried again after a refusal for load
    retries = 0


if __name__ == "__main__":
    sys.exit(wsclient.main(ViewerRun))
