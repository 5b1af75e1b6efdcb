"""Molecule instance_config.yml and the demo inventory, read back with PyYAML."""
import yaml

import pytest

from crashlab import inventory


def rec(name, port, addr, release="bookworm"):
    return {"name": name, "port": port, "private_address": addr, "release": release, "user": "root",
            "identity_file": "/var/cache/crashkit-lab/ssh/id_ed25519",
            "console_log": "/repo/.tmp/lab/vms/%s/console.log" % name}


RECS = [rec("smoke-bookworm", 31001, "10.77.0.11"), rec("smoke-trixie", 31002, "10.77.0.12", "trixie")]


def test_instance_config_is_the_list_molecule_reads():
    text = inventory.instance_config_yaml(RECS)
    assert text.startswith("# Molecule managed\n")
    data = yaml.safe_load(text)
    assert data == [
        {"instance": "smoke-bookworm", "address": "127.0.0.1", "user": "root", "port": 31001,
         "identity_file": "/var/cache/crashkit-lab/ssh/id_ed25519", "lab_private_address": "10.77.0.11",
         "lab_release": "bookworm", "lab_console_log": "/repo/.tmp/lab/vms/smoke-bookworm/console.log"},
        {"instance": "smoke-trixie", "address": "127.0.0.1", "user": "root", "port": 31002,
         "identity_file": "/var/cache/crashkit-lab/ssh/id_ed25519", "lab_private_address": "10.77.0.12",
         "lab_release": "trixie", "lab_console_log": "/repo/.tmp/lab/vms/smoke-trixie/console.log"},
    ]
    assert isinstance(data[0]["port"], int)


def test_empty_instance_config_after_destroy():
    assert yaml.safe_load(inventory.instance_config_yaml([])) == []


@pytest.mark.parametrize("value", [
    "plain", "with: colon", "- dash", "#hash", "yes", "null", "123", "quote\"s and 'single'", "back\\slash",
    "multi\nline", "tab\there", "", "üñïçødé", "{braces}", "*star", "&amp",
])
def test_dump_yaml_round_trips_awkward_strings(value):
    obj = {"k": value, "list": [value, {"nested": value}], "yes": value}
    assert yaml.safe_load(inventory.dump_yaml(obj)) == obj


@pytest.mark.parametrize("obj", [
    {}, [], {"a": {}}, {"a": []}, [1, 2.5, True, None], [[1, [2]], {"x": [{"y": 1}]}],
    {"all": {"children": {"g": {"hosts": {"h-1": {"ansible_port": 2}}}}}},
])
def test_dump_yaml_round_trips_structures(obj):
    assert yaml.safe_load(inventory.dump_yaml(obj)) == obj


def test_demo_inventory_groups_and_host_vars():
    clients = [rec("client-1", 31001, "10.77.0.11"), rec("client-2", 31002, "10.77.0.12")]
    servers = [rec("server-1", 31003, "10.77.0.13")]
    inv = yaml.safe_load(inventory.demo_inventory_yaml(clients, servers))
    groups = inv["all"]["children"]
    assert set(groups) == {"kdump_clients", "kdump_dump_servers", "kdump_pilot"}
    assert list(groups["kdump_clients"]["hosts"]) == ["client-1", "client-2"]
    assert list(groups["kdump_dump_servers"]["hosts"]) == ["server-1"]
    assert list(groups["kdump_pilot"]["hosts"]) == ["client-1"]
    hv = groups["kdump_dump_servers"]["hosts"]["server-1"]
    assert hv["ansible_host"] == "127.0.0.1"
    assert hv["ansible_port"] == 31003
    assert hv["ansible_user"] == "root"
    assert hv["ansible_ssh_private_key_file"].endswith("id_ed25519")
    assert "StrictHostKeyChecking=no" in hv["ansible_ssh_common_args"]
    assert "UserKnownHostsFile=/dev/null" in hv["ansible_ssh_common_args"]
    assert hv["lab_private_address"] == "10.77.0.13"


def test_demo_inventory_without_clients_has_an_empty_pilot_group():
    inv = yaml.safe_load(inventory.demo_inventory_yaml([], [rec("server-1", 31003, "10.77.0.13")]))
    assert inv["all"]["children"]["kdump_pilot"]["hosts"] == {}


def test_demo_inventory_points_the_clients_at_the_first_server_over_ssh():
    clients = [rec("client-1", 31001, "10.77.0.11")]
    servers = [rec("server-1", 31003, "10.77.0.13")]
    group = yaml.safe_load(inventory.demo_inventory_yaml(clients, servers))["all"]["children"]["kdump_clients"]
    assert group["vars"]["kdump_target"] == {"type": "ssh", "host": "10.77.0.13", "user": "kdumprecv",
                                             "path": "/var/crash"}
    assert group["vars"]["kdump_dump_server_host"] == "server-1"


def test_demo_inventory_local_target_or_no_server_leaves_the_default_target():
    clients = [rec("client-1", 31001, "10.77.0.11")]
    servers = [rec("server-1", 31003, "10.77.0.13")]
    local = yaml.safe_load(inventory.demo_inventory_yaml(clients, servers, "local"))
    assert "vars" not in local["all"]["children"]["kdump_clients"]
    alone = yaml.safe_load(inventory.demo_inventory_yaml(clients, []))
    assert "vars" not in alone["all"]["children"]["kdump_clients"]
    with pytest.raises(ValueError):
        inventory.demo_inventory(clients, servers, "ftp")


def test_demo_inventory_nfs_gives_each_client_its_own_exported_directory():
    clients = [rec("client-1", 31001, "10.77.0.11"), rec("client-2", 31002, "10.77.0.12")]
    servers = [rec("server-1", 31003, "10.77.0.13")]
    groups = yaml.safe_load(inventory.demo_inventory_yaml(clients, servers, "nfs"))["all"]["children"]
    hosts = groups["kdump_clients"]["hosts"]
    assert hosts["client-1"]["kdump_target"] == {"type": "nfs", "host": "10.77.0.13", "path": "/srv/crash/client-1"}
    assert hosts["client-2"]["kdump_target"]["path"] == "/srv/crash/client-2"
    assert groups["kdump_clients"]["vars"] == {"kdump_dump_server_host": "server-1"}
    assert groups["kdump_dump_servers"]["vars"] == {"kdump_dump_server_nfs": True}


def test_demo_inventory_device_names_each_clients_dump_disk_by_label():
    clients = [dict(rec("client-1", 31001, "10.77.0.11"), dump_disk={"path": "/x/dump.img", "label": "crashdump"})]
    servers = [rec("server-1", 31003, "10.77.0.13")]
    groups = yaml.safe_load(inventory.demo_inventory_yaml(clients, servers, "device"))["all"]["children"]
    assert groups["kdump_clients"]["hosts"]["client-1"]["kdump_target"] == {
        "type": "device", "device": "LABEL=crashdump", "fstype": "ext4", "path": "/var/crash"}
    assert groups["kdump_clients"]["vars"] == {"kdump_dump_server_host": "server-1",
                                               "kdump_evidence_server_address": "10.77.0.13"}
    assert "vars" not in groups["kdump_dump_servers"]
