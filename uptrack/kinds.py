"""What the core knows of check kinds: their settings schema and target syntax.

The probes themselves live in `checker/`; the node hands the API and the CLI a
`KindCatalog` so they can validate monitors without importing the checker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import msgspec


class KindSchema(Protocol):
    """The validation half of a check kind."""

    @property
    def name(self) -> str: ...

    @property
    def settings_type(self) -> type[msgspec.Struct]:
        """A msgspec Struct (forbid_unknown_fields) whose fields are the kind's settings."""
        ...

    @property
    def secret_fields(self) -> tuple[str, ...]:
        """Write-only settings as dotted paths ("bearer_token", "basic_auth.password");
        empty if the kind has none. See `uptrack.secrets`."""
        ...

    @property
    def secret_header_fields(self) -> tuple[str, ...]:
        """Settings that map request header names to values: the value of a sensitive
        name (`uptrack.secrets.is_sensitive_header`) is write-only."""
        ...

    @property
    def secret_url_fields(self) -> tuple[str, ...]:
        """Settings holding a URL whose user info may carry a password: the password
        is write-only."""
        ...

    def parse_target(self, target: str) -> str:
        """Return the normalised target, or raise ValueError with a message for the user."""
        ...

    def check_settings(self, settings: msgspec.Struct, *, timeout: float) -> list[tuple[str, str]]:
        """Cross-field checks msgspec cannot express: (field, message) pairs, empty if fine."""
        ...


KindCatalog = Mapping[str, KindSchema]
