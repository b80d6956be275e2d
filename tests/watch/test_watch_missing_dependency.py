"""A file that needs a library the machine lacks is retried, never quarantined (issue 14,
item 5): the fix is ``pip install``, after which the same content converts.

The library is hidden from the daemon and its workers by a ``sitecustomize`` on
``PYTHONPATH`` that sets ``sys.modules["imagecodecs"] = None`` while a flag file exists;
removing the flag is "installing" it.  Workers are recycled after every task, so each
attempt starts a fresh interpreter that looks at the flag again.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from support.watch_daemon import wait_for

_SITECUSTOMIZE = """
import os, sys
if os.path.exists(os.environ["EMDCONVERT_TEST_HIDE_FLAG"]):
    sys.modules["imagecodecs"] = None
"""


@pytest.mark.parametrize("backend", ["inotify"])
def test_a_missing_codec_backs_off_and_converts_once_installed(
    daemon_factory, tmp_path: Path
) -> None:
    import tifffile

    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    flag = tmp_path / "imagecodecs-missing"
    flag.touch()
    path = os.pathsep.join(filter(None, [str(hide), os.environ.get("PYTHONPATH")]))
    # Back-off long enough that the row sits in "retry" between attempts (with 0.3 s
    # the third attempt could already hold it, "claimed", when it is looked at).
    daemon = daemon_factory(
        workers=1,
        recycle_after=1,
        backoff_initial=1.5,
        backoff_max=1.5,
        env={"PYTHONPATH": path, "EMDCONVERT_TEST_HIDE_FLAG": str(flag)},
    )
    staged = tmp_path / "a.tif"  # LZW: tifffile decodes it only through imagecodecs
    tifffile.imwrite(staged, np.arange(64 * 48, dtype=np.uint16).reshape(64, 48), compression="lzw")
    os.rename(staged, daemon.in_dir / "a.tif")

    wait_for(
        lambda: (
            daemon.log().count("environment-problem path=a.tif") >= 2
            or "quarantined path=a.tif" in daemon.log()
        ),
        what="two backed-off attempts",
    )
    assert "quarantined" not in daemon.log(), daemon.log()[-3000:]
    daemon.wait_states({"a.tif": "retry"}, timeout=5)  # the log line precedes the row
    assert daemon.reports() == [] and daemon.outputs() == []
    (row,) = daemon.rows("a.tif")
    assert row.kind == "missing-dependency"
    assert row.detail is not None and "pip install imagecodecs" in row.detail
    assert row.attempts == 0  # retries of the machine's problem are not failures

    flag.unlink()  # "pip install imagecodecs"
    daemon.wait_states({"a.tif": "done"})
    assert [p.name for p in daemon.outputs()] == ["a.emd"]
    assert daemon.reports() == []
    assert daemon.stop() == 0
