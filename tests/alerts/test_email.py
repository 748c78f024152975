"""Email: what a real SMTP server (aiosmtpd on loopback) receives, plain and over TLS."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import pytest
import trio

from tests.alerts.samples import DOWN, UP
from tests.servers.certs import CertificateAuthority
from tests.servers.listeners import closed_port, unresponsive_port
from tests.servers.smtp import SmtpServer, serve_smtp
from uptrack.alerts.channels.email import DEFAULT_PORTS
from uptrack.alerts.context import NotifyContext, open_notify_context
from uptrack.alerts.errors import NotifyError
from uptrack.alerts.registry import send_alert, validate_channel
from uptrack.errors import InvalidInput

PASSWORD = "correct-horse-battery-staple"


def settings_for(server: SmtpServer, **changes: object) -> dict[str, object]:
    raw: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "security": "none",
        "from": "Uptrack <uptrack@example.com>",
        "to": ["oncall@example.com", "Ops Team <ops@example.com>"],
    }
    raw.update(changes)
    return raw


@pytest.fixture
async def plain_smtp() -> AsyncIterator[SmtpServer]:
    async with serve_smtp() as server:
        yield server


@pytest.fixture
async def starttls_smtp(certificates: CertificateAuthority) -> AsyncIterator[SmtpServer]:
    tls = certificates.server_context("valid")
    async with serve_smtp(starttls=tls, logins={"alerts": PASSWORD}) as server:
        yield server


async def test_a_down_alert_is_a_plain_text_mail_with_a_stable_message_id(
    plain_smtp: SmtpServer, notify_ctx: NotifyContext
) -> None:
    await send_alert("email", validate_channel("email", settings_for(plain_smtp)), DOWN, notify_ctx)

    [mail] = plain_smtp.mails
    assert mail.mail_from == "uptrack@example.com"
    assert mail.rcpt_tos == ["oncall@example.com", "ops@example.com"]
    assert not mail.tls
    message = mail.message()
    assert message["Subject"] == "🔴 Website is DOWN"
    assert message["From"] == "Uptrack <uptrack@example.com>"
    assert message["To"] == "oncall@example.com, Ops Team <ops@example.com>"
    assert message["Date"] == "Wed, 01 May 2024 12:00:03 +0000"
    assert message["Message-ID"] == "<uptrack-inc42-down-ch7@example.com>"
    assert message["References"] == "<uptrack-inc42@example.com>"
    assert message["In-Reply-To"] == "<uptrack-inc42@example.com>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Uptrack-Event"] == "down"
    assert message.get_content_type() == "text/plain"
    assert message.get_content().replace("\r\n", "\n") == (
        "🔴 Website is DOWN — status 503 not in 200-399 (since 12:00:03 UTC)\n"
        "\n"
        "Monitor:     Website (http)\n"
        "Target:      https://example.com/health\n"
        "Cause:       status 503 not in 200-399\n"
        "HTTP status: 503\n"
        "Down since:  2024-05-01 12:00:03 UTC\n"
        "Incident:    inc42\n"
        "\n"
        "Open in Uptrack: https://uptrack.example/monitors/m1\n"
    )


async def test_recovery_threads_under_the_same_incident(
    plain_smtp: SmtpServer, notify_ctx: NotifyContext
) -> None:
    settings = validate_channel("email", settings_for(plain_smtp))
    await send_alert("email", settings, DOWN, notify_ctx)
    await send_alert("email", settings, UP, notify_ctx)

    down, up = (mail.message() for mail in plain_smtp.mails)
    assert up["Subject"] == "✅ Website is UP"
    assert up["Message-ID"] == "<uptrack-inc42-up-ch7@example.com>"
    assert up["References"] == down["References"]


async def test_starttls_and_login_are_used(
    starttls_smtp: SmtpServer, notify_ctx: NotifyContext
) -> None:
    raw = settings_for(starttls_smtp, security="starttls", username="alerts", password=PASSWORD)
    await send_alert("email", validate_channel("email", raw), DOWN, notify_ctx)

    [mail] = starttls_smtp.mails
    assert mail.tls
    assert mail.login == "alerts"


async def test_implicit_tls_is_spoken_from_the_first_byte(
    certificates: CertificateAuthority, notify_ctx: NotifyContext
) -> None:
    async with serve_smtp(implicit_tls=certificates.server_context("valid")) as server:
        raw = settings_for(server, security="tls")
        await send_alert("email", validate_channel("email", raw), DOWN, notify_ctx)
        [mail] = server.mails
    assert mail.tls


async def test_a_wrong_password_is_permanent_and_never_shown(
    starttls_smtp: SmtpServer, notify_ctx: NotifyContext
) -> None:
    wrong = "wrong-password-1234"
    raw = settings_for(starttls_smtp, security="starttls", username="alerts", password=wrong)

    with pytest.raises(NotifyError) as caught:
        await send_alert("email", validate_channel("email", raw), DOWN, notify_ctx)
    assert caught.value.permanent
    assert caught.value.status == 535
    assert wrong not in str(caught.value)
    assert starttls_smtp.mails == []


async def test_an_untrusted_certificate_is_permanent(
    certificates: CertificateAuthority, notify_ctx: NotifyContext
) -> None:
    async with serve_smtp(starttls=certificates.server_context("self_signed")) as server:
        raw = settings_for(server, security="starttls")
        with pytest.raises(NotifyError) as caught:
            await send_alert("email", validate_channel("email", raw), DOWN, notify_ctx)
        assert server.mails == []
    assert caught.value.permanent
    assert "TLS failed" in str(caught.value)


async def test_a_4xx_reply_is_temporary(plain_smtp: SmtpServer, notify_ctx: NotifyContext) -> None:
    plain_smtp.data_reply = "451 4.3.0 Try again later"
    with pytest.raises(NotifyError) as caught:
        await send_alert(
            "email", validate_channel("email", settings_for(plain_smtp)), DOWN, notify_ctx
        )
    assert not caught.value.permanent
    assert caught.value.status == 451


async def test_refused_recipients_are_permanent(
    plain_smtp: SmtpServer, notify_ctx: NotifyContext
) -> None:
    plain_smtp.refuse["ops@example.com"] = "550 5.1.1 No such user"
    settings = validate_channel("email", settings_for(plain_smtp))

    with pytest.raises(NotifyError) as some:
        await send_alert("email", settings, DOWN, notify_ctx)
    assert some.value.permanent
    assert "ops@example.com: 550" in str(some.value)
    assert [mail.rcpt_tos for mail in plain_smtp.mails] == [["oncall@example.com"]]

    plain_smtp.refuse["oncall@example.com"] = "550 5.1.1 No such user"
    with pytest.raises(NotifyError) as every:
        await send_alert("email", settings, DOWN, notify_ctx)
    assert every.value.permanent
    assert "every recipient was refused" in str(every.value)


async def test_a_closed_port_is_temporary(notify_ctx: NotifyContext) -> None:
    raw = {"host": "127.0.0.1", "port": closed_port(), "security": "none"}
    raw |= {"from": "uptrack@example.com", "to": ["oncall@example.com"]}
    with pytest.raises(NotifyError) as caught:
        await send_alert("email", validate_channel("email", raw), DOWN, notify_ctx)
    assert not caught.value.permanent


async def test_a_stalled_server_is_temporary_within_the_deadline(
    client_tls: ssl.SSLContext,
) -> None:
    async with (
        unresponsive_port() as port,
        open_notify_context(
            public_url="https://u.example", deadline=0.5, ssl_context=client_tls
        ) as ctx,
    ):
        raw = {"host": "127.0.0.1", "port": port, "security": "none"}
        raw |= {"from": "uptrack@example.com", "to": ["oncall@example.com"]}
        started = trio.current_time()
        with pytest.raises(NotifyError) as caught:
            await send_alert("email", validate_channel("email", raw), DOWN, ctx)
        elapsed = trio.current_time() - started
    assert not caught.value.permanent
    assert elapsed < 1.5


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"to": []}, "to"),
        ({"to": ["not an address"]}, "to[0]"),
        ({"from": "nobody"}, "from"),
        ({"host": "smtp://mail.example.com"}, "host"),
        ({"username": "u", "password": "p", "security": "none"}, "security"),
        ({"password": "p"}, "username"),
        ({"security": "ssl"}, "security"),
    ],
)
def test_settings_errors_name_the_field(changes: dict[str, object], field: str) -> None:
    raw = {"host": "smtp.example.com", "from": "a@example.com", "to": ["b@example.com"], **changes}
    with pytest.raises(InvalidInput) as caught:
        validate_channel("email", raw)
    assert [e.field for e in caught.value.errors] == [field]


def test_ports_default_by_security() -> None:
    assert DEFAULT_PORTS == {"starttls": 587, "tls": 465, "none": 25}
