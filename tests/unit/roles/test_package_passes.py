# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The setup role's package pass (tasks/packages.yml) probes a package once per run.

playbooks/kdump_setup.yml asks for kdump's packages twice on a client (with the dump key, then in
the setup role); each probe is a module run (about 10 s on the lab's emulated guests). A pass now
skips what an earlier pass of the same run installed or found installed, and still probes a
package it has not seen. Runs the role's own task file with the real ansible-playbook on localhost,
on packages this Debian machine has (the probe only reads dpkg's database); nothing is installed:
with every package installed neither the index refresh nor the install runs.
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
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")

pytestmark = pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="needs dpkg (a Debian machine)")


def _pass(name, packages):
    """One package pass, then facts saying what it ran."""
    return [
        {"name": "pass %s" % name,
         "ansible.builtin.include_role": {"name": "crashkit.kdump.setup", "tasks_from": "packages.yml"},
         "vars": {"__kdump_install": packages}},
        {"name": "what pass %s ran" % name,
         "ansible.builtin.set_fact": {
             "result_%s" % name: {
                 "probed": "{{ __kdump_unknown_packages is not skipped }}",
                 "probe_output": "{{ __kdump_unknown_packages.stdout_lines | default([]) }}",
                 "installed": "{{ __kdump_packages_result is not skipped }}",
                 "present": "{{ __kdump_packages_present | default([]) }}"}}},
    ]


def run(tmp_path, check=False):
    tasks = _pass("first", ["bash", "coreutils"]) + _pass("again", ["coreutils", "bash"]) \
        + _pass("more", ["bash", "dpkg"])
    out = tmp_path / "result.json"
    tasks.append({"name": "write the results", "delegate_to": "localhost",
                  "ansible.builtin.copy": {
                      "content": "{{ {'first': result_first, 'again': result_again, 'more': result_more} | to_json }}",
                      "dest": str(out)},
                  "check_mode": False})
    (tmp_path / "play.yml").write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False,
                                                        "tasks": tasks}]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=TREE, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
               ANSIBLE_RETRY_FILES_ENABLED="False")
    env.pop("ANSIBLE_CONFIG", None)
    extra = {"ansible_python_interpreter": sys.executable, "__kdump_package_index": "apt",
             "kdump_manage_packages": True, "kdump_package_cache_valid_time": 3600}
    cmd = [ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", str(tmp_path / "play.yml"),
           "-e", json.dumps(extra)] + (["--check"] if check else [])
    result = subprocess.run(cmd, cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout
    return json.loads(out.read_text())


@pytest.mark.parametrize("check", [False, True], ids=["run", "check"])
def test_a_package_is_probed_once_per_run(tmp_path, check):
    result = run(tmp_path, check=check)
    first, again, more = result["first"], result["again"], result["more"]
    # every package installed: probed, nothing missing, no install
    assert first["probed"] is True and first["probe_output"] == [] and first["installed"] is False
    assert sorted(first["present"]) == ["bash", "coreutils"]
    # the same packages again, in another order: no probe, no install
    assert again["probed"] is False and again["installed"] is False
    assert sorted(again["present"]) == ["bash", "coreutils"]
    # a package not seen in this run is probed (with the one seen before)
    assert more["probed"] is True and more["probe_output"] == [] and more["installed"] is False
    assert sorted(more["present"]) == ["bash", "coreutils", "dpkg"]
