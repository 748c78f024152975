"""Loopback TCP listeners for test targets: a served port, a closed one, a stalled one."""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial

import msgspec
import trio

Handler = Callable[[trio.abc.Stream], Awaitable[None]]
"""Serves one accepted connection; the listener closes the stream afterwards."""

HOST = "127.0.0.1"


class Listening(msgspec.Struct, frozen=True):
    """Where a test server listens."""

    host: str
    port: int


def _tolerant(handler: Handler, ssl_context: ssl.SSLContext | None) -> Handler:
    """Run `handler` for one connection; a client that goes away ends only its connection."""

    async def serve_one(tcp: trio.abc.Stream) -> None:
        stream: trio.abc.Stream = tcp
        if ssl_context is not None:
            stream = trio.SSLStream(tcp, ssl_context, server_side=True, https_compatible=True)
        try:
            await handler(stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            # Resets, failed TLS handshakes and probes that hang up early are the
            # normal life of a target under test, not a failure of the server.
            pass
        finally:
            await trio.aclose_forcefully(stream)

    return serve_one


@asynccontextmanager
async def serve_tcp(
    handler: Handler, *, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[Listening]:
    """Serve `handler` (one task per connection) on an ephemeral port of 127.0.0.1.

    With `ssl_context`, each connection is a server-side `trio.SSLStream`. The
    server stops when the block ends or the enclosing nursery is cancelled.
    """
    async with trio.open_nursery() as nursery:
        listeners: list[trio.SocketListener] = await nursery.start(
            partial(trio.serve_tcp, _tolerant(handler, ssl_context), 0, host=HOST)
        )
        port = listeners[0].socket.getsockname()[1]
        try:
            yield Listening(host=HOST, port=port)
        finally:
            nursery.cancel_scope.cancel()


def closed_port() -> int:
    """A port of 127.0.0.1 nothing listens on: connecting is refused."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


@asynccontextmanager
async def unresponsive_port(*, settle: float = 0.1) -> AsyncIterator[int]:
    """A port of 127.0.0.1 whose listen backlog is full, so new connections hang.

    The kernel drops SYNs to a listener whose accept queue is full; the listener
    never accepts, so connecting stalls until the client's deadline (a "black hole"
    target without leaving loopback). `settle` is how long a connect may take
    before it counts as stalled while the backlog is being filled.
    """
    listener = trio.socket.socket()
    fillers: list[trio.socket.SocketType] = []
    try:
        await listener.bind((HOST, 0))
        listener.listen(0)
        port: int = listener.getsockname()[1]
        for _ in range(64):
            filler = trio.socket.socket()
            fillers.append(filler)
            with trio.move_on_after(settle) as stalled:
                await filler.connect((HOST, port))
            if stalled.cancelled_caught:
                break
        else:
            raise RuntimeError(f"the listen backlog of port {port} never filled up")
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
