"""The command line picks the store: SQLite in the data dir, or PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from bench.nodeproc import free_port
from uptrack.cli import main
from uptrack.store.schema import load_migrations


def test_every_store_command_takes_a_postgresql_url(
    postgres_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ["--data-dir", str(tmp_path / "data"), "--database", postgres_database]
    monitors = tmp_path / "monitors.yaml"
    monitors.write_text(
        'monitors:\n  - {name: db, kind: tcp, target: "127.0.0.1:5432", interval: 30}\n'
    )

    assert main(["db", "migrate", *data]) == 0
    assert main(["apply", str(monitors), *data]) == 0
    assert main(["monitors", "list", *data]) == 0
    assert main(["token", "create", "--name", "ci", "--scope", "read", *data]) == 0

    out = capsys.readouterr().out
    assert f"schema at version {len(load_migrations('postgres'))}" in out
    assert "db    tcp   127.0.0.1:5432  pending  never" in out
    with psycopg.connect(postgres_database) as db:
        assert db.execute("SELECT name FROM monitors").fetchall() == [("db",)]
        assert db.execute("SELECT count(*) FROM api_tokens").fetchall() == [(1,)]
    assert not (tmp_path / "data" / "uptrack.db").exists()


def test_the_database_comes_from_the_environment_too(
    postgres_database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("UPTRACK_DATABASE", postgres_database)

    assert main(["db", "migrate", "--data-dir", str(tmp_path)]) == 0

    with psycopg.connect(postgres_database) as db:
        assert db.execute("SELECT count(*) FROM monitors").fetchall() == [(0,)]


def test_without_a_url_the_store_is_sqlite_in_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("UPTRACK_DATABASE", raising=False)

    assert main(["db", "migrate", "--data-dir", str(tmp_path)]) == 0

    assert (tmp_path / "uptrack.db").exists()
    assert f"schema at version {len(load_migrations('sqlite'))}" in capsys.readouterr().out


def test_an_unreachable_database_stops_a_command_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql://uptrack:s3cr3t@127.0.0.1:{free_port()}/uptrack"

    assert main(["db", "migrate", "--data-dir", str(tmp_path), "--database", url]) == 2

    err = capsys.readouterr().err
    assert err.startswith("error: PostgreSQL: ")
    assert "s3cr3t" not in err
