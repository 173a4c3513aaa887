#!/usr/bin/env python3
"""The bench's load client: many WebSocket sessions in one asyncio process.

A deliberately small client (HTTP upgrade, unmasked server frames, masked
client frames, close and ping handling) so that the client costs a few
microseconds per message and is not what the bench measures.  It is the
same client for pingu and websocketd.

    python wsclient.py SPEC.json      (or the JSON on stdin with "-")

The spec (a JSON object):

``url``            ws://127.0.0.1:PORT/PATH
``sessions``       how many sessions
``first``          the first message (text), e.g. "127.0.0.1" or a JSON request
``subprotocol``    offered subprotocol (e.g. "pingu.json"), or null
``mode``           "drain": read every session until the server closes it;
                   "hold": open all, then measure a window, then close all;
                   "churn": open sessions at ``rate`` per second for ``duration``
                   seconds, each closed by the client after its first message
``inflight``       most handshakes pending at once (default 64)
``sources``        N > 0: session i connects from 127.0.0.(2 + (source_base + i) % N),
                   N distinct loopback addresses (Linux's loopback owns all of
                   127.0.0.0/8), i.e. distinct clients as a server sees them;
                   0 (the default): the system's choice, 127.0.0.1 for all
``source_base``    the first session's offset in that round (default 0)
``warmup``, ``window``   hold mode: seconds after the last session opened
                   before the window, and the window's length
``rate``, ``duration``   churn mode
``first_timeout``  seconds a session may wait for its first message (default 15)
``latency``        record the delay of each message: receipt - NS for a
                   ``mono=NS`` (CLOCK_MONOTONIC) in it, else the wall clock
                   minus ping -D's leading ``[seconds.micros]``
``deadline``       hard limit on the whole run, seconds (default 300)

The result (JSON on stdout): per-session rows (start, open, first message,
last message, messages, messages in the window, close code, error, close
frame's receipt: times in CLOCK_MONOTONIC ns), latency samples (ns), the
measurement window (CLOCK_MONOTONIC ns, the clock the bench samples /proc
with), and the client's own CPU time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import resource
import socket
import struct
import sys
import time
from collections import Counter
from typing import Any, Optional
from urllib.parse import urlsplit

mono = time.monotonic_ns
#: ping -D's wall-clock stamp, seconds and microseconds
STAMP = re.compile(rb"\[(\d{9,11})\.(\d{6})\]")


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (zero mask: legal, and free to apply)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + b"\x00\x00\x00\x00" + payload


class Session(asyncio.Protocol):
    """One WebSocket session."""

    def __init__(self, run: Run, index: int) -> None:
        self.run = run
        self.index = index
        self.t_start = mono()
        self.t_open = 0
        self.t_first = 0
        self.t_last = 0
        self.lines = 0
        self.window_lines = 0
        self.close_code: Optional[int] = None
        self.t_close: Optional[int] = None
        self.error: Optional[str] = None
        self.upgraded = False
        self.buf = bytearray()
        self.transport: Optional[asyncio.Transport] = None
        self.done = asyncio.get_running_loop().create_future()
        self.opened = asyncio.get_running_loop().create_future()
        self.first_seen = asyncio.get_running_loop().create_future()
        self.closing = False
        self.first_text = ""

    # -- asyncio ---------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        run = self.run
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {run.path} HTTP/1.1",
            f"Host: {run.host}:{run.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if run.subprotocol:
            lines.append(f"Sec-WebSocket-Protocol: {run.subprotocol}")
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def data_received(self, data: bytes) -> None:
        now = mono()
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > 65536:
                    self.fail("handshake too long")
                return
            status = bytes(buf[:end]).split(b"\r\n", 1)[0]
            parts = status.split()
            if len(parts) < 2 or parts[1] != b"101":
                self.fail("http " + (parts[1].decode() if len(parts) > 1 else "?"))
                return
            del buf[: end + 4]
            self.upgraded = True
            self.t_open = now
            self.on_open()
            if not self.opened.done():
                self.opened.set_result(None)
        run = self.run
        pos = 0
        n = len(buf)
        count = 0
        latency = run.latency
        while n - pos >= 2:
            b1 = buf[pos + 1]
            ln = b1 & 0x7F
            hl = 2
            if ln == 126:
                if n - pos < 4:
                    break
                ln = (buf[pos + 2] << 8) | buf[pos + 3]
                hl = 4
            elif ln == 127:
                if n - pos < 10:
                    break
                ln = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                hl = 10
            if b1 & 0x80:
                hl += 4  # a masked server frame: not expected, skipped whole
            end = pos + hl + ln
            if end > n:
                break
            op = buf[pos] & 0x0F
            if self.control and (op == 1 or op == 0 or op == 2):
                # a protocol message before the data flows (WAMP: WELCOME,
                # RESULT, SUBSCRIBED): handed to the subclass, not counted
                self.on_control(bytes(buf[pos + hl : end]), now)
            elif op == 1 or op == 0 or op == 2:
                if self.lines + count == 0:
                    self.t_first = now
                    self.first_text = bytes(buf[pos + hl : min(end, pos + hl + 120)]).decode(
                        "utf-8", "replace"
                    )
                count += 1
                if latency:
                    at = buf.find(b"mono=", pos + hl, end)
                    if at >= 0:
                        stop = at + 5
                        while stop < end and 48 <= buf[stop] <= 57:
                            stop += 1
                        run.samples.append(now - int(buf[at + 5 : stop]))
                    else:
                        # ping -D: "[1700000000.123456] 64 bytes from ..."
                        m = STAMP.search(buf, pos + hl, end)
                        if m:
                            run.samples.append(time.time_ns() - int(m[1] + m[2]) * 1000)
            elif op == 8:
                payload = bytes(buf[pos + hl : end])
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                self.t_close = now
                if not self.closing:
                    self.closing = True
                    self.transport.write(frame(8, payload[:2]))
                self.transport.close()
            elif op == 9:
                self.transport.write(frame(10, bytes(buf[pos + hl : end])))
            pos = end
        if pos:
            del buf[:pos]
        if count:
            self.lines += count
            self.t_last = now
            if run.window_start <= now < run.window_end:
                self.window_lines += count
            if not self.first_seen.done():
                self.first_seen.set_result(None)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if self.close_code is None and self.error is None and not self.closing:
            self.error = "dropped" if self.upgraded else "closed during handshake"
        if not self.opened.done():
            self.opened.set_result(None)
        if not self.first_seen.done():
            self.first_seen.set_result(None)
        if not self.done.done():
            self.done.set_result(None)

    # -- hooks (see wampclient.py) ----------------------------------------------

    #: While True, text messages go to on_control() instead of being counted.
    control = False

    def on_open(self) -> None:
        self.transport.write(frame(1, self.run.first))

    def on_control(self, payload: bytes, now: int) -> None:
        pass

    def mark_first(self, now: int) -> None:
        """The data starts flowing now (for the time-to-first-line figure)."""
        if not self.first_seen.done():
            self.first_seen.set_result(None)

    # -- actions ---------------------------------------------------------------

    def fail(self, why: str) -> None:
        if self.error is None:
            self.error = why
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        if self.transport is None or self.closing:
            return
        self.closing = True
        if self.upgraded:
            self.transport.write(frame(8, struct.pack("!H", 1000)))
        else:
            self.transport.abort()

    def row(self) -> list[Any]:
        return [
            self.t_start,
            self.t_open,
            self.t_first,
            self.t_last,
            self.lines,
            self.window_lines,
            self.close_code,
            self.error,
            self.t_close,
        ]


class Run:
    session_class = Session

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        url = urlsplit(spec["url"])
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 80
        self.path = url.path or "/"
        self.subprotocol = spec.get("subprotocol")
        self.first = spec.get("first", "127.0.0.1").encode("utf-8")
        self.latency = bool(spec.get("latency"))
        self.samples: list[int] = []
        self.sessions: list[Session] = []
        self.window_start = 1 << 62
        self.window_end = 1 << 62
        self.inflight = asyncio.Semaphore(int(spec.get("inflight", 64)))
        self.first_timeout = float(spec.get("first_timeout", 15))
        self.sources = min(int(spec.get("sources", 0)), 253)
        self.source_base = int(spec.get("source_base", 0))
        self.notes: list[str] = []

    def local_addr(self, index: int) -> Optional[tuple[str, int]]:
        """The source address session ``index`` binds (None: the system's choice)."""
        if not self.sources:
            return None
        return (f"127.0.0.{2 + (self.source_base + index) % self.sources}", 0)

    async def open_one(self, index: int, wait_first: bool = False) -> Session:
        loop = asyncio.get_running_loop()
        holder: list[Session] = []

        def factory() -> Session:
            s = self.session_class(self, index)
            holder.append(s)
            return s

        async with self.inflight:
            t0 = mono()
            try:
                await asyncio.wait_for(
                    loop.create_connection(
                        factory, self.host, self.port, local_addr=self.local_addr(index)
                    ),
                    self.first_timeout,
                )
            except (OSError, asyncio.TimeoutError) as e:
                s = holder[0] if holder else self.session_class(self, index)
                s.t_start = t0
                s.error = s.error or f"connect: {type(e).__name__}"
                if not s.done.done():
                    s.done.set_result(None)
                self.sessions.append(s)
                return s
            s = holder[0]
            s.t_start = t0
            self.sessions.append(s)
            try:
                await asyncio.wait_for(asyncio.shield(s.opened), self.first_timeout)
            except asyncio.TimeoutError:
                s.fail("handshake timeout")
        if wait_first and s.error is None:
            try:
                await asyncio.wait_for(asyncio.shield(s.first_seen), self.first_timeout)
            except asyncio.TimeoutError:
                s.fail("no first line in time")
        return s

    async def close_all(self, timeout: float = 5.0) -> None:
        for s in self.sessions:
            s.close()
        pending = [s.done for s in self.sessions if not s.done.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        for s in self.sessions:
            if not s.done.done() and s.transport is not None:
                s.transport.abort()
        await asyncio.sleep(0.05)

    # -- modes ---------------------------------------------------------------

    async def drain(self) -> None:
        n = int(self.spec["sessions"])
        self.window_start = 0
        self.window_end = 1 << 62
        await asyncio.gather(*(self.open_one(i) for i in range(n)))
        pending = [s.done for s in self.sessions if not s.done.done()]
        if pending:
            await asyncio.wait(pending, timeout=float(self.spec.get("drain_timeout", 120)))
        for s in self.sessions:
            if not s.done.done():
                s.error = s.error or "drain timeout"
        await self.close_all(2.0)

    async def hold(self) -> None:
        n = int(self.spec["sessions"])
        warmup = float(self.spec.get("warmup", 2))
        window = float(self.spec.get("window", 10))
        await asyncio.gather(*(self.open_one(i, wait_first=True) for i in range(n)))
        self.ramp_end = mono()
        self.window_start = self.ramp_end + int(warmup * 1e9)
        self.window_end = self.window_start + int(window * 1e9)
        self.samples_before = len(self.samples)
        print(f"WINDOW {self.window_start} {self.window_end}", file=sys.stderr, flush=True)
        await asyncio.sleep((self.window_end - mono()) / 1e9)
        self.window_samples = (self.samples_before, len(self.samples))
        await self.close_all()

    async def churn(self) -> None:
        rate = float(self.spec["rate"])
        duration = float(self.spec["duration"])
        cap = int(self.spec.get("max_open", 3000))
        start = mono()
        self.window_start = start
        self.window_end = start + int(duration * 1e9)
        tasks = []
        skipped = 0

        async def one(i: int) -> None:
            s = await self.open_one(i, wait_first=True)
            s.close()
            try:
                await asyncio.wait_for(asyncio.shield(s.done), 5)
            except asyncio.TimeoutError:
                if s.transport is not None:
                    s.transport.abort()
                if s.error is None:
                    s.error = "close timeout"

        total = int(rate * duration)
        for i in range(total):
            due = start + int(i * 1e9 / rate)
            delay = (due - mono()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            if sum(1 for t in tasks if not t.done()) >= cap:
                skipped += 1
                continue
            tasks.append(asyncio.ensure_future(one(i)))
        self.launch_end = mono()
        await asyncio.wait(tasks, timeout=self.first_timeout + 10) if tasks else None
        for t in tasks:
            if not t.done():
                t.cancel()
        self.skipped = skipped
        await self.close_all(2.0)


async def amain(spec: dict[str, Any], run_class: type = Run) -> dict[str, Any]:
    run = run_class(spec)
    cpu0, t0 = cpu_s(), mono()
    mode = spec.get("mode", "drain")
    deadline = float(spec.get("deadline", 300))
    timed_out = False
    try:
        await asyncio.wait_for(getattr(run, mode)(), deadline)
    except asyncio.TimeoutError:
        timed_out = True
        await run.close_all(2.0)
    cpu1, t1 = cpu_s(), mono()
    result: dict[str, Any] = {
        "mode": mode,
        "t0": t0,
        "t1": t1,
        "client_cpu_s": cpu1 - cpu0,
        "window": [run.window_start, run.window_end] if mode != "drain" else None,
        "sessions": [s.row() for s in sorted(run.sessions, key=lambda s: s.index)],
        "samples": run.samples,
        "timed_out": timed_out,
        "retries": getattr(run, "retries", 0),
        "first_texts": Counter(
            s.first_text.split(" ")[0] for s in run.sessions if s.first_text
        ).most_common(5),
    }
    if mode == "hold":
        result["ramp_end"] = getattr(run, "ramp_end", None)
        result["window_samples"] = getattr(run, "window_samples", None)
    if mode == "churn":
        result["skipped"] = getattr(run, "skipped", 0)
        result["launch_end"] = getattr(run, "launch_end", None)
    return result


def main(run_class: type = Run) -> int:
    source = sys.argv[1] if len(sys.argv) > 1 else "-"
    spec = json.load(sys.stdin if source == "-" else open(source))
    try:
        import resource as r

        soft, hard = r.getrlimit(r.RLIMIT_NOFILE)
        r.setrlimit(r.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass
    result = asyncio.run(amain(spec, run_class))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
