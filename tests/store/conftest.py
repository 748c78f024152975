"""Fixtures for the store tests: every scenario runs against every kind of store.

A kind of store is one entry in KINDS: a class that opens stores on one database and
can mark that database as migrated by a newer release.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import psycopg
import pytest

from tests.servers.postgres import PostgresServer
from uptrack.store.base import Store
from uptrack.store.postgres import PostgresStore
from uptrack.store.sqlite import SqliteStore


class StoreKind:
    """One database behind the `Store` interface, and what the contract tests need of it."""

    def __init__(self) -> None:
        self._opened: list[Store] = []

    def open(self) -> Store:
        """A new store on this kind's database, not migrated yet (closed after the test)."""
        store = self._connect()
        self._opened.append(store)
        return store

    def _connect(self) -> Store:
        raise NotImplementedError

    def set_schema_version(self, version: int) -> None:
        """Mark the database as migrated to `version`, as a newer release would."""
        raise NotImplementedError

    def close_all(self) -> None:
        for store in self._opened:
            store.close()


class SqliteKind(StoreKind):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def _connect(self) -> Store:
        return SqliteStore(self.path)

    def set_schema_version(self, version: int) -> None:
        with closing(sqlite3.connect(self.path)) as db:
            db.execute(f"PRAGMA user_version = {int(version)}")
            db.commit()


class PostgresKind(StoreKind):
    """A database of its own on the session's PostgreSQL server, dropped afterwards."""

    def __init__(self, server: PostgresServer) -> None:
        super().__init__()
        self.server = server
        self.url = server.create_database()

    def _connect(self) -> Store:
        return PostgresStore(self.url)

    def set_schema_version(self, version: int) -> None:
        with psycopg.connect(self.url, autocommit=True) as db:
            db.execute("UPDATE uptrack_schema SET version = %s", (version,))

    def close_all(self) -> None:
        super().close_all()
        self.server.drop_database(self.url)


# name -> how to make the kind for one test (the request gives access to server
# fixtures, e.g. a PostgreSQL server, that a kind may need).
KINDS: dict[str, Callable[[pytest.FixtureRequest, Path], StoreKind]] = {
    "sqlite": lambda request, tmp_path: SqliteKind(tmp_path / "uptrack.db"),
    "postgres": lambda request, tmp_path: PostgresKind(request.getfixturevalue("postgres_server")),
}


@pytest.fixture(params=sorted(KINDS))
def store_kind(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreKind]:
    kind = KINDS[request.param](request, tmp_path)
    yield kind
    kind.close_all()


@pytest.fixture
def store(store_kind: StoreKind) -> Store:
    """A migrated, empty store."""
    store = store_kind.open()
    store.migrate()
    return store
