# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dump_server role's authorized_keys: the whole file from the client list, or merged with the
clients written before (kdump_dump_server_keep_unlisted), rendered by the real ansible-playbook
from the role's own template and vars into a temporary file (nothing outside tmp_path is touched).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
ROLE = os.path.join(REPO, "roles", "dump_server")
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")

KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA crashkit-kdump@web1"
KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB crashkit-kdump@web2"
KEY_C = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC crashkit-kdump@db1"

PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars_files:
    - {role}/defaults/main.yml
    - {role}/vars/main.yml
  tasks:
    - name: Read the file written before
      ansible.builtin.slurp:
        src: "{{{{ out }}}}"
      register: __kdump_dump_server_old_keys
      failed_when: false
      when: kdump_dump_server_keep_unlisted | bool
    - name: Render
      ansible.builtin.template:
        src: {role}/templates/authorized_keys.j2
        dest: "{{{{ out }}}}"
        mode: "0600"
"""


def render(tmp_path, clients, keep=False, revoke=()):
    play = tmp_path / "play.yml"
    play.write_text(PLAY.format(role=ROLE))
    extra = {"out": str(tmp_path / "authorized_keys"), "kdump_dump_server_clients": clients,
             "kdump_dump_server_keep_unlisted": keep, "kdump_dump_server_revoke": list(revoke),
             "kdump_dump_server_python": "/usr/bin/python3"}
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_HOME=str(tmp_path / "ansible-home"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"), ANSIBLE_RETRY_FILES_ENABLED="False",
               ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
    env.pop("ANSIBLE_CONFIG", None)
    result = subprocess.run([ANSIBLE_PLAYBOOK, str(play), "-e", json.dumps(extra)], cwd=str(tmp_path), env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return [line for line in (tmp_path / "authorized_keys").read_text().splitlines()
            if line and not line.startswith("#")]


def hosts(lines):
    return [line.split(" --host ")[1].split(" ")[0] for line in lines]


def client(host_id, key, frm=""):
    return {"host_id": host_id, "public_key": key, "from": frm}


def test_the_list_is_the_whole_file_by_default(tmp_path):
    render(tmp_path, [client("web1", KEY_A), client("web2", KEY_B)])
    lines = render(tmp_path, [client("web1", KEY_A)])
    assert hosts(lines) == ["web1"]


def test_keep_unlisted_keeps_other_clients_verbatim(tmp_path):
    first = render(tmp_path, [client("web1", KEY_A, "10.0.0.5"), client("db1", KEY_C, "10.0.0.7")])
    lines = render(tmp_path, [client("web2", KEY_B, "10.0.0.6")], keep=True)
    assert hosts(lines) == ["web2", "web1", "db1"]
    assert lines[1:] == first
    assert lines[0].startswith('restrict,from="10.0.0.6",command="/usr/bin/python3 ')
    # A second identical run is stable (idempotent content).
    assert render(tmp_path, [client("web2", KEY_B, "10.0.0.6")], keep=True) == lines


@pytest.mark.parametrize("revoke, expected", [
    (["db1"], ["web2", "web1"]),
    (["web1", "db1"], ["web2"]),
    ([], ["web2", "web1", "db1"]),
])
def test_revoke_removes_kept_clients(tmp_path, revoke, expected):
    render(tmp_path, [client("web1", KEY_A), client("db1", KEY_C)])
    assert hosts(render(tmp_path, [client("web2", KEY_B)], keep=True, revoke=revoke)) == expected


def test_a_listed_client_replaces_its_old_line(tmp_path):
    render(tmp_path, [client("web1", KEY_A, "10.0.0.5"), client("db1", KEY_C)])
    lines = render(tmp_path, [client("web1", KEY_B, "10.0.0.9")], keep=True)
    assert hosts(lines) == ["web1", "db1"]
    assert KEY_B in lines[0] and KEY_A not in "\n".join(lines)


def test_keep_unlisted_ignores_lines_the_role_did_not_write(tmp_path):
    (tmp_path / "authorized_keys").write_text(
        "# a comment\n" + KEY_A + "\n" + 'command="/bin/sh" ' + KEY_C + "\n")
    lines = render(tmp_path, [client("web2", KEY_B)], keep=True)
    assert hosts(lines) == ["web2"]
