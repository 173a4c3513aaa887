"""Who a client is (pingu.clients): the keys every per-client limit counts,
the trusted-proxy reading of forwarded headers, and the counters."""

from __future__ import annotations

import ipaddress

import pytest

from pingu.clients import (
    LOCAL,
    Counter,
    RateLimit,
    TrustedProxies,
    authid_key,
    client_key,
    peer_client,
)

PROXY = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))
#: the same proxies, writing the client's address in Forwarded or X-Real-IP
FORWARDED = TrustedProxies(PROXY, "Forwarded")
REAL_IP = TrustedProxies(PROXY, "X-Real-IP")


# -- client_key -------------------------------------------------------------------


def test_an_ipv4_address_is_its_own_client() -> None:
    assert client_key("192.0.2.7") == "192.0.2.7"
    assert client_key("192.0.2.7") != client_key("192.0.2.8")


def test_ipv6_addresses_of_one_prefix64_are_one_client() -> None:
    a = client_key("2001:db8:1:2::1")
    b = client_key("2001:db8:1:2:ffff:ffff:ffff:ffff")
    assert a == b == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != a


@pytest.mark.parametrize(
    ("prefix", "key"),
    [
        (48, "2001:db8:1::/48"),
        (56, "2001:db8:1:200::/56"),
        (64, "2001:db8:1:2ab::/64"),
        (0, "::/0"),
    ],
)
def test_other_ipv6_prefixes(prefix: int, key: str) -> None:
    assert client_key("2001:db8:1:2ab::9", prefix) == key


def test_prefix128_keys_each_ipv6_host_apart() -> None:
    assert client_key("2001:db8::1", 128) == "2001:db8::1"
    assert client_key("2001:db8::2", 128) == "2001:db8::2"


def test_a_v4_mapped_address_is_its_ipv4_host() -> None:
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_key("::ffff:192.0.2.7", 128) == "192.0.2.7"


def test_zone_ids_and_brackets_do_not_make_another_client() -> None:
    assert client_key("fe80::1%eth0") == client_key("fe80::2") == "fe80::/64"
    assert client_key("[2001:db8::1]") == "2001:db8::/64"


@pytest.mark.parametrize("host", [None, "", "unix", "not an address", "192.0.2", "::g", "[]"])
def test_anything_else_is_local(host) -> None:
    assert client_key(host) == LOCAL == "local"


def test_an_authid_key_is_not_an_address() -> None:
    assert authid_key("alice") == "authid:alice"
    assert authid_key("192.0.2.7") != client_key("192.0.2.7")


# -- peer_client ------------------------------------------------------------------


def test_headers_of_an_untrusted_peer_are_ignored() -> None:
    headers = {"x-forwarded-for": "198.51.100.1", "forwarded": "for=198.51.100.2"}
    assert peer_client("192.0.2.7", headers) == "192.0.2.7"
    # trusted proxies are configured, but this peer is not one of them
    assert peer_client("192.0.2.7", headers, PROXY) == "192.0.2.7"


def test_no_trusted_proxy_no_forwarding_even_from_a_private_address() -> None:
    assert peer_client("10.0.0.1", {"x-forwarded-for": "198.51.100.1"}) == "10.0.0.1"


def test_x_forwarded_for_right_most_untrusted_hop() -> None:
    # the client wrote 6.6.6.6 itself; 198.51.100.1 is what our first proxy saw
    headers = {"x-forwarded-for": "6.6.6.6, 198.51.100.1, 10.1.1.1"}
    assert peer_client("10.0.0.1", headers, PROXY) == "198.51.100.1"


def test_forwarded_header_with_quoted_ipv6_and_ports() -> None:
    headers = {"forwarded": 'for="[2001:db8:cafe::17]:4711";proto=https;by=10.0.0.1'}
    assert peer_client("10.0.0.1", headers, FORWARDED) == "2001:db8:cafe::/64"
    headers = {"forwarded": 'for=6.6.6.6, for="198.51.100.1:4711", For=10.2.2.2'}
    assert peer_client("10.0.0.1", headers, FORWARDED) == "198.51.100.1"
    headers = {"forwarded": "for=198.51.100.9:80"}
    assert peer_client("10.0.0.1", headers, FORWARDED) == "198.51.100.9"
    headers = {"forwarded": "proto=https;For=198.51.100.3"}
    assert peer_client("10.0.0.1", headers, FORWARDED) == "198.51.100.3"


SPOOFED = {
    "forwarded": "for=203.0.113.66",
    "x-forwarded-for": "203.0.113.67, 198.51.100.2",
    "x-real-ip": "203.0.113.68",
}


@pytest.mark.parametrize(
    ("proxies", "client"),
    [(PROXY, "198.51.100.2"), (FORWARDED, "203.0.113.66"), (REAL_IP, "203.0.113.68")],
)
def test_only_the_chosen_header_is_read(proxies, client) -> None:
    """Issue 17: Forwarded used to win whenever present, so behind a proxy
    that appends X-Forwarded-For the client chose itself with Forwarded."""
    assert peer_client("10.0.0.1", SPOOFED, proxies) == client


def test_the_default_header_is_x_forwarded_for_and_others_are_refused() -> None:
    assert TrustedProxies(PROXY).header == "x-forwarded-for"
    assert TrustedProxies(PROXY, " X-Real-IP ").header == "x-real-ip"
    assert TrustedProxies(PROXY) == PROXY  # the networks, wherever networks go
    with pytest.raises(ValueError, match="--client-header must be one of"):
        TrustedProxies(PROXY, "True-Client-IP")


@pytest.mark.parametrize(
    "spoof",
    [
        'for="',  # an unbalanced quote meant to swallow the proxy's element
        'for="198.51.100.50, for=198.51.100.51"',  # a comma inside quotes
        "for=198.51.100.50;by=",
        'for=198.51.100.50, for="[',
    ],
)
def test_what_a_client_writes_cannot_reach_into_the_proxys_forwarded(spoof) -> None:
    # two lines of Forwarded arrive joined by ", ": the client's, then the proxy's
    headers = {"forwarded": f'{spoof}, for="198.51.100.7:5555";proto=https'}
    assert peer_client("10.0.0.1", headers, FORWARDED) == "198.51.100.7"


def test_x_real_ip_of_the_proxy_is_read_like_a_chain() -> None:
    assert peer_client("10.0.0.1", {"x-real-ip": "198.51.100.4"}, REAL_IP) == "198.51.100.4"
    assert peer_client("10.0.0.1", {"x-real-ip": "[2001:db8::1]:80"}, REAL_IP) == (
        "2001:db8::/64"
    )
    assert peer_client("10.0.0.1", {"x-forwarded-for": "198.51.100.4"}, REAL_IP) == "10.0.0.1"


def test_forwarded_ipv6_is_grouped_by_the_prefix() -> None:
    headers = {"x-forwarded-for": "2001:db8:1:2::5"}
    assert peer_client("fd00::1", headers, PROXY) == "2001:db8:1:2::/64"
    assert peer_client("fd00::1", headers, PROXY, prefix6=128) == "2001:db8:1:2::5"


def test_an_all_trusted_chain_is_its_left_most_proxy() -> None:
    headers = {"x-forwarded-for": "10.3.3.3, 10.2.2.2"}
    assert peer_client("10.0.0.1", headers, PROXY) == "10.3.3.3"


def test_a_trusted_peer_without_headers_is_itself() -> None:
    assert peer_client("10.0.0.1", {}, PROXY) == "10.0.0.1"


@pytest.mark.parametrize(
    "headers",
    [
        {"x-forwarded-for": "unknown"},
        {"x-forwarded-for": "6.6.6.6, garbage"},
        {"forwarded": "for=_hidden"},
        {"forwarded": 'for="unknown"'},
        {"forwarded": "by=10.0.0.1;proto=https"},
    ],
)
def test_a_non_ip_hop_falls_back_to_the_proxy(headers) -> None:
    assert peer_client("10.0.0.1", headers, FORWARDED if "forwarded" in headers else PROXY) == (
        "10.0.0.1"
    )


def test_a_non_ip_hop_behind_a_second_proxy_is_that_proxy() -> None:
    headers = {"x-forwarded-for": "garbage, 10.2.2.2"}
    assert peer_client("10.0.0.1", headers, PROXY) == "10.2.2.2"


def test_a_peer_without_an_address_is_local() -> None:
    assert peer_client(None, {"x-forwarded-for": "198.51.100.1"}, PROXY) == LOCAL


# -- Counter --------------------------------------------------------------------


def test_counter_counts_per_key_and_in_total_and_forgets_zeroes() -> None:
    c = Counter()
    c.add("a")
    c.add("a")
    c.add("b")
    assert (c["a"], c["b"], c["z"], c.total, len(c)) == (2, 1, 0, 3, 2)
    c.remove("a")
    c.remove("b")
    assert (c["a"], c["b"], c.total, len(c)) == (1, 0, 1, 1)
    c.remove("b")  # never below zero, and the total is not touched
    c.remove("nobody")
    assert (c["b"], c.total, len(c)) == (0, 1, 1)
    c.remove("a")
    assert (c.total, len(c)) == (0, 0)


# -- RateLimit --------------------------------------------------------------------


def test_rate_limit_allows_a_burst_of_rate_then_refuses() -> None:
    r = RateLimit(3)
    assert [r.take("a", 100.0) for _ in range(4)] == [True, True, True, False]
    assert r.take("b", 100.0)  # another key has its own bucket


def test_rate_limit_refills_over_time() -> None:
    r = RateLimit(2)
    assert [r.take("a", 0.0) for _ in range(3)] == [True, True, False]
    assert not r.take("a", 0.4)  # 0.8 token
    assert r.take("a", 0.5)  # 1 token
    assert not r.take("a", 0.5)
    assert [r.take("a", 10.0) for _ in range(3)] == [True, True, False]  # full, not more


def test_refused_takes_do_not_push_the_refill_back() -> None:
    r = RateLimit(1)
    assert r.take("a", 0.0)
    for t in (0.1, 0.2, 0.3, 0.9):
        assert not r.take("a", t)
    assert r.take("a", 1.0)


def test_pruning_forgets_only_full_buckets() -> None:
    r = RateLimit(2)
    for i in range(RateLimit.PRUNE_AT + 1):
        assert r.take(f"k{i}", 0.0)
    assert r.take("victim", 0.9) and r.take("victim", 0.9)
    assert not r.take("victim", 0.9)
    # at 1.5 the table is pruned: every k* is full again and forgotten, but
    # the victim (0.6 s ago, 1.2 tokens) keeps its state
    assert r.take("victim", 1.5)
    assert len(r._buckets) < 10
    assert not r.take("victim", 1.5)
    assert r.take("k0", 1.5) and r.take("k0", 1.5) and not r.take("k0", 1.5)


def test_the_table_stays_bounded_under_many_keys() -> None:
    r = RateLimit(5)
    for i in range(20000):
        r.take(f"k{i}", i * 0.01)  # 100 new keys a second
    assert len(r._buckets) <= RateLimit.PRUNE_AT + 1


def test_a_rate_below_one_still_allows_one_take_now_and_then() -> None:
    r = RateLimit(0.5)
    assert r.take("a", 0.0)
    assert not r.take("a", 1.0)
    assert r.take("a", 2.0)


# -- HandshakeGuard: sockets still in their handshake, by client --------------------


class FakeTransport:
    def __init__(self, host: str) -> None:
        from twisted.internet.address import IPv4Address, IPv6Address

        kind = IPv6Address if ":" in host else IPv4Address
        self.peer = kind("TCP", host, 40000)
        self.aborted = 0  # reset at once (over a cap)
        self.closed = 0  # closed cleanly (the deadline)

    def getPeer(self):
        return self.peer

    def abortConnection(self) -> None:
        self.aborted += 1

    def loseConnection(self) -> None:
        self.closed += 1


def guard(**kw):
    from twisted.internet.testing import MemoryReactorClock

    from pingu.handshakes import HandshakeGuard

    clock = MemoryReactorClock()
    options = {"deadline": 10.0, "per_client": 2, "total": 5, **kw}
    return HandshakeGuard(clock, **options), clock


def test_handshakes_are_capped_per_client() -> None:
    g, _ = guard()
    a = [FakeTransport("192.0.2.1") for _ in range(3)]
    assert [g.opened(t) for t in a] == [True, True, False]
    assert [t.aborted for t in a] == [0, 0, 1]
    assert g.opened(FakeTransport("192.0.2.2"))  # another client is served
    # one IPv6 /64 is one client
    v6 = [FakeTransport(f"2001:db8::{i}") for i in range(1, 4)]
    assert [g.opened(t) for t in v6[:2]] == [True, True]
    assert not g.opened(v6[2]) and v6[2].aborted == 1


def test_handshakes_are_capped_in_total() -> None:
    g, _ = guard(per_client=10, total=3)
    ts = [FakeTransport(f"192.0.2.{i}") for i in range(1, 5)]
    assert [g.opened(t) for t in ts] == [True, True, True, False]
    assert ts[3].aborted == 1 and g.pending.total == 3
    g.closed(ts[0])
    assert g.opened(FakeTransport("192.0.2.9"))


def test_the_deadline_is_absolute_even_if_data_keeps_arriving() -> None:
    from twisted.internet.address import IPv4Address
    from twisted.internet.testing import StringTransport

    from pingu.handshakes import GuardedChannel

    g, clock = guard(deadline=10.0)

    class Channel(GuardedChannel):
        pass

    class Transport(StringTransport):
        aborted = 0

        def abortConnection(self) -> None:
            self.aborted += 1
            super().abortConnection()

    Channel.guard = g
    channel = Channel()
    channel.callLater = clock.callLater  # Twisted's own timeout, reset by every byte
    transport = Transport(peerAddress=IPv4Address("TCP", "192.0.2.1", 40000))
    channel.makeConnection(transport)
    assert g.pending["192.0.2.1"] == 1
    trickle = b"GET / HTTP/1.1\r\nX-Slow: " + b"a" * 100
    for byte in trickle[:19]:  # a byte every half second, for 9.5 s
        clock.advance(0.5)
        channel.dataReceived(bytes([byte]))
    assert not transport.disconnecting
    clock.advance(0.5)  # 10 s after the socket opened
    # closed (a clean FIN: nothing of the server's is queued) and released
    assert transport.disconnecting and g.pending.total == 0
    channel.connectionLost(None)  # the close's connectionLost: nothing more to release
    assert g.pending.total == 0


def test_the_deadline_closes_a_trickling_socket() -> None:
    g, clock = guard(deadline=10.0)
    t = FakeTransport("192.0.2.1")
    g.opened(t)
    clock.advance(9.9)
    assert t.closed == 0
    clock.advance(0.1)
    assert t.closed == 1 and g.pending.total == 0
    g.closed(t)  # the close's connectionLost
    assert g.pending.total == 0 and not clock.getDelayedCalls()


def test_upgraded_releases_the_slot_and_the_deadline() -> None:
    g, clock = guard(per_client=1)
    t = FakeTransport("192.0.2.1")
    assert g.opened(t)
    assert not g.opened(FakeTransport("192.0.2.1"))
    g.upgraded(t)
    assert g.pending.total == 0 and not clock.getDelayedCalls()
    clock.advance(60)
    assert t.aborted == 0  # a WebSocket lives past the handshake deadline
    assert g.opened(FakeTransport("192.0.2.1"))
    g.closed(t)  # closing after the upgrade releases nothing twice
    assert g.pending.total == 1


def test_a_refused_socket_releases_nothing_when_it_closes() -> None:
    g, _ = guard(per_client=1)
    first, second = FakeTransport("192.0.2.1"), FakeTransport("192.0.2.1")
    g.opened(first)
    assert not g.opened(second)
    g.closed(second)
    assert g.pending["192.0.2.1"] == 1
    assert not g.opened(FakeTransport("192.0.2.1"))


def test_a_trusted_proxy_is_not_capped_per_client_but_in_total() -> None:
    g, _ = guard(per_client=2, total=5, trusted_proxies=PROXY)
    proxied = [FakeTransport("10.0.0.1") for _ in range(6)]
    assert [g.opened(t) for t in proxied] == [True] * 5 + [False]
    g2, _ = guard(per_client=2, total=5)  # not trusted: capped like anyone
    assert [g2.opened(FakeTransport("10.0.0.1")) for _ in range(3)] == [True, True, False]


def test_a_refused_channel_is_aborted_and_its_close_is_harmless() -> None:
    from twisted.internet.address import IPv4Address
    from twisted.internet.testing import StringTransport

    from pingu.handshakes import GuardedChannel

    g, clock = guard(per_client=1)

    class Channel(GuardedChannel):
        pass

    Channel.guard = g
    transports = []
    for _ in range(2):
        channel = Channel()
        channel.callLater = clock.callLater
        transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.1", 40000))
        channel.makeConnection(transport)
        transports.append((channel, transport))
    (_, first), (second_channel, second) = transports
    assert not first.disconnecting and second.disconnecting
    second_channel.connectionLost(None)
    assert g.pending["192.0.2.1"] == 1
