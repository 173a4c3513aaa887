"""HTTP and HTTPS servers for the http tool's tests, run inside a namespace:

    python tests/harness/http_server.py ADDRESS CERT KEY

Port 80 (HTTP) and 443 (HTTPS with CERT and KEY) answer ``/`` with 200 and
a small body, ``/moved`` with a 301 to ``/``, ``/missing`` with 404 and
``/slow`` after 3 s.  It prints ``ready`` once both listen."""

from __future__ import annotations

import http.server
import socket
import ssl
import sys
import threading
import time

BODY = b"pingu test page\n" * 8


class Handler(http.server.BaseHTTPRequestHandler):
    def _answer(self, body: bool) -> None:
        if self.path == "/slow":
            time.sleep(3)
        if self.path == "/moved":
            self.send_response(301)
            self.send_header("Location", "/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status = 404 if self.path == "/missing" else 200
        self.send_response(status)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        if body:
            self.wfile.write(BODY)

    def do_GET(self) -> None:
        self._answer(True)

    def do_HEAD(self) -> None:
        self._answer(False)

    def log_message(self, *args: object) -> None:
        pass


class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET


if __name__ == "__main__":
    address, cert, key = sys.argv[1:4]
    plain = Server((address, 80), Handler)
    tls = Server((address, 443), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    tls.socket = context.wrap_socket(tls.socket, server_side=True)
    for server in (plain, tls):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()
