"""NumPy ``.npy`` and ``.npz`` read and write.

Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html.
Reading parses the header only (never with pickles: object arrays are refused) and
returns a :class:`~emdconvert.lazy.RawFileArray` over the payload, so a 2 GiB ``.npy``
streams in bounded memory.  The declared size is checked against the file size before
anything is read.  ``.npz`` members stored uncompressed (``np.savez``) are read in place
the same way; compressed members (``np.savez_compressed``) must be inflated into memory.
Every member's ZIP CRC-32 is checked (see
:class:`~emdconvert.plugins.npy.members.StoredMember` for how without reading a large
member twice), and members are opened by their directory entry, never by name, so two
members that share a name each keep their own data.
A ``.npy`` holds one array and nothing else, so dims and metadata are not kept; ``.npz``
writes each dataset as its own member.

Modules: ``header`` (the ``.npy`` header and a ``.npy`` file's lazy array), ``members``
(the arrays over ``.npz`` members and their CRC checks), ``npz`` (an archive's members
read as datasets), ``writer`` (``.npy``/``.npz`` output).  :class:`NPYPlugin`, the
contract's shell dispatching to them, is defined here, so that its ``module:Class``
label (provenance, the registry) stays ``emdconvert.plugins.npy:NPYPlugin``, the entry
point.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from emdconvert.model import Dataset, EMDFile
from emdconvert.plugin import BasePlugin, package_version
from emdconvert.plugins.npy.header import NPY_MAGIC, npy_header, read_npy
from emdconvert.plugins.npy.members import ZIP_MAGIC
from emdconvert.plugins.npy.npz import npz_members, read_npz
from emdconvert.plugins.npy.writer import write_npy


class NPYPlugin(BasePlugin):
    """NumPy arrays: ``.npy`` (one array) and ``.npz`` (one array per member)."""

    name: ClassVar[str] = "npy"
    description: ClassVar[str] = "NumPy .npy / .npz arrays (no pickles)"
    extensions: ClassVar[tuple[str, ...]] = (".npy", ".npz")
    magic: ClassVar[tuple[tuple[int, bytes], ...]] = ((0, NPY_MAGIC),)
    priority: ClassVar[int] = 60
    can_read: ClassVar[bool] = True
    can_write: ClassVar[bool] = True

    def sniff(self, path: Path, head: bytes) -> bool:
        if super().sniff(path, head):
            return True
        if head[:4] != ZIP_MAGIC:
            return False
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError, ValueError):
            return False
        return bool(names) and all(n.endswith(".npy") for n in names)

    def read(self, path: Path, *, options: Mapping[str, Any] | None = None) -> EMDFile:
        with open(path, "rb") as handle:
            head = handle.read(len(NPY_MAGIC))
        if head == NPY_MAGIC:
            return EMDFile((Dataset(path.stem, read_npy(path)),))
        return EMDFile(read_npz(path))

    def check_complete(self, path: Path) -> None:
        """Every header's declared payload is present (a ``.npz``'s directory too)."""
        with open(path, "rb") as handle:
            head = handle.read(len(NPY_MAGIC))
        if head == NPY_MAGIC:
            npy_header(path)
        else:
            for _ in npz_members(path):
                pass

    def write(
        self, model: EMDFile, path: Path, *, options: Mapping[str, Any] | None = None
    ) -> None:
        write_npy(model, path, options)

    def library_versions(self) -> dict[str, str]:
        return {"numpy": package_version("numpy")}
