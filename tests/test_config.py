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
