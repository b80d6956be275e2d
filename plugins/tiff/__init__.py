"""The ``tiff`` format plugin: TIFF read (tifffile, page by page) and ImageJ-compatible
TIFF write.

Reading: single images, multi-page and BigTIFF stacks, ImageJ hyperstacks and compressed
TIFF come from tifffile's series, read lazily page by page so a stack streams in bounded
memory; a folder or glob of single-frame TIFFs is one stack.  Writing: an ImageJ
hyperstack with its calibration, or a (Big)TIFF stack with the same description for the
dtypes ImageJ cannot open.

The modules: ``plugin`` (the contract the core calls), ``errorlog`` (tifffile's logged
errors made fatal), ``integrity`` (page list and strip/tile checks before any pixel is
read), ``reader`` (a file's series), ``pages`` (the lazy page array), ``frames``
(folder-of-frames stacks), ``calibration_read`` and ``calibration_write`` (ImageJ,
DigitalMicrograph and rsciio calibrations), ``writer`` (the TIFF writer).  Only the
plugin class is exported here, for the entry point ``emdconvert.plugins.tiff:TIFFPlugin``.
"""

from __future__ import annotations

from emdconvert.plugins.tiff.plugin import TIFFPlugin

__all__ = ["TIFFPlugin"]
