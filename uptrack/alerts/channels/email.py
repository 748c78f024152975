"""Email over SMTP (STARTTLS, implicit TLS or plain), with stdlib smtplib in a thread.

The `Message-ID` is derived from the dedup key, so a retried delivery carries the
same id and mail systems that deduplicate by it show it once; every message of an
incident refers to the same thread id, so clients group down and up together.

smtplib blocks: it runs in a worker thread (at most `SMTP_THREADS` at once) with a
socket timeout of the send deadline, and trio abandons the thread when the
deadline passes, so a stalled server never holds up the event loop.
"""

from __future__ import annotations

import datetime
import email.utils
import re
import smtplib
import ssl
from email.message import EmailMessage
from functools import partial
from typing import Literal

import msgspec
import trio

from uptrack.alerts.channel import Channel, ChannelSettings
from uptrack.alerts.context import NotifyContext
from uptrack.alerts.errors import NotifyError
from uptrack.alerts.message import AlertMessage
from uptrack.alerts.transport import scrub
from uptrack.errors import FieldError

Security = Literal["starttls", "tls", "none"]

DEFAULT_PORTS: dict[Security, int] = {"starttls": 587, "tls": 465, "none": 25}
MAX_RECIPIENTS = 50
_ADDRESS = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+")


class EmailSettings(ChannelSettings, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """An SMTP server to submit to, the sender and the recipients."""

    secret_fields = ("password",)

    host: str
    to: list[str]
    sender: str = msgspec.field(name="from")  # an address, or `Name <address>`
    port: int | None = None  # 587 for starttls, 465 for tls, 25 for none
    security: Security = "starttls"
    username: str | None = None
    password: str | None = None


def address_of(value: str) -> str:
    """The bare address of `a@b` or `Name <a@b>`; empty if there is none."""
    _, address = email.utils.parseaddr(value)
    return address if _ADDRESS.fullmatch(address) else ""


def compose(settings: EmailSettings, message: AlertMessage) -> EmailMessage:
    """The email for `message`: plain text, threaded by incident, id from the dedup key."""
    domain = address_of(settings.sender).rpartition("@")[2] or "uptrack.invalid"
    mail = EmailMessage()
    mail["Subject"] = message.headline
    mail["From"] = settings.sender
    mail["To"] = ", ".join(settings.to)
    mail["Date"] = email.utils.format_datetime(
        datetime.datetime.fromtimestamp(message.at, datetime.UTC)
    )
    mail["Message-ID"] = f"<{message.dedup_key}@{domain}>"
    if message.event != "test":
        thread = f"<{message.incident_key}@{domain}>"
        mail["In-Reply-To"] = thread
        mail["References"] = thread
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    mail["X-Uptrack-Event"] = message.event
    width = max(len(label) for label, _ in message.details()) + 1
    facts = [f"{label + ':':<{width}} {value}" for label, value in message.details()]
    mail.set_content("\n".join([message.text, "", *facts, "", f"Open in Uptrack: {message.link}"]))
    return mail


def _reply_error(code: int, text: bytes | str, what: str, secrets: list[str]) -> NotifyError:
    reply = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    detail = scrub(f"email: {what}: {code} {reply}".strip(), secrets)
    return NotifyError(detail, permanent=code >= 500, status=code)


def _converse(
    settings: EmailSettings, mail: EmailMessage, tls: ssl.SSLContext, timeout: float
) -> dict[str, tuple[int, bytes]]:
    """The SMTP conversation; returns the recipients refused while others accepted."""
    port = settings.port or DEFAULT_PORTS[settings.security]
    smtp: smtplib.SMTP
    if settings.security == "tls":
        smtp = smtplib.SMTP_SSL(settings.host, port, timeout=timeout, context=tls)
    else:
        smtp = smtplib.SMTP(settings.host, port, timeout=timeout)
    try:
        smtp.ehlo()
        if settings.security == "starttls":
            smtp.starttls(context=tls)
            smtp.ehlo()
        if settings.username:
            smtp.login(settings.username, settings.password or "")
        return smtp.send_message(
            mail,
            from_addr=address_of(settings.sender),
            to_addrs=[address_of(to) for to in settings.to],
        )
    finally:
        # Once the message is accepted, a failing QUIT must not turn into a retry.
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def _submit(
    settings: EmailSettings, mail: EmailMessage, tls: ssl.SSLContext, timeout: float
) -> None:
    """Deliver `mail` (in a worker thread); raise NotifyError when it was not."""
    secrets = settings.secret_values()
    try:
        refused = _converse(settings, mail, tls, timeout)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        detail = scrub(f"email: every recipient was refused ({_refusals(exc.recipients)})", secrets)
        raise NotifyError(detail, permanent=min(codes) >= 500, status=max(codes)) from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise _reply_error(exc.smtp_code, exc.smtp_error, "login refused", secrets) from exc
    except smtplib.SMTPResponseException as exc:
        raise _reply_error(exc.smtp_code, exc.smtp_error, "server refused", secrets) from exc
    except smtplib.SMTPNotSupportedError as exc:
        detail = scrub(f"email: the server does not support it: {exc}", secrets)
        raise NotifyError(detail, permanent=True) from exc
    except ssl.SSLError as exc:
        # Untrusted certificates and TLS spoken to a plain port (or the reverse) are
        # settings to fix, not outages to wait out.
        detail = scrub(f"email: TLS failed ({exc}); check host, port and security", secrets)
        raise NotifyError(detail, permanent=True) from exc
    except (smtplib.SMTPException, OSError) as exc:
        detail = scrub(f"email: {type(exc).__name__}: {exc}", secrets)
        raise NotifyError(detail, permanent=False) from exc
    if refused:
        # Delivered to the others: retrying would send them a second copy.
        detail = scrub(f"email: some recipients were refused ({_refusals(refused)})", secrets)
        raise NotifyError(detail, permanent=True)


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{to}: {code} {reply.decode('utf-8', 'replace')}" for to, (code, reply) in refused.items()
    )


async def send(settings: EmailSettings, message: AlertMessage, ctx: NotifyContext) -> None:
    mail = compose(settings, message)
    submit = partial(_submit, settings, mail, ctx.ssl_context, ctx.deadline)
    await trio.to_thread.run_sync(submit, abandon_on_cancel=True, limiter=ctx.smtp_limiter)


def check(settings: EmailSettings) -> list[FieldError]:
    errors = []
    host = settings.host.strip()
    if not host or "://" in host or any(c.isspace() for c in host):
        errors.append(
            FieldError("host", "must be a host name or IP address, like smtp.example.com")
        )
    if settings.port is not None and not 1 <= settings.port <= 65535:
        errors.append(FieldError("port", f"{settings.port} is outside 1 to 65535"))
    if not address_of(settings.sender) or any(ord(c) < 32 for c in settings.sender):
        errors.append(FieldError("from", "must be an address like uptrack@example.com"))
    if not settings.to:
        errors.append(FieldError("to", "needs at least one address"))
    elif len(settings.to) > MAX_RECIPIENTS:
        errors.append(
            FieldError("to", f"has {len(settings.to)} addresses; at most {MAX_RECIPIENTS}")
        )
    for i, to in enumerate(settings.to):
        if not address_of(to) or any(ord(c) < 32 for c in to):
            errors.append(FieldError(f"to[{i}]", "must be an address like oncall@example.com"))
    if settings.password and not settings.username:
        errors.append(FieldError("username", "is required with a password"))
    if settings.username and settings.security == "none":
        errors.append(
            FieldError("security", "must be starttls or tls to log in: passwords never go in clear")
        )
    return errors


CHANNEL = Channel(name="email", settings_type=EmailSettings, send=send, check=check)
