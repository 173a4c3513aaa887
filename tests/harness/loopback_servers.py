"""Servers for the probe tools on loopback, for the browser tests:

    with LoopbackServers(workdir) as servers:
        servers.ports["open"]     # an HTTP server on 127.0.0.1 (also tcp's open port)
        servers.ports["tls"]      # the same over HTTPS (a certificate for 127.0.0.1)
        servers.ports["closed"]   # a port nothing listens on (tcp: refused)
        servers.dns               # the test zone's DNS server, port 53 of this address
        servers.allow_port        # --allow-port for the three ports
        servers.ca                # --http-ca-file: the test's own CA, made by openssl
        servers.pingu_args        # twistd pingu's options for them (the two above)

The HTTP server is tests/harness/http_server.py's handler (``/`` 200,
``/moved`` 301, ``/missing`` 404, ``/slow``); the DNS server is
tests/harness/dns_server.py (``www.test.example`` A and AAAA,
``servfail.test.example`` SERVFAIL) on an address of 127.0.0.0/8 of this
process's own (all of 127.0.0.0/8 is this host's, and dnsping asks port 53):
not the system resolver's, not another test process's.
"""

from __future__ import annotations

import os
import shutil
import ssl
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


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate for the address 127.0.0.1 it signed: (ca, cert, key)."""
    ca, cert, key = (folder / n for n in ("ca.pem", "cert.pem", "key.pem"))

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", str(ca),
            "-days", "2", "-subj", "/CN=pingu test CA")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", "cert.csr",
            "-subj", "/CN=127.0.0.1")  # fmt: skip
    (folder / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "cert.csr", "-CA", str(ca), "-CAkey", "ca.key",
            "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", "ext")  # fmt: skip
    return ca, cert, key


#: The executables of the tools these servers answer.
PROBE_TOOLS = ("nping", "dnsping", "curl")


def skip_without_probe_tools() -> None:
    """Skip the test unless nping, dnsping and curl are all installed."""
    import pytest

    missing = [t for t in PROBE_TOOLS if not shutil.which(t)]
    if missing:
        pytest.skip(f"needs {missing} (./dev installs the registry's packages)")


class LoopbackServers:
    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.dns = own_loopback_address()
        self.ca = self.workdir / "ca.pem"
        self.web: Optional[Server] = None
        self.tls: Optional[Server] = None
        self.zone: Optional[subprocess.Popen[str]] = None
        self.ports: dict[str, int] = {}

    @property
    def allow_port(self) -> str:
        return ",".join(str(port) for port in self.ports.values())

    @property
    def pingu_args(self) -> tuple[str, ...]:
        """``twistd pingu``'s options for these servers: their ports allowed,
        https verified against the test's CA, probes down to 0.1 s apart."""
        return ("--allow-port", self.allow_port, "--min-interval", "0.1",
                "--http-ca-file", str(self.ca))  # fmt: skip

    def __enter__(self) -> LoopbackServers:
        ca, cert, key = make_certificates(self.workdir)
        self.web = Server(("127.0.0.1", 0), Handler)
        self.tls = Server(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.tls.socket = context.wrap_socket(self.tls.socket, server_side=True)
        for server in (self.web, self.tls):
            threading.Thread(target=server.serve_forever, daemon=True).start()
        self.ports = {
            "open": int(self.web.server_address[1]),
            "tls": int(self.tls.server_address[1]),
            "closed": free_port(),
        }
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
        for server in (self.web, self.tls):
            if server is not None:
                server.shutdown()
                server.server_close()
