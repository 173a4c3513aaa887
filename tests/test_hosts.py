"""Which Host names the server answers for, and whether an Origin is its own
(pingu.hosts): the DNS-rebinding defence."""

from __future__ import annotations

import pytest

from pingu import hosts
from pingu.hosts import ServerNames, origin_matches, split_host

# -- split_host -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "split"),
    [
        ("Example.org", ("example.org", None)),
        ("example.org:8080", ("example.org", 8080)),
        ("example.org.", ("example.org", None)),
        ("  example.org  ", ("example.org", None)),
        ("[::1]:8080", ("::1", 8080)),
        ("[::1]", ("::1", None)),
        ("[FE80::1%eth0]:80", ("fe80::1%eth0", 80)),
        ("::1", ("::1", None)),  # bare IPv6 (no port can be meant)
        ("192.0.2.1:443", ("192.0.2.1", 443)),
        ("", ("", None)),
    ],
)
def test_split_host(host: str, split: tuple) -> None:
    assert split_host(host) == split


@pytest.mark.parametrize(
    "host",
    [
        "example.org:",
        "example.org:http",
        "example.org:-1",
        "example.org:+80",
        "example.org: 80",
        "[::1",
        "[::1]x",
        "[::1]:",
        "[::1]:abc",
        "[::1]8080",
    ],
)
def test_a_bad_port_or_bracket_matches_no_name(host: str) -> None:
    assert split_host(host) == ("", None)


@pytest.mark.parametrize("host", ["example.org:\xb2", "[::1]:\xb9", "example.org:\u0661"])
def test_a_non_ascii_digit_port_is_refused_not_an_exception(host: str) -> None:
    assert split_host(host) == ("", None)
    assert not ServerNames(frozenset({"example.org"})).allowed(host)


def test_a_trailing_dot_is_stripped_with_a_port_too() -> None:
    assert split_host("Example.org.:8080") == ("example.org", 8080)


# -- ServerNames ------------------------------------------------------------------


@pytest.fixture
def names(monkeypatch) -> ServerNames:
    monkeypatch.setattr(hosts.socket, "gethostname", lambda: "Box.Example.NET")
    return ServerNames.default(("Ping.Example.org.",))


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "localhost:8080",
        "LOCALHOST",
        "box",
        "box.example.net",
        "box.example.net:443",
        "ping.example.org",
        "ping.example.org.",
        "app.localhost:8080",
        "a.b.localhost",
        "127.0.0.1:8080",
        "192.0.2.1",
        "[::1]:8080",
        "[fe80::1%eth0]",
    ],
)
def test_default_names_allowed(names: ServerNames, host: str) -> None:
    assert names.allowed(host)


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:8080",
        "example.org",  # only ping.example.org was named
        "box.evil.example",
        "localhost.evil.example",
        "notlocalhost",
        "evil-localhost",
        "127.1",  # a numeric form is not an IP literal: it is a name
        "0x7f000001",
        "",
        "localhost:http",
        "[::1",
    ],
)
def test_other_names_refused(names: ServerNames, host: str) -> None:
    assert not names.allowed(host)


def test_ip_literals_can_be_refused() -> None:
    strict = ServerNames(frozenset({"localhost"}), literals=False)
    assert not strict.allowed("127.0.0.1:8080")
    assert not strict.allowed("[::1]")
    assert strict.allowed("localhost")


def test_an_empty_hostname_adds_no_empty_name(monkeypatch) -> None:
    monkeypatch.setattr(hosts.socket, "gethostname", lambda: "")
    names = ServerNames.default()
    assert "" not in names.names and names.names == frozenset({"localhost"})


# -- origin_matches ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "host", "scheme"),
    [
        ("http://example.org", "example.org", "http"),
        ("http://example.org", "example.org:80", "http"),
        ("http://example.org:80", "example.org", None),
        ("https://example.org", "example.org", "https"),
        ("https://example.org", "example.org:443", None),
        ("https://example.org:443", "example.org", "https"),
        ("http://example.org:8080", "example.org:8080", "http"),
        ("http://EXAMPLE.org:8080", "Example.ORG:8080", None),
        ("http://[::1]:8080", "[::1]:8080", "http"),
        ("http://[::1]", "[::1]:80", None),
        ("http://127.0.0.1:8080", "127.0.0.1:8080", None),
    ],
)
def test_origin_matches(origin: str, host: str, scheme) -> None:
    assert origin_matches(origin, host, scheme)


@pytest.mark.parametrize(
    ("origin", "host", "scheme"),
    [
        ("https://example.org", "example.org", "http"),  # scheme differs
        ("http://example.org", "example.org", "https"),
        ("https://example.org", "example.org:80", None),  # default ports differ
        ("http://example.org", "example.org:443", None),
        ("http://example.org:8080", "example.org", None),
        ("http://example.org", "example.org:8080", None),
        ("http://example.org:8080", "example.org:8081", None),
        ("http://evil.example", "example.org", None),
        ("http://example.org.evil.example", "example.org", None),
        ("http://[::1]:8080", "[::2]:8080", None),
        ("http://[::1]:8080", "::1", None),
        ("ws://example.org", "example.org", None),
        ("ftp://example.org", "example.org", None),
        ("null", "example.org", None),
        ("", "example.org", None),
        ("http://", "example.org", None),
        ("http://[::1", "[::1]", None),
        ("http://example.org:abc", "example.org", None),
        ("http://example.org:99999", "example.org", None),
        ("http://example.org", "example.org:http", None),
        ("http://example.org", "", None),
    ],
)
def test_origin_does_not_match(origin: str, host: str, scheme) -> None:
    assert not origin_matches(origin, host, scheme)
