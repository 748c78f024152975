"""The etcd role's CA, certificates and member settings, rendered for three members
on loopback addresses, then started as real etcd processes."""

from __future__ import annotations

import base64
import getpass
import grp
import os
import shlex
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trio
import yaml

from cluster.etcd import EtcdClient, Unavailable, tls_context
from tests.deploy.commands import PLAYBOOKS, Run, ok, playbook, run, tool

pytestmark = pytest.mark.slow

# Each member on its own loopback address: the same ports, as on real hosts.
ADDRESSES = {"m1": "127.0.0.2", "m2": "127.0.0.3", "m3": "127.0.0.4"}
TLS_FILES = [("cacert", "ca.crt"), ("cert", "m1.crt"), ("key", "m1.key")]


def free_on_every_address(count: int) -> list[int]:
    """Ports free on all the members' addresses and on 127.0.0.1 at once."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as probe:
            probe.bind((ADDRESSES["m1"], 0))
            port: int = probe.getsockname()[1]
        try:
            for address in [*ADDRESSES.values(), "127.0.0.1"]:
                with socket.socket() as s:
                    s.bind((address, port))
        except OSError:
            continue
        if port not in ports:
            ports.append(port)
    return ports


def read_env_file(path: Path) -> dict[str, str]:
    """KEY="value" lines, as systemd's EnvironmentFile= reads them."""
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            (env[key],) = shlex.split(value)
    return env


@dataclass(frozen=True)
class Cluster:
    root: Path
    client_port: int
    loopback_ports: dict[str, int]
    first: Run
    second: Run

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    def endpoints(self) -> str:
        return ",".join(f"https://{a}:{self.client_port}" for a in ADDRESSES.values())

    def etcdctl(self, *args: str) -> Run:
        tls = [f"--{flag}={self.pki / name}" for flag, name in TLS_FILES]
        command = [tool("etcdctl"), f"--endpoints={self.endpoints()}", *tls, *args]
        return run(
            [*command, "--dial-timeout=1s", "--command-timeout=5s"],
            env={"ETCDCTL_API": "3", "PATH": os.environ["PATH"]},
            timeout=30,
        )


@pytest.fixture(scope="module")
def cluster(
    ansible_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("etcd")
    client_port, peer_port, *loopback = free_on_every_address(5)
    loopback_ports = dict(zip(ADDRESSES, loopback, strict=True))
    inventory = root / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "vars": {"ansible_connection": "local"},
                    "children": {
                        "etcd": {
                            "hosts": {
                                name: {
                                    "cluster_address": address,
                                    "etcd_loopback_url": f"http://127.0.0.1:{loopback_ports[name]}",
                                }
                                for name, address in ADDRESSES.items()
                            }
                        }
                    },
                }
            }
        )
    )
    variables = {
        "etcd_test_dir": str(root),
        "etcd_client_port": client_port,
        "etcd_peer_port": peer_port,
        "etcd_manage_service": False,
        "etcd_user": getpass.getuser(),
        "etcd_group": grp.getgrgid(os.getgid()).gr_name,
        "etcd_config_owner": getpass.getuser(),
    }

    def render() -> Run:
        return ok(
            playbook(
                ansible_env, PLAYBOOKS / "etcd_local.yml", inventory=inventory, extra_vars=variables
            )
        )

    first = render()
    second = render()
    members: list[subprocess.Popen[bytes]] = []
    try:
        for name in ADDRESSES:
            env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
            env.update(read_env_file(root / name / "etcd.env"))
            with (root / f"{name}.log").open("wb") as log:
                members.append(
                    subprocess.Popen([tool("etcd")], env=env, stdout=log, stderr=subprocess.STDOUT)
                )
        cluster = Cluster(root, client_port, loopback_ports, first, second)
        deadline = time.monotonic() + 30
        while (health := cluster.etcdctl("endpoint", "health")).returncode != 0:
            assert time.monotonic() < deadline, health.output
            assert all(m.poll() is None for m in members), health.output
            time.sleep(0.2)
        yield cluster
    finally:
        for member in members:  # the data is thrown away: no need to stop gracefully
            member.kill()
            member.wait()


def test_a_second_run_changes_nothing_and_keeps_the_ca(cluster: Cluster) -> None:
    assert all(r["changed"] > 0 for r in cluster.first.recap().values())
    assert all(r["changed"] == 0 for r in cluster.second.recap().values()), cluster.second.output


def test_the_members_form_one_cluster_over_tls(cluster: Cluster) -> None:
    listed = ok(cluster.etcdctl("member", "list")).output
    for name, address in ADDRESSES.items():
        assert f", started, {name}, https://{address}:" in listed


def test_a_client_needs_a_certificate_signed_by_the_ca(cluster: Cluster) -> None:
    url = f"https://{ADDRESSES['m1']}:{cluster.client_port}/v3/kv/range"
    body = {"key": base64.b64encode(b"/any").decode()}
    anonymous = ssl.create_default_context(cafile=cluster.pki / "ca.crt")
    with pytest.raises(httpx.TransportError):
        httpx.post(url, json=body, verify=anonymous, timeout=5)
    # The same request with m2's certificate; the server's names are checked too.
    signed = ssl.create_default_context(cafile=cluster.pki / "ca.crt")
    signed.load_cert_chain(cluster.pki / "m2.crt", cluster.pki / "m2.key")
    assert httpx.post(url, json=body, verify=signed, timeout=5).status_code == 200


def test_a_write_over_tls_is_read_on_another_members_loopback_gateway(cluster: Cluster) -> None:
    ok(cluster.etcdctl("put", "/uptrack/deploy-test", "written-on-m1"))
    reply = httpx.post(
        f"http://127.0.0.1:{cluster.loopback_ports['m3']}/v3/kv/range",
        json={"key": base64.b64encode(b"/uptrack/deploy-test").decode()},
        timeout=5,
    )
    (kv,) = reply.json()["kvs"]
    assert base64.b64decode(kv["value"]) == b"written-on-m1"


def test_auto_compaction_is_on(cluster: Cluster) -> None:
    for name in ADDRESSES:
        log = (cluster.root / f"{name}.log").read_text()
        assert '"auto-compaction-mode":"periodic","auto-compaction-retention":"1h0m0s"' in log


def test_the_snapshot_script_saves_a_snapshot_that_etcdctl_can_read(cluster: Cluster) -> None:
    script = cluster.root / "m2" / "etcd-snapshot"
    ok(run([str(script)], env={"PATH": f"{Path(tool('etcdctl')).parent}:/usr/bin:/bin"}))
    (snapshot,) = (cluster.root / "m2" / "backups").glob("etcd-m2-*.db")
    status = ok(cluster.etcdctl("snapshot", "status", str(snapshot), "-w", "json")).output
    assert '"totalKey"' in status


async def test_uptrack_talks_to_the_cluster_over_tls_with_a_client_certificate(
    cluster: Cluster,
) -> None:
    endpoints = cluster.endpoints().split(",")
    pki = cluster.pki
    tls = tls_context(str(pki / "ca.crt"), str(pki / "m2.crt"), str(pki / "m2.key"))
    async with EtcdClient(endpoints, tls=tls, timeout=5.0) as etcd:
        listed = await etcd.range("/uptrack/tls-test/", prefix=True)
        async with etcd.watch(
            "/uptrack/tls-test/", prefix=True, start_revision=listed.revision + 1
        ) as watch:
            lease = await etcd.grant(5)
            put = await etcd.put("/uptrack/tls-test/a", "over tls", lease=lease.id)
            with trio.fail_after(10):
                batch = await anext(watch)
        assert [(e.kv.key, e.kv.value, e.kv.mod_revision) for e in batch.events] == [
            ("/uptrack/tls-test/a", b"over tls", put.revision)
        ]
        assert await etcd.keepalive(lease.id) > 0
        await etcd.revoke(lease.id)

    # without a client certificate, etcd's --client-cert-auth turns the node away
    anonymous = tls_context(str(pki / "ca.crt"))
    async with EtcdClient(endpoints, tls=anonymous, timeout=2.0) as etcd:
        with pytest.raises(Unavailable):
            await etcd.get("/uptrack/tls-test/a")
