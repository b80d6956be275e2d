"""The command line: ``app`` (convert, validate, info, formats), ``watch`` (the daemon's
command), ``preview``, shared ``options``, ``report`` rendering, ``machine`` and
``json_commands`` (the ``--json`` documents), ``terminal`` feedback and the CLI's error
``boundary``.  Each module imports only those below it; none imports ``app``.
"""

from __future__ import annotations

from emdconvert.cli.app import app, main

__all__ = ["app", "main"]
