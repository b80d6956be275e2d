"""emdconvert: convert electron-microscopy data into spec-compliant Berkeley EMD files.

Library use::

    import emdconvert
    emdconvert.convert("scan.dm4", "scan.emd")          # any format -> EMD (or back)
    model = emdconvert.read("scan.emd")                 # lazy canonical model
    emdconvert.write(emdconvert.EMDFile.from_array(frames), "frames.emd")
    emdconvert.preview("scan.dm4")                      # scan.png, with a scale bar

Importing this package loads numpy only; h5py, rsciio, tifffile and dask are imported
by the plugins that need them, when they need them, and matplotlib when a preview is
drawn.
"""

from __future__ import annotations

from emdconvert.api import convert, read, write
from emdconvert.emd.stream import StreamWriter
from emdconvert.errors import (
    EmdConvertError,
    EnvironmentProblem,
    FormatError,
    IncompleteError,
    InputError,
    OutputExistsError,
    PolicyError,
    UnknownFormatError,
    UnsupportedError,
    UsageError,
)
from emdconvert.model import Comment, Dataset, Dim, EMDFile
from emdconvert.options import ConvertOptions
from emdconvert.preview import Preview, preview
from emdconvert.version import VERSION

__version__ = VERSION

__all__ = [
    "Comment",
    "ConvertOptions",
    "Dataset",
    "Dim",
    "EMDFile",
    "EmdConvertError",
    "EnvironmentProblem",
    "FormatError",
    "IncompleteError",
    "InputError",
    "OutputExistsError",
    "PolicyError",
    "Preview",
    "StreamWriter",
    "UnknownFormatError",
    "UnsupportedError",
    "UsageError",
    "__version__",
    "convert",
    "preview",
    "read",
    "write",
]
