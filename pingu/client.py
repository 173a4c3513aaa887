"""``pingu watch``: ping through a pingu server, printed as ping prints.

    pingu watch ws://127.0.0.1:8080/ws 127.0.0.1 [-c N] [-i S] [-s B] [-4|-6] [-w S]
    pingu watch --router ws://127.0.0.1:8081/ws --node NAME [--node NAME2] 127.0.0.1

The exit status is ping's own (0 replies, 1 no reply, 2 error); a refusal
by the server exits 2 with its message on stderr.  Ctrl-C asks the server to
stop ping, so its statistics still print, as with ping itself.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Any, Optional

from pingu import events
from pingu.events import SUBPROTOCOL_JSON

#: Exit status when the server refused, or the connection failed.
EXIT_ERROR = 2


def exit_status(end: Optional[events.Event]) -> int:
    """ping's exit status from an ``end`` event (2 when there was none)."""
    if end is None:
        return EXIT_ERROR
    if end.get("exit_code") is not None:
        return int(end["exit_code"])
    # Ended by a signal: the shell's convention, 128 + signal number.
    return 128 + int(end.get("signal") or 0) if end.get("signal") else EXIT_ERROR


def request_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The structured request for the server, from the command line."""
    fields: dict[str, Any] = {"target": args.target}
    for name in ("count", "interval", "size", "deadline"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    if args.family is not None:
        fields["family"] = args.family
    return fields


class Printer:
    """Prints events' raw lines, with a ``node:`` prefix when asked."""

    def __init__(self, out: Any = None, err: Any = None, prefix: str = "") -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.prefix = prefix

    def event(self, event: events.Event) -> None:
        """Print one event."""
        if event["type"] == events.ERROR:
            self.err.write(f"{self.prefix}pingu: {event['message']}\n")
        elif event.get("raw") is not None:
            for raw in event["raw"].split("\n"):
                self.out.write(f"{self.prefix}{raw}\n")
        self.out.flush()


def watch_websocket(reactor: Any, url: str, fields: dict[str, Any], printer: Printer) -> Any:
    """Run one ping through a pingu WebSocket server; a Deferred firing
    the exit status."""
    from autobahn.twisted.websocket import (
        WebSocketClientFactory,
        WebSocketClientProtocol,
        connectWS,
    )
    from twisted.internet import defer

    done: defer.Deferred[int] = defer.Deferred()

    class Watch(WebSocketClientProtocol):
        end: Optional[events.Event] = None

        def onConnect(self, response: Any) -> None:
            # Autobahn's client leaves Nagle on: each line would wait ~40 ms.
            self.transport.setTcpNoDelay(True)

        def onOpen(self) -> None:
            self.sendMessage(json.dumps(fields).encode("utf-8"))
            stopper["stop"] = lambda: self.sendMessage(b'{"stop":true}')

        def onMessage(self, payload: bytes, isBinary: bool) -> None:
            event = json.loads(payload.decode("utf-8"))
            printer.event(event)
            if event["type"] in (events.END, events.ERROR):
                self.end = event

        def onClose(self, wasClean: bool, code: Optional[int], reason: Optional[str]) -> None:
            if self.end is None and reason:
                printer.err.write(f"pingu: connection closed: {reason} ({code})\n")
            if not done.called:
                ended = self.end if self.end and self.end["type"] == events.END else None
                done.callback(exit_status(ended))

    stopper: dict[str, Any] = {"stop": lambda: None}
    factory = WebSocketClientFactory(url, protocols=[SUBPROTOCOL_JSON], reactor=reactor)
    factory.protocol = Watch

    def interrupted(*_: Any) -> None:
        reactor.callFromThread(stopper["stop"])

    def failed_to_connect(_connector: Any, reason: Any) -> None:
        if not done.called:
            printer.err.write(f"pingu: cannot connect to {url}: {reason.getErrorMessage()}\n")
            done.callback(EXIT_ERROR)

    signal.signal(signal.SIGINT, interrupted)
    factory.clientConnectionFailed = failed_to_connect
    connectWS(factory)
    return done


def build_parser() -> argparse.ArgumentParser:
    """The ``pingu`` command line."""
    parser = argparse.ArgumentParser(prog="pingu", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    watch = commands.add_parser("watch", help="ping through a pingu server")
    watch.add_argument("url", nargs="?", help="WebSocket URL, e.g. ws://127.0.0.1:8080/ws")
    watch.add_argument("target", help="host name or IP address to ping")
    watch.add_argument("-c", "--count", type=int)
    watch.add_argument("-i", "--interval", type=float)
    watch.add_argument("-s", "--size", type=int)
    watch.add_argument("-w", "--deadline", type=int)
    family = watch.add_mutually_exclusive_group()
    family.add_argument("-4", dest="family", action="store_const", const=4)
    family.add_argument("-6", dest="family", action="store_const", const=6)
    watch.add_argument("--router", help="WAMP router URL (instead of a WebSocket URL)")
    watch.add_argument("--realm", default="pingu")
    watch.add_argument("--node", action="append", default=[], help="node name (repeatable)")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point of the ``pingu`` console script."""
    args = build_parser().parse_args(argv)
    if (args.url is None) == (args.router is None):
        print("pingu: give either a WebSocket URL or --router", file=sys.stderr)
        return EXIT_ERROR
    from twisted.internet import task

    fields = request_fields(args)
    status: list[int] = []

    def run(reactor: Any) -> Any:
        if args.router is not None:
            from pingu.wamp_client import watch_wamp

            options = {k: v for k, v in fields.items() if k != "target"}
            d = watch_wamp(reactor, args.router, args.realm, args.node, args.target, options)
        else:
            d = watch_websocket(reactor, args.url, fields, Printer())
        return d.addCallback(status.append)

    try:
        task.react(run)
    except SystemExit:  # react() always exits; the status is ping's, kept above
        pass
    return status[0] if status else EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
