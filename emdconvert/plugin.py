"""The plugin contract every importer and exporter implements.

A plugin is a class advertised in the ``emdconvert.plugins`` entry-point group.  Facts
about the format are class constants, behaviour is methods (README, Writing a format
plugin).  Plugin modules must import their heavy libraries (h5py, rsciio, tifffile,
dask) *inside* methods, so that listing formats or sniffing a file costs no imports.

``sniff`` answers "is this mine?" and never raises; every other failure is an
:class:`~emdconvert.errors.EmdConvertError`.  ``write`` always gets a temporary path
that the core publishes atomically, so no plugin can leave a partial output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from emdconvert.errors import ValidationError
from emdconvert.model import EMDFile

#: ``(offset, bytes)``: the file has *bytes* at byte *offset*.
Magic = tuple[int, bytes]

#: How many bytes of a file detection reads once and hands to every ``sniff``.
HEAD_BYTES = 4096


@dataclass(frozen=True)
class DatasetInfo:
    """What a header says about one dataset, before any data is read."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]


@dataclass(frozen=True)
class FileInfo:
    """What a header says about a file: its datasets and library versions used."""

    datasets: tuple[DatasetInfo, ...]
    details: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class FormatPlugin(Protocol):
    """The contract; subclassing :class:`BasePlugin` is optional but convenient."""

    name: ClassVar[str]
    description: ClassVar[str]
    extensions: ClassVar[tuple[str, ...]]
    magic: ClassVar[tuple[Magic, ...]]
    priority: ClassVar[int]
    can_read: ClassVar[bool]
    can_write: ClassVar[bool]

    def sniff(self, path: Path, head: bytes) -> bool: ...
    def inspect(self, path: Path, *,
                options: Mapping[str, Any] | None = None) -> FileInfo: ...
    def read(self, path: Path, *, options: Mapping[str, Any] | None = None) -> EMDFile: ...
    def write(self, model: EMDFile, path: Path, *,
              options: Mapping[str, Any] | None = None) -> None: ...
    def verify(self, model: EMDFile, path: Path, *,
               options: Mapping[str, Any] | None = None) -> None: ...
    def library_versions(self) -> dict[str, str]: ...


class BasePlugin:
    """Defaults: magic-table sniffing, and ``NotImplementedError`` for absent abilities."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    extensions: ClassVar[tuple[str, ...]] = ()
    magic: ClassVar[tuple[Magic, ...]] = ()
    priority: ClassVar[int] = 50
    can_read: ClassVar[bool] = False
    can_write: ClassVar[bool] = False
    #: Reads a folder or glob of files as one stack (``sniff`` then gets the folder).
    reads_stacks: ClassVar[bool] = False
    #: ``read`` returns lazy arrays (False only for formats that must be parsed whole).
    lazy_reads: ClassVar[bool] = True
    #: ``--compression`` names ``write`` honours; the core refuses any other before a read,
    #: so a format without compression never writes an uncompressed file silently.
    compressions: ClassVar[tuple[str, ...]] = ()

    def sniff(self, path: Path, head: bytes) -> bool:
        """True when any entry of :attr:`magic` matches *head*."""
        return any(head[offset:offset + len(sig)] == sig for offset, sig in self.magic)

    def inspect(self, path: Path, *,
                options: Mapping[str, Any] | None = None) -> FileInfo:
        """Header-only description; the default reads the (lazy) model."""
        model = self.read(path, options=options)
        return FileInfo(tuple(DatasetInfo(d.name, d.shape, d.dtype)
                              for d in model.datasets))

    def read(self, path: Path, *, options: Mapping[str, Any] | None = None) -> EMDFile:
        msg = f"the {self.name} plugin cannot read"
        raise NotImplementedError(msg)

    def write(self, model: EMDFile, path: Path, *,
              options: Mapping[str, Any] | None = None) -> None:
        msg = f"the {self.name} plugin cannot write"
        raise NotImplementedError(msg)

    def check_complete(self, path: Path) -> None:
        """Raise :class:`~emdconvert.errors.IncompleteError` if *path* is shorter than
        its header declares (truncated, or still being written).

        Optional, and header-only: it runs before every conversion and on every file the
        watch daemon sees settle.  The default has nothing to check.
        """

    def verify(self, model: EMDFile, path: Path, *,
               options: Mapping[str, Any] | None = None) -> None:
        """Check a just-written file before it is published; raise to veto.

        The default reads it back and compares dataset shapes and dtypes with *model*.
        """
        if not self.can_read:
            return
        written = self.inspect(path, options=options).datasets
        wanted = [(d.shape, d.dtype) for d in model.datasets]
        found = [(d.shape, np.dtype(d.dtype)) for d in written]
        if wanted != found:
            msg = f"wrote {found}, expected {wanted}"
            raise ValidationError(f"written file failed verification: {msg}")

    def library_versions(self) -> dict[str, str]:
        """Versions of the libraries this plugin relies on, for provenance."""
        return {}


def package_version(distribution: str) -> str:
    """Installed version of *distribution*, or ``"unknown"``; cheap, imports nothing."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"
