"""The installed emdconvert version, in one place: ``emdconvert.__version__``, the
provenance log and quarantine reports all say the same."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("emdconvert")
except PackageNotFoundError:  # running from a checkout that was never installed
    VERSION = "0+unknown"
