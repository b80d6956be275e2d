"""The malformed-input corpus: damaged, hostile and mislabelled files, made on demand.

Every case is a file (or folder, FIFO, link) that emdconvert must refuse cleanly, with
the exit code and the words its message must contain (README, Bad input, crashes and
hostile files).
Sources are real files from the shared corpus (truncated, zero-filled, patched) and files
made here with tifffile, numpy and h5py, so nothing is committed.

Run it to look at the files: ``PYTHONPATH=tests python -m support.malformed_corpus OUT_DIR``
(from the project root) writes every case there and prints a table of them.
"""

from __future__ import annotations

import io
import os
import pickle
import secrets
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import tifffile

BAD_INPUT, POLICY = 3, 5
TRUNCATIONS = (0.001, 0.01, 0.05, 0.25, 0.5, 0.9, 0.99)
#: Written into the file an external-storage EMD points at; must never be echoed.
CANARY_NAME = "emdconvert-canary.txt"


@dataclass(frozen=True)
class Case:
    """One malformed input: how to make it, and how emdconvert must refuse it."""

    name: str  # also the file name; its extension is what the user would see
    make: Callable[[Path, Path], None]  # make(target_path, corpus_dir)
    exit_code: int
    says: str  # a fragment the one-line error message must contain (case-insensitive)


def _bytes_of(corpus: Path, relative: str) -> bytes:
    return (corpus / relative).read_bytes()


def _cut(relative: str, fraction: float) -> Callable[[Path, Path], None]:
    def make(path: Path, corpus: Path) -> None:
        data = _bytes_of(corpus, relative)
        path.write_bytes(data[: max(1, int(len(data) * fraction))])

    return make


def _drop_tail(relative: str, count: int) -> Callable[[Path, Path], None]:
    def make(path: Path, corpus: Path) -> None:
        path.write_bytes(_bytes_of(corpus, relative)[:-count])

    return make


def _zero_tail(relative: str, fraction: float = 0.9) -> Callable[[Path, Path], None]:
    """Full size, but the end never flushed (a pre-allocated file still being written)."""

    def make(path: Path, corpus: Path) -> None:
        data = _bytes_of(corpus, relative)
        keep = int(len(data) * fraction)
        path.write_bytes(data[:keep] + bytes(len(data) - keep))

    return make


def _content(data: bytes) -> Callable[[Path, Path], None]:
    def make(path: Path, corpus: Path) -> None:
        path.write_bytes(data)

    return make


def _random(size: int, prefix: bytes = b"") -> Callable[[Path, Path], None]:
    def make(path: Path, corpus: Path) -> None:
        rng = np.random.default_rng(len(path.name) + size)
        path.write_bytes(prefix + rng.bytes(size))

    return make


def _dm4_dims(value: int) -> Callable[[Path, Path], None]:
    """2D_test-1.dm4 with its image ``Dimensions`` patched (README, Safety rules R5)."""

    def make(path: Path, corpus: Path) -> None:
        data = bytearray(_bytes_of(corpus, "dm/2D_test-1.dm4"))
        i = data.index(b"Dimensions", data.index(b"Dimensions") + 1)
        spots = [j for j in range(i, i + 120) if data[j : j + 5] == b"\x05\x02\x00\x00\x00"]
        for spot in spots[:2]:
            data[spot + 1 : spot + 5] = struct.pack("<I", value)
        path.write_bytes(bytes(data))

    return make


def _stack(compression: str | None) -> bytes:
    frames = (np.arange(20 * 128 * 128) % 65521).astype(np.uint16).reshape(20, 128, 128)
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, frames, compression=compression)
    return buffer.getvalue()


def _tiff_cut(compression: str | None, fraction: float) -> Callable[[Path, Path], None]:
    def make(path: Path, corpus: Path) -> None:
        data = _stack(compression)
        path.write_bytes(data[: int(len(data) * fraction)])

    return make


def _tiff_zero_tail(path: Path, corpus: Path) -> None:
    data = _stack(None)
    keep = int(len(data) * 0.6)
    path.write_bytes(data[:keep] + bytes(len(data) - keep))


def tiff_one_strip(width: int, height: int, compression: int, strip: bytes) -> bytes:
    """A minimal little-endian TIFF: one uint16 page of *width* x *height*, one strip."""
    entries = [
        (256, 4, width),
        (257, 4, height),
        (258, 3, 16),
        (259, 3, compression),
        (262, 3, 1),
        (273, 4, 0),
        (277, 3, 1),
        (278, 4, height),
        (279, 4, len(strip)),
    ]
    ifd_size = 2 + 12 * len(entries) + 4
    strip_offset = 8 + ifd_size
    out = bytearray(b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(entries)))
    for tag, kind, value in entries:
        value = strip_offset if tag == 273 else value
        packed = struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        out += struct.pack("<HHI", tag, kind, 1) + packed
    return bytes(out + struct.pack("<I", 0) + strip)


def _tiff_huge_raw(path: Path, corpus: Path) -> None:
    path.write_bytes(tiff_one_strip(100_000, 100_000, 1, bytes(16)))


def _tiff_bomb(path: Path, corpus: Path) -> None:
    """40000 x 40000 uint16 (3.2 GB declared) over a real deflate stream of zeros."""
    path.write_bytes(tiff_one_strip(40_000, 40_000, 8, zlib.compress(bytes(64 << 20), 9)))


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _npy_cut(fraction: float) -> Callable[[Path, Path], None]:
    def make(path: Path, corpus: Path) -> None:
        data = _npy_bytes(np.arange(4096, dtype="<f8").reshape(64, 64))
        path.write_bytes(data[: int(len(data) * fraction)])

    return make


def _npy_huge(path: Path, corpus: Path) -> None:
    data = _npy_bytes(np.arange(1000, dtype="<f4").reshape(10, 100))
    path.write_bytes(data.replace(b"(10, 100)", b"(1000000, 1000000)"))


class Canary:
    """Unpickling this creates a file: proof that pickled code ran (it must not)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Callable[..., object], tuple[str, str]]:
        return (_touch, (self.target, "pwned"))


def _touch(target: str, text: str) -> None:
    Path(target).write_text(text)


def canary_path(path: Path) -> Path:
    """Where a pickle case's canary would appear if its payload ever ran."""
    return path.parent / f"{path.name}.canary"


def _npy_object(path: Path, corpus: Path) -> None:
    payload = np.array([Canary(str(canary_path(path)))], dtype=object)
    path.write_bytes(_npy_bytes(payload))


def _plain_pickle(path: Path, corpus: Path) -> None:
    path.write_bytes(pickle.dumps(Canary(str(canary_path(path)))))


def _npz_object(path: Path, corpus: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.npy", _npy_bytes(np.arange(4.0)))
        archive.writestr(
            "b.npy", _npy_bytes(np.array([Canary(str(canary_path(path)))], dtype=object))
        )


def _npz_cut(path: Path, corpus: Path) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, a=np.arange(1000.0))
    path.write_bytes(buffer.getvalue()[:-200])


def _emd_frame(h5: h5py.File, name: str) -> h5py.Group:
    """The Berkeley attributes and one data group, as a hostile file would fake them."""
    h5.attrs["version_major"], h5.attrs["version_minor"] = 0, 2
    group = h5.create_group(f"data/{name}")
    group.attrs["emd_group_type"] = 1
    return group


def _small_emd() -> bytes:
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        group = _emd_frame(h5, "image")
        group["data"] = np.arange(64 * 64 * 4, dtype=np.float32).reshape(64, 64, 4)
        for k, n in enumerate((64, 64, 4), start=1):
            group[f"dim{k}"] = np.arange(n, dtype=np.float64)
    return buffer.getvalue()


def _emd_cut(fraction: float) -> Callable[[Path, Path], None]:
    def make(path: Path, corpus: Path) -> None:
        data = _small_emd()
        path.write_bytes(data[: int(len(data) * fraction)])

    return make


def _emd_hostile(kind: str) -> Callable[[Path, Path], None]:
    def make(path: Path, corpus: Path) -> None:
        other = path.parent / f"{path.stem}-other.h5"
        canary = path.parent / CANARY_NAME
        canary.write_text(f"canary {secrets.token_hex(16)}\n")
        with h5py.File(other, "w") as h5:
            h5["x"] = np.arange(5)
        size = canary.stat().st_size
        with h5py.File(path, "w") as h5:
            group = _emd_frame(h5, "a")
            group["dim1"] = np.arange(size if kind == "external storage" else 5.0)
            if kind == "external storage":
                group.create_dataset(
                    "data", shape=(size,), dtype="u1", external=[(str(canary), 0, size)]
                )
            elif kind == "external link":
                group["data"] = h5py.ExternalLink(str(other), "/x")
            elif kind == "virtual dataset":
                layout = h5py.VirtualLayout(shape=(5,), dtype="i8")
                layout[:] = h5py.VirtualSource(str(other), "x", shape=(5,))
                group.create_virtual_dataset("data", layout, fillvalue=-1)
            elif kind == "soft link":
                group["data"] = np.arange(5)
                h5["data/b"] = h5py.SoftLink("/nowhere")
            elif kind == "unknown filter":
                group.create_dataset(
                    "data",
                    data=np.arange(5),
                    chunks=(5,),
                    compression=32000,
                    allow_unknown_filter=True,
                )

    return make


def _emd_sparse_bomb(path: Path, corpus: Path) -> None:
    """8 TB declared, one chunk stored (README, Safety rules R6); 2-element dim vectors."""
    with h5py.File(path, "w") as h5:
        group = _emd_frame(h5, "bomb")
        data = group.create_dataset(
            "data", shape=(10**6, 10**6), dtype="f8", chunks=(1000, 1000), compression="gzip"
        )
        data[:1000, :1000] = 1.0
        for k in (1, 2):
            group[f"dim{k}"] = np.array([0.0, 1.0])


def _hdf5_not_emd(path: Path, corpus: Path) -> None:
    with h5py.File(path, "w") as h5:
        h5["x"] = np.arange(10)


def _emd_missing_dims(path: Path, corpus: Path) -> None:
    with h5py.File(path, "w") as h5:
        _emd_frame(h5, "a")["data"] = np.arange(12).reshape(3, 4)


def _directory(path: Path, corpus: Path) -> None:
    path.mkdir()


def _fifo(path: Path, corpus: Path) -> None:
    os.mkfifo(path)


def _symlink_to(target: str) -> Callable[[Path, Path], None]:
    def make(path: Path, corpus: Path) -> None:
        path.symlink_to(target)

    return make


def _symlink_corpus(path: Path, corpus: Path) -> None:
    path.symlink_to(corpus / "dm" / "2D_test-1.dm4")


def _dm_cases() -> list[Case]:
    cases = []
    for relative, short in (
        ("dm/2D_test-1.dm4", "dm4"),
        ("dm/2D_test-1.dm3", "dm3"),
        ("dm/EELS_SI.dm4", "eels.dm4"),
    ):
        for fraction in TRUNCATIONS:
            name = (
                f"cut{fraction * 100:g}pct_{short}".replace(".", "_") + f".{short.split('.')[-1]}"
            )
            cases.append(Case(name, _cut(relative, fraction), BAD_INPUT, ""))
    cases += [
        Case("missing8_2D_test-1.dm4", _drop_tail("dm/2D_test-1.dm4", 8), BAD_INPUT, "incomplete"),
        Case("missing1_2D_test-1.dm4", _drop_tail("dm/2D_test-1.dm4", 1), BAD_INPUT, "incomplete"),
        Case("missing8_2D_test-1.dm3", _drop_tail("dm/2D_test-1.dm3", 8), BAD_INPUT, "incomplete"),
        Case("zero_tail_2D_test-1.dm4", _zero_tail("dm/2D_test-1.dm4"), BAD_INPUT, ""),
        Case("zero_tail_EELS_SI.dm4", _zero_tail("dm/EELS_SI.dm4"), BAD_INPUT, ""),
        Case("huge_dims_1e6.dm4", _dm4_dims(1_000_000), BAD_INPUT, "declare"),
        Case("huge_dims_max.dm4", _dm4_dims(0xFFFFFFFF), BAD_INPUT, "declare"),
        Case("random.dm4", _random(5000), BAD_INPUT, ""),
        Case("random_dm4_magic.dm4", _random(5000, b"\0\0\0\x04"), BAD_INPUT, ""),
        Case("random_dm3_magic.dm3", _random(5000, b"\0\0\0\x03"), BAD_INPUT, ""),
        Case("header_only.dm4", _cut("dm/2D_test-1.dm4", 12 / 26652), BAD_INPUT, "incomplete"),
    ]
    return cases


def _tiff_cases() -> list[Case]:
    return [
        Case("cut10pct_raw_stack.tif", _tiff_cut(None, 0.1), BAD_INPUT, "incomplete"),
        Case("cut50pct_raw_stack.tif", _tiff_cut(None, 0.5), BAD_INPUT, "incomplete"),
        Case("cut90pct_raw_stack.tif", _tiff_cut(None, 0.9), BAD_INPUT, "incomplete"),
        Case("cut50pct_zlib_stack.tif", _tiff_cut("zlib", 0.5), BAD_INPUT, "incomplete"),
        Case("cut90pct_zlib_stack.tif", _tiff_cut("zlib", 0.9), BAD_INPUT, "incomplete"),
        Case("cut99pct_zlib_stack.tif", _tiff_cut("zlib", 0.99), BAD_INPUT, ""),
        Case("zero_tail_raw_stack.tif", _tiff_zero_tail, BAD_INPUT, ""),
        Case("cut50pct_imagej_stack.tif", _cut("tiff/imagej_stack.tif", 0.5), BAD_INPUT, ""),
        Case("cut50pct_dm_stack.tif", _cut("tiff/dm_stack.tif", 0.5), BAD_INPUT, ""),
        Case("header_only.tif", _tiff_cut(None, 8 / 655360), BAD_INPUT, ""),
        Case("huge_raw_page.tif", _tiff_huge_raw, BAD_INPUT, "declared size"),
        Case("zlib_bomb.tif", _tiff_bomb, POLICY, "compression ratio"),
        Case("random.tif", _random(5000), BAD_INPUT, ""),
        Case("random_tiff_magic.tif", _random(5000, b"II*\x00"), BAD_INPUT, ""),
    ]


def _npy_cases() -> list[Case]:
    return [
        Case("cut_magic.npy", _npy_cut(0.005), BAD_INPUT, ""),
        Case("cut_header.npy", _npy_cut(0.002), BAD_INPUT, ""),
        Case("cut50pct.npy", _npy_cut(0.5), BAD_INPUT, "incomplete"),
        Case("cut99pct.npy", _npy_cut(0.99), BAD_INPUT, "incomplete"),
        Case("huge_header.npy", _npy_huge, BAD_INPUT, "declared size"),
        Case("object_array.npy", _npy_object, POLICY, "pickle"),
        Case("plain_pickle.npy", _plain_pickle, BAD_INPUT, ""),
        Case("object_member.npz", _npz_object, POLICY, "pickle"),
        Case("cut_directory.npz", _npz_cut, BAD_INPUT, ""),
        Case("random.npy", _random(2000), BAD_INPUT, ""),
        Case("random_npy_magic.npy", _random(2000, b"\x93NUMPY"), BAD_INPUT, ""),
    ]


def _csv_cases() -> list[Case]:
    return [
        Case("ragged.csv", _content(b"1,2,3\n4,5\n6,7,8\n"), BAD_INPUT, "row"),
        Case("non_numeric.csv", _content(b"1,2\n3,abc\n"), BAD_INPUT, "column"),
        Case("decimal_comma.csv", _content(b"1,5;2,5\n3,5;4,5\n"), BAD_INPUT, ""),
        Case("trailing_comma.csv", _content(b"1,2,\n3,4,\n"), BAD_INPUT, ""),
        Case("whitespace_only.csv", _content(b" \n\n \t\n"), BAD_INPUT, ""),
        Case("binary.csv", _random(3000, b"\x00\x01"), BAD_INPUT, ""),
        Case("header_only.csv", _content(b"energy [eV],counts\n"), BAD_INPUT, ""),
    ]


def _emd_cases() -> list[Case]:
    return [
        Case("cut10pct.emd", _emd_cut(0.1), BAD_INPUT, ""),
        Case("cut50pct.emd", _emd_cut(0.5), BAD_INPUT, ""),
        Case("cut90pct.emd", _emd_cut(0.9), BAD_INPUT, ""),
        Case("cut50pct_velox.emd", _cut("emd/velox_tem_stack.emd", 0.5), BAD_INPUT, ""),
        Case("sparse_bomb.emd", _emd_sparse_bomb, POLICY, "compression ratio"),
        Case("external_storage.emd", _emd_hostile("external storage"), POLICY, "external storage"),
        Case("external_link.emd", _emd_hostile("external link"), POLICY, "external link"),
        Case("virtual_dataset.emd", _emd_hostile("virtual dataset"), POLICY, "virtual dataset"),
        Case("dangling_soft_link.emd", _emd_hostile("soft link"), POLICY, "soft link"),
        Case("unknown_filter.emd", _emd_hostile("unknown filter"), POLICY, "unknown filter 32000"),
        Case("not_emd.h5", _hdf5_not_emd, BAD_INPUT, ""),
        Case("missing_dims.emd", _emd_missing_dims, BAD_INPUT, "dim"),
        Case("random.emd", _random(4000), BAD_INPUT, ""),
        Case("random_hdf5_magic.emd", _random(4000, b"\x89HDF\r\n\x1a\n"), BAD_INPUT, ""),
    ]


def _other_cases() -> list[Case]:
    return [
        Case("cut50pct.ser", _cut("other/16_STOimage_1.ser", 0.5), BAD_INPUT, ""),
        Case("cut1pct.ser", _cut("other/16_STOimage_1.ser", 0.01), BAD_INPUT, ""),
        Case("cut50pct.mrc", _cut("other/temp.mrc", 0.5), BAD_INPUT, ""),
        Case("cut10pct.mrc", _cut("other/temp.mrc", 0.1), BAD_INPUT, ""),
        Case("random.ser", _random(3000), BAD_INPUT, ""),
        Case("random.mrc", _random(3000), BAD_INPUT, ""),
        Case("text.xyz", _content(b"hello world\n" * 10), BAD_INPUT, ""),
    ]


def _special_cases() -> list[Case]:
    empty = [
        Case(f"empty{suffix}", _content(b""), BAD_INPUT, "empty")
        for suffix in (".dm4", ".dm3", ".tif", ".npy", ".npz", ".csv", ".emd", ".ser")
    ]
    mislabelled = [  # content of no format at all, under a format's extension
        Case("html_as.dm4", _content(b"<html><body>404</body></html>\n"), BAD_INPUT, ""),
        Case("png_as.tif", _content(b"\x89PNG\r\n\x1a\n" + bytes(200)), BAD_INPUT, ""),
        Case("gzip_as.npy", _content(zlib.compress(b"x" * 500)), BAD_INPUT, ""),
        Case("zip_of_text_as.npz", _zip_of_text, BAD_INPUT, ""),
        Case("pdf_as.emd", _content(b"%PDF-1.4\n" + bytes(300)), BAD_INPUT, ""),
    ]
    return (
        empty
        + mislabelled
        + [
            Case("folder.dm4", _directory, BAD_INPUT, ""),
            Case("pipe.dm4", _fifo, BAD_INPUT, "not a regular file"),
            Case("link_to_passwd.dm4", _symlink_to("/etc/passwd"), POLICY, "symbolic link"),
            Case("link_to_valid.dm4", _symlink_corpus, POLICY, "symbolic link"),
            Case(
                "dangling_link.dm4", _symlink_to("/nonexistent/file.dm4"), POLICY, "symbolic link"
            ),
        ]
    )


def _zip_of_text(path: Path, corpus: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not an array")


def all_cases() -> list[Case]:
    """Every case, in a stable order (test ids come from the names)."""
    return (
        _dm_cases()
        + _tiff_cases()
        + _npy_cases()
        + _csv_cases()
        + _emd_cases()
        + _other_cases()
        + _special_cases()
    )


def build(case: Case, directory: Path, corpus: Path) -> Path:
    """Make *case* in its own folder under *directory* (cases never share files)."""
    folder = directory / case.name.replace(".", "_")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / case.name
    case.make(path, corpus)
    return path


def main(argv: list[str]) -> int:
    from support.corpus import corpus_dir

    if len(argv) != 1:
        sys.stderr.write("usage: PYTHONPATH=tests python -m support.malformed_corpus OUT_DIR\n")
        return 2
    out = Path(argv[0])
    for case in all_cases():
        path = build(case, out, corpus_dir())
        sys.stdout.write(f"{case.exit_code}\t{case.says or '-'}\t{path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
