# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vmcore_report: the thin module around _fleetstore.write_store_report, and the playbook glue
(collect.yml's readiness of kdump clients and its set_stats summary, the panic_test role's)."""
from __future__ import absolute_import, division, print_function

import functools
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from ansible_collections.crashkit.kdump.plugins.module_utils import _fleetrender
from ansible_collections.crashkit.kdump.plugins.modules import vmcore_report
from ansible_collections.crashkit.kdump.tests.unit.plugins import module_run

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "unit", "plugins", "module_utils"))
import fleet_store  # noqa: E402

TREE = os.path.join(REPO, ".tmp", "collections")
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
NOW_ISH = 1780000000


run_module = functools.partial(module_run.run_module, vmcore_report)


def test_a_bad_crash_time_does_not_fail_the_fleet(tmp_path, capsys, monkeypatch):
    """Hardening finding 8: CRASHTIME=100000000000000000 in one manifest made the module fail for the
    whole fleet with "Value too large for defined data type"."""
    store = fleet_store.Store(tmp_path / "store")
    store.crash("web1-aaaaaaaaaaaa", "202405181200", "sysrq_debian12.log", 1716033600)
    store.crash("evil-bbbbbbbbbbbb", "202405181201", "sysrq_debian12.log", 100000000000000000)
    result = run_module(capsys, {"store": store.root})
    assert result["rc"] == 0, result
    report = result["report"]
    assert report["crashes"] == 1 and report["groups"][0]["hosts"] == ["web1-aaaaaaaaaaaa"]
    assert [f["source"] for f in report["failed"]] == ["evil-bbbbbbbbbbbb/202405181201"]
    assert "crash_time" in report["failed"][0]["error"] and "100000000000000000" in report["failed"][0]["error"]
    assert result["paths"] == [os.path.join(store.root, n) for n in ("report.json", "report.md", "report.html")]
    assert all(os.path.isfile(path) for path in result["paths"])
    assert [(c["host_id"], c["error"] is None) for c in result["crashes"]] == [
        ("evil-bbbbbbbbbbbb", False), ("web1-aaaaaaaaaaaa", True)]


def test_check_mode_and_diff(tmp_path, capsys, monkeypatch):
    store = fleet_store.Store(tmp_path / "store")
    store.crash("web1-aaaaaaaaaaaa", "202405181200", "sysrq_debian12.log", 1716033600)
    result = run_module(capsys, {"store": store.root}, check_mode=True, diff=True)
    assert result["rc"] == 0 and result["changed"] is True
    assert sorted(os.listdir(store.root)) == ["web1-aaaaaaaaaaaa"]
    assert [d["after_header"] for d in result["diff"]] == [
        os.path.join(store.root, "report.json"), os.path.join(store.root, "report.md")]
    result = run_module(capsys, {"store": store.root})
    assert result["changed"] is True and "diff" not in result and result["pages"] == 1
    result = run_module(capsys, {"store": store.root}, diff=True)
    assert result["changed"] is False and result["diff"][1]["before"] == result["diff"][1]["after"]


def test_missing_store_and_missing_jinja2(tmp_path, capsys, monkeypatch):
    result = run_module(capsys, {"store": str(tmp_path / "nowhere")})
    assert result["rc"] == 1 and "does not exist" in result["msg"]
    monkeypatch.setattr(_fleetrender, "HAS_JINJA2", False)
    monkeypatch.setattr(_fleetrender, "JINJA2_IMPORT_ERROR", ImportError("No module named 'jinja2'"))
    result = run_module(capsys, {"store": str(tmp_path)})
    assert result["rc"] == 1 and "jinja2" in result["msg"] and "python3-jinja2" in result["msg"]


def test_module_stays_thin():
    with open(vmcore_report.__file__) as handle:
        source = handle.read()
    code = source[source.index('RETURN = r"""'):]
    code = code[code.index('"""', 14) + 3:]
    lines = [line for line in code.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert len(lines) <= 60


# --- playbooks ------------------------------------------------------------------------------------

def readiness_expression():
    with open(os.path.join(REPO, "playbooks", "collect.yml")) as handle:
        plays = yaml.safe_load(handle)
    task = [t for t in plays[-1]["tasks"] if "crashkit.kdump.vmcore_report" in t][0]
    return task["vars"]["__kdump_readiness"]


INFO = {"ready": True, "problems": [], "crash_kernel": {"loaded": True, "reserved_mb": 192},
        "service": {"name": "kdump-tools", "active": "active"},
        "config": {"target": {"type": "ssh", "user": "kdumprecv", "host": "10.0.0.5", "path": "/srv/crash"}}}


@pytest.mark.parametrize("groups, listed", [
    pytest.param({"all": ["c1", "c2", "srv", "both"], "kdump_clients": ["c1", "c2", "both"],
                  "kdump_dump_servers": ["srv", "both"]}, ["c1", "c2", "both"], id="server-only-if-also-a-client"),
    pytest.param({"all": ["c1", "srv"], "kdump_dump_servers": ["srv"]}, ["c1"], id="no-client-group"),
    pytest.param({"all": ["h1", "h2"]}, ["h1", "h2"], id="no-groups-at-all"),
])
def test_collect_readiness_lists_kdump_clients(groups, listed):
    """collect.yml gives the report the readiness of kdump clients; a dump server only when it is a
    client itself (it runs kdump_info as a collected host, but would not be captured by kdump)."""
    from jinja2.nativetypes import NativeEnvironment
    hostvars = dict((h, {"__kdump_collect_info": INFO}) for h in groups["all"])
    value = NativeEnvironment().from_string(readiness_expression().strip()).render(groups=groups, hostvars=hostvars)
    assert [entry["host"] for entry in value] == listed
    assert value[0]["target"] == "ssh kdumprecv@10.0.0.5:/srv/crash"


def env_for(tmp_path):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=TREE, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
               ANSIBLE_RETRY_FILES_ENABLED="False", ANSIBLE_SHOW_CUSTOM_STATS="True", PWD=str(tmp_path))
    env.pop("ANSIBLE_CONFIG", None)
    return env


def custom_stats(output):
    found = re.search(r"CUSTOM STATS: \*+\n(.*?)(?:\n\n|\Z)", output, re.S)
    assert found, output
    stats = {}
    for line in found.group(1).strip().splitlines():
        key, _sep, value = line.strip().partition(": ")
        stats[key] = value
    return stats


@pytest.mark.controller  # runs ansible-playbook
def test_collect_publishes_its_summary(tmp_path):
    """The report play of collect.yml ends with set_stats: counts and report paths for AWX/AAP."""
    store = fleet_store.Store(tmp_path / "store")
    store.crash("web1-aaaaaaaaaaaa", "202405181200", "sysrq_debian12.log", 1716033600)
    store.crash("web1-aaaaaaaaaaaa", "202405181300", "sysrq_debian12.log", 10 ** 17)
    cmd = [ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable,
           "-e", json.dumps({"kdump_store_dir": store.root, "kdump_collect_hosts": "localhost",
                             "kdump_collect_src": str(tmp_path / "no-crashes-here"),
                             "kdump_collect_readiness": False, "kdump_collect_server_hosts": "none_at_all"}),
           os.path.join(REPO, "playbooks", "collect.yml")]
    done = subprocess.run(cmd, cwd=str(tmp_path), env=env_for(tmp_path), capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    stats = custom_stats(done.stdout)
    summary = json.loads(stats["RUN"])["crashkit_fleet_report"] if "RUN" in stats else None
    assert summary is not None, stats
    assert summary["html"] == os.path.join(store.root, "report.html")
    assert (int(summary["crashes"]), int(summary["signatures"]), int(summary["not_triaged"])) == (1, 1, 1)
    assert summary["hosts_not_ready"] == [] and summary["panic_tests_failed"] == []


@pytest.mark.controller  # runs ansible-playbook
def test_panic_test_role_publishes_each_hosts_result(tmp_path):
    """The panic_test role's report step adds each host's result to the run's set_stats."""
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("h1 ansible_connection=local\nh2 ansible_connection=local\n"
                         "localhost ansible_connection=local\n")
    play = tmp_path / "play.yml"
    play.write_text(yaml.safe_dump([
        {"hosts": "localhost", "gather_facts": False,
         "tasks": [{"ansible.builtin.set_fact": {"__kdump_panic_run_id": "run-1"}}]},
        {"hosts": "h1,h2", "gather_facts": False, "tasks": [{
            "ansible.builtin.include_role": {"name": "crashkit.kdump.panic_test", "tasks_from": "report.yml"},
            "vars": {"__kdump_panic_status": "{{ 'pass' if inventory_hostname == 'h1' else 'fail' }}",
                     "__kdump_panic_reason": "{{ '' if inventory_hostname == 'h1' else 'no dump' }}",
                     "__kdump_panic_step": "", "kdump_panic_report_dir": str(tmp_path / "results"),
                     "ansible_python_interpreter": sys.executable}}]},
    ]))
    done = subprocess.run([ANSIBLE_PLAYBOOK, "-i", str(inventory), str(play)], cwd=str(tmp_path),
                          env=env_for(tmp_path), capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    run = json.loads(custom_stats(done.stdout)["RUN"])
    assert run["crashkit_panic_test"]["hosts"] == {"h1": "pass", "h2": "fail"}
    assert run["crashkit_panic_test"]["junit"] == str(tmp_path / "results" / "run-1" / "junit.xml")
    assert (run["crashkit_panic_test_passed"], run["crashkit_panic_test_failed"]) == (["h1"], ["h2"])
    assert os.path.isfile(str(tmp_path / "results" / "run-1" / "report.json"))
