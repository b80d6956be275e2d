"""Units of the dashboard: who may connect, when the daemon counts as healthy."""

from __future__ import annotations

import queue
import time
from pathlib import Path

import pytest

from emdconvert.errors import UsageError
from emdconvert.watch.dashboard.access import Binding, parse_binding
from emdconvert.watch.dashboard.monitor import LOOP_STALE, Monitor
from emdconvert.watch.events import Pulse, start_observer, watcher_problem
from emdconvert.watch.outcomes import Outcome


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:8765", Binding("127.0.0.1", 8765)),
        ("localhost:0", Binding("localhost", 0)),
        ("[::1]:9000", Binding("::1", 9000)),
        ("127.8.9.10:1", Binding("127.8.9.10", 1)),
    ],
)
def test_loopback_addresses_need_nothing_else(address: str, expected: Binding) -> None:
    assert parse_binding(address, allow_remote=False, token=None) == expected


@pytest.mark.parametrize("address", ["8765", "127.0.0.1", ":8765", "127.0.0.1:http", "h:70000"])
def test_malformed_addresses_are_usage_errors(address: str) -> None:
    with pytest.raises(UsageError, match="HOST:PORT"):
        parse_binding(address, allow_remote=False, token=None)


def test_remote_needs_the_flag_and_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMDCONVERT_HTTP_TOKEN", raising=False)
    for host in ("0.0.0.0", "192.168.1.20", "::", "titan.example"):
        with pytest.raises(UsageError, match="--http-allow-remote"):
            parse_binding(f"[{host}]:80", allow_remote=False, token="t")
    with pytest.raises(UsageError, match="token"):
        parse_binding("0.0.0.0:80", allow_remote=True, token=None)
    monkeypatch.setenv("EMDCONVERT_HTTP_TOKEN", "from-env")
    binding = parse_binding("0.0.0.0:80", allow_remote=True, token=None)
    assert binding.token == "from-env"
    assert binding.allows("Bearer from-env", None) and binding.allows(None, "from-env")
    assert not binding.allows("Bearer wrong", None) and not binding.allows(None, None)
    assert not binding.allows("Basic from-env", None)


def _healthy_tick(monitor: Monitor, **changes: object) -> None:
    values: dict[str, object] = {
        "queued": 0,
        "in_flight": 0,
        "restarts": 0,
        "scan_time": time.time(),
        "watcher_problem": None,
    }
    monitor.tick(**{**values, **changes})  # type: ignore[arg-type]


def test_health_needs_a_running_loop_a_watcher_and_a_recent_scan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monitor = Monitor(rescan_interval=60)
    assert monitor.problems() == ["the daemon is starting"]
    _healthy_tick(monitor)
    assert monitor.problems() == []
    _healthy_tick(monitor, scan_time=time.time() - 151)  # > 2 x 60 + 30 s
    assert monitor.problems() == ["the last full scan finished 151 s ago"]
    _healthy_tick(monitor, watcher_problem="the file watcher has stopped")
    assert monitor.problems() == ["the file watcher has stopped"]
    _healthy_tick(monitor)
    later = time.monotonic() + LOOP_STALE + 5
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert monitor.problems()[0].startswith("the daemon's loop has not run for")


def test_metrics_count_outcomes_bytes_and_restarts() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    monitor = Monitor(rescan_interval=60)
    monitor.recorded(Outcome.DONE, size=1000, seconds=0.3)
    monitor.recorded(Outcome.FAILED, size=50, seconds=0.1)
    _healthy_tick(monitor, restarts=2)
    _healthy_tick(monitor, restarts=2)  # the pool's total, not an increment
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(monitor.metrics().decode())
        for s in family.samples
    }
    assert samples[("emdconvert_watch_files_total", (("outcome", "done"),))] == 1
    assert samples[("emdconvert_watch_files_total", (("outcome", "failed"),))] == 1
    assert samples[("emdconvert_watch_files_total", (("outcome", "timeout"),))] == 0
    assert samples[("emdconvert_watch_converted_bytes_total", ())] == 1000
    assert samples[("emdconvert_watch_conversion_seconds_count", ())] == 1
    assert samples[("emdconvert_watch_worker_restarts_total", ())] == 2


def test_a_stopped_poller_is_a_problem_even_if_the_observer_thread_runs(tmp_path: Path) -> None:
    pulse = Pulse()
    observer = start_observer(
        "polling", tmp_path, queue.SimpleQueue(), recursive=False, poll_interval=0.05, pulse=pulse
    )
    try:
        assert watcher_problem(observer, pulse, quiet_limit=5) is None
        for emitter in list(observer.emitters):
            emitter.stop()  # what watchdog does when the share's folder vanishes
            emitter.join(5)
        assert observer.is_alive()
        assert watcher_problem(observer, pulse, quiet_limit=5) == "the file watcher has stopped"
    finally:
        observer.stop()
        observer.join(5)
    assert watcher_problem(None, pulse, quiet_limit=5) == "no file watcher is running"
