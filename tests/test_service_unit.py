"""contrib/: the systemd units, their drop-in, environment file and sysctl file.

``systemd-analyze verify`` must accept both units (and the TLS drop-in) without a
word, and ``systemd-analyze security --offline`` must rate them well.  verify
wants every ``ExecStart`` binary to exist: the units are checked as copies whose
``/opt/pingu/...`` paths point at this machine's venvs (a stand-in executable
for Crossbar when its venv is absent: verify only checks that it can be run).
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CONTRIB = REPO / "contrib"
TWISTD = Path(sys.executable).with_name("twistd")
CROSSBAR = Path(os.environ.get("PINGU_CROSSBAR_VENV", REPO / ".venv-crossbar")) / "bin" / "crossbar"


def _systemd_analyze() -> str:
    """The path of systemd-analyze, installed with apt-get if it is missing."""
    found = shutil.which("systemd-analyze")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("systemd-analyze is missing and cannot be installed (needs root and apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "systemd"]
    if subprocess.run(install, env=env, capture_output=True, timeout=600).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            pytest.skip(
                f"systemd-analyze is missing; apt-get install systemd failed: {done.stderr}"
            )
    found = shutil.which("systemd-analyze")
    if not found:
        pytest.skip("systemd installed but systemd-analyze not found")
    return found


@pytest.fixture(scope="module")
def analyze() -> str:
    return _systemd_analyze()


def _units(folder: Path) -> dict[str, Path]:
    """Copies of the units (and the drop-in) with this machine's paths."""
    crossbar = CROSSBAR
    if not (crossbar.is_file() and os.access(crossbar, os.X_OK)):
        crossbar = folder / "crossbar-stand-in"
        crossbar.write_text("#!/bin/sh\nexit 0\n")
        crossbar.chmod(0o755)
    paths = {
        "/opt/pingu/venv/bin/twistd": str(TWISTD),
        "/opt/pingu/venv-crossbar/bin/crossbar": str(crossbar),
    }

    def copy(name: str) -> Path:
        text = (CONTRIB / name).read_text()
        for old, new in paths.items():
            text = text.replace(old, new)
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        return target

    copy("pingu.service.d/tls.conf")
    return {name: copy(name) for name in ("pingu.service", "pingu-router.service")}


def _service_section(name: str) -> dict[str, list[str]]:
    """Every ``[Service]`` key of a unit with all its values, in order."""
    values: dict[str, list[str]] = {}
    section = None
    for line in (CONTRIB / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


@pytest.mark.parametrize("unit", ["pingu.service", "pingu-router.service"])
def test_systemd_analyze_verify_is_silent(analyze, tmp_path, unit):
    copies = _units(tmp_path)
    done = subprocess.run(
        [analyze, "verify", "--man=no", str(copies[unit])],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout + done.stderr == "", done.stdout + done.stderr


@pytest.mark.parametrize("unit", ["pingu.service", "pingu-router.service"])
def test_systemd_analyze_security_rates_the_units_ok(analyze, tmp_path, unit):
    """Exposure 2.5 or less of 10 ("OK"; the shipped units are at 1.7-1.8)."""
    copies = _units(tmp_path)
    done = subprocess.run(
        [analyze, "security", "--offline=yes", "--threshold=25", "--no-pager",
         str(copies[unit])],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if "--offline" in done.stderr and "unrecognized" in done.stderr:
        pytest.skip("this systemd-analyze has no --offline (systemd < 250)")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr


def test_the_verify_check_can_fail(analyze, tmp_path):
    """The same verify call on a unit with a misspelt key and a missing binary,
    and a drop-in beside it (as tls.conf is beside the checked pingu.service)."""
    bad = tmp_path / "bad.service"
    bad.write_text(
        (CONTRIB / "pingu.service").read_text().replace("LockPersonality=", "LockPersonalty=")
    )
    (tmp_path / "bad.service.d").mkdir()
    (tmp_path / "bad.service.d" / "x.conf").write_text("[Service]\nLoadCredentail=a:/b\n")
    done = subprocess.run([analyze, "verify", "--man=no", str(bad)], capture_output=True, text=True)
    said = done.stdout + done.stderr
    assert "LockPersonalty" in said and "/opt/pingu/venv/bin/twistd" in said
    assert "LoadCredentail" in said


def test_pingu_unit_runs_twistd_unprivileged_and_hardened():
    service = _service_section("pingu.service")
    assert service["ExecStart"] == ["/opt/pingu/venv/bin/twistd -n --pidfile= pingu $PINGU_OPTIONS"]
    assert service["EnvironmentFile"] == ["-/etc/default/pingu"]
    assert service["DynamicUser"] == ["yes"] and "User" not in service
    assert service["NoNewPrivileges"] == ["yes"]
    assert service["CapabilityBoundingSet"] == ["CAP_NET_RAW"]
    assert service["AmbientCapabilities"] == [""]
    assert service["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX AF_NETLINK"]
    for key in ("ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices"):
        assert service[key] in (["strict"], ["yes"]), key


def test_router_unit_runs_crossbar_unprivileged_with_its_state_directory():
    service = _service_section("pingu-router.service")
    assert service["ExecStart"] == [
        "/opt/pingu/venv-crossbar/bin/crossbar start --cbdir %S/pingu-router"
    ]
    assert service["StateDirectory"] == ["pingu-router"]
    assert service["DynamicUser"] == ["yes"] and "User" not in service
    assert service["CapabilityBoundingSet"] == [""] and service["AmbientCapabilities"] == [""]
    assert service["ProtectSystem"] == ["strict"]
    copied = shlex.split(service["ExecStartPre"][0])
    assert copied[-1] == "%S/pingu-router/" and {Path(p).name for p in copied[3:-1]} == {
        "config.json",
        "pingu_router.py",
        "pageheaders.py",
    }
    # the router's configuration in the repository has the files named there
    assert (REPO / ".crossbar" / "config.json").is_file()
    assert (REPO / ".crossbar" / "pingu_router.py").is_file()
    assert (REPO / "pingu" / "pageheaders.py").is_file()


def test_the_installed_router_finds_the_page_headers_in_its_own_folder(tmp_path: Path):
    """As the unit installs it: pingu_router.py and pageheaders.py in one
    folder, no pingu/ beside it (nothing of pingu in Crossbar's venv)."""
    import importlib.util
    import shutil

    state = tmp_path / "var" / "lib" / "pingu-router"
    state.mkdir(parents=True)
    shutil.copy(REPO / ".crossbar" / "pingu_router.py", state)
    shutil.copy(REPO / "pingu" / "pageheaders.py", state)
    spec = importlib.util.spec_from_file_location("installed_router", state / "pingu_router.py")
    assert spec is not None and spec.loader is not None
    router = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(router)
    headers = router._pageheaders()
    assert Path(headers.__file__).parent == state
    assert any(name.lower() == b"content-security-policy" for name, _ in headers.page_headers())


def _env_values() -> list[tuple[str, str]]:
    """KEY=VALUE of contrib/pingu.env, the commented-out examples included."""
    found = []
    for line in (CONTRIB / "pingu.env").read_text().splitlines():
        match = re.fullmatch(r"#?([A-Z_]+)=(.*)", line.strip())
        if match:
            found.append((match.group(1), match.group(2)))
    return found


def test_environment_file_options_are_accepted_by_twistd_pingu():
    from pingu.tap import Options

    options = [value for key, value in _env_values() if key == "PINGU_OPTIONS"]
    assert len(options) >= 2
    for value in options:
        parsed = Options()
        parsed.parseOptions(shlex.split(value))
        assert parsed["port"] == "tcp:8080:interface=127.0.0.1"
    assert "PINGU_WAMP_SECRET" in {key for key, _ in _env_values()}
    # the TLS drop-in's --port comes last, so it wins over PINGU_OPTIONS'
    tls = configparser.ConfigParser(strict=False, interpolation=None)
    tls.read_string((CONTRIB / "pingu.service.d" / "tls.conf").read_text())
    exec_start = tls["Service"]["ExecStart"].strip().splitlines()[-1]
    assert exec_start.split()[-2:] == [
        "--port",
        "ssl:8443:privateKey=%d/key.pem:certKey=%d/cert.pem",
    ]


def test_sysctl_file_lets_dynamic_users_ping():
    line = next(
        line for line in (CONTRIB / "pingu-sysctl.conf").read_text().splitlines()
        if line and not line.startswith("#")
    )  # fmt: skip
    key, _, value = (part.strip() for part in line.partition("="))
    assert key == "net.ipv4.ping_group_range"
    low, high = map(int, value.split())
    assert low <= 61184 and 65519 <= high  # systemd's DynamicUser= range
