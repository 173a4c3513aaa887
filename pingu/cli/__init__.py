"""``pingu``, the command: ``pingu watch`` prints a run on a pingu server
as its tool prints it (ping, traceroute, or mtr's per-hop table), and exits
with the tool's status.

    pingu watch ws://127.0.0.1:8080/ws 127.0.0.1 [-c N] [-i S] [-s B] [-4|-6] [-w S]
    pingu watch --tool traceroute|mtr ws://127.0.0.1:8080/ws 10.0.0.1 [-m HOPS ...]
    pingu watch --router ws://127.0.0.1:8081/ws [--node NAME ...] 127.0.0.1
    pingu --version

The exit status is the tool's own (ping: 0 replies, 1 no reply, 2 error;
traceroute and mtr: 0 done, 1 error); a refusal
by the server exits 2 with its message on stderr.  Ctrl-C asks the server to
stop ping, so its statistics still print, as with ping itself.

Modules: :mod:`~pingu.cli.args` (the command line), :mod:`~pingu.cli.printer`
(what is printed, sanitised, and the exit statuses), :mod:`~pingu.cli.ws`
(the WebSocket watcher), :mod:`~pingu.cli.wamp` (the WAMP watcher),
:mod:`~pingu.cli.retry` (when a refusal for load is tried again).  The
watchers import the printer and the retry policy, never each other; none
imports the server.
"""

from __future__ import annotations

import sys
from typing import Any, Optional

from pingu.cli.args import UsageError, WatchArgs, parse
from pingu.cli.printer import EXIT_ERROR, Printer

__all__ = ["main", "watch"]


def watch(reactor: Any, args: WatchArgs) -> Any:
    """Start the watch ``args`` asks for; a Deferred firing its exit status."""
    if args.router is not None:
        from pingu.cli.wamp import watch_wamp

        return watch_wamp(
            reactor,
            args.router,
            args.realm,
            list(args.nodes),
            args.target,
            args.request_options(),
            backlog_page=args.backlog_page,
        )
    from pingu.cli.ws import watch_websocket

    assert args.url is not None
    return watch_websocket(reactor, args.url, args.fields(), Printer())


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point of the ``pingu`` console script; returns the exit status."""
    try:
        args = parse(argv)
    except UsageError as e:
        print(f"pingu: {e}", file=sys.stderr)
        return EXIT_ERROR
    # A character the terminal's encoding lacks is printed escaped, not fatal.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    from twisted.internet import task

    status: list[int] = []

    def run(reactor: Any) -> Any:
        return watch(reactor, args).addCallback(status.append)

    try:
        task.react(run)
    except SystemExit:  # react() always exits; the status is ping's, kept above
        pass
    return status[0] if status else EXIT_ERROR
