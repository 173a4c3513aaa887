"""tcp, dns and http through the WAMP node, in memory, as traceroute and mtr
in tests/test_tools_wamp.py: ``start(target, tool=..., ...)``, the argv,
events on the run's topic, refusals as WAMP errors on the field.  The
process is a FAKE whose lines are what the real tools printed (the real
tools on real networks: tests/test_tcp.py, test_dns.py, test_http.py)."""

from __future__ import annotations

from typing import Any

import pytest
from autobahn.wamp.exception import ApplicationError

from tests.test_tools_wamp import make_node, start

EXECUTABLES = {"tcp": "/usr/bin/nping", "dns": "/usr/bin/dnsping", "http": "/usr/bin/curl"}


def published(node: Any) -> list[dict[str, Any]]:
    return [event for _, event in node.session.published]


def test_tcp_through_the_node() -> None:
    node = make_node(EXECUTABLES)
    reply = start(node, 1, "10.213.1.2", tool="tcp", port=443, count=1, interval=1)
    assert reply["backlog"][0]["options"] == {
        "count": 1, "interval": 1.0, "port": 443, "family": None,
    }  # fmt: skip
    assert node.spawner.argvs[0][-4:] == ["-p", "443", "--", "10.213.1.2"]
    node.spawner.last.say(
        "SENT (0.0013s) Starting TCP Handshake > 10.213.1.2:443",
        "RCVD (0.0021s) Handshake with 10.213.1.2:443 completed",
    )
    node.spawner.last.exit(0)
    kinds = [(e["type"], e.get("rtt_ms")) for e in published(node)]
    assert kinds[:1] == [("reply", 0.8)] and kinds[-2:] == [("summary", None), ("end", None)]
    assert published(node)[-1]["how"] == "completed"


def test_dns_through_the_node() -> None:
    node = make_node(EXECUTABLES)
    start(node, 1, "www.test.example", tool="dns", server="10.213.1.2", type="AAAA", count=1)
    assert node.spawner.argvs[0][-6:] == [
        "-t", "AAAA", "-s", "10.213.1.2", "--", "www.test.example",
    ]  # fmt: skip
    node.spawner.last.say(
        "50 bytes from 10.213.1.2: seq=1   time=0.502 ms [QR RA]  NOERROR",
        ";ANSWER", "www.test.example. 60 IN AAAA 2001:db8::7", ";AUTHORITY",
    )  # fmt: skip
    (answer,) = [e for e in published(node) if e["type"] == "reply"]
    assert (answer["rcode"], answer["answers"], answer["rtt_ms"]) == ("NOERROR", 1, 0.502)


def test_http_through_the_node() -> None:
    node = make_node(EXECUTABLES)
    start(node, 1, "http://10.213.1.2/", tool="http", count=1)
    argv = node.spawner.argvs[0]
    assert argv[argv.index("--resolve") + 1] == "10.213.1.2:80:10.213.1.2"
    node.spawner.last.say("pingu-http 200 0.000300 0.000000 0.001000 0.001200 0 0 ")
    (answer,) = [e for e in published(node) if e["type"] == "reply"]
    assert (answer["status"], answer["timings"]["total"]) == (200, 1.2)


@pytest.mark.parametrize(
    ("args", "options", "field", "reason"),
    [
        (("10.213.1.2",), {"tool": "tcp", "port": 22}, "port", "not-allowed"),
        (("10.213.1.2",), {"tool": "tcp"}, "port", "missing"),
        (("x.example",), {"tool": "dns", "server": "10.0.0.1", "type": "ANY"}, "type",
         "not-allowed"),
        (("x.example",), {"tool": "dns"}, "server", "missing"),
        (("ftp://10.213.1.2/",), {"tool": "http"}, "target", "bad-url"),
        (("http://10.213.1.2/",), {"tool": "http", "method": "POST"}, "method", "not-allowed"),
    ],
)  # fmt: skip
def test_refusals_are_wamp_errors_on_the_field(
    args: tuple[str, ...], options: dict[str, Any], field: str, reason: str
) -> None:
    node = make_node(EXECUTABLES)
    with pytest.raises(ApplicationError) as caught:
        start(node, 1, *args, **options)
    assert (caught.value.kwargs["field"], caught.value.kwargs["reason"]) == (field, reason)
    assert node.spawner.argvs == []
