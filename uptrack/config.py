"""Node settings: TOML file, overridden by UPTRACK_* variables, overridden by flags."""

from __future__ import annotations

import os
import socket
import ssl
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

from cluster.etcd import tls_context
from uptrack.errors import ConfigError
from uptrack.monitors import parse_duration
from uptrack.slots import DEFAULT_SHARDS

ENV_PREFIX = "UPTRACK_"


class Config(msgspec.Struct, kw_only=True, frozen=True):
    data_dir: str = ".uptrack"
    listen: str = "127.0.0.1:8080"
    node_name: str = ""
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    max_concurrent_checks: int = 500
    shards: int = DEFAULT_SHARDS
    shutdown_grace: float = 10.0
    # Empty: SQLite in the data directory. A postgresql:// URL: PostgreSQL (clusters).
    database: str = ""
    results_retention: float = 14 * 86400.0
    rollups_retention: float = 730 * 86400.0
    spool_max_results: int = 1_000_000
    # Empty: a single node. Comma-separated etcd client URLs: a cluster (DESIGN §4).
    etcd: str = ""
    etcd_prefix: str = "/uptrack/"
    # https etcd URLs: the CA to trust (empty: the system's), and the client
    # certificate and key etcd's --client-cert-auth asks for.
    etcd_ca: str = ""
    etcd_cert: str = ""
    etcd_key: str = ""
    lease_ttl: float = 5.0
    # How peers reach this node's API (peer health while etcd is out of reach).
    api_url: str = ""
    # -- alerts (DESIGN §6) --
    # The dashboard alert messages link to; empty: this node's own API URL.
    public_url: str = ""
    # How long one delivery attempt may take (a claim locks its row twice as long).
    alert_deadline: float = 10.0

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def listen_host(self) -> str:
        return parse_listen(self.listen)[0]

    @property
    def listen_port(self) -> int:
        return parse_listen(self.listen)[1]

    @property
    def name(self) -> str:
        return self.node_name or socket.gethostname()

    @property
    def etcd_endpoints(self) -> list[str]:
        return [url.strip() for url in self.etcd.split(",") if url.strip()]

    def etcd_tls(self) -> ssl.SSLContext | None:
        """The TLS settings of the etcd client; None: the defaults (system CAs)."""
        if not (self.etcd_ca or self.etcd_cert):
            return None
        return tls_context(self.etcd_ca or None, self.etcd_cert or None, self.etcd_key or None)

    @property
    def advertised_url(self) -> str:
        if self.api_url:
            return self.api_url.rstrip("/")
        host = self.listen_host
        if host in ("0.0.0.0", "::", ""):
            host = socket.gethostname()
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.listen_port}"


FIELDS = Config.__struct_fields__
_NUMBERS = {"max_concurrent_checks": int, "shards": int, "spool_max_results": int}
_DURATIONS = {"shutdown_grace", "results_retention", "rollups_retention", "lease_ttl"}
_DATABASE_SCHEMES = ("postgresql://", "postgres://")
_DURATIONS.add("alert_deadline")  # alerts (DESIGN §6)


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{value!r} is not HOST:PORT (for example 127.0.0.1:8080)")
    return host.strip("[]") or "0.0.0.0", int(port)


def load_config(
    file: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Config:
    """Merge the three sources, validate once, and name the source of every error."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if file is not None:
        try:
            data = tomllib.loads(file.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {file} does not exist") from None
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {file}: {exc}") from None
        for key, value in data.items():
            if key not in FIELDS:
                known = ", ".join(FIELDS)
                raise ConfigError(f"config file {file}: unknown setting {key!r} (known: {known})")
            values[key] = value
            sources[key] = f"config file {file}"
    for key in FIELDS:
        name = ENV_PREFIX + key.upper()
        if name in env:
            values[key] = _from_text(key, env[name], name)
            sources[key] = name
    for key, value in (flags or {}).items():
        if value is not None:
            values[key] = value
            sources[key] = "--" + key.replace("_", "-")
    return _validate(values, sources)


def _from_text(key: str, text: str, source: str) -> Any:
    kind = _NUMBERS.get(key)
    if kind is not None:
        try:
            return kind(text)
        except ValueError:
            raise ConfigError(f"{source}: {text!r} is not a whole number") from None
    return text


def _validate(values: dict[str, Any], sources: dict[str, str]) -> Config:
    def fail(key: str, message: str) -> ConfigError:
        return ConfigError(f"{sources.get(key, key)}: {key}: {message}")

    for key in _DURATIONS & values.keys():
        try:
            values[key] = parse_duration(values[key])
        except ValueError as exc:
            raise fail(key, str(exc)) from None
    try:
        config = msgspec.convert(values, Config)
    except msgspec.ValidationError as exc:
        message = str(exc)
        key = message.rpartition("$.")[2].rstrip("`") if "$." in message else "(settings)"
        raise fail(key, message.split(" - at ")[0]) from None
    try:
        parse_listen(config.listen)
    except ValueError as exc:
        raise fail("listen", str(exc)) from None
    if not 1 <= config.max_concurrent_checks <= 100_000:
        raise fail("max_concurrent_checks", "must be from 1 to 100000")
    if not 1 <= config.shards <= 65_536:
        raise fail("shards", "must be from 1 to 65536")
    if config.shutdown_grace < 0:
        raise fail("shutdown_grace", "must not be negative")
    if config.database and not config.database.startswith(_DATABASE_SCHEMES):
        scheme = config.database.partition(":")[0][:20]
        raise fail(
            "database",
            f"a {scheme!r} URL is not a PostgreSQL URL: use postgresql://USER@HOST/DATABASE,"
            " or leave it empty for SQLite in the data directory",
        )
    for key in ("results_retention", "rollups_retention"):
        if getattr(config, key) < 86400:
            raise fail(key, "must be at least 1d (rollups need a closed day of results)")
    if not 1000 <= config.spool_max_results <= 100_000_000:
        raise fail("spool_max_results", "must be from 1000 to 100000000")
    _validate_cluster(config, fail)
    _validate_alerts(config, fail)
    return config


def _validate_cluster(config: Config, fail: Callable[[str, str], ConfigError]) -> None:
    for url in config.etcd_endpoints:
        if not url.startswith(("http://", "https://")):
            raise fail("etcd", f"{url!r} is not an http:// or https:// etcd client URL")
    if config.etcd_endpoints and not config.database:
        raise fail(
            "etcd",
            "a cluster needs a shared PostgreSQL database: set database to a postgresql:// "
            "URL (SQLite in the data directory is for a single node)",
        )
    given = [k for k in ("etcd_ca", "etcd_cert", "etcd_key") if getattr(config, k)]
    if given and not config.etcd_endpoints:
        raise fail(given[0], "is set, but etcd is not (a single node uses no etcd)")
    if given and any(url.startswith("http://") for url in config.etcd_endpoints):
        raise fail(given[0], "is set, but the etcd URLs are http://: use https:// URLs")
    for key in ("etcd_ca", "etcd_cert", "etcd_key"):
        path = getattr(config, key)
        if path and not Path(path).is_file():
            raise fail(key, f"{path}: no such file")
    if bool(config.etcd_cert) != bool(config.etcd_key):
        given_one, other = (
            ("etcd_cert", "etcd_key") if config.etcd_cert else ("etcd_key", "etcd_cert")
        )
        raise fail(
            given_one, f"needs {other} too: a client certificate is a certificate and its key"
        )
    if config.etcd_ca:
        try:
            tls_context(config.etcd_ca)
        except ValueError as exc:
            raise fail("etcd_ca", str(exc)) from None
    if config.etcd_cert:
        try:
            config.etcd_tls()
        except ValueError as exc:
            raise fail("etcd_cert", str(exc)) from None
    if config.lease_ttl < 2:
        raise fail("lease_ttl", f"{config.lease_ttl:g} s is below etcd's minimum of 2 seconds")
    if config.lease_ttl != int(config.lease_ttl):
        raise fail("lease_ttl", f"{config.lease_ttl:g} s is not a whole number of seconds")
    prefix = config.etcd_prefix
    if not (prefix.startswith("/") and prefix.endswith("/")) or len(prefix) < 2:
        raise fail("etcd_prefix", f"{prefix!r} must start and end with '/' (like /uptrack/)")
    if config.api_url and not config.api_url.startswith(("http://", "https://")):
        raise fail("api_url", f"{config.api_url!r} is not an http:// or https:// URL")


def _validate_alerts(config: Config, fail: Callable[[str, str], ConfigError]) -> None:
    if config.public_url and not config.public_url.startswith(("http://", "https://")):
        raise fail("public_url", f"{config.public_url!r} is not an http:// or https:// URL")
    if not 1 <= config.alert_deadline <= 300:
        raise fail("alert_deadline", f"{config.alert_deadline:g} s is outside 1s to 5m")
