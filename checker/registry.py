"""The registry of check kinds: adding a kind is one module and one line here."""

from __future__ import annotations

from checker.kind import Kind
from checker.kinds import http, tcp

KINDS: dict[str, Kind] = {k.name: k for k in (http.KIND, tcp.KIND)}

__all__ = ["KINDS", "Kind"]
