"""The small RGB preview GMS keeps as a DM document's first image.

It must be known before the data are streamed (the thumbnail comes first in the file),
so it is sampled from the data directly: at most :data:`SIZE` rows of the first 2-D
plane, one row read at a time, so memory stays bounded whatever the image size.
"""

from __future__ import annotations

import numpy as np

from emdconvert.lazy import LazyArray

#: The longest side of the thumbnail, in pixels.
SIZE = 64


def thumbnail(data: LazyArray, rgb: bool) -> np.ndarray:
    """A ``(h, w, 4)`` uint8 image, bytes in DM's B, G, R, A order.

    Grey levels span the sampled minimum to maximum (magnitude for complex data);
    an RGB(A) source is subsampled as it is.
    """
    shape = tuple(int(n) for n in data.shape)
    plane = shape[:-1] if rgb else shape
    lead = (0,) * max(len(plane) - 2, 0)
    height, width = (plane[-2], plane[-1]) if len(plane) > 1 else (1, plane[-1])
    rows = np.linspace(0, height - 1, min(height, SIZE)).round().astype(int)
    cols = np.linspace(0, width - 1, min(width, SIZE)).round().astype(int)
    sampled = []
    for row in rows:
        index = (*lead, int(row)) if len(plane) > 1 else ()
        line = np.asarray(data[(*index, slice(None))])
        sampled.append(line[cols])
    image = np.stack(sampled)
    if rgb:
        pixels = np.full((*image.shape[:2], 4), 255, np.uint8)
        pixels[..., :3] = image[..., 2::-1]  # R, G, B -> B, G, R
        return pixels
    values = np.abs(image) if image.dtype.kind == "c" else image.astype(np.float64)
    finite = values[np.isfinite(values)]
    low, high = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
    grey = np.zeros(values.shape, np.uint8)
    if high > low:
        scaled = (np.nan_to_num(values, nan=low) - low) / (high - low) * 255
        grey = np.clip(scaled, 0, 255).astype(np.uint8)
    pixels = np.full((*grey.shape, 4), 255, np.uint8)
    pixels[..., :3] = grey[..., None]
    return pixels
