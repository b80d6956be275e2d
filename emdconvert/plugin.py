"""The plugin contract every importer and exporter implements.

A plugin is a class advertised in the ``emdconvert.plugins`` entry-point group, or
given at run time (``Registry.register``, ``read(path, reader=MyPlugin)``, ``--from
module:Class``).  Facts about the format are class constants, behaviour is methods, and
every optional ability is declared here with its default (README, Writing a format
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
from typing import Any, ClassVar, Protocol, cast, runtime_checkable

import numpy as np

from emdconvert.errors import PluginError, ValidationError
from emdconvert.model import Comment, EMDFile

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
    """The whole contract the core relies on: every member, optional abilities included.

    The core uses these members directly, never probing for them, so every plugin has
    all of them: subclass :class:`BasePlugin`, which declares every optional ability with
    its default, and override what your format does differently.  A plugin that does not
    subclass it must define every member itself; the registry checks this when it loads
    or registers the plugin (:func:`validate_plugin`) and refuses one that does not with
    a :class:`~emdconvert.errors.PluginError` naming what is missing.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    extensions: ClassVar[tuple[str, ...]]
    magic: ClassVar[tuple[Magic, ...]]
    priority: ClassVar[int]
    can_read: ClassVar[bool]
    can_write: ClassVar[bool]
    reads_stacks: ClassVar[bool]
    lazy_reads: ClassVar[bool]
    compressions: ClassVar[tuple[str, ...]]
    read_options: ClassVar[tuple[str, ...]]
    write_options: ClassVar[tuple[str, ...]]
    keeps_provenance: ClassVar[bool]

    def sniff(self, path: Path, head: bytes) -> bool: ...
    def inspect(self, path: Path, *, options: Mapping[str, Any] | None = None) -> FileInfo: ...
    def read(self, path: Path, *, options: Mapping[str, Any] | None = None) -> EMDFile: ...
    def write(
        self, model: EMDFile, path: Path, *, options: Mapping[str, Any] | None = None
    ) -> None: ...
    def check_complete(self, path: Path) -> None: ...
    def verify(
        self, model: EMDFile, path: Path, *, options: Mapping[str, Any] | None = None
    ) -> None: ...
    def append_comment(self, path: Path, comment: Comment) -> None: ...
    def library_versions(self) -> dict[str, str]: ...


class BasePlugin:
    """Every member of :class:`FormatPlugin`, with the defaults of a plain format.

    Set the facts (``name`` ... ``can_write``), implement ``read`` and/or ``write``, and
    override an optional ability only when the format has it; each says when below.
    """

    #: The format's name, as ``--from``/``--to`` take it; equal to the entry point's name.
    name: ClassVar[str] = ""
    #: One line for ``emdconvert formats``.
    description: ClassVar[str] = ""
    #: Lower-case suffixes with their dot; the first is the one batch mode writes.
    extensions: ClassVar[tuple[str, ...]] = ()
    #: Signatures the default :meth:`sniff` looks for.
    magic: ClassVar[tuple[Magic, ...]] = ()
    #: Among plugins claiming a file, the highest is asked first.
    priority: ClassVar[int] = 50
    can_read: ClassVar[bool] = False
    can_write: ClassVar[bool] = False
    #: Reads a folder or glob of files as one stack (``sniff`` then gets the folder).
    #: Set True only if ``read`` accepts a folder or a glob pattern.
    reads_stacks: ClassVar[bool] = False
    #: ``read`` returns lazy arrays.  Set False only for formats that must be parsed
    #: whole (text); the conformance suite then accepts in-memory arrays.
    lazy_reads: ClassVar[bool] = True
    #: ``--compression`` names ``write`` honours; the core refuses any other before a read,
    #: so a format without compression never writes an uncompressed file silently.
    #: List a name only if ``write`` applies it (``options["compression"]``).
    compressions: ClassVar[tuple[str, ...]] = ()
    #: Format options (``--option KEY=VALUE``, ``options={...}``) ``read`` understands.
    #: A key that neither the reader nor the writer of a conversion declares is refused
    #: (exit 2) before the input is read, so a typo is never silently ignored.
    read_options: ClassVar[tuple[str, ...]] = ()
    #: Options ``write`` honours: ``"axis_order"`` and ``"threads"`` (the conversion
    #: options besides compression) and its format-option keys.  Asking a writer for a
    #: non-default axis order or a thread count it does not declare is refused (exit 2).
    write_options: ClassVar[tuple[str, ...]] = ()
    #: The format stores the core's provenance log: set True together with overriding
    #: :meth:`append_comment`, which the core then calls on every file it writes.
    keeps_provenance: ClassVar[bool] = False

    def sniff(self, path: Path, head: bytes) -> bool:
        """True when any entry of :attr:`magic` matches *head*.

        Override when the format has no fixed signature or needs more than the head.
        """
        return any(head[offset : offset + len(sig)] == sig for offset, sig in self.magic)

    def inspect(self, path: Path, *, options: Mapping[str, Any] | None = None) -> FileInfo:
        """Header-only description; the default reads the (lazy) model.

        Override when ``read`` is costly and the header alone gives shapes and dtypes.
        """
        model = self.read(path, options=options)
        return FileInfo(tuple(DatasetInfo(d.name, d.shape, d.dtype) for d in model.datasets))

    def read(self, path: Path, *, options: Mapping[str, Any] | None = None) -> EMDFile:
        """The file as the canonical model, data lazy; implement when ``can_read``."""
        msg = f"the {self.name} plugin cannot read"
        raise NotImplementedError(msg)

    def write(
        self, model: EMDFile, path: Path, *, options: Mapping[str, Any] | None = None
    ) -> None:
        """Write *model* to the temporary *path*; implement when ``can_write``."""
        msg = f"the {self.name} plugin cannot write"
        raise NotImplementedError(msg)

    def check_complete(self, path: Path) -> None:
        """Raise :class:`~emdconvert.errors.IncompleteError` if *path* is shorter than
        its header declares (truncated, or still being written).

        Header-only: it runs before every conversion and on every file the watch daemon
        sees settle.  The default has nothing to check; override when the header says
        how long the file is (or how many frames it holds).
        """

    def verify(
        self, model: EMDFile, path: Path, *, options: Mapping[str, Any] | None = None
    ) -> None:
        """Check a just-written file before it is published; raise to veto.

        The default reads it back and compares dataset shapes and dtypes with *model*;
        override to check more (the data, the layout) or less (a format that cannot
        be read back).
        """
        if not self.can_read:
            return
        written = self.inspect(path, options=options).datasets
        wanted = [(d.shape, d.dtype) for d in model.datasets]
        found = [(d.shape, np.dtype(d.dtype)) for d in written]
        if wanted != found:
            msg = f"wrote {found}, expected {wanted}"
            raise ValidationError(f"written file failed verification: {msg}")

    def append_comment(self, path: Path, comment: Comment) -> None:
        """Append *comment* to the provenance log of the just-written *path*.

        Called only when :attr:`keeps_provenance` is True; override the two together.
        """
        msg = f"the {self.name} plugin keeps no provenance log"
        raise NotImplementedError(msg)

    def library_versions(self) -> dict[str, str]:
        """Versions of the libraries this plugin relies on, for provenance.

        Override to name them (:func:`package_version` is cheap and imports nothing).
        """
        return {}


#: The data members of the contract and the type each must have.
_FACTS: dict[str, type] = {
    "name": str,
    "description": str,
    "extensions": tuple,
    "magic": tuple,
    "priority": int,
    "can_read": bool,
    "can_write": bool,
    "reads_stacks": bool,
    "lazy_reads": bool,
    "compressions": tuple,
    "read_options": tuple,
    "write_options": tuple,
    "keeps_provenance": bool,
}
#: The methods of the contract.
_METHODS = (
    "sniff",
    "inspect",
    "read",
    "write",
    "check_complete",
    "verify",
    "append_comment",
    "library_versions",
)
#: Every member of :class:`FormatPlugin`, in the order an error lists them.
CONTRACT = (*_FACTS, *_METHODS)


def validate_plugin(plugin: object, origin: str = "") -> FormatPlugin:
    """*plugin* as a :class:`FormatPlugin` if it has the whole contract, well typed.

    Otherwise a :class:`~emdconvert.errors.PluginError` that names the plugin (and
    *origin*, where it came from) and every member that is missing or mistyped.  The
    registry runs this on every plugin it loads or is given, so the core can use every
    member directly.
    """
    label = f"{type(plugin).__module__}:{type(plugin).__qualname__}"
    where = f" from {origin}" if origin else ""
    missing = [member for member in CONTRACT if not hasattr(plugin, member)]
    if missing:
        raise PluginError(
            f"plugin {label}{where} is malformed: missing {', '.join(missing)} (subclass "
            "emdconvert.plugin.BasePlugin for the defaults of the optional ones)"
        )
    wrong = [
        f"{member} must be a {kind.__name__}, not {type(getattr(plugin, member)).__name__}"
        for member, kind in _FACTS.items()
        if not isinstance(getattr(plugin, member), kind)
        or (kind is int and isinstance(getattr(plugin, member), bool))
    ]
    wrong += [
        f"{member} must be a method" for member in _METHODS if not callable(getattr(plugin, member))
    ]
    if not wrong and not plugin.name:  # type: ignore[attr-defined]
        wrong.append("name must not be empty")
    if not wrong:
        wrong += [
            f"extensions must be strings, not {ext!r}"
            for ext in plugin.extensions  # type: ignore[attr-defined]
            if not isinstance(ext, str)
        ]
        wrong += [
            f"{member} must be strings, not {name!r}"
            for member in ("compressions", "read_options", "write_options")
            for name in getattr(plugin, member)
            if not isinstance(name, str)
        ]
    if wrong:
        raise PluginError(f"plugin {label}{where} is malformed: {'; '.join(wrong)}")
    return cast(FormatPlugin, plugin)


def package_version(distribution: str) -> str:
    """Installed version of *distribution*, or ``"unknown"``; cheap, imports nothing."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"
