"""The README and the manual (docs/) name only what exists, and show what the
code defines once from its definition."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pingu.events import EVENT_TYPES, CloseCode

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
PAGES = [REPO / "README.rst", *sorted(DOCS.glob("*.rst"))]

#: the repository's top-level folders and files a path in the text may start with
TOP = tuple(p.name for p in REPO.iterdir() if not p.name.startswith(".git"))
#: a path: a literal (``...``) or a directive's argument (image, include)
LITERAL = re.compile(r"``([^`\s]+)``")
DIRECTIVE = re.compile(r"^\s*\.\. (?:image|include|figure):: (\S+)", re.M)
#: what a path of the repository looks like, as opposed to a URL path or a pattern
PATHLIKE = re.compile(r"^[\w.-]+(/[\w.-]+)*/?$")


def named_paths(page: Path) -> set[str]:
    """The repository paths ``page`` names: ``dir/file`` literals whose first part
    is a top-level entry, and its images and includes (relative to the page)."""
    text = page.read_text()
    found = set()
    for name in LITERAL.findall(text):
        name = name.split("#")[0].split("::")[0]
        if "/" in name and PATHLIKE.match(name) and name.split("/")[0] in TOP:
            found.add(name)
    for name in DIRECTIVE.findall(text):
        found.add(str((page.parent / name).resolve().relative_to(REPO)))
    return found


def test_every_file_named_exists() -> None:
    missing = {
        f"{page.relative_to(REPO)}: {name}"
        for page in PAGES
        for name in named_paths(page)
        if not (REPO / name).exists()
    }
    assert not missing, f"named but not in the repository: {sorted(missing)}"


def test_a_missing_file_is_noticed(tmp_path: Path) -> None:
    page = tmp_path / "page.rst"
    page.write_text("See ``pingu/parse.py`` and ``tests/harness/pingu.py``.\n")
    assert named_paths(page) == {"pingu/parse.py", "tests/harness/pingu.py"}
    assert not (REPO / "pingu/parse.py").exists()


def test_the_limits_table_is_generated_not_pasted() -> None:
    text = (DOCS / "limits.rst").read_text()
    assert ".. pingu-limits::" in text
    assert not re.search(r"^``--max-\S+``\s+\d", text, re.M), "a pasted row of limits"


#: a page's lines that would be a row of a pasted close-code table: a code of
#: ``CloseCode`` first (after a simple, grid or list table's markup), then a gap
_CODES = "|".join(str(int(code)) for code in CloseCode)
PASTED_CLOSE_CODE = re.compile(
    rf"^\s*(?:\|\s*|\*\s+-\s+)?(?:{_CODES})(?:\s{{2,}}|\s*\||\s*$)", re.M
)
#: an event type as the term of a definition list, as a pasted list of events has it
_TYPES = "|".join(EVENT_TYPES)
PASTED_EVENT = re.compile(rf"^``(?:{_TYPES})``\s*$", re.M)


#: every URI a role of the shipped router's realm has a permission on
ROUTER = json.loads((REPO / ".crossbar" / "config.json").read_text())
PERMISSION_URIS = {
    permission["uri"]
    for worker in ROUTER["workers"]
    for realm in worker.get("realms", [])
    for role in realm["roles"]
    for permission in role.get("permissions", [])
}


def pasted_tables(text: str) -> list[str]:
    """What in ``text`` is a copy of a table a directive generates: close codes
    (``pingu-close-codes``), event types (``pingu-events``), the page's headers
    (``pingu-page-headers``)."""
    found = []
    if PASTED_CLOSE_CODE.search(text):
        found.append("close codes")
    if len(PASTED_EVENT.findall(text)) >= 3:
        found.append("event types")
    if "default-src" in text:
        found.append("page headers")
    # a page may name a few of the router's permissions; a list of them is pasted
    if sum(f"``{uri}``" in text for uri in PERMISSION_URIS) > len(PERMISSION_URIS) // 2:
        found.append("router roles")
    return found


def test_no_generated_table_is_pasted() -> None:
    pasted = {
        f"{page.relative_to(REPO)}: {table}"
        for page in PAGES
        for table in pasted_tables(page.read_text())
    }
    assert not pasted, f"pasted, where a directive generates them: {sorted(pasted)}"
    protocol = (DOCS / "protocol.rst").read_text()
    for directive in ("pingu-close-codes", "pingu-ends", "pingu-events"):
        assert f".. {directive}::" in protocol
    assert ".. pingu-page-headers::" in (DOCS / "threat-model.rst").read_text()
    assert ".. pingu-roles::" in (DOCS / "wamp.rst").read_text()


def test_a_pasted_table_is_noticed() -> None:
    assert pasted_tables("====== =====\ncode   meaning\n====== =====\n4400   invalid\n") == [
        "close codes"
    ]
    assert pasted_tables("   * - 4403\n     - refused\n") == ["close codes"]
    assert pasted_tables("``start``\n   tool\n``reply``\n   seq\n``end``\n   how\n") == [
        "event types"
    ]
    assert pasted_tables("``Content-Security-Policy: default-src 'none'``") == ["page headers"]
    listed = "\n".join(f"``{uri}``" for uri in sorted(PERMISSION_URIS))
    assert pasted_tables(listed) == ["router roles"]
    # prose that names a code or an event is not a table
    assert pasted_tables("Any other message closes with 4409.\n``start`` has ``tool``.\n") == []


def test_the_performance_page_is_the_published_run() -> None:
    assert ".. pingu-bench::" in (DOCS / "performance.rst").read_text()


def test_the_readme_is_a_front_door() -> None:
    lines = (REPO / "README.rst").read_text().splitlines()
    assert len(lines) <= 150, f"README.rst has {len(lines)} lines: the rest belongs in docs/"
    for page in sorted(DOCS.glob("*.rst")):
        if page.stem != "index":
            assert f"docs/{page.name}" in "\n".join(lines), f"README.rst lacks docs/{page.name}"


def module_names() -> set[str]:
    """Every module of ``pingu/`` as the architecture page names it: ``runs``,
    ``tools/spec``, ``wamp/__init__``."""
    package = REPO / "pingu"
    return {str(path.relative_to(package).with_suffix("")) for path in package.rglob("*.py")}


def unnamed_modules(page: str, modules: set[str]) -> set[str]:
    return {name for name in modules if f"``{name}``" not in page}


def test_the_architecture_page_names_every_module() -> None:
    modules = module_names()
    assert {"runs", "tools/spec", "wamp/node", "cli/args"} <= modules
    missing = unnamed_modules((DOCS / "architecture.rst").read_text(), modules)
    assert not missing, f"docs/architecture.rst's module map lacks {sorted(missing)}"


def test_the_architecture_page_names_every_page_module() -> None:
    page = (DOCS / "architecture.rst").read_text()
    scripts = {path.name for path in (REPO / "web").glob("*.js")}
    missing = unnamed_modules(page, scripts)
    assert not missing, f"docs/architecture.rst's page modules lack {sorted(missing)}"


def test_an_unnamed_module_is_noticed() -> None:
    assert unnamed_modules("``runs`` and ``tools/spec``", {"runs", "tools/spec", "lag"}) == {"lag"}


#: a metric's name where pingu defines it (``Counter("pingu_runs_started", ...)``)
METRIC_NAME = re.compile(r'"(pingu_[a-z_]+)"')
#: a metric's name in the manual: a counter with its ``_total``, any other as it is
METRIC_IN_DOCS = re.compile(r"``(pingu_[a-z_]+?)(?:_total)?(?:\{[a-z]+\})?``")


def metric_mismatch(code: str, docs: str) -> tuple[set[str], set[str]]:
    """The metrics ``code`` defines that ``docs`` does not name, and the
    metrics ``docs`` names that ``code`` does not define."""
    defined = set(METRIC_NAME.findall(code))
    named = set(METRIC_IN_DOCS.findall(docs))
    return defined - named, named - defined


def test_the_metrics_table_names_every_metric_and_no_other() -> None:
    code = "".join(path.read_text() for path in sorted((REPO / "pingu").rglob("*.py")))
    docs = "".join(page.read_text() for page in PAGES)
    undocumented, unknown = metric_mismatch(code, docs)
    assert not undocumented, f"metrics the manual (docs/deploy.rst) lacks: {sorted(undocumented)}"
    assert not unknown, f"metrics the manual names that pingu does not define: {sorted(unknown)}"


def test_a_metric_missing_from_the_manual_is_noticed() -> None:
    code = 'Counter("pingu_runs_started", ...); _gauge("pingu_resolving", ...)'
    docs = "``pingu_runs_started_total`` ... ``pingu_gone``"
    assert metric_mismatch(code, docs) == ({"pingu_resolving"}, {"pingu_gone"})


#: a log event's name where pingu logs it (``log.info(..., event="run_ended")``)
LOG_EVENT = re.compile(r'\bevent="([a-z_]+)"')


def unlogged(code: str, logs: str) -> set[str]:
    """The log events ``code`` writes that the Logs section does not name."""
    return {name for name in LOG_EVENT.findall(code) if f"``{name}``" not in logs}


def test_the_logs_table_names_every_log_event() -> None:
    code = "".join(path.read_text() for path in sorted((REPO / "pingu").rglob("*.py")))
    deploy = (DOCS / "deploy.rst").read_text()
    logs = deploy[deploy.index("\nLogs\n----") :]
    missing = unlogged(code, logs)
    assert not missing, f"log events docs/deploy.rst's Logs lacks: {sorted(missing)}"


def test_a_log_event_missing_from_the_manual_is_noticed() -> None:
    code = 'log.info("...", event="run_ended")\nlog.warn("...", event="new_thing")'
    assert unlogged(code, "``run_ended`` ...") == {"new_thing"}
