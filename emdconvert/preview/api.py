"""``emdconvert.preview(src, dst)``: a PNG of any readable file, with a scale bar.

The input is read as a conversion reads it (same detection, completeness check, size
budgets and symlink policy; the source is only opened for reading), but only a bounded
subset of its data: at most ``max_read_bytes`` (256 MiB by default) from storage,
counted in the whole chunks or blocks a read touches, however large the file (see
:mod:`emdconvert.preview.sampling` and :mod:`emdconvert.preview.storage`).  The PNG is
published atomically, like every output (:func:`emdconvert.publish.atomic_output`),
after checking that it is a PNG of the size drawn: a failed preview leaves no file.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from emdconvert.boundary import guard_reads
from emdconvert.completeness import check_with
from emdconvert.detect import choose_reader
from emdconvert.errors import UsageError, ValidationError
from emdconvert.model import EMDFile
from emdconvert.options import ConvertOptions
from emdconvert.pipeline import read_model, refuse_source_target, source_path
from emdconvert.preview.figures import DRAW
from emdconvert.preview.kinds import Plan, choose_dataset, plan
from emdconvert.preview.sampling import DEFAULT_BUDGET, Reader
from emdconvert.preview.scalebar import ScaleBar
from emdconvert.publish import atomic_output, check_destination
from emdconvert.registry import PluginSpec
from emdconvert.renamed import renamed
from emdconvert.sources import as_path, is_pattern

#: Long edge of a preview, in pixels, unless asked otherwise; and the range allowed.
DEFAULT_SIZE = 1024
SIZES = range(64, 8193)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Preview:
    """What a preview drew: where, which kind of data, and its scale bars.

    *bars* holds one :class:`~emdconvert.preview.scalebar.ScaleBar` per calibrated
    image panel (two for 4D-STEM: the pattern's, in an inverse length, and the scan's);
    *frame* and *frames* are set for stacks; *bytes_read* is what was read from the
    source, counted in the storage blocks (HDF5 chunks, runs of a contiguous file) its
    reads touched; at most the budget, or one block when a block is larger.
    """

    path: Path
    kind: str
    dataset: str
    width: int
    height: int
    bars: tuple[ScaleBar, ...] = ()
    frame: int | None = None
    frames: int | None = None
    log_scale: bool = False
    bytes_read: int = 0

    @property
    def scale_bar(self) -> ScaleBar | None:
        """The first (for most kinds the only) scale bar; None when uncalibrated."""
        return self.bars[0] if self.bars else None


def default_output(src: Path) -> Path:
    """``scan.dm4`` -> ``scan.png`` beside it (a folder ``frames/`` -> ``frames.png``)."""
    if is_pattern(src):
        raise UsageError("give OUT.png for a glob of inputs", path=src)
    return src.with_suffix(".png")


def preview(
    src: str | Path | EMDFile,
    dst: str | Path | None = None,
    *,
    frame: int | None = None,
    size: int = DEFAULT_SIZE,
    dataset: str | int | None = None,
    overwrite: bool = False,
    reader: PluginSpec | None = None,
    max_read_bytes: int = DEFAULT_BUDGET,
    follow_symlinks: bool = False,
    plugin: PluginSpec | None = None,
) -> Preview:
    """Draw *src* (a file, or an :class:`EMDFile` already in memory) into the PNG *dst*.

    *dst* defaults to the input's name with ``.png`` (required for an ``EMDFile``) and is
    refused if it exists, unless *overwrite*.  *dataset* picks one by name or 0-based
    number (default: the first); *frame* a stack's frame (0-based; default the middle);
    *size* is the long edge in pixels (64-8192).  *reader* forces the input format as
    for :func:`emdconvert.read` (*plugin* is its deprecated former name).
    *max_read_bytes* bounds what is read from the source (whole chunks counted; see
    :mod:`emdconvert.preview.sampling`).

    Example::

        >>> import numpy as np, emdconvert
        >>> from emdconvert import Dim, EMDFile
        >>> image = np.random.default_rng(0).poisson(50, (256, 256)).astype(np.uint16)
        >>> axes = [Dim.uniform(n, size=256, scale=0.1, units="nm") for n in "yx"]
        >>> emdconvert.write(EMDFile.from_array(image, dims=axes), "image.emd")
        PosixPath('image.emd')
        >>> drawn = emdconvert.preview("image.emd", size=512)   # image.png
        >>> drawn.path, drawn.width, drawn.kind
        (PosixPath('image.png'), 512, 'image')
    """
    if size not in SIZES:
        raise UsageError(f"size {size}: a preview's long edge must be 64 to 8192 pixels")
    if max_read_bytes < 1:
        raise UsageError(f"max_read_bytes {max_read_bytes}: must be positive")
    if isinstance(src, EMDFile):
        if dst is None:
            raise UsageError("an in-memory model needs an output path")
        target = _png(as_path(dst, "the output"))
        check_destination(target, overwrite=overwrite)
        return _draw(src, target, frame, size, dataset, overwrite, max_read_bytes)
    settings = ConvertOptions.parse(follow_symlinks=follow_symlinks)
    source = source_path(src, follow_symlinks=follow_symlinks)
    target = _png(default_output(source) if dst is None else as_path(dst, "the output"))
    reader = choose_reader(source, renamed("preview", "reader", reader, "plugin", plugin))
    refuse_source_target(source, target, reader.extensions)
    check_with(reader, source)
    check_destination(target, overwrite=overwrite)
    model = guard_reads(
        read_model(reader, source, settings)[0], source, f"cannot read as {reader.name}"
    )
    with model:
        return _draw(model, target, frame, size, dataset, overwrite, max_read_bytes)


def _draw(
    model: EMDFile,
    target: Path,
    frame: int | None,
    size: int,
    dataset: str | int | None,
    overwrite: bool,
    budget: int,
) -> Preview:
    seen = plan(choose_dataset(model, dataset))
    chosen = _frame(seen, frame)
    reader = Reader(seen.data)
    drawing = DRAW[seen.kind](seen, reader, budget, size, chosen)
    size_drawn = (drawing.canvas.width, drawing.canvas.height)
    with atomic_output(target, overwrite=overwrite, check=_png_check(size_drawn)) as tmp:
        drawing.canvas.save(tmp)
    return Preview(
        target,
        seen.kind,
        seen.name,
        drawing.canvas.width,
        drawing.canvas.height,
        drawing.bars,
        chosen,
        seen.frames,
        drawing.log_scale,
        reader.bytes_read,
    )


def _frame(seen: Plan, frame: int | None) -> int | None:
    """The frame to draw: *frame* checked against the stack, or its middle one."""
    if seen.frames is None:
        if frame is not None:
            raise UsageError(f"frame {frame}: {seen.name!r} is not a stack (it is {seen.kind})")
        return None
    if frame is None:
        return seen.frames // 2
    if not 0 <= frame < seen.frames:
        raise UsageError(
            f"frame {frame} is out of range: {seen.name!r} has {seen.frames} frames "
            f"(0-{seen.frames - 1})"
        )
    return frame


def _png_check(size: tuple[int, int]) -> Callable[[Path], None]:
    """A check run before publishing: the file is a PNG of the size drawn."""

    def check(path: Path) -> None:
        with path.open("rb") as file:
            head = file.read(24)
        if head[:8] != PNG_SIGNATURE or struct.unpack(">II", head[16:24]) != size:
            raise ValidationError("the PNG written is not the picture drawn", path=path)

    return check


def _png(target: Path) -> Path:
    if target.suffix.lower() != ".png":
        raise UsageError("a preview is a PNG file: give OUT ending in .png", path=target)
    return target
