"""Talking to a running daemon's dashboard from tests: its URL, GETs, a headless browser.

The browser is Debian's Chromium driven by Selenium through Debian's chromedriver
(nothing downloads a browser); ``.ci/run`` installs both when they are missing, so the
browser test skips only outside CI.
"""

from __future__ import annotations

import os
import re
import shutil
import urllib.error
import urllib.request
from typing import Any

import pytest

from support.watch_daemon import DaemonHandle, wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: The flags the machine's notes give for headless Chromium as root on a closed network.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1300",
)


def dashboard_url(handle: DaemonHandle) -> str:
    """The URL the daemon logged in its ``dashboard`` line (port 0 picks a free port)."""
    found = wait_for(
        lambda: re.search(r"dashboard url=(\S+)", handle.log()), 30, what="the dashboard line"
    )
    return str(found.group(1))


def get(
    url: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    """``(status, headers, body)`` of one request; HTTP errors are answers, not raises."""
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def browser() -> Any:
    """A headless Chromium WebDriver, or a skip outside CI when none is installed."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{', '.join(missing)} missing: .ci/run installs chromium in CI")
        pytest.skip(
            f"{', '.join(missing)} not installed (apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
