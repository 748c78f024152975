"""Versioned schema migrations: numbered SQL files per database, shipped as package data."""

from __future__ import annotations

import re
from importlib import resources
from importlib.resources.abc import Traversable

import msgspec

from uptrack.errors import SchemaTooNew, StoreError

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class Migration(msgspec.Struct, frozen=True):
    """One migration file: `<version>_<name>.sql`, versions counting up from 1."""

    version: int
    name: str
    sql: str


def load_migrations(dialect: str) -> list[Migration]:
    """The migrations of `dialect` (a folder under `uptrack/store/migrations/`), in order."""
    return read_migrations(resources.files("uptrack.store").joinpath("migrations", dialect))


def read_migrations(folder: Traversable) -> list[Migration]:
    """The migration files in `folder`, in order. Raises StoreError unless they are
    numbered 1, 2, 3 … without gaps, so a broken package never touches a database."""
    migrations = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise StoreError(f"migration file {entry.name!r} is not named NNNN_name.sql")
        version, name = int(match.group(1)), match.group(2)
        migrations.append(Migration(version, name, entry.read_text(encoding="utf-8")))
    migrations.sort(key=lambda m: m.version)
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise StoreError(
                f"migrations must be numbered 1, 2, 3 … without gaps: found "
                f"{migration.version:04d}_{migration.name}.sql where {expected:04d} belongs"
            )
    return migrations


def pending_migrations(current: int, migrations: list[Migration]) -> list[Migration]:
    """Migrations to apply to a database at schema version `current`.

    Raises SchemaTooNew when a newer release migrated the database already: running
    an older release against it could lose or misread what the newer one stored.
    """
    newest = migrations[-1].version if migrations else 0
    if current > newest:
        raise SchemaTooNew(
            f"database schema is version {current}, this Uptrack knows up to {newest}; "
            "upgrade Uptrack"
        )
    return [m for m in migrations if m.version > current]
