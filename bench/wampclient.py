#!/usr/bin/env python3
"""WAMP viewers for the fan-out scenario, on the bench's small client.

Each viewer is one WebSocket session with subprotocol ``wamp.2.json``: HELLO
(anonymous, realm ``realm``), CALL ``pingu.<node>.start(target, **options)``
(identical requests share one run), SUBSCRIBE to the run's topic; from then
on every EVENT is counted like a line (and its ``mono=`` timestamp read).

The spec is wsclient.py's plus ``realm``, ``node``, ``target``, ``options``.
"""

from __future__ import annotations

import json
import sys

import wsclient
from wsclient import Run, Session, frame


class Viewer(Session):
    control = True

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
        spec = self.run.spec
        if kind == 2:  # WELCOME
            call = [
                48,
                1,
                {},
                f"pingu.{spec['node']}.start",
                [spec.get("target", "127.0.0.1")],
                spec.get("options") or {},
            ]
            self.transport.write(frame(1, json.dumps(call).encode()))
        elif kind == 50 and msg[1] == 1:  # RESULT of start
            topic = msg[3][0]["topic"]
            self.transport.write(frame(1, json.dumps([32, 2, {}, topic]).encode()))
        elif kind == 33:  # SUBSCRIBED: events are data from now on
            self.control = False
        elif kind in (3, 8, 6):  # ABORT, ERROR, GOODBYE
            self.fail("wamp " + json.dumps(msg)[:100])


class ViewerRun(Run):
    session_class = Viewer


if __name__ == "__main__":
    sys.exit(wsclient.main(ViewerRun))
