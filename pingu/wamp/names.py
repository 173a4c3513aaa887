"""Node names: what ``<node>`` may be in ``pingu.<node>.start``."""

from __future__ import annotations

import re
import socket
from typing import Optional

from pingu.events import WAMP_PREFIX

_NODE_NAME = re.compile(r"^[a-z0-9_]+$")
#: A node's ``start`` procedure, and its name in it.
START_URI = re.compile(rf"^{re.escape(WAMP_PREFIX)}\.([a-z0-9_]+)\.start$")


def node_name(hostname: Optional[str] = None) -> str:
    """A URI-safe node name: the host's short name, lower-cased, every
    character but ``a-z0-9_`` made ``_``."""
    host = (hostname if hostname is not None else socket.gethostname()).split(".")[0].lower()
    return re.sub(r"[^a-z0-9_]", "_", host) or "node"


def check_node_name(name: str) -> str:
    """``name`` if it can stand in a URI (``pingu.<name>.start``), else ValueError."""
    if not _NODE_NAME.match(name):
        raise ValueError(f"a node name is made of a-z, 0-9 and _ only, not {name!r}")
    return name
