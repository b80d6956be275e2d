"""The ``daemon_factory`` fixture: the real daemon in a subprocess (see support/watch_daemon.py).

Every daemon test runs once per watcher backend: ``backend`` is parametrised over
inotify and polling.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.watch_daemon import DaemonHandle, daemon_args


@pytest.fixture(params=["inotify", "polling"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def daemon_factory(tmp_path: Path, backend: str) -> Iterator[Callable[..., DaemonHandle]]:
    """``daemon_factory(**options, env={...}, state_dir=..., wait=True)`` starts a daemon.

    Folders default to ``tmp_path/in``, ``out`` and ``state``; all daemons still running
    at the end are killed.
    """
    started: list[DaemonHandle] = []
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()

    def start(
        *,
        env: dict[str, str] | None = None,
        state_dir: Path | None = None,
        wait: bool = True,
        **options: Any,
    ) -> DaemonHandle:
        state = state_dir or tmp_path / "state"
        environment = {**os.environ, **(env or {})}
        index = len(started)
        handle = DaemonHandle(
            daemon_args(tmp_path / "in", tmp_path / "out", state, backend, options),
            environment,
            tmp_path / "in",
            tmp_path / "out",
            state,
            tmp_path / f"daemon{index}.log",
        )
        started.append(handle)
        if wait:
            handle.wait_watching()
        return handle

    yield start
    for handle in started:
        if handle.proc.poll() is None:
            handle.kill()
