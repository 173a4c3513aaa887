"""The package carries its page: built from a clean clone, installed in a fresh
venv, served from elsewhere.

One clean clone (``git clone`` of this repository: what is committed) is built
with ``python -m build`` (an sdist, then the wheel from the sdist; ``npm ci``
runs in the build step); the wheel goes into a fresh venv (its dependencies
from the index, through pip's cache); the installed ``twistd pingu``, started
from an empty folder, serves the page, every JavaScript module and every
third-party file with its licence.  The same venv then takes an editable install
of the clone (setuptools' default mode, no ``compat``) and twistd still finds the
plugin.  A second clean clone is built with npm absent from PATH: the build
stops with the clear message.

``python -m build`` runs as users run it (isolated build environments, the
newest setuptools), and so does the editable install, as ``./dev`` makes it;
the npm-less build uses this venv's setuptools and wheel
(``--no-build-isolation``): it stops in setup.py, whichever setuptools runs it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
from websockets.sync.client import connect

REPO = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.package,
    pytest.mark.skipif(shutil.which("git") is None, reason="needs git to clone the repository"),
    pytest.mark.skipif(shutil.which("npm") is None, reason="needs npm: the build runs npm ci"),
]


def _pagefiles(clone: Path):
    spec = importlib.util.spec_from_file_location("clone_pagefiles", clone / "pingu/pagefiles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(argv: list, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=timeout, **kwargs
    )


def _clone(target: Path) -> Path:
    done = _run(["git", "clone", "-q", "--no-hardlinks", REPO, target])
    assert done.returncode == 0, done.stderr
    return target


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.status, answer.read()


class Served:
    """``twistd -n pingu`` of a venv, started from an empty folder."""

    def __init__(self, venv: Path, cwd: Path) -> None:
        self.port = _free_port()
        env = {"PATH": f"{venv / 'bin'}:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
        self.proc = subprocess.Popen(
            [str(venv / "bin" / "twistd"), "-n", "--pidfile=", "pingu",
             "--port", f"tcp:{self.port}:interface=127.0.0.1"],
            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}/"

    def __enter__(self) -> Served:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.proc.kill()
                    raise AssertionError(
                        f"twistd did not start: {self.proc.communicate()[0]}"
                    ) from None
                time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    """A clean clone (with a web/test/ folder that must not ship), built."""
    base = tmp_path_factory.mktemp("package")
    clone = _clone(base / "clone")
    (clone / "web" / "test").mkdir(exist_ok=True)
    (clone / "web" / "test" / "not-shipped.js").write_text("export const x = 1;\n")
    dist = base / "dist"
    started = time.monotonic()
    done = _run([sys.executable, "-m", "build", "--outdir", dist, clone], timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    wheels = list(dist.glob("*.whl"))
    sdists = list(dist.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list(dist.iterdir())
    return {"base": base, "clone": clone, "wheel": wheels[0], "sdist": sdists[0],
            "build_s": time.monotonic() - started}  # fmt: skip


@pytest.fixture(scope="module")
def venv(built) -> Path:
    """A fresh venv with the wheel installed (pip from this interpreter)."""
    venv = built["base"] / "venv"
    done = _run([sys.executable, "-m", "venv", "--without-pip", venv])
    assert done.returncode == 0, done.stderr
    done = _run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install",
                 "-q", "--no-compile", built["wheel"]], timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return venv


def test_wheel_holds_the_page_and_nothing_else_of_web(built):
    clone = built["clone"]
    pagefiles = _pagefiles(clone)
    shipped = pagefiles.page_files(clone / "web")
    names = set(zipfile.ZipFile(built["wheel"]).namelist())
    web = {name.removeprefix("pingu/web/") for name in names if name.startswith("pingu/web/")}
    assert web == set(shipped), sorted(web ^ set(shipped))
    assert {"index.html", "app.js", *pagefiles.PAGE_VENDOR_LICENSES} <= web
    assert not any(name.startswith("test/") for name in web)
    assert "twisted/plugins/pingu_plugin.py" in names
    assert "twisted/__init__.py" not in names and "twisted/plugins/__init__.py" not in names
    sdist = subprocess.run(["tar", "tzf", built["sdist"]], capture_output=True, text=True)
    assert "/web/package-lock.json" in sdist.stdout and "/setup.py" in sdist.stdout
    assert "node_modules" not in sdist.stdout


def test_installed_server_serves_the_whole_page_from_elsewhere(built, venv):
    clone = built["clone"]
    pagefiles = _pagefiles(clone)
    elsewhere = built["base"] / "elsewhere"
    elsewhere.mkdir()
    wheel = zipfile.ZipFile(built["wheel"])
    modules = pagefiles.own_page_files(clone / "web")
    assert [name for name in modules if name.endswith(".js")], modules
    with Served(venv, elsewhere) as server:
        for name in ["", *pagefiles.page_files(clone / "web")]:
            status, body = _get(server.url + name)
            assert status == 200 and body, name
            if name and name != "pingu-info.json":  # that one the server answers itself
                assert body == wheel.read(f"pingu/web/{name}"), name
        status, body = _get(server.url + "pingu-info.json")
        assert json.loads(body)["mode"] == "ws"
        for absent in ("test/not-shipped.js", "package.json"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                _get(server.url + absent)
            assert refused.value.code == 404
        # and the installed server streams a real ping
        with connect(server.url.replace("http:", "ws:") + "ws") as ws:
            ws.send("127.0.0.1")
            assert ws.recv(timeout=5).startswith("PING 127.0.0.1")
    assert not list(elsewhere.iterdir())  # nothing written where it was started


def test_installed_version_and_plugin(built, venv):
    versions = _run([venv / "bin" / "python", "-c", "import importlib.metadata as m, pingu; "
                      "print(m.version('pingu'), pingu.__version__)"], cwd="/")  # fmt: skip
    installed, source = versions.stdout.split()
    spec = importlib.util.spec_from_file_location(
        "clone_pingu", built["clone"] / "pingu/__init__.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert installed == source == module.__version__
    listed = _run([venv / "bin" / "twistd", "--help"], cwd="/")
    assert any(line.split()[:1] == ["pingu"] for line in listed.stdout.splitlines()), listed.stdout


def test_editable_install_without_compat_mode_finds_plugin_and_page(built, venv):
    clone = built["clone"]
    python = venv / "bin" / "python"
    done = _run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
                 "-e", clone], timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    pth = list((venv / "lib").glob("python3*/site-packages/__editable__.pingu-*.pth"))
    assert len(pth) == 1 and pth[0].read_text().strip() == str(clone), pth
    listed = _run([venv / "bin" / "twistd", "--help"], cwd="/")
    assert any(line.split()[:1] == ["pingu"] for line in listed.stdout.splitlines()), listed.stdout
    where = _run([python, "-c", "import pingu.site as s; print(s.default_webdir())"], cwd="/")
    # the checkout's pingu/web, a link to its web/
    assert Path(where.stdout.strip()).resolve() == clone / "web", where.stdout + where.stderr
    elsewhere = built["base"] / "elsewhere-editable"
    elsewhere.mkdir()
    with Served(venv, elsewhere) as server:
        for name in _pagefiles(clone).PAGE_REQUIRED:
            status, body = _get(server.url + name)
            assert status == 200 and body == (clone / "web" / name).read_bytes(), name


def test_build_without_npm_fails_with_a_clear_message(tmp_path, built):
    clone = _clone(tmp_path / "clone")
    assert not (clone / "web" / "node_modules").exists()
    path = Path(sys.executable).parent
    assert shutil.which("npm", path=str(path)) is None
    env = {**os.environ, "PATH": str(path)}
    done = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", tmp_path / "out",
                 "--no-build-isolation", clone], env=env, timeout=600)  # fmt: skip
    said = done.stdout + done.stderr
    assert done.returncode != 0, said
    assert "building the package needs npm (Node.js)" in said, said
    assert "apt-get install npm" in said
    assert not list((tmp_path / "out").glob("*.whl"))
