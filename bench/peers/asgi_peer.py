"""The bench's ASGI peer on uvicorn: one ASGI app, a WebSocket per session,
see ``common.py``.

    python asgi_peer.py --port P -- CHILD ARGS
"""

from __future__ import annotations

from typing import Any, Callable

import uvicorn
from common import argv_for, options, relay

PORT, CHILD = options()


async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "websocket":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    first = await receive()
    if first["type"] != "websocket.receive":
        return
    argv = argv_for(CHILD, first.get("text") or "")
    if argv is None:
        await send({"type": "websocket.close", "code": 4400})
        return

    async def line(text: str) -> None:
        await send({"type": "websocket.send", "text": text})

    async def gone() -> None:
        while (await receive())["type"] != "websocket.disconnect":
            pass

    try:
        status = await relay(argv, line, gone())
    except OSError:  # the client went while a line was on its way
        return
    if status is not None:
        await send({"type": "websocket.close", "code": 1000})


if __name__ == "__main__":
    uvicorn.run(
        app, host="127.0.0.1", port=PORT, log_level="warning", backlog=1024,
        ws_per_message_deflate=False, lifespan="on",
    )  # fmt: skip
