"""The watch-folder daemon: every finished file in a folder converted exactly once.

A microscope PC (or the file server it writes to) runs ``emdconvert watch IN --out OUT``
for months.  Candidates come from a start-up scan, file events and a periodic reconcile
scan; a file is converted only once it has stopped changing, is old enough and passes its
format's completeness check; a SQLite ledger on local disk makes every conversion happen
once across restarts; conversions run in child processes, so a bad file can only fail
itself.  The rules are README's Safety rules W1-W7 (and R1-R14 for each conversion).
Modules, one job each:

``config`` options and TOML; ``environment`` the start-up checks; ``names`` what is a
candidate and what its output is called; ``mounts`` inotify or polling; ``scan`` and
``events`` where candidates come from, ``intake`` feeding them to the daemon;
``stability`` when a file is finished; ``outcomes`` the ``Outcome`` and ``State`` enums;
``ledger`` the persistent states; ``catalog`` the daemon's view of them and its queue;
``transitions`` what a result does to a row (pure); ``hashjobs`` SHA-256s off the loop;
``pool`` and ``worker`` the child processes; ``orphans`` temp-file cleanup;
``quarantine`` error reports; ``lock`` the single-instance lock; ``log`` log lines;
``status`` the ``--status`` tables; ``daemon`` the loop that drives them; ``command``
the ``emdconvert watch`` command.
"""

from __future__ import annotations
