"""One axis of a dataset (:class:`Dim`): its name, units and coordinates, checked once.

A dim is built by importers from whatever a file says and by acquisition software by
hand, so its constructor checks the argument types and names the argument at fault.
Before this check ``Dim.uniform("x", 512, 0.02)`` took 512 as the units and failed much
later with "dim 'x' has 0 values".

A uniform axis (:meth:`Dim.uniform`) keeps only offset, scale and size: its
coordinates are computed when asked for, so the pixel axis of a 1-D array of 8 G
samples costs nothing until a writer copies it in blocks, instead of a 64 GiB vector.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from emdconvert.errors import UnsupportedError
from emdconvert.metadata_values import AttrValue, freeze_attrs

#: The positional order of the deprecated ``Dim.uniform(name, units, size, offset, scale)``.
_LEGACY_UNIFORM = ("units", "size", "offset", "scale")


def _text(value: object, argument: str, where: str) -> str:
    if not isinstance(value, str):
        msg = f"{where}: {argument} must be a str, got {type(value).__name__} {value!r}"
        raise TypeError(msg)
    return value


def _real(value: object, argument: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        msg = f"{where}: {argument} must be a real number, got {type(value).__name__} {value!r}"
        raise TypeError(msg)
    return float(value)


def _count(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        msg = f"{where}: size must be an int, got {type(value).__name__} {value!r}"
        raise TypeError(msg)
    if int(value) < 0:
        msg = f"{where}: size must be >= 0, got {value}"
        raise ValueError(msg)
    return int(value)


class Dim:
    """One axis: its name, its units (everyday notation, e.g. ``nm``) and coordinates.

    Most axes are uniformly spaced; build those with :meth:`Dim.uniform`.  Give the
    coordinates themselves for a non-uniform axis (an energy axis from a calibration
    polynomial, say).  A vector of one coordinate has no spacing, yet a length-1 axis of
    a source can carry a scale (a 1 x 1024 TIA point spectrum): *scale* keeps it, and is
    ignored on longer axes, whose values say their own spacing.  *attrs* are further
    attributes of the source's dim vector besides ``name`` and ``units`` (an EMD
    source's, kept on rewrite).

    Dims are immutable and compare equal when name, units and coordinates agree (to a
    relative 1e-12).

    Example::

        >>> import numpy as np
        >>> from emdconvert import Dim
        >>> x = Dim.uniform("x", size=512, scale=0.02, units="nm")
        >>> x.size, x.offset, x.scale, x.units
        (512, 0.0, 0.02, 'nm')
        >>> energy = Dim("energy", "eV", np.array([0.0, 1.0, 2.5]))
        >>> energy.values
        array([0. , 1. , 2.5])
        >>> Dim("x", 512, np.arange(4.0))
        Traceback (most recent call last):
        TypeError: Dim('x'): units must be a str, got int 512
    """

    __slots__ = ("_offset", "_scale", "_size", "_values", "attrs", "name", "units")

    name: str
    units: str
    attrs: Mapping[str, AttrValue]
    _values: np.ndarray | None  # None: a uniform axis, described by the three below
    _size: int
    _offset: float
    _scale: float

    def __init__(
        self,
        name: str,
        units: str,
        values: ArrayLike,
        scale: float = 1.0,
        attrs: Mapping[str, AttrValue] | None = None,
    ) -> None:
        where = f"Dim({name!r})"
        vector = np.asarray(values)
        if vector.ndim != 1 or vector.dtype.kind not in "biufc":
            msg = f"dim {name!r}: values must be a 1-D numeric vector"
            raise UnsupportedError(msg)
        self._init(name, units, vector, vector.shape[0], 0.0, _real(scale, "scale", where), attrs)

    def _init(
        self,
        name: object,
        units: object,
        values: np.ndarray | None,
        size: int,
        offset: float,
        scale: float,
        attrs: Mapping[str, AttrValue] | None,
    ) -> None:
        where = f"Dim({name!r})"
        setter = object.__setattr__
        setter(self, "name", _text(name, "name", where))
        setter(self, "units", _text(units, "units", where))
        if attrs is not None and not isinstance(attrs, Mapping):
            msg = f"{where}: attrs must be a mapping, got {type(attrs).__name__}"
            raise TypeError(msg)
        setter(self, "attrs", freeze_attrs(attrs))
        setter(self, "_values", values)
        setter(self, "_size", size)
        setter(self, "_offset", offset)
        setter(self, "_scale", scale)

    @classmethod
    def uniform(
        cls,
        name: str,
        *legacy: Any,
        size: int | None = None,
        scale: float | None = None,
        offset: float = 0.0,
        units: str = "",
        attrs: Mapping[str, AttrValue] | None = None,
    ) -> Dim:
        """A uniformly spaced axis: ``offset + scale * arange(size)``, computed lazily.

        Example::

            >>> from emdconvert import Dim
            >>> Dim.uniform("frame", size=100, scale=0.05, units="s").values[:3]
            array([0.  , 0.05, 0.1 ])

        The positional form of earlier releases, ``Dim.uniform(name, units, size,
        offset, scale)``, still works with a ``DeprecationWarning``; its argument types
        are checked the same way, so ``Dim.uniform("x", 512, 0.02)`` is a ``TypeError``
        naming ``units``.
        """
        where = f"Dim.uniform({name!r})"
        if legacy:
            if len(legacy) > len(_LEGACY_UNIFORM):
                msg = f"{where}: at most {1 + len(_LEGACY_UNIFORM)} positional arguments"
                raise TypeError(msg)
            warnings.warn(
                f"{where}: positional (name, units, size, offset, scale) is deprecated; "
                "write Dim.uniform(name, size=..., scale=..., offset=..., units=...)",
                DeprecationWarning,
                stacklevel=2,
            )
            given = dict(zip(_LEGACY_UNIFORM, legacy, strict=False))
            units = given.get("units", units)
            size = given.get("size", size)
            offset = given.get("offset", offset)
            scale = given.get("scale", 1.0 if scale is None else scale)
        if size is None or scale is None:
            missing = " and ".join(k for k, v in (("size", size), ("scale", scale)) if v is None)
            msg = f"{where}: {missing} must be given (keyword arguments)"
            raise TypeError(msg)
        dim = cls.__new__(cls)
        dim._init(
            name,
            _text(units, "units", where),  # first: Dim.uniform("x", 512, 0.02) names units
            None,
            _count(size, where),
            _real(offset, "offset", where),
            _real(scale, "scale", where),
            attrs,
        )
        return dim

    @property
    def values(self) -> np.ndarray:
        """The coordinates as a float or int vector (computed for a uniform axis; use
        :meth:`values_at` for a part of a long one)."""
        return self.values_at(slice(None))

    def values_at(self, part: slice) -> np.ndarray:
        """Coordinates ``values[part]`` without building the whole vector first."""
        if self._values is not None:
            return self._values[part]
        indices = np.arange(*part.indices(self._size), dtype=np.float64)
        return self._offset + self._scale * indices

    @property
    def is_uniform(self) -> bool:
        """Built by :meth:`uniform` (so offset and scale describe every coordinate)."""
        return self._values is None

    @property
    def size(self) -> int:
        return self._size

    @property
    def offset(self) -> float:
        if self._values is None:
            return self._offset
        return float(self._values[0]) if self._size else 0.0

    @property
    def scale(self) -> float:
        if self._values is None or self._size < 2:
            return self._scale
        return float(self._values[1] - self._values[0])

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle (worker processes, Dask) through the constructors, which check again."""
        if self._values is None:
            uniform = {"size": self._size, "scale": self._scale, "offset": self._offset}
            return _uniform, (self.name, self.units, dict(self.attrs), uniform)
        return Dim, (self.name, self.units, self._values, self._scale, dict(self.attrs))

    def __setattr__(self, key: str, value: object) -> None:
        msg = f"Dim is immutable: cannot set {key!r}"
        raise AttributeError(msg)

    def __repr__(self) -> str:
        units = f", units={self.units!r}" if self.units else ""
        if self.is_uniform:
            spacing = f"size={self.size}, scale={self.scale!r}, offset={self.offset!r}"
            return f"Dim.uniform({self.name!r}, {spacing}{units})"
        return f"Dim({self.name!r}, {self.units!r}, {self.values!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Dim):
            return NotImplemented
        if (self.name, self.units, self.size) != (other.name, other.units, other.size):
            return False
        if (self.is_uniform and other.is_uniform) or self.size < 2:
            ends = [self.offset, self.scale, *self.values_at(slice(-1, None))]
            theirs = [other.offset, other.scale, *other.values_at(slice(-1, None))]
            return bool(np.allclose(ends, theirs, rtol=1e-12, atol=0))
        return bool(np.allclose(self.values, other.values, rtol=1e-12, atol=0))

    __hash__ = None  # type: ignore[assignment]


def _uniform(name: str, units: str, attrs: dict[str, AttrValue], spacing: dict[str, Any]) -> Dim:
    return Dim.uniform(name, units=units, attrs=attrs, **spacing)


def default_dims(shape: Sequence[int]) -> tuple[Dim, ...]:
    """Pixel-index dims for an uncalibrated array: ``x`` last, then ``y``, ``z``, ..."""
    names = ["x", "y", "z"]
    ndim = len(shape)
    out = []
    for axis, size in enumerate(shape):
        from_end = ndim - 1 - axis
        name = names[from_end] if from_end < len(names) else f"dim{axis}"
        out.append(Dim.uniform(name, size=int(size), scale=1.0))
    return tuple(out)
