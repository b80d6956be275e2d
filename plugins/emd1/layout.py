"""The EMD 1.0 tree emdfile writes, streamed through the v0.2 writer's data path.

One file, one tree::

    /                       emd_group_type "file", version_major 1, version_minor 0,
                            UUID, authoring_program, authoring_user (emdfile's header)
    /<first>_root           the Root (emdfile names a lone node's root "<node>_root")
        metadatabundle/     calibration (a datacube's), microscope, sample, user,
                            comments: emdfile Metadata (:mod:`.metadata`)
        <name>/             one Array node per dataset, model order (python_class
                            "Array", or "DataCube" for a 4D-STEM scan, :mod:`.datacube`)
            data            numpy C order (emdfile's and py4DSTEM's), attribute units
            dim0 ... dimN-1 name, units; a uniform axis as [offset, offset + scale],
                            emdfile's form for a linear dim, any other as its vector
            metadatabundle/attributes   the dataset's own attributes, if any

The file-level metadata sit on the Root, whose metadata emdfile associates with every
node of its tree; py4DSTEM and rsciio look for the calibration exactly there.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from emdconvert.dims import Dim
from emdconvert.emd.writer import group_names, refuse_empty, unique_key, write_data
from emdconvert.model import METADATA_GROUPS, Comment, Dataset, EMDFile
from emdconvert.plugins.emd1.datacube import Calibration, calibration
from emdconvert.plugins.emd1.metadata import BUNDLE, write_metadata
from emdconvert.version import VERSION

if TYPE_CHECKING:
    import h5py

COMMENTS = "comments"
ATTRIBUTES = "attributes"


def node_names(model: EMDFile) -> list[str]:
    """Unique HDF5-safe node names (no name a prefix of another: rsciio stacks those);
    none may be the root's ``metadatabundle``."""
    names = group_names([d.name for d in model.datasets])
    return [f"{BUNDLE}~0" if name == BUNDLE else name for name in names]


def write_emd1(
    model: EMDFile,
    path: Path,
    *,
    compression: str | None = None,
    threads: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Write *model* to the new file *path* as an EMD 1.0 tree (see the module)."""
    import h5py

    refuse_empty(model)
    names = node_names(model)
    cubes = [calibration(dataset) for dataset in model.datasets]
    # One calibration per root (py4DSTEM's): the first datacube gets it.
    first = next((i for i, cube in enumerate(cubes) if cube is not None), None)
    with h5py.File(path, "w") as h5:
        write_header(h5)
        root = h5.create_group(f"{names[0]}_root", track_order=True)
        root.attrs.create("emd_group_type", "root")
        root.attrs.create("python_class", "Root")
        for i, (name, dataset) in enumerate(zip(names, model.datasets, strict=True)):
            cube = cubes[i] if i == first else None
            node = write_node(root, name, dataset, cube)
            write_data(
                node,
                dataset,
                transpose=False,
                compression=compression,
                threads=threads,
                progress=progress,
            ).attrs.create("units", dataset.units)
        if first is not None:
            cube = cubes[first]
            assert cube is not None
            write_metadata(root, "calibration", cube.items(f"/{names[first]}"), "Calibration")
        for group in METADATA_GROUPS:
            write_metadata(root, group, model.metadata(group))
        write_metadata(root, COMMENTS, comment_items(model.comments))


def write_header(h5: h5py.File) -> None:
    """emdfile's file attributes; the user is left empty, as emdfile leaves it."""
    h5.attrs.create("emd_group_type", "file")
    h5.attrs.create("version_major", 1)
    h5.attrs.create("version_minor", 0)
    h5.attrs.create("UUID", str(uuid.uuid4()))
    h5.attrs.create("authoring_program", f"emdconvert {VERSION}")
    h5.attrs.create("authoring_user", "")


def write_node(
    root: h5py.Group, name: str, dataset: Dataset, cube: Calibration | None
) -> h5py.Group:
    """The node group of *dataset*, with its dims and attributes; ``data`` comes next."""
    node = root.create_group(name)
    node.attrs.create("emd_group_type", "array")
    node.attrs.create("python_class", "Array" if cube is None else "DataCube")
    dims = dataset.dims if cube is None else cube.stored_dims(dataset.dims)
    for k, dim in enumerate(dims):
        vector = node.create_dataset(f"dim{k}", data=dim_vector(dim))
        vector.attrs.create("name", dim.name)
        vector.attrs.create("units", dim.units)
    attrs = dict(dataset.attrs)
    if name != dataset.name:
        attrs.setdefault("title", dataset.name)  # the unsanitised name
    if attrs:
        write_metadata(node, ATTRIBUTES, attrs)
    return node


def dim_vector(dim: Dim) -> np.ndarray:
    """emdfile's stored form of a dim: two values for a uniform axis (a length-1 axis
    too, so its scale survives), else the coordinates."""
    if dim.is_uniform:
        return np.array([dim.offset, dim.offset + dim.scale])
    return dim.values


def comment_items(comments: tuple[Comment, ...]) -> dict[str, str]:
    """The provenance log as one ``Metadata``: timestamp key -> message."""
    items: dict[str, str] = {}
    for comment in comments:
        items[unique_key(comment, items)] = comment.message
    return items
