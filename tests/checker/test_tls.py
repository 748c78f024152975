"""The tls kind against real loopback TLS servers with trustme certificates."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from checker.context import ProbeContext
from checker.kinds.tls import KIND, TlsSettings
from tests.servers import CertificateAuthority, HostileServer, serve_tcp
from tests.servers.certs import EXPIRING_DAYS, CertCase
from tests.servers.starttls import StartTlsMode, serve_starttls
from uptrack.model import Observation


async def probe(
    target: str, ctx: ProbeContext, within: float = 2.0, **settings: Any
) -> Observation:
    settings_struct = msgspec.convert(settings, TlsSettings)
    assert KIND.check_settings(settings_struct, timeout=within) == []
    with trio.fail_after(within + 1.0):
        return await KIND.check(KIND.parse_target(target), settings_struct, within, ctx)


async def serve_tls(certificates: CertificateAuthority, case: CertCase) -> Any:
    async def hold(stream: trio.abc.Stream) -> None:
        await stream.receive_some(4096)

    return serve_tcp(hold, ssl_context=certificates.server_context(case))


async def test_it_reports_up_with_days_left_and_the_chain_for_a_valid_certificate(
    certificates: CertificateAuthority, probe_ctx: ProbeContext
) -> None:
    async with await serve_tls(certificates, "valid") as server:
        seen = await probe(f"localhost:{server.port}", probe_ctx)

    assert seen.ok, seen.error
    assert seen.ip == "127.0.0.1"
    assert seen.timings.tls is not None
    assert seen.details is not None
    tls = seen.details["tls"]
    assert tls["version"] == "TLSv1.3"
    assert tls["days_left"] > 300_000  # trustme certificates last until the year 3000
    [leaf, ca] = tls["chain"]
    assert leaf["issuer"] == ca["subject"]
    assert leaf["not_after"] == "3000-01-01T00:00:00Z"
    assert "OU=Testing CA" in ca["subject"]


async def test_it_reports_tls_when_the_certificate_expires_within_min_days(
    certificates: CertificateAuthority, probe_ctx: ProbeContext
) -> None:
    async with await serve_tls(certificates, "expiring") as server:
        target = f"127.0.0.1:{server.port}"
        soon = await probe(target, probe_ctx)
        fine = await probe(target, probe_ctx, min_days=EXPIRING_DAYS)

    assert soon.error_kind == "tls"
    assert soon.error is not None
    assert re.fullmatch(
        rf"certificate expires in {EXPIRING_DAYS} days \(not after \S+Z\), within min_days \(14\)",
        soon.error,
    )
    assert soon.details is not None
    assert soon.details["tls"]["days_left"] == EXPIRING_DAYS
    assert fine.ok


@pytest.mark.parametrize(
    ("case", "target_host", "error"),
    [
        ("expired", "127.0.0.1", r"certificate expired 1 day ago \(not after \S+Z\)"),
        (
            "wrong_host",
            "localhost",
            r"hostname mismatch: the certificate is not for localhost "
            r"\(it is for wrong-host\.example\)",
        ),
        ("self_signed", "localhost", r"self-signed certificate \(unknown CA\)"),
    ],
)
async def test_it_names_the_reason_when_the_certificate_does_not_verify(
    certificates: CertificateAuthority,
    probe_ctx: ProbeContext,
    case: CertCase,
    target_host: str,
    error: str,
) -> None:
    async with await serve_tls(certificates, case) as server:
        seen = await probe(f"{target_host}:{server.port}", probe_ctx)

    assert seen.error_kind == "tls"
    assert seen.error is not None
    assert re.fullmatch(error, seen.error), seen.error
    assert seen.details is not None
    assert seen.details["tls"]["chain"]  # looked at without verification


async def test_it_reports_an_unknown_ca_when_the_issuer_is_not_trusted(
    certificates: CertificateAuthority,
) -> None:
    async with await serve_tls(certificates, "valid") as server:
        seen = await probe(f"localhost:{server.port}", ProbeContext())

    assert seen.error_kind == "tls"
    assert seen.error is not None
    assert seen.error.startswith("certificate issued by an unknown CA O=trustme")


async def test_it_trusts_a_ca_file_of_the_settings(
    certificates: CertificateAuthority, ca_file: str
) -> None:
    async with await serve_tls(certificates, "valid") as server:
        seen = await probe(f"localhost:{server.port}", ProbeContext(), ca_file=ca_file)

    assert seen.ok, seen.error


async def test_it_reports_tls_when_the_ca_file_cannot_be_read(
    certificates: CertificateAuthority, tmp_path: Path
) -> None:
    async with await serve_tls(certificates, "valid") as server:
        seen = await probe(
            f"localhost:{server.port}", ProbeContext(), ca_file=str(tmp_path / "missing.pem")
        )

    assert seen.error_kind == "tls"
    assert seen.error is not None
    assert seen.error.startswith(f"cannot load ca_file {tmp_path / 'missing.pem'}: ")


async def test_it_checks_only_expiry_when_verify_is_off(
    certificates: CertificateAuthority,
) -> None:
    async with await serve_tls(certificates, "self_signed") as server:
        target = f"localhost:{server.port}"
        seen = await probe(target, ProbeContext(), verify=False)
    async with await serve_tls(certificates, "expired") as server:
        expired = await probe(f"localhost:{server.port}", ProbeContext(), verify=False)

    assert seen.ok, seen.error
    assert expired.error_kind == "tls"
    assert expired.error is not None
    assert expired.error.startswith("certificate expired 1 day ago")


async def test_it_verifies_the_server_name_of_the_settings_instead_of_the_target(
    certificates: CertificateAuthority, probe_ctx: ProbeContext
) -> None:
    async with await serve_tls(certificates, "wrong_host") as server:
        target = f"127.0.0.1:{server.port}"
        seen = await probe(target, probe_ctx, server_name="wrong-host.example")

    assert seen.ok, seen.error


async def test_it_evaluates_assertions_on_the_certificate(
    certificates: CertificateAuthority, probe_ctx: ProbeContext
) -> None:
    async with await serve_tls(certificates, "expiring") as server:
        seen = await probe(
            f"localhost:{server.port}",
            probe_ctx,
            min_days=0,
            assertions=['tls.version == "TLSv1.3"', "cert.days_left > 30"],
        )

    assert seen.error_kind == "assertion"
    assert seen.error == f"assertion cert.days_left > 30 failed: observed {EXPIRING_DAYS}"
    assert seen.details is not None
    assert [a["ok"] for a in seen.details["assertions"]] == [True, False]


# --- STARTTLS ----------------------------------------------------------------------


async def test_it_upgrades_an_smtp_connection_with_starttls(
    certificates: CertificateAuthority, probe_ctx: ProbeContext
) -> None:
    async with serve_starttls(certificates.server_context("valid")) as server:
        seen = await probe(f"localhost:{server.port}", probe_ctx, starttls="smtp")

    assert seen.ok, seen.error
    assert seen.details is not None
    assert seen.details["tls"]["days_left"] > 300_000


async def test_it_reports_an_expired_certificate_behind_starttls(
    certificates: CertificateAuthority, probe_ctx: ProbeContext
) -> None:
    async with serve_starttls(certificates.server_context("expired")) as server:
        seen = await probe(f"localhost:{server.port}", probe_ctx, starttls="smtp")

    assert seen.error_kind == "tls"
    assert seen.error is not None
    assert seen.error.startswith("certificate expired 1 day ago")


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("no_starttls", "the SMTP server does not offer STARTTLS"),
        ("refuse", "SMTP STARTTLS answered 454 TLS not available"),
        ("inject", "the SMTP server sent data after its STARTTLS reply"),
    ],
)
async def test_it_reports_protocol_when_the_smtp_server_does_not_upgrade_properly(
    certificates: CertificateAuthority, probe_ctx: ProbeContext, mode: StartTlsMode, error: str
) -> None:
    async with serve_starttls(certificates.server_context("valid"), mode) as server:
        seen = await probe(f"localhost:{server.port}", probe_ctx, starttls="smtp")

    assert (seen.error_kind, seen.error) == ("protocol", error)


async def test_it_times_out_waiting_for_an_smtp_greeting(
    certificates: CertificateAuthority, probe_ctx: ProbeContext
) -> None:
    async with serve_starttls(certificates.server_context("valid"), "silent") as server:
        seen = await probe(f"localhost:{server.port}", probe_ctx, within=0.3, starttls="smtp")

    assert seen.error == "timed out after 0.3 s while waiting for the SMTP greeting"


# --- hostile targets -------------------------------------------------------------


async def test_it_times_out_in_a_handshake_the_server_never_answers(
    hostile_server: HostileServer, probe_ctx: ProbeContext
) -> None:
    start = trio.current_time()
    seen = await probe(f"127.0.0.1:{hostile_server.port}", probe_ctx, within=0.5)

    assert seen.error == "timed out after 0.5 s while negotiating TLS"
    assert 0.5 <= trio.current_time() - start < 0.9


async def test_it_reports_tls_when_the_server_does_not_speak_tls(
    probe_ctx: ProbeContext,
) -> None:
    async def plain(stream: trio.abc.Stream) -> None:
        await stream.receive_some(4096)
        await stream.send_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    async with serve_tcp(plain) as server:
        seen = await probe(f"127.0.0.1:{server.port}", probe_ctx)

    assert seen.error_kind == "tls"
    assert seen.error is not None
    assert seen.error.startswith("TLS handshake failed: ")


async def test_it_reports_refused_when_nothing_listens(
    refused_port: int, probe_ctx: ProbeContext
) -> None:
    seen = await probe(f"127.0.0.1:{refused_port}", probe_ctx)

    assert seen.error_kind == "refused"


# --- validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "normalised"),
    [("Example.com", "example.com:443"), ("example.com:8443", "example.com:8443")],
)
def test_it_defaults_the_port_to_443(target: str, normalised: str) -> None:
    assert KIND.parse_target(target) == normalised


@pytest.mark.parametrize(
    ("settings", "field", "complaint"),
    [
        ({"min_days": -1}, "min_days", "-1 is not within 0-3650"),
        ({"server_name": "bad name"}, "server_name", "is not a valid host name"),
        ({"ca_file": "ca.pem"}, "ca_file", "must be an absolute path"),
        ({"assertions": ["status == 200"]}, "assertions[0]", "unknown fact 'status'"),
        ({"assertions": ["cert.days == 1"]}, "assertions[0]", "cert.days is not a known fact"),
    ],
)
def test_it_names_the_field_of_bad_settings(
    settings: dict[str, Any], field: str, complaint: str
) -> None:
    [(name, message)] = KIND.check_settings(msgspec.convert(settings, TlsSettings), timeout=5)

    assert name == field
    assert complaint in message


def test_it_refuses_an_unknown_starttls_protocol() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"at `\$.starttls`"):
        msgspec.convert({"starttls": "imap"}, TlsSettings)
