"""The library facade: :func:`read`, :func:`write`, :func:`convert`.

Thin wrappers over :mod:`emdconvert.pipeline` (the one conversion path the CLI, batch
mode and the watch daemon use too).  Their keywords build a
:class:`~emdconvert.options.ConvertOptions`, so a bad value is a usage error before any
file is opened.  Every exception a reader or writer raises is turned into an
:class:`~emdconvert.errors.EmdConvertError` at one boundary, so callers see one kind of
error with a one-line reason and an exit code.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from emdconvert.budget import DEFAULT_MAX_RATIO
from emdconvert.completeness import check_with
from emdconvert.detect import choose_reader, choose_writer
from emdconvert.emd.provenance import conversion_comment
from emdconvert.model import EMDFile
from emdconvert.options import ConvertOptions
from emdconvert.pipeline import (
    ProgressCallback,
    Request,
    prepare,
    publish,
    read_model,
    source_path,
    write_options,
)
from emdconvert.preview.beside import run_with_preview
from emdconvert.registry import PluginSpec
from emdconvert.renamed import renamed
from emdconvert.sources import as_path


def read(
    path: str | Path,
    *,
    reader: PluginSpec | None = None,
    options: Mapping[str, Any] | None = None,
    max_bytes: int | None = None,
    max_ratio: float | None = DEFAULT_MAX_RATIO,
    follow_symlinks: bool = False,
    plugin: PluginSpec | None = None,
) -> EMDFile:
    """Read any supported file into the canonical model (data stay lazy).

    ``reader`` forces a format (as ``--from`` does): an installed plugin's name,
    ``"module:Class"``, or a plugin class or instance that need not be installed;
    otherwise the extension proposes and the file's content decides (``plugin`` is its
    deprecated former name).  ``options`` are
    format-specific (e.g. ``{"delimiter": ";", "decimal": ","}`` for CSV).  A truncated
    file, or one whose header declares more than ``max_bytes`` or more than
    ``max_ratio`` times its own size, fails here, when it is opened, not when its data
    are first read.  Use it as a context manager to close the files it holds open.

    Example::

        >>> import numpy as np, emdconvert
        >>> np.save("stack.npy", np.arange(24, dtype=np.uint16).reshape(2, 3, 4))
        >>> with emdconvert.read("stack.npy") as model:
        ...     data = model.datasets[0].data        # lazy: a memmap, nothing read yet
        ...     print(data.shape, data[1, 0, :2], [d.name for d in model.datasets[0].dims])
        (2, 3, 4) [12 13] ['z', 'y', 'x']
    """
    settings = ConvertOptions.parse(
        max_bytes=max_bytes,
        max_ratio=max_ratio,
        follow_symlinks=follow_symlinks,
        format_options=options,
    )
    src = source_path(path, follow_symlinks=follow_symlinks)
    chosen = choose_reader(src, renamed("read", "reader", reader, "plugin", plugin))
    settings.refuse_unhonoured(None, chosen)
    check_with(chosen, src)
    return read_model(chosen, src, settings)[0]


def write(
    model: EMDFile,
    path: str | Path,
    *,
    overwrite: bool = False,
    compression: str | None = None,
    axis_order: str = "x-first",
    threads: int | None = None,
    writer: PluginSpec | None = None,
    progress: ProgressCallback | None = None,
    options: Mapping[str, Any] | None = None,
    plugin: PluginSpec | None = None,
) -> Path:
    """Write *model* to *path* atomically (format from the extension or ``writer``: a
    name, ``"module:Class"``, a plugin class or an instance, as for :func:`read`;
    ``plugin`` is its deprecated former name).  An existing *path* is an
    :class:`~emdconvert.errors.OutputExistsError` unless ``overwrite=True``.

    ``compression`` is ``None``, ``"gzip[:level]"`` (readable everywhere),
    ``"zstd[:level]"`` or ``"bitshuffle-lz4"`` (readers need hdf5plugin);
    ``axis_order`` is ``"x-first"`` (the spec's layout, default) or ``"c"`` (numpy C
    order, ncempy's convention); ``threads`` copy and compress chunks in parallel
    (default: the CPU count, at most 8).  A provenance entry is appended to the file's
    ``comments``.  Returns the output path.

    Example::

        >>> import numpy as np, emdconvert
        >>> from emdconvert import Dim, EMDFile
        >>> frames = np.zeros((10, 64, 64), np.uint16)
        >>> model = EMDFile.from_array(frames, dims=[
        ...     Dim.uniform("time", size=10, scale=0.05, units="s"),
        ...     Dim.uniform("y", size=64, scale=0.02, units="nm"),
        ...     Dim.uniform("x", size=64, scale=0.02, units="nm")])
        >>> emdconvert.write(model, "frames.emd", compression="gzip")
        PosixPath('frames.emd')
        >>> emdconvert.write(model, "frames.emd")
        Traceback (most recent call last):
        emdconvert.errors.OutputExistsError: frames.emd: output exists (overwrite=True replaces it)
    """
    settings = ConvertOptions.parse(
        compression=compression, axis_order=axis_order, threads=threads, format_options=options
    )
    dst = as_path(path, "the output")
    chosen = choose_writer(dst, renamed("write", "writer", writer, "plugin", plugin))
    settings.refuse_unhonoured(chosen)

    def provenance() -> Any:
        return conversion_comment(
            reader="memory",
            reader_libraries={},
            writer=chosen.name,
            writer_libraries=chosen.library_versions(),
            source=None,
            options=settings.recorded(),
        )

    return publish(
        chosen,
        model,
        dst,
        overwrite=overwrite,
        options=write_options(dst, model, settings, progress),
        src=None,
        provenance=provenance,
    )


def convert(
    src: str | Path,
    dst: str | Path,
    *,
    overwrite: bool = False,
    reader: PluginSpec | None = None,
    writer: PluginSpec | None = None,
    compression: str | None = None,
    axis_order: str = "x-first",
    threads: int | None = None,
    progress: ProgressCallback | None = None,
    options: Mapping[str, Any] | None = None,
    max_bytes: int | None = None,
    max_ratio: float | None = DEFAULT_MAX_RATIO,
    follow_symlinks: bool = False,
    preview: bool = False,
    source_plugin: PluginSpec | None = None,
    target_plugin: PluginSpec | None = None,
) -> Path:
    """Convert *src* to *dst*: ``format -> EMDFile -> format``, published atomically.

    The source is only ever opened for reading.  Its SHA-256 is computed while the data
    stream and recorded, with tool and plugin versions and the options, in the output's
    provenance log.  ``reader``/``writer`` force the formats (``--from``/``--to``), each
    a name, ``"module:Class"``, a plugin class or an instance (``source_plugin``/
    ``target_plugin`` are their deprecated former names).
    ``options`` go to both the reader and the writer (format-specific, e.g. CSV
    ``delimiter``/``decimal``).  Before anything is written the source must be
    complete (as long as its header declares) and within the budgets: ``max_bytes``
    declared bytes at most (default: no limit), at most ``max_ratio`` declared bytes per
    source byte above 1 GiB (a decompression bomb; ``None`` disables), and no more than
    the output's file system has free (uncompressed output).  If the source changes
    while it is read, nothing is published.  ``preview=True`` also draws the output
    into a PNG beside it (``scan.emd`` -> ``scan.png``, see :func:`preview`; a picture
    that cannot be drawn is a logged warning).  Returns the output path.

    Example::

        >>> import numpy as np, emdconvert
        >>> np.save("scan.npy", np.ones((4, 5), np.float32))
        >>> emdconvert.convert("scan.npy", "scan.emd")
        PosixPath('scan.emd')
        >>> emdconvert.convert("scan.emd", "scan.tif", writer="tiff")   # and back out
        PosixPath('scan.tif')
        >>> import json
        >>> entry = json.loads(emdconvert.read("scan.emd").comments[-1].message)
        >>> entry["event"], entry["source"]["name"], len(entry["source"]["sha256"])
        ('convert', 'scan.npy', 64)
    """
    settings = ConvertOptions.parse(
        compression=compression,
        axis_order=axis_order,
        threads=threads,
        max_bytes=max_bytes,
        max_ratio=max_ratio,
        follow_symlinks=follow_symlinks,
        format_options=options,
        preview=preview,
    )
    request = Request(
        settings,
        overwrite,
        renamed("convert", "reader", reader, "source_plugin", source_plugin),
        renamed("convert", "writer", writer, "target_plugin", target_plugin),
    )
    return run_with_preview(prepare(src, dst, request), progress=progress)
