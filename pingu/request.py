"""Turn what a client sent into a request that is safe to hand to ping.

Three steps, each refusing with a :class:`Refused` that says what and why:

1. :func:`check_size`, :func:`json_fields` and :func:`parse_fields` check the
   shape and bounds of every field (no I/O);
2. :func:`resolve` turns the target into IP literals, once, through an
   injected resolver that must not block the reactor;
3. the :class:`Policy` checks every resolved address, and the first allowed
   literal is the only thing that ever reaches ping's argv.

Because ping only ever sees a literal the server resolved and checked itself,
a name cannot smuggle an option in, and cannot rebind between check and use.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

from pingu import idn, tools
from pingu.events import CloseCode
from pingu.limits import Limits
from pingu.refusal import Refused
from pingu.refusal import bad as _bad
from pingu.special import PUBLIC_DENY
from pingu.tools import DEFAULT_TOOL, Options
from pingu.tools.ping import PingOptions
from pingu.tools.spec import PROBED_FIELD, URL, ResolvedRequest

# re-exported: the names clients of requests use
__all__ = ["PingOptions", "Refused", "ResolvedRequest"]

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

#: resolver(name, family) -> Deferred firing with a list of address strings.
#: ``family`` is 4, 6 or None (either).
Resolver = Callable[[str, Optional[int]], Any]

MAX_NAME = 253
_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
# A last label made of digits, or of a hex number, makes the whole name a
# numeric address form that inet_aton would read (127.1, 0x7f.1, 2130706433).
_ZONE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_NUMERIC_LABEL = re.compile(r"^(?:[0-9]+|0[xX][0-9A-Fa-f]*)$")


@dataclass(frozen=True)
class Request:
    """A checked request whose target is not resolved yet.

    ``options`` are the tool's own (:meth:`pingu.tools.Tool.options`);
    ``literal`` is set when the target was already an IP address."""

    target: str
    options: Options = field(default_factory=PingOptions)
    literal: Optional[IPAddress] = None
    tool: str = DEFAULT_TOOL
    #: the request field ``target`` came from (``server`` for a name queried at a resolver)
    probed: str = "target"


# -- step 1: shape and bounds -------------------------------------------------


def _check_chars(target: str) -> None:
    if not target:
        raise _bad("the target is empty", "target", "empty")
    if len(target) > MAX_NAME:
        raise _bad(f"the target is longer than {MAX_NAME} characters", "target", "too-long")
    if len(target.replace(",", " ").split()) > 1:
        raise _bad("one target at a time, please", "target", "several-targets")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        raise _bad(
            "the target contains whitespace or control characters", "target", "bad-characters"
        )
    if target.startswith("-"):
        raise _bad("the target may not start with '-'", "target", "looks-like-option")


def check_target(target: Any) -> tuple[str, Optional[IPAddress]]:
    """Check a target's syntax.

    Returns the target as it will be resolved (an ASCII host name, or the
    normalised text of an IP literal) and the literal's address, if it is one.
    """
    if not isinstance(target, str):
        raise _bad("the target must be a string", "target", "wrong-type")
    _check_chars(target)
    literal = _parse_literal(target)
    if literal is not None:
        return str(literal), literal
    try:
        name = idn.to_ascii(target)
    except idn.BadName as e:
        raise _bad(f"the target is not a valid host name: {e}", "target", "bad-name") from None
    labels = name[:-1].split(".") if name.endswith(".") else name.split(".")
    if not all(_LABEL.match(label) for label in labels) or len(name) > MAX_NAME:
        raise _bad(
            "the target is neither an IP address nor a valid host name", "target", "bad-name"
        )
    if _NUMERIC_LABEL.match(labels[-1]):
        raise _bad(
            "ambiguous numeric address: write IPv4 as four decimal numbers (a.b.c.d)",
            "target",
            "ambiguous-number",
        )
    return name, None


def _parse_literal(target: str) -> Optional[IPAddress]:
    if ":" in target:
        try:
            address = ipaddress.IPv6Address(target)
        except ValueError:
            raise _bad("the target is not a valid IPv6 address", "target", "bad-address") from None
        if address.scope_id is not None and not _ZONE.match(address.scope_id):
            raise _bad("the IPv6 zone id is not an interface name", "target", "bad-address")
        # ::ffff:a.b.c.d is the IPv4 host a.b.c.d: check and ping it as IPv4.
        return address.ipv4_mapped or address
    try:
        return ipaddress.IPv4Address(target)
    except ValueError:
        return None


def parse_fields(
    fields: Any, limits: Limits, installed: Optional[Collection[str]] = None
) -> Request:
    """Check a structured request (a JSON object, or WAMP call arguments).

    ``tool`` picks the tool (ping when absent); the target and the family
    are checked here for every tool, the rest by the tool itself.
    ``installed`` names the tools this server found an executable for (the
    hub's ``executables``; ``None``: all): asking for another is refused."""
    if not isinstance(fields, dict):
        raise _bad("the request must be a JSON object", None, "wrong-type")
    name = fields.get("tool")
    if name is None:
        name = DEFAULT_TOOL
    if not isinstance(name, str) or name not in tools.TOOLS:
        raise _bad("tool must be one of: " + ", ".join(tools.TOOLS), "tool", "unknown-tool")
    tool = tools.get(name)
    if installed is not None and name not in installed:
        raise _bad(f"{name} is not installed on this server", "tool", "not-installed")
    known = ("target", "tool", *tools.field_names(tool))
    unknown = sorted(str(k)[:40] for k in fields if k not in known)
    if unknown:
        raise _bad(
            "unknown field(s): " + ", ".join(unknown) + "; known: " + ", ".join(known),
            unknown[0],
            "unknown-field",
        )
    if "target" not in fields:
        raise _bad("the request has no target", "target", "missing")
    probed = PROBED_FIELD[tool.target]
    if probed != "target":
        check_target(fields["target"])  # a name sent as data: its syntax is checked all the same
        if fields.get(probed) is None:
            raise _bad(f"{name} needs a {probed}", probed, "missing")
    # A URL's tool checks the URL first: its host is what is resolved.
    options = tool.options(fields, limits) if tool.target == URL else None
    try:
        # (a URL tool's options carry the URL's host: spec.URL's contract)
        host = options.host if options is not None else fields[probed]  # type: ignore[attr-defined]
        target, literal = check_target(host)
    except Refused as refused:
        refused.field = probed
        raise
    family = fields.get("family")
    if family is not None and (type(family) is not int or family not in (4, 6)):
        raise _bad("family must be 4 or 6", "family", "out-of-range")
    if literal is not None and family is not None and literal.version != family:
        raise _bad(
            f"family {family} was asked but the target is an IPv{literal.version} address",
            "family",
            "family-mismatch",
        )
    if options is None:
        options = tool.options(fields, limits)
    return Request(target=target, options=options, literal=literal, tool=name, probed=probed)


def check_size(message: str, limits: Limits) -> None:
    """Refuse a message over ``--max-message`` bytes (4413)."""
    if len(message.encode("utf-8", "surrogatepass")) > limits.max_message:
        raise Refused(
            CloseCode.TOO_BIG,
            "too-big",
            f"messages are limited to {limits.max_message} bytes",
        )


def text_fields(message: str, tool: str = DEFAULT_TOOL) -> dict[str, Any]:
    """A text-face message's fields: the target, or what the tool reads in it
    (tcp's ``host:port``, dns's ``name@resolver``; :func:`pingu.tools.text_fields`)."""
    return tools.text_fields(tool, message)


def json_fields(message: str) -> Any:
    """The fields of a ``pingu.json`` request (checked by :func:`parse_fields`)."""
    try:
        return json.loads(message)
    except ValueError as e:
        raise _bad(f"invalid JSON: {e}", None, "invalid-json") from None


def is_stop_text(message: str) -> bool:
    """Is this text-mode message the ``stop`` command?"""
    return message == "stop"


def is_stop_json(message: str) -> bool:
    """Is this JSON message ``{"stop": true}``?"""
    try:
        decoded = json.loads(message)
    except ValueError:
        return False
    # {"stop": 1} is not {"stop": true}: 1 == True in Python, not in JSON.
    return bool(decoded == {"stop": True} and decoded["stop"] is True)


# -- step 3: the address policy -------------------------------------------------

_NEVER_V4 = [ipaddress.ip_network("255.255.255.255/32"), ipaddress.ip_network("0.0.0.0/8")]
_NEVER_V6 = [ipaddress.ip_network("::/128")]

#: What ``--public`` denies (:data:`PUBLIC_DENY`) is built in :mod:`pingu.special`
#: from the IANA special-purpose address registries.


@dataclass(frozen=True)
class Policy:
    """Which resolved addresses may be pinged.

    An address passes when it is not multicast, broadcast or unspecified,
    no ``deny`` network holds it, and, when ``allow`` is not empty, an
    ``allow`` network holds it; a ``deny`` wins over an ``allow``.  An IPv6
    zone id (``fe80::1%eth0``) passes only with ``allow_zone``.  A
    ``discreet`` policy (``--public``'s) never says what a refused *name*
    resolved to: that would map the server's internal names for anybody.
    """

    allow: tuple[IPNetwork, ...] = ()
    deny: tuple[IPNetwork, ...] = ()
    allow_zone: bool = False
    discreet: bool = False

    @classmethod
    def build(
        cls,
        allow: tuple[IPNetwork, ...] = (),
        deny: tuple[IPNetwork, ...] = (),
        public: bool = False,
        allow_zone: bool = False,
    ) -> Policy:
        """The policy of the command line: ``--public`` adds :data:`PUBLIC_DENY`."""
        return cls(
            tuple(allow), tuple(deny) + (PUBLIC_DENY if public else ()), allow_zone, public
        )

    def check(self, address: IPAddress) -> None:
        """Raise :class:`Refused` unless ``address`` may be pinged."""
        if getattr(address, "scope_id", None) and not self.allow_zone:
            raise self._refuse(address, "has a zone id, which this server does not allow")
        if address.is_multicast:
            raise self._refuse(address, "is a multicast address")
        never = _NEVER_V4 if address.version == 4 else _NEVER_V6
        if any(address in net for net in never):
            raise self._refuse(address, "is a broadcast or unspecified address")
        if any(address in net for net in self.deny if net.version == address.version):
            raise self._refuse(address, "is in a denied network")
        if self.allow and not any(
            address in net for net in self.allow if net.version == address.version
        ):
            raise self._refuse(address, "is not in an allowed network")

    @staticmethod
    def _refuse(address: IPAddress, why: str) -> Refused:
        return Refused(CloseCode.FORBIDDEN, "forbidden", f"{address} {why}", "target")


# -- step 2: resolution ---------------------------------------------------------


def choose(request: Request, addresses: list[str], policy: Policy) -> ResolvedRequest:
    """Pick what to ping among the resolver's answer.

    Every address the name resolved to must pass the policy, so that a name
    cannot mix an allowed address with a refused one; the first one of the
    asked family is pinged.
    """
    family = request.options.family
    parsed: list[IPAddress] = []
    for text in addresses:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            continue
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if family is None or address.version == family:
            if address not in parsed:
                parsed.append(address)
    if not parsed:
        which = f"an IPv{family}" if family else "an"
        raise Refused(
            CloseCode.UNRESOLVED,
            "unresolved",
            f"{request.target} does not resolve to {which} address",
            request.probed,
        )
    for address in parsed:
        try:
            policy.check(address)
        except Refused as refused:
            if request.literal is None and policy.discreet:
                raise Refused(
                    refused.code,
                    refused.reason,
                    f"{request.target} resolves to an address this server does not ping",
                    request.probed,
                ) from None
            refused.field = request.probed
            raise
    chosen = parsed[0]
    return ResolvedRequest(
        request.target, str(chosen), chosen.version, request.options, request.tool
    )


def resolve(request: Request, resolver: Resolver, policy: Policy) -> Any:
    """Resolve a checked request once; a Deferred firing a :class:`ResolvedRequest`.

    Fails with :class:`Refused` when the name does not resolve or the policy
    refuses it.  IP literals are not looked up.
    """
    from twisted.internet import defer

    if request.literal is not None:
        return defer.maybeDeferred(choose, request, [str(request.literal)], policy)

    def failed(failure: Any) -> None:
        failure.trap(OSError, socket.gaierror)
        raise Refused(
            CloseCode.UNRESOLVED,
            "unresolved",
            f"{request.target} does not resolve",
            "target",
        )

    d = defer.maybeDeferred(resolver, request.target, request.options.family)
    d.addErrback(failed)
    d.addCallback(lambda addresses: choose(request, addresses, policy))
    return d


def system_resolver(reactor: Any) -> Resolver:
    """A resolver that runs ``getaddrinfo`` in the reactor's thread pool."""
    from twisted.internet.threads import deferToThreadPool

    def lookup(name: str, family: Optional[int]) -> list[str]:
        af = {4: socket.AF_INET, 6: socket.AF_INET6}.get(family or 0, socket.AF_UNSPEC)
        infos = socket.getaddrinfo(name, None, af, socket.SOCK_DGRAM)
        return [str(info[4][0]) for info in infos]

    def resolver(name: str, family: Optional[int]) -> Any:
        return deferToThreadPool(reactor, reactor.getThreadPool(), lookup, name, family)

    return resolver
