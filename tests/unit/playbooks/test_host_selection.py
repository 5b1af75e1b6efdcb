# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host-selection rule of every playbook (playbooks/tasks/check_hosts.yml), with the real
ansible-playbook: an inventory without the playbook's group fails at once with rc != 0 and a
message naming the group and the variable; an inventory with it gets past the check.

Hosts in these inventories point at a loopback port this process holds bound and never listens
on: the first task that would touch one fails to connect (UNREACHABLE), so nothing runs anywhere
and a pass of the check is visible as that later, different failure.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import socket
import subprocess
import sys

import pytest

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
TREE = os.path.join(REPO, ".tmp", "collections")
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
_CLOSED = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
_CLOSED.bind(("127.0.0.1", 0))  # bound, never listening: connections to it are refused
NOWHERE = "ansible_host=127.0.0.1 ansible_port=%d ansible_connection=ssh ansible_user=crashkit-nobody" % (
    _CLOSED.getsockname()[1])
HINT = "(a group, host names, or a pattern such as 'webservers:&prod')."


def run(tmp_path, playbook, inventory, extra=None):
    (tmp_path / "inventory").write_text(inventory)
    cmd = [ANSIBLE_PLAYBOOK, "-i", str(tmp_path / "inventory"), os.path.join(REPO, "playbooks", playbook)]
    if extra:
        cmd += ["-e", json.dumps(extra)]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=TREE, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_HOME=str(tmp_path / "ansible-home"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"), ANSIBLE_RETRY_FILES_ENABLED="False",
               ANSIBLE_SSH_ARGS="-o ConnectTimeout=3 -o ControlMaster=no", PWD=str(tmp_path))
    env.pop("ANSIBLE_CONFIG", None)
    result = subprocess.run(cmd, cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, timeout=300, check=False)
    return result.returncode, result.stdout + result.stderr


def failure(output):
    """The message of the failed host-selection check (one JSON result line)."""
    marker = "fatal: [localhost]: FAILED! => "
    if marker not in output:
        raise AssertionError("the host-selection check did not fail:\n" + output)
    start = output.index(marker) + len(marker)
    result = json.JSONDecoder().raw_decode(output[start:])[0]  # one line or indented, by version
    return " ".join(result["msg"].split())


def expected(what, pattern, group, variable):
    return ("No %s: the host pattern '%s' matches no host of this inventory. Put those hosts in the inventory "
            "group %s, or give a host pattern with -e %s=<pattern> %s" % (what, pattern, group, variable, HINT))


WEB = "[webservers]\nweb1 %s\n" % NOWHERE


@pytest.mark.parametrize("playbook,extra,message", [
    ("kdump_setup.yml", None, expected("kdump clients to set up", "kdump_clients", "kdump_clients", "kdump_hosts")),
    ("kdump_setup.yml", {"kdump_hosts": "dbservers"},
     expected("kdump clients to set up", "dbservers", "kdump_clients", "kdump_hosts")),
    ("panic_test.yml", None, expected("pilot hosts to panic-test", "kdump_pilot", "kdump_pilot", "kdump_panic_hosts")),
    ("panic_test.yml", {"kdump_panic_group": "canary"},
     expected("pilot hosts to panic-test", "canary", "canary", "kdump_panic_hosts")),
    ("collect.yml", None, " ".join([
        expected("kdump clients to collect from", "kdump_clients", "kdump_clients", "kdump_hosts"),
        expected("dump servers to collect from", "kdump_dump_servers", "kdump_dump_servers",
                 "kdump_dump_server_hosts")])),
])
def test_an_inventory_without_the_group_fails_naming_what_to_set(tmp_path, playbook, extra, message):
    rc, output = run(tmp_path, playbook, WEB, extra)
    assert rc != 0, output
    assert failure(output) == message + " Nothing was done."
    assert "web1" not in output.split("PLAY RECAP")[0], output  # no play reached a host


@pytest.mark.parametrize("playbook,inventory,extra,selected", [
    ("kdump_setup.yml", "[kdump_clients]\nweb1 %s\n" % NOWHERE, None, "kdump clients to set up: 1 host(s) (kdump_clients)."),
    ("kdump_setup.yml", WEB, {"kdump_hosts": "webservers"}, "kdump clients to set up: 1 host(s) (webservers)."),
    ("panic_test.yml", WEB, {"kdump_panic_hosts": "webservers"}, "pilot hosts to panic-test: 1 host(s) (webservers)."),
    ("collect.yml", "[kdump_dump_servers]\nweb1 %s\n" % NOWHERE, None, "dump servers to collect from: 1 host(s) "
                                                                       "(kdump_dump_servers)."),
    ("collect.yml", WEB, {"kdump_collect_hosts": "web1"}, "kdump clients to collect from: 1 host(s) (web1)."),
])
def test_selected_hosts_get_past_the_check(tmp_path, playbook, inventory, extra, selected):
    rc, output = run(tmp_path, playbook, inventory, extra)
    assert selected in " ".join(output.split()), output
    # the next play reached for web1 (and could not connect: it is nowhere)
    assert "fatal: [web1]: UNREACHABLE!" in output or "fatal: [web1]: FAILED!" in output, output
    assert rc != 0
