"""A daemon killed mid-burst, again and again, still converges on the clean result.

README, Safety rules W5.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import numpy as np
import pytest
from support.watch_daemon import DaemonHandle, burst, in_thread, wait_for

from emdconvert.api import read
from emdconvert.publish import TEMP_PREFIX, TEMP_SUFFIX
from emdconvert.watch.worker import sha256_of

FILES = 250
KILLS = 3
#: Seeded, so a failing run can be replayed; each backend gets its own kill times.
SEED = 30


def _done(daemon: DaemonHandle) -> int:
    return sum(state == "done" for state in daemon.states().values())


def _kill_while_converting(daemon: DaemonHandle, rng: random.Random) -> None:
    """Once this daemon has published something, SIGKILL it and its workers a random
    0-0.5 s later: at ~90 files/s that lands anywhere in claim, convert, publish, record."""
    before = _done(daemon)
    wait_for(
        lambda: _done(daemon) > before, timeout=60, step=0.02, what="conversions to be under way"
    )
    time.sleep(rng.uniform(0.0, 0.5))
    daemon.kill()


@pytest.mark.slow
def test_t30_sigkill_mid_burst_then_restart_converges(
    daemon_factory: Callable[..., DaemonHandle], backend: str
) -> None:
    """SIGKILL the daemon and its workers at a random moment while conversions are in
    flight, three times, then let a fourth daemon finish: the result must be the one an
    uninterrupted run gives, one verified output per source and nothing left over."""
    rng = random.Random(f"{SEED}-{backend}")
    daemon = daemon_factory()
    runs = [daemon]
    writer = in_thread(lambda: burst(daemon.in_dir, FILES))
    for _ in range(KILLS):
        _kill_while_converting(daemon, rng)
        daemon = daemon_factory()
        runs.append(daemon)
    writer.join()
    killed_at = _done(daemon)
    assert killed_at < FILES, "every kill came after the burst: nothing was interrupted"
    wait_for(lambda: _done(daemon) == FILES, timeout=120, step=0.1, what=f"{FILES} done rows")
    assert daemon.stop() == 0

    sources = sorted(daemon.in_dir.glob("*.npy"))
    rows = daemon.rows()
    assert len(sources) == FILES and len(rows) == FILES  # one row per source, no extras
    assert {row.state for row in rows} == {"done"}
    assert sorted(row.path for row in rows) == [source.name for source in sources]
    outputs = daemon.outputs()
    assert [output.name for output in outputs] == [s.stem + ".emd" for s in sources]
    by_path = {row.path: row for row in rows}
    for source, output in zip(sources, outputs, strict=True):
        row = by_path[source.name]
        assert row.output == output.name and row.sha256 == sha256_of(source)
        assert np.array_equal(np.asarray(read(output).datasets[0].data[()]), np.load(source))
    assert sorted(daemon.out_dir.rglob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}")) == []
    assert daemon.reports() == []
    assert any(" requeued " in run.log() for run in runs)  # the kills did hit claims
    print(f"kill loop ({backend}): {KILLS} kills, {killed_at}/{FILES} done before the last start")
