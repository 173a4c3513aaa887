#!/usr/bin/python3
"""flood.py [--lines N] [--batch K] [ping-style argv]

The throughput scenario's child: prints ping's header, N realistic iputils
reply lines as fast as it can (K lines per write(2); 1, the default, is how
ping itself writes), then ping's statistics, and exits 0.  No packet is sent.

Run by pingu (``--ping`` through a wrapper) it gets ping's argv
(``-n -O -4 -c N -- ADDRESS``); run by websocketd it gets none and reads the
target from the first line on stdin (the client's first message).
"""

import os
import signal
import sys
import time


def target_from(argv):
    if "--" in argv:
        return argv[argv.index("--") + 1]
    line = sys.stdin.buffer.readline()
    return line.decode("utf-8", "replace").strip() or "127.0.0.1"


def main():
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    args = sys.argv[1:]
    lines, batch = 100000, 1
    while args and args[0] in ("--lines", "--batch"):
        if args[0] == "--lines":
            lines = int(args[1])
        else:
            batch = max(1, int(args[1]))
        args = args[2:]
    target = target_from(args)
    out = 1
    start = time.monotonic()
    header = f"PING {target} ({target}) 56(84) bytes of data.\n".encode()
    try:
        os.write(out, header)
        pending = []
        for seq in range(1, lines + 1):
            pending.append(
                f"64 bytes from {target}: icmp_seq={seq} ttl=64 time=0.{40 + seq % 60:03d} ms\n"
            )
            if len(pending) >= batch:
                os.write(out, "".join(pending).encode())
                pending = []
        if pending:
            os.write(out, "".join(pending).encode())
        ms = int((time.monotonic() - start) * 1000)
        os.write(
            out,
            (
                f"\n--- {target} ping statistics ---\n"
                f"{lines} packets transmitted, {lines} received, 0% packet loss, time {ms}ms\n"
                "rtt min/avg/max/mdev = 0.040/0.069/0.099/0.017 ms\n"
            ).encode(),
        )
    except (BrokenPipeError, OSError):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
