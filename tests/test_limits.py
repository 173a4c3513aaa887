"""Limits.check: the server refuses nonsense limits at start-up, in one line."""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import subprocess

import pytest

from pingu.limits import Limits

PING = shutil.which("ping") or "/usr/bin/ping"


def error(root: bool = False, **changes: object) -> str:
    with pytest.raises(ValueError) as caught:
        Limits().replace(**changes).check(root=root)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_the_defaults_pass_for_root_and_for_anyone() -> None:
    Limits().check(root=False)
    Limits().check(root=True)


def test_every_field_has_a_rule() -> None:
    # A field added later must be placed in one of the rule sets: the
    # generic "not negative" alone is rarely the right bound.
    ruled = (
        set(Limits.AT_LEAST_ONE)
        | set(Limits.AT_LEAST_ZERO)
        | set(Limits.ABOVE_ZERO)
        | set(Limits.CHECKED_APART)
    )
    fields = {f.name for f in dataclasses.fields(Limits)}
    assert fields - ruled == set(), "limits without a rule in Limits.check"
    assert ruled - fields == set(), "rules for limits that do not exist"


def test_the_rule_tables_are_not_fields() -> None:
    names = {f.name for f in dataclasses.fields(Limits)}
    assert not names & {"PING_USER_MIN_INTERVAL", "AT_LEAST_ONE", "ORDERED", "PING_CEILINGS"}


@pytest.mark.parametrize("name", Limits.AT_LEAST_ONE)
def test_zero_is_refused_where_it_would_refuse_everything(name: str) -> None:
    option = "--" + name.replace("_", "-")
    assert error(**{name: 0}) == f"{option} must be at least 1 (got 0)"
    # 1 is enough, once whatever must stay below it is 1 as well.
    ones = {name: 1, **{small: 1 for small, large in Limits.ORDERED if large == name}}
    Limits().replace(**ones).check(root=False)


@pytest.mark.parametrize("name", Limits.ABOVE_ZERO)
def test_zero_seconds_or_rates_are_refused(name: str) -> None:
    option = "--" + name.replace("_", "-")
    message = error(root=True, **{name: 0.0})
    assert message == f"{option} must be above 0 (got 0)"


@pytest.mark.parametrize("name", Limits.AT_LEAST_ZERO)
def test_zero_is_fine_where_it_means_none_but_negative_is_not(name: str) -> None:
    Limits().replace(**{name: 0}).check(root=False)
    option = "--" + name.replace("_", "-")
    assert error(**{name: -1}) == f"{option} may not be negative (got -1)"


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(Limits)])
def test_negative_is_refused_for_every_limit(name: str) -> None:
    option = "--" + name.replace("_", "-")
    message = error(root=True, **{name: -1})
    assert message.startswith(option + " "), message


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("name", ["min_interval", "grace", "max_starts_per_second"])
def test_not_finite_is_refused(name: str, value: float) -> None:
    option = "--" + name.replace("_", "-")
    assert error(root=True, **{name: value}) == (
        f"{option} must be a finite number (got {value!r})"
    )


@pytest.mark.parametrize("value", [1.5, True, "3"])
def test_a_whole_number_limit_must_be_a_whole_number(value: object) -> None:
    assert error(max_runs=value).startswith("--max-runs must be a whole number")


def test_a_number_limit_must_be_a_number() -> None:
    assert error(grace="2").startswith("--grace must be a number")
    Limits().replace(grace=2).check(root=False)  # an int is a fine float


def test_min_interval_above_max_interval() -> None:
    assert error(min_interval=5.0, max_interval=1.0) == (
        "--min-interval (5) is above --max-interval (1)"
    )
    Limits().replace(min_interval=1.0, max_interval=1.0).check(root=False)


@pytest.mark.parametrize(
    "small, large",
    [
        ("max_line", "max_buffered"),
    ],
)
def test_a_share_above_its_whole_is_refused(small: str, large: str) -> None:
    whole = getattr(Limits(), large)
    message = error(**{small: whole + 1})
    assert message.startswith(f"--{small.replace('_', '-')} (")
    assert f"is above --{large.replace('_', '-')} (" in message
    Limits().replace(**{small: whole}).check(root=False)


def test_a_per_client_limit_above_its_total_is_allowed() -> None:
    # the total binds first: a small box runs with --max-runs 1
    Limits(max_runs=1).check(root=False)
    Limits(max_resolving=1, max_handshakes=1, max_calls_per_second_total=1.0).check(root=False)


def test_the_interval_floor_of_a_user_other_than_root() -> None:
    assert error(min_interval=0.001) == (
        "--min-interval 0.001 is below 0.002 s, the shortest interval ping allows "
        "a user other than root"
    )
    Limits().replace(min_interval=0.002).check(root=False)
    Limits().replace(min_interval=0.001).check(root=True)  # root's ping takes any interval


@pytest.mark.parametrize("value", [-1, 129])
def test_client_prefix6_is_a_prefix_length(value: int) -> None:
    message = error(client_prefix6=value)
    assert message.startswith("--client-prefix6 ")
    if value > 128:
        assert message == "--client-prefix6 must be between 0 and 128 (got 129)"


@pytest.mark.parametrize("value", [0, 64, 128])
def test_client_prefix6_bounds_pass(value: int) -> None:
    Limits().replace(client_prefix6=value).check(root=False)


@pytest.mark.parametrize(
    "name, ceiling",
    [("max_size", 65507), ("max_interval", 2147483), ("max_duration", 2**31 - 1)],
)
def test_above_what_ping_accepts(name: str, ceiling: int) -> None:
    Limits().replace(**{name: ceiling}).check(root=True)
    message = error(root=True, **{name: ceiling + 1})
    assert message == (
        f"--{name.replace('_', '-')} {ceiling + 1} is above {ceiling}, the most ping accepts"
    )


def test_max_count_ceiling() -> None:
    Limits().replace(max_count=2**63 - 1).check(root=True)
    assert error(max_count=2**63).startswith("--max-count 9223372036854775808 is above")


# -- the numbers above are ping's own: asked of the real ping, on 127.0.0.1 only --------

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or not os.path.exists(PING),
    reason="needs root, setpriv and iputils ping",
)


def ping(*args: str, user: bool = False) -> subprocess.CompletedProcess[str]:
    prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] if user else []
    return subprocess.run(
        [*prefix, PING, *args, "-c", "2", "-W", "1", "127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=10,
    )


@needs_root
def test_ping_itself_sets_the_user_floor_at_2_ms() -> None:
    floor = Limits.PING_USER_MIN_INTERVAL
    below = ping("-i", f"{floor * 0.95:g}", user=True)
    assert below.returncode == 2 and "minimal interval" in below.stderr, below
    at = ping("-i", f"{floor:g}", user=True)
    assert at.returncode == 0, at
    as_root = ping("-i", f"{floor / 2:g}")
    assert as_root.returncode == 0, as_root


@needs_root
def test_ping_itself_sets_the_size_and_interval_ceilings() -> None:
    ceilings = {**dict(Limits.PING_CEILINGS), **{n: c for n, c, _ in Limits.TOOL_CEILINGS}}
    assert ping("-s", str(ceilings["max_size"])).returncode == 0
    assert ping("-s", str(ceilings["max_size"] + 1)).returncode != 0
    # -i above the ceiling is refused before anything is sent
    refused = ping("-i", str(ceilings["max_interval"] + 1))
    assert refused.returncode == 2 and "interval" in refused.stderr, refused


@pytest.mark.parametrize("workers", [1, 2, 3, 7])
def test_worker_shares_add_up_to_the_whole_server_limit(workers: int) -> None:
    whole = Limits(max_runs=1000, max_resolving=32, max_handshakes=10, max_backlog_bytes=999)
    shares = [whole.share(index, workers) for index in range(workers)]
    for name in Limits.SHARED_BY_WORKERS:
        parts = [getattr(share, name) for share in shares]
        assert sum(parts) == getattr(whole, name), name
        assert max(parts) - min(parts) <= 1, name
    # the per-client limits are not divided
    assert {share.max_runs_per_client for share in shares} == {whole.max_runs_per_client}


def test_the_wamp_node_worker_holds_the_whole_backlog_budget() -> None:
    whole = Limits(max_backlog_bytes=1000, max_runs=10)
    shares = [whole.share(index, 2, node=0) for index in range(2)]
    assert [s.max_backlog_bytes for s in shares] == [1000, 0]
    assert [s.max_runs for s in shares] == [5, 5]
    with pytest.raises(ValueError):
        whole.share(2, 2)
