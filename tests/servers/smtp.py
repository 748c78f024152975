"""A real SMTP server for tests (aiosmtpd, in its own thread) on 127.0.0.1.

async with serve_smtp() as smtp:                               # plain
async with serve_smtp(starttls=ctx, logins={"u": "pw"}) as smtp:  # STARTTLS + AUTH
async with serve_smtp(implicit_tls=ctx) as smtp:               # TLS from the start
    smtp.port, smtp.mails                                      # SeenMail, as accepted
    smtp.data_reply = "451 4.3.0 Try again later"              # refuse the next DATA
    smtp.refuse["nobody@example.com"] = "550 5.1.1 No such user"
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from typing import Any

import msgspec
import trio
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"


class SeenMail(msgspec.Struct, frozen=True, kw_only=True):
    """A message the server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes  # as received, headers and body
    login: str | None  # who authenticated, if anyone
    tls: bool  # whether the session was encrypted

    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class SmtpServer:
    def __init__(self) -> None:
        self.host = HOST
        self.port = 0
        self.mails: list[SeenMail] = []
        self.data_reply: str | None = None  # answer DATA with this instead of accepting
        self.refuse: dict[str, str] = {}  # recipient -> reply to its RCPT TO


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, smtp: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.server.refuse:
            return self.server.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, smtp: Any, session: Session, envelope: Envelope
    ) -> str:
        if self.server.data_reply is not None:
            return self.server.data_reply
        content = envelope.original_content or b""
        credentials: Any = session.auth_data
        login = credentials.login.decode() if session.authenticated else None
        self.server.mails.append(
            SeenMail(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                content=content,
                login=login,
                tls=smtp.transport.get_extra_info("sslcontext") is not None,
            )
        )
        return "250 Message accepted for delivery"


class _Controller(Controller):
    def _trigger_server(self) -> None:
        # Bound to port 0: learn the real port before aiosmtpd connects to itself.
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


@asynccontextmanager
async def serve_smtp(
    *,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
    logins: dict[str, str] | None = None,
) -> AsyncIterator[SmtpServer]:
    """An SMTP server on an ephemeral port of 127.0.0.1 for as long as the block runs.

    `starttls`: offer STARTTLS with this server context (and require it); `implicit_tls`:
    speak TLS from the first byte; `logins`: require AUTH (after STARTTLS) with one of
    these user/password pairs.
    """
    server = SmtpServer()

    def authenticate(
        smtp: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword) and logins is not None:
            user, password = data.login.decode(), data.password.decode()
            if logins.get(user) == password:
                return AuthResult(success=True, auth_data=data)
        return AuthResult(success=False, handled=False)

    options: dict[str, Any] = {}
    if starttls is not None:
        options.update(tls_context=starttls, require_starttls=True)
    if implicit_tls is not None:
        if logins is not None:
            # aiosmtpd counts only STARTTLS as TLS, so it would not offer AUTH here.
            raise ValueError("aiosmtpd offers AUTH only after STARTTLS")
        options.update(ssl_context=implicit_tls)
    if logins is not None:
        options.update(authenticator=authenticate, auth_required=True)
    controller = _Controller(_Handler(server), hostname=HOST, port=0, **options)
    await trio.to_thread.run_sync(controller.start)
    server.port = controller.port
    try:
        yield server
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(controller.stop)
