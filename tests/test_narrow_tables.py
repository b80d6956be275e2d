"""The batch summary and ``watch --status`` fit an 80-column terminal (issue 17 item 5).

Rendered by rich at width 80 with paths of 150 characters and more and reasons of
several lines' length: every line must be at most 80 cells, and each row must still
say which file it is (the file name's end survives the cut) and why it failed.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from rich.cells import cell_len
from rich.console import Console

from emdconvert.batch import Outcome
from emdconvert.cli.report import outcomes_table
from emdconvert.narrow import ELLIPSIS, common_root, middle_ellipsis, relative
from emdconvert.watch.ledger import Ledger
from emdconvert.watch.stability import Signature
from emdconvert.watch.status import status_report

DEEP = "/".join(f"acquisition_session_{i:02d}_with_a_descriptive_name" for i in range(4))
REASON = (
    "truncated file: the header promises 268435456 bytes of pixel data but only "
    "1048576 follow; the file may still be being written by the acquisition software"
)


def rendered(renderable: object, width: int = 80) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text().splitlines()


def fits(lines: list[str], width: int = 80) -> None:
    too_wide = [line for line in lines if cell_len(line) > width]
    assert not too_wide, "\n".join(lines)


@pytest.mark.parametrize("width", [1, 2, 5, 8, 12, 20, 21, 22, 30, 40])
def test_middle_ellipsis_keeps_the_name_then_the_folder_start(width: int) -> None:
    text = "raw/2026-12-03/session_0042/detector_b/scan_0042_haadf.dm4"
    cut = middle_ellipsis(text, width)
    assert cell_len(cut) <= width and (ELLIPSIS in cut) == (width > 0)
    if width >= 5:
        assert cut.endswith(text[-2:])
    if width >= 21:  # the file name fits: kept whole, after the folder's start
        assert cut.endswith(f"{ELLIPSIS}/scan_0042_haadf.dm4") and cell_len(cut) >= width - 1
        assert cut.startswith("raw/" if width >= 25 else f"{'raw/2026'[: width - 21]}{ELLIPSIS}")
    elif width >= 8:  # it does not: the folders go first, then the name's middle
        assert cut.startswith(f"{ELLIPSIS}/sc") and cell_len(cut) >= width - 1
    assert middle_ellipsis(text, len(text)) == text


def test_middle_ellipsis_counts_wide_characters_as_two_cells() -> None:
    text = "データ/試料/走査像_0001.dm4"
    for width in range(3, cell_len(text)):
        assert cell_len(middle_ellipsis(text, width)) <= width


def test_common_root_and_relative_paths() -> None:
    paths = [Path("/d/raw/a/x.dm4"), Path("/d/raw/b/y.dm4")]
    assert common_root(paths) == Path("/d/raw")
    assert relative(paths[0], Path("/d/raw")) == "a/x.dm4"
    assert relative(Path("/elsewhere/z"), Path("/d/raw")) == "/elsewhere/z"
    assert common_root([Path("/x.dm4"), Path("/y.dm4")]) is None  # nothing but "/"
    assert common_root([]) is None


def batch_outcomes(tmp: Path) -> tuple[list[Outcome], Path]:
    root, out = tmp / DEEP / "raw", tmp / DEEP / "converted"
    outcomes = []
    for i in range(3):
        source = root / f"grid_{i}" / f"square_{i:03d}_foil_hole_{i * 7:05d}_data_acquisition.dm4"
        target = out / source.relative_to(root).with_suffix(".emd")
        outcomes.append(Outcome(source, target, 0, str(target), 12.5, 5_000_000, source_bytes=5e6))
    bad = root / "grid_9" / "a_file_whose_name_alone_is_longer_than_the_column_truncated.dm4"
    outcomes.append(Outcome(bad, out / "x.emd", 3, f"{bad}: {REASON}", 0.02, 0, kind="corrupt"))
    same = root / "grid_0" / "already_converted_in_an_earlier_run_of_the_same_batch.dm4"
    outcomes.append(
        Outcome(same, out / "grid_0" / "already.emd", 0, "up to date", 0.1, 0, up_to_date=True)
    )
    return outcomes, out


def test_summary_table_fits_80_columns_and_names_every_file(tmp_path: Path) -> None:
    outcomes, out = batch_outcomes(tmp_path)
    assert len(str(outcomes[3].source)) > 150
    lines = rendered(outcomes_table(outcomes, out_dir=out))
    fits(lines)
    text = "\n".join(lines)
    assert lines[0].strip() == "3 converted, 1 skipped, 1 failed"
    cells = [line.split("│")[1:4] for line in lines if line.startswith("│")]
    inputs = [cell.strip() for cell, _, _ in cells if cell.strip()]
    outputs = [out.strip() for _, status, out in cells if "ok" in status]
    assert len(set(inputs)) == 5 and all(name.endswith(".dm4") for name in inputs), text
    assert len(set(outputs)) == 3 and all(name.endswith(".emd") for name in outputs), text
    assert all(ELLIPSIS in name for name in inputs), text
    assert "up to date" in text and "exit 3" in text
    words = " ".join(text.replace("│", " ").split())
    assert "may still be being written by the acquisition software" in words  # folded, whole
    assert str(outcomes[3].source) not in words  # the reason's "<file>: " is left out
    caption = "".join(line.strip() for line in lines if not line.startswith(("┃", "│", "┏")))
    assert f"inputs in{out.parent / 'raw'}" in caption and f"outputs in{out}" in caption


def test_summary_table_without_long_paths_is_unchanged_in_content(tmp_path: Path) -> None:
    source = tmp_path / "a.npy"
    ok = Outcome(source, tmp_path / "out" / "a.emd", 0, "x", 0.5, 1_000_000, source_bytes=10**6)
    lines = rendered(outcomes_table([ok], out_dir=tmp_path / "out"))
    row = next(line for line in lines if "a.npy" in line)
    assert "a.emd" in row and "ok" in row and "1.0" in row and "0.50" in row
    assert lines[0].strip() == "1 converted, 0 failed"


def long_ledger(state_dir: Path) -> list[str]:
    """A ledger with long paths: two failures, an alias; returns the names to find."""
    deep = f"{DEEP}/detector_b/scan_0042_haadf_with_a_very_long_name_indeed.dm4"
    ledger = Ledger(state_dir)
    now = time.time()
    with ledger.batch():
        for name, state in ((deep, "failed"), (deep.replace("0042", "0043"), "retry")):
            row = ledger.add(name, Signature(1, 2, 3, 4), "test")
            ledger.update(
                row, state=state, kind="missing-dependency", detail=REASON, attempts=3, finished=now
            )
        first = ledger.add(f"{DEEP}/original_scan_name.npy", Signature(9, 2, 3, 4), "test")
        ledger.update(first, state="done", output=f"{DEEP}/original_scan_name.emd", finished=now)
        copy = ledger.add(f"{DEEP}/copy_of_the_scan.npy", Signature(9, 3, 4, 4), "test")
        ledger.update(
            copy,
            state="alias",
            alias_of=first,
            kind="hardlink",
            output=f"{DEEP}/copy_of_the_scan.emd",
            finished=now,
        )
    ledger.close()
    return ["haadf_with_a_very_long_name_indeed.dm4", "copy_of_the_scan.npy", "scan_name.npy"]


def test_watch_status_fits_80_columns(tmp_path: Path) -> None:
    names = long_ledger(tmp_path)
    lines = rendered(status_report(tmp_path))
    fits(lines)
    text = "\n".join(lines)
    for number in ("0042", "0043"):  # the two failures stay apart
        assert text.count(f"scan_{number}") == 1, text
    assert "failed" in text and "retry" in text and "hardlink" in text
    for name in names[1:]:
        assert name in text, text
    words = " ".join(text.replace("│", " ").split())
    assert "acquisition software" in words


def test_watch_status_command_fits_80_columns(tmp_path: Path) -> None:
    names = long_ledger(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "emdconvert", "watch", "--status", "--state-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert result.returncode == 0, result.stderr
    fits(result.stdout.splitlines())
    assert names[1] in result.stdout


def test_watch_status_keeps_one_line_per_row_when_it_fits(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    with ledger.batch():
        row = ledger.add("bad.dm4", Signature(1, 2, 3, 4), "test")
        ledger.update(row, state="failed", kind="corrupt", detail="bad tag", finished=time.time())
    ledger.close()
    lines = rendered(status_report(tmp_path))
    fits(lines)
    row = next(line for line in lines if "bad.dm4" in line)
    assert "failed" in row and "corrupt" in row and "bad tag" in row
    assert any("attempts" in line for line in lines)  # the wide layout, its headers
    (tmp_path / "long").mkdir()
    long_ledger(tmp_path / "long")
    assert not any("attempts" in line for line in rendered(status_report(tmp_path / "long")))


def test_a_rerun_lists_up_to_date_files_in_the_table(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "b"):
        np.save(folder / f"{name}.npy", np.full((3, 4), ord(name), np.uint16))

    def batch(*flags: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "emdconvert", "convert", str(folder)]
        return subprocess.run(
            [*argv, "--out-dir", str(tmp_path / "out"), *flags],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "COLUMNS": "80"},
        )

    assert batch().returncode == 0
    first = (tmp_path / "out" / "a.emd").stat()
    np.save(folder / "c.npy", np.full((3, 4), 7, np.uint16))
    result = batch("--skip-existing")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    fits(lines)
    assert lines[0].strip() == "1 converted, 2 skipped, 0 failed", result.stdout
    for name in ("a", "b"):
        row = next(line for line in lines if f"{name}.npy" in line)
        assert "up to date" in row and f"{name}.emd" in row
    row = next(line for line in lines if "c.npy" in line)
    assert " ok " in row and "c.emd" in row
    assert (tmp_path / "out" / "a.emd").stat().st_mtime_ns == first.st_mtime_ns
    with h5py.File(tmp_path / "out" / "c.emd", "r") as h5:
        (name,) = list(h5["data"])
        assert (h5[f"data/{name}/data"][()] == 7).all()
