# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vmcore_collect, vmcore_list, vmcore_bundle, vmcore_report and playbooks/collect.yml end to end,
with the real ansible-playbook against the local connection on temporary crash directories.

* checksums on both ends equal, manifest, second run changed=false, check mode copies nothing;
* ansible-playbook SIGKILLed (its whole process group) in the middle of a throttled copy leaves
  no file under its final name, and the rerun resumes the .part and ends with equal checksums;
* the connection transport (chunked, base64, through the connection plugin);
* retention in the store and on the host (dry run, then for real; only verified copies);
* the playbook: bundle, collect, triage of the store's copy, fleet report.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import hashlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import re
import time

import pytest

from ansible_collections.crashkit.kdump.plugins.module_utils import _store
from ansible_collections.crashkit.kdump.plugins.modules import vmcore_report
from ansible_collections.crashkit.kdump.tests.unit.plugins import module_run

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", ".."))
TREE = os.path.join(REPO, ".tmp", "collections")
FIXTURES = os.path.join(REPO, "tests", "unit", "fixtures")
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
STAMP = "202405181200"


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def make_crash(root, stamp=STAMP, big=4 * 1024 * 1024):
    crash = root / stamp
    crash.mkdir(parents=True)
    with gzip.open(os.path.join(FIXTURES, "vmcore", "makedumpfile-1.7.2-F-c-d1.flat.gz")) as src:
        data = src.read()
    # A real flattened dump followed by padding the parser ignores is still a dump name and size
    # large enough to interrupt; the padding is random so a wrong offset shows in the checksum.
    (crash / ("dump." + stamp)).write_bytes(data)
    shutil.copy(os.path.join(FIXTURES, "triage", "sysrq_debian12.log"), str(crash / ("dmesg." + stamp)))
    (crash / "big.bin").write_bytes(os.urandom(big))
    return crash


def env_for(tmp_path):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=TREE, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
               ANSIBLE_RETRY_FILES_ENABLED="False", PWD=str(tmp_path))
    env.pop("ANSIBLE_CONFIG", None)
    return env


def dump_task(tmp_path, expr):
    """A task that writes ``expr`` (JSON) to out.json, unchanged and also in check mode."""
    return {"ansible.builtin.copy": {"content": "{{ %s | to_json }}" % expr, "dest": str(tmp_path / "out.json")},
            "check_mode": False, "changed_when": False}


def playbook(tmp_path, tasks):
    path = tmp_path / "play.json"
    path.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False,
                                 "tasks": tasks + [dump_task(tmp_path, "r")]}]))
    return str(path)


def command(tmp_path, play, check=False, extra=None):
    cmd = [ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable,
           play]
    if extra:
        cmd += ["-e", json.dumps(extra)]
    if check:
        cmd.append("--check")
    return cmd


def run(tmp_path, play, check=False, extra=None):
    result = subprocess.run(command(tmp_path, play, check, extra), cwd=str(tmp_path), env=env_for(tmp_path),
                            capture_output=True, text=True, timeout=600, check=False)
    out = tmp_path / "out.json"
    data = json.loads(out.read_text()) if out.exists() else {}
    if out.exists():
        out.unlink()
    recap = re.search(r"^localhost\s+: ok=(\d+)\s+changed=(\d+)", result.stdout, re.M)
    if recap is None:
        raise AssertionError(result.stdout + result.stderr)
    data["_changed_tasks"] = int(recap.group(2))
    data["_output"] = result.stdout + result.stderr
    return result.returncode, data


def task_results(data):
    return [data]


def collect_task(tmp_path, **args):
    args.setdefault("src", str(tmp_path / "crash"))
    args.setdefault("store", str(tmp_path / "store"))
    return {"crashkit.kdump.vmcore_collect": args, "register": "r"}


def store_files(store):
    found = []
    for directory, _dirs, files in os.walk(str(store)):
        for name in files:
            found.append(os.path.relpath(os.path.join(directory, name), str(store)))
    return sorted(found)


def assert_store_matches(crash, crash_store):
    manifest = json.loads((crash_store / "manifest.json").read_text())
    assert sorted(f["path"] for f in manifest["files"]) == store_files(crash)
    for entry in manifest["files"]:
        assert entry["sha256"] == sha256(str(crash / entry["path"])) == sha256(str(crash_store / entry["path"]))
        assert entry["size"] == os.path.getsize(str(crash / entry["path"]))
    return manifest


def test_collect_verify_idempotent_and_check_mode(tmp_path):
    crash = make_crash(tmp_path / "crash")
    play = playbook(tmp_path, [collect_task(tmp_path, progress_mib=1)])
    rc, data = run(tmp_path, play, check=True)
    res = task_results(data)[0]
    assert rc == 0 and res["changed"] is True
    assert res["crashes"][0]["status"] == "would_copy"
    assert not (tmp_path / "store").exists()

    rc, data = run(tmp_path, play)
    res = task_results(data)[0]
    assert rc == 0 and res["changed"] is True and res["transport"] == "local"
    host_id = res["host_id"]
    assert host_id == res["host"]["host_id"] and "." not in host_id.split("-")[0]
    record = res["crashes"][0]
    assert record["status"] == "copied" and record["crash_id"] == STAMP
    assert record["bytes_copied"] == sum(os.path.getsize(str(crash / n)) for n in os.listdir(str(crash)))
    manifest = assert_store_matches(crash, tmp_path / "store" / host_id / STAMP)
    assert manifest["kernel_release"] == "6.1.0-18-amd64" and manifest["crash_time"] == 1716000000
    assert manifest["source_dir"] == str(crash)
    assert not [f for f in store_files(tmp_path / "store") if f.endswith((".part", ".part.json", ".tmp"))]

    rc, data = run(tmp_path, play)
    res = task_results(data)[0]
    assert rc == 0 and res["changed"] is False and res["crashes"][0]["status"] == "present"

    # A new file in the crash directory: only it is copied.
    (crash / "vmcore-dmesg.txt").write_text("extra\n")
    rc, data = run(tmp_path, play)
    res = task_results(data)[0]
    assert res["changed"] is True and res["crashes"][0]["files"] == ["vmcore-dmesg.txt"]
    assert_store_matches(crash, tmp_path / "store" / host_id / STAMP)


def test_left_out_directories_do_not_make_the_task_look_skipped(tmp_path):
    """A crash directory still being written (``dump-incomplete``) is left out and listed; the task
    that copied the complete one is reported changed, not skipped (a true ``skipped`` key in a
    result means "task skipped" to Ansible)."""
    make_crash(tmp_path / "crash")
    partial = tmp_path / "crash" / "202405181300"
    partial.mkdir()
    (partial / "dump-incomplete").write_bytes(b"\0" * 4096)
    play = tmp_path / "play.json"
    play.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [
        collect_task(tmp_path),
        {"crashkit.kdump.vmcore_list": {"path": str(tmp_path / "crash"), "checksum": False}, "register": "listed"},
        dump_task(tmp_path, "{'collected': r, 'listed': listed}")]}]))
    rc, data = run(tmp_path, str(play))
    assert rc == 0, data["_output"]
    for res in (data["collected"], data["listed"]):
        assert [s["name"] for s in res["skipped_crashes"]] == ["202405181300"]
        assert "temporary name" in res["skipped_crashes"][0]["reason"]
        assert "skipped" not in res
    assert [c["status"] for c in data["collected"]["crashes"]] == ["copied"]
    assert re.search(r"^changed: \[localhost\]", data["_output"], re.M), data["_output"]
    assert "skipping:" not in data["_output"]
    assert re.search(r"^localhost\s+: ok=\d+\s+changed=\d+\s+.*skipped=0", data["_output"], re.M)


def descendants(root):
    """PIDs of every process below ``root`` (from /proc), parents first."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(name))
    found, pending = [], [root]
    while pending:
        pid = pending.pop(0)
        for child in children.get(pid, []):
            found.append(child)
            pending.append(child)
    return found


def test_killed_mid_transfer_leaves_no_final_file_and_the_rerun_resumes(tmp_path):
    crash = make_crash(tmp_path / "crash", big=12 * 1024 * 1024)
    # 2 MiB/s: the 12 MiB file takes about 6 s, long enough to kill the run in the middle.
    play = playbook(tmp_path, [collect_task(tmp_path, bandwidth_limit=2048, progress_mib=1)])
    proc = subprocess.Popen(command(tmp_path, play), cwd=str(tmp_path), env=env_for(tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    part = None
    deadline = time.time() + 120
    while time.time() < deadline:
        parts = [f for f in store_files(tmp_path / "store") if f.endswith("big.bin.part")] \
            if (tmp_path / "store").exists() else []
        if parts and os.path.getsize(str(tmp_path / "store" / parts[0])) >= 3 * 1024 * 1024:
            part = parts[0]
            break
        time.sleep(0.1)
    # ansible-playbook's workers call setsid(): kill the whole tree, the worker doing the copy first.
    for pid in reversed(descendants(proc.pid)):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert part, "the copy never got under way"
    files = store_files(tmp_path / "store")
    host_id = part.split("/")[0]
    crash_store = tmp_path / "store" / host_id / STAMP
    assert not (crash_store / "big.bin").exists()
    assert not (crash_store / "manifest.json").exists()
    kept = os.path.getsize(str(crash_store / "big.bin.part"))
    assert 0 < kept < 12 * 1024 * 1024
    # Whatever does carry a final name is complete and verified.
    for name in files:
        if name.endswith(("dump." + STAMP, "dmesg." + STAMP)):
            assert sha256(str(tmp_path / "store" / name)) == sha256(str(crash / os.path.basename(name)))

    rc, data = run(tmp_path, playbook(tmp_path, [collect_task(tmp_path)]))
    res = task_results(data)[0]
    assert rc == 0, res["_output"]
    record = res["crashes"][0]
    assert record["status"] == "copied"
    assert record["resumed_bytes"] == kept
    assert_store_matches(crash, crash_store)
    assert not [f for f in store_files(tmp_path / "store") if f.endswith((".part", ".part.json"))]


def test_connection_transport(tmp_path):
    crash = make_crash(tmp_path / "crash", big=3 * 1024 * 1024 + 7)
    rc, data = run(tmp_path, playbook(tmp_path, [collect_task(tmp_path, transport="connection", chunk_mib=1)]))
    res = task_results(data)[0]
    assert rc == 0 and res["transport"] == "connection"
    assert_store_matches(crash, tmp_path / "store" / res["host_id"] / STAMP)


def test_retention_in_the_store_and_on_the_host(tmp_path):
    stamps = ("202401010000", "202402010000", "202403010000")
    crashes = [make_crash(tmp_path / "crash", stamp, big=1024) for stamp in stamps]
    for number, crash in enumerate(crashes):
        (crash / ("dump." + crash.name)).write_bytes(b"not a dump %d" % number)
        for path in crash.iterdir():
            os.utime(str(path), (1700000000 + number * 1000, 1700000000 + number * 1000))
    rc, data = run(tmp_path, playbook(tmp_path, [collect_task(tmp_path, keep_on_host=1, retention_dry_run=True)]))
    res = task_results(data)[0]
    assert rc == 0
    assert res["retention"]["dry_run"] is True
    assert [d["name"] for d in res["retention"]["host"]["drop"]] == ["202402010000", "202401010000"]
    assert all(c.exists() for c in crashes)

    # The store copy of one crash is damaged: the host keeps that crash.
    store = tmp_path / "store" / res["host_id"]
    (store / "202401010000" / "big.bin").write_bytes(b"x" * 1024)
    rc, data = run(tmp_path, playbook(tmp_path, [collect_task(tmp_path, keep_on_host=1)]))
    res = task_results(data)[0]
    assert rc == 0 and res["changed"] is True
    assert [d["name"] for d in res["retention"]["host"]["drop"]] == ["202402010000"]
    assert not crashes[1].exists() and crashes[0].exists() and crashes[2].exists()
    assert "does not match" in [k for k in res["retention"]["host"]["keep"] if k["name"] == "202401010000"][0]["reason"]

    rc, data = run(tmp_path, playbook(tmp_path, [collect_task(tmp_path, store_keep=1, verify_store=True)]))
    res = task_results(data)[0]
    assert rc == 0
    assert sorted(d["crash_id"] for d in res["retention"]["store"]["drop"]) == ["202401010000", "202402010000"]
    assert sorted(n for n in os.listdir(str(store)) if not n.startswith(".")) == ["202403010000"]


def test_playbook_bundles_collects_triages_and_reports(tmp_path):
    crash = make_crash(tmp_path / "crash", big=1024)
    extra = {"kdump_collect_src": str(tmp_path / "crash"), "kdump_store_dir": str(tmp_path / "store"),
             "kdump_change_id": "CHG-42", "kdump_change_text": "test change",
             "ansible_python_interpreter": sys.executable, "kdump_hosts": "localhost"}
    wrapper = tmp_path / "wrapper.json"
    wrapper.write_text(json.dumps([
        {"ansible.builtin.import_playbook": os.path.join(REPO, "playbooks", "collect.yml")},
        {"hosts": "localhost", "gather_facts": False,
         "tasks": [dump_task(tmp_path, "{'triage': kdump_collect_triage | default(none)}")]}]))
    play = str(wrapper)
    rc, data = run(tmp_path, play, extra=extra)
    assert rc == 0, data["_output"]
    facts = data["triage"]
    assert [(t["crash_id"], t["kind"], t["function"]) for t in facts] == [(STAMP, "sysrq", "sysrq_handle_crash")]
    host_id = [n for n in os.listdir(str(tmp_path / "store")) if not n.startswith("report")][0]
    crash_store = tmp_path / "store" / host_id / STAMP
    assert_store_matches(crash, crash_store)
    bundle = json.loads((crash_store / "crashkit-bundle" / "bundle.json").read_text())
    assert bundle["kernel_release"] == "6.1.0-18-amd64"
    assert bundle["build_id"] == "4c3d8b1f2a9e7d6c5b4a39281706f5e4d3c2b1a0"
    assert bundle["uptime_at_crash"] == 123.456901
    assert bundle["crashed_crashkernel"] == ["crashkernel=384M-:256M"]
    assert bundle["change"] == {"change_id": "CHG-42", "change_text": "test change"}
    assert bundle["triage"]["function"] == "sysrq_handle_crash"
    assert bundle["dumps"][0]["sha256"] == sha256(str(crash / ("dump." + STAMP)))
    assert "journal" in bundle["missing"] or (crash_store / "crashkit-bundle" / "journal.txt").exists()
    subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=str(crash_store / "crashkit-bundle"), check=True)
    assert (crash_store / "crashkit-bundle.tar.gz").exists()
    report = json.loads((tmp_path / "store" / "report.json").read_text())
    assert report["crashes"] == 1 and report["groups"][0]["function"] == "sysrq_handle_crash"
    assert "sysrq_handle_crash" in (tmp_path / "store" / "report.md").read_text()

    rc, data = run(tmp_path, play, extra=extra)
    assert rc == 0 and data["_changed_tasks"] == 0, data["_output"]

    rc, data = run(tmp_path, play, check=True, extra=extra)
    assert rc == 0 and data["_changed_tasks"] == 0, data["_output"]


@pytest.mark.parametrize("args, message", [
    ({"chunk_mib": 0}, "chunk_mib must be at least 1"),
    ({"transport": "ssh"}, "does not fit the connection"),
    ({"store_keep": 0}, "at least 1"),
])
def test_bad_options(tmp_path, args, message):
    make_crash(tmp_path / "crash", big=10)
    rc, data = run(tmp_path, playbook(tmp_path, [collect_task(tmp_path, **args)]))
    assert rc == 2 and message in data["_output"]


# vmcore_report: per-host readiness (option readiness) and the latest panic test of each host
# (option panic_results: <dir>/<run id>/hosts/<host>.json as roles/panic_test writes them).

RUN_A, RUN_B = "20240518T120000", "20240601T090000"


def panic_record(host, run_id, status, finished, reason=None):
    return {
        "host": host, "status": status, "reason": reason, "step": None if status == "pass" else "Crash the host",
        "run_id": run_id, "test_id": "%s-%s-k3x9q2mz" % (host, run_id), "kernel_release": "6.1.0-18-amd64",
        "boot_id_before": "4f1c6a0e-8d8e-4b8f-9a51-3b1c2d7e9f00", "boot_id_after": None,
        "started": finished - 130, "trigger_time": finished - 120, "trigger_delay": 3,
        "back_time": finished - 20 if status == "pass" else None, "finished": finished,
        "dump": {"path": "/srv/crash/%s/202405181200/dump.202405181200" % host, "host": "dumpsrv1",
                 "size": 48234496, "format": "flattened", "inner_format": "kdump_compressed",
                 "mtime": finished - 70, "kernel_release": "6.1.0-18-amd64", "crash_time": finished - 117,
                 "dmesg_path": None, "dmesg_match": True} if status == "pass" else None,
    }


def write_panic_results(root):
    files = {
        RUN_A + "/hosts/web1.json": json.dumps(panic_record("web1", RUN_A, "fail", 1716033720, "no dump appeared")),
        RUN_B + "/hosts/web1.json": json.dumps(panic_record("web1", RUN_B, "pass", 1717232520)),
        RUN_B + "/hosts/lab7.json": json.dumps(panic_record("lab7", RUN_B, "fail", 1717232410, "unreachable: timeout")),
        RUN_B + "/hosts/broken.json": '{"host": "broken", "status": ',
    }
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return str(root)


READINESS = [
    {"host": "web1", "loaded": True, "reserved_mb": 144, "service": "kdump-tools", "service_active": True,
     "target": "ssh kdumprecv@10.0.0.5:/var/crash", "ready": True, "problems": []},
    {"host": "db1", "loaded": False, "reserved_mb": 0, "service": "kdump", "service_active": False,
     "target": "local /var/crash", "ready": False, "problems": ["No memory is reserved for the crash kernel."]},
]


run_report_module = functools.partial(module_run.run_module, vmcore_report)


@pytest.mark.parametrize("panic, readiness, rows, unreadable, md_lines", [
    pytest.param("results", READINESS, {
        "db1": (False, None, None),
        "lab7": (None, "fail", RUN_B),
        "web1": (True, "pass", RUN_B),
    }, 1, [
        "| db1 | no | no | 0 | local /var/crash | - | - | - |",
        "| lab7 | - | - | - | - | fail | 2024-06-01T09:00:10Z | unreachable: timeout (step: Crash the host) |",
        "| web1 | yes | yes | 144 | ssh kdumprecv@10.0.0.5:/var/crash | pass | 2024-06-01T09:02:00Z "
        "| dump dumpsrv1:/srv/crash/web1/202405181200/dump.202405181200 (46.0 MiB) |",
        "- db1: No memory is reserved for the crash kernel.",
        "1 panic-test record could not be read (listed at the end).",
    ], id="readiness-and-panic-results"),
    pytest.param("missing", READINESS, {"db1": (False, None, None), "web1": (True, None, None)}, 0, [
        "| web1 | yes | yes | 144 | ssh kdumprecv@10.0.0.5:/var/crash | - | - | - |",
    ], id="missing-panic-results-directory"),
    pytest.param("results", None, {
        "lab7": (None, "fail", RUN_B), "web1": (None, "pass", RUN_B),
    }, 1, ["| lab7 | - | - | - | - | fail | 2024-06-01T09:00:10Z | unreachable: timeout (step: Crash the host) |"],
        id="panic-results-only"),
    pytest.param(None, None, {}, 0, [], id="neither"),
])
def test_report_module_hosts(tmp_path, capsys, monkeypatch, panic, readiness, rows, unreadable, md_lines):
    store = tmp_path / "store"
    store.mkdir()
    args = {"store": str(store)}
    if panic == "results":
        args["panic_results"] = write_panic_results(tmp_path / "panic-test-results")
    elif panic == "missing":
        args["panic_results"] = str(tmp_path / "panic-test-results")
    if readiness is not None:
        args["readiness"] = readiness

    result = run_report_module(capsys, args, check_mode=True)
    assert result["rc"] == 0 and result["changed"] is True, result
    assert not (store / "report.json").exists()

    result = run_report_module(capsys, args)
    assert result["rc"] == 0 and result["changed"] is True, result
    report = json.loads((store / "report.json").read_text())
    assert report == result["report"]
    assert (report["crashes"], report["groups"], report["failed"]) == (0, [], [])
    got = dict((row["host"], ((row["readiness"] or {}).get("ready"),
                              (row["panic_test"] or {}).get("status"),
                              (row["panic_test"] or {}).get("run_id"))) for row in report["hosts"])
    assert got == rows
    assert len(report["panic_tests"]["unreadable"]) == unreadable
    page = (store / "report.md").read_text().splitlines()
    for line in md_lines:
        assert line in page
    assert ("## Hosts" in page) == bool(rows)

    result = run_report_module(capsys, args)
    assert result["rc"] == 0 and result["changed"] is False


@pytest.mark.parametrize("readiness, message", [
    ([{"ready": True}], "readiness[0] needs the host name"),
    ([{"host": "web1", "reserved_mb": "lots"}], "readiness[0] (web1): reserved_mb must be a number >= 0"),
    ([{"host": "web1", "loaded": "perhaps"}], "readiness[0] (web1): loaded must be a boolean"),
])
def test_report_module_bad_readiness(tmp_path, capsys, monkeypatch, readiness, message):
    """An entry without a host is the playbook's mistake: the task fails. A wrong value in a host's
    entry is what that host reported: its readiness is unknown, with the reason; the task goes on."""
    store = tmp_path / "store"
    store.mkdir()
    result = run_report_module(capsys, {"store": str(store), "readiness": readiness})
    if "host" not in readiness[0]:
        assert result["rc"] == 1 and result["failed"] is True and message in result["msg"]
        assert os.listdir(str(store)) == []
        return
    assert result["rc"] == 0, result
    row = result["report"]["hosts"][0]
    assert row["host"] == "web1" and row["readiness"]["ready"] is None
    assert message in row["readiness"]["problems"][0]


def test_report_playbook_with_readiness_and_panic_results(tmp_path):
    """End to end with ansible-playbook: a collected crash, readiness built as the EXAMPLES do."""
    make_crash(tmp_path / "crash", big=1024)
    results = write_panic_results(tmp_path / "panic-test-results")
    readiness_fact = {"ansible.builtin.set_fact": {"kdump_readiness": {
        "host": "{{ inventory_hostname }}", "ready": "{{ info.ready }}", "problems": "{{ info.problems }}",
        "loaded": "{{ info.crash_kernel.loaded }}", "reserved_mb": "{{ info.crash_kernel.reserved_mb }}",
        "service": "{{ info.service.name }}", "service_active": "{{ info.service.active }}",
        "target": "{{ info.config.target }}"}},
        "vars": {"info": {"ready": False, "problems": ["No crash kernel is loaded."],
                          "crash_kernel": {"loaded": False, "reserved_mb": 0},
                          "service": {"name": "kdump-tools", "active": "inactive"},
                          "config": {"target": {"type": "local", "path": "/var/crash"}}}}}
    report_task = {"crashkit.kdump.vmcore_report": {
        "store": str(tmp_path / "store"), "panic_results": results,
        "readiness": "{{ ansible_play_hosts | map('extract', hostvars, 'kdump_readiness') | list }}"},
        "register": "r"}
    play = playbook(tmp_path, [collect_task(tmp_path), readiness_fact, report_task])
    rc, data = run(tmp_path, play)
    assert rc == 0, data["_output"]
    report = json.loads((tmp_path / "store" / "report.json").read_text())
    assert report == data["report"]
    assert report["crashes"] == 1 and report["groups"][0]["function"] == "sysrq_handle_crash"
    rows = dict((row["host"], row) for row in report["hosts"])
    assert sorted(rows) == ["lab7", "localhost", "web1"]
    assert rows["localhost"]["readiness"] == {
        "ready": False, "loaded": False, "reserved_mb": 0, "service": "kdump-tools", "service_active": False,
        "target": "local /var/crash", "problems": ["No crash kernel is loaded."]}
    assert rows["localhost"]["panic_test"] is None
    assert rows["web1"]["readiness"] is None and rows["web1"]["panic_test"]["status"] == "pass"
    assert rows["web1"]["panic_test"]["source"] == RUN_B + "/hosts/web1.json"
    page = (tmp_path / "store" / "report.md").read_text().splitlines()
    assert "| localhost | no | no | 0 | local /var/crash | - | - | - |" in page
    assert "- localhost: No crash kernel is loaded." in page

    rc, data = run(tmp_path, play)
    assert rc == 0 and data["changed"] is False, data["_output"]


def test_playbook_collects_only_host_directories_of_a_servers_ingest_store(tmp_path):
    """collect.yml on a dump server with the zero-touch ingest collects the server's store: its
    host directories only, not the report's own pages (report.d) beside them."""
    server_store = tmp_path / "server-store"
    make_crash(server_store / "web1", big=1024)
    (server_store / "report.d" / "web1").mkdir(parents=True)
    (server_store / "report.d" / "web1" / "index.html").write_text("<html></html>\n")
    # every name the store reserves for itself (collect.yml keeps its own copy of the list)
    for name in sorted(_store.RESERVED_NAMES | {"report"}):
        (server_store / name).mkdir()
    (server_store / "report.html").write_text("<html></html>\n")
    extra = {"kdump_store_dir": str(tmp_path / "store"), "kdump_collect_hosts": "none_at_all",
             "kdump_collect_server_hosts": "localhost", "kdump_dump_server_store": str(server_store),
             "ansible_python_interpreter": sys.executable}
    wrapper = tmp_path / "wrapper.json"
    wrapper.write_text(json.dumps([
        {"ansible.builtin.import_playbook": os.path.join(REPO, "playbooks", "collect.yml")},
        {"hosts": "localhost", "gather_facts": False,
         "tasks": [dump_task(tmp_path, "{'triage': kdump_collect_triage | default(none)}")]}]))
    rc, data = run(tmp_path, str(wrapper), extra=extra)
    assert rc == 0, data["_output"]
    assert [(t["host_id"], t["crash_id"]) for t in data["triage"]] == [("web1", STAMP)]
    hosts = sorted(n for n in os.listdir(str(tmp_path / "store")) if not n.startswith("report."))
    assert hosts == ["web1"], (hosts, data["_output"])
    assert "(item=report.d)" not in data["_output"]
    assert not any("(item=%s)" % name in data["_output"] for name in _store.RESERVED_NAMES | {"report"})
