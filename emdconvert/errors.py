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
    #: A short word for the class of failure (README, Safety rules R8), for logs, the
    #: watch daemon's ledger and quarantine reports; the reason says the details.
    kind: str = "internal"

    def __init__(
        self, reason: str, *, path: str | Path | None = None, kind: str | None = None
    ) -> None:
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


#: The distribution ``pip install`` needs for a module emdconvert's readers and writers
#: import, where the names differ or the module is an optional dependency.
_DISTRIBUTIONS = {
    "imagecodecs": "imagecodecs",
    "hdf5plugin": "hdf5plugin",
    "rsciio": "rosettasciio",
    "sparse": "sparse",
    "zarr": "zarr",
    "numba": "numba",
    "skimage": "scikit-image",
    "tifffile": "tifffile",
    "ncempy": "ncempy",
    "h5py": "h5py",
    "dask": "dask",
    "numcodecs": "numcodecs",
    "PIL": "pillow",
    "yaml": "pyyaml",
    "sklearn": "scikit-learn",
    "cv2": "opencv-python",
}


def distribution_for(module: str) -> str:
    """The ``pip install`` name for importable *module* (``rsciio.zspy`` -> rosettasciio)."""
    top = module.split(".", 1)[0]
    return _DISTRIBUTIONS.get(top, top)


class MissingDependency(EnvironmentProblem):
    """A Python package a reader or writer needs is not installed (or not importable).

    The input may well be fine: installing the package fixes it, so this is the
    machine's problem (exit 4), and the watch daemon retries the file after back-off
    instead of quarantining it.  *module* is the import name (None when the library did
    not say which); *detail* what the library said; *upgrade* for a package that is
    installed but cannot be imported (too old, a broken build).
    """

    kind = "missing-dependency"

    def __init__(
        self,
        module: str | None,
        *,
        path: str | Path | None = None,
        detail: str = "",
        upgrade: bool = False,
    ) -> None:
        self.module = module
        self.distribution = None if module is None else distribution_for(module)
        said = f" ({detail})" if detail else ""
        if module is None or self.distribution is None:
            reason = f"a Python package it needs is not installed{said}"
        else:
            package = "" if module == self.distribution else f" (package {self.distribution})"
            state = "cannot be imported or is too old" if upgrade else "is not installed"
            command = "pip install --upgrade" if upgrade else "pip install"
            reason = (
                f"the Python module {module!r}{package} {state}{said}: "
                f"{command} {self.distribution}"
            )
        super().__init__(reason, path=path)


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
