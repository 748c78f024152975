"""Resources every probe of a node shares, built once and never per check."""

from __future__ import annotations

import ssl

import trio

from uptrack import __version__

# Threads that may wait on the system resolver at once, node-wide.
DNS_THREADS = 20


class ProbeContext:
    """Shared, read-mostly state for probes: SSL contexts per TLS configuration."""

    def __init__(self, *, user_agent: str | None = None) -> None:
        self.user_agent = user_agent or f"Uptrack/{__version__} (+uptime monitor)"
        self._ssl: dict[tuple[bool, str | None], ssl.SSLContext] = {}
        self.dns_limiter = trio.CapacityLimiter(DNS_THREADS)

    def ssl_context(self, *, verify: bool = True, ca_file: str | None = None) -> ssl.SSLContext:
        """The SSL context for this configuration; made on first use, then reused."""
        key = (verify, ca_file)
        ctx = self._ssl.get(key)
        if ctx is None:
            ctx = ssl.create_default_context(cafile=ca_file)
            if not verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            self._ssl[key] = ctx
        return ctx
