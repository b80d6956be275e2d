"""Where the shared real-file corpus is."""

from __future__ import annotations

import os
from pathlib import Path


def corpus_dir() -> Path:
    """The real-file corpus: ``$EMDCONVERT_CORPUS``, else ``../shared/corpus`` beside the
    project checkout (found from the working directory or from this source tree)."""
    if "EMDCONVERT_CORPUS" in os.environ:
        return Path(os.environ["EMDCONVERT_CORPUS"])
    candidates = [Path.cwd().resolve().parent, Path(__file__).resolve().parents[3]]
    for base in candidates:
        if (base / "shared" / "corpus").is_dir():
            return base / "shared" / "corpus"
    return candidates[0] / "shared" / "corpus"
