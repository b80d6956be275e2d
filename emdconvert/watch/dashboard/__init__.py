"""The watch daemon's read-only status page, JSON status, Prometheus metrics and health.

``monitor`` keeps what only the running daemon knows (queue, metrics, liveness),
``facts`` turns the ledger plus that into one JSON-able picture (also behind
``watch --status --json``), ``server`` serves it over HTTP on a thread of the daemon,
``access`` decides who may connect.
"""
