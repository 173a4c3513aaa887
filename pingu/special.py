"""The special-purpose address ranges that ``--public`` refuses to ping.

One table, :data:`TABLE`, transcribes the IANA IPv4 and IPv6
Special-Purpose Address Registries (RFC 6890; the registries as of 2025),
and adds the few ranges a public ping page must also refuse that live in
other registries or in deprecated RFCs (multicast, site-local, the
IPv4-compatible and IPv4-translated forms).  :data:`PUBLIC_DENY` is built
from it and nothing else.

Which entries are denied (:attr:`Entry.denied`):

* every entry the registry does not mark *globally reachable* (loopback,
  private-use, link-local, shared, documentation, benchmarking, reserved,
  discard-only, ...), including the ones where the registry says N/A
  (deprecated blocks, 6to4, Teredo);
* every entry that embeds an IPv4 address (IPv4-mapped, -compatible and
  -translated, NAT64 ``64:ff9b::/96`` although the registry marks it
  globally reachable, 6to4, Teredo): a translator or relay would carry the
  echo request to that IPv4 address, which may well be one of the ranges
  above;
* the entries that are not in the special-purpose registries at all.

Globally reachable children of a non-global parent (``192.0.0.9/32`` and
``192.0.0.10/32`` in ``192.0.0.0/24``; the anycast, AMT, AS112, ORCHIDv2 and
DET blocks in ``2001::/23``) stay refused: pingu only keeps a deny list and
never carves an exception out of a denied range, so an address is refused
as soon as *any* denied entry holds it.  That is the safe reading: these
are protocol anycast addresses and special-purpose prefixes, not hosts a
public ping page has any need to reach, and refusing them can only make
pingu stricter than the registry, never looser.  Globally reachable entries
outside any denied parent (``192.31.196.0/24``, ``2620:4f:8000::/48``, ...)
are in the table for completeness and are pingable.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Optional, Union

IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

#: Where an entry comes from.
IANA_IPV4 = "IANA IPv4 Special-Purpose Address Registry"
IANA_IPV6 = "IANA IPv6 Special-Purpose Address Registry"
#: Not in the special-purpose registries; refused by pingu all the same.
OTHER = "not in the special-purpose registries"


@dataclass(frozen=True)
class Entry:
    """One special-purpose range.

    ``globally_reachable`` is the registry's column: ``True``, ``False``, or
    ``None`` where the registry says N/A (and for :data:`OTHER` entries,
    which are not in the registry).
    """

    network: IPNetwork
    name: str
    source: str
    registry: str
    globally_reachable: Optional[bool]
    embeds_ipv4: bool = False

    @property
    def denied(self) -> bool:
        """Does ``--public`` refuse this range (see the module's docstring)?"""
        return self.globally_reachable is not True or self.embeds_ipv4


def _e(
    cidr: str,
    name: str,
    source: str,
    registry: str,
    globally_reachable: Optional[bool],
    embeds_ipv4: bool = False,
) -> Entry:
    return Entry(
        ipaddress.ip_network(cidr), name, source, registry, globally_reachable, embeds_ipv4
    )


V4, V6 = IANA_IPV4, IANA_IPV6

#: Every special-purpose range pingu knows, in registry order.
TABLE: tuple[Entry, ...] = (
    # -- IPv4 (RFC 6890 registry) --------------------------------------------------
    _e("0.0.0.0/8", "This network", "RFC 791, section 3.2", V4, False),
    _e("0.0.0.0/32", "This host on this network", "RFC 1122, section 3.2.1.3", V4, False),
    _e("10.0.0.0/8", "Private-Use", "RFC 1918", V4, False),
    _e("100.64.0.0/10", "Shared Address Space", "RFC 6598", V4, False),
    _e("127.0.0.0/8", "Loopback", "RFC 1122, section 3.2.1.3", V4, False),
    _e("169.254.0.0/16", "Link Local", "RFC 3927", V4, False),
    _e("172.16.0.0/12", "Private-Use", "RFC 1918", V4, False),
    _e("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890, section 2.1", V4, False),
    _e("192.0.0.0/29", "IPv4 Service Continuity Prefix", "RFC 7335", V4, False),
    _e("192.0.0.8/32", "IPv4 dummy address", "RFC 7600", V4, False),
    _e("192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723", V4, True),
    _e("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155", V4, True),
    _e("192.0.0.170/32", "NAT64/DNS64 Discovery", "RFC 8880; RFC 7050, section 2.2", V4, False),
    _e("192.0.0.171/32", "NAT64/DNS64 Discovery", "RFC 8880; RFC 7050, section 2.2", V4, False),
    _e("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737", V4, False),
    _e("192.31.196.0/24", "AS112-v4", "RFC 7535", V4, True),
    _e("192.52.193.0/24", "AMT", "RFC 7450", V4, True),
    _e("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526", V4, None),
    _e("192.88.99.2/32", "6a44-relay anycast address", "RFC 6751", V4, False),
    _e("192.168.0.0/16", "Private-Use", "RFC 1918", V4, False),
    _e("192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534", V4, True),
    _e("198.18.0.0/15", "Benchmarking", "RFC 2544", V4, False),
    _e("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737", V4, False),
    _e("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737", V4, False),
    _e("240.0.0.0/4", "Reserved", "RFC 1112, section 4", V4, False),
    _e("255.255.255.255/32", "Limited Broadcast", "RFC 8190; RFC 919, section 7", V4, False),
    # -- IPv4, elsewhere -----------------------------------------------------------
    _e("224.0.0.0/4", "Multicast", "RFC 5771", OTHER, None),
    # -- IPv6 (RFC 6890 registry) --------------------------------------------------
    _e("::1/128", "Loopback Address", "RFC 4291", V6, False),
    _e("::/128", "Unspecified Address", "RFC 4291", V6, False),
    _e("::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291", V6, False, embeds_ipv4=True),
    _e("64:ff9b::/96", "IPv4-IPv6 Translat.", "RFC 6052", V6, True, embeds_ipv4=True),
    _e(
        "64:ff9b:1::/48",
        "Local-use IPv4/IPv6 Translation",
        "RFC 8215",
        V6,
        False,
        embeds_ipv4=True,
    ),
    _e("100::/64", "Discard-Only Address Block", "RFC 6666", V6, False),
    _e("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780", V6, False),
    _e("2001::/23", "IETF Protocol Assignments", "RFC 2928", V6, False),
    _e("2001::/32", "TEREDO", "RFC 4380; RFC 8190", V6, None, embeds_ipv4=True),
    _e("2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723", V6, True),
    _e("2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155", V6, True),
    _e("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665", V6, True),
    _e("2001:2::/48", "Benchmarking", "RFC 5180; RFC Errata 1752", V6, False),
    _e("2001:3::/32", "AMT", "RFC 7450", V6, True),
    _e("2001:4:112::/48", "AS112-v6", "RFC 7535", V6, True),
    _e("2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843", V6, None),
    _e("2001:20::/28", "ORCHIDv2", "RFC 7343", V6, True),
    _e("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374", V6, True),
    _e("2001:db8::/32", "Documentation", "RFC 3849", V6, False),
    _e("2002::/16", "6to4", "RFC 3056", V6, None, embeds_ipv4=True),
    _e("2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534", V6, True),
    _e("3fff::/20", "Documentation", "RFC 9637", V6, False),
    _e("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602", V6, False),
    _e("fc00::/7", "Unique-Local", "RFC 4193; RFC 8190", V6, False),
    _e("fe80::/10", "Link-Local Unicast", "RFC 4291", V6, False),
    # -- IPv6, elsewhere -----------------------------------------------------------
    _e(
        "::/96",
        "IPv4-compatible Address (deprecated)",
        "RFC 4291, section 2.5.5.1",
        OTHER,
        None,
        embeds_ipv4=True,
    ),
    _e(
        "::ffff:0:0:0/96",
        "IPv4-translated Address",
        "RFC 6145 (RFC 2765)",
        OTHER,
        None,
        embeds_ipv4=True,
    ),
    _e("fec0::/10", "Site-Local (deprecated)", "RFC 3879", OTHER, None),
    _e("ff00::/8", "Multicast", "RFC 4291, section 2.7", OTHER, None),
)


def _deny_list() -> tuple[IPNetwork, ...]:
    # Collapsed per family: nested entries (0.0.0.0/32 in 0.0.0.0/8, ...)
    # would only be checked twice; the result holds exactly the same addresses.
    denied = [entry.network for entry in TABLE if entry.denied]
    v4 = ipaddress.collapse_addresses(n for n in denied if n.version == 4)
    v6 = ipaddress.collapse_addresses(n for n in denied if n.version == 6)
    return (*v4, *v6)


#: The networks ``--public`` denies: the union of the denied entries of :data:`TABLE`.
PUBLIC_DENY: tuple[IPNetwork, ...] = _deny_list()
