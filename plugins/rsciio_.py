"""Every other format RosettaSciIO reads (SER/EMI, MRC, Bruker BCF, MSA, ...), read-only.

The lowest-priority plugin: dedicated plugins (dm, tiff, emd, npy, csv) win whenever they
claim a file.  rsciio has no format sniffing of its own, so this plugin claims files by
extension (checking the content where that is cheap), then tries each rsciio reader
registered for that extension until one succeeds.  Axes and the original metadata come
through unchanged (:mod:`emdconvert.signals`).  Module name ends in ``_`` so it never
shadows ``rsciio``.

Readers are asked for a lazy read first.  About a dozen (MSA, Phenom, Renishaw, ...)
cannot read lazily; their files are read into memory instead when the file fits the
memory budget (:func:`emdconvert.budget.eager_limit`), and every dataset read that way carries
``emdconvert_read = "eager"`` on its data group, so a reader of the output can tell.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from emdconvert import budget
from emdconvert.boundary import missing_dependency
from emdconvert.errors import FormatError, MissingDependency, PolicyError, UnknownFormatError
from emdconvert.lazy import nbytes
from emdconvert.model import EMDFile
from emdconvert.plugin import BasePlugin, package_version
from emdconvert.signals import signals_to_model
from emdconvert.sources import FOLDER_FORMATS, expand

# rsciio 0.15's read-capable extensions that no dedicated plugin handles.  Listed here,
# not computed, so that loading the plugin class does not import rsciio.
RSCIIO_EXTENSIONS = (
    ".ser",
    ".emi",
    ".mrc",
    ".mrcz",
    ".ali",
    ".bcf",
    ".spx",
    ".msa",
    ".ems",
    ".mas",
    ".emsa",
    ".blo",
    ".unf",
    ".rpl",
    ".hspy",
    ".zspy",
    ".spd",
    ".spc",
    ".lsd",
    ".nc",
    ".mib",
    ".app5",
    ".dens",
    ".prz",
    ".sur",
    ".pro",
    ".tvf",
    ".wdf",
    ".tvips",
    ".asw",
    ".img",
    ".map",
    ".pts",
    ".eds",
    ".elid",
    ".de5",
    ".nxs",
    ".png",
    ".bmp",
    ".gif",
    ".jpg",
    ".jpeg",
    ".h5",
    ".hdf5",
    ".xml",
    ".sbc",
    ".sac",
    ".csv",
)


def _looks_like_mrc(path: Path, head: bytes) -> bool:
    """MRC headers have no reliable magic (older files leave ``MAP `` empty), so check
    that the declared grid and mode are plausible and fit in the file."""
    if len(head) < 1024:
        return False
    nx, ny, nz, mode = (
        int.from_bytes(head[i : i + 4], "little", signed=True) for i in (0, 4, 8, 12)
    )
    itemsize = {0: 1, 1: 2, 2: 4, 3: 4, 4: 8, 6: 2, 12: 2}.get(mode)
    if itemsize is None or min(nx, ny, nz) <= 0:
        return False
    extended = int.from_bytes(head[92:96], "little", signed=True)
    return 1024 + max(extended, 0) + nx * ny * nz * itemsize <= path.stat().st_size


def _looks_like_emi(path: Path, head: bytes) -> bool:
    """TIA EMI files start ``JK`` (an OLE-like container) -- except those whose header was
    zeroed; those are still read by rsciio, which needs only the ``<stem>_1.ser`` beside."""
    return head[:2] == b"JK" or path.with_name(f"{path.stem}_1.ser").is_file()


def _looks_like_hdf5(path: Path, head: bytes) -> bool:
    """HDF5 signature at offset 0 or at a user-block boundary (512, 1024, ... bytes)."""
    signature = b"\x89HDF\r\n\x1a\n"
    return any(head[at : at + 8] == signature for at in (0, 512, 1024, 2048))


def _looks_like_xml(path: Path, head: bytes) -> bool:
    """EMPAD and JobinYvon write XML; anything else with the extension is not theirs."""
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def instrument_log(head: bytes) -> str | None:
    """The rsciio reader whose log a CSV file is (``protochips``, ``impulse``), else None.

    Heating/biasing holders write CSV logs whose header rows rsciio's readers recognise
    (``Time, Notes, ...`` and ``TimeStamp, Experiment time, ...``); the same tests,
    applied here, let the strict CSV plugin decline them and this plugin claim them.
    """
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace").lstrip("\ufeff")
    columns = [cell.strip() for cell in first.strip().split(",")]
    if len(columns) < 3:
        return None
    if "Time" in columns and "Notes" in columns:
        return "protochips"
    if "TimeStamp" in columns:
        return "impulse"
    return None


_CONTENT_CHECKS = {
    ".ser": lambda path, head: head[:4] == b"II\x97\x01",  # TIA series, little-endian
    ".emi": _looks_like_emi,
    ".mrc": _looks_like_mrc,
    ".h5": _looks_like_hdf5,
    ".hdf5": _looks_like_hdf5,
    ".xml": _looks_like_xml,
    ".csv": lambda path, head: instrument_log(head) is not None,
}


def readers_for(suffix: str) -> list[dict[str, Any]]:
    """rsciio's plugin specs that read files with *suffix* (``.ser``)."""
    from rsciio import IO_PLUGINS

    wanted = suffix.lstrip(".").lower()
    return [
        spec for spec in IO_PLUGINS if wanted in (ext.lower() for ext in spec["file_extensions"])
    ]


#: rsciio readers whose lazy reading differs from the eager one ``hs.load`` gives: JEOL
#: spectrum images come back uint16 lazily but in their ``SI_dtype`` (uint8) eagerly.
#: Their lazy reading only sizes the eager one.
EAGER_FIRST = frozenset({"JEOL"})


def _read_lazily_else_eagerly(reader: Any, path: Path, name: str) -> tuple[list[Any], bool]:
    """rsciio's signals for *path*, and whether they had to be read into memory.

    Some readers refuse ``lazy=True`` (``NotImplementedError``), others take no such
    argument, and some fail only in their lazy path (the image reader's dask wrapping,
    zspy's zip store); each gets one eager attempt within the memory budget, as do the
    readers of :data:`EAGER_FIRST`.  When the eager attempt fails too, its error is the
    one reported.
    """
    try:
        signals = reader(str(path), lazy=True)
    except Exception:  # any lazy failure earns one eager attempt
        signals = None
    if signals is not None and name not in EAGER_FIRST:
        return signals, False
    declared = sum(nbytes(s["data"]) for s in signals or ())
    budget.fits_in_memory(
        max(sum(f.stat().st_size for f in expand(path)), declared),
        f"rsciio's {name} reader cannot read lazily, and the file",
        path,
    )
    return reader(str(path), lazy=False), True


class RsciioPlugin(BasePlugin):
    """Fallback reader for every format RosettaSciIO supports."""

    name: ClassVar[str] = "rsciio"
    description: ClassVar[str] = (
        "Any other RosettaSciIO format: SER/EMI, MRC, BCF, MSA, blockfile, ... (read)"
    )
    extensions: ClassVar[tuple[str, ...]] = RSCIIO_EXTENSIONS
    priority: ClassVar[int] = 0
    can_read: ClassVar[bool] = True

    def sniff(self, path: Path, head: bytes) -> bool:
        suffix = path.suffix.lower()
        if path.is_dir():  # a zarr directory store: the folder is the file
            return suffix in FOLDER_FORMATS and (path / ".zgroup").is_file()
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
        # A library one reader lacks is the fix only if no other reader looked at the
        # file and refused it: a damaged .mrc that the MRC reader refuses is bad input,
        # not "pip install mrcz"; a plain HDF5 file no reader takes, not "pip install
        # pyUSID".  The failures listed then still name the missing library.
        missing: MissingDependency | None = None
        refused = False
        for spec in specs:
            try:
                reader = importlib.import_module(spec["api"]).file_reader
                signals, eager = _read_lazily_else_eagerly(reader, path, spec["name"])
            except PolicyError:
                raise
            except Exception as exc:  # missing optional library or not this reader's file
                failures.append(f"{spec['name']}: {type(exc).__name__}: {exc}")
                lacking = missing_dependency(exc, path)
                missing = missing or lacking
                refused = refused or lacking is None
                continue
            # A reader given a file not its own may "succeed" with an empty array (MSA).
            if signals and all(math.prod(s["data"].shape) for s in signals):
                return signals_to_model(signals, {budget.READ_ATTR: "eager"} if eager else {})
            failures.append(f"{spec['name']}: no data")
            refused = True
        if missing is not None and not refused:
            raise missing
        raise FormatError("rsciio could not read it (" + "; ".join(failures) + ")", path=path)

    def library_versions(self) -> dict[str, str]:
        return {"rosettasciio": package_version("rosettasciio")}
