"""``twistd pingu``: the command line and the service tree.

Problems an operator can fix (a bad ``--port``, a missing ping, a busy
port, a missing page) end the program with one line on stderr and a
non-zero exit, not a traceback.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import ipaddress
import os
import re
import shutil
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import Any, Optional

from twisted.application import service
from twisted.internet import defer, endpoints
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.failure import Failure

from pingu import __version__, tools
from pingu.limits import Limits, limit_options
from pingu.request import Policy

log = Logger(namespace="pingu")


def _to_terminal(line: str) -> None:
    """Say ``line`` on the terminal's own stderr (twistd has pointed
    sys.stderr at its log), if there is one."""
    if sys.__stderr__ is not None:
        sys.__stderr__.write(line + "\n")
        sys.__stderr__.flush()


def fail(message: str) -> SystemExit:
    """An operator's error: one line, exit status 1."""
    return SystemExit(f"pingu: {message}")


def endpoint_description(port: str) -> str:
    """``8080`` means ``tcp:8080``; anything else is a Twisted endpoint string."""
    return f"tcp:{port}" if re.fullmatch(r"\d+", port) else port


#: The listen queue of a TCP port that names none: Twisted's default is 50,
#: so a burst of connections while the reactor is busy (a spawn blocks it
#: until the child has exec'd) overflows it and clients wait for SYN
#: retries, 1 s and then 3 s (bench/PROFILE.md, churn).  The kernel caps it
#: at net.core.somaxconn (4096), which is what Go's servers ask for.
LISTEN_BACKLOG = 1024


def with_backlog(description: str) -> str:
    """A ``tcp``/``tcp6``/``ssl`` endpoint string with ``backlog=`` added
    when it names none; any other endpoint as it is."""
    kind = description.split(":", 1)[0]
    if kind in ("tcp", "tcp6", "ssl") and "backlog=" not in description:
        return f"{description}:backlog={LISTEN_BACKLOG}"
    return description


def _network(text: str) -> Any:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise fail(f"not a network (CIDR): {text!r}") from None


class Options(usage.Options):
    """Options of ``twistd pingu``."""

    synopsis = "[options]"
    longdesc = (
        "Serve a page at / and a WebSocket endpoint at /ws that stream ping's "
        "output line by line; with --router, also join a WAMP router as a node."
    )
    optParameters = [
        ["port", "p", "8080", "port number or Twisted endpoint string (tcp:8080:interface=...)"],
        ["ping", None, "ping", "ping executable (a name on PATH or a path)"],
    ] + [
        [tool.name, None, None, f"{tool.name} executable (default: {tool.executable} on "
         f"PATH, if installed; otherwise {tool.name} requests are refused)"]
        for tool in tools.TOOLS.values()
        if tool.name != tools.DEFAULT_TOOL
    ] + [
        ["webdir", None, None, "folder of the page (default: the page shipped with pingu)"],
        ["router", None, None, "WAMP router URL to join as a node (ws://host:port/ws)"],
        ["realm", None, "pingu", "WAMP realm"],
        ["node", None, None, "this node's name (default: the host name, made URI-safe)"],
        ["metrics-port", None, None, "serve Prometheus' /metrics on this port or endpoint "
         "string instead of on the main site (tcp:9101:interface=127.0.0.1)"],
        ["client-header", None, "X-Forwarded-For", "the one header a --trusted-proxy writes "
         "the client's address in: X-Forwarded-For, Forwarded or X-Real-IP (no other is read)"],
        ["log-format", None, "text", "text (readable lines) or json (one JSON object a line)"],
        ["workers", None, "1", "worker processes sharing the port, each client's connections "
         "in one of them (auto: one per core); whole-server limits are divided among them"],
        ["worker", None, None, "(internal) this process is worker I/N of a --workers parent"],
        ["worker-metrics", None, None, "(internal) a worker's folder for its metrics socket"],
        ["router-grace", None, 15.0, "seconds shared runs go on while the node has lost "
         "its router (it rejoins meanwhile)", float],
    ] + [
        [name, None, default, help, kind]
        for name, kind, default, help in limit_options()
    ]
    optFlags = [
        ["no-web", None, "do not serve the page and /ws (only useful with --router)"],
        ["public", None, "refuse loopback, private, link-local, CGNAT, reserved and "
         "documentation ranges (for a page open to the Internet)"],
        ["allow-zone", None, "accept IPv6 zone ids (fe80::1%eth0)"],
        ["no-metrics", None, "do not serve Prometheus' /metrics"],
        ["no-watchdog", None, "do not start the watchdog that kills the children when the "
         "server dies (for tests and debugging)"],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["allow"] = []
        self["deny"] = []
        self["allow-origin"] = []
        self["server-name"] = []
        self["trusted-proxy"] = []
        self["metrics-allow"] = []
        self["page-router"] = []

    def parseOptions(self, options: Optional[list[str]] = None) -> None:
        # Kept for --workers: each worker is started with the same options,
        # where they were given (relative paths mean the same there).
        self.argv = list(sys.argv[1:] if options is None else options)
        self.cwd = os.getcwd()
        super().parseOptions(options)

    def opt_version(self) -> None:
        """print pingu's version and exit"""
        print(f"pingu {__version__}")
        raise SystemExit(0)

    def opt_server_name(self, name: str) -> None:
        """a host name this server is reached by (repeatable); requests for any
        other name but IP literals, localhost and this machine's are refused"""
        self["server-name"].append(name.strip().lower().rstrip("."))

    def opt_trusted_proxy(self, cidr: str) -> None:
        """a reverse proxy's network (repeatable): only from it is
        --client-header believed"""
        self["trusted-proxy"].append(_network(cidr))

    def opt_metrics_allow(self, cidr: str) -> None:
        """also serve /metrics on the page's port, to peers in this network
        only (repeatable; by default /metrics is not on the page's port)"""
        self["metrics-allow"].append(_network(cidr))
    def opt_page_router(self, url: str) -> None:
        """a WAMP router (ws:// or wss:// URL) a link may point the page at with
        ?router= (repeatable); the page refuses any other but its own origin's"""
        from pingu.pageheaders import router_origin

        try:
            router_origin(url)
        except ValueError as e:
            raise fail(f"--page-router: {e}") from None
        self["page-router"].append(url)

    def opt_allow(self, cidr: str) -> None:
        """only ping addresses in this network (repeatable)"""
        self["allow"].append(_network(cidr))

    def opt_deny(self, cidr: str) -> None:
        """never ping addresses in this network (repeatable)"""
        self["deny"].append(_network(cidr))

    def opt_allow_origin(self, origin: str) -> None:
        """also accept WebSocket connections from pages of this origin (repeatable)"""
        self["allow-origin"].append(origin)

    def postOptions(self) -> None:
        from pingu.config import check_limits, find_executable

        try:
            self["ping"] = find_executable(self["ping"])
        except ValueError as e:
            raise fail(f"ping executable {e}") from None
        self["port"] = endpoint_description(self["port"])
        from twisted.internet import reactor

        try:
            endpoints.serverFromString(reactor, self["port"])
        except Exception as e:  # the parser raises several kinds
            raise fail(f"bad --port {self['port']!r}: {e}") from None
        try:
            self["limits"] = Limits(
                **{name.replace("-", "_"): self[name] for name, *_ in limit_options()}
            )
            check_limits(self["limits"])
        except (TypeError, ValueError) as e:
            raise fail(str(e)) from None
        from pingu.clients import TrustedProxies

        try:
            self["trusted-proxy"] = TrustedProxies(self["trusted-proxy"], self["client-header"])
        except ValueError as e:
            raise fail(str(e)) from None
        if self["webdir"] is not None and not Path(self["webdir"]).is_dir():
            raise fail(f"--webdir {self['webdir']!r} is not a folder")
        if self["no-web"] and not self["router"]:
            raise fail("--no-web leaves nothing to do without --router")
        self._check_workers()
        self._check_observability(reactor)

    def _check_workers(self) -> None:
        text = str(self["workers"]).strip().lower()
        if text == "auto":
            self["workers"] = os.cpu_count() or 1
        elif text.isdigit() and int(text) >= 1:
            self["workers"] = int(text)
        else:
            raise fail(f"--workers must be a whole number of at least 1, or auto (got {text!r})")
        if self["worker"] is not None:
            self["worker"] = _worker_of(self["worker"])
            return
        if self["workers"] == 1:
            return
        if self["no-web"]:
            raise fail("--workers share the WebSocket port: there is none with --no-web")
        if self["port"].split(":", 1)[0] not in ("tcp", "tcp6"):
            raise fail(
                f"--workers needs a tcp: or tcp6: --port (got {self['port']!r}): "
                "put TLS in a proxy in front, or run one worker"
            )
        try:
            self["limits"].check_shares(self["workers"])
        except ValueError as e:
            raise fail(str(e)) from None

    def _check_observability(self, reactor: Any) -> None:
        from pingu.logs import FORMATS, check_twistd_options

        if self["metrics-port"] is not None:
            if self["no-metrics"]:
                raise fail("--no-metrics and --metrics-port contradict each other")
            self["metrics-port"] = endpoint_description(self["metrics-port"])
            try:
                endpoints.serverFromString(reactor, self["metrics-port"])
            except Exception as e:  # the parser raises several kinds
                raise fail(f"bad --metrics-port {self['metrics-port']!r}: {e}") from None
        if self["metrics-allow"] and self["no-metrics"]:
            raise fail("--no-metrics and --metrics-allow contradict each other")
        if self["metrics-allow"] and self["no-web"]:
            raise fail("--metrics-allow serves /metrics on the page's port: there is none "
                       "with --no-web (use --metrics-port)")
        if self["log-format"] not in FORMATS:
            raise fail(f"--log-format must be one of {', '.join(FORMATS)}")
        if self["log-format"] == "json":
            # twistd's own options (usage.Options sets .parent on a subcommand's)
            problem = check_twistd_options(getattr(self, "parent", None))
            if problem is not None:
                raise fail(problem)


class _Listener(service.Service):
    """Listen on an endpoint; a port that cannot be had ends twistd with one line.

    Not ``strports.service`` (a ``StreamServerEndpointService``), for two
    things it does not give: tried on 2026-12-06 with twistd 26.10 on a busy
    port, it ends with a 35-line traceback in the log and nothing on the
    terminal (this: one line on the terminal, exit status 1, as an
    operator's mistake should); and it keeps the listening port in a private
    attribute (``_waitingForPort``), which the ``--workers`` parent needs
    (:class:`_HandoffListener` accepts on the port's socket itself)."""

    def __init__(self, reactor: Any, description: str, factory: Any) -> None:
        self.reactor = reactor
        self.description = description
        self.factory = factory
        self.port: Optional[Any] = None

    def privilegedStartService(self) -> None:
        # Listen before privileges are shed, as Twisted's own services do.
        service.Service.privilegedStartService(self)
        endpoint = endpoints.serverFromString(self.reactor, with_backlog(self.description))
        outcome: list[Any] = []
        endpoint.listen(self.factory).addBoth(outcome.append)
        if not outcome or isinstance(outcome[0], Failure):
            reason = outcome[0].value if outcome else "no answer"
            # twistd has already pointed sys.stderr at its log: say it on the
            # terminal's own stderr, once, and exit non-zero.
            _to_terminal(f"pingu: cannot listen on {self.description}: {reason}")
            raise SystemExit(1)
        self.port = outcome[0]
        log.info("pingu: serving on {where}", where=self.description, event="listening")

    def stopService(self) -> Any:
        service.Service.stopService(self)
        if self.port is not None:
            port, self.port = self.port, None
            return defer.maybeDeferred(port.stopListening)
        return None


class _Shutdown(service.Service):
    """On stop: end every run and close every connection, then let go."""

    def __init__(self, hub: Any, factory: Any) -> None:
        self.hub = hub
        self.factory = factory

    def stopService(self) -> Any:
        service.Service.stopService(self)
        runs = self.hub.shutdown()
        connections = self.factory.shutdown() if self.factory is not None else None
        waits = [runs] + ([connections] if connections is not None else [])
        return defer.DeferredList(waits)


def makeService(options: Options, reactor: Optional[Any] = None) -> service.MultiService:
    """The service tree: the site's listener, the WAMP node, and the shutdown."""
    if reactor is None:
        from twisted.internet import reactor as default_reactor

        reactor = default_reactor
    from pingu.config import build_hub
    from pingu.hosts import ServerNames
    from pingu.logs import LoggingService
    from pingu.process import spawn
    from pingu.site import default_webdir, make_site, metrics_site, missing_page_files
    from pingu.watchdog import WatchdogService
    from pingu.websocket import PinguWebSocketFactory

    limits: Limits = options["limits"]
    worker = options["worker"]
    if worker is None:
        # Before any worker starts (they inherit the raised limit).
        _plan_descriptors(limits, options["workers"])
    if worker is None and options["workers"] > 1:
        return _parent_service(options, reactor)
    if worker is not None:
        # With --router, worker 0 is the node, whose shared runs alone use
        # the backlogs' budget.
        index, count = worker
        limits = limits.share(index, count, node=0 if options["router"] else None)
    else:
        _say_ping_capability(options["ping"])  # (a worker's parent has said it)
    policy = Policy.build(
        tuple(options["allow"]), tuple(options["deny"]), options["public"], options["allow-zone"]
    )
    top = LoggingService(_log_observer(options))
    # The server's runs are spawned off the reactor thread (pingu.spawner).
    spawner: Any = partial(spawn, background=True)
    if not options["no-watchdog"]:
        guard = WatchdogService(reactor, drain_timeout=2 * limits.grace + 1)
        guard.setServiceParent(top)
        spawner = partial(spawn, watchdog=guard.watchdog, background=True)
    try:
        hub = build_hub(
            reactor,
            limits,
            policy,
            ping=options["ping"],
            spawner=spawner,
            paths=tool_paths(options),
        )
    except ValueError as e:
        raise fail(str(e)) from None
    trusted = options["trusted-proxy"]  # a TrustedProxies: the networks and the header
    factory = None
    if not options["no-web"]:
        webdir = Path(options["webdir"]) if options["webdir"] else default_webdir()
        missing = missing_page_files(webdir)
        if missing:
            print(
                f"pingu: the page in {webdir} lacks {', '.join(missing)}; "
                "run `npm ci` in web/ (the WebSocket endpoint works regardless)",
                file=sys.stderr,
            )
        factory = PinguWebSocketFactory(
            hub,
            reactor,
            tuple(options["allow-origin"]),
            ServerNames.default(tuple(options["server-name"])),
            trusted,
        )
        # /metrics is on the page's port only for the networks the operator
        # named (--metrics-allow): the page is public, its metrics are not.
        metrics_allow = () if options["no-metrics"] else tuple(options["metrics-allow"])
        gathered = None
        if worker is not None and options["worker-metrics"]:
            from pingu.gather import GatheredMetrics, socket_path

            # Its own registry on its socket; the whole server's at /metrics.
            folder = options["worker-metrics"]
            path = socket_path(folder, worker[0])
            # Made again if the other workers' ends removed it meanwhile; a
            # worker killed before (and restarted) left its socket behind.
            os.makedirs(folder, mode=0o700, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            # Twisted unlinks the socket when it stops listening; the folder
            # goes with the last worker to exit (its parent may be dead).
            atexit.register(_rmdir_quietly, folder)
            where = f"unix:{path}:mode=600:lockfile=0"
            _Listener(reactor, where, metrics_site(hub.metrics.registry)).setServiceParent(top)
            gathered = GatheredMetrics(reactor, folder, worker[1])
        # The page shows the limits the operator set, not this worker's share.
        info: dict[str, Any] = {"routers": list(options["page-router"])}
        if worker is not None:
            info["limits"] = dataclasses.asdict(options["limits"])
        site = make_site(
            factory, webdir, extra_info=info, metrics_allow=metrics_allow,
            metrics_resource=gathered,
        )  # fmt: skip
        if worker is None:
            _Listener(reactor, options["port"], site).setServiceParent(top)
        else:
            from pingu.handoff import Receiver
            from pingu.workers import WORKER_FD

            # The parent is gone when its end of the channel closes: stop too.
            parent_gone = partial(_parent_gone, reactor, options["worker-metrics"])
            Receiver(reactor, WORKER_FD, site, parent_gone).setServiceParent(top)
    if options["metrics-port"] is not None and worker is None:
        metrics = metrics_site(hub.metrics.registry)
        _Listener(reactor, options["metrics-port"], metrics).setServiceParent(top)
    # With --workers, the node is in worker 0 only: one node, one set of runs.
    if options["router"] and (worker is None or worker[0] == 0):
        from pingu.wamp import make_wamp_service

        make_wamp_service(
            hub,
            options["router"],
            options["realm"],
            options["node"],  # None: the wamp module names the node after the host
            os.environ.get("PINGU_WAMP_SECRET"),
            reactor,
            trusted,
            options["router-grace"],
        ).setServiceParent(top)
    # Added last, so stopped first: runs end and sockets close while the
    # listener and the WAMP session still stand.
    _Shutdown(hub, factory).setServiceParent(top)
    return top


def _plan_descriptors(limits: Limits, workers: int) -> None:
    """Raise the soft RLIMIT_NOFILE to the hard one; refuse to start when the
    limits' worst case cannot fit (:mod:`pingu.descriptors`)."""
    from pingu import descriptors

    problem = descriptors.check(limits, workers)
    if problem is not None:
        raise fail(problem)
    log.info(
        "pingu: RLIMIT_NOFILE {descriptors}: the limits' worst case fits",
        descriptors=descriptors.soft_and_hard()[0],
        event="descriptors",
    )


def _worker_of(text: str) -> tuple[int, int]:
    """``--worker I/N`` checked: pingu's own workers only, which find their
    parent's channel on fd 3 (a Unix SOCK_SEQPACKET socket)."""
    import socket
    import stat

    from pingu.workers import WORKER_FD

    shape = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if shape is None or not 0 <= int(shape[1]) < int(shape[2]) or int(shape[2]) < 2:
        raise fail(f"--worker {text!r} is for the workers of a --workers parent only")
    try:
        if not stat.S_ISSOCK(os.fstat(WORKER_FD).st_mode):
            raise OSError("not a socket")
        probe = socket.socket(fileno=os.dup(WORKER_FD))
        try:
            right = probe.family == socket.AF_UNIX and probe.type == socket.SOCK_SEQPACKET
        finally:
            probe.close()
        if not right:
            raise OSError("not its parent's channel")
    except OSError:
        raise fail("--worker is for the workers of a --workers parent only") from None
    return int(shape[1]), int(shape[2])


def _parent_gone(reactor: Any, metrics_folder: Optional[str]) -> None:
    """A worker's parent has gone (or is stopping): remove the parent's
    metrics socket, which a killed parent leaves behind (the last worker to
    exit removes the folder), and stop."""
    if metrics_folder:
        from pingu.gather import parent_socket_path

        with contextlib.suppress(OSError):
            os.unlink(parent_socket_path(metrics_folder))
    _stop(reactor)


def _stop(reactor: Any) -> None:
    """Stop the reactor, unless it is stopping already (a worker told to stop
    by its parent's TERM, then by its channel's end)."""
    from twisted.internet.error import ReactorNotRunning

    try:
        reactor.stop()
    except ReactorNotRunning:
        pass


class _HandoffListener(_Listener):
    """The parent's port: it accepts, and hands each connection to a worker."""

    def __init__(self, reactor: Any, description: str, pool: Any, prefix6: int) -> None:
        from twisted.internet.protocol import Factory

        super().__init__(reactor, description, Factory())
        self.pool = pool
        self.prefix6 = prefix6
        self.acceptor: Optional[Any] = None

    def privilegedStartService(self) -> None:
        from pingu.handoff import Acceptor
        from pingu.workers import listening_socket

        super().privilegedStartService()
        sock = listening_socket(self.port)
        self.acceptor = Acceptor(
            self.reactor, sock, self.pool.hand, self.prefix6, self.pool.drops
        )
        self.reactor.addReader(self.acceptor)

    def stopService(self) -> Any:
        if self.acceptor is not None:
            self.acceptor.close()
            self.acceptor = None
        return super().stopService()


def worker_command(options: Options, metrics: Optional[str], index: int) -> list[str]:
    """The argv of worker ``index``: twistd in the foreground, with the
    parent's own pingu options (its log goes to the parent)."""
    launcher = "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()"
    return [
        # -P: nothing from the folder it starts in shadows the installed packages
        sys.executable, "-P", "-c", launcher, "-n", "--pidfile=",
        "pingu", *options.argv, "--worker", f"{index}/{options['workers']}",
        *(["--worker-metrics", metrics] if metrics else []),
    ]  # fmt: skip


def _parent_service(options: Options, reactor: Any) -> service.MultiService:
    """``--workers N``: the port and the pool of workers; no runs here."""
    from pingu.config import find_tools
    from pingu.logs import LoggingService
    from pingu.workers import WorkerPool

    limits: Limits = options["limits"]
    _say_ping_capability(options["ping"])
    # The start-up checks a single server makes beyond its options' (which
    # found ping and checked the limits): here, once, so that a mistake is
    # one line and not N dying workers.
    try:
        find_tools(tool_paths(options))
    except ValueError as e:
        raise fail(str(e)) from None
    top = LoggingService(_log_observer(options))
    folder = None
    # The workers' metrics sockets, for whoever serves the gathered answer.
    if options["metrics-port"] is not None or (
        options["metrics-allow"] and not options["no-metrics"]
    ):
        from pingu.gather import GatheredMetrics
        from pingu.site import metrics_site

        # The workers' metrics sockets: a private folder (0700).
        folder = tempfile.mkdtemp(prefix="pingu-metrics-")
        # Removed at exit: after the workers have gone, and also when start-up
        # fails after this (a busy port).
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        twistd = getattr(options, "parent", None) or {}
        if twistd.get("uid") is not None:  # the workers run as twistd --uid
            os.chown(folder, twistd["uid"], twistd.get("gid") or -1)
    pool = WorkerPool(
        reactor,
        options["workers"],
        partial(worker_command, options, folder),
        stop_timeout=4 * limits.grace + 5,
        cwd=getattr(options, "cwd", None),
    )
    # Stopped in reverse: the port stops accepting first, then the workers end.
    pool.setServiceParent(top)
    if folder is not None:
        from pingu.gather import parent_socket_path
        from pingu.metrics import parent_registry

        # The parent's own metrics, for whoever gathers: its folder (0700,
        # the workers' user) is what keeps others out, so the socket itself
        # may be opened by that user although root (before --uid) made it.
        where = f"unix:{parent_socket_path(folder)}:mode=666:lockfile=0"
        _Listener(reactor, where, metrics_site(parent_registry(pool.drops))).setServiceParent(top)
    _HandoffListener(reactor, options["port"], pool, limits.client_prefix6).setServiceParent(top)
    if options["metrics-port"] is not None and folder is not None:
        site = metrics_site(GatheredMetrics(reactor, folder, options["workers"]))
        _Listener(reactor, options["metrics-port"], site).setServiceParent(top)
    log.info(
        "pingu: {workers} workers; whole-server limits divided among them ({shared})",
        workers=options["workers"],
        shared=", ".join(f"--{name.replace('_', '-')}" for name in Limits.SHARED_BY_WORKERS),
        event="workers",
    )
    return top


def _rmdir_quietly(folder: str) -> None:
    """Remove ``folder`` if it is empty (another worker's socket may be in it)."""
    with contextlib.suppress(OSError):
        os.rmdir(folder)


def tool_paths(options: Options) -> dict[str, Optional[str]]:
    """The executables the operator named for the tools other than ping
    (``--<tool> PATH``; None: look it up on PATH)."""
    return {name: options[name] for name in tools.TOOLS if name != tools.DEFAULT_TOOL}


def _say_ping_capability(ping: str) -> None:
    """What ping lacks for this user, if anything: a warning, not an exit
    (--ping may be a wrapper that needs nothing, and the page still works)."""
    from pingu.privileges import ping_capability

    problem = ping_capability(ping)
    if problem is not None:
        # twistd has pointed sys.stderr at its log already: the terminal's own
        _to_terminal(problem)
        log.warn("{problem}", problem=problem, event="ping_capability")


def _log_observer(options: Options) -> Optional[Any]:
    """The log observer twistd is to use: a worker's goes to its parent,
    which writes the log; ``--log-format json``'s; or twistd's own (None)."""
    from pingu.logs import json_observer, twistd_log_file, worker_observer

    if options["worker"] is not None:
        return worker_observer()
    if options["log-format"] == "json":
        return json_observer(twistd_log_file(getattr(options, "parent", None)))
    return None
