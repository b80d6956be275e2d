"""Exception hierarchy and the exit code each kind of failure maps to.

Library code raises these; only ``cli.py`` turns them into a one-line message and an
exit code.  Each class also inherits the builtin it refines (Pillow's
``UnidentifiedImageError(OSError)`` pattern) so generic ``except ValueError`` /
``except OSError`` handlers in callers keep working.
"""

from __future__ import annotations

from pathlib import Path


class EmdConvertError(Exception):
    """Base class: a failure emdconvert understood and can explain in one line."""

    exit_code: int = 70
    #: A short word for the class of failure (reliability.md rule 9), for logs, the
    #: watch daemon's ledger and quarantine reports; the reason says the details.
    kind: str = "internal"

    def __init__(self, reason: str, *, path: str | Path | None = None,
                 kind: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = None if path is None else str(path)
        if kind is not None:
            self.kind = kind

    def __str__(self) -> str:
        return self.reason if self.path is None else f"{self.path}: {self.reason}"


class UsageError(EmdConvertError, ValueError):
    """The caller asked for something that cannot be done (bad option, bad name)."""

    exit_code = 2
    kind = "usage"


class InputError(EmdConvertError, ValueError):
    """The input is bad or unsupported: exit code 3."""

    exit_code = 3
    kind = "bad-input"


class FormatError(InputError):
    """The input is not valid for the format it claims (truncated, corrupt, ...)."""

    kind = "corrupt"


class IncompleteError(FormatError):
    """The file is shorter than its own header says: truncated, or still being written.

    The watch daemon treats this as "wait and look again" while the file is young, and
    as a failure once it has stopped changing.
    """

    kind = "incomplete"


class UnknownFormatError(InputError):
    """No installed plugin recognises the input, or none can write the output."""

    kind = "wrong-format"


class UnsupportedError(InputError):
    """The data cannot be represented in the requested format (e.g. object dtype)."""

    kind = "unsupported"


class EnvironmentProblem(EmdConvertError, OSError):
    """The machine, not the input, is the problem (output exists, disk full, ...)."""

    exit_code = 4
    kind = "environment"


class OutputExistsError(EnvironmentProblem, FileExistsError):
    """The destination exists and ``overwrite`` was not given."""

    kind = "exists"


class PolicyError(EmdConvertError, PermissionError):
    """Refused by safety policy: external links, virtual datasets, pickles, budgets."""

    exit_code = 5
    kind = "policy"


class PluginError(EmdConvertError, RuntimeError):
    """The plugin set itself is broken (nothing installed, a bad entry point)."""

    exit_code = 70


class ValidationError(EmdConvertError, ValueError):
    """A file we just wrote failed the EMD validator: a bug, never published."""

    exit_code = 70
