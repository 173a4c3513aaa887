"""``python -m pingu.tools packages``: each tool's executable and the
Debian package that provides it, one ``EXECUTABLE PACKAGE`` pair a line,
for ``./dev`` to install what is missing (from the registry, so a new
tool's package comes with its module)."""

from __future__ import annotations

import sys

from pingu import tools


def main(argv: list[str]) -> int:
    if argv != ["packages"]:
        sys.stderr.write("usage: python -m pingu.tools packages\n")
        return 2
    for tool in tools.TOOLS.values():
        sys.stdout.write(f"{tool.executable} {tool.package}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
