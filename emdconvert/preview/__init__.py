"""Previews: a PNG of any readable file, with a scale bar from its calibration.

``emdconvert.preview(src, dst)`` and ``emdconvert preview IN [OUT.png]``.  The modules,
one job each: :mod:`~emdconvert.preview.kinds` (what the data are),
:mod:`~emdconvert.preview.sampling` (bounded reads) with
:mod:`~emdconvert.preview.storage` (what a read costs on disk), :mod:`~emdconvert.preview.contrast`
(values to grey levels), :mod:`~emdconvert.preview.calibration` and
:mod:`~emdconvert.preview.scalebar` (units and the bar), :mod:`~emdconvert.preview.figures`
(one layout per kind), :mod:`~emdconvert.preview.render` (matplotlib, imported only
when a picture is drawn) and :mod:`~emdconvert.preview.api` (the call itself).
"""

from __future__ import annotations

from emdconvert.preview.api import Preview, preview
from emdconvert.preview.scalebar import ScaleBar

__all__ = ["Preview", "ScaleBar", "preview"]
