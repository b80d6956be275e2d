"""The dashboard in a real browser: live counts, a thumbnail, a quarantined file, no injection.

Headless Chromium (Debian's) loads the page once; files are dropped afterwards, and the
page must show them without a reload.  Inputs come from independent writers (tifffile,
plain bytes); the expected sizes and the thumbnail's width come from the files on disk.
The screenshot is saved under the test's tmp folder (and copied to
``$EMDCONVERT_SCREENSHOT_DIR`` when set, to look at).
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Any

import matplotlib.image
import numpy as np
import pytest
import tifffile
from support.dashboard import browser, dashboard_url
from support.watch_daemon import wait_for

pytestmark = pytest.mark.slow

HOSTILE = "<img src=x onerror=alert(1)>.dm4"


@pytest.fixture
def backend() -> str:
    """One backend is enough here: the page does not depend on how files are found."""
    return "polling"


def _text(driver: Any, selector: str) -> list[str]:
    """The text of every element matching *selector*, read in one step (the page
    rebuilds its tables every 2 s, so elements found first and read later go stale)."""
    script = "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent)"
    return list(driver.execute_script(script, selector))


def test_dashboard_updates_live_and_shows_names_as_text(daemon_factory, tmp_path: Path) -> None:
    daemon = daemon_factory(http="127.0.0.1:0", preview=True, max_wait=600)
    driver = browser()
    try:
        driver.get(dashboard_url(daemon))
        driver.execute_script("window.loadedOnce = true")
        wait_for(lambda: _text(driver, "#count-done .n") == ["0"], 20, what="first render")
        assert _text(driver, "#recent td") == ["nothing converted yet"]

        image = np.linspace(0, 1, 48 * 64, dtype=np.float32).reshape(48, 64)
        tifffile.imwrite(daemon.in_dir / "scan.tif", image)
        (daemon.in_dir / HOSTILE).write_bytes(b"not a DM file " * 64)
        half = io.BytesIO()
        np.save(half, np.zeros((64, 64), np.float32))
        (daemon.in_dir / "half.npy").write_bytes(half.getvalue()[:5000])  # still being written

        wait_for(
            lambda: (
                _text(driver, "#count-done .n") == ["1"]
                and _text(driver, "#count-failed .n") == ["1"]
            ),
            60,
            what="the page's counts to update",
        )
        recent = _text(driver, "#recent tbody td")
        assert recent[1:3] == ["scan.tif", "scan.emd"], recent
        png = daemon.out_dir / "scan.png"
        width = matplotlib.image.imread(png).shape[1]
        wait_for(
            lambda: (
                driver.execute_script(
                    "const i = document.querySelector('#recent img.thumb');"
                    "return i && i.complete ? i.naturalWidth : 0"
                )
                == width
            ),
            20,
            what="the thumbnail to render at the PNG's width",
        )

        failure = _text(driver, "#failures tbody td")
        assert failure[0] == HOSTILE  # the name as text, exactly
        assert failure[1] == "failed" and "unrecognised format" in failure[3]
        assert "--retry" in failure[6] and HOSTILE in failure[6]
        injected = driver.execute_script(
            "return document.querySelectorAll('img[src=\"x\"], #failures img').length"
        )
        assert injected == 0
        shutil.copyfile(daemon.in_dir / "scan.tif", daemon.in_dir / "scan copy.tif")
        wait_for(
            lambda: (
                _text(driver, "#aliases tbody td")[:5]
                == ["scan copy.tif", "scan copy.emd", "scan.tif", "scan.emd", "hardlink"]
            ),
            30,
            what="the copy in the aliases table",
        )
        assert os.path.samefile(daemon.out_dir / "scan copy.png", png)  # its preview too
        wait_for(
            lambda: _text(driver, "#waiting tbody td")[:2] == ["half.npy", "incomplete"],
            30,
            what="the incomplete file in the waiting table",
        )
        assert driver.execute_script("return window.loadedOnce") is True  # no reload

        shot = tmp_path / "dashboard.png"
        driver.save_screenshot(str(shot))
        assert matplotlib.image.imread(shot).shape[1] >= 1000
        if os.environ.get("EMDCONVERT_SCREENSHOT_DIR"):
            shutil.copy(shot, Path(os.environ["EMDCONVERT_SCREENSHOT_DIR"]) / shot.name)
    finally:
        driver.quit()
