"""An HTTP proxy for tests: CONNECT tunnels and absolute-form requests, to loopback only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import msgspec
import trio

from tests.servers.listeners import serve_tcp

MAX_HEAD = 64 * 1024
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class ProxiedRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A request the proxy received: its method, target and Proxy-Authorization."""

    method: str
    target: str
    authorization: str | None


class ProxyServer:
    """A running proxy: `url`, the requests it saw, and the credentials it demands."""

    def __init__(self, host: str, port: int, authorization: str | None) -> None:
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}"
        self.authorization = authorization
        self.requests: list[ProxiedRequest] = []


async def _read_head(stream: trio.abc.Stream) -> tuple[bytes, bytes] | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some(4096)
        if not chunk or len(data) > MAX_HEAD:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


async def _pipe(source: trio.abc.Stream, sink: trio.abc.Stream) -> None:
    try:
        while data := await source.receive_some(65536):
            await sink.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        await trio.aclose_forcefully(sink)


async def _splice(client: trio.abc.Stream, upstream: trio.abc.Stream) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_pipe, client, upstream)
        nursery.start_soon(_pipe, upstream, client)


async def _serve(proxy: ProxyServer, client: trio.abc.Stream) -> None:
    read = await _read_head(client)
    if read is None:
        return
    head, rest = read
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    authorization = headers.get("proxy-authorization")
    proxy.requests.append(ProxiedRequest(method=method, target=target, authorization=authorization))
    if proxy.authorization is not None and authorization != proxy.authorization:
        await client.send_all(
            b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"
        )
        return
    if method == "CONNECT":
        host, _, port = target.rpartition(":")
    else:
        parts = urlsplit(target)
        host, port = parts.hostname or "", str(parts.port or 80)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        forwarded = [f"{method} {path} {lines[0].rsplit(' ', 1)[1]}"] + [
            line for line in lines[1:] if not line.lower().startswith("proxy-")
        ]
        rest = ("\r\n".join(forwarded) + "\r\n\r\n").encode("latin-1") + rest
    if host.strip("[]") not in LOOPBACK:  # a test proxy never leaves the machine
        await client.send_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        return
    try:
        upstream = await trio.open_tcp_stream(host.strip("[]"), int(port))
    except OSError:
        await client.send_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
        return
    if method == "CONNECT":
        await client.send_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
    if rest:
        await upstream.send_all(rest)
    await _splice(client, upstream)


@asynccontextmanager
async def serve_proxy(*, authorization: str | None = None) -> AsyncIterator[ProxyServer]:
    """A proxy on 127.0.0.1; with `authorization`, other Proxy-Authorization gets 407."""
    proxy: ProxyServer | None = None

    async def handle(stream: trio.abc.Stream) -> None:
        assert proxy is not None
        await _serve(proxy, stream)

    async with serve_tcp(handle) as listening:
        proxy = ProxyServer(listening.host, listening.port, authorization)
        yield proxy
