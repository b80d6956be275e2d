"""RosettaSciIO signal dictionaries -> canonical model.

rsciio readers return a list of ``{"data", "axes", "metadata", "original_metadata"}``
dicts.  Axes carry ``size/offset/scale/units/name``, listed in array order, which map
one-to-one onto uniform :class:`~emdconvert.model.Dim` vectors.  The original metadata
tree is kept whole, as JSON text on the dataset group, so nothing in the source is lost.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from emdconvert.errors import UnsupportedError
from emdconvert.metadata_map import readable_metadata
from emdconvert.model import Comment, Dataset, Dim, EMDFile

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
    """rsciio axes -> dims in array order.

    rsciio lists axes in array order, and that order is what HyperSpy uses: its
    ``AxesManager`` ignores ``index_in_array`` in axis dicts.  Readers fill that key
    inconsistently (TIA gives ``1`` to the only axis of a 1-D spectrum, and ``0`` to
    several axes of a map), so trusting it swapped x and y on non-square data and
    crashed on spectra.  A list that does not match the data's rank is padded with
    (or cut to) plain index axes; the data's shape always gives the sizes.
    """
    dims = []
    for i, size in enumerate(shape):
        axis: Mapping[str, Any] = axes[i] if i < len(axes) else {}
        name = _text(axis.get("name"), f"dim{i}")
        units = _text(axis.get("units"), "")
        if axis.get("axis") is not None:
            dims.append(Dim(name, units, np.asarray(axis["axis"], dtype=np.float64)))
            continue
        dims.append(
            Dim.uniform(
                name,
                size=size,
                scale=_number(axis.get("scale"), 1.0),
                offset=_number(axis.get("offset"), 0.0),
                units=units,
            )
        )
    return tuple(dims)


def _number(value: Any, default: float) -> float:
    """A calibration number; only a missing one takes *default* (a scale of 0 is kept:
    TVIPS writes it for a time axis whose frames carry no time step)."""
    return default if value is None else float(value)


def _text(value: Any, default: str) -> str:
    if value is None or value == [] or (isinstance(value, float) and np.isnan(value)):
        return default
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    text = str(value)
    return default if text in ("", "<undefined>", "Undefined") else text


def has_rgb_channels(dataset: Dataset) -> bool:
    """A trailing ``channel`` axis of 3 or 4 uint8 samples, as :func:`rgb_as_channels`
    makes them: what the TIFF and DM writers store as colour, not as grey planes."""
    return (
        len(dataset.shape) >= 2
        and dataset.shape[-1] in (3, 4)
        and dataset.dtype == np.uint8
        and dataset.dims[-1].name == "channel"
    )


def rgb_as_channels(signal: Mapping[str, Any]) -> dict[str, Any]:
    """A signal whose data are structured RGB(A), with a trailing ``channel`` axis.

    The channels keep the fields' own type (uint8 for most images, uint16 for 16-bit
    RGBA), so no value is cut.

    Most readers cannot show HDF5 compound types, so colour is stored as an extra axis
    (README, EMD layout L13); the channel order is kept in ``channel_names``.
    """
    data = np.asarray(signal["data"])
    fields = data.dtype.names or ()
    channels = np.stack([data[name] for name in fields], axis=-1)
    axes = [
        *signal.get("axes", []),
        {"name": "channel", "size": len(fields), "offset": 0.0, "scale": 1.0, "units": ""},
    ]
    return {**signal, "data": channels, "axes": axes, "channel_names": ",".join(fields)}


def signal_to_dataset(
    signal: Mapping[str, Any], default_name: str, extra_attrs: Mapping[str, Any] | None = None
) -> Dataset:
    """One rsciio signal dict as a dataset (data stays as rsciio returned it, lazy).

    *extra_attrs* are what the caller knows about the read itself (e.g. that it was
    eager); they land on the data group beside the signal's own attributes.
    """
    if np.dtype(signal["data"].dtype).names:
        signal = rgb_as_channels(signal)
    data = signal["data"]
    shape = tuple(int(n) for n in data.shape)
    dims = axes_to_dims(signal.get("axes", []), shape)
    title = _text(_title(signal), "")
    attrs: dict[str, Any] = dict(extra_attrs or {})
    if title:
        attrs["title"] = title
    if "channel_names" in signal:
        attrs["channel_names"] = signal["channel_names"]
    original = signal.get("original_metadata") or {}
    if original:
        attrs[ORIGINAL_METADATA_ATTR] = metadata_json(original)
    return Dataset(title or default_name, data, dims, attrs)


def is_text(signal: Mapping[str, Any]) -> bool:
    """Strings or Python objects, which are not EMD data (README, EMD layout L13)."""
    return np.dtype(signal["data"].dtype).kind in "SUO"


def text_values(signal: Mapping[str, Any]) -> str:
    """A text signal's values as a JSON list of strings (nested like the array)."""
    return json.dumps(_jsonable(np.asarray(signal["data"], dtype=object)), ensure_ascii=False)


def signals_to_model(
    signals: Sequence[Mapping[str, Any]], extra_attrs: Mapping[str, Any] | None = None
) -> EMDFile:
    """A list of rsciio signal dicts as one :class:`EMDFile`, one dataset each.

    A text signal beside numeric ones (a NeXus file's list of emission lines) is kept
    as a JSON attribute ``text_signal:<title>`` of the first dataset, and the output's
    provenance says so; a file holding text only is refused, as EMD has no place for it.
    """
    numeric = [(i, s) for i, s in enumerate(signals) if not is_text(s)]
    text = [(i, s) for i, s in enumerate(signals) if is_text(s)]
    if not numeric:
        dtypes = ", ".join(sorted({str(np.dtype(s["data"].dtype)) for s in signals}))
        raise UnsupportedError(f"holds only text or object data ({dtypes}), which is not EMD data")
    datasets = [signal_to_dataset(s, f"dataset_{i}", extra_attrs) for i, s in numeric]
    comments = []
    if text:
        kept = {f"text_signal:{_text(_title(s), f'dataset_{i}')}": text_values(s) for i, s in text}
        first = datasets[0]
        datasets[0] = dataclasses.replace(first, attrs={**first.attrs, **kept})
        comments.append(
            Comment.now(
                json.dumps(
                    {
                        "event": "read",
                        "skipped_text_signals": sorted(kept),
                        "kept_as_attributes_of": first.name,
                    },
                    sort_keys=True,
                )
            )
        )
    return EMDFile(tuple(datasets), comments=tuple(comments), **readable_metadata(signals))


def _title(signal: Mapping[str, Any]) -> Any:
    return signal.get("metadata", {}).get("General", {}).get("title")
