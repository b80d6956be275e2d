"""The dashboard's HTTP server: a page, ``/api/status``, ``/metrics``, ``/healthz``, previews.

It runs on threads of the daemon (the standard library's ``ThreadingHTTPServer``: a
handful of readers, no framework needed) and is read-only by construction: only GET
and HEAD exist, each request opens the ledger for reading and closes it, and nothing a
request says reaches the daemon.  Defences, because file names come from whoever
writes into the watch folder (README, Safety rules W7):

- the page puts every name in with ``textContent`` and a Content-Security-Policy
  allows no inline script, so a name like ``<img src=x onerror=alert(1)>.dm4`` is text;
- ``/previews/`` serves only regular ``.png`` files whose real path is inside OUT_DIR;
- on loopback, a request whose ``Host`` is not a loopback name is refused (a web page
  elsewhere cannot read the dashboard through DNS rebinding); remote access needs the
  token (:mod:`~emdconvert.watch.dashboard.access`).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST

from emdconvert.errors import EmdConvertError
from emdconvert.watch.dashboard.access import Binding, is_loopback
from emdconvert.watch.dashboard.facts import Folders, collect
from emdconvert.watch.dashboard.monitor import Monitor

_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_STATIC = {"/": ("page.html", "text/html"), "/app.js": ("app.js", "text/javascript")}
_STATIC["/app.css"] = ("app.css", "text/css")


def _static(name: str) -> bytes:
    return (resources.files(__package__) / "static" / name).read_bytes()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, binding: Binding, handler: type[BaseHTTPRequestHandler]) -> None:
        if ":" in binding.host:
            self.address_family = socket.AF_INET6
        super().__init__((binding.host, binding.port), handler)


class Dashboard:
    """Serves the status of the daemon whose *monitor* and *folders* it is given."""

    def __init__(self, binding: Binding, folders: Folders, monitor: Monitor) -> None:
        self.binding, self.folders, self.monitor = binding, folders, monitor
        self._server = _Server(binding, _handler(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="dashboard", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- answers ----------------------------------------------------------------------
    def answer(self, path: str) -> tuple[int, str, bytes]:
        """``(status, content type, body)`` for a GET of *path* (no query)."""
        if path in _STATIC:
            name, kind = _STATIC[path]
            return 200, f"{kind}; charset=utf-8", _static(name)
        if path == "/api/status":
            facts = collect(self.folders, monitor=self.monitor)
            return 200, "application/json", json.dumps(facts).encode()
        if path == "/favicon.ico":
            return 204, "image/x-icon", b""
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, self.monitor.metrics()
        if path == "/healthz":
            problems = self.monitor.problems()
            text = "ok\n" if not problems else "".join(f"{p}\n" for p in problems)
            return (503 if problems else 200), "text/plain; charset=utf-8", text.encode()
        if path.startswith("/previews/"):
            png = self.preview(unquote(path[len("/previews/") :]))
            if png is not None:
                return 200, "image/png", png.read_bytes()
        return 404, "text/plain; charset=utf-8", b"not found\n"

    def preview(self, relative: str) -> Path | None:
        """The PNG at *relative* inside OUT_DIR, or None for anything else."""
        out_dir = self.folders.out_dir
        if out_dir is None or not relative.endswith(".png") or "\0" in relative:
            return None
        root = os.path.realpath(out_dir)
        real = os.path.realpath(os.path.join(root, relative))
        if os.path.commonpath([root, real]) != root or not os.path.isfile(real):
            return None
        return Path(real)

    def host_allowed(self, host_header: str | None) -> bool:
        """On loopback only loopback ``Host`` names (no DNS rebinding); remote: any."""
        if not is_loopback(self.binding.host):
            return True
        host = (host_header or "").rpartition(":")[0] or (host_header or "")
        return is_loopback(host.strip("[]"))


def _handler(dashboard: Dashboard) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "emdconvert-dashboard"
        sys_version = ""

        def do_GET(self) -> None:
            self._respond(send_body=True)

        def do_HEAD(self) -> None:
            self._respond(send_body=False)

        def _refuse_method(self) -> None:
            self._send(405, "text/plain; charset=utf-8", b"read-only\n", True, {"Allow": "GET"})

        do_POST = do_PUT = do_DELETE = do_PATCH = _refuse_method

        def _respond(self, *, send_body: bool) -> None:
            parts = urlsplit(self.path)
            token = parse_qs(parts.query).get("token", [None])[0]
            if not dashboard.host_allowed(self.headers.get("Host")):
                answer = (403, "text/plain; charset=utf-8", b"wrong Host\n")
            elif not dashboard.binding.allows(self.headers.get("Authorization"), token):
                answer = (401, "text/plain; charset=utf-8", b"token needed\n")
            else:
                try:
                    answer = dashboard.answer(parts.path)
                except (
                    EmdConvertError,
                    OSError,
                    ValueError,
                    sqlite3.Error,
                ) as exc:  # e.g. ledger busy
                    answer = (500, "text/plain; charset=utf-8", f"{exc}\n".encode())
            self._send(*answer, send_body, {})

        def _send(
            self, status: int, kind: str, body: bytes, send_body: bool, extra: dict[str, str]
        ) -> None:
            self.send_response(status)
            for name, value in {**_HEADERS, **extra, "Content-Type": kind}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Silent: the daemon's event log is for conversions, not page loads."""

    return Handler
