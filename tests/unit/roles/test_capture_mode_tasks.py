# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kdump_capture_mode: the setup role's own tasks/capture_mode.yml run by the real
ansible-playbook on localhost, with the hook's and the script's paths in the test's directory and
the kdump initramfs rebuild replaced by a recorder: `initramfs` installs both (the role's files,
0755) and rebuilds once, a second run changes nothing, `systemd` takes both away and rebuilds
again, check mode writes nothing, an SSH target's image is rebuilt when its configuration
changed (a device target's when its mount unit changed), and NFS targets are refused. The real hook,
mkinitramfs and captures run in the lab VMs (docs/support-matrix.md).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import stat
import subprocess
import sys

import pytest
import yaml

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
TREE = os.path.join(REPO, ".tmp", "collections")
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
FILES = os.path.join(REPO, "roles", "setup", "files")


def play(tmp_path, variables, check=False):
    hook = tmp_path / "hooks" / "crashkit-capture"
    script = tmp_path / "share" / "crashkit" / "initramfs-capture"
    hook.parent.mkdir(exist_ok=True)
    initrd = tmp_path / "initrd.img"
    initrd.write_text("image")
    log = tmp_path / "rebuilds.log"
    (tmp_path / "play.yml").write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False,
        "tasks": [{"ansible.builtin.include_role": {"name": "crashkit.kdump.setup", "tasks_from": "capture_mode.yml"}}]}]))
    extra = dict({
        "__kdump_capture_hook_path": str(hook), "__kdump_capture_script_path": str(script),
        "__kdump_capture_note_dropin_path": str(tmp_path / "units" / "kdump-tools-dump.service.d" / "note.conf"),
        "__kdump_capture_note_path": str(tmp_path / "capture-fallback"),
        "__kdump_initrd_path": str(initrd),
        "__kdump_initrd_rebuild": ["/bin/sh", "-c", 'echo rebuilt >> "$1"', "sh", str(log)],
        "ansible_python_interpreter": sys.executable}, **variables)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=TREE, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
               ANSIBLE_RETRY_FILES_ENABLED="False")
    env.pop("ANSIBLE_CONFIG", None)
    argv = [ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", str(tmp_path / "play.yml"), "-e", json.dumps(extra)]
    result = subprocess.run(argv + (["--check"] if check else []), cwd=str(tmp_path), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                            timeout=300, check=False)
    return result, hook, script, log


def stats(result):
    """The play recap's counts of localhost."""
    found = re.search(r"^localhost\s+:\s+(.*)$", result.stdout, re.M)
    assert found, result.stdout
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", found.group(1))}


def rebuilds(log):
    return log.read_text().count("rebuilt") if log.exists() else 0


def test_initramfs_installs_then_nothing_then_systemd_takes_it_away(tmp_path):
    dry, hook, script, log = play(tmp_path, {"kdump_capture_mode": "initramfs"}, check=True)
    assert dry.returncode == 0, dry.stdout
    assert stats(dry)["changed"] >= 1 and not hook.exists() and not script.exists() and rebuilds(log) == 0

    first, hook, script, log = play(tmp_path, {"kdump_capture_mode": "initramfs"})
    assert first.returncode == 0, first.stdout
    dropin = tmp_path / "units" / "kdump-tools-dump.service.d" / "note.conf"
    for path, name, mode in ((hook, "initramfs-hook", 0o755), (script, "initramfs-capture", 0o755),
                             (dropin, "initramfs-capture-note.conf", 0o644)):
        with open(os.path.join(FILES, name)) as handle:
            assert path.read_text() == handle.read()
        assert stat.S_IMODE(os.stat(str(path)).st_mode) == mode
    assert rebuilds(log) == 1

    again, _hook, _script, log = play(tmp_path, {"kdump_capture_mode": "initramfs"})
    assert again.returncode == 0 and stats(again)["changed"] == 0, again.stdout
    assert rebuilds(log) == 1

    # a fallback note of the last capture boot goes with the mode: no later crash takes it for its own
    (tmp_path / "capture-fallback").write_text("saved_by=kdump-tools\n")
    back, hook, script, log = play(tmp_path, {"kdump_capture_mode": "systemd"})
    assert back.returncode == 0, back.stdout
    assert not hook.exists() and not script.exists() and rebuilds(log) == 2
    assert not dropin.exists() and not (tmp_path / "capture-fallback").exists()
    quiet, _hook, _script, log = play(tmp_path, {"kdump_capture_mode": "systemd"})
    assert quiet.returncode == 0 and stats(quiet)["changed"] == 0 and rebuilds(log) == 2


@pytest.mark.parametrize("target, lean", [
    ({}, True),
    ({"type": "local", "path": "/var/crash"}, True),
    ({"type": "ssh", "host": "dumps.example.net", "user": "kdumprecv"}, True),
    ({"type": "nfs", "host": "dumps.example.net", "path": "/srv/crash"}, False),
    ({"type": "device", "device": "LABEL=crashdump", "fstype": "ext4"}, True),
], ids=["default", "local", "ssh", "nfs", "device"])
def test_auto_the_default_is_the_lean_capture_where_it_saves_the_target(tmp_path, target, lean):
    """kdump_capture_mode's default, auto: the lean capture for local, device and SSH targets,
    kdump-tools' own for NFS targets (not refused)."""
    variables = {"__kdump_config": {"changed": False}}
    if target:
        variables["kdump_target"] = target
    result, hook, script, log = play(tmp_path, variables)
    assert result.returncode == 0, result.stdout
    assert hook.exists() == lean and script.exists() == lean and rebuilds(log) == (1 if lean else 0)


def test_an_nfs_target_with_initramfs_is_refused(tmp_path):
    target = {"type": "nfs", "host": "dumps.example.net", "path": "/srv/crash"}
    result, hook, _script, log = play(tmp_path, {"kdump_capture_mode": "initramfs", "kdump_target": target})
    assert result.returncode != 0
    assert "saves local, ssh, device targets only for now (this target is nfs)" in result.stdout
    assert not hook.exists() and rebuilds(log) == 0


def _rebuilt_when(tmp_path, variables, trigger):
    """Three runs with ``variables``, the registered result ``trigger`` changed, not, and again:
    the image is rebuilt by the first and the third only."""
    first, hook, _script, log = play(tmp_path, dict(variables, **{trigger: {"changed": True}}))
    assert first.returncode == 0, first.stdout
    assert hook.exists() and rebuilds(log) == 1
    same, _hook, _script, log = play(tmp_path, dict(variables, **{trigger: {"changed": False}}))
    assert same.returncode == 0 and stats(same)["changed"] == 0, same.stdout
    assert rebuilds(log) == 1
    moved, _hook, _script, log = play(tmp_path, dict(variables, **{trigger: {"changed": True}}))
    assert moved.returncode == 0 and stats(moved)["changed"] == 1, moved.stdout
    assert rebuilds(log) == 2


def test_a_device_target_with_initramfs_rebuilds_the_image_when_its_mount_unit_changed(tmp_path):
    """The hook records the dump device from the role's mount unit: a changed unit (another
    device) rebuilds the image, an unchanged one does not."""
    _rebuilt_when(tmp_path, {"kdump_capture_mode": "initramfs", "__kdump_config": {"changed": False},
                             "kdump_target": {"type": "device", "device": "LABEL=crashdump", "fstype": "ext4"}},
                  "__kdump_device_units")


def test_an_ssh_target_rebuilds_the_image_when_its_configuration_changed(tmp_path):
    """The hook records the way to the SSH server when the image is built: a changed kdump
    configuration (another server) rebuilds it, an unchanged one does not."""
    _rebuilt_when(tmp_path, {"kdump_capture_mode": "initramfs",
                             "kdump_target": {"type": "ssh", "host": "dumps.example.net", "user": "kdumprecv"}},
                  "__kdump_config")
    # a local target's configuration is not recorded in the image: no rebuild for it
    local, _hook, _script, log = play(tmp_path, {"kdump_capture_mode": "initramfs", "__kdump_config": {"changed": True}})
    assert local.returncode == 0 and stats(local)["changed"] == 0, local.stdout
    assert rebuilds(log) == 2
