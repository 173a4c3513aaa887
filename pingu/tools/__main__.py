"""``python -m pingu.tools packages|fields``, from the registry:

``packages``
    each tool's executable and the Debian package that provides it, one
    ``EXECUTABLE PACKAGE`` pair a line, for ``./dev`` to install what is
    missing (a new tool's package comes with its module);
``fields``
    the reST table of every tool's request fields, with their bounds as the
    default limits set them (docs/tools.rst holds it; a test checks it is
    this table);
``describe``
    ``/pingu-info.json``'s ``tools`` under the default limits, as JSON (the
    page's unit tests read it from ``web/test/tools.json``; a test checks it
    is this).
"""

from __future__ import annotations

import json
import sys

from pingu import tools
from pingu.tools.spec import PROBED_FIELD, PROBED_INPUT


def packages() -> str:
    """One ``EXECUTABLE PACKAGE`` line per tool."""
    return "".join(f"{tool.executable} {tool.package}\n" for tool in tools.TOOLS.values())


def fields_table() -> str:
    """The reST table of the tools' fields (bounds under the default limits)."""
    from pingu.limits import Limits

    limits = Limits()
    rows = [("tool", "field", "type", "bounds", "flag", "URL")]
    for tool in tools.TOOLS.values():
        probed = PROBED_FIELD[tool.target]
        rows.append((tool.name, "target", tool.target, "", "", ""))
        if probed != "target":
            param = PROBED_INPUT[probed]["param"]
            rows.append((tool.name, probed, "host", "policed", f"--{probed}", param))
        for f in tool.fields:
            if f.kind is str:
                bounds = " ".join(f.choices)
            else:
                low, high = f.bounds(limits)
                names = [b for b in (f.low, f.high) if isinstance(b, str)]
                bounds = f"{low:g} .. {high:g}" + (f" ({', '.join(names)})" if names else "")
            flag = f.flag or "--" + f.name.replace("_", "-")
            rows.append((tool.name, f.name, f.kind.__name__, bounds, flag, f.param))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    rule = " ".join("=" * w for w in widths)

    def line(row: tuple[str, ...]) -> str:
        return " ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()

    return "\n".join([rule, line(rows[0]), rule, *map(line, rows[1:]), rule]) + "\n"


def described() -> str:
    """``/pingu-info.json``'s ``tools`` under the default limits, as JSON."""
    from pingu.limits import Limits

    return json.dumps(tools.describe(Limits()), indent=1) + "\n"


def main(argv: list[str]) -> int:
    commands = {"packages": packages, "fields": fields_table, "describe": described}
    if len(argv) != 1 or argv[0] not in commands:
        sys.stderr.write("usage: python -m pingu.tools packages|fields|describe\n")
        return 2
    sys.stdout.write(commands[argv[0]]())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
