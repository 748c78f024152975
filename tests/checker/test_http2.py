"""The http kind over HTTP/2, negotiated by ALPN with a real h2 server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
import trio

from checker.context import ProbeContext
from checker.kinds.http import KIND, HttpSettings
from tests.servers import CertificateAuthority, HttpServer, Reply, serve_tcp
from tests.servers.http2 import serve_http2
from uptrack.model import Observation


@pytest.fixture
async def h2_server(certificates: CertificateAuthority) -> AsyncIterator[HttpServer]:
    async with serve_http2(certificates.fresh_context()) as server:
        yield server


async def probe(url: str, ctx: ProbeContext, within: float = 2.0, **settings: Any) -> Observation:
    decoded = msgspec.convert(settings, HttpSettings)
    assert KIND.check_settings(decoded, timeout=within) == []
    with trio.fail_after(within + 1.0):
        return await KIND.check(KIND.parse_target(url), decoded, within, ctx)


async def test_it_speaks_http2_when_the_server_offers_it(
    h2_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    seen = await probe(h2_server.url_for("/ok"), probe_ctx, assertions=['http_version == "2"'])

    assert seen.ok, seen.error
    assert seen.http_status == 200
    assert seen.timings.ttfb is not None
    assert seen.details is not None
    assert seen.details["tls"]["alpn"] == "h2"
    [request] = h2_server.requests
    assert request.header("host") == f"127.0.0.1:{h2_server.port}"
    assert request.header("user-agent") == probe_ctx.user_agent


async def test_it_stays_on_http1_when_told_not_to_offer_http2(
    h2_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    seen = await probe(
        h2_server.url_for("/ok"), probe_ctx, http2=False, assertions=['http_version == "1.1"']
    )

    assert seen.ok, seen.error
    assert seen.details is not None
    assert seen.details["tls"]["alpn"] is None


async def test_it_sends_method_headers_and_body_and_reads_the_body_over_http2(
    h2_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    h2_server.routes["/api"] = Reply(
        status=201, body=b'{"state": "ok"}' * 3000, headers=[("Content-Type", "application/json")]
    )
    seen = await probe(
        h2_server.url_for("/api"),
        probe_ctx,
        method="POST",
        body="x" * 100_000,  # more than one frame and the initial flow-control window
        headers={"X-Probe": "1"},
        keyword='"state": "ok"',
        assertions=['header.content-type == "application/json"'],
    )

    assert seen.ok, seen.error
    assert seen.http_status == 201
    [request] = h2_server.requests
    assert request.method == "POST"
    assert len(request.body) == 100_000
    assert request.header("x-probe") == "1"


async def test_it_follows_redirects_over_http2(
    h2_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    seen = await probe(h2_server.url_for("/redirect/2"), probe_ctx)

    assert seen.ok, seen.error
    assert [r.target for r in h2_server.requests] == ["/redirect/2", "/redirect/1", "/redirect/0"]


async def test_it_judges_status_and_body_size_over_http2(
    h2_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    status = await probe(h2_server.url_for("/status/503"), probe_ctx)
    large = await probe(h2_server.url_for("/body?size=2048"), probe_ctx, max_body_bytes=1024)

    assert (status.error_kind, status.error) == ("status", "status 503 not in 200-399")
    assert (large.error_kind, large.error) == ("too_large", "body larger than 1 KiB")


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/h2/reset", "the server reset the HTTP/2 stream (INTERNAL_ERROR)"),
        ("/h2/goaway", "the server ended the HTTP/2 connection (GOAWAY ENHANCE_YOUR_CALM)"),
    ],
)
async def test_it_reports_protocol_when_the_server_aborts_the_exchange(
    h2_server: HttpServer, probe_ctx: ProbeContext, path: str, error: str
) -> None:
    seen = await probe(h2_server.url_for(path), probe_ctx)

    assert (seen.error_kind, seen.error) == ("protocol", error)


async def test_it_times_out_when_an_http2_response_never_comes(
    h2_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    seen = await probe(h2_server.url_for("/delay?seconds=5"), probe_ctx, within=0.3)

    assert seen.error == "timed out after 0.3 s while reading headers"


async def test_it_reports_protocol_when_an_h2_server_sends_garbage(
    certificates: CertificateAuthority, probe_ctx: ProbeContext
) -> None:
    ssl_context = certificates.fresh_context()
    ssl_context.set_alpn_protocols(["h2"])

    async def garbage(stream: trio.abc.Stream) -> None:
        # A DATA frame on stream 0, which HTTP/2 forbids.
        await stream.send_all(b"\x00\x00\x04\x00\x01\x00\x00\x00\x00ABCD")
        await stream.receive_some(65536)

    async with serve_tcp(garbage, ssl_context=ssl_context) as server:
        seen = await probe(f"https://localhost:{server.port}/", probe_ctx)

    assert seen.error_kind == "protocol"
    assert seen.error is not None
    assert seen.error.startswith("HTTP/2 protocol error: ")


async def test_it_reports_protocol_when_an_h2_server_closes_mid_frame(
    certificates: CertificateAuthority, probe_ctx: ProbeContext
) -> None:
    ssl_context = certificates.fresh_context()
    ssl_context.set_alpn_protocols(["h2"])

    async def http1_instead(stream: trio.abc.Stream) -> None:
        await stream.receive_some(65536)  # the client's preface, so closing is no reset
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    async with serve_tcp(http1_instead, ssl_context=ssl_context) as server:
        seen = await probe(f"https://localhost:{server.port}/", probe_ctx)

    assert (seen.error_kind, seen.error) == ("protocol", "the server closed the HTTP/2 connection")


async def test_it_reports_too_large_for_a_frame_that_would_not_end(
    certificates: CertificateAuthority, probe_ctx: ProbeContext
) -> None:
    ssl_context = certificates.fresh_context()
    ssl_context.set_alpn_protocols(["h2"])

    async def endless_frame(stream: trio.abc.Stream) -> None:
        await stream.send_all(b"\xff\xff\xff\x00\x00\x00\x00\x00\x01")  # 16 MiB announced
        while True:
            await stream.send_all(b"x" * 65536)

    async with serve_tcp(endless_frame, ssl_context=ssl_context) as server:
        seen = await probe(f"https://localhost:{server.port}/", probe_ctx)

    assert (seen.error_kind, seen.error) == ("too_large", "response head larger than 64 KiB")
