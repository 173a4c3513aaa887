"""The report: one table per scenario from its column spec, as text and as
reStructuredText, and the chart (each scenario draws its own panels).

A column spec is a :class:`Column`: its title, the row key (or keys) it
shows and how they are formatted::

    Column("lines/s", "lines_per_s", num(0))
    Column("children RSS (PSS) MB", ("kids_rss_mb", "kids_pss_mb"), lead(0))
    Column("first line p50/p99 ms", ("first_line.p50_ms", "first_line.p99_ms"), slash(1))

A key ``"a.b"`` looks inside the row's dict ``a``; :data:`ROW` is the whole row.

A scenario's ``NOTES`` (optional, a list of sentences) are printed under its
table, and :data:`W2_NOTE` under every table with a ``pingu-w2`` row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Union

#: the key of a column that formats the whole row
ROW = "*"

#: one colour per series, in every panel
COLORS = {
    "pingu": "C0",
    "pingu.json": "C2",
    "websocketd": "C1",
    "pingu-wamp": "C3",
    "pingu-w2": "C4",
    "pingu-w2.json": "C5",
    "py-websockets": "C6",
    "py-asgi": "C7",
}

#: under the tables of the scenarios whose clients bind their source address
CLIENTS_NOTE = (
    "Each session comes from its own loopback address (127.0.0.2 … 127.0.0.254, "
    "round-robin): distinct clients, as real ones are, for every server alike."
)

#: under a table with pingu-w2 rows: what its server figures are
W2_NOTE = (
    "pingu-w2 is twistd pingu --workers 2: its server CPU and RSS are sums over "
    "its parent, its 2 workers and their 2 watchdogs (the tool processes are the "
    "children); single-process pingu's watchdog counts with its children."
)


def fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def num(digits: int = 1) -> Callable[..., str]:
    """One value, ``digits`` after the point (ints as they are, None as -)."""
    return lambda value: fmt(value, digits)


def lead(digits: int = 1) -> Callable[..., str]:
    """``first (second, third, ...)``."""
    return lambda first, *rest: f"{fmt(first, digits)} ({', '.join(fmt(v, digits) for v in rest)})"


def slash(digits: int = 1) -> Callable[..., str]:
    """``a/b/c``."""
    return lambda *values: "/".join(fmt(v, digits) for v in values)


def errs(row: dict) -> str:
    """A row's error, or its failures by kind; ``[busy N%]`` when others used the machine."""
    if row.get("error"):
        return row["error"][:60]
    e = row.get("errors") or {}
    text = ", ".join(f"{k}: {v}" for k, v in e.items()) or "0"
    if (row.get("load_before_pct") or 0) > 30:
        text += f" [busy {row['load_before_pct']:.0f}%]"
    return text


@dataclass(frozen=True)
class Column:
    title: str
    key: Union[str, tuple[str, ...]]
    format: Callable[..., str] = num()

    def cell(self, row: dict) -> str:
        keys = self.key if isinstance(self.key, tuple) else (self.key,)
        return self.format(*(lookup(row, k) for k in keys))


def lookup(row: dict, key: str) -> Any:
    if key == ROW:
        return row
    value: Any = row
    for part in key.split("."):
        value = (value or {}).get(part)
    return value


#: the last column of every table
FAILURES = Column("failures", ROW, errs)


Table = tuple[str, list[str], list[list[str]], list[str]]


def tables(results: dict, scenarios: Sequence[Any]) -> list[Table]:
    """(title, header, rows, notes) for every scenario that ran."""
    out = []
    for scenario in scenarios:
        section = results.get(scenario.NAME)
        if section:
            notes = list(getattr(scenario, "NOTES", []))
            if any(str(r.get("variant", "")).startswith("pingu-w2") for r in section["rows"]):
                notes.append(W2_NOTE)
            out.append(
                (
                    scenario.TITLE,
                    [c.title for c in scenario.COLUMNS],
                    [[c.cell(r) for c in scenario.COLUMNS] for r in section["rows"]],
                    notes,
                )
            )
    return out


def _widths(header: list[str], rows: list[list[str]]) -> list[int]:
    return [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]


def text_tables(results: dict, scenarios: Sequence[Any]) -> str:
    """The tables as the terminal shows them."""
    out = []
    for title, header, rows, notes in tables(results, scenarios):
        widths = _widths(header, rows)
        out += [f"\n{title}", "  ".join(h.ljust(w) for h, w in zip(header, widths))]
        out.append("  ".join("-" * w for w in widths))
        out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
        out += [f"  * {note}" for note in notes]
    return "\n".join(out) + "\n"


def rst_tables(results: dict, scenarios: Sequence[Any]) -> str:
    """The tables as reStructuredText simple tables (for the README)."""
    parts = []
    for title, header, rows, notes in tables(results, scenarios):
        widths = _widths(header, rows)
        rule = " ".join("=" * w for w in widths)
        lines = [title, "", rule, " ".join(h.ljust(w) for h, w in zip(header, widths)), rule]
        lines += [" ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
        lines += [rule, ""]
        if notes:
            lines += [f"* {note}" for note in notes] + [""]
        parts.append("\n".join(lines))
    return "\n".join(parts)


def chart(results: dict, scenarios: Sequence[Any], path: Path) -> None:
    """Rows of three panels; each scenario fills its ``PANELS`` of them, in order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sum(scenario.PANELS for scenario in scenarios)
    nrows = -(-panels // 3)
    fig, grid = plt.subplots(nrows, 3, figsize=(17, 4.75 * nrows), squeeze=False)
    axes = [ax for row in grid for ax in row]
    for scenario in scenarios:
        mine, axes = axes[: scenario.PANELS], axes[scenario.PANELS :]
        scenario.plot(mine, results.get(scenario.NAME, {}).get("rows", []))
    for ax in axes:  # the last row's panels no scenario drew
        ax.axis("off")
    meta = results.get("meta", {})
    fig.suptitle(
        f"pingu vs websocketd — {meta.get('cpus')} CPUs, {meta.get('date')}"
        f"{' (quick)' if meta.get('quick') else ''}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def series(rows: list[dict], by: str) -> list[str]:
    """The series (``variant`` or ``mode``) in the rows, in their order."""
    return list(dict.fromkeys(r[by] for r in rows))


def split(row: dict) -> str:
    """``; parent 5% 59MB, worker 0 90% 61MB 6 kids, ...``: a several-process
    server's share of the load, per process (empty for one process)."""
    parts = row.get("parts") or {}
    if not parts:
        return ""
    return "; " + ", ".join(
        f"{role} {fmt(p.get('cpu_pct'), 0)}% {fmt(p.get('rss_mb'), 0)}MB"
        + (f" {p['kids']} kids" if p.get("kids") else "")
        for role, p in parts.items()
    )
