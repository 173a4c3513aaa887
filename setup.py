"""pingu's build: setuptools (metadata in ``setup.cfg``), plus one step that puts
the page in the package.

``build_py`` first makes sure ``web/node_modules`` holds what
``web/package-lock.json`` pins (``npm ci``, skipped when it already does, as
``./dev`` decides), then copies the page's files (the list in
:mod:`pingu.pagefiles`, the only one) into ``pingu/web`` of the build.  A build
without npm and without those files stops with one clear error instead of
making a package whose page has no chart.  An editable install runs the same
npm step and copies nothing: its ``pingu/web`` is the checkout's link to
``../web``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Callable

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.errors import ExecError

HERE = Path(__file__).resolve().parent
WEB = HERE / "web"

NPM_MISSING = (
    "pingu: building the package needs npm (Node.js) to install the page's chart and "
    "WAMP libraries (uPlot, autobahn-browser) from web/package-lock.json, and npm is not "
    "on PATH; install it (Debian: apt-get install npm) and build again"
)


def _pagefiles() -> ModuleType:
    """``pingu/pagefiles.py``, loaded by path (pingu's dependencies may be absent)."""
    spec = importlib.util.spec_from_file_location(
        "_pingu_pagefiles", HERE / "pingu" / "pagefiles.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def node_modules_current(web: Path) -> bool:
    """Does ``web/node_modules`` match ``web/package-lock.json`` and hold every
    shipped third-party file?  (npm writes ``node_modules/.package-lock.json`` on
    each install; newer than the lock file means installed from it.)"""
    pagefiles = _pagefiles()
    stamp = web / "node_modules" / ".package-lock.json"
    lock = web / "package-lock.json"
    return (
        stamp.is_file()
        and stamp.stat().st_mtime >= lock.stat().st_mtime
        and not pagefiles.missing_files(
            web, (*pagefiles.PAGE_VENDOR_FILES, *pagefiles.PAGE_VENDOR_LICENSES)
        )
    )


def ensure_node_modules(web: Path, announce: Callable[[str], None] = print) -> None:
    """Run ``npm ci`` in ``web`` unless its ``node_modules`` is current; raise
    :class:`ExecError` with a message for people when it cannot be done."""
    if not (web / "package-lock.json").is_file():
        raise ExecError(f"pingu: {web / 'package-lock.json'} is missing: cannot install the page")
    if node_modules_current(web):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise ExecError(NPM_MISSING)
    announce(f"pingu: npm ci in {web}")
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=web,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise ExecError(f"pingu: `npm ci` in {web} failed (exit {done.returncode}):\n{done.stdout}")
    pagefiles = _pagefiles()
    missing = pagefiles.missing_files(
        web, (*pagefiles.PAGE_VENDOR_FILES, *pagefiles.PAGE_VENDOR_LICENSES)
    )
    if missing:
        raise ExecError(f"pingu: after `npm ci`, {web} still lacks {', '.join(missing)}")


class BuildPyWithPage(build_py):
    """``build_py`` that also builds the page: ``npm ci``, then the page's files."""

    def run(self) -> None:
        """Make ``web/node_modules`` current, then build the modules and the page."""
        ensure_node_modules(WEB, self.announce_line)
        super().run()
        if not self.editable_mode:
            for source, target in self._page_mapping().items():
                self.mkpath(os.path.dirname(target))
                self.copy_file(source, target, preserve_mode=False)

    def announce_line(self, text: str) -> None:
        """Say one line in the build's log."""
        self.announce(text, level=2)

    def _page_mapping(self) -> dict[str, str]:
        """Source file in ``web/`` → its place in ``pingu/web`` of the build."""
        build_web = Path(self.build_lib, "pingu", "web")
        return {str(WEB / name): str(build_web / name) for name in _pagefiles().page_files(WEB)}

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        """The modules' outputs and the page's files."""
        outputs = list(super().get_outputs(include_bytecode))
        if not self.editable_mode:
            outputs += list(self._page_mapping().values())
        return outputs


#: pingu and its subpackages (``pingu/web`` is no package: it has no
#: ``__init__.py``), and the twistd plugin's folder, which must have none.
PACKAGES = [
    *find_packages(include=["pingu", "pingu.*"], exclude=["pingu.web", "pingu.web.*"]),
    "twisted.plugins",
]

setup(packages=PACKAGES, cmdclass={"build_py": BuildPyWithPage})
