"""Which host names this server answers for, and whether an Origin is its own.

DNS rebinding: a page on ``evil.example`` makes its name resolve to a
server on the visitor's LAN; the browser then sends ``Host: evil.example``
and ``Origin: http://evil.example``, which match each other.  So matching
the Origin with the Host proves nothing unless the Host is one of the
server's own names.  By default those are IP literals (a rebinding needs a
name), ``localhost`` and this machine's own names; ``--server-name`` adds
the names the server is reached by.  Nothing here does I/O but reading the
host name once.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit

from pingu.clients import is_ip

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def split_host(host: str) -> tuple[str, Optional[int]]:
    """``"[::1]:8080"`` -> ``("::1", 8080)``; ``"Example.org"`` -> ``("example.org", None)``.

    A port that is not a number gives ``("", None)``: no name matches it.

    Not ``urllib.parse.urlsplit("//" + host)``: tried (Python 3.11.7), it
    takes ``[::1]x`` for ``::1`` and ``example.org:`` for ``example.org``,
    which must match no name (tests/test_hosts.py), and raises on the rest."""
    host = host.strip().lower()
    port: Optional[int] = None
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return "", None
        name, rest = host[1:end], host[end + 1 :]
        if rest.startswith(":"):
            if not _is_port(rest[1:]):
                return "", None
            port = int(rest[1:])
        elif rest:
            return "", None
        return name.rstrip("."), port
    if host.count(":") == 1:
        name, _, text = host.partition(":")
        if not _is_port(text):
            return "", None
        return name.rstrip("."), int(text)
    return host.rstrip("."), None


def _is_port(text: str) -> bool:
    # ASCII digits only: str.isdigit() is true for "²" and other digits
    # int() reads differently or not at all.
    return re.fullmatch(r"[0-9]{1,5}", text) is not None


@dataclass(frozen=True)
class ServerNames:
    """The names a request's ``Host`` may carry."""

    names: frozenset[str]
    #: accept any IP literal (the default: rebinding needs a name)
    literals: bool = True

    @classmethod
    def default(cls, extra: tuple[str, ...] = ()) -> ServerNames:
        """IP literals, ``localhost``, this machine's names, and ``extra``."""
        hostname = socket.gethostname().lower()
        own = {"localhost", hostname, hostname.split(".")[0]}
        return cls(frozenset(n.lower().rstrip(".") for n in (*own, *extra) if n))

    def allowed(self, host: str) -> bool:
        """Does this server answer for ``host`` (a ``Host`` header's value)?"""
        name, _ = split_host(host)
        if not name:
            return False
        if is_ip(name.split("%", 1)[0]):
            return self.literals
        return name in self.names or name.endswith(".localhost")


def origin_matches(origin: str, host: str, scheme: Optional[str]) -> bool:
    """Is ``origin`` the page of ``host`` (same host and port; same scheme
    when ``scheme`` is given: ``http`` or ``https``)?"""
    try:
        parts = urlsplit(origin)
        origin_port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if scheme is not None and parts.scheme != scheme:
        return False
    name, port = split_host(host)
    default = _DEFAULT_PORTS[parts.scheme]
    return parts.hostname == name and (origin_port or default) == (port or default)
