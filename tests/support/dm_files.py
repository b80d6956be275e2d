"""DM3/DM4 test inputs: written by nionswift-io, patched or byte-swapped tag by tag.

No DM file a test reads comes from the code under test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_dm(path: Path, data: np.ndarray, version: int) -> None:
    """Write *data* with nionswift-io's DM writer (independent of rsciio and of us).

    Tests and benchmarks make DM inputs this way because no DM file should come from
    the code under test.  *data* may be a read-only memmap: the writer streams it.
    """
    from nion.data import DataAndMetadata
    from nionswift_plugin.DM_IO import dm3_image_utils

    # 3-D: a sequence of images (nionswift's default would be a spectrum image);
    # 4-D: a 2-D scan of 2-D diffraction patterns.
    descriptor = {
        3: DataAndMetadata.DataDescriptor(True, 0, 2),
        4: DataAndMetadata.DataDescriptor(False, 2, 2),
    }.get(data.ndim)
    xdata = DataAndMetadata.new_data_and_metadata(data, data_descriptor=descriptor)
    with open(path, "wb") as handle:
        dm3_image_utils.save_image(xdata, handle, version)


#: Bytes per element of the DM tag types that hold numbers (DM3/DM4 format description).
_DM_ITEMSIZE = {2: 2, 3: 4, 4: 2, 5: 4, 6: 4, 7: 8, 8: 1, 9: 1, 10: 1, 11: 8, 12: 8}


def dm_tag_values(path: str | Path) -> list[tuple[tuple[str, ...], int, int, int]]:
    """``(tag path, offset, itemsize, count)`` of every value in a DM3/DM4 tag directory.

    A walker written from the format description, independent of rsciio's parser and
    of ours, so DM tests can patch one value (a ``Dimensions`` entry, the ``DataType``)
    or byte-swap them all (a big-endian twin) and judge the result with rsciio.  Paths
    name unnamed entries by their index (``ImageList/1/ImageData/Dimensions/0``); a
    struct or array of mixed element widths yields one entry per run of equal widths.
    """
    raw = Path(path).read_bytes()
    word = 8 if int.from_bytes(raw[:4], "big") == 4 else 4
    values: list[tuple[tuple[str, ...], int, int, int]] = []

    def number(at: int) -> int:
        return int.from_bytes(raw[at : at + word], "big")

    def layout(info: list[int], i: int) -> tuple[list[tuple[int, int]], int]:
        """Runs of (itemsize, count) of one value of the type starting at info[i]."""
        kind = info[i]
        if kind == 18:  # string: 1-byte characters
            return [(1, info[i + 1])], i + 2
        if kind == 15:  # struct: name length, field count, then (name length, type) pairs
            fields = info[i + 4 : i + 3 + 2 * info[i + 2] : 2]
            return [(_DM_ITEMSIZE[f], 1) for f in fields], i + 3 + 2 * info[i + 2]
        if kind == 20:  # array: element type, then length
            runs, j = layout(info, i + 1)
            runs = merged(runs)
            return (
                [(runs[0][0], runs[0][1] * info[j])] if len(runs) == 1 else runs * info[j]
            ), j + 1
        return [(_DM_ITEMSIZE[kind], 1)], i + 1

    def merged(runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for size, count in runs:
            out[-1:] = (
                [(size, out[-1][1] + count)]
                if out and out[-1][0] == size
                else [*out[-1:], (size, count)]
            )
        return out

    def group(at: int, prefix: tuple[str, ...]) -> int:
        count, at = number(at + 2), at + 2 + word
        for index in range(count):
            length = int.from_bytes(raw[at + 1 : at + 3], "big")
            name = raw[at + 3 : at + 3 + length].decode("latin-1") or str(index)
            body = at + 3 + length + (8 if word == 8 else 0)
            at = group(body, (*prefix, name)) if raw[at] == 20 else tag(body, (*prefix, name))
        return at

    def tag(at: int, name: tuple[str, ...]) -> int:
        info = [number(at + 4 + word * (1 + k)) for k in range(number(at + 4))]
        at += 4 + word * (1 + len(info))
        for size, count in merged(layout(info, 0)[0]):
            values.append((name, at, size, count))
            at += size * count
        return at

    group(4 + word + 4, ())
    return values


def dm_patch(source: str | Path, target: str | Path, changes: dict[str, int]) -> None:
    """Copy a little-endian DM file, replacing tag values of its last image.

    *changes* maps a tag path below the image (``"ImageData/Dimensions/0"``) to the new
    integer, stored in the tag's width (wrapping, so ``-1`` is all ones).  The last
    ``ImageList`` entry is the image itself in DigitalMicrograph files (thumbnails come
    first) and the only one in nionswift-io's.
    """
    values = dm_tag_values(source)
    last = max(path[1] for path, *_ in values if path[0] == "ImageList")
    raw = bytearray(Path(source).read_bytes())
    for name, value in changes.items():
        wanted = ("ImageList", last, *name.split("/"))
        offset, size = next((o, s) for path, o, s, _ in values if path == wanted)
        raw[offset : offset + size] = (value % 256**size).to_bytes(size, "little")
    Path(target).write_bytes(raw)


def dm_big_endian(source: str | Path, target: str | Path) -> None:
    """Write the big-endian twin of a little-endian DM file: the same tags and pixels.

    The header's byte-order word (after the version and the length) becomes 0, and every
    tag value wider than a byte, the image data included, is byte-swapped; the tag
    directory's own sizes and counts are big-endian in both (what rsciio reads).
    """
    raw = bytearray(Path(source).read_bytes())
    word = 8 if raw[3] == 4 else 4
    raw[4 + word : 8 + word] = (0).to_bytes(4, "big")
    for _, offset, size, count in dm_tag_values(source):
        if size > 1:
            block = np.frombuffer(raw, f"u{size}", count, offset)
            raw[offset : offset + size * count] = block.byteswap().tobytes()
    Path(target).write_bytes(raw)
