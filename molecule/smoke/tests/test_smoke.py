"""Verify the smoke scenario inside the lab VMs (testinfra, run by `molecule verify`)."""
import os

import yaml


def instances():
    with open(os.environ["MOLECULE_INSTANCE_CONFIG"], encoding="utf-8") as f:
        return {i["instance"]: i for i in yaml.safe_load(f)}


def me(host):
    return instances()[host.backend.get_hostname()]


def test_python3_and_grub_defaults(host):
    assert host.file("/usr/bin/python3").exists
    grub = host.file("/etc/default/grub")
    assert grub.exists
    assert "console=ttyS0" in grub.content_string


def test_release_matches_the_platform(host):
    assert host.system_info.distribution == "debian"
    assert host.system_info.codename == me(host)["lab_release"]


def test_booted_by_the_guests_own_grub(host):
    cmdline = host.file("/proc/cmdline").content_string
    assert "BOOT_IMAGE=/boot/vmlinuz-" in cmdline
    assert "console=ttyS0" in cmdline


def test_marker_file_from_converge(host):
    name = host.backend.get_hostname()
    marker = host.file("/etc/crashkit-smoke")
    assert marker.mode == 0o644
    assert marker.content_string == "%s %s %s\n" % (name, me(host)["lab_release"], me(host)["lab_private_address"])
    assert host.check_output("hostname") == name


def test_apt_goes_through_the_lab_cache(host):
    assert "URIs: http://10.0.2.100/debian" in host.file("/etc/apt/sources.list.d/debian.sources").content_string
    assert host.package("iputils-ping").is_installed


def test_private_network_ssh_to_every_other_vm(host):
    name = host.backend.get_hostname()
    others = [i for n, i in instances().items() if n != name]
    assert others
    for other in others:
        addr = other["lab_private_address"]
        host.run_expect([0], "ping -c 1 -W 5 %s", addr)
        out = host.check_output(
            "ssh -i /root/.ssh/id_smoke -o BatchMode=yes -o StrictHostKeyChecking=no "
            "-o UserKnownHostsFile=/dev/null -o ConnectTimeout=30 root@%s hostname", addr)
        assert out == other["instance"]
