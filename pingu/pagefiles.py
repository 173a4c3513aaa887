"""The one list of the page's files: what a built pingu ships from ``web/``.

Two readers: ``setup.py`` (the build copies exactly these files into the
package, after ``npm ci`` has put the third-party ones in
``web/node_modules``) and :mod:`pingu.site` (the start-up check of what the
page needs).  Only the standard library here: ``setup.py`` loads this file by
its path, before pingu or its dependencies are installed.

The page's own files are the top level of ``web/`` (flat: a subfolder such as
``web/test/`` never ships); the third-party files are named one by one, each
library with its licence.
"""

from __future__ import annotations

from pathlib import Path

#: The page's own files: these patterns, at the top level of ``web/`` only.
PAGE_PATTERNS: tuple[str, ...] = (
    "*.html",
    "*.js",
    "*.mjs",
    "*.css",
    "*.svg",
    "pingu-info.json",
)

#: Files the page loads from ``web/node_modules`` (installed by ``npm ci``
#: from ``web/package-lock.json``).
PAGE_VENDOR_FILES: tuple[str, ...] = (
    "node_modules/uplot/dist/uPlot.iife.min.js",
    "node_modules/uplot/dist/uPlot.min.css",
    "node_modules/autobahn-browser/autobahn.min.js",
)

#: The licences of those libraries, shipped beside them.
PAGE_VENDOR_LICENSES: tuple[str, ...] = (
    "node_modules/uplot/LICENSE",
    "node_modules/autobahn-browser/LICENSE",
)

#: What the page cannot work without (checked at start-up and after the build).
PAGE_REQUIRED: tuple[str, ...] = ("index.html", *PAGE_VENDOR_FILES)


def own_page_files(webdir: Path) -> list[str]:
    """The page's own files present at the top level of ``webdir``, sorted."""
    found = {
        path.name
        for pattern in PAGE_PATTERNS
        for path in Path(webdir).glob(pattern)
        if path.is_file()
    }
    return sorted(found)


def page_files(webdir: Path) -> list[str]:
    """Every file to ship, relative to ``webdir``: its own files (those present),
    then the third-party files and their licences (all of them, present or not:
    see :func:`missing_files`)."""
    return [*own_page_files(webdir), *PAGE_VENDOR_FILES, *PAGE_VENDOR_LICENSES]


def missing_files(webdir: Path, names: tuple[str, ...] = PAGE_REQUIRED) -> list[str]:
    """Those of ``names`` that ``webdir`` lacks (empty when all are there)."""
    return [name for name in names if not (Path(webdir) / name).is_file()]
