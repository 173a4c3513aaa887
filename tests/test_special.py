"""``--public`` follows the IANA special-purpose address registries (pingu.special).

Addresses here are only checked by the policy, never contacted.
"""

from __future__ import annotations

import ipaddress
import re

import pytest

from pingu import special
from pingu.request import Policy, Refused
from pingu.special import PUBLIC_DENY, TABLE, Entry


def entries_holding(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[Entry]:
    """The entries of :data:`TABLE` that hold ``address``, widest first."""
    found = [e for e in TABLE if e.network.version == address.version and address in e.network]
    return sorted(found, key=lambda e: e.network.prefixlen)

PUBLIC = Policy.build(public=True)

#: The list ``--public`` denied before pingu.special: nothing in it may become allowed.
PREVIOUS_DENY = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    "::/96", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64",
    "2001::/23", "2001:db8::/32", "2002::/16", "3fff::/20", "5f00::/16", "fc00::/7",
    "fe80::/10", "fec0::/10", "ff00::/8",
)  # fmt: skip


def ends(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[str]:
    """The first and the last address of a network."""
    return [str(network.network_address), str(network.broadcast_address)]


def refused(address: str) -> bool:
    try:
        PUBLIC.check(ipaddress.ip_address(address))
    except Refused:
        return True
    return False


def denied_entries() -> list[Entry]:
    return [e for e in TABLE if e.denied]


def covered_by_denied(entry: Entry) -> bool:
    return any(
        d.network.version == entry.network.version and entry.network.subnet_of(d.network)
        for d in denied_entries()
    )


@pytest.mark.parametrize("entry", denied_entries(), ids=lambda e: str(e.network))
def test_first_and_last_address_of_each_denied_entry_is_refused(entry: Entry) -> None:
    for address in ends(entry.network):
        assert refused(address), f"{address} ({entry.name}, {entry.source}) passed --public"


@pytest.mark.parametrize(
    "cidr",
    [
        "::ffff:0:0:0/96",  # IPv4-translated, RFC 6145
        "100::/64",  # discard-only, RFC 6666
        "64:ff9b:1::/48",
        "2001:2::/48",
        "2001:db8::/32",
        "192.0.0.0/24",
        "198.18.0.0/15",
        "240.0.0.0/4",
        "255.255.255.255/32",
        "3fff::/20",
        "5f00::/16",
        "fc00::/7",
        "fe80::/10",
        "2002::/16",
        "2001::/32",
        "64:ff9b::/96",  # globally reachable per IANA, but a NAT64 reaches any IPv4 with it
        "192.88.99.2/32",
        "100.64.0.0/10",
        "224.0.0.0/4",
        "ff00::/8",
    ],
)
def test_the_ranges_the_issue_names_are_in_the_table_and_refused(cidr: str) -> None:
    network = ipaddress.ip_network(cidr)
    assert any(e.network == network and e.denied for e in TABLE), f"{cidr} not a denied entry"
    for address in ends(network):
        assert refused(address)


@pytest.mark.parametrize("cidr", PREVIOUS_DENY)
def test_nothing_the_previous_list_denied_becomes_allowed(cidr: str) -> None:
    network = ipaddress.ip_network(cidr)
    assert any(
        d.version == network.version and network.subnet_of(d)  # type: ignore[arg-type]
        for d in PUBLIC_DENY
    ), f"{cidr} is no longer covered by PUBLIC_DENY"
    for address in ends(network):
        assert refused(address)


@pytest.mark.parametrize(
    "address",
    [
        "192.0.0.9",  # PCP anycast: globally reachable, in non-global 192.0.0.0/24
        "192.0.0.10",  # TURN anycast: likewise
        "2001:1::1",  # PCP anycast, in non-global 2001::/23
        "2001:1::3",
        "2001:3::1",  # AMT
        "2001:20::1",  # ORCHIDv2
        "2001:30::1",  # DETs
    ],
)
def test_a_global_child_of_a_non_global_parent_stays_refused(address: str) -> None:
    holding = entries_holding(ipaddress.ip_address(address))
    assert holding[-1].globally_reachable is True  # the narrowest entry says global
    assert not holding[0].globally_reachable  # the widest one does not
    assert refused(address)


def test_global_entries_outside_denied_ranges_pass() -> None:
    # The registry marks these globally reachable and no denied entry holds
    # them; refusing them would be stricter than the registry for no reason.
    passing = [e for e in TABLE if not e.denied and not covered_by_denied(e)]
    assert {str(e.network) for e in passing} >= {
        "192.31.196.0/24", "192.52.193.0/24", "192.175.48.0/24", "2620:4f:8000::/48",
    }  # fmt: skip
    for entry in passing:
        for address in ends(entry.network):
            assert not refused(address), f"{address} ({entry.name}) was refused"


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "9.9.9.9", "2606:4700::1111", "2001:4860:4860::8888"]
)
def test_public_addresses_pass(address: str) -> None:
    PUBLIC.check(ipaddress.ip_address(address))  # a check only: nothing is sent


@pytest.mark.parametrize("address", ["8.8.8.8", "10.0.0.1", "fe80::1", "2606:4700::1111"])
def test_without_public_the_table_denies_nothing(address: str) -> None:
    Policy.build(public=False).check(ipaddress.ip_address(address))


def test_every_entry_has_a_source_name_and_registry() -> None:
    for entry in TABLE:
        assert re.search(r"\bRFC \d+", entry.source), entry
        assert entry.name.strip(), entry
        assert entry.registry in (special.IANA_IPV4, special.IANA_IPV6, special.OTHER), entry
        if entry.registry == special.IANA_IPV4:
            assert entry.network.version == 4, entry
        if entry.registry == special.IANA_IPV6:
            assert entry.network.version == 6, entry
        if entry.registry == special.OTHER:
            # Not in the registries: nothing to be globally reachable by.
            assert entry.globally_reachable is None and entry.denied, entry


def test_one_entry_per_network() -> None:
    networks = [e.network for e in TABLE]
    assert len(networks) == len(set(networks))


def test_deny_list_is_exactly_the_denied_entries() -> None:
    # Same addresses, however the networks are collapsed.
    for version in (4, 6):
        want = list(
            ipaddress.collapse_addresses(
                e.network for e in TABLE if e.denied and e.network.version == version
            )
        )
        assert [n for n in PUBLIC_DENY if n.version == version] == want
    # and nothing that is only globally reachable slipped in on its own
    for entry in TABLE:
        if not entry.denied and not covered_by_denied(entry):
            assert not any(
                d.version == entry.network.version and entry.network.overlaps(d)  # type: ignore[arg-type]
                for d in PUBLIC_DENY
            ), entry


def test_the_entries_holding_an_address_say_why_it_is_refused() -> None:
    names = [e.name for e in entries_holding(ipaddress.ip_address("192.0.0.9"))]
    assert names == ["IETF Protocol Assignments", "Port Control Protocol Anycast"]
    assert entries_holding(ipaddress.ip_address("8.8.8.8")) == []
