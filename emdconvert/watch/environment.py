"""Start-up checks: refuse set-ups that cannot work before anything is touched.

Root (unless ``--allow-root``), a missing watch or output folder, an output folder that
is the watch folder or (recursive) inside it, and a state folder on a network file
system, where SQLite's WAL and ``flock`` do not work (README, Safety rules W5).
"""

from __future__ import annotations

import os
from pathlib import Path

from emdconvert.errors import EnvironmentProblem, UsageError
from emdconvert.watch.config import WatchConfig
from emdconvert.watch.mounts import fs_type, is_network


def check_environment(config: WatchConfig) -> None:
    """Refuse set-ups that cannot work: root, missing folders, a ledger on a share."""
    if os.geteuid() == 0 and not config.allow_root:
        raise UsageError(
            "refusing to run as root: run the daemon as an unprivileged user, or pass --allow-root"
        )
    for label, folder in (("watch folder", config.in_dir), ("output folder", config.out_dir)):
        if not folder.is_dir():
            raise EnvironmentProblem(f"{label} does not exist", path=folder)
    root, out = Path(os.path.realpath(config.in_dir)), Path(os.path.realpath(config.out_dir))
    if out == root or (config.recursive and root in out.parents):
        raise UsageError(
            "the output folder must not be the watch folder or (with "
            "--recursive) inside it: outputs would be picked up as inputs"
        )
    config.state_path.mkdir(parents=True, exist_ok=True, mode=0o700)
    kind = fs_type(config.state_path)
    if is_network(kind):
        raise UsageError(
            f"the state folder is on a network file system ({kind}); the "
            "ledger and lock need local disk (use --state-dir)",
            path=config.state_path,
        )
