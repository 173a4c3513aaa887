"""Servers for the probe tools on loopback, for the browser tests:

    with LoopbackServers() as servers:
        servers.ports["open"]     # an HTTP server on 127.0.0.1 (also tcp's open port)
        servers.ports["closed"]   # a port nothing listens on (tcp: refused)
        servers.dns               # the test zone's DNS server, port 53 of this address
        servers.allow_port        # --allow-port for both ports

The HTTP server is tests/harness/http_server.py's handler (``/`` 200,
``/moved`` 301, ``/missing`` 404, ``/slow``); the DNS server is
tests/harness/dns_server.py (``www.test.example`` A and AAAA,
``servfail.test.example`` SERVFAIL) on an address of 127.0.0.0/8 of this
process's own (all of 127.0.0.0/8 is this host's, and dnsping asks port 53):
not the system resolver's, not another test process's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Optional

from tests.harness.http_server import Handler, Server
from tests.harness.ports import free_port

DNS_SERVER = Path(__file__).resolve().parent / "dns_server.py"


def own_loopback_address() -> str:
    """127.53.X.Y from this process's id."""
    pid = os.getpid()
    return f"127.53.{pid % 250 + 1}.{pid // 250 % 250 + 1}"


class LoopbackServers:
    def __init__(self) -> None:
        self.dns = own_loopback_address()
        self.web: Optional[Server] = None
        self.zone: Optional[subprocess.Popen[str]] = None
        self.ports: dict[str, int] = {}

    @property
    def allow_port(self) -> str:
        return f"{self.ports['open']},{self.ports['closed']}"

    def __enter__(self) -> LoopbackServers:
        self.web = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.web.serve_forever, daemon=True).start()
        self.ports = {"open": int(self.web.server_address[1]), "closed": free_port()}
        self.zone = subprocess.Popen(
            [sys.executable, str(DNS_SERVER), self.dns, "53"], stdout=subprocess.PIPE, text=True
        )
        try:
            assert self.zone.stdout is not None and self.zone.stdout.readline() == "ready\n"
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.zone is not None:
            self.zone.kill()
            self.zone.wait()
            if self.zone.stdout is not None:
                self.zone.stdout.close()
        if self.web is not None:
            self.web.shutdown()
            self.web.server_close()
