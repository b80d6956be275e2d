"""The binary DM3/DM4 tag-tree encoder, with room left for one streamed array.

A DM file is a header (version, length, byte order) and one root tag group; each tag is
a group of named (sorted) or unnamed (list) entries, or a typed value.  Headers are
big-endian, values little-endian.  DM4 widens every length and count to 8 bytes and
states each entry's byte size before it, so the size of every group holding the image
data must be known before the data are written: the tree is encoded to *pieces*, bytes
and one :class:`Stream` placeholder of known length, and the writer streams the data
into the placeholder's place.  The layout is the one GMS writes (checked byte for byte
against DigitalMicrograph's own files: entry sizes, the 8 zero bytes after the root,
a declared length that is the root group's).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: DM's encoded value types: code -> little-endian struct format.
FORMATS = {
    2: "h",  # short
    3: "i",  # long
    4: "H",  # ushort (string characters)
    5: "I",  # ulong
    6: "f",  # float
    7: "d",  # double
    8: "?",  # bool
    9: "b",  # char
    10: "B",  # octet
    11: "q",  # long long (DM4)
    12: "Q",  # unsigned long long (DM4)
}
_GROUP, _DATA = 20, 21
_STRUCT, _ARRAY = 15, 20


@dataclass(frozen=True)
class Scalar:
    """One value of simple type *code* (a key of :data:`FORMATS`)."""

    code: int
    value: int | float | bool


@dataclass(frozen=True)
class Text:
    """A string, stored as DM does: an array of UTF-16 code units."""

    value: str


@dataclass(frozen=True)
class Struct:
    """A fixed record of simple values (a rectangle, a colour, a binning pair)."""

    codes: tuple[int, ...]
    values: tuple[int | float | bool, ...]


@dataclass(frozen=True)
class Array:
    """An array of simple values (*code*) or, with *fields*, of structs of those types."""

    code: int
    values: np.ndarray
    fields: tuple[int, ...] = ()


@dataclass(frozen=True)
class Stream:
    """The placeholder of the image data: *count* elements of *code* (or of the struct
    *fields*, for complex data), *nbytes* long, written later by the caller."""

    code: int
    count: int
    nbytes: int
    fields: tuple[int, ...] = ()


@dataclass(frozen=True)
class Group:
    """A tag group: named entries (DM's sorted TagGroup) or unnamed ones (a TagList)."""

    entries: tuple[tuple[str, Tag], ...]
    named: bool = True


Tag = Scalar | Text | Struct | Array | Stream | Group
Piece = bytes | Stream


def _length(pieces: Sequence[Piece]) -> int:
    return sum(p.nbytes if isinstance(p, Stream) else len(p) for p in pieces)


class Encoder:
    """Encodes tags for one DM *version* (3 or 4)."""

    def __init__(self, version: int) -> None:
        self.version = version
        self.word = ">q" if version == 4 else ">i"

    def words(self, *values: int) -> bytes:
        return b"".join(struct.pack(self.word, v) for v in values)

    def group(self, group: Group) -> list[Piece]:
        """A group's body: sorted and open flags, count, entries."""
        pieces: list[Piece] = [struct.pack(">BB", int(group.named), 0)]
        pieces.append(self.words(len(group.entries)))
        for name, tag in group.entries:
            pieces += self.entry(name if group.named else "", tag)
        return pieces

    def entry(self, name: str, tag: Tag) -> list[Piece]:
        """One entry: kind, name and, in DM4, the byte size of what follows."""
        label = _label(name)
        body = self.group(tag) if isinstance(tag, Group) else self.data(tag)
        kind = _GROUP if isinstance(tag, Group) else _DATA
        head = struct.pack(">BH", kind, len(label)) + label
        if self.version == 4:
            head += struct.pack(">q", _length(body))
        return [head, *body]

    def data(self, tag: Tag) -> list[Piece]:
        """A value: ``%%%%``, the type description, the little-endian bytes."""
        info, payload = self._typed(tag)
        head = b"%%%%" + self.words(len(info), *info)
        return [head, payload] if isinstance(payload, Stream) else [head + payload]

    def _typed(self, tag: Tag) -> tuple[list[int], bytes | Stream]:
        if isinstance(tag, Scalar):
            return [tag.code], struct.pack("<" + FORMATS[tag.code], tag.value)
        if isinstance(tag, Text):
            units = np.frombuffer(tag.value.encode("utf-16-le", "surrogatepass"), "<u2")
            return [_ARRAY, 4, len(units)], units.tobytes()
        if isinstance(tag, Struct):
            fmt = "<" + "".join(FORMATS[c] for c in tag.codes)
            return [_STRUCT, *_fields(tag.codes)], struct.pack(fmt, *tag.values)
        if isinstance(tag, Array):
            if tag.fields:
                dtype = np.dtype(",".join("<" + FORMATS[c] for c in tag.fields))
                rows = np.array([tuple(r) for r in tag.values], dtype=dtype)
                return [_ARRAY, _STRUCT, *_fields(tag.fields), len(rows)], rows.tobytes()
            values = np.asarray(tag.values, dtype="<" + FORMATS[tag.code])
            return [_ARRAY, tag.code, values.size], values.tobytes()
        if isinstance(tag, Stream):
            if tag.fields:
                return [_ARRAY, _STRUCT, *_fields(tag.fields), tag.count], tag
            return [_ARRAY, tag.code, tag.count], tag
        msg = f"not a DM tag: {tag!r}"
        raise TypeError(msg)

    def document(self, root: Group) -> list[Piece]:
        """The whole file: header, root group, the 8 zero bytes GMS ends with."""
        body = self.group(root)
        header = struct.pack(">i", self.version) + self.words(_length(body)) + struct.pack(">i", 1)
        return [header, *body, b"\0" * 8]


def _fields(codes: Sequence[int]) -> list[int]:
    """A struct's description: name length 0, field count, (name length 0, type) each."""
    out = [0, len(codes)]
    for code in codes:
        out += [0, code]
    return out


def _label(name: str) -> bytes:
    """A tag name as GMS writes it: Latin-1 (``µ`` is one byte), else UTF-8."""
    try:
        return name.encode("latin-1")
    except UnicodeEncodeError:
        return name.encode("utf-8")


def split(pieces: Sequence[Piece]) -> tuple[bytes, Stream | None, bytes]:
    """The encoded file as (bytes before the stream, the stream, bytes after it)."""
    before: list[bytes] = []
    after: list[bytes] = []
    stream = None
    for piece in pieces:
        if isinstance(piece, Stream):
            stream = piece
        else:
            (after if stream is not None else before).append(piece)
    return b"".join(before), stream, b"".join(after)


def encoded_size(pieces: Sequence[Piece]) -> int:
    """The byte length of the encoded file, stream included."""
    return _length(pieces)
