"""Node settings: file, then UPTRACK_* variables, then flags; errors name the source."""

from __future__ import annotations

from pathlib import Path

import pytest

from uptrack.config import load_config
from uptrack.errors import ConfigError


def test_no_file_and_no_flags_is_the_embedded_default() -> None:
    config = load_config(env={})
    assert config.data_dir == ".uptrack"
    assert (config.listen_host, config.listen_port) == ("127.0.0.1", 8080)
    assert config.shards == 256


def test_the_environment_overrides_the_file_and_flags_override_both(tmp_path: Path) -> None:
    file = tmp_path / "uptrack.toml"
    file.write_text('listen = "0.0.0.0:9000"\ndata_dir = "/var/lib/a"\nshutdown_grace = "30s"\n')
    config = load_config(file, env={"UPTRACK_DATA_DIR": "/var/lib/b"}, flags={"listen": None})
    assert (config.listen, config.data_dir, config.shutdown_grace) == (
        "0.0.0.0:9000",
        "/var/lib/b",
        30,
    )
    config = load_config(file, env={"UPTRACK_LISTEN": "127.0.0.1:1"}, flags={"listen": "[::1]:7"})
    assert (config.listen_host, config.listen_port) == ("::1", 7)


def test_an_unknown_setting_in_the_file_is_named(tmp_path: Path) -> None:
    file = tmp_path / "uptrack.toml"
    file.write_text('lisen = "0.0.0.0:9000"\n')
    with pytest.raises(ConfigError, match="unknown setting 'lisen'"):
        load_config(file, env={})


def test_a_bad_value_names_its_source_and_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"UPTRACK_LISTEN: listen: 'nowhere' is not HOST:PORT"):
        load_config(env={"UPTRACK_LISTEN": "nowhere"})
    with pytest.raises(ConfigError, match=r"UPTRACK_MAX_CONCURRENT_CHECKS: 'many' is not a whole"):
        load_config(env={"UPTRACK_MAX_CONCURRENT_CHECKS": "many"})
    file = tmp_path / "uptrack.toml"
    file.write_text('log_format = "xml"\n')
    with pytest.raises(ConfigError, match=r"config file .*: log_format: "):
        load_config(file, env={})


def test_a_missing_or_broken_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", env={})
    broken = tmp_path / "broken.toml"
    broken.write_text("listen = \n")
    with pytest.raises(ConfigError, match="broken.toml"):
        load_config(broken, env={})


def test_the_database_is_sqlite_unless_a_postgresql_url_is_given(tmp_path: Path) -> None:
    assert load_config(env={}).database == ""
    url = "postgresql://uptrack@db.internal/uptrack"
    assert load_config(env={"UPTRACK_DATABASE": url}).database == url
    file = tmp_path / "uptrack.toml"
    file.write_text(f'database = "{url}"\n')
    assert load_config(file, env={}, flags={"database": "postgres://x@y/z"}).database == (
        "postgres://x@y/z"
    )


def test_a_database_url_that_is_not_postgresql_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(env={"UPTRACK_DATABASE": "mysql://root:hunter2@db/uptrack"})

    assert str(refused.value).startswith("UPTRACK_DATABASE: database: a 'mysql' URL is not")
    assert "hunter2" not in str(refused.value)


def test_retention_settings_take_durations_and_refuse_less_than_a_day() -> None:
    default = load_config(env={})
    assert (default.results_retention, default.rollups_retention) == (14 * 86400, 730 * 86400)
    config = load_config(
        env={"UPTRACK_RESULTS_RETENTION": "30d", "UPTRACK_ROLLUPS_RETENTION": "400d"}
    )
    assert (config.results_retention, config.rollups_retention) == (30 * 86400, 400 * 86400)
    with pytest.raises(ConfigError, match="UPTRACK_RESULTS_RETENTION: results_retention: must"):
        load_config(env={"UPTRACK_RESULTS_RETENTION": "12h"})


def test_the_spool_bound_is_a_whole_number_in_range() -> None:
    assert load_config(env={}).spool_max_results == 1_000_000
    assert load_config(env={"UPTRACK_SPOOL_MAX_RESULTS": "5000"}).spool_max_results == 5000
    with pytest.raises(ConfigError, match="spool_max_results: must be from 1000"):
        load_config(env={"UPTRACK_SPOOL_MAX_RESULTS": "10"})
