"""TCP banner targets: a greeting on connect, then canned answers to requests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import trio

from tests.servers.listeners import Listening, serve_tcp


@asynccontextmanager
async def serve_banner(
    banner: bytes = b"", answers: Mapping[bytes, bytes] | None = None, *, linger: bool = True
) -> AsyncIterator[Listening]:
    """Send `banner` on connect; then answer each request that ends with a line break
    and is a key of `answers` with its value. With `linger`, the connection stays
    open afterwards (like SSH or SMTP servers waiting for the client)."""
    table = dict(answers or {})

    async def handle(stream: trio.abc.Stream) -> None:
        if banner:
            await stream.send_all(banner)
        pending = b""
        while table:
            data = await stream.receive_some(4096)
            if not data:
                return
            pending += data
            while b"\n" in pending:
                request, _, pending = pending.partition(b"\n")
                answer = table.get(request + b"\n")
                if answer is not None:
                    await stream.send_all(answer)
        if linger:
            await trio.sleep_forever()

    async with serve_tcp(handle) as listening:
        yield listening
