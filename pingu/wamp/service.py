"""The node as a Twisted service: join the router, and rejoin it, for ever.

Also the transport settings of that connection and the process tuning a
long-running node wants.
"""

from __future__ import annotations

from typing import Any, Optional

from autobahn.twisted.component import Component
from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger

from pingu.events import SECRET_ENV
from pingu.lag import freeze_boot_objects
from pingu.runs import RunHub
from pingu.wamp.names import check_node_name, node_name
from pingu.wamp.state import ROUTER_GRACE, NodeState

log = Logger(namespace="pingu")


class ComponentService(service.Service):
    """Runs a reconnecting Autobahn ``Component`` for as long as the service runs."""

    def __init__(self, component: Component, reactor: Any) -> None:
        self.component = component
        self.reactor = reactor
        self._running: Optional[defer.Deferred[Any]] = None

    def startService(self) -> None:
        super().startService()
        self.reactor.callWhenRunning(freeze_boot_objects)
        self._running = self.component.start(self.reactor)
        self._running.addErrback(
            lambda f: log.error("pingu: WAMP node gave up: {f}", f=f.getErrorMessage())
        )

    def stopService(self) -> Any:
        super().stopService()
        d = self.component.stop()
        return d if isinstance(d, defer.Deferred) else None


#: What the node offers the router, in order of preference.  The node's link
#: must carry whatever a viewer may send on any of the router's serializers,
#: or the router holds a call it cannot forward (it logs a traceback and never
#: answers; issue 17): msgpack cannot, its integers end at 64 bits while a
#: JSON or CBOR viewer's do not.  CBOR carries all of it (big integers, and
#: every value the router's JSON, msgpack and CBOR decoders make) and the
#: router parses it as fast as msgpack, 4-5 times faster than JSON
#: (bench/WAMP-FANOUT.md: 13-29 us a reply event against msgpack's 14-30 and
#: JSON's 63-108; the router worker 1739 ms per 1000 events against 1743).
#: JSON, for a router that offers nothing else, carries the big integers
#: too.  The page and ``pingu watch`` keep JSON.
SERIALIZERS = ["cbor", "json"]


def transport_config(router: str) -> dict[str, Any]:
    """The runner's transport: retry forever, with back-off; Nagle off."""
    return {
        "type": "websocket",
        "url": router,
        "serializers": list(SERIALIZERS),
        "max_retries": -1,  # forever
        "initial_retry_delay": 0.5,
        # Short: a router that restarts is back in seconds, and the runs wait
        # --router-grace for the node, not longer.
        "max_retry_delay": 3,
        "retry_delay_growth": 1.5,
        "retry_delay_jitter": 0.1,
        "options": {"tcpNoDelay": True, "autoPingInterval": 30, "autoPingTimeout": 30},
    }


def make_wamp_service(
    hub: RunHub,
    router: str,
    realm: str,
    node: Optional[str],
    secret: Optional[str],
    reactor: Any,
    trusted_proxies: tuple[Any, ...] = (),
    router_grace: float = ROUTER_GRACE,
) -> service.IService:
    """The node as a Twisted service: joins ``router`` and rejoins, with
    back-off, whenever the connection is lost.

    Without a secret there is nothing to authenticate with: the shipped
    router configuration lets no anonymous session register, so this is an
    operator's error (``SystemExit`` with one line, as ``twistd`` shows it).
    """
    from pingu.wamp.node import PinguNode

    if not secret:
        raise SystemExit(
            f"pingu: --router needs the nodes' shared secret in the environment "
            f"variable {SECRET_ENV} (the same as the router's)"
        )
    try:
        name = check_node_name(node) if node else node_name()
    except ValueError as e:
        raise SystemExit(f"pingu: --node: {e}") from None

    # One state for every session the runner makes: runs outlive a router.
    state = NodeState(hub, name, trusted_proxies, router_grace)

    def make_session(config: Any) -> PinguNode:
        config.extra = {"state": state, "secret": secret}
        return PinguNode(config)

    component = Component(
        transports=[transport_config(router)], realm=realm, session_factory=make_session
    )
    return ComponentService(component, reactor)
