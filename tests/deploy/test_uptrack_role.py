"""The uptrack role applied to this machine: into a temporary prefix, as the current
user, without systemd; then the node it installed is started as its unit would."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
import pytest
import yaml

from tests.deploy.commands import ANSIBLE, PLAYBOOKS, Run, free_port, ok, playbook, run, tool

pytestmark = pytest.mark.slow

NODE_NAME = "deploy-test"
SHUTDOWN_GRACE = 3


@dataclass(frozen=True)
class Installed:
    prefix: Path
    port: int
    first: Run
    second: Run

    @property
    def unit(self) -> Path:
        return self.prefix / "etc/systemd/system/uptrack.service"

    @property
    def config(self) -> Path:
        return self.prefix / "etc/uptrack/uptrack.toml"

    @property
    def data(self) -> Path:
        return self.prefix / "srv/uptrack-data"


def unit_settings(path: Path) -> dict[str, list[str]]:
    """Key -> values of a unit file (keys may repeat, as After= does)."""
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


@pytest.fixture(scope="session")
def installed(
    ansible_env: dict[str, str], uptrack_wheel: Path, tmp_path_factory: pytest.TempPathFactory
) -> Installed:
    prefix = tmp_path_factory.mktemp("prefix")
    port = free_port()
    variables = {
        "uptrack_wheel": str(uptrack_wheel),
        "uptrack_prefix": str(prefix),
        "uptrack_manage_service": False,
        "uptrack_create_user": False,
        "uptrack_manage_packages": False,
        "uptrack_python": tool("python3"),
        "uptrack_data_dir": "/srv/uptrack-data",
        "uptrack_listen_address": "127.0.0.1",
        "uptrack_port": port,
        "uptrack_node_name": NODE_NAME,
        "uptrack_shutdown_grace": SHUTDOWN_GRACE,
    }

    def apply() -> Run:
        return ok(
            playbook(
                ansible_env,
                PLAYBOOKS / "uptrack_local.yml",
                inventory="localhost,",
                extra_vars=variables,
            )
        )

    first = apply()
    second = apply()
    return Installed(prefix, port, first, second)


def test_the_role_installs_the_wheel_config_and_unit_into_the_prefix(installed: Installed) -> None:
    assert installed.first.recap()["localhost"]["changed"] > 0
    assert (installed.prefix / "opt/uptrack/venv/bin/uptrack").is_file()
    assert list((installed.prefix / "opt/uptrack/wheels").glob("uptrack-*.whl"))
    assert installed.config.is_file()
    assert installed.unit.is_file()
    assert installed.config.stat().st_mode & 0o007 == 0  # it may hold the database password


def test_the_first_run_migrates_the_database(installed: Installed) -> None:
    assert (
        installed.first.output.count("RUNNING HANDLER [uptrack : Migrate the Uptrack database]")
        == 1
    )
    assert (installed.data / "uptrack.db").is_file()


def test_a_second_run_changes_nothing(installed: Installed) -> None:
    recap = installed.second.recap()["localhost"]
    assert recap["changed"] == 0, installed.second.output[-4000:]
    assert recap["failed"] == 0
    assert "RUNNING HANDLER" not in installed.second.output


def test_the_installed_node_starts_with_the_rendered_config_and_answers_healthz(
    installed: Installed,
) -> None:
    (exec_start,) = unit_settings(installed.unit)["ExecStart"]
    command = shlex.split(exec_start)
    assert command == [
        str(installed.prefix / "opt/uptrack/venv/bin/uptrack"),
        "serve",
        "--config",
        str(installed.config),
    ]
    log = installed.prefix / "node.log"
    with log.open("wb") as out:
        node = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{installed.port}/healthz"
        deadline = time.monotonic() + 30
        while True:
            try:
                reply = httpx.get(url, timeout=2)
                break
            except httpx.TransportError:
                if node.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the node did not listen:\n{log.read_text()}") from None
                time.sleep(0.1)
        assert reply.status_code == 200
        assert reply.json()["node"] == NODE_NAME
        node.send_signal(signal.SIGTERM)
        assert node.wait(timeout=SHUTDOWN_GRACE + 10) == 0, log.read_text()
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
    lines = log.read_text().splitlines()
    events = [json.loads(line)["event"] for line in lines if line.startswith("{")]
    assert events[-1] == "node.stopped"  # log_format = "json", the role's default


def test_the_rendered_unit_passes_systemd_analyze_verify(installed: Installed) -> None:
    result = run(
        [tool("systemd-analyze"), "verify", str(installed.unit)],
        env={"PATH": "/usr/bin:/bin", "SYSTEMD_LOG_COLOR": "0"},
    )
    complaints = [line for line in result.output.splitlines() if "uptrack.service" in line]
    assert result.returncode == 0, result.output
    assert complaints == []


def test_the_unit_is_hardened_and_outlasts_the_shutdown_grace(installed: Installed) -> None:
    unit = unit_settings(installed.unit)
    expected = {
        "ProtectSystem": ["strict"],
        "ReadWritePaths": [str(installed.data)],
        "NoNewPrivileges": ["yes"],
        "PrivateTmp": ["yes"],
        "ProtectHome": ["yes"],
        "CapabilityBoundingSet": [""],
        "AmbientCapabilities": [""],
        "KillSignal": ["SIGTERM"],
    }
    assert {key: unit.get(key) for key in expected} == expected
    (timeout,) = unit["TimeoutStopSec"]
    assert int(timeout.removesuffix("s")) > SHUTDOWN_GRACE


def test_the_config_holds_the_node_settings_and_no_cluster_settings(installed: Installed) -> None:
    config = tomllib.loads(installed.config.read_text())
    assert config == {
        "data_dir": str(installed.data),
        "listen": f"127.0.0.1:{installed.port}",
        "node_name": NODE_NAME,
        "log_format": "json",
        "log_level": "info",
        "max_concurrent_checks": 500,
        "shards": 256,
        "shutdown_grace": f"{SHUTDOWN_GRACE}s",
    }


RENDER_CONFIG = """
- name: Render uptrack.toml from the role's template
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Load the role's variables
      ansible.builtin.include_vars:
        file: "{{ item }}"
      loop:
        - %(role)s/defaults/main.yml
        - %(role)s/vars/main.yml
    - name: Render
      ansible.builtin.template:
        src: %(role)s/templates/uptrack.toml.j2
        dest: "{{ rendered }}"
        mode: "0600"
"""


def test_cluster_settings_render_as_toml_with_the_password_escaped_in_the_dsn(
    ansible_env: dict[str, str], tmp_path: Path
) -> None:
    group_vars = yaml.safe_load(
        (ANSIBLE / "inventories/example/group_vars/all/main.yml").read_text()
    )
    password = "p@ss/w:rd%'\"\\ é"
    render = tmp_path / "render.yml"
    render.write_text(RENDER_CONFIG % {"role": ANSIBLE / "roles/uptrack"})
    rendered = tmp_path / "uptrack.toml"
    variables = {
        "rendered": str(rendered),
        "cluster_address": "10.10.0.11",
        # The example inventory's expression for the DSN, and what it refers to.
        "uptrack_database": group_vars["uptrack_database"],
        "postgresql_uptrack_user": "uptrack",
        "postgresql_uptrack_database": "uptrack",
        "postgresql_haproxy_address": "127.0.0.1",
        "postgresql_haproxy_port": 5000,
        "uptrack_db_password": password,
        "uptrack_etcd_endpoints": ["http://127.0.0.1:2379", "https://10.10.0.12:2379"],
        "uptrack_lease_ttl": "5s",
        "uptrack_etcd_prefix": "/uptrack/",
    }
    ok(playbook(ansible_env, render, inventory="localhost,", extra_vars=variables))
    config = tomllib.loads(rendered.read_text())
    assert config["etcd"] == "http://127.0.0.1:2379,https://10.10.0.12:2379"
    assert config["lease_ttl"] == "5s"
    assert config["etcd_prefix"] == "/uptrack/"
    dsn = urlsplit(config["database"])
    assert (dsn.scheme, dsn.hostname, dsn.port, dsn.path) == (
        "postgresql",
        "127.0.0.1",
        5000,
        "/uptrack",
    )
    assert (dsn.username, unquote(dsn.password or "")) == ("uptrack", password)
    assert dsn.query == "sslmode=require"
