"""Compression choices for EMD data: what ``--compression`` accepts and means.

``gzip`` (deflate) is the default choice because every HDF5 reader opens it without
plugins; emdconvert compresses its chunks in worker threads with zlib-ng (a maintained,
SIMD-accelerated zlib: 2-3x the speed of the stdlib's zlib, the same standard zlib
stream, which HDF5's deflate filter decodes) and stores them with direct chunk writes.
zlib-ng's level 1 is its "quick" strategy: about three times zlib's level-1 speed for a
visibly larger file; level 2 matches zlib's level-1 size at twice its speed.

``zstd`` and ``bitshuffle-lz4`` come from hdf5plugin and are opt-in: the
reading side needs the filter too (plain h5py, rsciio and ncempy without hdf5plugin
cannot read them), so using one logs a warning and the choice is recorded in provenance.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emdconvert.errors import MissingDependency, UsageError

log = logging.getLogger(__name__)

_LEVELS = {"gzip": (0, 9, 4), "zstd": (1, 22, 3)}
NAMES = ("none", "gzip", "zstd", "bitshuffle-lz4")


@dataclass(frozen=True)
class Compression:
    """A parsed ``--compression`` value."""

    name: str
    level: int | None = None

    @property
    def spec(self) -> str:
        """The value written back: ``"gzip:4"``, ``"zstd:3"``, ``"bitshuffle-lz4"``."""
        return self.name if self.level is None else f"{self.name}:{self.level}"

    @property
    def needs_plugin(self) -> bool:
        """True when readers need an HDF5 filter plugin to decompress it."""
        return self.name != "gzip"

    def chunk_encoder(self) -> Callable[[Any], bytes] | None:
        """How worker threads turn a chunk into its stored bytes for a direct chunk write.

        ``None`` for the plugin filters: their chunks go through h5py's filter pipeline,
        so the bytes on disk are exactly what the plugin's own decoder expects.
        """
        if self.name == "gzip":
            from zlib_ng import zlib_ng

            level = _LEVELS["gzip"][2] if self.level is None else self.level
            return functools.partial(zlib_ng.compress, level=level)
        return None

    def dataset_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``h5py.Group.create_dataset``."""
        if self.name == "gzip":
            return {"compression": "gzip", "compression_opts": self.level}
        import hdf5plugin

        if self.name == "zstd":
            return dict(hdf5plugin.Zstd(clevel=self.level or 3))
        return dict(hdf5plugin.Bitshuffle(cname="lz4"))


def parse(spec: str | None) -> Compression | None:
    """``None``/``"none"`` -> None; ``"gzip"``, ``"gzip:6"``, ``"zstd:9"``, ``"bitshuffle-lz4"``."""
    if spec is None or spec in ("", "none"):
        return None
    name, colon, level_text = spec.partition(":")
    if name not in NAMES:
        raise UsageError(
            "unknown compression; choose none, gzip[:0-9], zstd[:1-22], bitshuffle-lz4"
        )
    if name == "none":
        raise UsageError("none takes no level")
    if name == "bitshuffle-lz4":
        if colon:
            raise UsageError("bitshuffle-lz4 takes no level")
        return _with_plugin(Compression(name))
    low, high, default = _LEVELS[name]
    if not colon:
        level = default
    elif level_text.isdigit() and low <= int(level_text) <= high:
        level = int(level_text)
    else:
        raise UsageError(f"{name} level must be {low}-{high}")
    result = Compression(name, level)
    return _with_plugin(result) if result.needs_plugin else result


def _with_plugin(choice: Compression) -> Compression:
    try:
        import hdf5plugin  # noqa: F401
    except ImportError:
        raise UsageError(
            f"{choice.name} compression needs hdf5plugin: pip install hdf5plugin"
        ) from None
    return choice


def warn_readers(choice: Compression | None) -> None:
    """Say once, where the options are checked, that readers need hdf5plugin too."""
    if choice is not None and choice.needs_plugin:
        log.warning(
            "%s-compressed data need hdf5plugin on the reading side; plain h5py, "
            "rsciio and ncempy without it cannot read them (use gzip for "
            "universal files)",
            choice.name,
        )


@functools.cache
def known_plugin_filters() -> frozenset[int]:
    """HDF5 filter ids hdf5plugin provides (none when it is not installed).

    Importing hdf5plugin also registers its filters, so files using them become
    readable in this process.
    """
    try:
        import hdf5plugin
    except ImportError:
        return frozenset()
    return frozenset(int(code) for code in hdf5plugin.FILTERS.values())


#: The HDF5 filters hdf5plugin provides (hdf5plugin 7.1's ``FILTERS``), known without
#: it: a file using one, read where hdf5plugin is missing (or too old to have it), needs
#: ``pip install hdf5plugin`` (exit 4); a filter no one registers stays refused (exit 5).
HDF5PLUGIN_FILTERS = {
    307: "bzip2",
    32001: "blosc",
    32004: "lz4",
    32008: "bitshuffle",
    32013: "zfp",
    32015: "zstd",
    32017: "sz",
    32018: "fcidecomp",
    32024: "sz3",
    32026: "blosc2",
    32028: "sperr",
    32033: "htj2k",
}
_UNKNOWN_FILTER = re.compile(r"^(.*): unknown filter ([0-9]+)$")


def plugin_filter(problem: str) -> tuple[str, int] | None:
    """``(dataset, filter id)`` when *problem* is refused_features' "unknown filter" for
    a filter hdf5plugin provides, else None."""
    found = _UNKNOWN_FILTER.match(problem)
    if found is None or int(found[2]) not in HDF5PLUGIN_FILTERS:
        return None
    return found[1], int(found[2])


def missing_filter_plugin(problem: str, path: Path) -> MissingDependency:
    """hdf5plugin is not installed (or cannot be imported, or lacks the filter)."""
    where, code = plugin_filter(problem) or ("", 0)
    detail = f"for HDF5 filter {code} ({HDF5PLUGIN_FILTERS.get(code)}) in {where}"
    try:
        import hdf5plugin  # noqa: F401
    except ImportError as exc:
        return MissingDependency(
            "hdf5plugin", path=path, detail=detail, upgrade=not isinstance(exc, ModuleNotFoundError)
        )
    return MissingDependency("hdf5plugin", path=path, detail=detail, upgrade=True)
