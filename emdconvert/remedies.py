"""How an error message names the setting that fixes it, in the caller's own language.

The same check fails for a library caller and for a command-line user ("output
exists"), but the fix is spelled differently: ``overwrite=True`` in Python,
``--overwrite`` in a shell.  A message that tells a library caller to "use
--overwrite" sends them looking for a flag that does not exist.  Messages therefore ask
:func:`remedy` for the spelling; the library's is the default, and the command line
switches the whole process to its flags once, at start-up (:func:`speak_command_line`).
The switch is an environment variable so that the worker processes of batch mode and
of the watch daemon (started with ``spawn``) inherit it too.
"""

from __future__ import annotations

import os

#: Setting -> (library spelling, command-line spelling).
SPELLINGS: dict[str, tuple[str, str]] = {
    "overwrite": ("overwrite=True", "--overwrite"),
    "skip_existing": ("skip_existing=True", "--skip-existing"),
    "reader": ("reader=NAME", "--from NAME"),
    "writer": ("writer=NAME", "--to NAME"),
    "max_bytes": ("max_bytes=", "--max-bytes"),
    "max_ratio": ("max_ratio=None", "--max-ratio none"),
    "follow_symlinks": ("follow_symlinks=True", "--follow-symlinks"),
}

#: Set to ``command-line`` by the CLI for itself and its child processes.
ENV = "EMDCONVERT_MESSAGES"


def speak_command_line() -> None:
    """From now on, messages in this process and its children name command-line flags."""
    os.environ[ENV] = "command-line"


def remedy(setting: str) -> str:
    """How the caller spells *setting* (a key of :data:`SPELLINGS`)."""
    library, command_line = SPELLINGS[setting]
    return command_line if os.environ.get(ENV) == "command-line" else library
