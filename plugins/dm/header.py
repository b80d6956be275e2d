"""The DM3/DM4 file header: the length it declares, and whether the header is sound.

The completeness check must tell a cut file (still being written, or truncated) from a
corrupt one before rsciio is imported, and rsciio only logs the declared length; these
few fixed-layout bytes are read here, with no tag parsing.
"""

from __future__ import annotations

from emdconvert.errors import FormatError, IncompleteError

#: (bytes of the length field, allowed excess of the file size over the declared length),
#: by DM version.  Measured over 144 DM files (README, Safety rules R5): a DM4 from
#: DigitalMicrograph is its declared length + 24 bytes, a DM3 + 16 or + 20; nionswift-io
#: writes DM4 files of + 20, which rsciio and ncempy read, so that is accepted too.
_LAYOUTS = {3: (4, (16, 20)), 4: (8, (20, 24))}


def _header(head: bytes, version: int) -> tuple[int, int] | None:
    """(declared length, byte-order word) of *head* read as a DM *version* header."""
    width = _LAYOUTS[version][0]
    if len(head) < 8 + width:
        return None
    return (
        int.from_bytes(head[4 : 4 + width], "big"),
        int.from_bytes(head[4 + width : 8 + width], "big"),
    )


def _fits(head: bytes, version: int, size: int) -> bool:
    """Whether *head*, read as a DM *version* header, describes a whole file of *size*."""
    fields = _header(head, version)
    return (
        fields is not None
        and fields[0] > 0
        and fields[1] in (0, 1)
        and size - fields[0] in _LAYOUTS[version][1]
    )


def declared_size(head: bytes, size: int) -> tuple[int, tuple[int, ...]]:
    """(length the DM header declares, allowed excess of the file size over it).

    rsciio reads the length field but only logs it, which is why a DM4 missing its last
    8 bytes reads as if it were whole.  Only a file shorter than its header (or than a
    header) is incomplete; a header that is wrong in itself is corrupt, however long the
    file: a version word DM never wrote, a byte-order word other than 0 (big-endian) or
    1 (little-endian), or a version word that contradicts the layout, such as a DM3
    read with a DM4 version word, whose length field then "declares" terabytes.
    """
    version = int.from_bytes(head[:4], "big") if len(head) >= 4 else None
    if version is not None and version not in _LAYOUTS:
        raise FormatError(f"not a DM3/DM4 file (header version {version})")
    fields = None if version is None else _header(head, version)
    if version is None or fields is None:
        raise IncompleteError(f"incomplete: only {len(head)} bytes, shorter than a DM header")
    other = 3 if version == 4 else 4
    if not _fits(head, version, size) and _fits(head, other, size):
        raise FormatError(
            f"the header version word says DM{version}, but the header is a whole DM{other} one"
        )
    declared, byte_order = fields
    if byte_order not in (0, 1):
        raise FormatError(
            f"the header's byte-order word {byte_order} is neither 0 "
            "(big-endian) nor 1 (little-endian)"
        )
    return declared, _LAYOUTS[version][1]
