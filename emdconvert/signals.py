"""RosettaSciIO signal dictionaries -> canonical model.

rsciio readers return a list of ``{"data", "axes", "metadata", "original_metadata"}``
dicts.  Axes carry ``size/offset/scale/units/name`` (and ``index_in_array``), which map
one-to-one onto uniform :class:`~emdconvert.model.Dim` vectors.  The original metadata
tree is kept whole, as JSON text on the dataset group, so nothing in the source is lost.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from emdconvert.model import Dataset, Dim, EMDFile

ORIGINAL_METADATA_ATTR = "original_metadata_json"


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, bytes):  # before np.generic: np.bytes_ is both
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def metadata_json(tree: Mapping[str, Any]) -> str:
    """The whole metadata tree as UTF-8 JSON text (lossless for what JSON can hold)."""
    return json.dumps(_jsonable(tree), ensure_ascii=False, sort_keys=False)


def axes_to_dims(axes: Sequence[Mapping[str, Any]], shape: tuple[int, ...]) -> tuple[Dim, ...]:
    """rsciio axes (in any order, keyed by ``index_in_array``) -> dims in array order."""
    ordered: list[Mapping[str, Any] | None] = [None] * len(shape)
    for position, entry in enumerate(axes):
        index = entry.get("index_in_array")
        ordered[int(index) if index is not None else position] = entry
    dims = []
    for i, found in enumerate(ordered):
        axis: Mapping[str, Any] = found or {}
        name = axis.get("name")
        units = axis.get("units")
        if "axis" in axis and axis.get("axis") is not None:
            values = np.asarray(axis["axis"], dtype=np.float64)
            dims.append(Dim(_text(name, f"dim{i}"), _text(units, ""), values))
            continue
        dims.append(Dim.uniform(_text(name, f"dim{i}"), _text(units, ""), shape[i],
                                float(axis.get("offset", 0.0) or 0.0),
                                float(axis.get("scale", 1.0) or 1.0)))
    return tuple(dims)


def _text(value: Any, default: str) -> str:
    if value is None or value == [] or (isinstance(value, float) and np.isnan(value)):
        return default
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    text = str(value)
    return default if text in ("", "<undefined>", "Undefined") else text


def rgb_as_channels(signal: Mapping[str, Any]) -> dict[str, Any]:
    """A signal whose data are structured RGB(A), as uint8 with a trailing ``channel`` axis.

    Most readers cannot show HDF5 compound types, so emd-spec.md §4 stores colour as an
    extra axis; the channel order is kept in ``channel_names``.
    """
    data = np.asarray(signal["data"])
    fields = data.dtype.names or ()
    channels = np.stack([data[name] for name in fields], axis=-1).astype(np.uint8)
    axes = [*signal.get("axes", []),
            {"name": "channel", "size": len(fields), "offset": 0.0, "scale": 1.0,
             "units": "", "index_in_array": data.ndim}]
    return {**signal, "data": channels, "axes": axes, "channel_names": ",".join(fields)}


def signal_to_dataset(signal: Mapping[str, Any], default_name: str) -> Dataset:
    """One rsciio signal dict as a dataset (data stays as rsciio returned it, lazy)."""
    if np.dtype(signal["data"].dtype).names:
        signal = rgb_as_channels(signal)
    data = signal["data"]
    shape = tuple(int(n) for n in data.shape)
    dims = axes_to_dims(signal.get("axes", []), shape)
    title = _text(signal.get("metadata", {}).get("General", {}).get("title"), "")
    attrs: dict[str, Any] = {}
    if title:
        attrs["title"] = title
    if "channel_names" in signal:
        attrs["channel_names"] = signal["channel_names"]
    original = signal.get("original_metadata") or {}
    if original:
        attrs[ORIGINAL_METADATA_ATTR] = metadata_json(original)
    return Dataset(title or default_name, data, dims, attrs)


def signals_to_model(signals: Sequence[Mapping[str, Any]]) -> EMDFile:
    """A list of rsciio signal dicts as one :class:`EMDFile`, one dataset each."""
    datasets = tuple(signal_to_dataset(s, f"dataset_{i}") for i, s in enumerate(signals))
    return EMDFile(datasets)
