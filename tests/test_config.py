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


def test_etcd_tls_files_are_checked_when_the_settings_are_read(tmp_path: Path) -> None:
    import trustme

    ca = trustme.CA()
    ca_file, cert_file, key_file = (tmp_path / n for n in ("ca.pem", "client.pem", "client.key"))
    ca.cert_pem.write_to_path(str(ca_file))
    client = ca.issue_cert("node1")
    client.cert_chain_pems[0].write_to_path(str(cert_file))
    client.private_key_pem.write_to_path(str(key_file))
    cluster = {"UPTRACK_ETCD": "https://10.0.0.1:2379", "UPTRACK_DATABASE": "postgresql://db/u"}

    def settings(**extra: str) -> dict[str, str]:
        return cluster | {f"UPTRACK_{k.upper()}": v for k, v in extra.items()}

    config = load_config(
        env=settings(etcd_ca=str(ca_file), etcd_cert=str(cert_file), etcd_key=str(key_file))
    )
    context = config.etcd_tls()
    assert context is not None
    assert context.verify_mode.name == "CERT_REQUIRED"
    assert load_config(env=cluster).etcd_tls() is None  # https with the system's CAs

    refused = {
        "UPTRACK_ETCD_CERT: etcd_cert: needs etcd_key too": settings(etcd_cert=str(cert_file)),
        "UPTRACK_ETCD_CA: etcd_ca: " + str(tmp_path / "nope.pem") + ": no such file": settings(
            etcd_ca=str(tmp_path / "nope.pem")
        ),
        "UPTRACK_ETCD_CA: etcd_ca: " + str(key_file) + ": not a PEM CA certificate": settings(
            etcd_ca=str(key_file)
        ),
        "UPTRACK_ETCD_CERT: etcd_cert: " + str(ca_file) + " with " + str(cert_file): settings(
            etcd_cert=str(ca_file), etcd_key=str(cert_file)
        ),
        "UPTRACK_ETCD_KEY: etcd_key: " + str(tmp_path / "nope.key") + ": no such file": settings(
            etcd_cert=str(cert_file), etcd_key=str(tmp_path / "nope.key")
        ),
        "UPTRACK_ETCD_CA: etcd_ca: is set, but etcd is not": {"UPTRACK_ETCD_CA": str(ca_file)},
        "UPTRACK_ETCD_CA: etcd_ca: is set, but the etcd URLs are http://": settings(
            etcd="http://10.0.0.1:2379", etcd_ca=str(ca_file)
        ),
    }
    for message, env in refused.items():
        with pytest.raises(ConfigError) as raised:
            load_config(env=env)
        assert str(raised.value).startswith(message), (message, str(raised.value))
