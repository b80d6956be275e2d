"""README's command line matches the code's, flag for flag (issue 17).

Two directions: every option of every command is documented in README (so a new flag
cannot ship undocumented), and every ``--flag`` README mentions exists on some command
(so a renamed or removed flag cannot linger in the docs).  The commands' options come
from the Typer app itself, as ``--help`` shows them.
"""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from emdconvert.cli.app import app

README = Path(__file__).resolve().parents[1] / "README.md"
#: Flags README names that belong to other programs (pip, pytest, systemd, h5clear).
FOREIGN = {
    *("--no-deps", "--upgrade", "--user", "--now", "--collect-only", "--check"),  # pip, ruff
    *("--system", "--home"),  # useradd
    # the benchmark and fuzz scripts' own options (README, Performance and Development)
    *("--formats", "--tools", "--once", "--reps", "--shape", "--format", "--fuzz-seeds"),
}


def watch_keys(text: str) -> set[str]:
    """The keys of README's watch TOML example: README says each is a flag as well."""
    block = text.split("All options", 1)[1].split("```toml", 1)[1].split("```", 1)[0]
    return set(re.findall(r"^(\w+) =", block, flags=re.M))


def options() -> dict[str, set[str]]:
    """Command name -> its long options (``--help`` left out)."""
    group = typer.main.get_command(app)
    found = {"": {o for p in group.params for o in p.opts if o.startswith("--")}}
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        found[name] = {o for p in command.params for o in [*p.opts, *p.secondary_opts]}
    return {k: {o for o in v if o.startswith("--") and o != "--help"} for k, v in found.items()}


def test_every_option_is_documented_in_readme() -> None:
    text = README.read_text(encoding="utf-8")
    assert "also\na flag of `emdconvert watch`, spelled with dashes" in text
    keys = watch_keys(text)

    def documented(command: str, flag: str) -> bool:
        if re.search(re.escape(flag) + r"(?![\w-])", text):
            return True
        key = flag.removeprefix("--").removeprefix("no-").replace("-", "_")
        return command == "watch" and key in keys

    missing = {
        f"{command or 'emdconvert'} {flag}"
        for command, flags in options().items()
        for flag in flags
        if not documented(command, flag)
    }
    assert not missing, f"options README does not mention: {sorted(missing)}"


def test_every_flag_readme_names_exists() -> None:
    text = README.read_text(encoding="utf-8")
    known = set().union(*options().values(), {"--help"})
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text))
    stale = named - known - FOREIGN
    assert not stale, f"README names flags no command has: {sorted(stale)}"
