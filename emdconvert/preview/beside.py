"""``--preview``: a conversion that also leaves a PNG of its output beside it.

The PNG is drawn from the published output (so it shows what was written, read back
through the same reader any user would use) into ``scan.png`` beside ``scan.emd``
(:func:`emdconvert.pipeline.preview_path`), atomically like every output.  ``prepare``
has already refused a PNG that exists (without ``overwrite``) or that would replace the
source.  A preview that cannot be drawn (data of more than four axes, say) is a warning,
not a failure: the conversion it comes with is complete and correct, and a watch daemon
must not quarantine good data for want of a picture.
"""

from __future__ import annotations

import logging
from pathlib import Path

from emdconvert.errors import EmdConvertError
from emdconvert.pipeline import Prepared, ProgressCallback, preview_path, run
from emdconvert.preview.api import preview

log = logging.getLogger(__name__)


def run_with_preview(prepared: Prepared, *, progress: ProgressCallback | None = None) -> Path:
    """:func:`emdconvert.pipeline.run`, then the PNG of the output if the options ask."""
    target = run(prepared, progress=progress)
    if prepared.options.preview:
        png = preview_path(target)
        try:
            preview(target, png, overwrite=prepared.overwrite)
        except EmdConvertError as exc:
            log.warning("%s: no preview written: %s", png, exc.reason)
        except Exception as exc:  # a drawing bug must not undo a finished conversion
            log.warning("%s: no preview written: %s: %s", png, type(exc).__name__, exc)
    return target
