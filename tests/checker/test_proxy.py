"""The http kind through an HTTP proxy: absolute-form for http, CONNECT tunnels for https."""

from __future__ import annotations

import base64
from typing import Any

import msgspec
import pytest
import trio

from checker.context import ProbeContext
from checker.kinds.http import KIND, HttpSettings
from checker.proxy import parse_proxy
from tests.servers import HttpServer
from tests.servers.listeners import closed_port
from tests.servers.proxy import ProxiedRequest, serve_proxy
from uptrack.model import Observation

CREDENTIALS = "Basic " + base64.b64encode(b"probe:pa ss").decode()


async def probe(url: str, ctx: ProbeContext, within: float = 2.0, **settings: Any) -> Observation:
    decoded = msgspec.convert(settings, HttpSettings)
    assert KIND.check_settings(decoded, timeout=within) == []
    with trio.fail_after(within + 1.0):
        return await KIND.check(KIND.parse_target(url), decoded, within, ctx)


async def test_it_sends_an_http_request_in_absolute_form_to_the_proxy(
    http_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    async with serve_proxy() as proxy:
        seen = await probe(http_server.url_for("/ok?a=1"), probe_ctx, proxy=proxy.url)

    assert seen.ok, seen.error
    assert seen.ip == "127.0.0.1"
    assert proxy.requests == [
        ProxiedRequest(method="GET", target=http_server.url_for("/ok?a=1"), authorization=None)
    ]
    [request] = http_server.requests
    assert (request.target, request.header("host")) == ("/ok?a=1", f"127.0.0.1:{http_server.port}")


async def test_it_tunnels_https_through_connect_and_verifies_the_origin(
    https_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    async with serve_proxy() as proxy:
        seen = await probe(f"https://localhost:{https_server.port}/ok", probe_ctx, proxy=proxy.url)

    assert seen.ok, seen.error
    assert seen.timings.tls is not None
    assert proxy.requests == [
        ProxiedRequest(
            method="CONNECT", target=f"localhost:{https_server.port}", authorization=None
        )
    ]


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_it_authenticates_to_the_proxy_with_the_credentials_of_its_url(
    http_server: HttpServer, https_server: HttpServer, probe_ctx: ProbeContext, scheme: str
) -> None:
    target = (http_server if scheme == "http" else https_server).url_for("/ok")
    async with serve_proxy(authorization=CREDENTIALS) as proxy:
        url = f"http://probe:pa%20ss@127.0.0.1:{proxy.port}"
        seen = await probe(target, probe_ctx, proxy=url)

    assert seen.ok, seen.error
    assert proxy.requests[0].authorization == CREDENTIALS


async def test_it_reports_network_when_the_proxy_refuses_the_tunnel(
    https_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    async with serve_proxy(authorization=CREDENTIALS) as proxy:
        seen = await probe(https_server.url_for("/ok"), probe_ctx, proxy=proxy.url)

    assert seen.error_kind == "network"
    assert seen.error == (
        f"proxy 127.0.0.1:{proxy.port} refused the tunnel to 127.0.0.1:{https_server.port}: "
        "407 Proxy Authentication Required"
    )


async def test_it_reports_refused_when_the_proxy_does_not_listen(
    https_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    port = closed_port()

    seen = await probe(https_server.url_for("/ok"), probe_ctx, proxy=f"http://127.0.0.1:{port}")

    assert (seen.error_kind, seen.error) == ("refused", f"connection refused by 127.0.0.1:{port}")


def test_a_proxy_url_gives_host_port_and_credentials() -> None:
    proxy = parse_proxy("http://probe:pa%20ss@Proxy.Internal:3128")

    assert (proxy.host, proxy.port, proxy.authorization) == ("proxy.internal", 3128, CREDENTIALS)
    assert parse_proxy("http://proxy.internal").port == 80


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("https://proxy:3128", "use an http:// proxy URL"),
        ("proxy:3128", "use an http:// proxy URL"),
        ("http://proxy:3128/path", "has no path"),
        ("http://proxy:0", "port 0"),
    ],
)
def test_a_bad_proxy_url_is_refused(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_proxy(url)
