"""API token secrets: how they are made, recognised and hashed (never stored in clear)."""

from __future__ import annotations

import hashlib
import secrets

from uptrack.model import Scope

PREFIX = "upt_"
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")


class NewToken:
    """A freshly generated token: `secret` is shown once, then only its hash exists."""

    def __init__(self) -> None:
        self.secret = PREFIX + secrets.token_urlsafe(32)  # 256 random bits
        self.sha256 = hash_secret(self.secret)
        self.prefix = self.secret[: len(PREFIX) + 6]


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def scope_allows(granted: Scope, needed: Scope) -> bool:
    """`admin` includes `write`, which includes `read`."""
    return SCOPES.index(granted) >= SCOPES.index(needed)
