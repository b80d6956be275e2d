"""``--help`` that states every option's default, and shows flags as flags.

Typer 0.29's rich help prints a type for every option, so a plain flag reads
``--overwrite <bool>``, and it prints no default for an off flag or for an option whose
default is ``None``.  A user then cannot tell from ``--help`` what happens without the
option (issue 17).  The command classes here adjust the options once, when the command
is built: a flag's type is hidden and its help ends in ``[default: off]``; an option
without a default says what happens instead, from :data:`NO_VALUE` unless its help
already names its default.
"""

from __future__ import annotations

import re
from typing import Any

from typer.core import TyperCommand, TyperGroup, TyperOption

#: What an option that is not given means, for options whose default is ``None``.
NO_VALUE = {
    "--out-dir": "none: convert IN to OUT",
    "--scheduler": "none: local worker processes",
    "--from": "detected from the content",
    "--to": "from OUT's extension",
    "--compression": "none",
    "--option": "none",
    "--config": "none",
    "--state-dir": "~/.local/state/emdconvert/<hash of IN_DIR>",
    "--out": "none: required unless in the config",
    "--retry": "none",
    "--dataset": "the first",
    "--frame": "the middle frame",
    "--ignore": "none",
    "--http": "none: no dashboard",
}


_UNESCAPED_DEFAULT = re.compile(r"(?<!\\)\[default:")


def describe_defaults(params: list[Any]) -> None:
    """Hide flags' ``<bool>`` and put a ``[default: ...]`` on every option's help."""
    for param in params:
        help_text = getattr(param, "help", None) or ""
        if "[default:" in help_text:  # named in words: escaped, or rich markup eats it
            param.help = _UNESCAPED_DEFAULT.sub(r"\\[default:", help_text)
        if not isinstance(param, TyperOption) or "--help" in param.opts:
            continue
        if param.is_flag:
            param.metavar = ""  # a flag takes no value: no "<bool>" in the type column
        if "[default:" in help_text or "--version" in param.opts:
            continue
        if param.is_flag and not param.secondary_opts:
            param.help = f"{help_text} \\[default: {'on' if param.default else 'off'}]"
        elif param.default is None or param.default == ():
            long = next((o for o in param.opts if o.startswith("--")), param.opts[0])
            param.help = f"{help_text} \\[default: {NO_VALUE.get(long, 'none')}]"


class _DescribedHelp:
    """The help rules both command classes share; mixed in before the typer class."""

    params: list[Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        describe_defaults(self.params)

    def get_help_option(self, ctx: Any) -> Any:
        """``--help`` itself, shown as the flag it is."""
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.metavar = ""
        return option


class DescribedCommand(_DescribedHelp, TyperCommand):
    """A sub-command whose ``--help`` states every default (:func:`describe_defaults`)."""


class DescribedGroup(_DescribedHelp, TyperGroup):
    """The top-level group, with the same help rules for its own options."""
