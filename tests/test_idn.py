"""Host names as browsers see them (issue 17 item 7): IDNA 2008 with UTS 46
non-transitional mapping, and names whose mapping would delete or fold
characters refused, naming the label.

Shown able to fail: with ``target.encode("idna")`` (Python's IDNA 2003
codec, what pingu/request.py used) back in ``check_target``, ``faß.de`` is
asked as ``fass.de`` and every deleted/folded case below is accepted as the
name it imitates (``example.com``, ``paypal.com``, ``localhost``).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet import defer

from pingu.idn import BadName, to_ascii
from pingu.limits import Limits
from pingu.request import Policy, Refused, check_target, parse_fields, resolve
from tests.harness.pingu import Pingu

ASKED_AS = [
    ("faß.de", "xn--fa-hia.de"),  # IDNA 2003 (Python's codec) asks fass.de
    ("FAß.de", "xn--fa-hia.de"),  # case is not a change
    ("münchen.de", "xn--mnchen-3ya.de"),
    ("ΣΟΦΙΑ.gr", "xn--mxaprpq.gr"),  # σοφια
    ("日本語.jp", "xn--wgv71a119e.jp"),
    ("xn--fa-hia.de", "xn--fa-hia.de"),
    ("Example.COM.", "Example.COM."),  # ASCII as it was
    ("_dmarc.example.com", "_dmarc.example.com"),
]


@pytest.mark.parametrize(("name", "ascii"), ASKED_AS)
def test_names_are_asked_as_browsers_ask_them(name, ascii) -> None:
    assert to_ascii(name) == ascii
    assert check_target(name) == (ascii, None)


#: "localhost" in fullwidth letters
FULLWIDTH = "\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54"
REFUSED = [
    ("exa\u200dmple.com", "exa\u200dmple", "ZWJ"),  # IDNA 2003: example.com
    ("exa\u200cmple.com", "exa\u200cmple", "ZWNJ"),
    ("pay\u00adpal.com", "pay\u00adpal", "deletes or changes"),  # soft hyphen: paypal.com
    ("bu\u0308cher\ufe0f.de", "bu\u0308cher\ufe0f", "deletes or changes"),  # variation selector
    ("\u24dbocalhost", "\u24dbocalhost", "deletes or changes"),  # ⓛ: localhost
    (
        "\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54",
        "\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54",
        "deletes or changes",
    ),  # fullwidth
    ("www\u3002example.com", "www\u3002example", "deletes or changes"),  # ideographic stop
    ("\u2474.example", "\u2474", "deletes or changes"),  # ⑴ folds to "(1)"
    ("xn--zzzzzz.de", "xn--zzzzzz", "A-label"),  # not punycode of anything valid
]


@pytest.mark.parametrize(("name", "label", "why"), REFUSED)
def test_names_a_mapping_would_change_are_refused_naming_the_label(name, label, why) -> None:
    with pytest.raises(BadName, match=why) as caught:
        to_ascii(name)
    assert repr(label) in str(caught.value)
    with pytest.raises(Refused) as refused:
        check_target(name)
    assert (refused.value.reason, refused.value.field) == ("bad-name", "target")
    assert repr(label) in refused.value.message


def test_the_resolver_is_asked_the_idna2008_name() -> None:
    """The policy still sees only what the server resolved, for the name a
    browser would ask."""
    asked: list[tuple[str, object]] = []

    def resolver(name, family):
        asked.append((name, family))
        return defer.succeed(["192.0.2.1"])

    request = parse_fields({"target": "faß.de"}, Limits())
    results: list = []
    resolve(request, resolver, Policy()).addBoth(results.append)
    assert asked == [("xn--fa-hia.de", None)]
    assert results[0].address == "192.0.2.1" and results[0].target == "xn--fa-hia.de"


@pytest.mark.e2e
def test_the_real_server_refuses_a_soft_hyphen_name_and_spawns_nothing(tmp_path) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    from tests.harness.procs import children_of, is_watchdog

    with Pingu(tmp_path, name="idn") as server:
        with connect(server.ws_url, subprotocols=["pingu.json"], proxy=None) as conn:
            conn.send(json.dumps({"target": "pay\u00adpal.com", "count": 1}))
            event = json.loads(conn.recv(timeout=5))
            with pytest.raises(ConnectionClosed) as closed:
                conn.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
        assert event["type"] == "error" and event["reason"] == "bad-name", event
        assert "'pay\\xadpal'" in event["message"] and "deletes or changes" in event["message"]
        assert [c for c in children_of(server.pid) if not is_watchdog(c)] == []


@given(
    st.text(min_size=1, max_size=40).map(lambda t: t.replace(" ", "")).filter(bool),
    st.sampled_from(["", "xn--", "xn--a"]),
)
def test_any_name_is_asked_as_ascii_or_refused(text: str, prefix: str) -> None:
    """Whatever the idna package makes of a name, the answer is an ASCII name
    or a Refused, never another exception."""
    try:
        name, _ = check_target(prefix + text)
    except Refused:
        return
    assert name.isascii()
