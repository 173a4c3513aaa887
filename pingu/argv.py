"""Build ping's argv from a resolved request: a list, never a shell line.

The argv always carries ``-n`` (print addresses, no reverse lookups that
would stall output), ``-O`` (iputils reports each missing reply, which
becomes a ``timeout`` event), and ``--`` right before the target, which is
an IP literal the server resolved itself.
"""

from __future__ import annotations

from pingu.limits import Limits
from pingu.request import ResolvedRequest

#: The environment ping runs in: nothing inherited; the C locale keeps the
#: output in the format the parser reads (decimal points, English words).
PING_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}


def _number(value: float) -> str:
    # "0.2", not "0.2000000001" nor "2e-01": ping parses it with strtod.
    return f"{value:.3f}".rstrip("0").rstrip(".")


def build_argv(ping: str, request: ResolvedRequest, limits: Limits) -> list[str]:
    """The full argv (``argv[0]`` is the ping executable)."""
    options = request.options
    argv = [ping, "-n", "-O", f"-{request.family}"]
    # Without a count, the server's ceiling bounds the run; ping stops by itself.
    argv += ["-c", str(options.count if options.count is not None else limits.max_count)]
    if options.interval is not None:
        argv += ["-i", _number(options.interval)]
    if options.size is not None:
        argv += ["-s", str(options.size)]
    if options.deadline is not None:
        argv += ["-w", str(options.deadline)]
    argv += ["--", request.address]
    return argv
