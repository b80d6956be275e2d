"""The command line as users meet it: routing, exit codes, one-line errors, no leftovers.

Runs the real console script in a subprocess, so what is tested is what a shell sees.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from emdconvert.testing import fingerprint, leftovers


def run(
    *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emdconvert", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env=None if env is None else {**os.environ, **env},
    )


def assert_clean_failure(
    result: subprocess.CompletedProcess[str],
    code: int,
    output: Path,
    source: Path | None = None,
    before: tuple[str, int, int] | None = None,
) -> None:
    """A clean failure (README, Safety rules R8): code, one stderr line, no traceback, no output."""
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("emdconvert: error: ")
    assert "Traceback" not in result.stdout + result.stderr
    assert not output.exists()
    assert not leftovers(output.parent)
    if source is not None and before is not None:
        assert fingerprint(source) == before


@pytest.fixture
def npy(tmp_path: Path) -> Path:
    path = tmp_path / "in.npy"
    np.save(path, np.arange(60, dtype=np.uint16).reshape(3, 4, 5))
    return path


def test_default_command_and_explicit_convert(npy: Path, tmp_path: Path) -> None:
    assert run(npy, tmp_path / "a.emd").returncode == 0
    assert run("convert", npy, tmp_path / "b.emd").returncode == 0
    assert run("validate", tmp_path / "a.emd", tmp_path / "b.emd").returncode == 0


def test_installed_console_script_works(npy: Path, tmp_path: Path) -> None:
    script = shutil.which("emdconvert")
    if script is None:
        pytest.skip("emdconvert is not on PATH")
    result = subprocess.run(
        [script, str(npy), str(tmp_path / "c.emd")], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_info_and_formats(npy: Path, tmp_path: Path) -> None:
    run(npy, tmp_path / "a.emd")
    info = run("info", tmp_path / "a.emd").stdout
    for text in ("3 x 4 x 5", "uint16", "x: 5 points", "microscope", "comments (1)", "npy -> emd"):
        assert text in info, info
    formats = run("formats").stdout
    for name in ("csv", "dm", "emd", "npy", "rsciio", "tiff"):
        assert f" {name} " in formats


def test_validate_reports_rules_and_fails(tmp_path: Path) -> None:
    (tmp_path / "invalid").mkdir()
    bad = tmp_path / "invalid" / "bad.emd"
    with h5py.File(bad, "w") as h5:
        h5.attrs["version_major"] = "0"
        h5.create_group("data/a").attrs["emd_group_type"] = 1
    result = run("validate", bad)
    assert result.returncode == 1
    assert "rule 1 (MUST)" in result.stdout and "rule 2 (MUST)" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("convert",),
        ("--from", "nope"),
        ("--axis-order", "sideways"),
        ("--compression", "lzma"),
        ("-o", "novalue"),
    ],
)
def test_usage_errors_exit_2(npy: Path, tmp_path: Path, args: tuple[str, ...]) -> None:
    out = tmp_path / "u.emd"
    full = args if args == ("convert",) else ("convert", npy, out, *args)
    result = run(*full)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists() and not leftovers(tmp_path)


def _bad_inputs(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(5)
    cases = {
        "random.npy": rng.bytes(2000),
        "empty.npy": b"",
        "unknown.xyz": b"hello" * 10,
        "garbage.dm4": b"\0\0\0\x04" + rng.bytes(500),
    }
    out = {}
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        out[name] = path
    np.save(tmp_path / "short.npy", np.zeros((50, 50)))
    truncated = tmp_path / "truncated.npy"
    truncated.write_bytes((tmp_path / "short.npy").read_bytes()[:-100])
    out["truncated.npy"] = truncated
    return out


@pytest.mark.parametrize(
    "name",
    ["random.npy", "empty.npy", "unknown.xyz", "garbage.dm4", "truncated.npy", "missing.npy"],
)
def test_bad_input_exits_3_cleanly(tmp_path: Path, name: str) -> None:
    source = _bad_inputs(tmp_path).get(name, tmp_path / name)
    before = fingerprint(source) if source.exists() else None
    out = tmp_path / "out.emd"
    assert_clean_failure(run(source, out), 3, out, source, before)


def test_environment_errors_exit_4(npy: Path, tmp_path: Path) -> None:
    existing = tmp_path / "exists.emd"
    assert run(npy, existing).returncode == 0
    before = fingerprint(existing)
    result = run(npy, existing)
    assert result.returncode == 4 and "--overwrite" in result.stderr
    assert fingerprint(existing) == before
    missing_dir = tmp_path / "no" / "such" / "dir.emd"
    assert_clean_failure(run(npy, missing_dir), 4, missing_dir)


def test_pickle_and_external_link_exit_5(tmp_path: Path) -> None:
    pickled = tmp_path / "obj.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert_clean_failure(
        run(pickled, tmp_path / "p.emd"), 5, tmp_path / "p.emd", pickled, fingerprint(pickled)
    )
    (tmp_path / "invalid").mkdir()
    linked = tmp_path / "invalid" / "linked.emd"
    with h5py.File(linked, "w") as h5:
        h5.attrs["version_major"], h5.attrs["version_minor"] = 0, 2
        group = h5.create_group("data/a")
        group.attrs["emd_group_type"] = 1
        group["data"] = h5py.ExternalLink("/etc/passwd.h5", "/x")
    assert_clean_failure(run(linked, tmp_path / "l.emd"), 5, tmp_path / "l.emd")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    (tmp_path / "r.npy").write_bytes(b"\x93NUMPY" + b"\xff" * 100)
    result = run(tmp_path / "r.npy", tmp_path / "r.emd", "--debug")
    assert result.returncode == 3
    assert "Traceback" in result.stderr


def test_overwrite_replaces_and_a_failed_overwrite_keeps_the_old_file(
    npy: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o.emd"
    assert run(npy, out).returncode == 0
    first = fingerprint(out)
    assert run(npy, out, "--overwrite").returncode == 0
    assert fingerprint(out) != first
    kept = fingerprint(out)
    truncated = _bad_inputs(tmp_path)["truncated.npy"]
    result = run(truncated, out, "--overwrite")
    assert result.returncode == 3
    assert fingerprint(out) == kept
    assert not leftovers(tmp_path)


# A plugin module nobody installed: a line of integers per row, after a "TXT2D" line.
ROWS_PLUGIN = textwrap.dedent("""
    import numpy as np

    from emdconvert.errors import FormatError
    from emdconvert.model import EMDFile
    from emdconvert.plugin import BasePlugin

    class RowsPlugin(BasePlugin):
        name = "rows"
        description = "integer rows as text"
        extensions = (".rows",)
        magic = ((0, b"TXT2D\\n"),)
        can_read = True
        can_write = True
        lazy_reads = False

        def read(self, path, *, options=None):
            head, *rows = path.read_text().splitlines()
            try:
                array = np.array([[int(v) for v in row.split()] for row in rows], np.int64)
            except ValueError as exc:
                raise FormatError(f"bad row: {exc}", path=path) from None
            return EMDFile.from_array(array)

        def write(self, model, path, *, options=None):
            data = np.asarray(model.datasets[0].data[...])
            path.write_text("TXT2D\\n" + "".join(" ".join(map(str, r)) + "\\n" for r in data))

    class NotAPlugin:
        name = "nope"
""")


@pytest.fixture
def rows_module(tmp_path: Path) -> dict[str, str]:
    """``rows_fmt`` importable by a subprocess (PYTHONPATH), installed nowhere."""
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "rows_fmt.py").write_text(ROWS_PLUGIN)
    return {"PYTHONPATH": str(tmp_path / "mods")}


def test_from_and_to_take_module_class(rows_module: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "in.rows"
    source.write_text("TXT2D\n1 2 3\n4 5 6\n")
    out = tmp_path / "out.emd"
    result = run(source, out, "--from", "rows_fmt:RowsPlugin", env=rows_module)
    assert result.returncode == 0, result.stderr
    with h5py.File(out) as h5:
        assert "rows_fmt:RowsPlugin" in " ".join(map(str, h5["comments"].attrs.values()))
    info = run("info", source, "--from", "rows_fmt:RowsPlugin", env=rows_module)
    assert info.returncode == 0 and "2 x 3  int64" in info.stdout, info.stdout + info.stderr
    back = tmp_path / "back.txt"  # no extension any plugin claims: --to decides
    result = run(out, back, "--to", "rows_fmt:RowsPlugin", env=rows_module)
    assert result.returncode == 0, result.stderr
    assert back.read_text() == source.read_text()
    batch = tmp_path / "batch"
    batch.mkdir()
    result = run(out, "--out-dir", batch, "--to", "rows_fmt:RowsPlugin", "-q", env=rows_module)
    assert result.returncode == 0, result.stderr
    assert (batch / "out.rows").read_text() == source.read_text()


@pytest.mark.parametrize(
    ("flag", "spec", "reason"),
    [
        ("--from", "no_such_module_xyz:Plugin", "cannot import no_such_module_xyz"),
        ("--from", "rows_fmt:Missing", "rows_fmt has no Missing"),
        ("--to", "rows_fmt:NotAPlugin", "is malformed: missing description"),
        ("--to", "os:sep", "sep is not a class"),
    ],
)
def test_bad_module_class_spec_exits_2_naming_it(
    npy: Path, tmp_path: Path, flag: str, spec: str, reason: str, rows_module: dict[str, str]
) -> None:
    out = tmp_path / "bad.emd"
    result = run(npy, out, flag, spec, env=rows_module)
    assert_clean_failure(result, 2, out)
    assert spec in result.stderr and reason in result.stderr and flag in result.stderr
