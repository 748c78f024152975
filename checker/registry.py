"""The registry of check kinds: adding a kind is one module and one line here."""

from __future__ import annotations

from checker.kind import Kind
from checker.kinds import dns, heartbeat, http, icmp, tcp, tls

KINDS: dict[str, Kind] = {
    k.name: k for k in (http.KIND, tcp.KIND, tls.KIND, dns.KIND, icmp.KIND, heartbeat.KIND)
}

__all__ = ["KINDS", "Kind"]
