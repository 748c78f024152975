"""The Vagrantfile parses, and its machines are the hosts of the vagrant inventory.

Vagrant itself is not needed: Ruby evaluates the Vagrantfile against a stand-in
`Vagrant.configure` that records every setting, and the test reads the record."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import yaml

from tests.deploy.commands import ANSIBLE, PROJECT, ok, run, tool

VAGRANTFILE = PROJECT / "Vagrantfile"

RECORDER = r"""
require "json"

# Stands in for Vagrant's configuration objects: `x.y = v` is recorded as an
# attribute, `x.y` returns a nested recorder, `x.y(args) { |z| ... }` is
# recorded as a call whose block configures a new recorder.
class Recorder
  def initialize
    @attributes = {}
    @calls = []
  end

  def method_missing(name, *args, **options, &block)
    key = name.to_s
    return @attributes[key.chomp("=")] = args.first if key.end_with?("=")
    return (@attributes[key] ||= Recorder.new) if args.empty? && options.empty? && block.nil?

    call = { "name" => key, "args" => args, "options" => options }
    if block
      call["block"] = Recorder.new
      block.call(call["block"])
    end
    @calls << call
    nil
  end

  def respond_to_missing?(*) = true

  def to_json(*state) = { "attributes" => @attributes, "calls" => @calls }.to_json(*state)
end

module Vagrant
  @configs = []

  def self.configure(version)
    config = Recorder.new
    yield config
    @configs << { "version" => version, "config" => config }
  end

  def self.configs = @configs
end

load ARGV.fetch(0)
puts JSON.generate(Vagrant.configs)
"""


def calls(recorder: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [c for c in recorder["calls"] if c["name"] == name]


@pytest.fixture(scope="module")
def vagrant_config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    script = tmp_path_factory.mktemp("vagrant") / "record.rb"
    script.write_text(RECORDER)
    result = ok(
        run([tool("ruby"), str(script), str(VAGRANTFILE)], env={"PATH": os.environ["PATH"]})
    )
    (configured,) = json.loads(result.output)
    assert configured["version"] == "2"
    config: dict[str, Any] = configured["config"]
    return config


@pytest.fixture(scope="module")
def machines(vagrant_config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Machine name -> the recorder its `config.vm.define` block configured."""
    vm = vagrant_config["attributes"]["vm"]
    return {c["args"][0]: c["block"] for c in calls(vm, "define")}


@pytest.fixture(scope="module")
def provisioner(machines: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The settings of the one ansible provisioner."""
    found = [
        c["block"]["attributes"]
        for machine in machines.values()
        for c in calls(machine["attributes"]["vm"], "provision")
        if c["args"] == ["ansible"]
    ]
    assert len(found) == 1, "provision all machines once, from one of them"
    settings: dict[str, Any] = found[0]
    return settings


def inventory() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(
        (ANSIBLE / "inventories/vagrant/hosts.yml").read_text()
    )["all"]
    return loaded


def test_the_vagrantfile_parses() -> None:
    result = ok(run([tool("ruby"), "-c", str(VAGRANTFILE)], env={"PATH": os.environ["PATH"]}))
    assert result.output.strip() == "Syntax OK"


def test_the_machines_are_debian_12(vagrant_config: dict[str, Any]) -> None:
    assert vagrant_config["attributes"]["vm"]["attributes"]["box"] == "debian/bookworm64"


def test_the_machines_and_their_addresses_are_the_inventorys_hosts(
    machines: dict[str, dict[str, Any]],
) -> None:
    addresses = {}
    for name, machine in machines.items():
        (network,) = calls(machine["attributes"]["vm"], "network")
        assert network["args"] == ["private_network"]
        addresses[name] = network["options"]["ip"]
    hosts = inventory()["hosts"]
    assert addresses == {name: host["ansible_host"] for name, host in hosts.items()}
    assert addresses == {name: host["cluster_address"] for name, host in hosts.items()}
    assert sorted(addresses) == ["node1", "node2", "witness"]


def test_the_provisioner_groups_and_addresses_match_the_inventory(
    machines: dict[str, dict[str, Any]], provisioner: dict[str, Any]
) -> None:
    children = inventory()["children"]
    groups = {group: sorted(spec["hosts"]) for group, spec in children.items()}
    assert {group: sorted(hosts) for group, hosts in provisioner["groups"].items()} == groups
    assert len(groups["etcd"]) % 2 == 1
    hosts = inventory()["hosts"]
    assert provisioner["host_vars"] == {
        name: {"cluster_address": host["cluster_address"]} for name, host in hosts.items()
    }


def test_the_provisioner_runs_the_site_playbook_on_every_machine(
    provisioner: dict[str, Any],
) -> None:
    assert provisioner["playbook"] == "ansible/site.yml"
    assert provisioner["limit"] == "all"
    for key in ("playbook", "config_file", "extra_vars"):
        assert (PROJECT / provisioner[key]).is_file(), key
    assert provisioner["extra_vars"] == "ansible/inventories/vagrant/group_vars/all.yml"
