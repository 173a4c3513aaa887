#!/usr/bin/python3
"""ticker.py [--every S] [--lines N] [ping-style argv]

The latency and fan-out child: prints ping's header, then every S seconds
(default 0.01) one iputils reply line that ends with ``mono=NS``, the
CLOCK_MONOTONIC time in nanoseconds taken right before the write(2), until
N lines (default: ping's ``-c``, else 10000) or a signal.  The client reads
the same clock on receipt: the difference is the whole child-to-client
delay.  The line still parses as a reply (the parser keeps the rest).  No
packet is sent.

Argv as for flood.py: ping-style from pingu, none from websocketd (target
on the first stdin line).
"""

import os
import signal
import sys
import time


def main():
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    args = sys.argv[1:]
    every, lines = 0.01, None
    while args and args[0] in ("--every", "--lines"):
        if args[0] == "--every":
            every = float(args[1])
        else:
            lines = int(args[1])
        args = args[2:]
    if "--" in args:
        target = args[args.index("--") + 1]
        if lines is None and "-c" in args:
            lines = int(args[args.index("-c") + 1])
    else:
        target = sys.stdin.buffer.readline().decode("utf-8", "replace").strip() or "::1"
    if lines is None:
        lines = 10000
    mono = time.monotonic_ns
    out = 1
    try:
        os.write(out, f"PING {target} ({target}) 56 data bytes\n".encode())
        start = time.monotonic()
        for seq in range(1, lines + 1):
            delay = start + seq * every - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            prefix = f"64 bytes from {target}: icmp_seq={seq} ttl=64 time=0.050 ms mono="
            os.write(out, f"{prefix}{mono()}\n".encode())
        os.write(
            out,
            (
                f"\n--- {target} ping statistics ---\n"
                f"{lines} packets transmitted, {lines} received, 0% packet loss, "
                f"time {int((time.monotonic() - start) * 1000)}ms\n"
                "rtt min/avg/max/mdev = 0.050/0.050/0.050/0.000 ms\n"
            ).encode(),
        )
    except OSError:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
