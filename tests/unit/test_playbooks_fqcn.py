# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every playbook of the collection resolves by its FQCN (``ansible-playbook crashkit.kdump.<name>``),
roles and modules included, as it does once the collection is installed."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import sys

import pytest

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TREE = os.path.join(REPO, ".tmp", "collections")
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
PLAYBOOKS = sorted(os.path.splitext(name)[0] for name in os.listdir(os.path.join(REPO, "playbooks"))
                   if name.endswith(".yml"))


def test_the_playbooks_are_there():
    assert {"kdump_setup", "panic_test", "collect"} <= set(PLAYBOOKS)


@pytest.mark.parametrize("name", PLAYBOOKS)
def test_playbook_runs_by_fqcn(tmp_path, name):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=TREE, ANSIBLE_NOCOLOR="1", ANSIBLE_HOME=str(tmp_path / "home"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    env.pop("ANSIBLE_CONFIG", None)
    result = subprocess.run([ANSIBLE_PLAYBOOK, "-i", "localhost,", "--syntax-check", "crashkit.kdump.%s" % name],
                            cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "playbook: " in result.stdout
