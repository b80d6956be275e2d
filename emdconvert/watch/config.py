"""Daemon options: defaults, a TOML file, command-line overrides, in that order.

Every option can live in the TOML file (a facility keeps one per microscope), and a
command-line flag given explicitly wins over it.  Defaults (README, Safety rules W3):
a 10 s stability window (≥ 3 x the CIFS attribute cache), polling no more often than
every 10 s (polling cost grows with the folder), a reconcile scan every 60 s, and a 24 h
maximum wait before a file that never completes is reported as ``stalled``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emdconvert.errors import UsageError
from emdconvert.options import ConvertOptions, ratio_limit
from emdconvert.pipeline import Request
from emdconvert.watch.dashboard.access import Binding, parse_binding

BACKENDS = ("auto", "inotify", "polling")
LOG_FORMATS = ("text", "json")


def _half_of_ram_mb() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2 // 2**20
    except (ValueError, OSError, AttributeError):
        return None


@dataclass(frozen=True)
class WatchConfig:
    """Everything the daemon needs to know; times are seconds."""

    in_dir: Path
    out_dir: Path
    recursive: bool = False
    state_dir: Path | None = None
    backend: str = "auto"
    poll_interval: float = 10.0
    rescan_interval: float = 60.0
    stability: float = 10.0
    min_age: float = 10.0
    max_wait: float = 86400.0
    marker: str | None = None
    ignore: tuple[str, ...] = ()
    workers: int = field(default_factory=lambda: max(1, min(4, os.cpu_count() or 1)))
    memory_limit_mb: int | None = field(default_factory=_half_of_ram_mb)
    time_limit: float = 7200.0
    recycle_after: int = 200
    dedup: bool = True
    backoff_initial: float = 5.0
    backoff_max: float = 600.0
    shutdown_grace: float = 20.0
    compression: str | None = None
    axis_order: str = "x-first"
    threads: int | None = 1
    max_bytes: str | None = None
    max_ratio: float | str | None = None
    allow_high_ratio: bool = False
    allow_root: bool = False
    log_format: str = "text"
    preview: bool = False
    umask: str = "027"
    http: str | None = None
    http_allow_remote: bool = False
    http_token: str | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise UsageError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.log_format not in LOG_FORMATS:
            raise UsageError(f"log_format must be text or json, got {self.log_format!r}")
        for name in ("poll_interval", "rescan_interval", "time_limit", "backoff_initial"):
            if getattr(self, name) <= 0:
                raise UsageError(f"{name} must be positive")
        if self.workers < 1 or self.recycle_after < 1:
            raise UsageError("workers and recycle_after must be at least 1")
        if self.marker is not None and not self.marker.startswith("."):
            raise UsageError(f"marker must be a suffix such as '.done', got {self.marker!r}")
        parse_umask(self.umask)  # a bad umask stops the start (exit 2), not the first file
        self.binding  # likewise a bad or unsafe dashboard address  # noqa: B018
        # Parsed once (a bad compression, axis order or size stops the start: exit 2).
        object.__setattr__(
            self,
            "_request",
            Request(
                ConvertOptions.parse(
                    compression=self.compression,
                    axis_order=self.axis_order,
                    threads=self.threads,
                    max_bytes=self.max_bytes,
                    max_ratio=ratio_limit(self.max_ratio, self.allow_high_ratio),
                    preview=self.preview,
                )
            ),
        )

    @property
    def umask_bits(self) -> int:
        """The ``umask`` the daemon runs with (see :func:`parse_umask`)."""
        return parse_umask(self.umask)

    @property
    def binding(self) -> Binding | None:
        """Where the dashboard listens (None: no dashboard); see ``dashboard.access``."""
        if self.http is None:
            return None
        return parse_binding(self.http, allow_remote=self.http_allow_remote, token=self.http_token)

    @property
    def state_path(self) -> Path:
        """The ledger and lock folder: ``state_dir``, or one per watch root."""
        return self.state_dir if self.state_dir is not None else default_state_dir(self.in_dir)

    def request(self) -> Request:
        """What every worker asks of :func:`emdconvert.pipeline.prepare`: the conversion
        options, parsed exactly as ``emdconvert convert`` parses its flags."""
        request: Request = self.__dict__["_request"]
        return request


def parse_umask(text: str) -> int:
    """``"027"`` -> 0o027: who may read the outputs (027: the daemon's group; 022:
    everyone).  A umask that leaves outputs writable by everyone is refused."""
    try:
        bits = int(text, 8)
    except (TypeError, ValueError):
        bits = -1
    if not 0 <= bits <= 0o777:
        raise UsageError(f"umask must be octal digits such as 027 or 022, got {text!r}")
    if not bits & 0o002:
        raise UsageError(f"umask {text} would let everyone write the outputs")
    return bits


def default_state_dir(in_dir: Path) -> Path:
    """``$XDG_STATE_HOME/emdconvert/<hash of the watch root>`` (local disk, per root)."""
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    digest = hashlib.sha256(os.fsencode(os.path.realpath(in_dir))).hexdigest()[:16]
    return base / "emdconvert" / digest


def read_toml(path: Path) -> dict[str, Any]:
    """The options in a TOML file: top-level keys, or a ``[watch]`` table."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise UsageError(f"cannot read config: {exc.strerror}", path=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"invalid TOML: {exc}", path=path) from None
    table = data.get("watch", data)
    if not isinstance(table, dict):
        raise UsageError("[watch] must be a table", path=path)
    return {key.replace("-", "_"): value for key, value in table.items()}


_FIELDS = {f.name: f for f in dataclasses.fields(WatchConfig)}
_PATHS = {"in_dir", "out_dir", "state_dir"}
_FLOATS = {
    "poll_interval",
    "rescan_interval",
    "stability",
    "min_age",
    "max_wait",
    "time_limit",
    "backoff_initial",
    "backoff_max",
    "shutdown_grace",
}
_INTS = {"workers", "memory_limit_mb", "recycle_after", "threads"}
_BOOLS = {"recursive", "dedup", "allow_root", "allow_high_ratio", "preview", "http_allow_remote"}


def _coerce(name: str, value: Any, origin: str) -> Any:
    """Check a TOML value's type (TOML is typed; a string '10' for a number is a mistake)."""

    def bad(expected: str) -> UsageError:
        return UsageError(f"{origin}: {name} must be {expected}, got {value!r}")

    if value is None:
        return None
    if name in _PATHS:
        if not isinstance(value, (str, os.PathLike)):
            raise bad("a path")
        return Path(os.path.expanduser(os.fspath(value)))
    if name in _FLOATS:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if name in _INTS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if name in _BOOLS:
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if name == "max_ratio":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise bad('a number, or "none"')
        return value
    if name == "ignore":
        if isinstance(value, str) or not all(isinstance(v, str) for v in value):
            raise bad("a list of glob patterns")
        return tuple(value)
    if not isinstance(value, str):
        raise bad("a string")
    return value


def load_values(config_file: Path | None, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults < *config_file* < *overrides* (command-line values that were given)."""
    values: dict[str, Any] = {}
    if config_file is not None:
        for name, value in read_toml(config_file).items():
            if name not in _FIELDS:
                raise UsageError(f"unknown option {name!r}", path=config_file)
            values[name] = _coerce(name, value, str(config_file))
    for name, value in overrides.items():
        if value is not None:
            values[name] = _coerce(name, value, "command line")
    return values


def load_config(config_file: Path | None, overrides: Mapping[str, Any]) -> WatchConfig:
    """The daemon's configuration; IN_DIR and OUT_DIR must be given somewhere."""
    values = load_values(config_file, overrides)
    for required in ("in_dir", "out_dir"):
        if values.get(required) is None:
            flag = "IN_DIR" if required == "in_dir" else "--out"
            raise UsageError(f"missing {flag} (or {required} in the config file)")
    return WatchConfig(**values)


def state_dir_of(config_file: Path | None, overrides: Mapping[str, Any]) -> Path:
    """The state folder alone (for ``--status`` and ``--retry``, which need no OUT_DIR)."""
    values = load_values(config_file, overrides)
    if values.get("state_dir") is not None:
        return Path(values["state_dir"])
    if values.get("in_dir") is None:
        raise UsageError("missing IN_DIR (or --state-dir)")
    return default_state_dir(values["in_dir"])
