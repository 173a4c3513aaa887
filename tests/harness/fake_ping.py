#!/usr/bin/env python3
"""FAKE ping, for tests only: deterministic output and chosen misbehaviour.

Real ping cannot be made, on demand, to print partial lines, to exit 2, to
ignore SIGINT, to crash or to print hostile text; this script can.  It reads
ping's argv the way iputils does (``-c``, ``-i``, ``-s``, ``-w``, ``-4/-6``,
``-n``, ``-O``, ``--``, target), records it (one JSON line per start) in the
file named by ``--record FILE`` and behaves as ``--scenario NAME`` says.
pingu runs it through a wrapper made by the tests (``tests/harness/pingu.py``'s ``make_fake_ping``)
because pingu passes ping a clean environment and its own argv.

Scenarios:
  normal      iputils-style replies every interval; SIGINT prints the summary
  timeouts    every other reply missing, reported as iputils -O does
  partial     each reply written in three pieces, with CRLF endings
  exit1       no reply at all, exit status 1
  exit2       an error message on stderr, exit status 2
  stubborn    ignores SIGINT and SIGTERM (only SIGKILL ends it)
  crash       two replies, then dies of SIGSEGV
  longline    one 100 000-character line, then a reply
  hostile     lines with HTML/JS markup and control characters
  flood       --lines N reply lines as fast as it can, then the summary
  steady      -c N lines at --rate lines a second: replies with a varying
              RTT (a daily-life link: 20-25 ms, spikes), 1 in 97 missing
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from typing import Optional

out = sys.stdout


def emit(text: str, end: str = "\n") -> None:
    out.write(text + end)
    out.flush()


def parse_ping_argv(argv: list[str]) -> dict:
    opts = {"count": None, "interval": 1.0, "size": 56, "deadline": None, "target": None}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            opts["target"] = argv[i + 1] if i + 1 < len(argv) else None
            break
        if a in ("-c", "-i", "-s", "-w"):
            key = {"-c": "count", "-i": "interval", "-s": "size", "-w": "deadline"}[a]
            opts[key] = float(argv[i + 1]) if a == "-i" else int(argv[i + 1])
            i += 2
            continue
        if not a.startswith("-"):
            opts["target"] = a
        i += 1
    return opts


class Pinger:
    def __init__(self, opts: dict) -> None:
        self.opts = opts
        self.sent = 0
        self.received = 0
        self.start = time.monotonic()
        self.rtts: list[float] = []

    def header(self) -> None:
        t = self.opts["target"]
        emit(f"PING {t} ({t}) {self.opts['size']}({self.opts['size'] + 28}) bytes of data.")

    def reply(self, seq: int, pieces: int = 1, rtt: Optional[float] = None) -> None:
        self.sent += 1
        self.received += 1
        rtt = 0.040 + (seq % 7) * 0.011 if rtt is None else rtt
        self.rtts.append(rtt)
        text = (
            f"{self.opts['size'] + 8} bytes from {self.opts['target']}: "
            f"icmp_seq={seq} ttl=64 time={rtt:.3f} ms"
        )
        if pieces == 1:
            emit(text)
            return
        step = len(text) // pieces
        for k in range(pieces):
            chunk = text[k * step : (k + 1) * step] if k < pieces - 1 else text[k * step :]
            out.write(chunk + ("\r\n" if k == pieces - 1 else ""))
            out.flush()
            time.sleep(0.02)

    def missing(self, seq: int) -> None:
        self.sent += 1
        emit(f"no answer yet for icmp_seq={seq}")

    def summary(self) -> int:
        loss = 0 if self.sent == 0 else round(100 * (self.sent - self.received) / self.sent)
        ms = int((time.monotonic() - self.start) * 1000)
        emit("")
        emit(f"--- {self.opts['target']} ping statistics ---")
        emit(
            f"{self.sent} packets transmitted, {self.received} received, "
            f"{loss}% packet loss, time {ms}ms"
        )
        if self.rtts:
            lo, hi = min(self.rtts), max(self.rtts)
            avg = sum(self.rtts) / len(self.rtts)
            emit(f"rtt min/avg/max/mdev = {lo:.3f}/{avg:.3f}/{hi:.3f}/0.010 ms")
        return 0 if self.received else 1


def main() -> int:
    wrapper = argparse.ArgumentParser(add_help=False)
    wrapper.add_argument("--scenario", default="normal")
    wrapper.add_argument("--record")
    wrapper.add_argument("--lines", type=int, default=1000)
    wrapper.add_argument("--rate", type=float, default=100.0)
    ours, ping_argv = wrapper.parse_known_args()
    if ping_argv and ping_argv[0] == "--ping-args":
        ping_argv = ping_argv[1:]
    if ours.record:
        with open(ours.record, "a") as f:
            f.write(json.dumps({"argv": ping_argv, "env": dict(os.environ)}) + "\n")
    opts = parse_ping_argv(ping_argv)
    p = Pinger(opts)
    scenario = ours.scenario
    interrupted = []

    if scenario == "stubborn":
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGINT, lambda *_: interrupted.append(1))

    if scenario == "exit2":
        sys.stderr.write(f"ping: {opts['target']}: Name or service not known\n")
        return 2
    if scenario == "flood":
        p.header()
        for seq in range(1, ours.lines + 1):
            p.reply(seq)
        return p.summary()

    if scenario == "steady":
        p.header()
        began = time.monotonic()
        for seq in range(1, (opts["count"] or 10**9) + 1):
            if interrupted:
                break
            if seq % 97 == 0:
                p.missing(seq)
            else:
                # 20-25 ms, every 50th a spike of up to 60 ms more
                p.reply(seq, rtt=20 + 5 * ((seq * 7919) % 101) / 101 + (60 if seq % 50 == 0 else 0))
            ahead = began + seq / ours.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        return p.summary()

    p.header()
    count = opts["count"] or 10**9
    interval = opts["interval"]
    for seq in range(1, count + 1):
        if interrupted:
            break
        if scenario == "exit1":
            p.sent += 1
        elif scenario == "timeouts" and seq % 2 == 0:
            p.missing(seq)
        elif scenario == "partial":
            p.reply(seq, pieces=3)
        elif scenario == "hostile":
            markup = f"<img src=x onerror=\"document.title='pwned{seq}'\">"
            emit(f"{markup} <script>alert({seq})</script>")
            emit(f"64 bytes from {opts['target']}: icmp_seq={seq} ttl=64 time=0.05 ms \x1b[31m")
            p.sent += 1
            p.received += 1
        elif scenario == "longline" and seq == 1:
            emit("x" * 100_000)
            p.reply(seq)
        else:
            p.reply(seq)
        if scenario == "crash" and seq == 2:
            os.kill(os.getpid(), signal.SIGSEGV)
        if seq < count:
            deadline = time.monotonic() + interval
            while time.monotonic() < deadline and not interrupted:
                time.sleep(min(0.01, interval))
    return p.summary()


if __name__ == "__main__":
    sys.exit(main())
