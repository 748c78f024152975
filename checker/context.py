"""Resources every probe of a node shares, built once and never per check."""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import trio

from uptrack import __version__
from uptrack.heartbeats import HeartbeatLookup

# Threads that may wait on the system resolver at once, node-wide.
DNS_THREADS = 20
RESOLV_CONF = Path("/etc/resolv.conf")


class TlsSetupError(Exception):
    """A TLS configuration that cannot be loaded (a missing or unreadable file)."""


class ProbeContext:
    """Shared, read-mostly state for probes: SSL contexts per TLS configuration.

    `extra_ca_files` are trusted by every verifying context that has no `ca_file`
    of its own, in addition to the system store (a deployment's private CA).
    `resolv_conf` lists the resolvers a dns check without a `server` asks.
    `heartbeats` reads the ping record of a heartbeat monitor (the node reads its
    store; None where nothing is wired); `now` is the Unix time the schedule keeps.
    """

    def __init__(
        self,
        *,
        user_agent: str | None = None,
        extra_ca_files: Sequence[str] = (),
        resolv_conf: Path = RESOLV_CONF,
        heartbeats: HeartbeatLookup | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.user_agent = user_agent or f"Uptrack/{__version__} (+uptime monitor)"
        self.heartbeats = heartbeats
        self.now = now
        self.extra_ca_files = tuple(extra_ca_files)
        self.resolv_conf = resolv_conf
        self._ssl: dict[tuple[object, ...], ssl.SSLContext] = {}
        self._nameservers: list[str] | None = None
        self.dns_limiter = trio.CapacityLimiter(DNS_THREADS)

    def ssl_context(
        self,
        *,
        verify: bool = True,
        ca_file: str | None = None,
        client_cert: str | None = None,
        client_key: str | None = None,
        alpn: Sequence[str] = (),
    ) -> ssl.SSLContext:
        """The client SSL context for this TLS configuration; made on first use, then reused.

        The cache key holds the files' modification times, so a rotated client
        certificate or CA bundle is picked up by the next check. Raises
        TlsSetupError when a file cannot be loaded."""
        files = (ca_file, client_cert, client_key)
        key = (verify, *files, tuple(alpn), *(_mtime(path) for path in files))
        ctx = self._ssl.get(key)
        if ctx is None:
            ctx = self._ssl[key] = self._build(verify, ca_file, client_cert, client_key, alpn)
        return ctx

    def _build(
        self,
        verify: bool,
        ca_file: str | None,
        client_cert: str | None,
        client_key: str | None,
        alpn: Sequence[str],
    ) -> ssl.SSLContext:
        try:
            ctx = ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise TlsSetupError(f"cannot load ca_file {ca_file}: {_reason(exc)}") from None
        if ca_file is None:
            for path in self.extra_ca_files:
                ctx.load_verify_locations(cafile=path)
        if not verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if client_cert is not None:
            try:
                ctx.load_cert_chain(client_cert, client_key)
            except (OSError, ssl.SSLError) as exc:
                raise TlsSetupError(
                    f"cannot load client_cert {client_cert}: {_reason(exc)}"
                ) from None
        if alpn:
            ctx.set_alpn_protocols(list(alpn))
        return ctx

    def system_nameservers(self) -> list[str]:
        """The resolvers of `resolv_conf` (read once), as addresses."""
        if self._nameservers is None:
            try:
                lines = self.resolv_conf.read_text().splitlines()
            except OSError:
                lines = []
            self._nameservers = [
                words[1]
                for words in (line.split() for line in lines)
                if len(words) >= 2 and words[0] == "nameserver"
            ]
        return self._nameservers


def _mtime(path: str | None) -> int | None:
    if path is None:
        return None
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _reason(exc: OSError | ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLError):
        return (exc.reason or str(exc)).replace("_", " ").lower()
    return (exc.strerror or str(exc)).lower()
