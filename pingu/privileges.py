"""Can ping send ICMP echo requests for the user pingu runs as?

pingu itself needs no privilege; ping needs one of these (Linux):

* the process is root, with ``CAP_NET_RAW`` in its capability bounding set;
* ``CAP_NET_RAW`` in the process's ambient set (systemd's
  ``AmbientCapabilities=CAP_NET_RAW``): ping inherits it;
* a group of the process (effective or supplementary) inside
  ``net.ipv4.ping_group_range``: ping uses an ICMP datagram socket, for IPv4
  and IPv6 alike, with no privilege at all;
* the ping binary has the ``cap_net_raw`` file capability (or is set-user-ID
  root) and the process may gain it on exec: not under ``no_new_privs``
  (systemd's ``NoNewPrivileges=yes``, implied by ``DynamicUser=yes``) unless it
  already holds it, and only within the bounding set.

A binary whose capability carries the "effective" flag (``cap_net_raw=ep``, as
Debian installs ping) cannot even be executed when ``CAP_NET_RAW`` is outside
the bounding set: execve fails with EPERM.

:func:`ping_capability` answers ``None`` (ping can work) or one line saying
the fix.  Every input can be injected, for the tests.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import stat
import struct
from pathlib import Path
from typing import Callable, Optional

#: ``CAP_NET_RAW``'s bit in the kernel's capability sets.
CAP_NET_RAW = 13

#: The extended attribute holding a file's capabilities.
CAPABILITY_XATTR = "security.capability"
_REVISION_MASK = 0xFF000000
_FLAG_EFFECTIVE = 0x000001

#: What a wide ping_group_range is set with (every group may ping).
SYSCTL_FIX = 'sysctl -w net.ipv4.ping_group_range="0 2147483647"'


@dataclasses.dataclass(frozen=True)
class Credentials:
    """What the kernel looks at when this process runs ping."""

    euid: int
    groups: frozenset[int]  # effective and supplementary group ids
    bounding: int  # capability bit masks, as in /proc/self/status
    permitted: int
    ambient: int
    inheritable: int
    no_new_privs: bool

    def user(self) -> str:
        """The user's name and ids, for the message."""
        try:
            name = pwd.getpwuid(self.euid).pw_name
        except KeyError:
            name = str(self.euid)
        return f"{name} (uid {self.euid}, groups {','.join(map(str, sorted(self.groups)))})"


@dataclasses.dataclass(frozen=True)
class FileCapabilities:
    """A file's ``security.capability``: its permitted set and "effective" flag."""

    permitted: int
    inheritable: int
    effective: bool


def _has(mask: int, capability: int = CAP_NET_RAW) -> bool:
    return bool(mask >> capability & 1)


def read_credentials(status: Optional[str] = None) -> Credentials:
    """This process's credentials (``status``: the text of /proc/self/status)."""
    if status is None:
        try:
            status = Path("/proc/self/status").read_text()
        except OSError:
            status = ""
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)

    def mask(name: str) -> int:
        try:
            return int(fields.get(name, "0").strip(), 16)
        except ValueError:
            return 0

    return Credentials(
        euid=os.geteuid(),
        groups=frozenset({os.getegid(), *os.getgroups()}),
        bounding=mask("CapBnd"),
        permitted=mask("CapPrm"),
        ambient=mask("CapAmb"),
        inheritable=mask("CapInh"),
        no_new_privs=fields.get("NoNewPrivs", "0").strip() == "1",
    )


def parse_file_capabilities(raw: Optional[bytes]) -> Optional[FileCapabilities]:
    """Decode a ``security.capability`` value (``struct vfs_cap_data``: revisions
    1, 2 and 3, little-endian); ``None`` for none or an unreadable one."""
    if raw is None or len(raw) < 12:
        return None
    magic, permitted, inheritable = struct.unpack_from("<III", raw)
    revision = magic & _REVISION_MASK
    if revision in (0x02000000, 0x03000000) and len(raw) >= 20:
        high_permitted, high_inheritable = struct.unpack_from("<II", raw, 12)
        permitted |= high_permitted << 32
        inheritable |= high_inheritable << 32
    elif revision != 0x01000000:
        return None
    return FileCapabilities(permitted, inheritable, bool(magic & _FLAG_EFFECTIVE))


def read_file_capabilities(path: str) -> Optional[FileCapabilities]:
    """The file capabilities of ``path`` (``None``: none, or cannot tell)."""
    try:
        raw = os.getxattr(path, CAPABILITY_XATTR)
    except OSError:  # ENODATA (none), ENOTSUP (no xattrs here), EACCES
        return None
    return parse_file_capabilities(raw)


def read_ping_group_range(
    text: Optional[str] = None,
) -> Optional[tuple[int, int]]:
    """``net.ipv4.ping_group_range`` as (low, high); ``None`` if unknown."""
    if text is None:
        try:
            text = Path("/proc/sys/net/ipv4/ping_group_range").read_text()
        except OSError:
            return None
    try:
        low, high = (int(part) for part in text.split())
    except ValueError:
        return None
    return low, high


def ping_capability(
    ping_path: str,
    *,
    credentials: Optional[Credentials] = None,
    file_capabilities: Optional[Callable[[str], Optional[FileCapabilities]]] = None,
    group_range: Optional[Callable[[], Optional[tuple[int, int]]]] = None,
    file_mode: Optional[Callable[[str], os.stat_result]] = None,
) -> Optional[str]:
    """``None`` when ``ping_path`` can send echo requests for this process's
    user, else one line that says why not and the fix.

    The keyword arguments replace what is read from the system (this process's
    credentials, the binary's file capabilities, the sysctl, the binary's mode).
    """
    creds = credentials if credentials is not None else read_credentials()
    fcaps = (file_capabilities or read_file_capabilities)(ping_path)
    low_high = (group_range or read_ping_group_range)()
    try:
        mode = (file_mode or os.stat)(ping_path)
    except OSError:
        mode = None

    # A file capability with the "effective" flag that the kernel cannot grant
    # in full (outside the bounding set): execve itself fails with EPERM.
    if fcaps is not None and fcaps.effective:
        granted = creds.bounding | (creds.inheritable & fcaps.inheritable)
        if fcaps.permitted & ~granted:
            return (
                f"pingu: {ping_path} cannot be started here: its file capabilities "
                "(cap_net_raw=ep) are outside this process's capability bounding set, "
                f"so execve fails; run `setcap cap_net_raw+p {ping_path}` (no +e) or "
                "allow CAP_NET_RAW in the bounding set (systemd: "
                "CapabilityBoundingSet=CAP_NET_RAW)"
            )
    if creds.euid == 0 and _has(creds.bounding):
        return None
    if _has(creds.ambient) and _has(creds.bounding):
        return None
    if low_high is not None and any(low_high[0] <= gid <= low_high[1] for gid in creds.groups):
        return None
    # Gained on exec: blocked by no_new_privs unless already held; always within
    # the bounding set.
    may_gain = not creds.no_new_privs or _has(creds.permitted)
    if fcaps is not None and _has(fcaps.permitted) and _has(creds.bounding) and may_gain:
        return None
    if (
        mode is not None
        and mode.st_mode & stat.S_ISUID
        and mode.st_uid == 0
        and not creds.no_new_privs
    ):
        return None

    who = creds.user()
    if creds.no_new_privs:
        other = (
            "or give the service AmbientCapabilities=CAP_NET_RAW "
            "(no_new_privs is set: file capabilities do not apply)"
        )
    else:
        other = f"or `setcap cap_net_raw+p {ping_path}`"
    now = "unknown" if low_high is None else f"{low_high[0]} {low_high[1]}"
    return (
        f"pingu: {ping_path} cannot send ICMP echo as {who} (net.ipv4.ping_group_range "
        f"is {now}): run `{SYSCTL_FIX}` {other}"
    )
