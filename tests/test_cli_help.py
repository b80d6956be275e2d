"""Every ``--help`` says each option's default, and README lists every exit code
(issue 17, item 6).

Typer 0.29 printed ``--version <bool>``, showed no default for off flags or for options
whose default is ``None``, and rich markup ate ``[default: …]`` written into help texts,
leaving lines that end in " .".  The help is read from the real command, run as a user
runs it (``python -m emdconvert … --help``), at 200 columns (one row per option line)
and at 80.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from emdconvert import errors

COMMANDS = ["", "convert", "validate", "info", "formats", "watch", "preview"]
README = Path(__file__).resolve().parents[1] / "README.md"


def helptext(command: str, columns: int) -> str:
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "dumb", "NO_COLOR": "1"}
    args = [sys.executable, "-m", "emdconvert", *([command] if command else []), "--help"]
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def option_rows(text: str) -> list[str]:
    """The Options panel's entries, each joined from its wrapped lines."""
    panel = text.split("─ Options ", 1)[1].split("╰", 1)[0]
    rows: list[str] = []
    for line in panel.splitlines()[1:]:
        cell = line.strip("│ ").rstrip()
        if re.match(r"--\w", cell):
            rows.append(cell)
        elif rows and cell:
            rows[-1] += " " + cell
    return rows


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c or "emdconvert")
def test_every_option_shows_its_default(command: str) -> None:
    rows = option_rows(helptext(command, 200))
    assert rows
    for row in rows:
        if row.startswith(("--help", "--version")):
            continue
        assert "[default:" in row or "[required]" in row, f"no default: {row}"
    assert "<bool>" not in helptext(command, 200)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c or "emdconvert")
def test_no_help_line_loses_its_text_at_80_columns(command: str) -> None:
    text = helptext(command, 80)
    broken = [line for line in text.splitlines() if line.rstrip(" │").endswith(" .")]
    assert not broken, broken
    assert max(len(line) for line in text.splitlines()) <= 80


def test_version_is_a_flag() -> None:
    (row,) = [r for r in option_rows(helptext("", 200)) if r.startswith("--version")]
    assert re.fullmatch(r"--version\s+Show the version\.", row), row


def test_readme_lists_every_exit_code() -> None:
    """Each error class's code, validate's 1 and 0, as backticked numbers in the bullet."""
    codes = {0, 1} | {
        cls.exit_code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.EmdConvertError)
    }
    text = README.read_text(encoding="utf-8")
    bullet = text.split("- **Exit codes**:", 1)[1].split("\n- **", 1)[0]
    missing = sorted(code for code in codes if f"`{code}`" not in bullet)
    assert not missing, f"README's exit codes lack {missing}"
