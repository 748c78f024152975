"""A test certificate authority (trustme) and server TLS contexts, good and bad."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path
from typing import Literal

import trustme

CertCase = Literal["valid", "expired", "expiring", "wrong_host", "self_signed"]

IDENTITIES = ("localhost", "127.0.0.1", "::1")
"""What a "valid" (and an "expired") server certificate is issued for."""

EXPIRING_DAYS = 5


class CertificateAuthority:
    """A CA the tests trust, issuing server certificates for each TLS case.

    - "valid": for localhost / 127.0.0.1 / ::1, signed by this CA;
    - "expired": the same names, expired yesterday;
    - "expiring": the same names, expiring in EXPIRING_DAYS days (and some hours);
    - "wrong_host": signed by this CA, but for wrong-host.example only;
    - "self_signed": a certificate that signed itself (a CA nobody trusts).
    """

    def __init__(self) -> None:
        self.ca = trustme.CA()
        self._contexts: dict[CertCase, ssl.SSLContext] = {}

    def trust(self, ctx: ssl.SSLContext) -> None:
        """Make a client context trust this CA (in addition to what it trusts)."""
        self.ca.configure_trust(ctx)

    def write_ca_pem(self, path: Path) -> Path:
        """Write the CA certificate as PEM (for `ProbeContext.ssl_context(ca_file=...)`)."""
        self.ca.cert_pem.write_to_path(str(path))
        return path

    def write_client_pair(self, directory: Path) -> tuple[Path, Path]:
        """A client certificate issued by this CA and its key, as PEM files (for mTLS)."""
        client = self.ca.issue_cert("client.uptrack.test")
        cert, key = directory / "client.pem", directory / "client.key"
        client.cert_chain_pems[0].write_to_path(str(cert))
        client.private_key_pem.write_to_path(str(key))
        return cert, key

    def fresh_context(self) -> ssl.SSLContext:
        """A new "valid" server context of its own (to configure, e.g. with ALPN)."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(*IDENTITIES).configure_cert(ctx)
        return ctx

    def mtls_context(self) -> ssl.SSLContext:
        """A "valid" server context that also requires a client certificate of this CA."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(*IDENTITIES).configure_cert(ctx)
        self.ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    def server_context(self, case: CertCase = "valid") -> ssl.SSLContext:
        """A server-side SSL context presenting the certificate of `case` (built once)."""
        ctx = self._contexts.get(case)
        if ctx is None:
            ctx = self._contexts[case] = self._build(case)
        return ctx

    def _build(self, case: CertCase) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        now = datetime.datetime.now(datetime.UTC)
        if case == "valid":
            self.ca.issue_cert(*IDENTITIES).configure_cert(ctx)
        elif case == "expired":
            self.ca.issue_cert(
                *IDENTITIES,
                not_before=now - datetime.timedelta(days=30),
                not_after=now - datetime.timedelta(days=1),
            ).configure_cert(ctx)
        elif case == "expiring":
            self.ca.issue_cert(
                *IDENTITIES,
                not_before=now - datetime.timedelta(days=30),
                not_after=now + datetime.timedelta(days=EXPIRING_DAYS, hours=12),
            ).configure_cert(ctx)
        elif case == "wrong_host":
            self.ca.issue_cert("wrong-host.example").configure_cert(ctx)
        else:
            stranger = trustme.CA()
            with (
                stranger.cert_pem.tempfile() as cert_file,
                stranger.private_key_pem.tempfile() as key_file,
            ):
                ctx.load_cert_chain(cert_file, key_file)
        return ctx
