"""``twistd pingu --workers N``: the parent's pool of worker processes.

After Twisted's ``twisted.runner.procmon``, not with it: ``ProcessMonitor.addProcess``
takes an argv, uid, gid, env and cwd, but no ``childFDs``, and a worker needs a
fresh channel (a socketpair, :mod:`pingu.handoff`) on :data:`WORKER_FD` at every
(re)start and its stdout read as JSON log events, not as lines to log; and
stopping a worker starts by closing its channel, not by a signal.  Not a figure:
procmon cannot start such a child.  Each worker is a child process
(``twistd -n pingu ... --worker I/N``) that is restarted when it dies, later
each time it dies quickly again; on stop, every worker's channel is closed,
which stops it (it ends its runs and closes its sockets as a single server
does on ``TERM``), and it is killed if it has not gone after ``stop_timeout``.
The parent hands each accepted connection to the worker of its client
(:mod:`pingu.handoff`) and writes the log of all (:func:`pingu.logs.relay`).
"""

from __future__ import annotations

import os
import socket
from typing import Any, Callable, Optional

from twisted.application import service
from twisted.internet import defer, error, protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from pingu import handoff
from pingu.logs import relay

log = Logger(namespace="pingu")

#: The worker's end of its channel, as the worker sees it.
WORKER_FD = 3


class _WorkerProcess(protocol.ProcessProtocol):
    def __init__(self, pool: WorkerPool, index: int, started: float) -> None:
        self.pool = pool
        self.index = index
        self.started = started
        self.ended = False
        self._partial = b""

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.closeStdin()

    def outReceived(self, data: bytes) -> None:
        # The worker's log: one JSON event a line (pingu.logs.worker_observer).
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            if line:
                relay(line, self.index)

    def processEnded(self, reason: Failure) -> None:
        self.ended = True
        if self._partial:
            relay(self._partial, self.index)
            self._partial = b""
        self.pool._ended(self, reason)


class WorkerPool(service.Service):
    """``count`` workers started by ``command(index)`` (an argv), each
    with its channel on :data:`WORKER_FD`."""

    #: A worker that ran at least this long is restarted at once (almost);
    #: one that dies sooner waits twice as long as last time, up to a minute.
    STEADY = 10.0
    MIN_DELAY = 0.5
    MAX_DELAY = 60.0

    def __init__(
        self,
        reactor: Any,
        count: int,
        command: Callable[[int], list[str]],
        env: Optional[dict[str, str]] = None,
        stop_timeout: float = 10.0,
        cwd: Optional[str] = None,
    ) -> None:
        self.reactor = reactor
        self.count = count
        self.command = command
        self.env = dict(os.environ) if env is None else env
        self.stop_timeout = stop_timeout
        #: Where workers start: where the parent read its options (relative
        #: paths in them mean the same), not twistd's --rundir.
        self.cwd = cwd
        self.processes: dict[int, _WorkerProcess] = {}
        self.senders: dict[int, handoff.Sender] = {}
        #: the connections this parent closed without handing them over
        self.drops = handoff.Drops(reactor)
        self.delays = {index: self.MIN_DELAY for index in range(count)}
        self._restarts: dict[int, Any] = {}
        self._all_gone: Optional[defer.Deferred[None]] = None

    def startService(self) -> None:
        service.Service.startService(self)
        for index in range(self.count):
            self._start(index)

    def _start(self, index: int) -> None:
        self._restarts.pop(index, None)
        parent_end, worker_end = handoff.channel()
        argv = self.command(index)
        proto = _WorkerProcess(self, index, self.reactor.seconds())
        try:
            transport = self.reactor.spawnProcess(
                proto,
                argv[0],
                argv,
                env=self.env,
                path=self.cwd,
                # stdout: its log, relayed; stderr: the terminal's, for one-line errors
                childFDs={0: "w", 1: "r", 2: 2, WORKER_FD: worker_end.fileno()},
            )
        except OSError as e:  # fork refused (EAGAIN, ENOMEM): try again later
            parent_end.close()
            delay = self._start_later(index)
            log.error(
                "pingu: worker {index} could not be started ({e}); again in {delay:g} s",
                index=index, e=e, delay=delay,
            )  # fmt: skip
            return
        finally:
            worker_end.close()
        self.processes[index] = proto
        self.senders[index] = handoff.Sender(self.reactor, parent_end, self.drops)
        log.info(
            "pingu: worker {index} started (pid {pid})",
            index=index,
            pid=transport.pid,
            event="worker_started",
        )

    def hand(self, fd: int, client: str) -> None:
        """Give an accepted connection to its client's worker; while that one
        is being restarted, to the next one alive (its client has no runs
        left anywhere: they ended with the worker)."""
        first = handoff.worker_of(client, self.count)
        for step in range(self.count):
            sender = self.senders.get((first + step) % self.count)
            if sender is not None and not sender.closed:
                sender.send(fd)
                return
        os.close(fd)  # no worker at all, for now: the client retries
        self.drops.dropped("no-worker")

    def _ended(self, proto: _WorkerProcess, reason: Failure) -> None:
        index = proto.index
        if self.processes.get(index) is proto:
            del self.processes[index]
            sender = self.senders.pop(index, None)
            if sender is not None:
                sender.close()
        value = reason.value
        assert isinstance(value, (error.ProcessDone, error.ProcessTerminated))
        how = f"exit {value.exitCode}" if value.exitCode is not None else f"signal {value.signal}"
        if not self.running:
            log.info("pingu: worker {index} ended ({how})", index=index, how=how)
            if not self.processes and self._all_gone is not None:
                gone, self._all_gone = self._all_gone, None
                gone.callback(None)
            return
        lived = self.reactor.seconds() - proto.started
        delay = self._start_later(index, steady=lived >= self.STEADY)
        log.warn(
            "pingu: worker {index} ended ({how}) after {lived:.1f} s; restarting in {delay:g} s",
            index=index,
            how=how,
            lived=lived,
            delay=delay,
            event="worker_ended",
        )

    def _start_later(self, index: int, steady: bool = False) -> float:
        """Start worker ``index`` again after its delay (the shortest if it
        had run steadily), doubled for next time; returns the delay."""
        delay = self.MIN_DELAY if steady else self.delays[index]
        self.delays[index] = min(delay * 2, self.MAX_DELAY)
        self._restarts[index] = self.reactor.callLater(delay, self._start, index)
        return delay

    def stopService(self) -> Any:
        service.Service.stopService(self)
        for call in self._restarts.values():
            if call.active():
                call.cancel()
        self._restarts.clear()
        for sender in list(self.senders.values()):
            sender.close()  # a worker whose channel closes stops too
        self.drops.stop()
        if not self.processes:
            return None
        self._all_gone = defer.Deferred()
        # No TERM: the end of its channel stops a worker as TERM would, and
        # a worker may get TERM from elsewhere already (systemd signals the
        # whole control group), which Twisted would handle twice.
        kill = self.reactor.callLater(self.stop_timeout, self._kill_remaining)
        gone = self._all_gone

        def done(result: Any) -> Any:
            if kill.active():
                kill.cancel()
            return result

        return gone.addBoth(done)

    def _kill_remaining(self) -> None:
        for proto in list(self.processes.values()):
            log.warn("pingu: worker {index} did not stop: killed", index=proto.index)
            _signal(proto, "KILL")


def _signal(proto: _WorkerProcess, name: str) -> None:
    if proto.transport is None:
        return  # not connected to its process yet
    try:
        proto.transport.signalProcess(name)
    except (error.ProcessExitedAlready, OSError):
        pass


def listening_socket(port: Any) -> socket.socket:
    """The socket of a listening Twisted TCP port, taken over: Twisted stops
    reading it (it accepts nothing itself any more) and it is made ours."""
    port.stopReading()
    return port.socket
