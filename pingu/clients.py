"""Who a client is, and the per-client counters every limit is kept in.

A client is its network address as the server (or the WAMP router) sees
it: an IPv4 address, or the IPv6 prefix of ``--client-prefix6`` bits that
holds it (one host usually owns a whole /64), or, for a principal that has
authenticated, its authid.  Every per-client limit counts these keys, so
more sockets, sessions or tabs from one address change nothing.

Behind a reverse proxy the TCP peer is the proxy: only when the peer is in
a ``--trusted-proxy`` network is the client taken from a header, and from
exactly one, the one the operator's proxy writes (``--client-header``:
``X-Forwarded-For``, ``Forwarded`` or ``X-Real-IP``), as the right-most
address no trusted proxy added.  Every other header is the client's own
and proves nothing, so none is read: a proxy that appends to
``X-Forwarded-For`` but passes the client's ``Forwarded`` through cannot be
turned into a way to choose one's identity.  Nothing here does I/O.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping
from typing import Optional, Union

IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

#: The key of a peer that has no IP address (a UNIX socket, an in-memory test).
LOCAL = "local"

#: The headers a proxy may write the client's address in (``--client-header``),
#: lower-cased as requests' headers are; the first is the default, the one
#: nginx, Caddy and HAProxy write.
CLIENT_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


class TrustedProxies(tuple[IPNetwork, ...]):
    """The networks of the operator's proxies (a tuple of them, so it goes
    wherever networks do), and ``header``: the one header they write the
    client's address in, one of :data:`CLIENT_HEADERS`."""

    header: str

    def __new__(
        cls, networks: Iterable[IPNetwork] = (), header: str = CLIENT_HEADERS[0]
    ) -> TrustedProxies:
        header = header.strip().lower()
        if header not in CLIENT_HEADERS:
            raise ValueError(
                f"--client-header must be one of X-Forwarded-For, Forwarded, X-Real-IP "
                f"(got {header!r})"
            )
        self = super().__new__(cls, networks)
        self.header = header
        return self


# Asked twice a connection for the same peer (the handshake guard at the
# accept, the WebSocket's onConnect), and again for each connection of a
# returning client: parsing and printing the address was 2.3 µs a time
# (bench/PROFILE.md section 9).  A pure function of its arguments; the cache
# holds 1024 answers at most (~200 KB).
@functools.lru_cache(maxsize=1024)
def client_key(host: Optional[str], prefix6: int = 64) -> str:
    """The client an address belongs to: ``192.0.2.7`` or ``2001:db8:1:2::/64``.

    IPv4-mapped IPv6 addresses are their IPv4 host; anything that is not an
    IP address is :data:`LOCAL`."""
    if not host:
        return LOCAL
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0].strip("[]"))
    except ValueError:
        return LOCAL
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        network = ipaddress.IPv6Network((address, prefix6), strict=False)
        return str(network) if prefix6 < 128 else str(address)
    return str(address)


def authid_key(authid: str) -> str:
    """The client of an authenticated principal (its authid, not its address)."""
    return f"authid:{authid}"


def _node_address(node: str) -> str:
    """The address of a node as proxies write it: ``192.0.2.1``,
    ``192.0.2.1:4711``, ``[2001:db8::1]:4711``, ``"..."`` (Forwarded quotes)."""
    value = node.strip().strip('"').strip()
    if value.startswith("["):  # "[2001:db8::1]:4711"
        end = value.find("]")
        return value[1:end] if end > 0 else value
    if value.count(":") == 1:  # "192.0.2.1:4711"
        return value.split(":", 1)[0]
    return value


def _forwarded_for(element: str) -> str:
    """The ``for=`` node of one ``Forwarded`` element (RFC 7239), or "" when
    it names none."""
    for pair in element.split(";"):
        name, _, value = pair.partition("=")
        if name.strip().lower() == "for":
            return _node_address(value)
    return ""


def forwarded_chain(header: str, value: str) -> list[str]:
    """The client addresses proxies recorded in ``header``, nearest proxy last.

    Split at every comma, quoted or not: a trusted proxy's own element never
    holds one (an address, a port, ``unknown``), and only elements to the
    right of the first untrusted one are ever believed, so whatever a client
    wrote to the left (an unbalanced quote, a comma inside quotes) cannot
    reach into the proxy's part.  Several lines of one header arrive joined
    by commas, in order."""
    parts = [part for part in value.split(",") if part.strip()]
    if header == "forwarded":
        return [_forwarded_for(part) for part in parts]
    return [_node_address(part) for part in parts]


def in_networks(host: str, networks: Iterable[IPNetwork]) -> bool:
    """Is ``host`` an IP address inside one of ``networks``?"""
    if isinstance(networks, tuple) and not networks:
        return False  # no trusted proxy (the usual case): no address to parse, 1.6 µs
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in net for net in networks if net.version == address.version)


def peer_client(
    peer: Optional[str],
    headers: Mapping[str, str],
    trusted_proxies: tuple[IPNetwork, ...] = (),
    prefix6: int = 64,
) -> str:
    """The client of a connection whose TCP peer is ``peer``.

    ``headers`` are the request's, lower-cased names.  One of them is read,
    and only when ``peer`` is a trusted proxy: ``trusted_proxies.header``
    (``X-Forwarded-For`` for a plain tuple of networks).  The client is then
    the right-most address in it that is not a trusted proxy itself
    (anything left of it was written by the client and proves nothing);
    a hop that is no address (``unknown``) leaves the nearest proxy."""
    host = peer or ""
    if trusted_proxies and in_networks(host, trusted_proxies):
        header = (
            trusted_proxies.header
            if isinstance(trusted_proxies, TrustedProxies)
            else CLIENT_HEADERS[0]
        )
        for hop in reversed(forwarded_chain(header, headers.get(header, ""))):
            if not in_networks(hop, trusted_proxies):
                return client_key(hop, prefix6) if is_ip(hop) else client_key(host, prefix6)
            host = hop
    return client_key(host, prefix6)


def is_ip(text: str) -> bool:
    """Is ``text`` an IP address (no zone, no brackets)?"""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class Counter:
    """How many of something each key holds (connections, runs, lookups).

    Keys at zero are forgotten, so the table holds only keys with something
    open; ``total`` is the sum over every key."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self.total = 0

    def __getitem__(self, key: str) -> int:
        return self._counts.get(key, 0)

    def __len__(self) -> int:
        return len(self._counts)

    def add(self, key: str) -> None:
        """One more for ``key``."""
        self._counts[key] = self._counts.get(key, 0) + 1
        self.total += 1

    def remove(self, key: str) -> None:
        """One less for ``key`` (never below zero)."""
        left = self._counts.get(key, 0) - 1
        if left < 0:
            return
        self.total -= 1
        if left:
            self._counts[key] = left
        else:
            del self._counts[key]


class RateLimit:
    """A token bucket per key: at most ``rate`` takes a second, bursts of ``rate``."""

    #: Buckets kept before the full ones are forgotten.
    PRUNE_AT = 4096

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, updated)

    def take(self, key: str, now: float) -> bool:
        """Take one token for ``key`` at time ``now``; False when none is left."""
        if len(self._buckets) > self.PRUNE_AT:
            # A bucket untouched for a second is full again: forget it.
            self._buckets = {k: b for k, b in self._buckets.items() if now - b[1] < 1}
        # A bucket holds at least one token: a rate below 1 a second is one
        # take every 1/rate seconds, not none at all.
        full = max(1.0, self.rate)
        tokens, updated = self._buckets.get(key, (full, now))
        tokens = min(full, tokens + (now - updated) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1, now)
        return True
