# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The roles' crashkit.kdump.service_files tasks, taken from the role files as they are and run by
the real ansible-playbook in check mode on this machine (nothing is written): their arguments
render (the per-client directories, the programs with the host's interpreter, the units), and
the module accepts them."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

import yaml

from ansible_collections.crashkit.kdump.plugins.module_utils import _push

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
TREE = os.path.join(REPO, ".tmp", "collections")
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")


def service_files_tasks(role, task_file):
    with open(os.path.join(REPO, "roles", role, "tasks", task_file)) as handle:
        tasks = yaml.safe_load(handle)
    found = [task for task in tasks if "crashkit.kdump.service_files" in task]
    assert found, "no service_files task in %s/%s" % (role, task_file)
    return found


def run(tmp_path, role, task_files, extra, family_vars=()):
    # the real pipeline role renders what the service_files runs write with it
    tasks = [{"ansible.builtin.include_role": {"name": "crashkit.kdump.pipeline"},
              "vars": {"kdump_pipeline_dir": "/usr/local/lib/crashkit", "kdump_pipeline_write": False}}]
    for name in task_files:
        tasks.extend(service_files_tasks(role, name))
    for task in tasks[1:]:
        task["register"] = "r_%d" % tasks.index(task)
    tasks.append({"name": "Results", "ansible.builtin.copy": {
        "content": "{{ [%s] | to_json }}" % ", ".join("r_%d" % i for i in range(1, len(tasks))),
        "dest": str(tmp_path / "results.json"), "mode": "0600"}, "check_mode": False})
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars_files": [os.path.join(REPO, "roles", role, "defaults", "main.yml"),
                            os.path.join(REPO, "roles", role, "vars", "main.yml")]
             + [os.path.join(REPO, "roles", role, "vars", name) for name in family_vars],
             "tasks": tasks}]
    for sub in ("files", "templates"):
        os.symlink(os.path.join(REPO, "roles", role, sub), str(tmp_path / sub))
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=TREE, ANSIBLE_NOCOLOR="1", ANSIBLE_HOME=str(tmp_path / "home"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"), ANSIBLE_RETRY_FILES_ENABLED="False",
               ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
    env.pop("ANSIBLE_CONFIG", None)
    result = subprocess.run([ANSIBLE_PLAYBOOK, "--check", str(tmp_path / "play.yml"), "-e", json.dumps(extra)],
                            cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads((tmp_path / "results.json").read_text())


def test_dump_server_tasks_render_every_client_directory_program_and_unit(tmp_path):
    root = str(tmp_path / "srv" / "crash")
    results = run(tmp_path, "dump_server", ["main.yml", "ingest.yml"], {
        "kdump_dump_server_clients": [{"host_id": "web1"}, {"host_id": "db-2.example"}],
        "kdump_dump_server_root": root, "kdump_dump_server_store": str(tmp_path / "store"),
        "kdump_dump_server_python": "/opt/py/bin/python3", "ansible_facts": {}})
    main, ingest = results
    assert [root, root + "/web1", root + "/db-2.example"] == [p for p in main["directories"] if p.startswith(root)]
    assert "/usr/local/libexec/crashkit-dump-receiver" in main["files"]
    assert "/etc/systemd/system/crashkit-dump-retention.timer" in main["files"]
    assert main["units"]["start"] == ["crashkit-dump-retention.timer"]
    assert "/usr/local/libexec/crashkit-ingest" in ingest["files"]
    assert "/usr/local/lib/crashkit/crashkit_pipeline.py" in ingest["files"]
    assert "/etc/systemd/system/crashkit-hook.service" in ingest["files"]
    assert sorted(ingest["units"]["start"]) == sorted(["crashkit-ingest.path", "crashkit-ingest.timer",
                                                       "crashkit-hook.path", "crashkit-hook.timer"])
    assert not os.path.exists(root), "check mode wrote the dump root"
    diff = {entry["after_header"]: entry["after"] for entry in main["diff"]}
    assert diff["/usr/local/libexec/crashkit-dump-receiver"].startswith("#!/opt/py/bin/python3\n")
    assert diff["/usr/local/libexec/crashkit-dump-receiver"].count("\n#!") == 0  # the file's own shebang replaced
    assert "[Timer]" in diff["/etc/systemd/system/crashkit-dump-retention.timer"]


def test_evidence_task_renders_the_program_its_configuration_and_units(tmp_path):
    (results,) = run(tmp_path, "setup", ["evidence.yml"], {
        "__kdump_evidence_python": "/usr/bin/python3", "__kdump_evidence_key": {"path": "/root/.ssh/kdump_id_ed25519"},
        "__kdump_evidence_address": "192.0.2.7", "kdump_dump_server_host": "dumps.example"},
        family_vars=["Debian.yml"])
    assert "/usr/local/libexec/crashkit-evidence" in results["files"]
    assert "/usr/local/lib/crashkit/crashkit_pipeline.py" in results["files"]
    assert "/etc/systemd/system/crashkit-evidence.timer" in results["files"]
    diff = {entry["after_header"]: entry["after"] for entry in results["diff"]}
    config = [text for path, text in diff.items() if path.endswith(".json")]
    assert config and "192.0.2.7" in config[0]
    # the role's configuration is one the service accepts, with the role's defaults
    loaded = json.loads(config[0])
    assert loaded["retry_max_seconds"] == 3600 and loaded["since_days"] == 30
    (tmp_path / "evidence.json").write_text(config[0])
    assert _push.load_config(str(tmp_path / "evidence.json"))["server"] == "192.0.2.7"
    assert diff["/usr/local/libexec/crashkit-evidence"].startswith("#!/usr/bin/python3\n")
