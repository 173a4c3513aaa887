"""The tool seam (pingu.tools): the registry, tool fields in requests, ping's
own bounds, and the tool in a shared run's key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pytest

from pingu import tools
from pingu.events import CloseCode
from pingu.limits import Limits
from pingu.refusal import Refused
from pingu.request import PingOptions, ResolvedRequest, parse_fields
from pingu.tools import ping
from pingu.tools.spec import Field

LIMITS = Limits()


def refusal(fields: Any, limits: Limits = LIMITS) -> Refused:
    with pytest.raises(Refused) as error:
        parse_fields(fields, limits)
    return error.value


def test_the_registry_has_ping() -> None:
    assert tools.DEFAULT_TOOL == "ping"
    assert tools.get("ping") is ping.TOOL and tools.TOOLS["ping"].name == "ping"
    assert list(tools.TOOLS)[:1] == ["ping"]  # the default first, then by name
    assert list(tools.TOOLS)[1:] == sorted(set(tools.TOOLS) - {"ping"})
    assert {"traceroute", "mtr"} <= set(tools.TOOLS)
    with pytest.raises(KeyError):
        tools.get("tracert")
    tool = tools.get("ping")
    assert tool.executable == "ping" and "count" in tools.field_names(tool)
    assert tool.env == {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}


def test_parse_fields_with_tool_ping_is_the_default() -> None:
    named = parse_fields({"target": "127.0.0.1", "tool": "ping", "count": 3}, LIMITS)
    default = parse_fields({"target": "127.0.0.1", "count": 3}, LIMITS)
    none = parse_fields({"target": "127.0.0.1", "tool": None, "count": 3}, LIMITS)
    assert named == default == none
    assert named.tool == "ping" and named.options == PingOptions(count=3)


@pytest.mark.parametrize("tool", ["tracert", "PING", "", 5, ["ping"], {"x": 1}, True])
def test_an_unknown_tool_is_refused_on_the_tool_field(tool: Any) -> None:
    r = refusal({"target": "127.0.0.1", "tool": tool})
    assert (r.code, r.field, r.reason) == (CloseCode.BAD_REQUEST, "tool", "unknown-tool")
    assert "ping" in r.message


def test_unknown_fields_of_ping_are_refused() -> None:
    r = refusal({"target": "127.0.0.1", "hops": 3, "bogus": 1})
    assert (r.field, r.reason) == ("bogus", "unknown-field")
    assert "hops" in r.message and "count" in r.message  # says what is known


@dataclass(frozen=True)
class HopOptions:
    hops: Optional[int] = None
    family: Optional[int] = None

    def as_dict(self) -> dict[str, Any]:
        return {"hops": self.hops, "family": self.family}


class Trace:
    """A second tool, only for this test: its own fields, not ping's."""

    name = "trace"
    executable = "trace"
    fields = (Field("hops", int, 1, 30, "-H", "H", "Hops", "hops"),)
    target = "address"
    env = {"PATH": "/usr/bin"}

    def options(self, fields: Any, limits: Limits) -> HopOptions:
        return HopOptions(hops=fields.get("hops"), family=fields.get("family"))


@pytest.fixture
def trace(monkeypatch) -> Trace:
    tool = Trace()
    monkeypatch.setattr(tools, "TOOLS", {"ping": ping.TOOL, "trace": tool})
    return tool


def test_each_tool_has_its_own_fields(trace: Trace) -> None:
    request = parse_fields({"target": "127.0.0.1", "tool": "trace", "hops": 5}, LIMITS)
    assert request.tool == "trace" and request.options == HopOptions(hops=5)
    r = refusal({"target": "127.0.0.1", "tool": "trace", "count": 3})
    assert (r.field, r.reason) == ("count", "unknown-field")
    r = refusal({"target": "127.0.0.1", "hops": 5})  # ping's fields, not trace's
    assert (r.field, r.reason) == ("hops", "unknown-field")


def test_target_and_family_are_checked_for_every_tool(trace: Trace) -> None:
    assert refusal({"target": "-f", "tool": "trace"}).field == "target"
    assert refusal({"tool": "trace"}).reason == "missing"
    assert refusal({"target": "127.0.0.1", "tool": "trace", "family": 5}).field == "family"
    r = refusal({"target": "::1", "tool": "trace", "family": 4})
    assert r.reason == "family-mismatch"


# -- ping's bounds ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deadline", "interval", "ok"),
    [
        (9, None, True),  # 10 sends at the default 1 s
        (10, None, False),  # 11
        (4, 0.5, True),  # 9
        (5, 0.5, False),  # 11
        (1, 0.2, True),  # 6
    ],
)
def test_a_deadline_may_not_send_more_than_max_count(deadline, interval, ok) -> None:
    limits = Limits(max_count=10)
    fields: dict[str, Any] = {"target": "127.0.0.1", "deadline": deadline, "count": 1}
    if interval is not None:
        fields["interval"] = interval
    if ok:
        assert parse_fields(fields, limits).options.deadline == deadline
    else:
        r = refusal(fields, limits)
        assert (r.code, r.field, r.reason) == (CloseCode.BAD_REQUEST, "deadline", "out-of-range")
        assert "10" in r.message


def test_the_deadline_check_is_exact() -> None:
    r = refusal({"target": "127.0.0.1", "deadline": 17, "interval": 0.34}, Limits(max_count=50))
    assert r.field == "deadline"


def test_a_deadline_above_max_duration_is_refused() -> None:
    r = refusal({"target": "127.0.0.1", "deadline": 11}, Limits(max_duration=10))
    assert (r.field, r.reason) == ("deadline", "out-of-range")


def test_argv_carries_the_deadline_and_the_count_ceiling() -> None:
    request = ResolvedRequest("h", "192.0.2.1", 4, PingOptions(deadline=5, interval=0.25))
    argv = ping.TOOL.argv("/usr/bin/ping", request, Limits(max_count=99))
    assert argv == ["/usr/bin/ping", "-n", "-O", "-4", "-c", "99", "-i", "0.25", "-w", "5",
                    "--", "192.0.2.1"]  # fmt: skip


# -- the key of shared runs ---------------------------------------------------------


def test_the_key_includes_the_tool() -> None:
    a = ResolvedRequest("h", "192.0.2.1", 4, PingOptions(count=3), tool="ping")
    b = ResolvedRequest("h", "192.0.2.1", 4, PingOptions(count=3), tool="trace")
    same = ResolvedRequest("other-name", "192.0.2.1", 4, PingOptions(count=3))
    assert a.key() != b.key()
    assert a.key() == same.key()  # the target's spelling does not matter
    assert a.key()[0] == "ping" and b.key()[0] == "trace"


def test_every_tools_options_are_scalars_so_as_dict_copies_them_whole() -> None:
    # OptionsDict.as_dict makes a shallow copy (dataclasses.asdict's deep one
    # cost five times as much): right only while no option holds a container.
    import dataclasses
    import typing

    from pingu.tools.common import OptionsDict

    scalars = {str, int, float, bool, type(None)}
    classes = OptionsDict.__subclasses__()
    assert {c.__name__ for c in classes} >= {"PingOptions", "DnsOptions", "HttpOptions"}
    for cls in classes:
        for name, hint in typing.get_type_hints(cls).items():
            kinds = set(typing.get_args(hint)) or {hint}
            assert kinds <= scalars, f"{cls.__name__}.{name}: {hint}"
        options = cls()
        assert options.as_dict() == dataclasses.asdict(options)
        assert list(options.as_dict()) == [f.name for f in dataclasses.fields(options)]
