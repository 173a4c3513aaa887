"""What the bench's two Python peers share: the child's argv for a target,
and the child's life (spawned with asyncio's subprocess API, its lines
relayed one message each, killed when the client goes).

The peers are the servers a Python programmer would write instead of pingu
(issue 21): a python-websockets handler (``websockets_peer.py``) and an ASGI
app on uvicorn (``asgi_peer.py``).  Each reads the host from the client's
first message, spawns the bench's child with the argv pingu would have built
(``-n -O -4|-6 -c 10000 -- HOST``), and sends each line it prints as one text
message; when the child ends, it closes with 1000.  No limits, no policy:
the bench pings loopback literals only, and its children refuse anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Optional

#: a loopback literal and nothing else (the children refuse the rest too)
TARGET = re.compile(r"127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1")


def options() -> tuple[int, list[str]]:
    """``--port P -- CHILD ARGS``: the port and the child's command."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("child", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    child = args.child[1:] if args.child[:1] == ["--"] else args.child
    return args.port, child


def argv_for(child: list[str], target: str) -> Optional[list[str]]:
    """The child's argv for ``target`` (None: not a target the bench pings)."""
    target = target.strip()
    if not TARGET.fullmatch(target):
        return None
    family = "-6" if ":" in target else "-4"
    return [*child, "-n", "-O", family, "-c", "10000", "--", target]


async def relay(
    argv: list[str], send: Callable[[str], Awaitable[None]], gone: Awaitable[object]
) -> Optional[int]:
    """Run ``argv``, ``send`` each line it prints, until it ends (its exit
    status) or ``gone`` (the client left: the child is killed, None)."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )

    async def lines() -> int:
        assert proc.stdout is not None
        async for line in proc.stdout:
            await send(line.decode("utf-8", "replace").rstrip("\n"))
        return await proc.wait()

    relaying = asyncio.ensure_future(lines())
    left = asyncio.ensure_future(gone)
    try:
        await asyncio.wait({relaying, left}, return_when=asyncio.FIRST_COMPLETED)
        if relaying.done() and not relaying.cancelled() and relaying.exception() is None:
            return relaying.result()
        return None
    finally:
        for task in (relaying, left):
            task.cancel()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
