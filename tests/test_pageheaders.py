"""The page's security headers and the routers a link may name
(``pingu/pageheaders.py``, ``--page-router``); the servers' side is in
``tests/test_browser_page_security.py``."""

from __future__ import annotations

import pytest

from pingu.pageheaders import content_security_policy, page_headers, router_origin
from pingu.tap import Options


@pytest.mark.parametrize(
    "url, origin",
    [
        ("wss://Router.Example/ws", "wss://router.example"),
        ("wss://router.example:443/ws", "wss://router.example"),
        ("ws://router.example:80/ws", "ws://router.example"),
        ("ws://127.0.0.1:8081/ws", "ws://127.0.0.1:8081"),
        ("ws://[::1]:8081/ws", "ws://[::1]:8081"),
    ],
)
def test_a_routers_origin(url: str, origin: str) -> None:
    assert router_origin(url) == origin


@pytest.mark.parametrize(
    "url",
    [
        "http://router.example/ws",
        "router.example",
        "ws:///ws",
        "wss://user:pw@router.example/ws",
        "wss://router.example/ws?x=1",
        "wss://router.example:99999/ws",
        "wss://router.example/ws 'unsafe-inline'",
        "wss://a;script-src*/ws",
        "wss://a'b/ws",
        "wss://[fe80::zz]/ws",
    ],
)
def test_anything_but_a_plain_router_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        router_origin(url)


def test_the_csp_names_only_the_page_and_the_listed_routers() -> None:
    policy = content_security_policy(["wss://r.example/ws", "wss://r.example:443/x"])
    csp = {d.split()[0]: d.split()[1:] for d in policy.split("; ")}
    assert csp["connect-src"] == ["'self'", "wss://r.example"]
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    names = [name for name, _ in page_headers()]
    assert len(names) == len(set(names))


def test_page_router_option() -> None:
    options = Options()
    options.parseOptions(["--page-router", "wss://a.example/ws", "--page-router", "ws://b:1/ws"])
    assert options["page-router"] == ["wss://a.example/ws", "ws://b:1/ws"]
    with pytest.raises(SystemExit) as refused:
        Options().parseOptions(["--page-router", "https://a.example/ws"])
    assert "--page-router" in str(refused.value)
