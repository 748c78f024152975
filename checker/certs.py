"""What a TLS handshake showed of the peer: its certificate chain and the session.

Probes record this on every TLS check (`Observation.details["tls"]`) and offer it
to assertions as the `cert` fact.
"""

from __future__ import annotations

import math
import ssl
from datetime import UTC, datetime
from typing import Any

import trio

MAX_CHAIN = 10  # certificates recorded per chain
CERT_FIELDS = frozenset({"days_left", "not_after", "subject", "issuer", "sans"})
"""The fields of the `cert` fact of assertions."""
_SHORT_NAMES = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "emailAddress": "E",
}
DAY = 86_400.0


def distinguished_name(rdns: Any) -> str:
    """`CN=example.com, O=Example` from the nested tuples of `getpeercert()`."""
    parts = []
    for rdn in rdns or ():
        for name, value in rdn:
            parts.append(f"{_SHORT_NAMES.get(name, name)}={value}")
    return ", ".join(parts)


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry(info: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "subject": distinguished_name(info.get("subject")),
        "issuer": distinguished_name(info.get("issuer")),
    }
    if "notAfter" in info:
        entry["not_after"] = _iso(ssl.cert_time_to_seconds(info["notAfter"]))
    return entry


def _infos(stream: trio.SSLStream[Any], verified: bool) -> list[dict[str, Any]]:
    # Python 3.11 has the chain only on the private _ssl object (public from 3.13);
    # trio keeps the ssl.SSLObject in `_ssl_object`. Without either: the leaf alone.
    inner = getattr(getattr(stream, "_ssl_object", None), "_sslobj", None)
    names = ("get_verified_chain", "get_unverified_chain")
    for name in names if verified else reversed(names):
        getter = getattr(inner, name, None)
        chain = getter() if getter is not None else None
        if chain:
            return [cert.get_info() for cert in chain[:MAX_CHAIN]]
    leaf = stream.getpeercert()
    return [leaf] if leaf else []


class PeerCertificate:
    """The leaf certificate's facts and the chain, as one handshake showed them."""

    def __init__(self, infos: list[dict[str, Any]], now: float) -> None:
        leaf = infos[0] if infos else {}
        self.subject = distinguished_name(leaf.get("subject"))
        self.issuer = distinguished_name(leaf.get("issuer"))
        self.sans = [value for kind, value in leaf.get("subjectAltName", ()) if kind == "DNS"]
        self.sans += [
            value for kind, value in leaf.get("subjectAltName", ()) if kind == "IP Address"
        ]
        not_after = leaf.get("notAfter")
        self.not_after: float | None = (
            ssl.cert_time_to_seconds(not_after) if not_after is not None else None
        )
        self.seconds_left = None if self.not_after is None else self.not_after - now
        self.chain = [_entry(info) for info in infos]

    @property
    def days_left(self) -> int | None:
        """Whole days until the certificate expires (negative once it has)."""
        if self.seconds_left is None:
            return None
        return math.floor(self.seconds_left / DAY)

    def facts(self) -> dict[str, Any]:
        """The `cert` fact of assertions."""
        return {
            "days_left": self.days_left,
            "not_after": _iso(self.not_after) if self.not_after is not None else None,
            "subject": self.subject,
            "issuer": self.issuer,
            "sans": self.sans,
        }


def peer_certificate(stream: trio.SSLStream[Any], *, verified: bool, now: float) -> PeerCertificate:
    """The peer's certificate after a completed handshake; `now` in Unix seconds."""
    return PeerCertificate(_infos(stream, verified), now)


def session_details(stream: trio.SSLStream[Any], cert: PeerCertificate) -> dict[str, Any]:
    """`details["tls"]` of an observation: protocol, cipher, ALPN and the chain."""
    cipher = stream.cipher()
    return {
        "version": stream.version(),
        "cipher": cipher[0] if cipher else None,
        "alpn": stream.selected_alpn_protocol(),
        "days_left": cert.days_left,
        "chain": cert.chain,
    }
