"""The DM plugin class: registration, the completeness check and the model of a read.

The plugin is the shell the registry loads (``emdconvert.plugins.dm:DMPlugin``); the
header, image reading and tag mapping it composes live in the sibling modules, which
never import it.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from emdconvert.errors import FormatError, IncompleteError, ValidationError
from emdconvert.model import AttrValue, EMDFile
from emdconvert.plugin import BasePlugin, package_version
from emdconvert.plugins.dm.header import declared_size
from emdconvert.plugins.dm.images import read_signals
from emdconvert.plugins.dm.metadata import (
    IMAGE_TAGS,
    MICROSCOPE_RULES,
    SAMPLE_RULES,
    USER_RULES,
    lookup,
    map_tags,
)
from emdconvert.plugins.dm.writer import read_back_shape, write_dm
from emdconvert.signals import signal_to_dataset


class DMPlugin(BasePlugin):
    """Gatan DigitalMicrograph ``.dm3`` / ``.dm4``: read through rsciio, written as a GMS
    image document (:mod:`~emdconvert.plugins.dm.writer`)."""

    name: ClassVar[str] = "dm"
    description: ClassVar[str] = "Gatan DigitalMicrograph DM3/DM4 (read via rsciio, write)"
    #: .dm4 first: batch outputs (`--to dm`) get the version without the 4 GB limit.
    extensions: ClassVar[tuple[str, ...]] = (".dm4", ".dm3")
    magic: ClassVar[tuple[tuple[int, bytes], ...]] = ((0, b"\0\0\0\x03"), (0, b"\0\0\0\x04"))
    priority: ClassVar[int] = 70
    can_read: ClassVar[bool] = True
    can_write: ClassVar[bool] = True

    def check_complete(self, path: Path) -> None:
        """The file is at least as long as its header declares, and the header is
        sound (no rsciio import)."""
        with open(path, "rb") as handle:
            head = handle.read(16)
        size = path.stat().st_size
        declared, allowed = declared_size(head, size)
        # Longer is tolerated (trailing bytes lose nothing); shorter than the largest
        # layout and not exactly another is a cut file.
        if size - declared not in allowed and size < declared + max(allowed):
            raise IncompleteError(
                f"incomplete: {size} bytes, but the DM header declares "
                f"{declared + max(allowed)} ({declared + max(allowed) - size} missing: "
                "truncated, or still being written)"
            )

    def read(self, path: Path, *, options: Mapping[str, Any] | None = None) -> EMDFile:
        from rsciio import exceptions as rsciio_errors

        # What rsciio's tag parser raises on damaged tags (README, Safety rules R7): a
        # zero-filled tail gives KeyError('0'), a cut one struct.error.
        dm_errors = (
            rsciio_errors.ByteOrderError,
            rsciio_errors.DM3FileVersionError,
            rsciio_errors.DM3TagError,
            rsciio_errors.DM3DataTypeError,
            rsciio_errors.DM3TagTypeError,
            rsciio_errors.DM3TagIDError,
            KeyError,
            IndexError,
            struct.error,
            UnicodeDecodeError,
        )
        try:
            signals = read_signals(path)
        except dm_errors as exc:
            raise FormatError(
                f"corrupt DM tag structure ({type(exc).__name__}: {exc})", path=path
            ) from exc
        if not signals:
            raise FormatError("the file holds no images", path=path)
        datasets = []
        microscope: dict[str, AttrValue] = {}
        sample: dict[str, AttrValue] = {}
        user: dict[str, AttrValue] = {}
        for index, signal in enumerate(signals):
            datasets.append(signal_to_dataset(signal, f"image_{index}"))
            tags = lookup(signal.get("original_metadata", {}), ".".join(IMAGE_TAGS)) or {}
            # The first image's values win; later images only add what is missing.
            for target, rules in (
                (microscope, MICROSCOPE_RULES),
                (sample, SAMPLE_RULES),
                (user, USER_RULES),
            ):
                for key, value in map_tags(tags, rules).items():
                    target.setdefault(key, value)
        return EMDFile(tuple(datasets), microscope, sample, user)

    def write(
        self, model: EMDFile, path: Path, *, options: Mapping[str, Any] | None = None
    ) -> None:
        write_dm(model, path, options)

    def verify(
        self, model: EMDFile, path: Path, *, options: Mapping[str, Any] | None = None
    ) -> None:
        """The written file reads back with the shapes and dtypes the reader gives a DM
        image of the model (length-1 axes dropped, RGB as four channels)."""
        found = [(d.shape, d.dtype) for d in self.inspect(path, options=options).datasets]
        wanted = [(read_back_shape(d), d.dtype) for d in model.datasets]
        if found != wanted:
            raise ValidationError(
                f"written file failed verification: wrote {found}, expected {wanted}"
            )

    def library_versions(self) -> dict[str, str]:
        return {"rosettasciio": package_version("rosettasciio")}
