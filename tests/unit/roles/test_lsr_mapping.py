# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""linux-system-roles/kdump users: an LSR-style vars file renders the same kdump configuration
as the equivalent crashkit variables, through the setup role's own tasks (tasks/lsr.yml, then
tasks/config.yml, which runs crashkit.kdump.kdump_config) with the real ansible-playbook; and
kdump_target's argument spec fails a typo at the role's start.

Runs on localhost with a local connection, but nothing touches the host: the configuration file
is a path in the test's directory, the family is given, and the role's main entry point is only
started with arguments its validation refuses (validation is its first step).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
TREE = os.path.join(REPO, ".tmp", "collections")
FIXTURES = os.path.join(REPO, "tests", "unit", "fixtures", "kdumpconf")
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")

CASES = {
    # RHEL 9, SSH target with LSR's location, collector, action, reset, dracut args, key path;
    # the shipped kdump.conf (auto_reset_crashkernel yes) is there before.
    "rhel9-ssh": dict(
        family="redhat", major="9", shipped="kexec-tools-73ced7f.kdump.conf",
        lsr={"kdump_target": {"type": "ssh", "location": "kdumprecv@dumps.example.net"},
             "kdump_path": "/srv/crash",
             "kdump_core_collector": "makedumpfile -l --message-level 7 -d 31",
             "kdump_system_action": "halt",
             "kdump_auto_reset_crashkernel": False,
             "kdump_dracut_args": "--omit-drivers nouveau",
             "kdump_sshkey": "/root/.ssh/kdump_id_ed25519",
             "kdump_reboot_ok": False},
        crashkit={"kdump_target": {"type": "ssh", "user": "kdumprecv", "host": "dumps.example.net",
                                   "path": "/srv/crash", "ssh_key": "/root/.ssh/kdump_id_ed25519"},
                  "kdump_compression": "lzo", "kdump_dump_level": 31, "kdump_failure_action": "halt",
                  "kdump_extra_options": {"auto_reset_crashkernel": False,
                                          "dracut_args": "--omit-drivers nouveau"}},
        lines=["ssh kdumprecv@dumps.example.net", "sshkey /root/.ssh/kdump_id_ed25519", "path /srv/crash",
               "core_collector makedumpfile -F -l --message-level 7 -d 31", "failure_action halt",
               "auto_reset_crashkernel no", "dracut_args --omit-drivers nouveau"]),
    # RHEL 8, NFS with LSR's host:/export and a relative path; auto_reset_crashkernel does not exist
    # there (ignored with a notice), the old "default" directive of the shipped file stays.
    "rhel8-nfs": dict(
        family="redhat", major="8", shipped=None, existing="path /var/crash\ndefault reboot\n",
        lsr={"kdump_target": {"type": "nfs", "location": "filer.example.net:/export/crash"},
             "kdump_path": "/var/crash", "kdump_system_action": "poweroff",
             "kdump_auto_reset_crashkernel": True},
        crashkit={"kdump_target": {"type": "nfs", "host": "filer.example.net", "path": "/export/crash/var/crash"},
                  "kdump_failure_action": "poweroff", "kdump_compression": "lzo"},
        lines=["nfs filer.example.net:/export/crash/var/crash", "path /",
               "core_collector makedumpfile -l --message-level 7 -d 31", "default poweroff"]),
    # RHEL 10, an ext4 partition by bare UUID (LSR's README spelling), the root file system path.
    "rhel10-ext4": dict(
        family="redhat", major="10", shipped="kdump-utils-63f248c-x86_64.kdump.conf",
        lsr={"kdump_target": {"type": "ext4", "location": "12e3e25f-534e-4007-a40c-e7e080a933ad"},
             "kdump_path": "/crash"},
        crashkit={"kdump_target": {"type": "device", "fstype": "ext4",
                                   "device": "UUID=12e3e25f-534e-4007-a40c-e7e080a933ad", "path": "/crash"}},
        lines=["ext4 UUID=12e3e25f-534e-4007-a40c-e7e080a933ad", "path /crash",
               "core_collector makedumpfile -l --message-level 7 -d 31", "failure_action reboot",
               "auto_reset_crashkernel yes"]),
    # Ubuntu 24.04: LSR's null target (the root file system) with its path and action.
    "ubuntu-local": dict(
        family="debian", major="24", shipped=None,
        lsr={"kdump_target": None, "kdump_path": "/var/crash/dumps", "kdump_system_action": "poweroff",
             "kdump_dracut_args": "--no-hostonly"},
        crashkit={"kdump_target": {"type": "local", "path": "/var/crash/dumps"},
                  "kdump_failure_action": "poweroff"},
        lines=None),
}


def env(tmp_path):
    result = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=TREE, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                  ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
                  ANSIBLE_RETRY_FILES_ENABLED="False", PWD=str(tmp_path))
    result.pop("ANSIBLE_CONFIG", None)
    return result


def play(tmp_path, name, variables, tasks, extra):
    directory = tmp_path / name
    directory.mkdir()
    (directory / "vars.yml").write_text(yaml.safe_dump(variables))
    (directory / "play.yml").write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False, "vars_files": [str(directory / "vars.yml")],
        "tasks": tasks}]))
    cmd = [ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", str(directory / "play.yml"),
           "-e", json.dumps(dict(extra, ansible_python_interpreter=sys.executable))]
    result = subprocess.run(cmd, cwd=str(tmp_path), env=env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True, timeout=300, check=False)
    return result.returncode, result.stdout + result.stderr


def render(tmp_path, name, case, variables):
    conf = tmp_path / ("%s.conf" % name)
    if case.get("shipped"):
        shutil.copy(os.path.join(FIXTURES, case["shipped"]), str(conf))
    elif case.get("existing"):
        conf.write_text(case["existing"])
    tasks = [{"ansible.builtin.include_role": {"name": "crashkit.kdump.setup", "tasks_from": task}}
             for task in ("lsr.yml", "config.yml")]
    extra = {"__kdump_family": case["family"], "__kdump_major": case["major"], "__kdump_config_path": str(conf),
             "__kdump_packages_result": {"changed": False}}
    rc, output = play(tmp_path, name, variables, tasks, extra)
    assert rc == 0, output
    return conf.read_text(), output


@pytest.mark.parametrize("name", sorted(CASES))
def test_lsr_vars_render_the_same_configuration_as_crashkit_vars(tmp_path, name):
    case = CASES[name]
    lsr_text, lsr_output = render(tmp_path, "lsr", case, case["lsr"])
    crashkit_text, crashkit_output = render(tmp_path, "crashkit", case, case["crashkit"])
    assert lsr_text == crashkit_text
    assert "linux-system-roles/kdump variables were mapped" in lsr_output
    assert "linux-system-roles/kdump variables were mapped" not in crashkit_output
    if case["lines"] is not None:
        assert lsr_text.splitlines()[2:] == case["lines"]
    else:
        assert 'KDUMP_COREDIR="/var/crash/dumps"' in lsr_text and 'KDUMP_FAIL_CMD="poweroff -f"' in lsr_text
        assert "kdump_dracut_args is ignored" in lsr_output


def test_unmappable_lsr_variables_fail_naming_the_crashkit_equivalent(tmp_path):
    variables = {"kdump_core_collector": "scp", "kdump_system_action": "halt", "kdump_failure_action": "poweroff"}
    rc, output = play(tmp_path, "bad", variables,
                      [{"ansible.builtin.include_role": {"name": "crashkit.kdump.setup", "tasks_from": "lsr.yml"}}],
                      {"__kdump_family": "redhat", "__kdump_major": "9"})
    assert rc != 0
    flat = " ".join(output.split())
    assert ("kdump_core_collector 'scp': only makedumpfile collectors are modelled; use kdump_compression, "
            "kdump_dump_level and kdump_extra_collector_args") in flat
    assert "kdump_system_action and kdump_failure_action are both set" in flat


@pytest.mark.parametrize("target,message", [
    ({"type": "ssh", "hots": "dumps.example.net"}, "hots"),
    ({"type": "tftp", "host": "x"}, "tftp"),
    ({"type": "ssh", "host": "dumps", "port": "twenty-two"}, "port"),
])
def test_a_kdump_target_typo_fails_at_the_role_start(tmp_path, target, message):
    rc, output = play(tmp_path, "typo", {"kdump_target": target},
                      [{"ansible.builtin.include_role": {"name": "crashkit.kdump.setup"}}], {})
    assert rc != 0, output
    flat = " ".join(output.split())
    assert "Validating arguments against arg spec" in flat and "Validation of arguments failed" in flat, output
    assert message in flat
    assert "Load the variables of this distribution family" not in output  # nothing after validation ran


@pytest.mark.parametrize("target", [
    {"type": "ssh", "location": "kdumprecv@dumps"},
    {"type": "raw", "location": "/dev/sdb1"},
    {"type": "ssh", "host": "dumps", "user": "kdumprecv", "path": "/var/crash", "port": 22},
    {"type": "device", "fstype": "xfs", "device": "LABEL=crash", "path": "/"},
])
def test_the_argument_spec_accepts_both_spellings(tmp_path, target):
    with open(os.path.join(REPO, "roles", "setup", "meta", "argument_specs.yml")) as handle:
        spec = yaml.safe_load(handle)["argument_specs"]["main"]["options"]
    arguments = {"argument_spec": spec, "provided_arguments": {"kdump_target": target}}
    task = {"ansible.builtin.validate_argument_spec": arguments}
    rc, output = play(tmp_path, "spec", {}, [task], {})
    assert rc == 0, output


def test_the_setup_playbook_maps_before_the_role_validates(tmp_path):
    """linux-system-roles' "kdump_target: null" is refused by the role's argument spec (a dict);
    kdump_setup.yml maps it in its first play, so the role's validation sees the mapped target.
    Only tasks tagged always run (facts, the mapping, the argument validation): nothing else."""
    inventory = {"kdump_clients": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable, "ansible_become": False,
        "kdump_target": None, "kdump_path": "/var/crash/lsr", "kdump_system_action": "poweroff"}}}}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    cmd = [ANSIBLE_PLAYBOOK, "-i", str(tmp_path / "inventory.yml"), os.path.join(REPO, "playbooks", "kdump_setup.yml"),
           "--tags", "crashkit-test-nothing-else"]
    result = subprocess.run(cmd, cwd=str(tmp_path), env=env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True, timeout=300, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    flat = " ".join(output.split())
    assert "kdump_target: null (the root file system) -> kdump_target: {type: local, path: /var/crash/lsr}" in flat
    assert "kdump_system_action: poweroff -> kdump_failure_action: poweroff" in flat
    assert "Validating arguments against arg spec" in flat
    # the role alone refuses null, as its argument spec says
    rc, alone = play(tmp_path, "alone", {"kdump_target": None},
                     [{"ansible.builtin.include_role": {"name": "crashkit.kdump.setup"}}], {})
    assert rc != 0 and "kdump_target" in alone and "NoneType" in alone
