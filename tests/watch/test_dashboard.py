"""The dashboard over plain HTTP: metrics and status that agree with the files, health
that notices a dead poller, and the read-only, loopback-only, previews-only rules.

Expected numbers come from the files on disk (sizes), the ledger, and the Prometheus
client's own parser; the daemon is the real one, in a subprocess.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.dashboard import dashboard_url, get
from support.watch_daemon import run_cli, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def backend() -> str:
    """The poller: the backend whose silent death /healthz exists to catch."""
    return "polling"


def _npy(path: Path, value: float) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.full((32, 48), value, dtype=np.float32))
    path.write_bytes(buffer.getvalue())


def _metrics(url: str) -> dict[str, float]:
    status, headers, body = get(url + "metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    values = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    return values


def test_metrics_and_status_agree_with_the_files(daemon_factory) -> None:
    daemon = daemon_factory(http="127.0.0.1:0")
    url = dashboard_url(daemon)
    for name, value in (("a.npy", 1.0), ("b.npy", 2.0)):
        _npy(daemon.in_dir / name, value)
    (daemon.in_dir / "bad.dm4").write_bytes(b"no DM header" * 20)
    daemon.wait_states({"a.npy": "done", "b.npy": "done", "bad.dm4": "failed"})
    source_bytes = sum(os.path.getsize(daemon.in_dir / n) for n in ("a.npy", "b.npy"))

    metrics = wait_for(
        lambda: (m := _metrics(url))["emdconvert_watch_files_total{outcome=done}"] == 2 and m,
        10,
        what="the metrics to count both conversions",
    )
    assert metrics["emdconvert_watch_files_total{outcome=failed}"] == 1
    assert metrics["emdconvert_watch_converted_bytes_total"] == source_bytes
    assert metrics["emdconvert_watch_conversion_seconds_count"] == 2
    assert metrics["emdconvert_watch_queue_depth"] == 0
    assert metrics["emdconvert_watch_worker_restarts_total"] == 0
    assert time.time() - metrics["emdconvert_watch_last_scan_timestamp_seconds"] < 10
    assert metrics["emdconvert_watch_healthy"] == 1

    status, _, body = get(url + "api/status")
    facts = json.loads(body)
    assert status == 200 and facts["schema"] == "emdconvert.watch-status/1"
    assert (facts["counts"]["done"], facts["counts"]["failed"], facts["total"]) == (2, 1, 3)
    for row in facts["recent"]:
        assert row["output_bytes"] == os.path.getsize(daemon.out_dir / row["output"])
        assert row["source_bytes"] == os.path.getsize(daemon.in_dir / row["path"])
    assert facts["failures"][0]["path"] == "bad.dm4"
    assert facts["failures"][0]["retry_command"].endswith("--retry bad.dm4")
    assert facts["health"] == {"ok": True, "problems": []}
    assert get(url + "healthz")[:3:2] == (200, b"ok\n")

    (daemon.in_dir / "copy.npy").write_bytes((daemon.in_dir / "a.npy").read_bytes())
    daemon.wait_states({"copy.npy": "alias"})
    alias = json.loads(get(url + "api/status")[2])["aliases"][0]
    assert alias["path"] == "copy.npy" and alias["same_as"] == "a.npy"
    assert os.path.samefile(daemon.out_dir / alias["output"], daemon.out_dir / alias["links_to"])

    # The command line's JSON is the same picture, daemon running or not.
    shown = json.loads(
        run_cli("watch", "--state-dir", daemon.state_dir, "--status", "--json").stdout
    )
    assert shown["counts"]["done"] == 2 and shown["counts"]["alias"] == 1
    assert shown["daemon_pid"] == daemon.pid
    assert daemon.stop() == 0
    stopped = run_cli("watch", "--state-dir", daemon.state_dir, "--status", "--json")
    assert stopped.returncode == 0 and json.loads(stopped.stdout)["daemon_pid"] is None


def test_healthz_fails_when_the_poller_stops_answering(daemon_factory) -> None:
    """A poller blocked in a file-system call (a dead SMB share) keeps its thread alive:
    /healthz must still say 503, with the reason."""
    daemon = daemon_factory(http="127.0.0.1:0", env={"EMDCONVERT_TEST_FAULT": "hang@poll_listing"})
    url = dashboard_url(daemon)
    reason = b"the poller has not finished a file-system call"
    wait_for(
        lambda: get(url + "healthz")[0] == 503 and reason in get(url + "healthz")[2],
        30,
        what="a 503 naming the poller",
    )
    assert _metrics(url)["emdconvert_watch_healthy"] == 0
    assert json.loads(get(url + "api/status")[2])["health"]["ok"] is False


def _raw(url: str, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> int:
    """Status of a request with *path* sent exactly as given (no client normalisation)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.request(method, path, headers=headers or {})
    status = connection.getresponse().status
    connection.close()
    return status


def test_read_only_loopback_only_and_previews_only(daemon_factory, tmp_path: Path) -> None:
    daemon = daemon_factory(http="127.0.0.1:0", preview=True)
    url = dashboard_url(daemon)
    _npy(daemon.in_dir / "a.npy", 1.0)
    daemon.wait_states({"a.npy": "done"})
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG not yours")
    (daemon.out_dir / "link.png").symlink_to(secret)

    status, headers, body = get(url + "previews/a.png")
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert body == (daemon.out_dir / "a.png").read_bytes()
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    for path in (
        "/previews/../state/ledger.sqlite3",
        "/previews/%2e%2e/secret.png",
        "/previews/..%2f..%2fsecret.png",
        "/previews/link.png",  # a symbolic link out of OUT_DIR
        "/previews/a.emd",  # not a preview
        "/previews/" + str(secret),
    ):
        assert _raw(url, path) == 404, path
    for method in ("POST", "PUT", "DELETE"):
        assert _raw(url, "/api/status", method=method) == 405
    assert _raw(url, "/", {"Host": "attacker.example:80"}) == 403  # DNS rebinding
    assert _raw(url, "/", {"Host": "localhost"}) == 200


def test_remote_access_needs_the_flag_and_a_token(daemon_factory, tmp_path: Path) -> None:
    folders = ("watch", tmp_path / "in", "--out", tmp_path / "out", "--state-dir", tmp_path / "s")
    refused = run_cli(*folders, "--allow-root", "--http", "0.0.0.0:0")
    assert refused.returncode == 2 and "--http-allow-remote" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    no_token = run_cli(*folders, "--allow-root", "--http", "0.0.0.0:0", "--http-allow-remote")
    assert no_token.returncode == 2 and "token" in no_token.stderr

    config = tmp_path / "watch.toml"
    config.write_text('http = "0.0.0.0:0"\nhttp_allow_remote = true\nhttp_token = "s3cret"\n')
    daemon = daemon_factory(config=config)
    port = urlsplit(dashboard_url(daemon)).port
    url = f"http://127.0.0.1:{port}/"
    assert get(url + "api/status")[0] == 401
    assert get(url + "api/status", {"Authorization": "Bearer wrong"})[0] == 401
    assert get(url + "api/status", {"Authorization": "Bearer s3cret"})[0] == 200
    assert get(url + "metrics?token=s3cret")[0] == 200
