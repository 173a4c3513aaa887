"""The bench's python-websockets peer: one asyncio handler per connection
(``websockets.asyncio.server``), see ``common.py``.

    python websockets_peer.py --port P -- CHILD ARGS
"""

from __future__ import annotations

import asyncio

from common import argv_for, options, relay
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed


async def main() -> None:
    port, child = options()

    async def session(ws: ServerConnection) -> None:
        try:
            first = await ws.recv()
        except ConnectionClosed:
            return
        argv = argv_for(child, first if isinstance(first, str) else "")
        if argv is None:
            await ws.close(4400, "not a loopback address")
            return
        try:
            await relay(argv, ws.send, ws.wait_closed())
        except ConnectionClosed:
            return
        await ws.close(1000)

    # backlog as pingu's (1024) and websocketd's (somaxconn)
    async with serve(session, "127.0.0.1", port, backlog=1024, compression=None):
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main())
