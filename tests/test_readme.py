"""The README documents what the code defines once."""

from pathlib import Path

from pingu.limits import limit_options

README = (Path(__file__).resolve().parent.parent / "README.rst").read_text()


def test_every_limit_is_in_the_readme_with_its_default() -> None:
    for name, _kind, default, _help in limit_options():
        rows = [line for line in README.splitlines() if line.startswith(f"``--{name}``")]
        assert rows, f"--{name} is not in README.rst's limits table"
        assert rows[0].split()[1] == str(default), f"--{name}'s default in README.rst"
