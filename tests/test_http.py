"""http (curl): its URL checks, its argv, its parser, and whole runs through
the real ``twistd pingu`` and the real curl on a namespaced network:
client -- r1 -- target, where the target serves HTTP on port 80 and HTTPS
on port 443 (a certificate for www.test.example from a CA this test
makes), and drops port 81 (nftables).  The client namespace's /etc/hosts
(``ip netns exec`` reads /etc/netns/NAME/hosts) names the target
www.test.example; pingu resolves it, curl never does."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pingu import tools
from pingu.limits import Limits
from pingu.refusal import Refused
from pingu.request import ResolvedRequest, parse_fields
from pingu.tools.http import HttpOptions, HttpParser
from tests.harness import netns
from tests.harness import pingu as harness_pingu
from tests.harness.messages import refused

TOOL = tools.get("http")
LIMITS = Limits()
SERVER = Path(__file__).parent / "harness" / "http_server.py"
NAME = "www.test.example"


def refusal(target: Any, **fields: Any) -> Refused:
    return refused({"target": target, "tool": "http", **fields}, LIMITS)


def test_the_urls_host_is_what_is_resolved() -> None:
    request = parse_fields({"target": f"https://{NAME}/a?b=1", "tool": "http"}, LIMITS)
    assert (request.target, request.literal) == (NAME, None)
    assert request.options == HttpOptions(url=f"https://{NAME}/a?b=1", host=NAME, port=443)
    literal = parse_fields({"target": "http://[fd00::2]/", "tool": "http"}, LIMITS)
    assert str(literal.literal) == "fd00::2" and literal.options.port == 80


@pytest.mark.parametrize(("target", "reason", "code"), [
    ("ftp://h/", "bad-url", 4400), ("file:///etc/passwd", "bad-url", 4400),
    ("gopher://h/", "bad-url", 4400), ("h/", "bad-url", 4400),
    ("http://u:p@h/", "bad-url", 4400), ("http://h:22/", "not-allowed", 4403),
    ("http://h:99999/", "bad-url", 4400), ("http:///x", "bad-url", 4400),
    ("http://h/a b", "bad-characters", 4400), ("http://" + "a" * 2048 + "/", "too-long", 4400),
    ("http://-h/", "looks-like-option", 4400), (5, "wrong-type", 4400),
])  # fmt: skip
def test_urls_that_are_refused(target: Any, reason: str, code: int) -> None:
    r = refusal(target)
    assert (r.reason, r.code, r.field) == (reason, code, "target")


def test_only_head_or_get() -> None:
    for method in ("POST", "PUT", "DELETE", "CONNECT", "head", ""):
        assert refusal("http://h/", method=method).field == "method"
    assert refusal("http://h/", count=LIMITS.max_http_count + 1).field == "count"


def test_argv_never_lets_curl_resolve_and_sends_no_body() -> None:
    options = HttpOptions(url=f"https://{NAME}:443/", host=NAME, port=443, count=2,
                          interval=0.5, method="GET")  # fmt: skip
    argv = TOOL.argv("/usr/bin/curl", ResolvedRequest(NAME, "10.0.0.9", 4, options, "http"),
                     LIMITS)  # fmt: skip
    assert argv[:3] == ["/usr/bin/stdbuf", "-oL", "/usr/bin/curl"]
    assert argv[argv.index("--resolve") + 1] == f"{NAME}:443:10.0.0.9"
    assert argv[argv.index("--max-redirs") + 1] == "0" and "-L" not in argv
    assert argv[argv.index("--rate") + 1] == "7200/h" and "-I" not in argv
    assert argv[-6:] == ["-o", "/dev/null", options.url] * 2
    assert not {"-d", "--data", "-H", "-x", "-K", "--config"} & set(argv)
    six = ResolvedRequest(NAME, "fd00::2", 6, HttpOptions(url="http://h/", host="h"), "http")
    head = TOOL.argv("curl", six, LIMITS)
    assert head[head.index("--resolve") + 1] == "h:80:[fd00::2]" and "-I" in head


def test_each_request_is_a_reply_with_its_phases_or_a_loss() -> None:
    parser = HttpParser("10.0.0.9")
    lines = [
        "pingu-http 200 0.001000 0.004000 0.006000 0.006500 612 0 ",
        "pingu-http 301 0.001000 0.000000 0.002000 0.002500 0 0 http://h/",
        "pingu-http 000 0.000000 0.000000 0.000000 1.001000 0 28 ",
        "curl: (28) Operation timed out after 1001 milliseconds with 0 bytes received",
        "pingu-http 404 0.001000 0.000000 0.003000 0.003000 9 0 ",
    ]
    got = [e for line in lines for e in parser.feed(line)] + parser.finish()
    first, moved, lost, error, missing, summary = got
    assert (first["status"], first["rtt_ms"], first["bytes"]) == (200, 6.5, 612)
    assert first["raw"] == (
        "200 from 10.0.0.9: seq=1 connect=1 tls=3 first_byte=2 total=6.5 ms, 612 bytes"
    )
    assert lost["raw"] == "request to 10.0.0.9: seq=3 timed out"
    assert first["timings"] == {"connect": 1.0, "tls": 3.0, "first_byte": 2.0, "total": 6.5}
    assert (moved["status"], moved["redirect"], moved["timings"]["tls"]) == (301, "http://h/", None)
    assert moved["raw"].endswith("total=2.5 ms, 0 bytes -> http://h/")
    assert (lost["type"], lost["seq"], lost["reason"]) == ("timeout", 3, "timed out")
    assert error["type"] == "line" and missing["seq"] == 4
    assert summary["status_counts"] == {"200": 1, "301": 1, "404": 1}
    assert (summary["transmitted"], summary["received"]) == (4, 3)


# -- the real curl, through twistd pingu ---------------------------------------------------


#: what the tests on the namespaced network start: namespaces, servers in them, twistd pingu
NETWORK = pytest.mark.netns


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Any:
    if netns.unavailable() or netns.nft_unavailable() or not shutil.which("openssl"):
        pytest.skip("needs network namespaces, nftables and openssl")
    workdir = tmp_path_factory.mktemp("http")
    ca, cert, key = (workdir / n for n in ("ca.pem", "cert.pem", "key.pem"))
    make_certificates(workdir, ca, cert, key)
    with netns.Chain(routers=1, prefix="ph", ipv6=False) as made:
        made.target.rule("input", "tcp dport 81 drop")
        hosts = Path("/etc/netns") / made.client.name
        hosts.mkdir(parents=True)
        (hosts / "hosts").write_text(f"127.0.0.1 localhost\n{made.target.v4[0]} {NAME}\n")
        web = made.target.popen(sys.executable, str(SERVER), made.target.v4[0], str(cert),
                                str(key), stdout=subprocess.PIPE, text=True)  # fmt: skip
        try:
            assert web.stdout is not None and web.stdout.readline() == "ready\n"
            server = harness_pingu.NamespacePingu(made.client, workdir, "pingu-http", (
                "--allow-port", "80,81,443", "--min-interval", "0.05", "--http-timeout", "1",
                "--http-ca-file", str(ca),
            ))  # fmt: skip
            with server:
                made.server = server
                yield made
        finally:
            web.kill()
            web.wait()
            shutil.rmtree(hosts, ignore_errors=True)


def make_certificates(folder: Path, ca: Path, cert: Path, key: Path) -> None:
    """A CA, and a certificate for www.test.example it signed."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", str(ca),
            "-days", "2", "-subj", "/CN=pingu test CA")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", "cert.csr",
            "-subj", f"/CN={NAME}")  # fmt: skip
    (folder / "ext").write_text(f"subjectAltName=DNS:{NAME}\n")
    openssl("x509", "-req", "-in", "cert.csr", "-CA", str(ca), "-CAkey", "ca.key",
            "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", "ext")  # fmt: skip


def run(chain: Any, request: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    return chain.server.run_json({"tool": "http", "count": 2, "interval": 0.2, **request})


def of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


@pytest.mark.parametrize(("url", "status", "tls"), [
    ("http://{name}/", 200, False), ("https://{name}/", 200, True),
    ("https://{name}/missing", 404, True), ("http://{address}/", 200, False),
])  # fmt: skip
@NETWORK
def test_requests_and_their_phases(chain: Any, url: str, status: int, tls: bool) -> None:
    target = url.format(name=NAME, address=chain.target.v4[0])
    events, code = run(chain, {"target": target, "method": "GET"})
    assert events[0]["address"] == chain.target.v4[0]
    replies = of(events, "reply")
    assert [r["status"] for r in replies] == [status] * 2, events
    assert all((r["timings"]["tls"] is not None) == tls for r in replies)
    assert all(r["bytes"] == 128 for r in replies)  # GET: the body was received, and counted
    assert not any("pingu test page" in str(e) for e in events)  # the body reaches nobody
    (summary,) = of(events, "summary")
    assert summary["status_counts"] == {str(status): 2} and summary["p95_ms"] is not None
    assert (events[-1]["how"], code) == ("completed", 1000)


@NETWORK
def test_a_redirect_is_reported_not_followed(chain: Any) -> None:
    events, _ = run(chain, {"target": f"http://{NAME}/moved"})
    assert [(r["status"], r["redirect"]) for r in of(events, "reply")] == [
        (301, f"http://{NAME}/")
    ] * 2


@NETWORK
def test_a_slow_server_and_a_filtered_port_time_out(chain: Any) -> None:
    for target in (f"http://{NAME}/slow", f"http://{NAME}:81/"):
        events, code = run(chain, {"target": target, "count": 1})
        assert [e["reason"] for e in of(events, "timeout")] == ["timed out"], events
        assert (events[-1]["how"], code) == ("no-reply", 4000)


@NETWORK
def test_tls_is_verified_against_the_urls_name(chain: Any) -> None:
    # the address is right, but the certificate is www.test.example's
    events, _ = run(chain, {"target": f"https://{chain.target.v4[0]}/", "count": 1})
    assert [e["reason"] for e in of(events, "timeout")] == ["tls"], events


@pytest.mark.parametrize(("target", "field", "code"), [
    ("ftp://www.test.example/", "target", 4400), (f"http://{NAME}:22/", "target", 4403),
    ("http://0.0.0.0/", "target", 4403), ("http://unknown.test.example/", "target", 4404),
])  # fmt: skip
@NETWORK
def test_refusals_against_the_real_server(chain: Any, target: str, field: str, code: int) -> None:
    events, closed = run(chain, {"target": target})
    assert [e["type"] for e in events] == ["error"] and events[0]["field"] == field, events
    assert closed == code


@NETWORK
def test_the_text_face_and_the_cli_print_readable_lines(chain: Any) -> None:
    cli = Path(sys.executable).parent / "pingu"
    done = chain.client.run(
        str(cli), "watch", "--tool", "http", f"ws://127.0.0.1:{chain.server.port}/ws",
        f"https://{NAME}/", "-c", "2", "-i", "0.2", timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    address = chain.target.v4[0]
    assert [line.split(" ms")[0].split(" connect=")[0] for line in lines[:2]] == [
        f"200 from {address}: seq=1", f"200 from {address}: seq=2",
    ], lines  # fmt: skip
    assert " tls=" in lines[0] and lines[-1].startswith("--- http statistics: 2 probes, 2 answered")
