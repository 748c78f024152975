"""How every HTTP channel fails: temporary or permanent, with the receiver's wait hint,
within the deadline, and never with a secret in the message."""

from __future__ import annotations

import email.utils
import ssl
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio

from tests.alerts.samples import DOWN, http_channels
from tests.servers.certs import CertCase, CertificateAuthority
from tests.servers.healthy import Reply
from tests.servers.listeners import closed_port
from tests.servers.receiver import Receiver, serve_receiver
from uptrack.alerts.context import NotifyContext, open_notify_context
from uptrack.alerts.errors import NotifyError
from uptrack.alerts.registry import send_alert, validate_channel
from uptrack.alerts.transport import parse_retry_after, scrub

KINDS = sorted(http_channels("http://127.0.0.1:1"))
FAST_DEADLINE = 0.3


@pytest.fixture
async def fast_ctx(client_tls: ssl.SSLContext) -> AsyncIterator[NotifyContext]:
    async with open_notify_context(
        public_url="https://uptrack.example", deadline=FAST_DEADLINE, ssl_context=client_tls
    ) as ctx:
        yield ctx


async def fail(kind: str, receiver: Receiver, reply: Reply, ctx: NotifyContext) -> NotifyError:
    """Send a down alert through `kind` while the receiver answers `reply`."""
    raw, path = http_channels(receiver.url)[kind]
    receiver.script(path, reply)
    with pytest.raises(NotifyError) as caught:
        await send_alert(kind, validate_channel(kind, raw), DOWN, ctx)
    [request] = receiver.requests
    assert request.target.split("?")[0] == path
    return caught.value


@pytest.mark.parametrize("kind", KINDS)
async def test_a_server_error_is_temporary(
    kind: str, receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    error = await fail(kind, receiver, Reply(status=500, body=b"internal error"), notify_ctx)
    assert not error.permanent
    assert error.status == 500
    assert error.retry_after is None


@pytest.mark.parametrize("kind", KINDS)
async def test_a_client_error_is_permanent(
    kind: str, receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    error = await fail(kind, receiver, Reply(status=400, body=b"bad request"), notify_ctx)
    assert error.permanent
    assert error.status == 400


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status", [408, 429])
async def test_request_timeout_and_rate_limits_are_temporary_and_honour_retry_after(
    kind: str, status: int, receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    reply = Reply(status=status, headers=[("Retry-After", "30")], body=b"slow down")
    error = await fail(kind, receiver, reply, notify_ctx)
    assert not error.permanent
    assert error.status == status
    assert error.retry_after == 30


@pytest.mark.parametrize("kind", KINDS)
async def test_a_receiver_that_does_not_answer_times_out_within_the_deadline(
    kind: str, receiver: Receiver, fast_ctx: NotifyContext
) -> None:
    started = trio.current_time()
    error = await fail(kind, receiver, Reply(delay=10, body=b"late"), fast_ctx)
    assert not error.permanent
    assert trio.current_time() - started < FAST_DEADLINE + 0.5


@pytest.mark.parametrize("kind", KINDS)
async def test_a_refused_connection_is_temporary(kind: str, notify_ctx: NotifyContext) -> None:
    raw, _ = http_channels(f"http://127.0.0.1:{closed_port()}")[kind]
    with pytest.raises(NotifyError) as caught:
        await send_alert(kind, validate_channel(kind, raw), DOWN, notify_ctx)
    assert not caught.value.permanent


@pytest.mark.parametrize("kind", KINDS)
async def test_secrets_never_appear_in_an_error_message(
    kind: str, receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    raw, _ = http_channels(receiver.url)[kind]
    secrets = secret_strings(kind, raw)
    assert secrets
    # A receiver that echoes what it got, secrets included.
    echo = " ".join(secrets).encode()
    error = await fail(kind, receiver, Reply(status=401, body=echo), notify_ctx)
    for secret in secrets:
        assert secret not in str(error)
        assert secret not in repr(error)


def secret_strings(kind: str, raw: dict[str, Any]) -> list[str]:
    settings = validate_channel(kind, raw)
    return settings.secret_values()


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert parse_retry_after("120") == 120
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0
    now = 1714564803.0
    date = email.utils.formatdate(now + 90, usegmt=True)
    assert parse_retry_after(date, now=now) == 90
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_scrub_cuts_out_every_secret() -> None:
    assert scrub("token abcd1234 in abcd12345", ["abcd1234", "abcd12345"]) == "token *** in ***"


async def test_an_https_receiver_with_a_trusted_certificate_gets_the_alert(
    certificates: CertificateAuthority, notify_ctx: NotifyContext
) -> None:
    async with serve_receiver(ssl_context=certificates.server_context("valid")) as receiver:
        raw, path = http_channels(receiver.url)["slack"]
        await send_alert("slack", validate_channel("slack", raw), DOWN, notify_ctx)
        [request] = await receiver.wait_for(1)
    assert request.target == path


@pytest.mark.parametrize("case", ["self_signed", "expired", "wrong_host"])
async def test_a_certificate_that_does_not_verify_is_permanent(
    case: CertCase, certificates: CertificateAuthority, notify_ctx: NotifyContext
) -> None:
    async with serve_receiver(ssl_context=certificates.server_context(case)) as receiver:
        raw, _ = http_channels(receiver.url)["slack"]
        with pytest.raises(NotifyError) as caught:
            await send_alert("slack", validate_channel("slack", raw), DOWN, notify_ctx)
        assert receiver.requests == []
    assert caught.value.permanent
    assert "TLS certificate not trusted" in str(caught.value)
    assert "slack-url-secret" not in str(caught.value)
