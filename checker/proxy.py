"""HTTP proxies for the http kind: their URL, and CONNECT tunnels through them.

An https request goes through a tunnel (`CONNECT host:port`) and negotiates TLS
with the origin inside it; a plain http request is sent to the proxy in absolute
form (`GET http://host/path`). The target's name is resolved by the proxy.
"""

from __future__ import annotations

import base64
from urllib.parse import unquote, urlsplit

import h11
import msgspec
import trio

from checker.http1 import MAX_HEADER_BYTES, next_event, protocol_fault
from checker.kinds.tcp import Attempt, TargetFault, format_address, normalise_host
from checker.urls import split_error_reason


class Proxy(msgspec.Struct, frozen=True):
    """An HTTP proxy: where it listens, and the Proxy-Authorization to send it."""

    host: str
    port: int
    authorization: str | None = None

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)


def parse_proxy(text: str) -> Proxy:
    """`http://[user:password@]host[:port]` (port 80 if left out); ValueError for the user."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError(
            f"not a valid proxy URL ({split_error_reason(exc)}); use http://host:port"
        ) from None
    if parts.scheme.lower() != "http" or not parts.hostname:
        raise ValueError("use an http:// proxy URL with a host, e.g. http://proxy.internal:3128")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("a proxy URL has no path or query, e.g. http://proxy.internal:3128")
    if port == 0:
        raise ValueError("port 0 is not a port; use a port from 1 to 65535")
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    return Proxy(normalise_host(parts.hostname), port or 80, authorization)


async def open_tunnel(
    stream: trio.abc.Stream, proxy: Proxy, host: str, port: int, attempt: Attempt
) -> None:
    """Ask the proxy on `stream` for a tunnel to host:port; afterwards the stream is one."""
    authority = format_address(host, port)
    headers = [("Host", authority)]
    if proxy.authorization is not None:
        headers.append(("Proxy-Authorization", proxy.authorization))
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEADER_BYTES)
    attempt.phase = f"opening a tunnel through {proxy.address}"
    request = h11.Request(method="CONNECT", target=authority, headers=headers)
    try:
        await stream.send_all(conn.send(request) or b"")
        event = await next_event(stream, conn)
        while isinstance(event, h11.InformationalResponse):
            event = await next_event(stream, conn)
    except h11.RemoteProtocolError as exc:
        raise protocol_fault(exc, attempt.phase) from None
    except trio.BrokenResourceError:
        raise TargetFault("network", f"connection broken while {attempt.phase}") from None
    if not isinstance(event, h11.Response):
        raise TargetFault("protocol", f"the proxy answered CONNECT with {type(event).__name__}")
    if not 200 <= event.status_code < 300:
        reason = event.reason.decode("latin-1", errors="replace")
        raise TargetFault(
            "network",
            f"proxy {proxy.address} refused the tunnel to {authority}: "
            f"{event.status_code} {reason}".rstrip(),
        )
    if conn.trailing_data[0]:
        raise TargetFault("protocol", "the proxy sent data ahead of the tunnel")
