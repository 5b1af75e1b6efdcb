"""Verify the converged dump server: the receiver account, the per-client directory, the client's
key restricted to the receiver (from= the client's private address), the retention timer."""

import os

import pytest
import yaml

CLIENTS = {"kdump-bookworm"}


@pytest.fixture(autouse=True)
def _servers_only(host):
    if "kdump_dump_servers" not in host.ansible.get_variables().get("group_names", []):
        pytest.skip("not a dump server")


def _private_address(name):
    with open(os.environ["MOLECULE_INSTANCE_CONFIG"]) as f:
        return next(i["lab_private_address"] for i in yaml.safe_load(f) if i["instance"] == name)


def test_receiver_account_has_no_password(host):
    with host.sudo():
        shadow = host.run("getent shadow kdumprecv")
    assert shadow.rc == 0
    assert shadow.stdout.split(":")[1] == "*"


def test_dump_root_and_client_directories_are_private(host):
    with host.sudo():
        root = host.file("/srv/crash")
        assert root.is_directory and root.mode == 0o700 and root.user == "kdumprecv"
        for client in CLIENTS:
            d = host.file("/srv/crash/" + client)
            assert d.is_directory and d.mode == 0o700 and d.user == "kdumprecv"


def test_each_client_key_is_restricted_to_the_receiver(host):
    with host.sudo():
        keys = host.file("/var/lib/kdumprecv/.ssh/authorized_keys")
        assert keys.user == "root" and keys.mode == 0o644
        lines = [line for line in keys.content_string.splitlines() if line and not line.startswith("#")]
    assert len(lines) == len(CLIENTS), lines
    for client in CLIENTS:
        line = next(line for line in lines if " --host %s " % client in line)
        assert line.startswith('restrict,from="%s",command="' % _private_address(client)), line
        assert "/usr/local/libexec/crashkit-dump-receiver --root /srv/crash" in line
        assert " ssh-ed25519 " in line


def test_retention_timer_is_active(host):
    assert host.service("crashkit-dump-retention.timer").is_enabled
    assert host.service("crashkit-dump-retention.timer").is_running
