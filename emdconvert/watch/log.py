"""The daemon's log lines: one event per line, as text or JSON (``--log-format``).

A file name is data from whoever writes into the watch folder; a newline or an escape
sequence in it must not forge a log line or drive the terminal (README, Safety rules
W7).  In text lines control characters (and backslashes) in values are escaped as
``\\xNN``; JSON escapes them by itself.  Lines go to stderr, which journald or a log
file collects.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import sys
import threading
from typing import Any, TextIO

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")


def escape(text: str) -> str:
    """*text* with control characters and backslashes as ``\\xNN`` (one printable line)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _text_value(value: Any) -> str:
    text = escape(str(value))
    return f'"{text}"' if (" " in text or not text or '"' in text) else text


class EventLog:
    """Writes ``<time> <level> <event> key=value ...`` or one JSON object per line."""

    def __init__(self, fmt: str = "text", stream: TextIO | None = None) -> None:
        self.fmt = fmt
        self.stream = stream if stream is not None else sys.stderr
        self._lock = threading.Lock()

    def emit(self, level: str, event: str, **fields: Any) -> None:
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")
        values = {k: v for k, v in fields.items() if v is not None}
        if self.fmt == "json":
            line = json.dumps(
                {"time": now, "level": level, "event": event, **values},
                ensure_ascii=True,
                default=str,
            )
        else:
            pairs = " ".join(f"{key}={_text_value(value)}" for key, value in values.items())
            line = f"{now} {level} {event}" + (f" {pairs}" if pairs else "")
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()

    def info(self, event: str, **fields: Any) -> None:
        self.emit("info", event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self.emit("warning", event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self.emit("error", event, **fields)
