"""Fixtures of the probe tests: a probe context, the loopback targets it probes, and a
network namespace of the tests' own for what must not touch the host's network."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from checker.context import ProbeContext
from tests.servers import (
    CertificateAuthority,
    HostileServer,
    HttpServer,
    closed_port,
    serve_hostile,
    serve_http,
    unresponsive_port,
)
from tests.servers.netns import IsolatedNetwork


@pytest.fixture(scope="session")
def certificates() -> CertificateAuthority:
    return CertificateAuthority()


@pytest.fixture(scope="session")
def ca_file(certificates: CertificateAuthority, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The test CA as a PEM file."""
    return str(certificates.write_ca_pem(tmp_path_factory.mktemp("ca") / "ca.pem"))


@pytest.fixture
def probe_ctx(ca_file: str) -> ProbeContext:
    """A fresh ProbeContext whose verifying SSL contexts also trust the test CA."""
    return ProbeContext(extra_ca_files=[ca_file])


@pytest.fixture
async def http_server() -> AsyncIterator[HttpServer]:
    async with serve_http() as server:
        yield server


@pytest.fixture
async def https_server(certificates: CertificateAuthority) -> AsyncIterator[HttpServer]:
    async with serve_http(ssl_context=certificates.server_context("valid")) as server:
        yield server


@pytest.fixture
async def hostile_server() -> AsyncIterator[HostileServer]:
    async with serve_hostile() as server:
        yield server


@pytest.fixture
def refused_port() -> int:
    return closed_port()


@pytest.fixture
async def stalled_port() -> AsyncIterator[int]:
    async with unresponsive_port() as port:
        yield port


@pytest.fixture(scope="module")
def isolated() -> Iterator[IsolatedNetwork]:
    """Probes run in a namespace with only its own loopback: nothing they send leaves it."""
    network = IsolatedNetwork()
    yield network
    network.close()
