"""The network-namespace fixture itself (tests/harness/netns.py): real hops,
IPv4 and IPv6, nftables loss and silence, and a teardown that leaves nothing."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.harness import netns

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(netns.unavailable() is not None, reason=str(netns.unavailable())),
]
needs_nft = pytest.mark.skipif(
    netns.nft_unavailable() is not None, reason=str(netns.nft_unavailable())
)

chain = netns.fixture(routers=1)


def ping(ns: netns.Namespace, address: str, *args: str) -> subprocess.CompletedProcess[str]:
    return ns.run("ping", "-n", "-W", "1", *args, address, timeout=60)


def received(out: str) -> int:
    found = re.search(r"(\d+) received", out)
    assert found, out
    return int(found.group(1))


@pytest.mark.parametrize("family", ["v4", "v6"])
def test_the_client_reaches_the_target_through_the_router(chain, family):
    """client -- r1 -- target: the replies come back with their TTL one less
    (one router forwarded them), and TTL 1 dies at the router."""
    assert len(chain.namespaces) == 3
    target = getattr(chain.target, family)[0]
    done = ping(chain.client, target, "-c", "2", "-i", "0.2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.findall(r"ttl=(\d+)", done.stdout) == ["63", "63"], done.stdout
    expired = ping(chain.client, target, "-c", "1", "-t", "1")
    assert expired.returncode != 0
    router = getattr(chain.routers[0], family)[0]
    assert re.search(rf"From {re.escape(router)}.*(exceeded)", expired.stdout), expired.stdout
    # the target is not reachable from outside the chain: the root namespace has no route
    assert (
        chain.target.v4[0]
        not in subprocess.run(["ip", "-4", "addr"], capture_output=True, text=True).stdout
    )


def test_two_routers_make_two_hops():
    with netns.Chain(routers=2) as longer:
        assert len(longer.routers) == 2
        done = ping(longer.client, longer.target.v6[0], "-c", "1")
        assert re.findall(r"ttl=(\d+)", done.stdout) == ["62"], done.stdout
        done = ping(longer.client, longer.target.v4[0], "-c", "1")
        assert re.findall(r"ttl=(\d+)", done.stdout) == ["62"], done.stdout


@needs_nft
def test_random_loss_of_30_percent(chain):
    chain.target.drop_randomly(30)
    sent = 400
    done = ping(chain.client, chain.target.v4[0], "-c", str(sent), "-i", "0.005", "-q")
    loss = 1 - received(done.stdout) / sent
    # binomial: sd 2.3 %; 0.18 .. 0.42 is five of them either side
    assert 0.18 <= loss <= 0.42, done.stdout


@needs_nft
@pytest.mark.parametrize("family", ["v4", "v6"])
def test_a_silent_host_answers_nothing(chain, family):
    chain.target.drop_echo_requests()
    done = ping(chain.client, getattr(chain.target, family)[0], "-c", "3", "-i", "0.2")
    assert received(done.stdout) == 0, done.stdout
    assert done.returncode == 1
    chain.target.flush_rules()
    assert ping(chain.client, getattr(chain.target, family)[0], "-c", "1").returncode == 0


@needs_nft
@pytest.mark.parametrize("family", ["v4", "v6"])
def test_a_silent_hop_sends_no_time_exceeded(chain, family):
    chain.routers[0].drop_time_exceeded()
    target = getattr(chain.target, family)[0]
    expired = ping(chain.client, target, "-c", "1", "-t", "1")
    assert "exceeded" not in expired.stdout, expired.stdout
    # the hop still forwards
    assert ping(chain.client, target, "-c", "1").returncode == 0


def test_teardown_leaves_no_namespace_even_after_an_exception():
    made = netns.Chain(routers=1)
    with pytest.raises(RuntimeError, match="inside"):
        with made:
            assert set(made.names) <= set(netns.listed())
            sleeper = made.target.popen("sleep", "60")
            raise RuntimeError("inside the chain")
    assert not set(made.names) & set(netns.listed())
    assert sleeper.wait(5) != 0  # killed with its namespace
    made.down()  # again: nothing to do


def test_chains_side_by_side_have_their_own_names():
    with netns.Chain() as one, netns.Chain() as two:
        assert not set(one.names) & set(two.names)
        for made in (one, two):
            assert ping(made.client, made.target.v4[0], "-c", "1").returncode == 0
            links = made.routers[0].sh("ip", "-o", "link")
            names = re.findall(r"^\d+: ([^:@]+)", links, re.M)
            assert len(names) == 3 and all(len(n) <= 15 for n in names), names
    assert not set(one.names + two.names) & set(netns.listed())
