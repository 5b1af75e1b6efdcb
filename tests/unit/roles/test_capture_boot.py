# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kdump_capture_lean_boot: the capture kernel's command line on the debian family masks the units
saving a dump does not need (timers and utmp for every target, the network too for a local one);
the other families never get them. Renders /etc/default/kdump-tools (a path in the test's
directory) through the setup role's own tasks/config.yml with the real ansible-playbook on
localhost; the kdump VM scenario captures real panics with these command lines (Debian 12 local,
Debian 13 SSH).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
TREE = os.path.join(REPO, ".tmp", "collections")
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
COMMON = ["systemd.mask=timers.target", "systemd.mask=systemd-update-utmp.service"]
MASKS = COMMON + ["systemd.mask=network-online.target", "systemd.mask=systemd-networkd.service",
                  "systemd.mask=systemd-networkd.socket", "systemd.mask=systemd-resolved.service"]
FAMILY_VARS = {"debian": "Debian.yml", "redhat": "RedHat.yml", "suse": "Suse.yml"}
DEBIAN_BASE = "reset_devices systemd.unit=kdump-tools-dump.service nr_cpus=1 irqpoll usbcore.nousb"


def render(tmp_path, family, variables):
    conf = tmp_path / "kdump.conf"
    (tmp_path / "vars.yml").write_text(yaml.safe_dump(variables))
    # the family's own vars file, as tasks/vars.yml loads it on a host of the family
    family_vars = os.path.join(REPO, "roles", "setup", "vars", FAMILY_VARS[family])
    (tmp_path / "play.yml").write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False, "vars_files": [family_vars, str(tmp_path / "vars.yml")],
        "tasks": [{"ansible.builtin.include_role": {"name": "crashkit.kdump.setup", "tasks_from": "config.yml"}}]}]))
    extra = {"__kdump_family": family, "__kdump_major": "12", "__kdump_config_path": str(conf),
             "__kdump_packages_result": {"changed": False}, "ansible_python_interpreter": sys.executable}
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=TREE, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
               ANSIBLE_RETRY_FILES_ENABLED="False")
    env.pop("ANSIBLE_CONFIG", None)
    result = subprocess.run([ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", str(tmp_path / "play.yml"),
                             "-e", json.dumps(extra)], cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout
    return conf.read_text()


def cmdline(text):
    found = re.search(r'^KDUMP_CMDLINE_APPEND="([^"]*)"$', text, re.M)
    return found.group(1).split() if found else None


@pytest.mark.parametrize("variables,expected", [
    # the default local target: the masks after the built-in default
    ({}, DEBIAN_BASE.split() + MASKS),
    ({"kdump_target": {"type": "local", "path": "/srv/crash"}, "kdump_cmdline_append": "quiet"},
     DEBIAN_BASE.split() + ["quiet"] + MASKS),
    # off: the built-in default only
    ({"kdump_capture_lean_boot": False}, None),
    # an SSH or NFS target needs the network in the capture boot: only timers and utmp
    ({"kdump_target": {"type": "ssh", "host": "dumps.example.net", "user": "kdumprecv"}},
     DEBIAN_BASE.split() + COMMON),
    ({"kdump_target": {"type": "nfs", "host": "dumps.example.net", "path": "/export/crash"}},
     DEBIAN_BASE.split() + COMMON),
    ({"kdump_target": {"type": "ssh", "host": "dumps.example.net", "user": "kdumprecv"},
      "kdump_capture_lean_boot": False}, None),
], ids=["local", "local-with-own-args", "off", "ssh", "nfs", "ssh-off"])
def test_capture_command_line_of_debian(tmp_path, variables, expected):
    got = cmdline(render(tmp_path, "debian", variables))
    if expected is None:
        assert got is None or not [word for word in got if word.startswith("systemd.mask=")]
    else:
        assert got == expected


def test_other_families_never_get_the_masks(tmp_path):
    for family, path in (("suse", "sysconfig"), ("redhat", "kdump.conf")):
        directory = tmp_path / family
        directory.mkdir()
        assert "systemd.mask" not in render(directory, family, {}), path
