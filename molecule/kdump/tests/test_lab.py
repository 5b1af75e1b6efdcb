"""The lab itself, checked on the kdump scenario's VMs (what the smoke scenario checks, without its
own boots): the release, the guest's own GRUB, apt through the lab's cache, the private network."""
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
    assert host.check_output("hostname") == host.backend.get_hostname()


def test_booted_by_the_guests_own_grub(host):
    cmdline = host.file("/proc/cmdline").content_string
    assert "BOOT_IMAGE=/boot/vmlinuz-" in cmdline
    assert "console=ttyS0" in cmdline


def test_apt_goes_through_the_lab_cache(host):
    assert "URIs: http://10.0.2.100/debian" in host.file("/etc/apt/sources.list.d/debian.sources").content_string
    assert host.package("kdump-tools").is_installed


def test_private_network_reaches_every_other_vm(host):
    name = host.backend.get_hostname()
    others = [i for n, i in instances().items() if n != name]
    assert others
    for other in others:
        addr = other["lab_private_address"]
        host.run_expect([0], "timeout 20 bash -c 'exec 3<>/dev/tcp/%s/22 && head -c 4 <&3'", addr)
