"""Sphinx configuration for pingu's manual, and its two directives.

``./dev test`` builds it with warnings as errors:
``sphinx-build -W -b html docs docs/_build``.

* ``.. pingu-limits::`` the table of every limit, from :class:`pingu.limits.Limits`'
  own definitions (``limit_options()``: name, default, help), never pasted;
* ``.. pingu-bench::`` the published benchmark run (``bench/latest.json``): its
  date, commit and machine, and its table of targets (``bench/targets.py``);
* ``.. pingu-close-codes::`` every close code of :class:`pingu.events.CloseCode`
  with its ``#:`` comment and its WAMP error URI, and ``.. pingu-ends::`` every
  ``how`` of an ``end`` event with its close code and reason text;
* ``.. pingu-events::`` every event type with the keys its constructor in
  ``pingu/events.py`` builds (read from the source: the dict it returns);
* ``.. pingu-roles::`` the roles of the shipped router (``.crossbar/config.json``)
  and what each may do on which URIs;
* ``.. pingu-page-headers::`` the headers of every page response, from
  :func:`pingu.pageheaders.page_headers`, for a server with one ``--page-router``.

``tests/test_readme.py`` fails when one of these tables is pasted into a page.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import sys
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.pycode import ModuleAnalyzer
from sphinx.util.docutils import SphinxDirective

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pingu import __version__, events, pageheaders  # noqa: E402
from pingu.limits import limit_options  # noqa: E402

project = "pingu"
author = "pingu's authors"
release = version = __version__
extensions = ["sphinx.ext.autodoc"]
exclude_patterns = ["_build"]
html_theme = "alabaster"
nitpicky = False


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A reST list-table."""
    out = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        out.append("   * - " + row[0])
        out.extend("     - " + cell for cell in row[1:])
    return out


class _RstDirective(SphinxDirective):
    """A directive whose body is reST it generates."""

    def rst(self) -> list[str]:
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        container = nodes.container()
        self.state.nested_parse(StringList(self.rst(), source=self.name), 0, container)
        return container.children


class LimitsTable(_RstDirective):
    """Every limit: its option, default and meaning."""

    def rst(self) -> list[str]:
        rows = [
            [f"``--{name}``", f"``{default}``", text]
            for name, _kind, default, text in limit_options()
        ]
        return _table(["option", "default", "meaning"], rows)


class BenchRun(_RstDirective):
    """The published run: when, which commit, where; the targets met and missed."""

    def rst(self) -> list[str]:
        path = REPO / "bench" / "latest.json"
        self.env.note_dependency(str(path))
        run = json.loads(path.read_text())
        meta = run["meta"]
        versions = ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items())
        lines = [
            f"The published run: **{meta['date']}**, commit **{meta['commit']}**, "
            f"{meta.get('cpus', '?')} CPUs ({meta.get('cpu_model', '?')}, "
            f"{meta.get('machine', '?')}); {versions}.",
            "",
        ]
        targets_py = REPO / "bench" / "targets.py"
        spec = importlib.util.spec_from_file_location("bench_targets", targets_py)
        assert spec is not None and spec.loader is not None
        targets: Any = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(targets)
        lines += ["One process (the default):", "", *targets.table(run).splitlines(), ""]
        overload = targets.overload_table(run)
        if overload:
            lines += [
                "Overload (scenario f: pingu at its default ``--max-lag``; websocketd and "
                "the Python peers refuse nobody, their first lines are beside):",
                "",
                *overload.splitlines(),
                "",
            ]
        if targets.has(run, targets.WORKERS2[0]):
            lines += [
                "``--workers 2`` (CPU and RSS summed over the parent, both workers and "
                "their watchdogs):",
                "",
                *targets.table(run, targets.WORKERS2).splitlines(),
                "",
            ]
        return lines


class CloseCodes(_RstDirective):
    """Every close code, in order: its name, what it means (the ``#:`` comment
    in :class:`pingu.events.CloseCode`) and the WAMP error of the same meaning."""

    def rst(self) -> list[str]:
        self.env.note_dependency(events.__file__)
        docs = ModuleAnalyzer.for_module("pingu.events").find_attr_docs()
        rows = []
        for code in sorted(events.CloseCode):
            meaning = " ".join(line for line in docs[("CloseCode", code.name)] if line)
            uri = events.ERROR_URIS.get(code)
            rows.append([f"{int(code)}", f"``{code.name}``", meaning, f"``{uri}``" if uri else ""])
        return _table(["code", "name", "meaning", "WAMP error"], rows)


class Ends(_RstDirective):
    """How a run ended (``end``'s ``how``), its close code and reason text."""

    def rst(self) -> list[str]:
        self.env.note_dependency(events.__file__)
        rows = [
            [f"``{how}``", f"{int(code)}", events.HOW_TEXT[how].format(tool="<tool>")]
            for how, code in events.HOW_CLOSE.items()
        ]
        return _table(["how", "close code", "reason text"], rows)


def event_keys(function: Any) -> list[str]:
    """The keys of the event a constructor of :mod:`pingu.events` builds: the
    string keys of the dict literal it makes, then any key it sets later."""
    keys: list[str] = []
    for node in ast.walk(ast.parse(inspect.getsource(function))):
        if isinstance(node, ast.Dict):
            keys += [k.value for k in node.keys if isinstance(k, ast.Constant)]
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
            if isinstance(node.slice, ast.Constant):
                keys.append(node.slice.value)
    return list(dict.fromkeys(keys))


class EventTypes(_RstDirective):
    """Every event type, the keys its constructor builds, and its docstring."""

    def rst(self) -> list[str]:
        self.env.note_dependency(events.__file__)
        rows = []
        for name in events.EVENT_TYPES:
            function = getattr(events, name)
            keys = [k for k in event_keys(function) if k not in ("type", "raw")]
            doc = " ".join(inspect.getdoc(function).split())  # type: ignore[union-attr]
            rows.append([f"``{name}``", ", ".join(f"``{k}``" for k in keys), doc])
        return _table(["type", "keys (besides type, raw, t, n)", "what it says"], rows)


class Roles(_RstDirective):
    """The realm's roles in ``.crossbar/config.json``: each permission's URI,
    match and actions, or the role's dynamic authorizer."""

    def rst(self) -> list[str]:
        path = REPO / ".crossbar" / "config.json"
        self.env.note_dependency(str(path))
        config = json.loads(path.read_text())
        rows = []
        for worker in config["workers"]:
            for realm in worker.get("realms", []):
                for role in realm["roles"]:
                    name = f"``{role['name']}``"
                    if "authorizer" in role:
                        rows.append([name, f"``{role['authorizer']}`` decides", "", ""])
                    for permission in role.get("permissions", []):
                        allowed = [action for action, may in permission["allow"].items() if may]
                        rows.append(
                            [
                                name,
                                f"``{permission['uri']}``",
                                permission["match"],
                                ", ".join(allowed) or "nothing",
                            ]
                        )
                    if "authorizer" not in role and not role.get("permissions"):
                        rows.append([name, "nothing", "", ""])
        return _table(["role", "URI", "match", "may"], rows)


class PageHeaders(_RstDirective):
    """The page's headers as ``twistd pingu --page-router wss://router.example/ws``
    sends them."""

    def rst(self) -> list[str]:
        self.env.note_dependency(pageheaders.__file__)
        headers = pageheaders.page_headers(["wss://router.example/ws"])
        lines = [f"   {name.decode()}: {value.decode()}" for name, value in headers]
        return ["::", "", *lines, ""]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("pingu-limits", LimitsTable)
    app.add_directive("pingu-bench", BenchRun)
    app.add_directive("pingu-close-codes", CloseCodes)
    app.add_directive("pingu-ends", Ends)
    app.add_directive("pingu-events", EventTypes)
    app.add_directive("pingu-page-headers", PageHeaders)
    app.add_directive("pingu-roles", Roles)
    return {"parallel_read_safe": True}
