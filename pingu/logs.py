"""``--log-format json``: one JSON object per line, for log shippers.

The objects are written by ``twisted.logger``'s own JSON observer
(:func:`twisted.logger.jsonFileLogObserver`, without its record separator,
so that each line is one object), after three additions: ``level`` (the
level's name), ``message`` (the line the text format would show) and, for
a failure, ``traceback``; the Logger object and the event's source, which
are not data, are left out.  pingu's own events also carry ``event`` (a
stable name: ``run_ended``, ``refused``, ...) and their fields by name
(docs/deploy.rst, "Logs").

twistd builds its log observer itself, from ``--logfile``, ``--nodaemon``
and ``--logger``, after the plugin made its service; what a plugin may do
is put an observer on the application (as an ``ILogObserver`` component),
which twistd then uses instead of its own.  So the JSON observer writes
where twistd's would have: to ``--logfile`` (a file Twisted rotates), or
to stdout under ``-n`` without one.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import IO, Any, Optional

from twisted.application import service
from twisted.logger import (
    ILogObserver,
    LogLevel,
    eventFromJSON,
    formatEvent,
    globalLogPublisher,
    jsonFileLogObserver,
)
from twisted.python import logfile
from twisted.python.components import Componentized
from zope.interface import implementer

#: The formats of ``--log-format``.
FORMATS = ("text", "json")

# Keys of an event that are objects, not data: eventAsJSON would write them
# as {"unpersistable": true}.
_OBJECTS = ("log_logger", "log_source", "log_legacy")


#: Keys of an event of Twisted's legacy log (``twisted.python.log``), and
#: ``flatten``'s own: left out of an event a worker relays.
_LEGACY_KEYS = (
    "format", "system", "isError", "time", "why", "failure", "level", "traceback",
    "log_flattened",  # formatted fields of the worker's format, not of ours
)  # fmt: skip


def flatten(event: dict[str, Any]) -> dict[str, Any]:
    """The event as it is written: plus ``level``, ``message``, ``traceback``."""
    out = {key: value for key, value in event.items() if key not in _OBJECTS}
    if "log_text" in out:  # relayed: written as the worker would have
        out.pop("log_text")
        out["log_format"] = out.pop("log_worker_format", None)
        flattened = out.pop("log_worker_flattened", None)
        if flattened is not None:
            out["log_flattened"] = flattened
    worker_traceback = out.pop("log_worker_traceback", None)
    level = event.get("log_level")
    out["level"] = getattr(level, "name", None)
    out["message"] = event.get("log_text") or formatEvent(event)
    failure = event.get("log_failure")
    if failure is not None:
        out["traceback"] = worker_traceback or failure.getTraceback()
    return out


def json_observer(out: IO[Any]) -> ILogObserver:
    """An observer writing each event to ``out`` as one line of JSON."""
    write = jsonFileLogObserver(out, recordSeparator="")

    @implementer(ILogObserver)
    def observe(event: dict[str, Any]) -> None:
        write(flatten(event))

    return observe


def twistd_log_file(twistd_options: Optional[Any]) -> IO[Any]:
    """Where twistd would log with these (its own) options: ``-`` or
    ``-n`` without ``--logfile`` is stdout; otherwise ``--logfile`` (default
    ``twistd.log``), rotated by size, and on SIGUSR1 as twistd does."""
    options = twistd_options if twistd_options is not None else {}
    name = options.get("logfile") or ""
    if name == "-" or (not name and options.get("nodaemon", twistd_options is None)):
        return sys.stdout
    log_file = logfile.LogFile.fromFullPath(name or "twistd.log")
    if hasattr(signal, "SIGUSR1") and not signal.getsignal(signal.SIGUSR1):

        def rotate(signum: int, frame: Any) -> None:
            from twisted.internet import reactor
            from twisted.internet.interfaces import IReactorThreads

            IReactorThreads(reactor).callFromThread(log_file.rotate)

        signal.signal(signal.SIGUSR1, rotate)
    return log_file


def check_twistd_options(twistd_options: Optional[Any]) -> Optional[str]:
    """Why ``--log-format json`` cannot work with these twistd options, if so."""
    if twistd_options is None:
        return None
    if twistd_options.get("syslog"):
        return "--log-format json writes to --logfile or stdout, not to syslog"
    if twistd_options.get("logger"):
        return "--log-format json and twistd's --logger both choose the log observer"
    return None


def worker_observer() -> ILogObserver:
    """A ``--workers`` worker's observer: each event as a line of JSON on its
    stdout, a pipe its parent reads (:func:`relay`).  The parent alone writes
    the log, so that N processes do not write (and rotate) one file."""
    return json_observer(open(os.dup(1), "w", buffering=1, encoding="utf-8"))


def relay(line: bytes, worker: int) -> None:
    """Publish one line of worker ``worker``'s stdout in this process's log:
    its event as the worker logged it, with ``worker`` added (a line that is
    not an event, something printed, as a line of text)."""
    text = line.decode("utf-8", "replace")
    try:
        event = eventFromJSON(text)
    except ValueError:
        event = None
    if not isinstance(event, dict) or "message" not in event:
        event = {"message": text, "log_level": LogLevel.info, "log_time": time.time()}
    # The worker formatted the message already: fields that are not JSON
    # did not survive the trip, its text did.  ("message" and the other
    # keys of Twisted's legacy log would be taken for a legacy event's.)
    event["log_text"] = event.pop("message")
    # Its format's fields as the worker formatted them: restored by flatten,
    # so that the JSON observer does not read them again from what JSON kept.
    event["log_worker_flattened"] = event.get("log_flattened")
    event["log_worker_traceback"] = event.pop("traceback", None)
    for legacy in _LEGACY_KEYS:
        event.pop(legacy, None)
    event["log_worker_format"] = event.get("log_format")
    event["log_format"] = "{log_text}"
    event["worker"] = worker
    namespace = event.get("log_namespace") or "pingu"
    level = getattr(event.get("log_level"), "name", "info")
    event["log_system"] = f"{namespace}#{level} worker {worker}"
    globalLogPublisher(event)


class LoggingService(service.MultiService):
    """A ``MultiService`` that, once twistd makes it the application's
    service, gives the application its log observer."""

    def __init__(self, observer: Optional[ILogObserver] = None) -> None:
        super().__init__()
        self.observer = observer

    def setServiceParent(self, parent: Any) -> Any:
        if self.observer is not None and isinstance(parent, Componentized):
            # twistd's AppLogger.start takes the application's ILogObserver
            # in place of the one it would build from its options.
            parent.setComponent(ILogObserver, self.observer)
        return super().setServiceParent(parent)
