"""Every other format RosettaSciIO reads (SER/EMI, MRC, Bruker BCF, MSA, ...), read-only.

The lowest-priority plugin: dedicated plugins (dm, tiff, emd, npy, csv) win whenever they
claim a file.  rsciio has no format sniffing of its own, so this plugin claims files by
extension only, then tries each rsciio reader registered for that extension until one
succeeds.  Axes and the original metadata come through unchanged
(:mod:`emdconvert.signals`).  Module name ends in ``_`` so it never shadows ``rsciio``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from emdconvert.errors import FormatError, UnknownFormatError
from emdconvert.model import EMDFile
from emdconvert.plugin import BasePlugin, package_version
from emdconvert.signals import signals_to_model

# rsciio 0.15's read-capable extensions that no dedicated plugin handles.  Listed here,
# not computed, so that loading the plugin class does not import rsciio.
RSCIIO_EXTENSIONS = (
    ".ser", ".emi", ".mrc", ".mrcz", ".ali", ".bcf", ".spx", ".msa", ".ems", ".mas",
    ".emsa", ".blo", ".unf", ".rpl", ".hspy", ".zspy", ".spd", ".spc", ".lsd", ".nc",
    ".mib", ".app5", ".dens", ".prz", ".sur", ".pro", ".tvf", ".wdf", ".tvips", ".asw",
    ".img", ".map", ".pts", ".eds", ".elid", ".de5", ".nxs", ".png", ".bmp", ".gif",
    ".jpg", ".jpeg",
)


def _looks_like_mrc(path: Path, head: bytes) -> bool:
    """MRC headers have no reliable magic (older files leave ``MAP `` empty), so check
    that the declared grid and mode are plausible and fit in the file."""
    if len(head) < 1024:
        return False
    nx, ny, nz, mode = (int.from_bytes(head[i:i + 4], "little", signed=True)
                        for i in (0, 4, 8, 12))
    itemsize = {0: 1, 1: 2, 2: 4, 3: 4, 4: 8, 6: 2, 12: 2}.get(mode)
    if itemsize is None or min(nx, ny, nz) <= 0:
        return False
    extended = int.from_bytes(head[92:96], "little", signed=True)
    return 1024 + max(extended, 0) + nx * ny * nz * itemsize <= path.stat().st_size


_CONTENT_CHECKS = {
    ".ser": lambda path, head: head[:4] == b"II\x97\x01",  # TIA series, little-endian
    ".emi": lambda path, head: head[:2] == b"JK",
    ".mrc": _looks_like_mrc,
}


def readers_for(suffix: str) -> list[dict[str, Any]]:
    """rsciio's plugin specs that read files with *suffix* (``.ser``)."""
    from rsciio import IO_PLUGINS

    wanted = suffix.lstrip(".").lower()
    return [spec for spec in IO_PLUGINS
            if wanted in (ext.lower() for ext in spec["file_extensions"])]


class RsciioPlugin(BasePlugin):
    """Fallback reader for every format RosettaSciIO supports."""

    name: ClassVar[str] = "rsciio"
    description: ClassVar[str] = ("Any other RosettaSciIO format: SER/EMI, MRC, BCF, "
                                  "MSA, blockfile, ... (read)")
    extensions: ClassVar[tuple[str, ...]] = RSCIIO_EXTENSIONS
    priority: ClassVar[int] = 0
    can_read: ClassVar[bool] = True

    def sniff(self, path: Path, head: bytes) -> bool:
        suffix = path.suffix.lower()
        if not (path.is_file() and suffix in self.extensions and head):
            return False
        check = _CONTENT_CHECKS.get(suffix)
        return check(path, head) if check is not None else True

    def read(self, path: Path, *, options: Mapping[str, Any] | None = None) -> EMDFile:
        import importlib

        specs = readers_for(path.suffix)
        if not specs:
            raise UnknownFormatError(f"rsciio has no reader for {path.suffix!r}", path=path)
        failures = []
        for spec in specs:
            try:
                reader = importlib.import_module(spec["api"]).file_reader
                try:
                    signals = reader(str(path), lazy=True)
                except TypeError:  # a reader without lazy support
                    signals = reader(str(path))
            except Exception as exc:  # missing optional library or not this reader's file
                failures.append(f"{spec['name']}: {type(exc).__name__}: {exc}")
                continue
            if signals:
                return signals_to_model(signals)
            failures.append(f"{spec['name']}: no data")
        raise FormatError("rsciio could not read it (" + "; ".join(failures) + ")", path=path)

    def library_versions(self) -> dict[str, str]:
        return {"rosettasciio": package_version("rosettasciio")}
