# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dump_server role's NFS exports (roles/dump_server/tasks/nfs.yml as it is, with the role's
vars/main.yml), computed by the real ansible-playbook on this machine with stand-ins for the
registered results: one exports(5) file per NFS client, its own directory to its own addresses,
squashed to the receiver account; which clients stay exported (and are scanned by the ingest)
with and without kdump_dump_server_keep_unlisted, and what a revoke takes away. The client
list's checks (roles/dump_server/tasks/main.yml) refuse an NFS client without addresses or with
a negated or optioned one."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest
import yaml

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
TREE = os.path.join(REPO, ".tmp", "collections")
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl web9"

CLIENTS = [
    {"host_id": "web1", "nfs": True, "from": "10.0.0.5"},
    {"host_id": "web2", "nfs": True, "from": "10.0.0.6,fd00::6"},
    {"host_id": "ssh1", "public_key": KEY, "from": "10.0.0.7"},
]
BASE = {"kdump_dump_server_root": "/srv/crash", "kdump_dump_server_clients": CLIENTS,
        "kdump_dump_server_keep_unlisted": True, "kdump_dump_server_revoke": [],
        "__kdump_dump_server_account": {"uid": 999}, "__kdump_dump_server_group_result": {"gid": 997},
        "__kdump_dump_server_export_files": {"files": [
            {"path": "/etc/exports.d/crashkit-old1.exports"},
            {"path": "/etc/exports.d/crashkit-web1.exports"}]}}


def _env(tmp_path):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=TREE, ANSIBLE_NOCOLOR="1", ANSIBLE_HOME=str(tmp_path / "home"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"), ANSIBLE_RETRY_FILES_ENABLED="False",
               ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    env.pop("ANSIBLE_CONFIG", None)
    return env


def _tasks(name):
    with open(os.path.join(REPO, "roles", "dump_server", "tasks", name)) as handle:
        return yaml.safe_load(handle)


def _run(tmp_path, cases):
    nfs = _tasks("nfs.yml")
    export = [t for t in nfs if "crashkit.kdump.service_files" in t]
    stay = [t for t in nfs if "ansible.builtin.set_fact" in t]
    drop = [t for t in nfs if "ansible.builtin.file" in t]
    assert len(export) == 1 and len(stay) == 1 and len(drop) == 1
    tasks = []
    for index, change in enumerate(cases):
        case = dict(BASE, **change)
        tasks.append({"ansible.builtin.set_fact": dict(case)})
        tasks.append(dict(stay[0]))
        tasks.append({"ansible.builtin.set_fact": {"r_%d" % index: {
            "files": "{{ __kdump_dump_server_exports }}",
            "hosts": "{{ __kdump_dump_server_nfs_hosts }}",
            "dropped": "{{ %s }}" % drop[0]["loop"].strip()[3:-3]}}})
        # the exports as the service_files task computes them (its own vars)
        tasks[-1]["vars"] = dict(export[0]["vars"])
    tasks.append({"ansible.builtin.copy": {
        "content": "{{ [%s] | to_json }}" % ", ".join("r_%d" % i for i in range(len(cases))),
        "dest": str(tmp_path / "results.json"), "mode": "0600"}})
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars_files": [os.path.join(REPO, "roles", "dump_server", "vars", "main.yml")], "tasks": tasks}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    result = subprocess.run([ANSIBLE_PLAYBOOK, str(tmp_path / "play.yml")], cwd=str(tmp_path), env=_env(tmp_path),
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads((tmp_path / "results.json").read_text())


def test_exports_and_who_stays_exported(tmp_path):
    kept, not_kept, revoked = _run(tmp_path, [
        {},
        {"kdump_dump_server_keep_unlisted": False},
        {"kdump_dump_server_revoke": ["old1", "web2"]},
    ])
    files = {f["path"]: f for f in kept["files"]}
    assert sorted(files) == ["/etc/exports.d/crashkit-web1.exports", "/etc/exports.d/crashkit-web2.exports"]
    opts = "(rw,sync,all_squash,anonuid=999,anongid=997,no_subtree_check,sec=sys)"
    web1 = files["/etc/exports.d/crashkit-web1.exports"]
    assert web1["mode"] == "0644"
    assert web1["content"].splitlines()[-1] == '"/srv/crash/web1" 10.0.0.5' + opts
    web2 = files["/etc/exports.d/crashkit-web2.exports"]["content"].splitlines()[-1]
    assert web2 == '"/srv/crash/web2" 10.0.0.6%s fd00::6%s' % (opts, opts)
    # every line but the export is a comment: nothing else for exportfs to read
    assert all(line.startswith("#") for line in web1["content"].splitlines()[:-1])
    # kept: an export written by an earlier run for a client not listed now stays, and is scanned
    assert kept["hosts"] == ["old1", "web1", "web2"] and kept["dropped"] == []
    # not kept: it goes
    assert not_kept["hosts"] == ["web1", "web2"] and not_kept["dropped"] == ["old1"]
    # revoked: the revoked clients' exports go; one listed now is not exported either
    assert [f["path"] for f in revoked["files"]] == ["/etc/exports.d/crashkit-web1.exports"]
    assert revoked["hosts"] == ["web1"] and revoked["dropped"] == ["old1"]


@pytest.mark.parametrize("client, ok", [
    ({"host_id": "web1", "nfs": True, "from": "10.0.0.5"}, True),
    ({"host_id": "web1", "nfs": True, "from": "10.0.0.0/24,web1.example.net"}, True),
    ({"host_id": "web1", "nfs": True}, False),
    ({"host_id": "web1", "nfs": True, "from": ""}, False),
    ({"host_id": "web1", "nfs": True, "from": "!10.0.0.5"}, False),
    ({"host_id": "web1", "nfs": True, "from": "10.0.0.5(rw,no_root_squash)"}, False),
    ({"host_id": "web1", "nfs": True, "from": "10.0.0.5 *"}, False),
    ({"host_id": "web1", "nfs": True, "from": "10.0.0.5,"}, False),
    ({"host_id": "web1", "from": "10.0.0.5"}, False),
    ({"host_id": "web1", "public_key": KEY, "from": "!10.0.0.9,*"}, True),
    ({"host_id": "web1", "nfs": True, "public_key": "ssh-ed25519 AAAA\nssh-rsa AAAA", "from": "10.0.0.5"}, False),
])
def test_client_list_checks(tmp_path, client, ok):
    check = [t for t in _tasks("main.yml") if t.get("name") == "Check the client list"]
    assert len(check) == 1
    task = dict(check[0], vars={"kdump_dump_server_clients": [client], "kdump_dump_server_client_path": "/var/crash"})
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars_files": [os.path.join(REPO, "roles", "dump_server", "vars", "main.yml")], "tasks": [task]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    result = subprocess.run([ANSIBLE_PLAYBOOK, str(tmp_path / "play.yml")], cwd=str(tmp_path), env=_env(tmp_path),
                            capture_output=True, text=True, timeout=300, check=False)
    assert (result.returncode == 0) == ok, result.stdout + result.stderr
