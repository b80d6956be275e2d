"""Reading back what :mod:`.layout` wrote, before the file is published.

The ``emd`` plugin reads EMD 1.0 only through rsciio, so the check here is our own and
structural: emdfile's header, one root, one ``array`` node per dataset in model order
with the model's shape and dtype, then the start, middle and end of each dataset read
back equal to the source (the v0.2 writer's sampled comparison).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from emdconvert.emd.groups import as_int, text
from emdconvert.emd.verify import compare_sample_blocks
from emdconvert.errors import ValidationError
from emdconvert.model import EMDFile

if TYPE_CHECKING:
    import h5py


def root_group(h5: h5py.File) -> h5py.Group:
    """The file's one EMD root; a :class:`ValidationError` unless it has exactly one."""
    roots = [g for g in h5.values() if text(g.attrs.get("emd_group_type")) == "root"]
    if len(roots) != 1:
        raise ValidationError(f"written file has {len(roots)} EMD 1.0 roots, expected 1")
    return roots[0]


def check_written(model: EMDFile, path: Path) -> None:
    """Raise :class:`ValidationError` when *path* is not *model* as :mod:`.layout` writes it."""
    import h5py

    with h5py.File(path, "r") as h5:
        header = (
            text(h5.attrs.get("emd_group_type")),
            as_int(h5.attrs.get("version_major")),
            as_int(h5.attrs.get("version_minor")),
        )
        if header != ("file", 1, 0):
            raise ValidationError(f"written file has the header {header}, not EMD 1.0")
        root = root_group(h5)
        nodes = [g for g in root.values() if text(g.attrs.get("emd_group_type")) == "array"]
        found = [(node["data"].shape, node["data"].dtype) for node in nodes]
        wanted = [(d.shape, d.dtype) for d in model.datasets]
        if found != wanted:
            raise ValidationError(
                f"written file failed verification: wrote {found}, expected {wanted}"
            )
        for node, dataset in zip(nodes, model.datasets, strict=True):
            compare_sample_blocks(dataset, node["data"], node.name)
