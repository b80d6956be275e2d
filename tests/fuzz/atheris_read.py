"""Coverage-guided fuzzing of emdconvert's readers with atheris (on demand, not in CI).

The Hypothesis tests (tests/test_fuzz.py) run a fixed, CI-sized set of mutations; this
harness runs for as long as you let it, steered by coverage of emdconvert and the
libraries under it (the pattern of imageio's ``tests/fuzzers/fuzz_read.py``).  The
contract is the same: converting any byte string either succeeds with a valid EMD or
raises an :class:`emdconvert.EmdConvertError` with exit code 3 or 5.  Anything else is
a finding; atheris saves the input as ``crash-<hash>`` in the working directory, to be
minimised and added to the malformed corpus as a regression case.

    export PYTHONPATH=tests  # from the project root: the support/ helpers
    pip install atheris
    python tests/fuzz/atheris_read.py --format dm4 -max_total_time=600 -rss_limit_mb=2048
    python tests/fuzz/atheris_read.py --format tif fuzz-corpus-tif/ -runs=100000

``--format`` picks the extension the bytes are saved under (dm3, dm4, tif, npy, npz, csv,
emd, ser, mrc), so detection and the reader behave as for a user's file; seed inputs come
from the shared corpus when no corpus folder is given.  Other arguments go to libFuzzer.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    import emdconvert
    import emdconvert.plugins.csv_
    import emdconvert.plugins.dm
    import emdconvert.plugins.emd
    import emdconvert.plugins.npy
    import emdconvert.plugins.tiff

from support.corpus import corpus_dir

SEED_SUFFIXES = {
    "dm3": ".dm3",
    "dm4": ".dm4",
    "tif": ".tif",
    "npy": ".npy",
    "npz": ".npz",
    "csv": ".csv",
    "emd": ".emd",
    "ser": ".ser",
    "mrc": ".mrc",
}


def make_target(suffix: str, work: Path):  # type: ignore[no-untyped-def]
    source, output = work / f"input{suffix}", work / "output.emd"

    def target(data: bytes) -> None:
        source.write_bytes(data)
        try:
            emdconvert.convert(source, output, overwrite=True)
        except emdconvert.EmdConvertError as exc:
            if exc.exit_code not in (3, 5):
                raise
            if output.exists():
                raise AssertionError(f"output left behind after: {exc}") from exc
        finally:
            output.unlink(missing_ok=True)

    return target


def seed_folder(fmt: str, work: Path) -> Path:
    """Corpus files of *fmt* copied into a scratch folder libFuzzer may add to."""
    seeds = work / "seeds"
    seeds.mkdir()
    for path in corpus_dir().rglob(f"*{SEED_SUFFIXES[fmt]}"):
        (seeds / path.name).write_bytes(path.read_bytes())
    return seeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--format", choices=sorted(SEED_SUFFIXES), required=True)
    known, rest = parser.parse_known_args()
    work = Path(tempfile.mkdtemp(prefix="emdconvert-atheris-"))
    if not any(not arg.startswith("-") for arg in rest):
        rest.append(str(seed_folder(known.format, work)))
    os.environ.setdefault("EMDCONVERT_DEBUG", "0")
    atheris.Setup([sys.argv[0], *rest], make_target(SEED_SUFFIXES[known.format], work))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
