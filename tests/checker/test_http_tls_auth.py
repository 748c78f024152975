"""The http kind's credentials and TLS settings: basic/bearer auth, ca_file, mTLS, chains."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from checker.context import ProbeContext
from checker.kinds.http import KIND, HttpSettings
from tests.servers import CertificateAuthority, HttpServer, serve_http
from uptrack.model import Observation


async def probe(url: str, ctx: ProbeContext, within: float = 2.0, **settings: Any) -> Observation:
    decoded = msgspec.convert(settings, HttpSettings)
    assert KIND.check_settings(decoded, timeout=within) == []
    with trio.fail_after(within + 1.0):
        return await KIND.check(KIND.parse_target(url), decoded, within, ctx)


async def test_it_sends_basic_auth(http_server: HttpServer, probe_ctx: ProbeContext) -> None:
    seen = await probe(
        http_server.url_for("/ok"), probe_ctx, basic_auth={"username": "ops", "password": "s3cr:t"}
    )

    assert seen.ok, seen.error
    expected = "Basic " + base64.b64encode(b"ops:s3cr:t").decode()
    assert http_server.requests[-1].header("authorization") == expected


async def test_it_sends_a_bearer_token_to_the_first_origin_only(
    http_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    async with serve_http() as other:
        url = http_server.url_for(f"/redirect-to?location={other.url_for('/ok')}")
        seen = await probe(url, probe_ctx, bearer_token="t0ken")
        [elsewhere] = other.requests

    assert seen.ok, seen.error
    assert http_server.requests[-1].header("authorization") == "Bearer t0ken"
    assert elsewhere.header("authorization") is None


@pytest.mark.parametrize(
    ("settings", "field", "complaint"),
    [
        ({"bearer_token": "a b"}, "bearer_token", "printable ASCII without spaces"),
        (
            {"bearer_token": "t", "basic_auth": {"username": "u", "password": "p"}},
            "bearer_token",
            "not both",
        ),
        ({"bearer_token": "t", "headers": {"Authorization": "x"}}, "bearer_token", "conflicts"),
        ({"basic_auth": {"username": "a:b", "password": "p"}}, "basic_auth.username", "':'"),
        ({"ca_file": "ca.pem"}, "ca_file", "must be an absolute path"),
        ({"client_key": "/k.pem"}, "client_key", "needs client_cert"),
        ({"proxy": "socks5://p:1080"}, "proxy", "use an http:// proxy URL"),
    ],
)
def test_it_names_the_field_of_bad_credentials_and_tls_settings(
    settings: dict[str, Any], field: str, complaint: str
) -> None:
    [(name, message)] = KIND.check_settings(msgspec.convert(settings, HttpSettings), timeout=10)

    assert name == field
    assert complaint in message


# --- TLS --------------------------------------------------------------------------------


async def test_it_records_the_certificate_chain_on_every_https_check(
    https_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    seen = await probe(https_server.url_for("/ok"), probe_ctx)

    assert seen.ok, seen.error
    assert seen.details is not None
    tls = seen.details["tls"]
    [leaf, ca] = tls["chain"]
    assert set(leaf) == {"subject", "issuer", "not_after"}
    assert leaf["issuer"] == ca["subject"]
    assert tls["version"] == "TLSv1.3"
    assert tls["alpn"] is None  # the HTTP/1.1 test server does not negotiate ALPN


async def test_it_trusts_the_ca_file_of_the_settings(
    https_server: HttpServer, ca_file: str
) -> None:
    untrusted = await probe(https_server.url_for("/ok"), ProbeContext())
    trusted = await probe(https_server.url_for("/ok"), ProbeContext(), ca_file=ca_file)

    assert untrusted.error_kind == "tls"
    assert trusted.ok, trusted.error


async def test_it_presents_a_client_certificate_for_mutual_tls(
    certificates: CertificateAuthority, probe_ctx: ProbeContext, ca_file: str, tmp_path: Path
) -> None:
    cert, key = certificates.write_client_pair(tmp_path)
    async with serve_http(ssl_context=certificates.mtls_context()) as server:
        without = await probe(server.url_for("/ok"), probe_ctx)
        with_cert = await probe(
            server.url_for("/ok"), probe_ctx, client_cert=str(cert), client_key=str(key)
        )

        seen_paths = [r.target for r in server.requests]

    assert with_cert.ok, with_cert.error
    # The test server ends a handshake without a client certificate without sending
    # its alert (trio drops it), so the probe sees the connection close, not the alert.
    assert not without.ok
    assert seen_paths == ["/ok"]  # only the check that presented a certificate got through


async def test_it_reports_tls_when_the_client_certificate_cannot_be_loaded(
    https_server: HttpServer, probe_ctx: ProbeContext, tmp_path: Path
) -> None:
    missing = tmp_path / "client.pem"

    seen = await probe(https_server.url_for("/ok"), probe_ctx, client_cert=str(missing))

    assert seen.error_kind == "tls"
    assert seen.error is not None
    assert seen.error.startswith(f"cannot load client_cert {missing}: ")


def test_ssl_contexts_are_shared_per_tls_configuration(ca_file: str, tmp_path: Path) -> None:
    ctx = ProbeContext()

    plain = ctx.ssl_context()
    assert ctx.ssl_context() is plain
    assert ctx.ssl_context(alpn=("h2", "http/1.1")) is not plain
    with_ca = ctx.ssl_context(ca_file=ca_file)
    assert ctx.ssl_context(ca_file=ca_file) is with_ca
    copy = tmp_path / "ca.pem"
    copy.write_bytes(Path(ca_file).read_bytes())
    first = ctx.ssl_context(ca_file=str(copy))
    os.utime(copy, ns=(1, 1))  # rotated: another modification time
    assert ctx.ssl_context(ca_file=str(copy)) is not first
