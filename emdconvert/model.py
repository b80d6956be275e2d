"""The canonical in-memory EMD model every conversion passes through.

``format -> EMDFile -> format``: importers build an :class:`EMDFile`, exporters consume
one.  The model mirrors Berkeley EMD v0.2 (datasets with dim vectors; ``microscope``,
``sample``, ``user`` metadata; a ``comments`` provenance log) but always in **numpy
orientation**: ``Dataset.dims[i]`` describes ``data.shape[i]`` of the array as numpy
users index it, ``(..., y, x)``.  Turning that into the spec's x-first storage is the
EMD writer's job, so no importer has to think about it.

Data stay lazy (see :mod:`emdconvert.lazy`): nothing here reads an array.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from emdconvert.dims import Dim, default_dims
from emdconvert.errors import UnsupportedError
from emdconvert.lazy import LazyArray, release
from emdconvert.metadata_values import AttrValue, MetadataValue, freeze_attrs, freeze_metadata

if TYPE_CHECKING:
    import h5py

#: Names of the metadata groups, in the order the spec lists them.
METADATA_GROUPS = ("microscope", "sample", "user")


@dataclass(frozen=True)
class Passthrough:
    """HDF5 content of a source that the model has no field for, copied verbatim.

    EMD -> EMD must lose nothing (issue 13): NCEM's ``/stage`` group, an ``acquisition
    times`` dataset beside ``data``, attributes on ``/``, ``/data`` or the ``data``
    dataset itself.  The canonical model only knows datasets, dims and three metadata
    groups, so the EMD reader names the rest here and the EMD writer copies it with
    HDF5's object copy (chunk by chunk inside libhdf5: dtype, shape, values, filters
    and attributes as they were, never loaded whole).  Other writers ignore it and
    other readers leave it empty.

    *source* is an open h5py object (or a soft link, copied as a link); like an h5py
    dataset in :attr:`Dataset.data` it keeps its file open until :meth:`EMDFile.close`.
    *path* is where it goes: absolute in :attr:`EMDFile.extras`, relative to the data
    group in :attr:`Dataset.extras`.
    With *whole* the object is copied with everything in it; otherwise only its
    attributes are added to the object at *path* (an empty group is created if there is
    none), never replacing an attribute the writer has already set.
    """

    path: str
    source: h5py.Group | h5py.Dataset | h5py.SoftLink
    whole: bool = True


@dataclass(frozen=True)
class Dataset:
    """One EMD data group: an N-d array, one :class:`Dim` per axis, and attributes.

    ``attrs`` land on the data group (e.g. the original tag tree as JSON); ``name`` and
    ``units`` describe the values themselves (e.g. ``counts``) and are optional.
    ``extras`` is the rest of an EMD source's data group (see :class:`Passthrough`).
    *data* is any lazy array-like (numpy array or memmap, h5py or dask array); nothing is
    read from it here.  Without *dims*, the axes are uncalibrated pixels ``..., y, x``.

    Example::

        >>> import numpy as np
        >>> from emdconvert import Dataset, Dim, EMDFile
        >>> spectrum = Dataset("EELS", np.zeros(2048, np.float32),
        ...                    (Dim.uniform("energy", size=2048, scale=0.25, units="eV"),),
        ...                    units="counts")
        >>> spectrum.shape, spectrum.dtype, spectrum.dims[0].units
        ((2048,), dtype('float32'), 'eV')
        >>> image = Dataset("HAADF", np.zeros((512, 512), np.uint16))
        >>> [d.name for d in image.dims]
        ['y', 'x']
        >>> EMDFile((spectrum, image)).datasets[1].name     # two data groups, one file
        'HAADF'
    """

    name: str
    data: LazyArray
    dims: tuple[Dim, ...] = ()
    attrs: Mapping[str, AttrValue] = field(default_factory=dict)
    units: str = ""
    extras: tuple[Passthrough, ...] = ()

    def __post_init__(self) -> None:
        for argument in ("name", "units"):
            value = getattr(self, argument)
            if not isinstance(value, str):
                msg = f"Dataset: {argument} must be a str, got {type(value).__name__} {value!r}"
                raise TypeError(msg)
        if not all(hasattr(self.data, a) for a in ("shape", "dtype", "__getitem__")):
            msg = (
                f"dataset {self.name!r}: data must be an array-like, got {type(self.data).__name__}"
            )
            raise TypeError(msg)
        shape = tuple(int(n) for n in self.data.shape)
        dtype = np.dtype(self.data.dtype)
        if not shape:
            msg = f"dataset {self.name!r}: EMD data need at least one dimension"
            raise UnsupportedError(msg)
        if dtype.kind not in "biufc":
            msg = f"dataset {self.name!r}: dtype {dtype} is not numeric EMD data"
            raise UnsupportedError(msg)
        dims = tuple(self.dims) if self.dims else default_dims(shape)
        if len(dims) != len(shape):
            msg = (
                f"dataset {self.name!r}: {len(dims)} dims for a "
                f"{len(shape)}-D array of shape {shape}"
            )
            raise UnsupportedError(msg)
        for axis, (dim, size) in enumerate(zip(dims, shape, strict=True)):
            if dim.size != size:
                msg = (
                    f"dataset {self.name!r}: dim {dim.name!r} has {dim.size} values "
                    f"but axis {axis} has length {size}"
                )
                raise UnsupportedError(msg)
        object.__setattr__(self, "dims", dims)
        object.__setattr__(self, "attrs", freeze_attrs(self.attrs))
        object.__setattr__(self, "extras", tuple(self.extras))

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(n) for n in self.data.shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.dtype(self.data.dtype)


@dataclass(frozen=True)
class Comment:
    """One provenance event: when (UTC) and what happened."""

    timestamp: _dt.datetime
    message: str
    #: The attribute name this comment had in a file we read (kept verbatim on rewrite).
    original_key: str = ""
    #: The attribute value as read (``str`` or ``bytes``), rewritten as it was, so a
    #: file passed through keeps its log's types; ``None`` for new comments.
    original_value: AttrValue | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.timestamp.tzinfo is None:
            msg = "comment timestamps must be timezone-aware (UTC)"
            raise UnsupportedError(msg)

    @classmethod
    def now(cls, message: str) -> Comment:
        return cls(_dt.datetime.now(_dt.timezone.utc), message)

    @property
    def key(self) -> str:
        """The attribute name: as read, else ISO-8601 UTC with microseconds (README L10)."""
        if self.original_key:
            return self.original_key
        stamp = self.timestamp.astimezone(_dt.timezone.utc)
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class EMDFile:
    """A whole EMD file: datasets, the three metadata groups and the comment log.

    ``extras`` is what else an EMD source held, copied by the EMD writer
    (see :class:`Passthrough`).

    ``microscope``, ``sample`` and ``user`` hold numbers, strings, lists of numbers or
    of strings (array attributes) and nested dicts (sub-groups, read back as dicts).
    A ``None`` value is dropped with a ``UserWarning`` naming its key path; any other
    type is a ``TypeError`` naming the key (see :func:`freeze_metadata`).  A model read
    from a file holds it open: ``with emdconvert.read(path) as model:`` closes it.

    Example::

        >>> import numpy as np, emdconvert
        >>> from emdconvert import EMDFile
        >>> model = EMDFile.from_array(
        ...     np.zeros((4, 128, 128), np.uint16),
        ...     microscope={"voltage_V": 300e3, "stage": {"alpha_deg": 10.0}},
        ...     user={"operator_name": "A. User"})
        >>> emdconvert.write(model, "m.emd")
        PosixPath('m.emd')
        >>> with emdconvert.read("m.emd") as back:
        ...     print(back.microscope["stage"], back.user, back.datasets[0].shape)
        {'alpha_deg': np.float64(10.0)} {'operator_name': 'A. User'} (4, 128, 128)
        >>> EMDFile.from_array(np.zeros(3), sample={"grid": object()})
        Traceback (most recent call last):
        TypeError: sample.grid: a object cannot be stored as an HDF5 attribute; ...
    """

    datasets: tuple[Dataset, ...]
    microscope: Mapping[str, MetadataValue] = field(default_factory=dict)
    sample: Mapping[str, MetadataValue] = field(default_factory=dict)
    user: Mapping[str, MetadataValue] = field(default_factory=dict)
    comments: tuple[Comment, ...] = ()
    extras: tuple[Passthrough, ...] = ()

    def __post_init__(self) -> None:
        datasets = tuple(self.datasets)
        if not datasets:
            msg = "an EMD file needs at least one dataset"
            raise UnsupportedError(msg)
        object.__setattr__(self, "datasets", datasets)
        object.__setattr__(self, "comments", tuple(self.comments))
        object.__setattr__(self, "extras", tuple(self.extras))
        for group in METADATA_GROUPS:
            object.__setattr__(self, group, freeze_metadata(getattr(self, group), group))

    @classmethod
    def from_array(
        cls,
        array: LazyArray,
        *,
        name: str = "data",
        dims: Sequence[Dim] | None = None,
        microscope: Mapping[str, MetadataValue] | None = None,
        sample: Mapping[str, MetadataValue] | None = None,
        user: Mapping[str, MetadataValue] | None = None,
        units: str = "",
    ) -> EMDFile:
        """Wrap one array (numpy orientation, ``(..., y, x)``) as a one-dataset file.

        For acquisition software that already holds a numpy array (or a memmap, an
        h5py dataset, a dask array): ``dims`` default to uncalibrated pixel axes.
        Metadata values as for :class:`EMDFile`: nested dicts become sub-groups,
        ``None`` is dropped with a ``UserWarning``, other objects are a ``TypeError``.
        """
        dataset = Dataset(name, array, tuple(dims or ()), units=units)
        return cls((dataset,), microscope or {}, sample or {}, user or {})

    def with_comment(self, comment: Comment) -> EMDFile:
        """A copy with *comment* appended to the provenance log."""
        return dataclasses.replace(self, comments=(*self.comments, comment))

    def close(self) -> None:
        """Release the files the lazy arrays hold open; their data cannot be read after.

        ``with emdconvert.read(path) as model: ...`` does this on leaving the block.
        Without it the files close when the model is garbage-collected.
        """
        extras = [*self.extras]
        for dataset in self.datasets:
            release(dataset.data)
            extras += dataset.extras
        for extra in extras:
            if hasattr(extra.source, "id"):  # not a soft link
                release(extra.source)

    def __enter__(self) -> EMDFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def metadata(self, group: str) -> Mapping[str, Any]:
        """The attributes of one metadata group by name (``microscope``, ...).

        Values are :data:`MetadataValue` (nested dicts for sub-groups); typed ``Any`` so
        callers written when they were all attributes keep type-checking.
        """
        if group not in METADATA_GROUPS:
            msg = f"unknown metadata group {group!r}; expected one of {METADATA_GROUPS}"
            raise KeyError(msg)
        result: Mapping[str, Any] = getattr(self, group)
        return result


def describe(value: Any) -> str:
    """A short human description of an attribute value, for ``emdconvert info``."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.size > 8:
        return f"array{value.shape} {value.dtype}"
    if isinstance(value, Mapping):  # a nested metadata group: its values, not numpy reprs
        value = "{" + ", ".join(f"{k}: {describe(v)}" for k, v in value.items()) + "}"
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."
