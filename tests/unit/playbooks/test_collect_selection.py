# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/collect.yml's own expressions, taken from the playbook as it is and run by the real
ansible-playbook over an inventory of local stand-in hosts:

* which client directories of a dump server's store are *not* collected from the server: those
  of clients with a local or device target (or none) collected from themselves in the first play
  (the evidence they pushed is the same crash); an SSH or NFS client's crashes exist only on the
  server and are collected there even when the client was collected from itself too (the
  VM lab's NFS run found every NFS and SSH crash skipped before);
* the readiness row's target text for local, NFS and SSH targets (an NFS target has no user).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

import yaml

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
TREE = os.path.join(REPO, ".tmp", "collections")
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
LOCAL = "ansible_connection=local ansible_python_interpreter=%s" % sys.executable

TARGETS = {
    "local1": {"type": "local", "path": "/var/crash"},
    "device1": {"type": "device", "device": "UUID=0b1c", "fstype": "ext4", "path": "/var/crash"},
    "nfs1": {"type": "nfs", "host": "10.0.0.2", "path": "/srv/crash/nfs1"},
    "ssh1": {"type": "ssh", "host": "10.0.0.2", "user": "kdumprecv", "path": "/var/crash"},
}


def _play_vars(play_name, task_name):
    with open(os.path.join(REPO, "playbooks", "collect.yml")) as handle:
        plays = yaml.safe_load(handle)
    play = [p for p in plays if p.get("name") == play_name][0]
    return [t for t in play["tasks"] if t.get("name") == task_name][0]


def test_which_clients_are_collected_from_the_server(tmp_path):
    task = _play_vars("Collect what the clients sent to the dump servers", "Collect each client's crashes")
    directly = task["vars"]["__kdump_collected_directly"]
    hosts = ["local1", "device1", "nfs1", "ssh1", "plain1", "notrun1"]
    inventory = "[clients]\n" + "".join("%s %s\n" % (h, LOCAL) for h in hosts) + "[servers]\nsrv %s\n" % LOCAL
    (tmp_path / "inventory").write_text(inventory)
    plays = [
        # the first play: every client but notrun1 was collected from itself
        {"hosts": "clients:!notrun1", "gather_facts": False, "tasks": [
            {"ansible.builtin.set_fact": {"__kdump_collected": {"crashes": []}}},
            {"ansible.builtin.set_fact": {"kdump_target": "{{ targets[inventory_hostname] }}"},
             "when": "inventory_hostname in targets"}]},
        {"hosts": "notrun1", "gather_facts": False, "tasks": [
            {"ansible.builtin.set_fact": {"kdump_target": {"type": "nfs", "host": "10.0.0.2", "path": "/x"}}}]},
        {"hosts": "srv", "gather_facts": False, "tasks": [
            {"ansible.builtin.set_fact": {"__kdump_root": "/srv/crash-store"}},
            {"ansible.builtin.copy": {"content": "{{ %s | to_json }}" % directly.strip()[3:-3].strip(),
                                      "dest": str(tmp_path / "directly.json"), "mode": "0600"}}]},
    ]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(plays))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=TREE, ANSIBLE_NOCOLOR="1", ANSIBLE_HOME=str(tmp_path / "home"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"), ANSIBLE_RETRY_FILES_ENABLED="False")
    env.pop("ANSIBLE_CONFIG", None)
    result = subprocess.run([ANSIBLE_PLAYBOOK, "-i", str(tmp_path / "inventory"), str(tmp_path / "play.yml"),
                             "-e", json.dumps({"targets": TARGETS})], cwd=str(tmp_path), env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    skipped = json.loads((tmp_path / "directly.json").read_text())
    # collected from themselves, and their crashes are theirs: not again from the server
    assert sorted(skipped) == ["/srv/crash-store/device1", "/srv/crash-store/local1", "/srv/crash-store/plain1"]


def test_readiness_target_text(tmp_path):
    task = _play_vars("Refresh the fleet report of the store", "Write report.json, report.md, report.html and a page per crash")
    readiness = task["vars"]["__kdump_readiness"]
    hosts = sorted(TARGETS)
    inventory = "[kdump_clients]\n" + "".join("%s %s\n" % (h, LOCAL) for h in hosts)
    (tmp_path / "inventory").write_text(inventory)
    info = {"ready": True, "problems": [], "crash_kernel": {"loaded": True, "reserved_mb": 192},
            "service": {"name": "kdump-tools", "active": "active"}}
    plays = [
        {"hosts": "kdump_clients", "gather_facts": False, "tasks": [
            {"ansible.builtin.set_fact": {"__kdump_collect_info": "{{ info | combine({'config': {'target': targets[inventory_hostname]}}) }}"}}]},
        {"hosts": "localhost", "gather_facts": False, "tasks": [
            {"ansible.builtin.copy": {"content": "{{ __kdump_readiness | to_json }}",
                                      "dest": str(tmp_path / "readiness.json"), "mode": "0600"},
             "vars": {"__kdump_readiness": readiness}}]},
    ]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(plays))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=TREE, ANSIBLE_NOCOLOR="1", ANSIBLE_HOME=str(tmp_path / "home"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"), ANSIBLE_RETRY_FILES_ENABLED="False",
               ANSIBLE_LOCALHOST_WARNING="False")
    env.pop("ANSIBLE_CONFIG", None)
    result = subprocess.run([ANSIBLE_PLAYBOOK, "-i", str(tmp_path / "inventory"), str(tmp_path / "play.yml"),
                             "-e", json.dumps({"targets": TARGETS, "info": info})], cwd=str(tmp_path), env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {row["host"]: row["target"] for row in json.loads((tmp_path / "readiness.json").read_text())}
    assert rows == {"device1": "device /var/crash", "local1": "local /var/crash",
                    "nfs1": "nfs 10.0.0.2:/srv/crash/nfs1", "ssh1": "ssh kdumprecv@10.0.0.2:/var/crash"}
