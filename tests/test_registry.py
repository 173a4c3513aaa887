"""The tool registry is the one source of truth: everything about a tool
is declared in its module, and the rest of pingu is derived from it.

A tool's name may appear as a string literal (docstrings aside) only in
its own module under ``pingu/tools/``: not in the server, the CLI, ``./dev``,
another tool's module nor the page (``web/*.js``' string and template
literals, ``web/index.html`` outside its comments), but for the page's view
of a display kind that only that tool uses (``web/<display kind>-view.js``).
The default tool (``ping``) is the protocol's and the service's own word
(``--ping``, ``ping-error``) and is left out."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pingu import tools
from pingu.cli import args as cli_args
from pingu.limits import Limits, limit_options
from pingu.refusal import Refused
from pingu.request import parse_fields
from pingu.tools.spec import DISPLAY_KINDS, PROBED_FIELD, PROBED_INPUT, URL

ROOT = Path(__file__).resolve().parent.parent
NAMED = [name for name in tools.TOOLS if name != tools.DEFAULT_TOOL]
#: The same word meaning something else: Twisted's endpoint kinds in tap.py
#: ("tcp", "tcp6", the f-string piece "tcp:" of "tcp:8080"), URL schemes of
#: the page's origin and Host checks.
OTHER_MEANINGS = {
    ("tcp", "pingu/tap.py", "tcp"),
    ("tcp", "pingu/tap.py", "tcp:"),
    ("http", "pingu/hosts.py", "http"),
    ("http", "pingu/websocket.py", "http"),
}


def own_modules(name: str) -> set[Path]:
    """A tool's module, and the modules only it imports (its output parser)."""
    module = ROOT / "pingu" / "tools" / f"{name}.py"
    return {module, *(ROOT / "pingu" / "tools").glob(f"{name}_*.py")}


def literals(path: Path) -> list[tuple[int, str]]:
    """Every string constant of a module but its docstrings."""
    tree = ast.parse(path.read_text())
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
    ]


@pytest.mark.parametrize("name", NAMED)
def test_a_tool_is_named_only_in_its_own_module(name: str) -> None:
    # (not followed by ":": "tcp:8080" is a Twisted endpoint, not the tool)
    word = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w:-])")
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in sorted((ROOT / "pingu").rglob("*.py"))
        if path not in own_modules(name)
        for line, text in literals(path)
        if word.search(text) and (name, str(path.relative_to(ROOT)), text) not in OTHER_MEANINGS
    ]
    dev = [
        f"dev:{n}" for n, text in enumerate((ROOT / "dev").read_text().splitlines(), 1)
        if word.search(text.split("#")[0])
    ]  # fmt: skip
    assert found + dev == []


#: What may come before a ``/`` that begins a regular expression literal in JS.
_REGEX_AFTER = set("(,=:[!&|?{};+-*%<>~^") | {""}


def js_literals(text: str) -> list[tuple[int, str]]:
    """Every string literal and every text part of a template literal of a
    JS module, with its line: comments and regular expressions left out."""
    found: list[tuple[int, str]] = []
    n = len(text)

    def line(i: int) -> int:
        return text.count("\n", 0, i) + 1

    def quoted(i: int) -> int:  # text[i] is the quote
        quote, j, buf = text[i], i + 1, []
        while j < n and text[j] != quote:
            buf.append(text[j : j + 2] if text[j] == "\\" else text[j])
            j += 2 if text[j] == "\\" else 1
        found.append((line(i), "".join(buf)))
        return j + 1

    def regex(i: int) -> int:  # text[i] is the opening slash
        j, in_class = i + 1, False
        while j < n and (in_class or text[j] != "/") and text[j] != "\n":
            in_class = (in_class or text[j] == "[") and text[j] != "]"
            j += 2 if text[j] == "\\" else 1
        return j + 1

    def template(i: int) -> int:  # text[i] is the backtick
        j, buf = i + 1, []
        while j < n and text[j] != "`":
            if text[j] == "\\":
                buf.append(text[j : j + 2])
                j += 2
            elif text.startswith("${", j):
                found.append((line(i), "".join(buf)))
                buf = []
                j = code(j + 2, closing=True)
            else:
                buf.append(text[j])
                j += 1
        found.append((line(i), "".join(buf)))
        return j + 1

    def code(i: int, closing: bool = False) -> int:
        depth, prev = 0, ""
        while i < n:
            c = text[i]
            if text.startswith("//", i):
                i = text.find("\n", i) if "\n" in text[i:] else n
            elif text.startswith("/*", i):
                i = text.index("*/", i) + 2
            elif c in "'\"":
                i, prev = quoted(i), c
            elif c == "`":
                i, prev = template(i), c
            elif c == "/" and prev in _REGEX_AFTER:
                i, prev = regex(i), "/"
            else:
                if c == "{":
                    depth += 1
                elif c == "}":
                    if closing and depth == 0:
                        return i + 1
                    depth -= 1
                if not c.isspace():
                    prev = c
                i += 1
        return i

    code(0)
    return found


def page_view_tool(path: Path) -> str:
    """The tool a page file may name: for ``<display kind>-view.js``, the one
    tool of that display kind (none when no tool or several have it)."""
    kind = path.name.removesuffix("-view.js")
    named = [t.name for t in tools.TOOLS.values() if t.display == kind]
    return named[0] if len(named) == 1 and path.name.endswith("-view.js") else ""


def page_literals(path: Path) -> list[tuple[int, str]]:
    if path.suffix == ".js":
        return js_literals(path.read_text())
    blank = lambda m: "\n" * m.group().count("\n")  # noqa: E731 (a comment keeps its lines)
    text = re.sub(r"<!--.*?-->", blank, path.read_text(), flags=re.S)
    return list(enumerate(text.splitlines(), 1))


@pytest.mark.parametrize("name", NAMED)
def test_the_page_names_a_tool_only_in_the_view_of_its_own_display_kind(name: str) -> None:
    word = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w:-])")
    pages = [*sorted((ROOT / "web").glob("*.js")), ROOT / "web" / "index.html"]
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in pages
        if page_view_tool(path) != name
        for line, text in page_literals(path)
        if word.search(text)
    ]
    assert found == []


def test_the_literal_check_sees_strings_and_templates_not_comments_or_regexps() -> None:
    text = (
        '// "a comment"\nconst x = "one" + \'two\'; /* "three" */\n'
        'const r = /["x]/.test(y); const t = `four ${a ? `five ${b}` : "six"} seven`;'
    )
    assert sorted(t for _, t in js_literals(text)) == sorted(
        ["one", "two", "four ", "five ", "", "six", " seven"]
    )
    assert [line for line, t in js_literals(text) if t == "one"] == [2]


def test_the_pages_own_url_parameters_are_no_fields() -> None:
    """A tool field's URL parameter (and the resolver's) is none of the page's own (``t``, ...)."""
    line = next(
        line for line in (ROOT / "web" / "url-state.js").read_text().splitlines()
        if line.startswith("export const PAGE_PARAMS")
    )  # fmt: skip
    own = set(re.findall(r'"(\w+)"', line))
    assert {"t", "f", "n", "tool", "router", "realm"} <= own
    described = tools.describe(Limits())
    params = [f["param"] for t in described for f in t["fields"]]
    params += [t["probed"]["param"] for t in described if t["probed"]]
    assert params and own.isdisjoint(params)


def test_the_pages_unit_tests_read_the_registrys_description() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pingu.tools", "describe"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    assert json.loads(done.stdout) == tools.describe(Limits())
    assert (ROOT / "web" / "test" / "tools.json").read_text() == done.stdout


def test_twistd_options_and_checks_come_from_each_tools_limits() -> None:
    options = {name for name, *_ in limit_options()}
    fields = {f.name for f in dataclasses.fields(Limits)}
    for tool in tools.TOOLS.values():
        for limit in tool.limits:
            assert limit.name.replace("_", "-") in options and limit.name in fields
            assert getattr(Limits(), limit.name) == limit.default
            if limit.ceiling is not None:
                with pytest.raises(ValueError, match=f"the most {tool.name} accepts"):
                    Limits(**{limit.name: limit.ceiling + 1}).check(root=True)


def required(tool: Any, limits: Limits) -> dict[str, Any]:
    """The fields a tool cannot do without, each at its lowest (and the target)."""
    out: dict[str, Any] = {"target": "http://127.0.0.1/" if tool.target == URL else "127.0.0.1"}
    while True:
        try:
            parse_fields({"tool": tool.name, **out}, limits)
            return out
        except Refused as refused:
            assert refused.reason == "missing", refused.message
            if refused.field == PROBED_FIELD[tool.target]:
                out[refused.field] = "127.0.0.1"  # the host a name is queried at
                continue
            field = next(f for f in tool.fields if f.name == refused.field)
            out[field.name] = field.bounds(limits)[0]


def test_every_bound_names_a_limit_and_refuses_past_it() -> None:
    limits = Limits(**{n: "1-65535" for _, limit in tools.tool_limits() if (n := limit.name)
                       and limit.kind is str})  # fmt: skip
    for tool in tools.TOOLS.values():
        assert tool.display in DISPLAY_KINDS
        base = required(tool, limits)
        for field in tool.fields:
            if field.kind is str:
                cases = [*((c, True) for c in field.choices), ("ANY", False), (1, False)]
            else:
                low, high = field.bounds(limits)  # a limit name that does not exist raises
                cases = [(low, True), (high, True), (high * 2 + 1, False)]
            for value, ok in cases:
                request = {"tool": tool.name, **base, field.name: value}
                if ok:
                    parse_fields(request, limits)
                else:
                    with pytest.raises(Refused) as refused:
                        parse_fields(request, limits)
                    assert refused.value.field == field.name


def test_a_field_two_tools_take_has_one_flag_and_one_parameter() -> None:
    seen: dict[str, tuple[str, str, type]] = {}
    params: dict[str, str] = {i["param"]: i["name"] for i in PROBED_INPUT.values()}
    for tool in tools.TOOLS.values():
        for f in tool.fields:
            assert seen.setdefault(f.name, (f.flag, f.param, f.kind)) == (f.flag, f.param, f.kind)
            assert params.setdefault(f.param, f.name) == f.name, f"{f.param} means two fields"


def test_the_cli_takes_every_tools_fields_and_only_its_own() -> None:
    for tool in tools.TOOLS.values():
        for f in tool.fields:
            flag = f.flag or "--" + f.name.replace("_", "-")
            value = f.choices[0] if f.kind is str else str(f.bounds(Limits())[1])
            got = cli_args.parse(["watch", "--tool", tool.name, "ws://h/ws", "h", flag, value])
            assert got.options == {f.name: f.kind(value)}
            others = [t for t in tools.TOOLS.values() if f.name not in cli_args.TOOL_FIELDS[t.name]]
            for other in others:
                with pytest.raises(cli_args.UsageError):
                    cli_args.parse(["watch", "--tool", other.name, "ws://h/ws", "h", flag, value])


def test_pingu_info_lists_every_tool_with_its_fields_and_bounds() -> None:
    limits = Limits(max_hops=7)
    described = {t["name"]: t for t in tools.describe(limits, {tools.DEFAULT_TOOL: "/bin/x"})}
    assert list(described) == list(tools.TOOLS)
    for name, tool in tools.TOOLS.items():
        entry: dict[str, Any] = described[name]
        assert entry["installed"] == (name == tools.DEFAULT_TOOL)
        assert [f["name"] for f in entry["fields"]] == [f.name for f in tool.fields]
        for f, shown in zip(tool.fields, entry["fields"]):
            if f.kind is not str:
                assert (shown["min"], shown["max"]) == f.bounds(limits)
    json.dumps(described)
    hops = [f for t in described.values() for f in t["fields"] if f["name"] == "max_hops"]
    assert hops and all(f["max"] == 7 for f in hops)


def test_dev_installs_the_registrys_packages() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pingu.tools", "packages"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    assert done.stdout.splitlines() == [f"{t.executable} {t.package}" for t in tools.TOOLS.values()]
    assert "python3 -m pingu.tools packages" in (ROOT / "dev").read_text()


def test_the_docs_fields_table_is_the_registrys() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pingu.tools", "fields"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    assert done.stdout in (ROOT / "docs" / "tools.rst").read_text()
