"""Fixtures of the notifier tests: a notify context and real loopback receivers."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import pytest

from tests.alerts.samples import PUBLIC_URL
from tests.servers.certs import CertificateAuthority
from tests.servers.receiver import Receiver, serve_receiver
from uptrack.alerts.context import NotifyContext, default_ssl_context, open_notify_context


@pytest.fixture(scope="session")
def certificates() -> CertificateAuthority:
    return CertificateAuthority()


@pytest.fixture
def client_tls(certificates: CertificateAuthority) -> ssl.SSLContext:
    """The notifier's TLS trust (certifi), plus the test CA."""
    ctx = default_ssl_context()
    certificates.trust(ctx)
    return ctx


@pytest.fixture
async def notify_ctx(client_tls: ssl.SSLContext) -> AsyncIterator[NotifyContext]:
    async with open_notify_context(
        public_url=PUBLIC_URL, deadline=2.0, ssl_context=client_tls
    ) as ctx:
        yield ctx


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with serve_receiver() as server:
        yield server
