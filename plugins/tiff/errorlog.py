"""tifffile's ERROR log records, turned into the exceptions they mean.

tifffile does not raise for much of the damage a TIFF can carry: a page list cut short
or a shaped series whose pages do not match only shows as an ERROR log record.  This
module listens to those records while a file is opened (and keeps tifffile's logger
audible even where an application silenced it), so that damage fails the read instead
of converting a partial stack.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Iterator

from emdconvert.errors import FormatError, IncompleteError


class _ErrorRecords(logging.Filter):
    """Takes tifffile's ERROR records logged by one thread, instead of letting them print."""

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and record.thread == self.thread:
            # "<tifffile.TiffPages @8> invalid page offset 1350052" -> the words only
            self.messages.append(re.sub(r"<tifffile\.[^>]*>\s*", "", record.getMessage()))
            return False
        return True


class _Audible:
    """Keeps tifffile's logger making ERROR records while any thread listens to it.

    Those records are the only sign of some damage (a shaped series whose pages do not
    match), and an application that silences tifffile would silence them too:
    ``logging.config.dictConfig`` disables every logger that exists when it runs unless
    told otherwise, and ``setLevel(CRITICAL)`` is a common cure for tifffile's warnings.
    The logger's own level and state come back when the last listener leaves.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners = 0
        self._saved = (logging.NOTSET, False)

    @contextlib.contextmanager
    def __call__(self, logger: logging.Logger) -> Iterator[None]:
        with self._lock:
            if not self._listeners:
                self._saved = (logger.level, logger.disabled)
            self._listeners += 1
            logger.disabled = False
            if logger.getEffectiveLevel() > logging.ERROR:
                logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            with self._lock:
                self._listeners -= 1
                if not self._listeners:
                    logger.setLevel(self._saved[0])
                    logger.disabled = self._saved[1]


_audible = _Audible()

#: tifffile's log messages that mean the page list points past the end of the file.
_PAST_THE_END = ("invalid page offset", "invalid offset to page")


@contextlib.contextmanager
def errors_are_fatal() -> Iterator[None]:
    """Raise when tifffile logged an error inside the block.

    tifffile does not raise for a damaged page list: a zlib stack of 20 frames cut in
    half opens as one 256x256 image and the only sign is an ERROR log record
    ("invalid page offset", "shaped series failed to reshape"; README, Safety rules
    R5).  Only a page list pointing past the end of the file means truncated (or
    still being written); every other error, a circular page list included, is corrupt.
    """
    records = _ErrorRecords()
    logger = logging.getLogger("tifffile")
    logger.addFilter(records)
    try:
        with _audible(logger):
            yield
    finally:
        logger.removeFilter(records)
    if records.messages:
        detail = "; ".join(dict.fromkeys(records.messages))
        if any(words in detail for words in _PAST_THE_END):
            raise IncompleteError(
                f"incomplete: the TIFF page list points past the end of "
                f"the file (truncated, or still being written): {detail}"
            )
        raise FormatError(f"corrupt TIFF structure: {detail}")
