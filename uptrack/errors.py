"""The project's exception tree.

UptrackError
├── ConfigError            a setting is missing or wrong (names the setting)
├── InvalidInput           user input failed validation; carries every FieldError
├── NotFound               a stored object does not exist
├── Conflict               a unique name is taken, or a compare-and-set lost
├── StoreError
│   ├── StoreUnavailable   the database cannot be reached right now (retry later)
│   ├── SchemaTooNew       the database was migrated by a newer release
│   ├── ChangesExpired     a change cursor the store can no longer serve
│   └── DataDirLocked      another node holds the data directory
└── ShutdownTimeout        a graceful stop ran out of its grace period
"""

from __future__ import annotations

import msgspec


class UptrackError(Exception):
    """Base of every error Uptrack raises on purpose."""


class ConfigError(UptrackError):
    pass


class FieldError(msgspec.Struct, frozen=True):
    """One problem with one field of user input."""

    field: str
    message: str
    line: int | None = None  # line in the source file, when the input came from a file

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.field}: {self.message}"


class InvalidInput(UptrackError):
    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


class NotFound(UptrackError):
    pass


class Conflict(UptrackError):
    pass


class StoreError(UptrackError):
    pass


class StoreUnavailable(StoreError):
    pass


class SchemaTooNew(StoreError):
    pass


class ChangesExpired(StoreError):
    """A change cursor the store can no longer serve: older than the retained change
    log (deletions since then are forgotten) or newer than any change (the database
    was replaced). Start over with `changes_since(0)` and replace what you hold."""


class DataDirLocked(StoreError):
    pass


class ShutdownTimeout(UptrackError):
    pass
