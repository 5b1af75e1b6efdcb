# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dump_server role's published facts, taken from roles/dump_server/tasks/host_keys.yml as it
is and run by the real ansible-playbook on this machine with stand-ins for the registered
results: the host keys lose their comments, and kdump_dump_server_proof_token (what a client's
reused dump path check depends on) follows the authorized_keys file as written, the receiver's
interpreter, the dump root and the account, and nothing else."""
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

BASE = {"__kdump_dump_server_keys": {"stdout_lines": ["ssh-ed25519 AAAAC3Nz root@srv", ""]},
        "__kdump_dump_server_authorized": {"changed": False, "checksum": "a" * 40},
        "kdump_dump_server_python": "/usr/bin/python3", "kdump_dump_server_root": "/var/crash",
        "kdump_dump_server_user": "kdumprecv"}
CASES = [
    ("base", {}),
    ("same, and the file was rewritten", {"__kdump_dump_server_authorized": {"changed": True, "checksum": "a" * 40}}),
    ("another authorized_keys", {"__kdump_dump_server_authorized": {"changed": True, "checksum": "b" * 40}}),
    ("another interpreter", {"kdump_dump_server_python": "/opt/py/bin/python3"}),
    ("another dump root", {"kdump_dump_server_root": "/srv/crash"}),
    ("another account", {"kdump_dump_server_user": "dumps"}),
    ("another host key comment", {"__kdump_dump_server_keys": {"stdout_lines": ["ssh-ed25519 AAAAC3Nz other"]}}),
]


def test_published_facts(tmp_path):
    with open(os.path.join(REPO, "roles", "dump_server", "tasks", "host_keys.yml")) as handle:
        publish = [t for t in yaml.safe_load(handle) if "ansible.builtin.set_fact" in t]
    assert len(publish) == 1
    tasks = []
    for index, (_label, change) in enumerate(CASES):
        tasks.append(dict(publish[0], vars=dict(BASE, **change)))
        tasks.append({"ansible.builtin.set_fact": {
            "r_%d" % index: {"token": "{{ kdump_dump_server_proof_token }}",
                             "keys": "{{ kdump_dump_server_host_keys }}"}}})
    tasks.append({"ansible.builtin.copy": {
        "content": "{{ [%s] | to_json }}" % ", ".join("r_%d" % i for i in range(len(CASES))),
        "dest": str(tmp_path / "results.json"), "mode": "0600"}})
    # the role's files/ (the receiver program the token covers)
    os.symlink(os.path.join(REPO, "roles", "dump_server", "files"), str(tmp_path / "files"))
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": tasks}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=TREE, ANSIBLE_NOCOLOR="1", ANSIBLE_HOME=str(tmp_path / "home"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"), ANSIBLE_RETRY_FILES_ENABLED="False",
               ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    env.pop("ANSIBLE_CONFIG", None)
    result = subprocess.run([ANSIBLE_PLAYBOOK, str(tmp_path / "play.yml")], cwd=str(tmp_path), env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    found = dict(zip([case[0] for case in CASES], json.loads((tmp_path / "results.json").read_text())))

    base = found["base"]["token"]
    assert len(base) == 64 and int(base, 16) >= 0
    assert found["base"]["keys"] == ["ssh-ed25519 AAAAC3Nz"]
    # the same state gives the same token, whether this run wrote the file or not
    assert found["same, and the file was rewritten"]["token"] == base
    assert found["another host key comment"]["token"] == base
    for label in ("another authorized_keys", "another interpreter", "another dump root", "another account"):
        assert found[label]["token"] != base, label
    assert len({found[label]["token"] for label in found}) == 5
