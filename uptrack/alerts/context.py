"""Resources every delivery of a node shares: one HTTP client, TLS trust, the deadline."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import certifi
import httpx
import trio

from uptrack import __version__

DEFAULT_DEADLINE = 10.0
"""Seconds one delivery attempt may take, all requests and retries inside it included."""

SMTP_THREADS = 8
"""Email deliveries that may run at once, node-wide (each holds a thread)."""


def default_ssl_context() -> ssl.SSLContext:
    """Verify receivers against certifi's CA bundle, as httpx does by default."""
    return ssl.create_default_context(cafile=certifi.where())


class NotifyContext:
    """What a channel's `send` may use; built once per node by `open_notify_context`."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        public_url: str,
        deadline: float = DEFAULT_DEADLINE,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.http = http
        self.public_url = public_url.rstrip("/")
        self.deadline = deadline
        self.ssl_context = ssl_context or default_ssl_context()
        self.user_agent = f"Uptrack/{__version__}"
        self.smtp_limiter = trio.CapacityLimiter(SMTP_THREADS)


@asynccontextmanager
async def open_notify_context(
    *,
    public_url: str,
    deadline: float = DEFAULT_DEADLINE,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[NotifyContext]:
    """A NotifyContext whose HTTP client lives as long as the block (the node).

    The client never follows redirects (a webhook that moved must be re-entered, and a
    redirect must not carry the payload elsewhere) and times out within `deadline`.
    """
    tls = ssl_context or default_ssl_context()
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(deadline),
        verify=tls,
        follow_redirects=False,
        headers={"User-Agent": f"Uptrack/{__version__}"},
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
    )
    async with client:
        yield NotifyContext(http=client, public_url=public_url, deadline=deadline, ssl_context=tls)
