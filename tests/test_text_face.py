"""The text face (``/ws/<tool>``, the first message is the only field) for the
tools whose target is not all they need: tcp reads ``host:port`` and dns
``name@resolver`` (or ``name/TYPE@resolver``), each in its own module
(``text_fields``); every part is then checked as any request's field.  And
whole runs through the real ``twistd pingu`` with the real nping and dnsping
on loopback servers (tests/harness/loopback_servers.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from pingu.limits import Limits
from pingu.refusal import Refused
from tests.harness.loopback_servers import LoopbackServers
from tests.harness.messages import parse_text
from tests.harness.pingu import PinguServer

LIMITS = Limits(allow_port="443,8080")


@pytest.mark.parametrize(("message", "target", "port"), [
    ("127.0.0.1:443", "127.0.0.1", 443), ("[::1]:8080", "::1", 8080),
    ("host.example:443", "host.example", 443),
])  # fmt: skip
def test_tcp_reads_host_and_port(message: str, target: str, port: int) -> None:
    request = parse_text(message, LIMITS, "tcp")
    assert (request.target, request.options.port) == (target, port)


@pytest.mark.parametrize(("message", "field", "reason"), [
    ("127.0.0.1", "port", "missing"),  # no port
    ("::1", "port", "missing"),  # an IPv6 literal without brackets: no port
    ("127.0.0.1:x", "port", None), ("127.0.0.1:22", "port", "not-allowed"),
    ("-p:443", "target", None), ("[::1]", "target", None),
])  # fmt: skip
def test_tcp_refuses_what_is_not_host_and_allowed_port(
    message: str, field: str, reason: Any
) -> None:
    with pytest.raises(Refused) as refused:
        parse_text(message, LIMITS, "tcp")
    assert refused.value.field == field
    assert reason is None or refused.value.reason == reason


def test_dns_reads_name_type_and_resolver() -> None:
    request = parse_text("www.test.example@127.0.0.53", LIMITS, "dns")
    assert (request.options.name, request.options.type, request.target) == (
        "www.test.example", None, "127.0.0.53",
    )  # fmt: skip
    request = parse_text("www.test.example/AAAA@::1", LIMITS, "dns")
    assert (request.options.name, request.options.type, request.target) == (
        "www.test.example", "AAAA", "::1",
    )  # fmt: skip


@pytest.mark.parametrize(("message", "field"), [
    ("www.test.example", "server"), ("www.test.example/ANY@::1", "type"),
    ("www.test.example@-s", "server"), ("-v@::1", "target"),
])  # fmt: skip
def test_dns_refuses_what_is_not_name_at_resolver(message: str, field: str) -> None:
    with pytest.raises(Refused) as refused:
        parse_text(message, LIMITS, "dns")
    assert refused.value.field == field


def test_other_tools_take_the_whole_message_as_the_target() -> None:
    with pytest.raises(Refused) as refused:
        parse_text("127.0.0.1:443", LIMITS)
    assert refused.value.field == "target"


# -- the real tools through twistd pingu's text face ---------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not (shutil.which("nping") and shutil.which("dnsping")):
        pytest.skip("needs nping and dnsping (./dev installs the registry's packages)")
    with LoopbackServers(tmp_path_factory.mktemp("loopback")) as loopback:
        with PinguServer(tmp_path_factory.mktemp("text-face"), args=loopback.pingu_args) as pingu:
            pingu.loopback = loopback
            yield pingu


def lines_until(ws: Any, wanted: str, most: int = 20) -> list[str]:
    """Messages until one holds ``wanted``; then a stop, and the rest until the close."""
    got = []
    for _ in range(most):
        got.append(ws.recv(timeout=10))
        if wanted in got[-1]:
            break
    ws.send("stop")
    try:
        while True:
            got.append(ws.recv(timeout=10))
    except ConnectionClosed:
        pass
    return got


@pytest.mark.e2e
def test_tcp_and_dns_in_the_text_face(server: Any) -> None:
    loopback = server.loopback
    ws_tcp = server.ws_url + "/tcp"
    with connect(ws_tcp) as ws:
        ws.send(f"127.0.0.1:{loopback.ports['open']}")
        lines = lines_until(ws, "Handshake with")
    assert any(f"Handshake with 127.0.0.1:{loopback.ports['open']} completed" in t for t in lines)
    assert ws.close_code == 1000, lines
    with connect(server.ws_url + "/dns") as ws:
        ws.send(f"servfail.test.example@{loopback.dns}")
        lines = lines_until(ws, "SERVFAIL")
    assert any(f"bytes from {loopback.dns}" in t and "SERVFAIL" in t for t in lines), lines
    with connect(ws_tcp) as ws:
        ws.send("127.0.0.1")  # no port: refused, nothing spawned
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
    assert ws.close_code == 4400 and "port" in (ws.close_reason or "")
