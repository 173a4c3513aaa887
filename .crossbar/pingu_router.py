"""Router-side parts of pingu, started by ``config.json`` as components of
the router worker (``"pythonpath": ["."]`` finds this file; nothing of pingu
needs to be installed in Crossbar's venv for it): the viewers' authorizer
(:class:`ViewerAuthorizer`), the garbage collector's tuning (:class:`Tuning`)
and the page with its security headers (:func:`page`).

Crossbar's router worker holds some 170,000 objects once it has booted.
Every full (generation 2) collection of Python's garbage collector walks them
all: about 100 ms on a small machine, during which no event is routed, and
under a steady stream of events such a collection comes every few seconds.
:func:`gc.freeze` moves what exists at boot out of the collector's reach, so
that full collections only walk what came later: the p99 of pingu's
publish-to-receive latency drops from a 100 ms stall to a few milliseconds.
"""

import gc
import importlib.util
import json
import time
from pathlib import Path

from autobahn.twisted.wamp import ApplicationSession
from twisted.web import resource, static

HERE = Path(__file__).resolve().parent

#: The procedure the ``viewer`` role's authorizer registers (config.json).
AUTHORIZE_VIEWER = "router.authorize_viewer"
#: Everything of pingu's is under this prefix (pingu.events.WAMP_PREFIX).
PINGU = "pingu."


def authorize_viewer(session, uri, action, options=None):
    """What an anonymous viewer may do: call pingu's procedures (the node
    learns who calls: ``disclose``) and subscribe to exact topics only.

    A subscription by pattern (``match`` ``prefix`` or ``wildcard``) is
    refused: on ``pingu.`` it would get every run's events without being one
    run's viewer, so without counting against its client's quota of watched
    runs (issue 17).  Crossbar's static permissions cannot say this, they
    see the URI and the action only.  Nothing is cached: Crossbar's cache is
    keyed by URI and action without the subscription's options, and would
    grow with every URI a viewer makes up."""
    if not isinstance(uri, str) or not uri.startswith(PINGU):
        return False
    if action == "call":
        return {"allow": True, "disclose": True, "cache": False}
    if action == "subscribe":
        match = (options or {}).get("match", "exact")
        return {"allow": match == "exact", "cache": False}
    return False  # publish, register: the nodes' alone


class ViewerAuthorizer(ApplicationSession):
    """Registers :func:`authorize_viewer` for the router's ``viewer`` role."""

    def onJoin(self, details):
        return self.register(authorize_viewer, AUTHORIZE_VIEWER)


class Tuning(ApplicationSession):
    """Freezes the router worker's boot-time objects, then stays idle (its
    role may do nothing)."""

    def onJoin(self, details):
        began = time.perf_counter()
        gc.collect()
        gc.freeze()
        self.log.info(
            "pingu: froze {count} boot-time objects out of the garbage collector's way "
            "({ms:.0f} ms)",
            count=gc.get_freeze_count(),
            ms=(time.perf_counter() - began) * 1000,
        )


#: Where pingu's ``pageheaders.py`` is looked for: beside this file (an
#: installed router: the unit copies both into its state folder), then in the
#: repository this folder belongs to (``.crossbar/`` beside ``pingu/``).
PAGEHEADERS = (HERE / "pageheaders.py", HERE.parent / "pingu" / "pageheaders.py")


def _pageheaders():
    """pingu's own list of the page's headers (``pageheaders.py``, see
    :data:`PAGEHEADERS`), loaded by its path: pingu is not installed in
    Crossbar's venv."""
    path = next((p for p in PAGEHEADERS if p.is_file()), PAGEHEADERS[-1])
    spec = importlib.util.spec_from_file_location("pingu_pageheaders", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"pingu_router: cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Page(static.File):
    """The page's files, no directory listing (Crossbar's static service
    cannot set headers, and adds Access-Control-Allow-Origin: * to each)."""

    def directoryListing(self):
        return resource.NoResource("no listing")


class _Info(resource.Resource):
    isLeaf = True

    def __init__(self, body):
        super().__init__()
        self.body = json.dumps(body, indent=1).encode("utf-8")

    def render_GET(self, request):
        request.setHeader(b"content-type", b"application/json; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        return self.body


def page(extra):
    """The page at ``/`` of the router's web transport, every response with
    pingu's security headers (``"type": "resource", "classname":
    "pingu_router.page"``).  ``extra``: ``directory`` (the page, relative to
    this file's folder), ``routers`` (other routers a link may point the page
    at: its CSP's ``connect-src``, and /pingu-info.json's ``routers``),
    ``realm``.  /pingu-info.json says WAMP mode, on this origin's ``/ws``."""
    headers = _pageheaders()
    routers = list(extra.get("routers", []))
    for url in routers:
        headers.router_origin(url)  # ValueError: the router does not start
    root = _Page(str((HERE / extra.get("directory", "../web")).resolve()))
    root.putChild(
        b"pingu-info.json",
        _Info({"mode": "wamp", "ws": "ws", "realm": extra.get("realm", "pingu"), "routers": routers}),
    )
    return headers.HeadersOnEveryResponse(root, headers.page_headers(routers))
