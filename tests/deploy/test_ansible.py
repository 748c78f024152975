"""The playbooks as a whole: lint, syntax, and the preflight checks of the inventory."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.deploy.commands import ANSIBLE, PLAYBOOKS, Run, ok, playbook, run, tool

INVENTORIES = sorted(p.name for p in (ANSIBLE / "inventories").iterdir() if p.is_dir())


def test_ansible_lint_passes_the_production_profile_on_the_roles_and_playbooks(
    ansible_env: dict[str, str],
) -> None:
    result = ok(
        run(
            [
                tool("ansible-lint"),
                "-c",
                str(ANSIBLE / ".ansible-lint"),
                str(ANSIBLE),
                str(PLAYBOOKS),
            ],
            env=ansible_env,
        )
    )
    assert "Profile 'production' was required, and it passed" in result.output


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_the_playbooks_pass_the_syntax_check(ansible_env: dict[str, str], inventory: str) -> None:
    ok(
        run(
            [
                tool("ansible-playbook"),
                "--syntax-check",
                "-i",
                str(ANSIBLE / "inventories" / inventory),
                *(str(ANSIBLE / name) for name in ("site.yml", "upgrade.yml", "preflight.yml")),
            ],
            env=ansible_env,
        )
    )


@pytest.mark.parametrize("name", ["site.yml", "upgrade.yml"])
def test_site_and_upgrade_run_the_preflight_checks_first(
    ansible_env: dict[str, str], name: str
) -> None:
    listed = ok(
        playbook(
            ansible_env,
            ANSIBLE / name,
            inventory=ANSIBLE / "inventories" / "example",
            args=["--list-tasks"],
        )
    ).output
    first_play = listed.split("play #2")[0]
    assert "Refuse an even number of etcd members" in first_play


def test_upgrade_goes_one_node_at_a_time() -> None:
    plays = yaml.safe_load((ANSIBLE / "upgrade.yml").read_text())
    (upgrade,) = [p for p in plays if p.get("hosts") == "app"]
    assert upgrade["serial"] == 1
    assert upgrade["max_fail_percentage"] == 0


def _inventory(tmp_path: Path, etcd: list[str]) -> Path:
    hosts = sorted({*etcd, "node1", "node2"})
    inventory = {
        "all": {
            "vars": {"ansible_connection": "local"},
            "hosts": {h: {"cluster_address": "127.0.0.1"} for h in hosts},
            "children": {
                "etcd": {"hosts": {h: None for h in etcd}},
                "postgresql": {"hosts": {"node1": None, "node2": None}},
                "app": {"hosts": {"node1": None, "node2": None}},
            },
        }
    }
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path


def _preflight(env: dict[str, str], inventory: Path, **extra_vars: object) -> Run:
    return playbook(env, ANSIBLE / "preflight.yml", inventory=inventory, extra_vars=extra_vars)


def test_preflight_refuses_two_etcd_members_and_says_why(
    ansible_env: dict[str, str], tmp_path: Path
) -> None:
    result = _preflight(ansible_env, _inventory(tmp_path, ["node1", "node2"]))
    assert result.returncode != 0, result.output
    text = " ".join(result.output.split())
    assert "2 etcd members (node1, node2), an even number" in text
    assert "two members survive no failure" in text
    assert "uptrack_allow_even_etcd=true" in text


def test_preflight_refuses_four_etcd_members(ansible_env: dict[str, str], tmp_path: Path) -> None:
    inventory = _inventory(tmp_path, ["node1", "node2", "node3", "node4"])
    result = _preflight(ansible_env, inventory)
    assert result.returncode != 0, result.output
    assert "an even number" in " ".join(result.output.split())


def test_preflight_accepts_an_even_count_when_the_operator_overrides(
    ansible_env: dict[str, str], tmp_path: Path
) -> None:
    inventory = _inventory(tmp_path, ["node1", "node2"])
    ok(_preflight(ansible_env, inventory, uptrack_allow_even_etcd=True))


def test_preflight_accepts_the_example_inventory(ansible_env: dict[str, str]) -> None:
    result = ok(_preflight(ansible_env, ANSIBLE / "inventories" / "example"))
    assert "3 etcd members: the cluster survives 1 member failure(s)." in result.output
