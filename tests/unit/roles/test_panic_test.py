# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The panic_test playbook's guards and its failure path, with the real ansible-playbook.

Nothing here can crash this machine:

* every run against localhost (connection local) is in check mode AND lacks at least one
  other guard (pilot group or confirmation); the role also refuses local connections, and
  ``run_playbook`` itself refuses to start a run that targets a local connection with the
  confirmation set;
* the confirmed runs target ssh on a loopback port that this test process holds bound and never
  listens on (the kernel refuses every connection to it, and nothing else can take the port
  while the tests run), as a user that does not exist, so the first task that touches "the
  host" fails to connect; they check that the failure path writes the fail record and the
  report and stops the rollout. No traffic leaves loopback.
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
PLAYBOOK = os.path.join(REPO, "playbooks", "panic_test.yml")
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
_CLOSED = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
_CLOSED.bind(("127.0.0.1", 0))  # bound, never listening: connections to it are refused
UNROUTABLE = "ansible_host=127.0.0.1 ansible_port=%d ansible_connection=ssh ansible_user=crashkit-nobody" % (
    _CLOSED.getsockname()[1])
CONFIRM = "yes-crash-it"


def run_playbook(tmp_path, inventory, extra_vars, check, playbook=PLAYBOOK):
    if "ansible_connection=local" in inventory and extra_vars.get("kdump_panic_confirm") == CONFIRM:
        raise AssertionError("refusing to run a confirmed panic test against a local connection")
    if "ansible_connection=local" in inventory and not check:
        raise AssertionError("runs against localhost must be in check mode")
    (tmp_path / "inventory").write_text(inventory)
    extra_vars = dict(extra_vars, kdump_panic_report_dir=str(tmp_path / "results"))
    cmd = [ANSIBLE_PLAYBOOK, "-i", str(tmp_path / "inventory"), playbook, "-e", json.dumps(extra_vars)]
    if check:
        cmd.append("--check")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=TREE, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_HOME=str(tmp_path / "ansible-home"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"), ANSIBLE_RETRY_FILES_ENABLED="False",
               ANSIBLE_SSH_ARGS="-o ConnectTimeout=3 -o ControlMaster=no", PWD=str(tmp_path))
    env.pop("ANSIBLE_CONFIG", None)
    result = subprocess.run(cmd, cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=600, check=False)
    return result.returncode, result.stdout + result.stderr


def refusal(output):
    for line in output.splitlines():
        if '"msg": "Refusing to crash' in line:
            return json.loads(line[line.index("{"):])["msg"]
    raise AssertionError("no refusal in:\n" + output)


GROUP = "it is not in the pilot group kdump_pilot (its groups: webservers)"
CONFIRMATION = "the crash is not confirmed: set kdump_panic_confirm=yes-crash-it"
LOCAL = "its connection is local: it is the machine running Ansible"


def assert_nothing_ran(tmp_path, output):
    assert "Ask kdump_info" not in output
    assert "sysrq" not in output.replace("Refusing", "")
    assert not (tmp_path / "results").exists()


def test_refuses_a_host_outside_the_pilot_group(tmp_path):
    rc, output = run_playbook(tmp_path, "[webservers]\nlocalhost ansible_connection=local\n\n[kdump_pilot]\n",
                              {"kdump_panic_hosts": "webservers"}, check=True)
    assert rc == 2
    assert refusal(output) == ("Refusing to crash localhost: %s; %s; %s. Nothing was done to the host."
                               % (GROUP, CONFIRMATION, LOCAL))
    assert_nothing_ran(tmp_path, output)


@pytest.mark.parametrize("extra", [{}, {"kdump_panic_confirm": "yes"}, {"kdump_panic_confirm": "YES-CRASH-IT"}])
def test_refuses_an_unconfirmed_pilot(tmp_path, extra):
    rc, output = run_playbook(tmp_path, "[kdump_pilot]\nlocalhost ansible_connection=local\n", extra, check=True)
    assert rc == 2
    assert refusal(output) == "Refusing to crash localhost: %s; %s. Nothing was done to the host." % (CONFIRMATION, LOCAL)
    assert_nothing_ran(tmp_path, output)


def test_custom_pilot_group(tmp_path):
    rc, output = run_playbook(tmp_path, "[canary]\nlocalhost ansible_connection=local\n",
                              {"kdump_panic_group": "canary"}, check=True)
    assert rc == 2
    msg = refusal(output)
    assert "pilot group" not in msg
    assert CONFIRMATION in msg
    assert_nothing_ran(tmp_path, output)


def test_refuses_an_ssh_target_without_a_dump_server(tmp_path):
    rc, output = run_playbook(tmp_path, "[kdump_pilot]\npilot1 %s\n" % UNROUTABLE,
                              {"kdump_panic_confirm": CONFIRM, "kdump_target": {"type": "ssh", "path": "/var/crash"}},
                              check=True)
    assert rc == 2
    assert refusal(output) == ("Refusing to crash pilot1: kdump_target is ssh but kdump_dump_server_host is not set."
                               " Nothing was done to the host.")
    assert_nothing_ran(tmp_path, output)


def test_unreachable_pilot_gets_a_fail_record_and_stops_the_rollout(tmp_path):
    inventory = "[kdump_pilot]\npilot1 %s\npilot2 %s\n" % (UNROUTABLE, UNROUTABLE)
    rc, output = run_playbook(tmp_path, inventory, {"kdump_panic_confirm": CONFIRM, "kdump_panic_run_id": "run1"},
                              check=False)
    assert rc == 2
    # serial 1 and max_fail_percentage 0: pilot2 is never started
    assert "pilot2" not in output
    run = tmp_path / "results" / "run1"
    assert sorted(os.listdir(str(run / "hosts"))) == ["pilot1.json"]
    report = json.loads((run / "report.json").read_text())
    assert report["summary"] == {"hosts": 1, "passed": 0, "failed": 1, "result": "fail"}
    [host] = report["hosts"]
    assert host["host"] == "pilot1"
    assert host["status"] == "fail"
    assert host["reason"].startswith("unreachable: ")
    assert host["run_id"] == "run1"
    assert host["dump"] is None
    assert host["kdump_loaded_after"] is None  # never read: the host did not answer
    assert "<failure" in (run / "junit.xml").read_text()
    assert 'Panic test of pilot1 failed at "' in output


def test_a_failure_names_the_lean_captures_reason_from_the_hosts_note(tmp_path):
    """The rescue's message and the record carry the host's fallback note when it was written
    between the trigger and the return (set here as extra vars: this host never answers)."""
    reason = "kdumprecv@10.77.0.12 did not answer over ssh"
    note = {"saved_by": "kdump-tools", "fallback": reason, "time": 1716033640}
    extra = {"kdump_panic_confirm": CONFIRM, "kdump_panic_run_id": "run1",
             "__kdump_panic_host_after": {"capture_fallback": note},
             "__kdump_panic_trigger_time": 1716033600, "__kdump_panic_back_time": 1716033700}
    rc, output = run_playbook(tmp_path, "[kdump_pilot]\npilot1 %s\n" % UNROUTABLE, extra, check=False)
    assert rc == 2
    assert "(this crash's capture boot: the lean capture left the dump to kdump-tools: %s)" % reason in output
    [host] = json.loads((tmp_path / "results" / "run1" / "report.json").read_text())["hosts"]
    assert host["status"] == "fail" and host["lean_fallback"] == reason
    # an earlier crash's note (before this trigger) is not this one's reason
    extra["__kdump_panic_host_after"] = {"capture_fallback": dict(note, time=1716033599)}
    rc, output = run_playbook(tmp_path, "[kdump_pilot]\npilot1 %s\n" % UNROUTABLE, extra, check=False)
    assert rc == 2 and "the lean capture left" not in output
    [host] = json.loads((tmp_path / "results" / "run1" / "report.json").read_text())["hosts"]
    assert host["lean_fallback"] is None
    # what the host says is shown only as one line of printable text
    extra["__kdump_panic_host_after"] = {"capture_fallback": dict(note, fallback="\x1b[2J" + reason)}
    rc, output = run_playbook(tmp_path, "[kdump_pilot]\npilot1 %s\n" % UNROUTABLE, extra, check=False)
    assert rc == 2 and "the lean capture left" not in output


def test_parallel_batch_merges_every_record(tmp_path):
    """serial 2: both hosts run in one batch; each writes its record and the merge (throttle 1)
    ends with both. (A batch that fails entirely always ends the play, whatever
    max_fail_percentage says.)"""
    inventory = "[kdump_pilot]\npilot1 %s\npilot2 %s\n" % (UNROUTABLE, UNROUTABLE)
    rc, _output = run_playbook(tmp_path, inventory, {"kdump_panic_confirm": CONFIRM, "kdump_panic_run_id": "run2",
                                                     "kdump_panic_serial": 2}, check=False)
    assert rc == 2
    report = json.loads((tmp_path / "results" / "run2" / "report.json").read_text())
    assert [(h["host"], h["status"]) for h in report["hosts"]] == [("pilot1", "fail"), ("pilot2", "fail")]


TWO_PLAYS = """
- name: First panic test
  hosts: kdump_pilot
  gather_facts: false
  vars:
    kdump_panic_run_id: first
  tasks:
    - name: Run the role, keep going after its failure
      block:
        - name: Panic test
          ansible.builtin.include_role:
            name: crashkit.kdump.panic_test
      rescue:
        - name: Go on
          ansible.builtin.meta: clear_host_errors

- name: Second panic test
  hosts: kdump_pilot
  gather_facts: false
  vars:
    kdump_panic_run_id: second
  tasks:
    - name: Panic test
      ansible.builtin.include_role:
        name: crashkit.kdump.panic_test
"""


def test_two_panic_test_plays_keep_their_own_run_ids(tmp_path):
    """The run id chosen by the first play must not leak into the second one's report."""
    inventory = "[kdump_pilot]\npilot1 %s\n" % UNROUTABLE
    (tmp_path / "two.yml").write_text(TWO_PLAYS)
    rc, output = run_playbook(tmp_path, inventory, {"kdump_panic_confirm": CONFIRM}, check=False,
                              playbook=str(tmp_path / "two.yml"))
    assert rc == 2, output
    for run in ("first", "second"):
        report = json.loads((tmp_path / "results" / run / "report.json").read_text())
        assert [(h["host"], h["status"], h["run_id"]) for h in report["hosts"]] == [("pilot1", "fail", run)]


STALE_THEN_TEST = """
- name: What an earlier panic test of this host left behind in the same playbook run
  hosts: kdump_pilot
  gather_facts: false
  tasks:
    - name: Stale facts of an earlier test
      ansible.builtin.set_fact:
        __kdump_panic_dump: {path: /var/crash/old/dump.old, size: 1}
        __kdump_panic_boot_id_after: stale-boot-id
        __kdump_panic_back_time: 1

- name: A later panic test of the same host
  hosts: kdump_pilot
  gather_facts: false
  vars:
    kdump_panic_run_id: later
  tasks:
    - name: Panic test
      ansible.builtin.include_role:
        name: crashkit.kdump.panic_test
"""


def test_a_later_test_does_not_report_an_earlier_tests_dump(tmp_path):
    """Facts outlive a play: the later test's fail record must not carry the earlier dump."""
    inventory = "[kdump_pilot]\npilot1 %s\n" % UNROUTABLE
    (tmp_path / "stale.yml").write_text(STALE_THEN_TEST)
    rc, output = run_playbook(tmp_path, inventory, {"kdump_panic_confirm": CONFIRM}, check=False,
                              playbook=str(tmp_path / "stale.yml"))
    assert rc == 2, output
    [host] = json.loads((tmp_path / "results" / "later" / "report.json").read_text())["hosts"]
    assert host["status"] == "fail"
    assert host["dump"] is None
    assert host["boot_id_after"] is None
    assert host["back_time"] is None
