"""Who may reach the dashboard: loopback by default, remote only with a token.

The page can trigger nothing, but it lists file names and failure reasons, which are
a facility's business: binding a non-loopback address needs ``http_allow_remote`` and
a token (``http_token`` in the TOML or ``EMDCONVERT_HTTP_TOKEN``; not a command-line
flag, which every user of the machine could read in ``ps``).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from dataclasses import dataclass

from emdconvert.errors import UsageError

TOKEN_ENV = "EMDCONVERT_HTTP_TOKEN"


@dataclass(frozen=True)
class Binding:
    """Where the dashboard listens, and the token a remote client must present."""

    host: str
    port: int
    token: str | None = None

    def allows(self, header: str | None, query_token: str | None) -> bool:
        """True when no token is needed, or ``Authorization: Bearer T`` / ``?token=T`` is it."""
        if self.token is None:
            return True
        offered = query_token or ""
        if header and header.startswith("Bearer "):
            offered = header[len("Bearer ") :]
        return hmac.compare_digest(offered.encode(), self.token.encode())


def is_loopback(host: str) -> bool:
    """``127.0.0.1``, ``::1``, ``localhost``: only this machine can connect."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_binding(address: str, *, allow_remote: bool, token: str | None) -> Binding:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6; port 0 picks a free one) -> a Binding.

    A non-loopback host without *allow_remote*, or with it but without a token, is a
    usage error: the safe default must not depend on remembering a flag.
    """
    host, sep, port_text = address.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise UsageError(f"http must be HOST:PORT such as 127.0.0.1:8765, got {address!r}")
    token = token or os.environ.get(TOKEN_ENV) or None
    if is_loopback(host):
        return Binding(host, int(port_text), token if allow_remote else None)
    if not allow_remote:
        raise UsageError(
            f"http address {host} is not loopback: the dashboard listens on this machine "
            "only unless --http-allow-remote is given (with a token)"
        )
    if not token:
        raise UsageError(
            f"--http-allow-remote needs a token: set http_token in the config or {TOKEN_ENV}"
        )
    return Binding(host, int(port_text), token)
