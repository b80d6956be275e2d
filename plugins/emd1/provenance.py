"""The core's provenance entry, appended to a written EMD 1.0 file's ``comments``."""

from __future__ import annotations

from pathlib import Path

from emdconvert.emd.writer import unique_key
from emdconvert.model import Comment
from emdconvert.plugins.emd1.layout import COMMENTS
from emdconvert.plugins.emd1.metadata import bundle, start_metadata, write_item
from emdconvert.plugins.emd1.verify import root_group


def append_comment(path: Path, comment: Comment) -> None:
    """Add *comment* as one more string item of the root's ``comments`` Metadata
    (created if absent); an existing entry is never rewritten."""
    import h5py

    with h5py.File(path, "r+") as h5:
        root = root_group(h5)
        group = bundle(root).get(COMMENTS)
        if group is None:
            group = start_metadata(root, COMMENTS)
        write_item(group, unique_key(comment, group), comment.message)
