# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The crashkit.kdump.pipeline role, run for real (ansible-playbook, local connection): the one
file it writes carries the collection's module_utils byte for byte, a clean Python (without this
checkout on its path) imports the host-side programs' whole closure from it, and a second run
changes nothing."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import subprocess
import sys

from ansible_collections.crashkit.kdump.tests.unit.plugins.modules import test_vmcore_collect as tc

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
MODULE_UTILS = os.path.join(REPO, "plugins", "module_utils")


def run_role(tmp_path, write=True):
    play = tmp_path / "play.json"
    tasks = [{"ansible.builtin.include_role": {"name": "crashkit.kdump.pipeline"},
              "vars": {"kdump_pipeline_dir": str(tmp_path / "lib"), "kdump_pipeline_write": write}}]
    if not write:
        tasks.append({"ansible.builtin.copy": {"content": "{{ {'directories': kdump_pipeline_directories, "
                                                          "'files': kdump_pipeline_files} | to_json }}",
                                               "dest": str(tmp_path / "facts.json"), "mode": "0600"}})
    play.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    return tc.run(tmp_path, str(play))


def test_the_pipeline_file_carries_the_module_utils_and_imports_alone(tmp_path):
    rc, data = run_role(tmp_path)
    assert rc == 0, data["_output"]
    assert data["_changed_tasks"] == 2
    path = tmp_path / "lib" / "crashkit_pipeline.py"
    assert oct(os.stat(str(path)).st_mode & 0o777) == "0o644"
    code = ("import sys; sys.path[:] = [p for p in sys.path if 'crashkit' not in p and 'collections' not in p]; "
            "sys.path.insert(0, %r); import crashkit_pipeline, json; crashkit_pipeline.install(); "
            "from ansible_collections.crashkit.kdump.plugins.module_utils import _push, _ingest, _fleetstore; "
            "print(json.dumps({'sources': crashkit_pipeline.SOURCES, 'loaded': sorted(m for m in sys.modules "
            "if m.startswith(crashkit_pipeline.PREFIX + '.'))}))" % str(tmp_path / "lib"))
    proc = subprocess.run([sys.executable, "-I", "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          cwd=str(tmp_path), timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    out = json.loads(proc.stdout.decode())
    for name, encoded in out["sources"].items():
        with open(os.path.join(MODULE_UTILS, name + ".py"), "rb") as handle:
            assert base64.b64decode(encoded) == handle.read(), name
    # every module the programs import is carried, and nothing they do not need
    loaded = set(m.rpartition(".")[2] for m in out["loaded"])
    assert loaded == set(out["sources"]), sorted(set(out["sources"]) ^ loaded)
    # idempotent
    rc, data = run_role(tmp_path)
    assert rc == 0 and data["_changed_tasks"] == 0, data["_output"]


def test_without_writing_the_role_renders_the_same_file_for_the_callers_service_files_run(tmp_path):
    rc, data = run_role(tmp_path)
    assert rc == 0, data["_output"]
    written = (tmp_path / "lib" / "crashkit_pipeline.py").read_text()
    rc, data = run_role(tmp_path, write=False)
    assert rc == 0, data["_output"]
    facts = json.loads((tmp_path / "facts.json").read_text())
    assert facts["directories"] == [{"path": str(tmp_path / "lib"), "mode": "0755"}]
    [entry] = facts["files"]
    assert entry["path"] == str(tmp_path / "lib" / "crashkit_pipeline.py") and entry["mode"] == "0644"
    assert entry["content"] == written
