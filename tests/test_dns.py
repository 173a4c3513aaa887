"""dns (``dnsping``, dnsdiag): its fields, its argv, its parser, and whole
runs through the real ``twistd pingu`` and the real dnsping on a namespaced
network: client -- r1 -- target, where a DNS server for a test zone
(tests/harness/dns_server.py, Twisted Names' codec) listens on the
target's IPv4 address and its IPv6 address drops every query (nftables)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pingu import tools
from pingu.events import CloseCode
from pingu.limits import Limits
from pingu.refusal import Refused
from pingu.request import Policy, ResolvedRequest, choose, parse_fields
from pingu.tools.dns import DnsOptions, DnsParser
from tests.harness import netns
from tests.harness import pingu as harness_pingu
from tests.harness.messages import refused

TOOL = tools.get("dns")
LIMITS = Limits()
SERVER = Path(__file__).parent / "harness" / "dns_server.py"


def refusal(fields: dict[str, Any]) -> Refused:
    return refused({"target": "www.test.example", "tool": "dns", **fields}, LIMITS)


# -- fields ------------------------------------------------------------------------------


def test_the_name_is_data_and_the_server_is_what_is_resolved() -> None:
    request = parse_fields(
        {"target": "www.test.example", "tool": "dns", "server": "10.0.0.53", "type": "MX"},
        LIMITS,
    )
    assert (request.target, str(request.literal), request.probed) == (
        "10.0.0.53", "10.0.0.53", "server",
    )  # fmt: skip
    assert request.options == DnsOptions(name="www.test.example", type="MX")


@pytest.mark.parametrize("kind", ["ANY", "any", "AXFR", "IXFR", "*", "", 1])
def test_only_the_fixed_record_types(kind: Any) -> None:
    r = refusal({"server": "10.0.0.53", "type": kind})
    assert (r.code, r.field, r.reason) == (CloseCode.BAD_REQUEST, "type", "not-allowed")


def test_the_server_is_required_and_checked_like_a_target() -> None:
    assert (refusal({}).field, refusal({}).reason) == ("server", "missing")
    assert refusal({"server": "-s"}).field == "server"
    assert refusal({"server": "a b"}).field == "server"
    assert refusal({"target": "-v", "server": "10.0.0.53"}).field == "target"
    assert refusal({"server": "10.0.0.53", "interval": 1.5}).field == "interval"


def test_the_policy_applies_to_the_server() -> None:
    request = parse_fields({"target": "x.example", "tool": "dns", "server": "127.0.0.1"}, LIMITS)
    with pytest.raises(Refused) as refused:
        choose(request, ["127.0.0.1"], Policy.build(public=True))
    assert (refused.value.code, refused.value.field) == (CloseCode.FORBIDDEN, "server")


def test_argv_has_the_checked_server_and_the_name_after_the_double_dash() -> None:
    options = DnsOptions(name="www.test.example", type="AAAA", count=3, interval=2.0)
    resolved = ResolvedRequest("ns", "10.0.0.53", 4, options, "dns")
    assert TOOL.argv("/usr/bin/dnsping", resolved, LIMITS) == [
        "/usr/bin/dnsping", "-F", "-v", "-e", "-4", "-c", "3", "-i", "2", "-w", "2",
        "-t", "AAAA", "-s", "10.0.0.53", "--", "www.test.example",
    ]  # fmt: skip


# What dnsping 2.0.2 printed here (-F -v -e).
OUTPUT = """dnsping DNS: 10.213.1.2:53, hostname: www.test.example, proto: UDP, rdatatype: A\
, flags: RD
50 bytes from 10.213.1.2: seq=1   time=0.502 ms [QR RA]  NOERROR
id 30640
opcode QUERY
rcode NOERROR
flags QR RA
;QUESTION
www.test.example. IN A
;ANSWER
www.test.example. 60 IN A 192.0.2.7
;AUTHORITY
;ADDITIONAL
Request timeout
39 bytes from 10.213.1.2: seq=3   time=1.112 ms [QR RA]  SERVFAIL
id 1
opcode QUERY
rcode SERVFAIL
flags QR RA
;QUESTION
servfail.test.example. IN A
;ANSWER
;AUTHORITY
;ADDITIONAL

--- 10.213.1.2 dnsping statistics ---
3 requests transmitted, 2 responses received, 33% lost
min=0.502 ms, avg=0.807 ms, max=1.112 ms, stddev=0.431 ms""".splitlines()


def test_each_query_is_a_reply_with_rcode_and_answers_or_a_loss() -> None:
    parser = DnsParser()
    got = [e for line in OUTPUT for e in parser.feed(line)] + parser.finish()
    probes = [e for e in got if e["type"] in ("reply", "timeout")]
    assert [(e["type"], e["seq"], e.get("rtt_ms"), e.get("rcode"), e.get("answers"))
            for e in probes] == [
        ("reply", 1, 0.502, "NOERROR", 1),
        ("timeout", 2, None, None, None),
        ("reply", 3, 1.112, "SERVFAIL", 0),
    ]  # fmt: skip
    assert not any("192.0.2.7" in (e.get("raw") or "") for e in got)  # records are not passed on
    summary = got[-1]
    assert (summary["type"], summary["transmitted"], summary["received"]) == ("summary", 3, 2)
    assert summary["raw"].startswith("--- dns statistics: 3 probes, 2 answered, 33.3% loss")


# -- the real dnsping, through twistd pingu ------------------------------------------------


#: what the tests on the namespaced network start: namespaces, servers in them, twistd pingu
NETWORK = pytest.mark.netns


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Any:
    if netns.unavailable() or netns.nft_unavailable() or not shutil.which("dnsping"):
        pytest.skip("needs network namespaces, nftables and dnsping (apt-get install dnsdiag)")
    workdir = tmp_path_factory.mktemp("dns")
    with netns.Chain(routers=1, prefix="pd") as made:
        made.target.rule("input", "meta nfproto ipv6 udp dport 53 drop")  # a silent resolver
        zone = made.target.popen(sys.executable, str(SERVER), made.target.v4[0],
                                 stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert zone.stdout is not None and zone.stdout.readline() == "ready\n"
        args = ("--min-interval", "0.05", "--max-count", "20")
        with harness_pingu.chain_served(made, workdir, args, zone) as served:
            yield served


def run(chain: Any, request: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    return chain.server.run_json({"tool": "dns", "count": 2, "interval": 1,
                              "server": chain.target.v4[0], **request})


def replies(events: list[dict[str, Any]]) -> list[tuple[Any, Any]]:
    return [(e.get("rcode"), e.get("answers")) for e in events if e["type"] == "reply"]


@pytest.mark.parametrize(("name", "kind", "rcode", "answers"), [
    ("www.test.example", "A", "NOERROR", 1), ("www.test.example", "AAAA", "NOERROR", 1),
    ("www.test.example", "MX", "NOERROR", 0), ("servfail.test.example", "A", "SERVFAIL", 0),
    ("nope.test.example", "TXT", "NXDOMAIN", 0),
])  # fmt: skip
@NETWORK
def test_answers_with_their_rcode(
    chain: Any, name: str, kind: str, rcode: str, answers: int
) -> None:
    events, code = run(chain, {"target": name, "type": kind})
    start = events[0]
    assert (start["tool"], start["address"], start["options"]["name"]) == (
        "dns", chain.target.v4[0], name,
    )  # fmt: skip
    assert replies(events) == [(rcode, answers)] * 2, events
    (summary,) = [e for e in events if e["type"] == "summary"]
    assert (summary["received"], summary["loss_pct"]) == (2, 0.0) and summary["p95_ms"] > 0
    assert (events[-1]["how"], code) == ("completed", 1000)


@NETWORK
def test_a_resolver_that_never_answers(chain: Any) -> None:
    events, code = run(chain, {"target": "www.test.example", "server": chain.target.v6[0]})
    assert [e.get("reason") for e in events if e["type"] == "timeout"] == ["timed out"] * 2
    assert (events[-1]["how"], code) == ("no-reply", 4000)


@pytest.mark.parametrize(("request_", "field", "code"), [
    ({"type": "ANY"}, "type", 4400), ({"server": "0.0.0.0"}, "server", 4403),
    ({"server": None}, "server", 4400), ({"target": "-c9"}, "target", 4400),
])  # fmt: skip
@NETWORK
def test_refusals_against_the_real_server(
    chain: Any, request_: dict[str, Any], field: str, code: int
) -> None:
    events, closed = run(chain, {"target": "www.test.example", **request_})
    assert [e["type"] for e in events] == ["error"] and events[0]["field"] == field, events
    assert closed == code


@NETWORK
def test_the_cli_prints_each_answer_and_the_statistics(chain: Any) -> None:
    cli = Path(sys.executable).parent / "pingu"
    done = chain.client.run(
        str(cli), "watch", "--tool", "dns", f"ws://127.0.0.1:{chain.server.port}/ws",
        "www.test.example", "--server", chain.target.v4[0], "-t", "A", "-c", "2", timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sum("bytes from" in line and "NOERROR" in line for line in lines) == 2, lines
    assert lines[-1].startswith("--- dns statistics: 2 probes, 2 answered, 0% loss"), lines
