"""A long-lived child that converts the fuzzer's files, one request per line.

Property tests send thousands of mutated files; a fresh interpreter per file would spend
0.3-0.5 s importing h5py, tifffile and rsciio each time (reliability.md E16).  This
worker imports once and runs each conversion exactly as the library does, under the
address-space limit the parent sets.  A crash (segfault, abort) kills only the worker,
and the parent reports the file that did it.

Protocol: a JSON line ``{"source": ..., "output": ...}`` in, a JSON line out:
``{"code": exit code, "error": message, "checked": detail}``.  Exit code 0 means the
output was written, reopened, and its shapes equal what reading the source reported.
"""

from __future__ import annotations

import gc
import json
import sys
import traceback
from pathlib import Path
from typing import Any

import emdconvert
from emdconvert.testing import assert_valid_emd, leftovers


def convert_one(source: Path, output: Path) -> dict[str, Any]:
    try:
        emdconvert.convert(source, output)
    except emdconvert.EmdConvertError as exc:
        if output.exists() or leftovers(output.parent):
            return {"code": 99, "error": f"left a file behind after: {exc}"}
        return {"code": exc.exit_code, "error": str(exc)}
    except BaseException as exc:  # a raw exception escaping the library is a bug
        return {"code": 98, "error": "".join(traceback.format_exception(exc))}
    try:
        assert_valid_emd(output)
        # Shapes only: the models (and the files their lazy arrays hold open) go at once.
        written = [(d.shape, str(d.dtype)) for d in emdconvert.read(output).datasets]
        reported = [(d.shape, str(d.dtype)) for d in emdconvert.read(source).datasets]
        gc.collect()
        if written != reported:
            return {"code": 97, "error": f"wrote {written}, the source reads as {reported}"}
    except BaseException as exc:
        return {"code": 96, "error": "".join(traceback.format_exception(exc))}
    finally:
        output.unlink(missing_ok=True)
    return {"code": 0, "error": "", "checked": str(written)}


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        reply = convert_one(Path(request["source"]), Path(request["output"]))
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
