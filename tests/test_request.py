"""The validator, the policy, the resolver step and the argv builder: pure logic."""

from __future__ import annotations

import ipaddress
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet import defer

from pingu.events import CloseCode
from pingu.limits import Limits
from pingu.request import (
    PingOptions,
    Policy,
    Refused,
    ResolvedRequest,
    check_target,
    choose,
    is_stop_json,
    is_stop_text,
    parse_fields,
    resolve,
)
from pingu.tools.ping import PING_ENV, build_argv
from tests.harness.messages import parse_json, parse_text

LIMITS = Limits()


def refused(fn, *args) -> Refused:
    with pytest.raises(Refused) as info:
        fn(*args)
    return info.value


# -- targets --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("::1", "::1"),
        ("0:0:0:0:0:0:0:1", "::1"),
        ("localhost", "localhost"),
        ("example.org.", "example.org."),
        ("host_name.lan", "host_name.lan"),
        ("::ffff:127.0.0.1", "127.0.0.1"),  # the IPv4 host it names
        ("bücher.example", "xn--bcher-kva.example"),
    ],
)
def test_good_targets(target: str, expected: str) -> None:
    assert check_target(target)[0] == expected


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("", "empty"),
        ("a" * 254, "too-long"),
        ("-f", "looks-like-option"),
        ("--help", "looks-like-option"),
        ("-s 65000 127.0.0.1", "several-targets"),
        ("127.0.0.1 -f", "several-targets"),
        ("127.0.0.1 127.0.0.2", "several-targets"),
        ("127.0.0.1,127.0.0.2", "several-targets"),
        ("; id", "several-targets"),
        ("|id", "bad-name"),
        ("$(id)", "bad-name"),
        ("`id`", "bad-name"),
        ("127.0.0.1\n", "bad-characters"),
        ("127.0.0.1\x00", "bad-characters"),
        ("\t127.0.0.1", "bad-characters"),
        ("127.0.0.1\x7f", "bad-characters"),
        ("fe80::1%eth0;id", "bad-address"),
        ("127.1", "ambiguous-number"),
        ("0x7f.0.0.1", "ambiguous-number"),
        ("2130706433", "ambiguous-number"),
        ("127.000.000.001", "ambiguous-number"),
        ("0177.0.0.1", "ambiguous-number"),
        ("1.2.3.4.5", "ambiguous-number"),
        ("bad..name", "bad-name"),
        ("-leading.example", "looks-like-option"),
        ("trailing-.example", "bad-name"),
        ("::g", "bad-address"),
        ("a" * 64 + ".example", "bad-name"),
    ],
)
def test_bad_targets(target: str, reason: str) -> None:
    error = refused(check_target, target)
    assert error.reason == reason
    assert error.code == CloseCode.BAD_REQUEST
    assert error.field == "target"
    assert error.message  # always a sentence for people


def test_target_must_be_a_string() -> None:
    assert refused(check_target, 127).reason == "wrong-type"


def test_zone_ids_are_refused_unless_allowed() -> None:
    request = parse_fields({"target": "fe80::1%eth0"}, LIMITS)
    assert request.target == "fe80::1%eth0"
    failure, _ = _resolve(request, [])
    assert failure.value.code == CloseCode.FORBIDDEN and "zone" in failure.value.message
    result, _ = _resolve(request, [], Policy(allow_zone=True))
    assert result.address == "fe80::1%eth0"


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.1.1", "100.64.0.1",
     "192.0.2.1", "198.51.100.7", "203.0.113.9", "240.0.0.1", "198.18.0.1", "::1",
     "fe80::1", "fd00::1", "2001:db8::1", "::ffff:10.0.0.1", "::127.0.0.1",
     "64:ff9b::a00:1", "2002:a00:1::1", "2001:0:a00:1::1"],
)  # fmt: skip
def test_public_preset_denies_non_public(address: str) -> None:
    error = refused(Policy.build(public=True).check, ipaddress.ip_address(address))
    assert error.code == CloseCode.FORBIDDEN


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700::1111"])
def test_public_preset_allows_public(address: str) -> None:
    Policy.build(public=True).check(ipaddress.ip_address(address))  # no traffic: a check only


# -- requests -------------------------------------------------------------------


def test_text_request_is_the_target() -> None:
    request = parse_text("127.0.0.1", LIMITS)
    assert request.target == "127.0.0.1"
    assert request.options == PingOptions()
    assert request.literal == ipaddress.ip_address("127.0.0.1")


def test_json_request_all_fields() -> None:
    request = parse_json(
        json.dumps(
            {"target": "localhost", "count": 3, "interval": 0.5, "size": 100,
             "family": 6, "deadline": 10}
        ),
        LIMITS,
    )  # fmt: skip
    assert request.target == "localhost"
    assert request.literal is None
    assert request.options == PingOptions(count=3, interval=0.5, size=100, family=6, deadline=10)


def test_nulls_mean_defaults() -> None:
    request = parse_fields({"target": "::1", "count": None, "family": None}, LIMITS)
    assert request.options == PingOptions()


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"target": "::1", "count": 0}, "count", "out-of-range"),
        ({"target": "::1", "count": 10001}, "count", "out-of-range"),
        ({"target": "::1", "count": "3"}, "count", "wrong-type"),
        ({"target": "::1", "count": 2.5}, "count", "wrong-type"),
        ({"target": "::1", "count": True}, "count", "wrong-type"),
        ({"target": "::1", "interval": 0.01}, "interval", "out-of-range"),
        ({"target": "::1", "interval": 61}, "interval", "out-of-range"),
        ({"target": "::1", "interval": "1"}, "interval", "wrong-type"),
        ({"target": "::1", "size": 65000}, "size", "out-of-range"),
        ({"target": "::1", "size": -1}, "size", "out-of-range"),
        ({"target": "::1", "deadline": 0}, "deadline", "out-of-range"),
        ({"target": "::1", "deadline": 3601}, "deadline", "out-of-range"),
        ({"target": "::1", "family": 5}, "family", "out-of-range"),
        ({"target": "::1", "family": 4.0}, "family", "out-of-range"),
        ({"target": "::1", "family": 4}, "family", "family-mismatch"),
        ({"target": "127.0.0.1", "family": 6}, "family", "family-mismatch"),
        ({"target": "::1", "flood": True}, "flood", "unknown-field"),
        ({"count": 3}, "target", "missing"),
        ({"target": ["127.0.0.1"]}, "target", "wrong-type"),
        ({"target": None}, "target", "wrong-type"),
    ],
)
def test_bad_fields(fields: dict, field: str, reason: str) -> None:
    error = refused(parse_fields, fields, LIMITS)
    assert (error.field, error.reason) == (field, reason)
    assert error.code == CloseCode.BAD_REQUEST


def test_nan_interval_refused() -> None:
    assert refused(parse_json, '{"target": "::1", "interval": NaN}', LIMITS).field == "interval"


@pytest.mark.parametrize("message", ["{", "[1, 2]", '"127.0.0.1"', "null", ""])
def test_invalid_json(message: str) -> None:
    assert refused(parse_json, message, LIMITS).code == CloseCode.BAD_REQUEST


def test_limits_move_the_bounds() -> None:
    roomy = LIMITS.replace(max_size=9000, min_interval=0.002)
    assert parse_fields({"target": "::1", "size": 8972}, roomy).options.size == 8972
    assert parse_fields({"target": "::1", "interval": 0.01}, roomy).options.interval == 0.01


def test_message_size() -> None:
    error = refused(parse_text, "a" * 1025, LIMITS)
    assert error.code == CloseCode.TOO_BIG
    error = refused(parse_json, json.dumps({"target": "::1", "x": "y" * 2000}), LIMITS)
    assert error.code == CloseCode.TOO_BIG


def test_stop_messages() -> None:
    assert is_stop_text("stop")
    assert not is_stop_text("stop ")
    assert is_stop_json('{"stop": true}')
    assert not is_stop_json('{"stop": 1}')
    assert not is_stop_json("stop")


# -- policy and resolution ------------------------------------------------------


@pytest.mark.parametrize(
    "address", ["224.0.0.1", "255.255.255.255", "0.0.0.0", "ff02::1", "::", "0.1.2.3"]
)
def test_never_pinged(address: str) -> None:
    error = refused(Policy().check, ipaddress.ip_address(address))
    assert error.code == CloseCode.FORBIDDEN


def test_allow_and_deny() -> None:
    policy = Policy(
        allow=(ipaddress.ip_network("127.0.0.0/8"),), deny=(ipaddress.ip_network("127.0.0.2/32"),)
    )
    policy.check(ipaddress.ip_address("127.0.0.1"))
    assert refused(policy.check, ipaddress.ip_address("127.0.0.2")).reason == "forbidden"
    assert refused(policy.check, ipaddress.ip_address("::1")).reason == "forbidden"
    assert refused(policy.check, ipaddress.ip_address("10.0.0.1")).reason == "forbidden"


def test_choose_takes_first_of_family_and_checks_all() -> None:
    request = parse_fields({"target": "many.example"}, LIMITS)
    chosen = choose(request, ["127.0.0.1", "::1", "127.0.0.1"], Policy())
    assert (chosen.address, chosen.family) == ("127.0.0.1", 4)
    six = parse_fields({"target": "many.example", "family": 6}, LIMITS)
    assert choose(six, ["127.0.0.1", "::1"], Policy()).address == "::1"
    # one refused address among the answers refuses the name
    policy = Policy(deny=(ipaddress.ip_network("::1/128"),))
    assert refused(choose, request, ["127.0.0.1", "::1"], policy).code == CloseCode.FORBIDDEN
    assert refused(choose, six, ["127.0.0.1"], Policy()).code == CloseCode.UNRESOLVED


def _resolve(request, answers, policy=None):
    """Run resolve() with a FAKE resolver; returns (result or failure, lookups)."""
    lookups = []

    def resolver(name, family):
        lookups.append((name, family))
        if isinstance(answers, Exception):
            return defer.fail(answers)
        return defer.succeed(answers)

    results = []
    resolve(request, resolver, policy or Policy()).addBoth(results.append)
    return results[0], lookups


def test_resolve_names_once_through_the_resolver() -> None:
    request = parse_fields({"target": "rebind.example", "family": 4}, LIMITS)
    result, lookups = _resolve(request, ["127.0.0.1"])
    assert lookups == [("rebind.example", 4)]
    assert result == ResolvedRequest("rebind.example", "127.0.0.1", 4, request.options)


def test_resolve_literals_without_lookup() -> None:
    result, lookups = _resolve(parse_fields({"target": "::1"}, LIMITS), ["10.9.9.9"])
    assert lookups == []
    assert result.address == "::1"


def test_unresolvable_name() -> None:
    import socket

    failure, _ = _resolve(
        parse_fields({"target": "nowhere.invalid"}, LIMITS), socket.gaierror(-2, "not known")
    )
    assert failure.value.code == CloseCode.UNRESOLVED
    assert "nowhere.invalid" in failure.value.message


def test_name_resolving_to_multicast_is_refused() -> None:
    failure, _ = _resolve(parse_fields({"target": "evil.example"}, LIMITS), ["224.0.0.1"])
    assert failure.value.code == CloseCode.FORBIDDEN


# -- argv -----------------------------------------------------------------------


def test_argv_minimal() -> None:
    resolved = ResolvedRequest("localhost", "127.0.0.1", 4, PingOptions())
    assert build_argv("/usr/bin/ping", resolved, LIMITS) == [
        "/usr/bin/ping", "-n", "-O", "-4", "-c", "10000", "--", "127.0.0.1",
    ]  # fmt: skip


def test_argv_all_options() -> None:
    options = PingOptions(count=5, interval=0.25, size=100, family=6, deadline=9)
    resolved = ResolvedRequest("::1", "::1", 6, options)
    assert build_argv("/usr/bin/ping", resolved, LIMITS) == [
        "/usr/bin/ping", "-n", "-O", "-6", "-c", "5", "-i", "0.25", "-s", "100",
        "-w", "9", "--", "::1",
    ]  # fmt: skip


def test_ping_env_is_minimal() -> None:
    assert PING_ENV == {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}


# -- properties -------------------------------------------------------------------


@given(st.text(max_size=300))
def test_any_text_request_is_checked_or_refused(text: str) -> None:
    try:
        request = parse_text(text, LIMITS)
    except Refused as error:
        assert error.message and error.code >= 4000
        return
    # what passed can only become an argv whose target is a checked literal or name
    assert not request.target.startswith("-")
    assert all(c.isprintable() and not c.isspace() for c in request.target)


@given(
    st.dictionaries(
        st.sampled_from(["target", "count", "interval", "size", "family", "deadline", "x"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
    )
)
def test_any_json_object_is_checked_or_refused(fields: dict) -> None:
    try:
        request = parse_fields(fields, LIMITS)
    except Refused as error:
        assert error.code == CloseCode.BAD_REQUEST
        return
    resolved = ResolvedRequest(request.target, "127.0.0.1", 4, request.options)
    argv = build_argv("/usr/bin/ping", resolved, LIMITS)
    assert argv[-2:] == ["--", "127.0.0.1"]
    flags = {"-n", "-O", "-4", "-6", "-c", "-i", "-s", "-w"}
    for arg in argv[1:-2]:
        assert arg in flags or (not arg.startswith("-") and float(arg) >= 0)


@given(st.ip_addresses())
def test_policy_never_crashes(address) -> None:
    try:
        Policy().check(address)
    except Refused as error:
        assert error.code == CloseCode.FORBIDDEN


def test_under_public_a_refused_name_does_not_say_what_it_resolved_to() -> None:
    """--public: the refusal names the target, never the internal address."""
    request = parse_fields({"target": "intranet.example"}, LIMITS)
    failure, _ = _resolve(request, ["10.1.2.3"], Policy.build(public=True))
    assert failure.check(Refused) and failure.value.code == CloseCode.FORBIDDEN
    assert "10.1.2.3" not in failure.value.message
    assert "intranet.example" in failure.value.message
    # without --public the operator's own users are told the address
    failure, _ = _resolve(request, ["10.1.2.3"], Policy(deny=(ipaddress.ip_network("10.0.0.0/8"),)))
    assert "10.1.2.3" in failure.value.message
    # a literal is the client's own: saying it back tells nothing new
    literal = parse_fields({"target": "10.1.2.3"}, LIMITS)
    failure, _ = _resolve(literal, [], Policy.build(public=True))
    assert "10.1.2.3" in failure.value.message
