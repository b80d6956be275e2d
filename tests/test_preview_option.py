"""``--preview`` on convert, batch, the library and the watch config (issue 16, item 2).

Inputs are real corpus files or arrays numpy wrote; the outputs are read back with h5py
and Pillow.  The PNG beside an output must be the output's own preview, drawn from the
published file, and must never cost the conversion its data or the source its bytes.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from test_cli import assert_clean_failure, run
from test_preview import pixels

import emdconvert
from emdconvert.errors import UsageError
from emdconvert.testing import fingerprint, leftovers
from emdconvert.watch.config import WatchConfig, load_config, read_toml


def test_convert_with_preview_leaves_the_outputs_picture_beside_it(
    corpus: Path, tmp_path: Path
) -> None:
    source = corpus / "dm" / "test_STEM_image.dm3"
    out = tmp_path / "stem.emd"
    result = run(source, out, "--preview")
    assert result.returncode == 0, result.stderr
    png = tmp_path / "stem.png"
    # The same picture `emdconvert preview` draws of the published file, and the same
    # scale bar as a preview of the DM3 itself (the calibration went through whole).
    again = emdconvert.preview(out, tmp_path / "again.png")
    of_source = emdconvert.preview(source, tmp_path / "source.png")
    np.testing.assert_array_equal(pixels(png), pixels(tmp_path / "again.png"))
    assert max(pixels(png).shape[:2]) == 1024
    assert again.scale_bar is not None and of_source.scale_bar is not None
    assert again.scale_bar.label == of_source.scale_bar.label
    with h5py.File(out, "r") as h5:  # provenance says a preview was asked for
        assert '"preview": "png"' in " ".join(map(str, h5["comments"].attrs.values()))
    assert not leftovers(tmp_path)


def test_an_existing_png_stops_the_conversion_before_anything_is_written(
    tmp_path: Path,
) -> None:
    np.save(tmp_path / "a.npy", np.arange(12.0).reshape(3, 4))
    (tmp_path / "a.png").write_bytes(b"someone else's picture")
    result = run(tmp_path / "a.npy", tmp_path / "a.emd", "--preview")
    assert_clean_failure(result, 4, tmp_path / "a.emd")
    assert "a.png" in result.stderr
    assert (tmp_path / "a.png").read_bytes() == b"someone else's picture"
    assert run(tmp_path / "a.npy", tmp_path / "a.emd", "--preview", "--overwrite").returncode == 0
    assert (tmp_path / "a.png").read_bytes().startswith(b"\x89PNG")


def test_a_preview_that_would_replace_the_source_is_refused(corpus: Path, tmp_path: Path) -> None:
    source = tmp_path / "scan.png"
    shutil.copyfile(corpus / "wide" / "ncem" / "ManyElements2bin.png", source)
    before = fingerprint(source)
    result = run(source, tmp_path / "scan.emd", "--preview", "--overwrite")
    assert_clean_failure(result, 2, tmp_path / "scan.emd", source, before)
    assert "would replace the source" in result.stderr


def test_a_picture_that_cannot_be_drawn_is_a_warning_and_the_data_stand(
    tmp_path: Path,
) -> None:
    values = np.arange(2 * 3 * 4 * 5 * 6, dtype=np.int16).reshape(2, 3, 4, 5, 6)
    np.save(tmp_path / "five.npy", values)  # 5 axes: a preview draws 1 to 4
    result = run(tmp_path / "five.npy", tmp_path / "five.emd", "--preview")
    assert result.returncode == 0, result.stderr
    assert "warning: " in result.stderr and "no preview written" in result.stderr
    assert not (tmp_path / "five.png").exists()
    assert not leftovers(tmp_path)
    with h5py.File(tmp_path / "five.emd", "r") as h5:
        (group,) = h5["data"].values()
        np.testing.assert_array_equal(group["data"][()].T, values)


def test_the_library_and_batch_mode_take_preview_too(tmp_path: Path) -> None:
    for name in ("a", "b"):
        np.save(tmp_path / f"{name}.npy", np.random.default_rng(1).random((40, 60)))
    (tmp_path / "lib").mkdir()
    emdconvert.convert(tmp_path / "a.npy", tmp_path / "lib" / "a.emd", preview=True)
    assert sorted(p.name for p in (tmp_path / "lib").iterdir()) == ["a.emd", "a.png"]
    batch = tmp_path / "batch"
    batch.mkdir()
    result = run(tmp_path / "a.npy", tmp_path / "b.npy", "--out-dir", batch, "--preview")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in batch.iterdir()) == ["a.emd", "a.png", "b.emd", "b.png"]


def test_the_watch_config_takes_preview(tmp_path: Path) -> None:
    config = tmp_path / "watch.toml"
    config.write_text(f'in_dir = "{tmp_path}"\nout_dir = "{tmp_path / "out"}"\npreview = true\n')
    assert load_config(config, {}).request().options.preview is True
    assert WatchConfig(tmp_path, tmp_path / "out").request().options.preview is False
    config.write_text(f'in_dir = "{tmp_path}"\nout_dir = "{tmp_path / "out"}"\npreview = "yes"\n')
    with pytest.raises(UsageError, match="preview"):
        load_config(config, {})


def test_readme_lists_every_watch_option_and_its_example_loads(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("All options with their defaults:", 1)[1].split("```toml", 1)[1]
    text = block.split("```", 1)[0]
    for key in ("in_dir", "out_dir", "state_dir"):  # the example's folders, made real here
        text = re.sub(rf"^{key} = .*$", f'{key} = "{tmp_path / key}"', text, flags=re.M)
    (tmp_path / "in_dir").mkdir()
    config = tmp_path / "watch.toml"
    config.write_text(text)
    assert set(read_toml(config)) == {f.name for f in dataclasses.fields(WatchConfig)}
    loaded = load_config(config, {})
    assert (loaded.preview, loaded.compression, loaded.marker) == (False, "gzip:4", ".done")
