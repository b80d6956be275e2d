"""``python -m emdconvert`` runs the command-line interface."""

from __future__ import annotations

from emdconvert.cli import main

main()
