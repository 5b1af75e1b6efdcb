# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import json
import os
import re
import shutil
import time

import pytest

from ansible_collections.crashkit.kdump.plugins.module_utils import _fleetreport as fr
from ansible_collections.crashkit.kdump.plugins.module_utils import _fleetrender as rd
from ansible_collections.crashkit.kdump.plugins.module_utils import _triage as tr
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import ValidationError

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "triage")


def fixture(name):
    with io.open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


def record(name, **extra):
    result = tr.triage_text(fixture(name), keep_excerpt=False)
    result.update(extra)
    return result


@pytest.mark.parametrize("path, host, crash_time", [
    ("/var/crash/202405140312/dmesg.202405140312", None, "2024-05-14T03:12:00"),
    ("/srv/crash/web-07-202405140312/dmesg.202405140312", "web-07", "2024-05-14T03:12:00"),
    ("/srv/crash/10.0.0.7-202405140312/dmesg.202405140312", "10.0.0.7", "2024-05-14T03:12:00"),
    ("/var/crash/10.0.0.7-2024-05-14-03:12:45/vmcore-dmesg.txt", "10.0.0.7",
     "2024-05-14T03:12:45"),
    ("/var/crash/db01.example.com-2024-01-02-23:59:01/vmcore-dmesg.txt", "db01.example.com",
     "2024-01-02T23:59:01"),
    ("/tmp/some/where/kern.log", None, None),
    ("dmesg.txt", None, None),
])
def test_infer_origin(path, host, crash_time):
    assert fr.infer_origin(path) == (host, crash_time)


@pytest.fixture
def fleet():
    report = fr.FleetReport()
    report.add(record("sysrq_debian12.log"), host="web-01", crash_time="2024-03-01T10:00:00",
               source="/c/web-01/dmesg.1")
    report.add(record("sysrq_debian13.log"), host="web-02", crash_time="2024-02-01T10:00:00",
               source="/c/web-02/dmesg.1")
    report.add(record("sysrq_rhel7.log"), host="web-01", crash_time="2024-04-01T10:00:00",
               source="/c/web-01/dmesg.2")
    report.add(record("null_deref_module.log"), host="db-01", crash_time="2024-01-05T00:00:00",
               source="/c/db-01/dmesg.1")
    report.add(record("null_deref_module.log"), host="db-01", source="/c/db-01/dmesg.2")
    report.add(record("syslog_panic_on_warn.log"), source="/c/syslog/kern.log")
    report.add_failure("/c/web-03/dmesg.1", "no crash in 12 lines of kernel log")
    return report.report()


def test_groups_by_signature_biggest_first(fleet):
    assert fleet["crashes"] == 6
    assert fleet["signature_count"] == 3
    assert [(g["kind"], g["count"], g["host_count"]) for g in fleet["groups"]] == [
        ("sysrq", 3, 2), ("null_deref", 2, 1), ("warning", 1, 1)]
    assert fleet["host_count"] == 4


def test_group_details(fleet):
    sysrq, null_deref, warn = fleet["groups"]
    assert sysrq["hosts"] == ["web-01", "web-02"]
    assert sysrq["kernel_releases"] == ["3.10.0-1160.el7.x86_64", "6.1.0-56-amd64",
                                        "6.12.38+deb13-amd64"]
    assert (sysrq["first_seen"], sysrq["last_seen"]) == ("2024-02-01T10:00:00",
                                                         "2024-04-01T10:00:00")
    assert sysrq["function"] == "sysrq_handle_crash"
    assert sysrq["panic_reasons"] == [
        "sysrq triggered crash",
        "BUG: unable to handle kernel NULL pointer dereference at           (null)"]
    assert [e["source"] for e in sysrq["examples"]] == [
        "/c/web-01/dmesg.1", "/c/web-02/dmesg.1", "/c/web-01/dmesg.2"]
    assert (null_deref["function"], null_deref["module"]) == ("mydrv_fill_buffer", "mydrv")
    assert (null_deref["first_seen"], null_deref["last_seen"]) == ("2024-01-05T00:00:00",
                                                                   "2024-01-05T00:00:00")
    # Host and time from the log's own syslog prefix.
    assert warn["hosts"] == ["web-07"]
    assert warn["first_seen"] == "2024-05-14T03:12:45.118850+02:00"
    assert fleet["failed"] == [{"source": "/c/web-03/dmesg.1",
                                "error": "no crash in 12 lines of kernel log"}]


def test_examples_and_reasons_are_bounded():
    report = fr.FleetReport()
    for number in range(10):
        item = record("kill_init.log")
        item["panic_reason"] = "reason %d" % number
        report.add(item, host="h%d" % number, source="s%d" % number)
    group = report.report()["groups"][0]
    assert group["count"] == 10
    assert len(group["examples"]) == fr.EXAMPLES_PER_GROUP
    assert group["panic_reasons"] == ["reason %d" % n for n in range(fr.REASONS_PER_GROUP)]
    assert group["hosts"] == sorted("h%d" % n for n in range(10))


def test_build_report_uses_record_fields():
    report = fr.build_report([record("gpf.log", host="fw-1", source="a"),
                              record("gpf.log", host="fw-2", crash_time="2024-01-01T00:00:00")])
    group = report["groups"][0]
    assert (group["count"], group["hosts"], group["first_seen"]) == (
        2, ["fw-1", "fw-2"], "2024-01-01T00:00:00")


def _install(tmp_path, directory, name, source):
    target = tmp_path / directory
    target.mkdir(parents=True)
    shutil.copy(os.path.join(FIXTURES, source), str(target / name))
    return str(target / name)


def test_group_logs(tmp_path):
    paths = [
        _install(tmp_path, "web-01-202405140312", "dmesg.202405140312", "soft_lockup.log"),
        _install(tmp_path, "web-02-202405150101", "dmesg.202405150101", "soft_lockup.log"),
        _install(tmp_path, "10.0.0.9-2024-05-16-08:00:00", "vmcore-dmesg.txt", "soft_lockup.log"),
        _install(tmp_path, "202405170000", "dmesg.202405170000", "mce.log"),
    ]
    boot = tmp_path / "boot-only" / "dmesg.txt"
    boot.parent.mkdir()
    boot.write_text(u"[    0.000000] Linux version 6.1.0-18-amd64 (x) #1 SMP\n")
    report = fr.group_logs(paths + [("explicit-host", paths[3]), str(boot),
                                    str(tmp_path / "missing")])
    assert report["crashes"] == 5
    soft, mce = report["groups"]
    assert (soft["kind"], soft["count"]) == ("soft_lockup", 3)
    assert soft["hosts"] == ["10.0.0.9", "web-01", "web-02"]
    assert (soft["first_seen"], soft["last_seen"]) == ("2024-05-14T03:12:00",
                                                       "2024-05-16T08:00:00")
    assert (mce["kind"], mce["count"], mce["hosts"]) == ("mce", 2, ["explicit-host"])
    assert [f["source"] for f in report["failed"]] == [str(boot), str(tmp_path / "missing")]
    assert "no crash" in report["failed"][0]["error"]
    assert "cannot read" in report["failed"][1]["error"]


def test_markdown(fleet):
    page = rd.render_markdown(fleet, title="Crashes | March")
    lines = page.splitlines()
    assert lines[0] == "# Crashes \\| March"
    assert "6 crashes on 4 hosts, 3 distinct signatures." in lines
    assert "1 log could not be triaged (listed at the end)." in lines
    table = [line for line in lines if line.startswith("| ")]
    assert len(table) == 1 + 3
    assert table[0].startswith("| # | Signature | Kind | Function | Reason | Crashes |")
    sysrq = fleet["groups"][0]
    assert table[1] == (
        "| 1 | `%s` | sysrq | `sysrq_handle_crash` | sysrq triggered crash (+1 more) | 3 | 2 "
        "| 3.10.0-1160.el7.x86_64, 6.1.0-56-amd64, 6.12.38+deb13-amd64 | 2024-02-01T10:00:00 "
        "| 2024-04-01T10:00:00 |" % sysrq["signature"])
    assert table[2].split(" | ")[3] == "`mydrv_fill_buffer [mydrv]`"
    assert "## 2. null_deref in `mydrv_fill_buffer [mydrv]`" in lines
    assert "- Hosts: db-01" in lines
    assert "- Example: `/c/web-01/dmesg.2`" in lines
    assert "## Logs that could not be triaged" in lines
    assert "- `/c/web-03/dmesg.1`: no crash in 12 lines of kernel log" in lines


def test_markdown_escapes_table_cells():
    item = record("vfs_root.log", host="a|b")
    item["panic_reason"] = "weird | reason\nwith newline"
    page = rd.render_markdown(fr.build_report([item]))
    row = [line for line in page.splitlines() if line.startswith("| 1 |")][0]
    assert "weird \\| reason with newline" in row
    # Ten cells: the pipe of the reason is escaped and does not split a cell.
    assert len(re.split(r"(?<!\\)\|", row)) == 10 + 2
    assert "- Hosts: a\\|b" in page.splitlines()


def test_markdown_of_an_empty_report():
    page = rd.render_markdown(fr.FleetReport().report())
    assert "0 crashes on 0 hosts, 0 distinct signatures." in page
    assert "| # |" not in page


# Per-host readiness and the latest panic test (records as roles/panic_test/tasks/report.yml
# writes them: <results>/<run id>/hosts/<host>.json).

def panic_record(host, run_id, status="pass", started=1716033590, finished=1716033720, **extra):
    base = int(started) if isinstance(started, int) or (isinstance(started, str) and started.isdigit()) else None
    raw = {
        "host": host,
        "status": status,
        "reason": None if status == "pass" else "kdump is not ready on %s: no crash kernel loaded" % host,
        "step": None if status == "pass" else "Refuse when kdump is not ready",
        "run_id": run_id,
        "test_id": "%s-%s-abc12345" % (host, run_id),
        "kernel_release": "6.1.0-18-amd64",
        "boot_id_before": "4f1c6a0e-8d8e-4b8f-9a51-3b1c2d7e9f00",
        "boot_id_after": "a9e2b7c4-1d3f-4e6a-8b5c-7d9e0f1a2b3c" if status == "pass" else None,
        "started": started,
        "trigger_time": None if base is None else "%s" % (base + 10),
        "trigger_delay": "3",
        "back_time": None if status != "pass" or base is None else base + 110,
        "finished": finished,
        "dump": {
            "path": "/var/crash/10.0.0.7-202405181200/dump.202405181200",
            "host": "dumpsrv1",
            "size": 48234496,
            "format": "flattened",
            "inner_format": "kdump_compressed",
            "mtime": 1716033650.25,
            "kernel_release": "6.1.0-18-amd64",
            "crash_time": 1716033603,
            "dmesg_path": "/var/crash/10.0.0.7-202405181200/dmesg.202405181200",
            "dmesg_match": True,
        } if status == "pass" else None,
    }
    raw.update(extra)
    return raw


def write_results(root, files):
    """``files``: {relative path: JSON-able record, or bytes written as they are}."""
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(json.dumps(content, indent=2) + "\n")
    return str(root)


R1, R2, R3 = "20240518T120000", "20240601T090000", "20240602T080000"


@pytest.mark.parametrize("files, latest, records, unreadable", [
    pytest.param({}, {}, 0, [], id="empty-directory"),
    pytest.param({
        R1 + "/hosts/web1.json": panic_record("web1", R1, "fail", finished=1716033720),
        R2 + "/hosts/web1.json": panic_record("web1", R2, "pass", started=1717232400, finished=1717232520),
        R1 + "/hosts/db1.json": panic_record("db1", R1, "pass"),
    }, {"web1": ("pass", R2), "db1": ("pass", R1)}, 3, [], id="latest-run-wins-per-host"),
    pytest.param({
        # An older run (by name) with the later finish time wins: times decide, not names.
        R1 + "/hosts/web1.json": panic_record("web1", R1, "fail", finished=1717999999),
        R2 + "/hosts/web1.json": panic_record("web1", R2, "pass", finished=1717232520),
    }, {"web1": ("fail", R1)}, 2, [], id="finished-time-not-run-name"),
    pytest.param({
        # As text "99" > "100"; as numbers 100 is later.
        R1 + "/hosts/web1.json": panic_record("web1", R1, "pass", started="10", finished="100"),
        R2 + "/hosts/web1.json": panic_record("web1", R2, "fail", started="10", finished="99"),
    }, {"web1": ("pass", R1)}, 2, [], id="times-as-text-compared-as-numbers"),
    pytest.param({
        R1 + "/hosts/web1.json": panic_record("web1", R1, "fail", started=200, finished=500),
        R2 + "/hosts/web1.json": panic_record("web1", R2, "pass", started=100, finished="500"),
    }, {"web1": ("fail", R1)}, 2, [], id="same-finish-later-start-wins"),
    pytest.param({
        R1 + "/hosts/web1.json": panic_record("web1", R1, "pass", started=100, finished=500),
        R2 + "/hosts/web1.json": panic_record("web1", R2, "fail", started=100, finished=500.0),
    }, {"web1": ("fail", R2)}, 2, [], id="full-tie-later-run-name-wins"),
    pytest.param({
        R1 + "/hosts/web1.json": panic_record("web1", R1, "pass", started=None, finished=1),
        R2 + "/hosts/web1.json": panic_record("web1", R2, "fail", started=5000, finished=None),
        R3 + "/hosts/web1.json": panic_record("web1", R3, "fail", started="soon", finished="later"),
    }, {"web1": ("pass", R1)}, 3, [], id="missing-or-bad-finish-is-oldest"),
    pytest.param({
        R1 + "/hosts/web1.json": panic_record("web1", R1, "pass"),
        R2 + "/hosts/web1.json": b"{\"host\": \"web1\", \"status\": \"pass\", \"finished\": 9",
        R2 + "/hosts/db1.json": b"",
        R2 + "/hosts/db2.json": b"[\"not\", \"an\", \"object\"]\n",
        R2 + "/hosts/db3.json": b"\xff\xfe{\"host\": \"db3\"}",
        R2 + "/hosts/db4.json": b"null\n",
        R2 + "/hosts/db5.json": b"[" * 100000 + b"]" * 100000,
        R3 + "/hosts/big.json": b"{\"host\": \"big\", \"pad\": \"" + b"x" * (1024 * 1024) + b"\"}",
    }, {"web1": ("pass", R1)}, 1,
        [R2 + "/hosts/db1.json", R2 + "/hosts/db2.json", R2 + "/hosts/db3.json", R2 + "/hosts/db4.json",
         R2 + "/hosts/db5.json", R2 + "/hosts/web1.json", R3 + "/hosts/big.json"],
        id="malformed-files-skipped-and-counted"),
    pytest.param({
        R1 + "/hosts/.web1.json.tmp": b"{",
        R1 + "/hosts/.hidden.json": b"{",
        R1 + "/hosts/notes.txt": b"{",
        R1 + "/report.json": {"schema": "crashkit.kdump/panic_test/1", "hosts": []},
        R1 + "/junit.xml": b"<testsuites/>",
        ".partial/hosts/web1.json": panic_record("web1", "x", finished=9999999999),
        "no-hosts-dir/web1.json": panic_record("web1", "x", finished=9999999999),
        "stray.json": panic_record("web1", "x", finished=9999999999),
        R2 + "/hosts/web1.json": panic_record("web1", R2, "pass"),
    }, {"web1": ("pass", R2)}, 1, [], id="other-files-ignored"),
    pytest.param({
        # The host comes from the record, else from the file name; malformed fields become null.
        R1 + "/hosts/web9.json": {"status": "refused", "reason": ["not", "text"], "finished": True,
                                  "started": float("inf"), "dump": ["not", "a", "mapping"]},
        R1 + "/hosts/file-name.json": panic_record(" web2 ", R1, "PASS", dump={"size": "48234496", "path": 7}),
    }, {"web9": ("refused", R1), "web2": ("pass", R1)}, 2, [], id="lenient-fields"),
])
def test_read_panic_results(tmp_path, files, latest, records, unreadable):
    directory = write_results(tmp_path / "panic-test-results", files)
    (tmp_path / "panic-test-results").mkdir(exist_ok=True)
    results = fr.read_panic_results(directory)
    assert {host: (r["status"], r["source"].split("/")[0]) for host, r in results["latest"].items()} == latest
    assert results["records"] == records
    assert sorted(u["source"] for u in results["unreadable"]) == sorted(unreadable)
    assert all(u["error"] for u in results["unreadable"])
    json.dumps(results, allow_nan=False)
    for host, found in results["latest"].items():
        assert found["host"] == host
        assert os.path.isfile(os.path.join(directory, found["source"]))


def test_panic_record_fields(tmp_path):
    directory = write_results(tmp_path, {
        R1 + "/hosts/web1.json": panic_record("web1", R1, "pass"),
        R1 + "/hosts/web2.json": panic_record("web2", R1, "fail", finished="1716033805"),
        R1 + "/hosts/web3.json": {"host": "web3", "status": "pass", "finished": "bad"},
    })
    latest = fr.read_panic_results(directory)["latest"]
    assert latest["web1"] == {
        "host": "web1", "status": "pass", "reason": None, "step": None, "run_id": R1,
        "test_id": "web1-%s-abc12345" % R1, "kernel_release": "6.1.0-18-amd64",
        "started": 1716033590, "trigger_time": 1716033600, "back_time": 1716033700,
        "finished": 1716033720, "when": "2024-05-18T12:02:00Z",
        "dump": {"path": "/var/crash/10.0.0.7-202405181200/dump.202405181200", "host": "dumpsrv1",
                 "format": "flattened", "kernel_release": "6.1.0-18-amd64", "size": 48234496,
                 "mtime": 1716033650.25, "crash_time": 1716033603},
        "source": R1 + "/hosts/web1.json",
    }
    assert (latest["web2"]["finished"], latest["web2"]["when"], latest["web2"]["dump"]) == (
        1716033805, "2024-05-18T12:03:25Z", None)
    assert latest["web2"]["reason"] == "kdump is not ready on web2: no crash kernel loaded"
    # No usable time at all: no "when".
    assert (latest["web3"]["finished"], latest["web3"]["when"]) == (None, None)


@pytest.mark.parametrize("make, unreadable", [
    pytest.param(lambda tmp: None, [], id="none"),
    pytest.param(lambda tmp: "", [], id="empty"),
    pytest.param(lambda tmp: str(tmp / "missing"), [], id="missing"),
    pytest.param(lambda tmp: (tmp / "file").write_text("x") and str(tmp / "file"), ["not a directory"],
                 id="a-file"),
])
def test_read_panic_results_without_a_directory(tmp_path, make, unreadable):
    results = fr.read_panic_results(make(tmp_path))
    assert (results["runs"], results["records"], results["latest"]) == (0, 0, {})
    assert [u["error"] for u in results["unreadable"]] == unreadable


READY = {"host": "web1", "loaded": True, "reserved_mb": 144, "service": "kdump-tools",
         "service_active": True, "target": "ssh kdumprecv@10.0.0.5:/var/crash", "ready": True,
         "problems": []}


@pytest.mark.parametrize("entries, expected", [
    pytest.param(None, [], id="none"),
    pytest.param([], [], id="empty"),
    pytest.param([READY], [dict(READY)], id="complete"),
    pytest.param([{"host": " db1 ", "extra": {"ignored": 1}}],
                 [{"host": "db1", "ready": None, "loaded": None, "reserved_mb": None, "service": None,
                   "service_active": None, "target": None, "problems": []}], id="host-only"),
    pytest.param([{"host": "db1", "ready": "False", "loaded": "yes", "reserved_mb": "256",
                   "service_active": "inactive", "problems": "No crash kernel is loaded."}],
                 [{"host": "db1", "ready": False, "loaded": True, "reserved_mb": 256, "service": None,
                   "service_active": False, "target": None, "problems": ["No crash kernel is loaded."]}],
                 id="text-values"),
    pytest.param([{"host": "db1", "service_active": "unknown", "ready": "", "loaded": "no",
                   "problems": [None, "", "Only 12 MiB are free in /var/crash."]}],
                 [{"host": "db1", "ready": None, "loaded": False, "reserved_mb": None, "service": None,
                   "service_active": None, "target": None, "problems": ["Only 12 MiB are free in /var/crash."]}],
                 id="unknown-values"),
    pytest.param([{"host": "db1", "service_active": "active", "reserved_mb": 0, "loaded": None,
                   "target": {"type": "ssh", "user": "kdumprecv", "host": "10.0.0.5", "path": "/var/crash",
                              "port": 22}}],
                 [{"host": "db1", "ready": None, "loaded": None, "reserved_mb": 0, "service": None,
                   "service_active": True, "target": "ssh kdumprecv@10.0.0.5:/var/crash", "problems": []}],
                 id="kdump-info-shapes"),
    pytest.param([{"host": "b", "target": {"type": "local", "path": "/var/crash"}},
                  {"host": "a", "target": {"type": "nfs", "host": "nas", "path": "/export"}},
                  {"host": "b", "target": {"type": "device", "device": "/dev/sdb1"}, "ready": 1}],
                 [{"host": "a", "ready": None, "loaded": None, "reserved_mb": None, "service": None,
                   "service_active": None, "target": "nfs nas:/export", "problems": []},
                  {"host": "b", "ready": True, "loaded": None, "reserved_mb": None, "service": None,
                   "service_active": None, "target": "device /dev/sdb1", "problems": []}],
                 id="sorted-last-entry-wins"),
])
def test_normalize_readiness(entries, expected):
    assert fr.normalize_readiness(entries) == expected


@pytest.mark.parametrize("entries, message", [
    ("web1", "readiness must be a list"),
    (["web1"], "readiness[0] must be a mapping"),
    ([READY, {"ready": True}], "readiness[1] needs the host name"),
    ([{"host": ""}], "readiness[0] needs the host name"),
    ([{"host": 7}], "readiness[0] needs the host name"),
])
def test_normalize_readiness_rejects(entries, message):
    """A list the playbook built wrong fails the report."""
    with pytest.raises(ValidationError) as info:
        fr.normalize_readiness(entries)
    assert message in str(info.value)


@pytest.mark.parametrize("entries, message", [
    ([{"host": "web1", "ready": "maybe"}], "readiness[0] (web1): ready must be a boolean"),
    ([{"host": "web1", "loaded": 2}], "readiness[0] (web1): loaded must be a boolean"),
    ([{"host": "web1", "reserved_mb": "lots"}], "reserved_mb must be a number >= 0"),
    ([{"host": "web1", "reserved_mb": -1}], "reserved_mb must be a number >= 0"),
    ([{"host": "web1", "reserved_mb": True}], "reserved_mb must be a number >= 0"),
    ([{"host": "web1", "service": {"name": "kdump"}}], "service must be text"),
    ([{"host": "web1", "target": ["ssh"]}], "target must be text or a mapping"),
    ([{"host": "web1", "problems": {"a": 1}}], "problems must be a list of texts"),
    ([{"host": "web1", "reserved_mb": 1e300}], "reserved_mb must be a number >= 0"),
    ([{"host": "web1", "loaded": "x" * 100000}], "loaded must be a boolean"),
])
def test_normalize_readiness_unusable_host(entries, message):
    """What one host reported is host data: a wrong type makes that host's readiness unknown, with
    the reason, and leaves the other hosts alone (it used to fail the whole report)."""
    rows = fr.normalize_readiness(entries + [READY])
    assert [row["host"] for row in rows] == ["web1"]      # READY (web1 again) is the last entry: it wins
    rows = fr.normalize_readiness([READY] + [dict(entries[0], host="bad1")])
    bad, good = rows
    assert good == READY
    assert bad["host"] == "bad1" and bad["ready"] is None and bad["loaded"] is None
    assert len(bad["problems"]) == 1
    assert bad["problems"][0].startswith("The readiness this host reported is not usable: readiness[1] (bad1)")
    assert message.replace("readiness[0] (web1)", "readiness[1] (bad1)") in bad["problems"][0]
    assert len(bad["problems"][0]) < fr.TEXT_MAX + 100


@pytest.fixture
def hosts_report(tmp_path):
    directory = write_results(tmp_path / "panic-test-results", {
        R1 + "/hosts/web1.json": panic_record("web1", R1, "fail", finished=1716033720),
        R2 + "/hosts/web1.json": panic_record("web1", R2, "pass", started=1717232400, finished=1717232520),
        R2 + "/hosts/lab|7.json": panic_record("lab|7", R2, "fail", started=1717232400, finished=1717232410,
                                               reason="unreachable: ssh | timeout\nafter 30 s"),
        R2 + "/hosts/broken.json": b"{",
    })
    readiness = [
        READY,
        {"host": "db1", "ready": False, "loaded": False, "reserved_mb": 0, "service": "kdump",
         "service_active": False, "target": "local /var/crash",
         "problems": ["No crash kernel is loaded (/sys/kernel/kexec_crash_loaded is 0): a panic now "
                      "would not be captured.", "No memory is reserved for the crash kernel."]},
    ]
    fleet = fr.FleetReport()
    fleet.add(record("sysrq_debian12.log"), host="web1", crash_time="2024-06-01T09:01:00", source="web1/1/dmesg")
    fleet.set_hosts(readiness, fr.read_panic_results(directory))
    return fleet.report()


@pytest.mark.parametrize("host, readiness, panic", [
    ("db1", {"ready": False, "loaded": False, "reserved_mb": 0}, None),          # only in readiness
    ("lab|7", None, {"status": "fail", "run_id": R2}),                           # only in panic tests
    ("web1", {"ready": True, "target": "ssh kdumprecv@10.0.0.5:/var/crash"},     # in both, latest run
     {"status": "pass", "run_id": R2, "when": "2024-06-01T09:02:00Z"}),
])
def test_host_rows(hosts_report, host, readiness, panic):
    rows = dict((row["host"], row) for row in hosts_report["hosts"])
    assert [row["host"] for row in hosts_report["hosts"]] == ["db1", "lab|7", "web1"]
    row = rows[host]
    assert set(row) == {"host", "readiness", "panic_test"}
    for side, expected in (("readiness", readiness), ("panic_test", panic)):
        if expected is None:
            assert row[side] is None
        else:
            assert dict((key, row[side][key]) for key in expected) == expected


def test_report_keys(hosts_report):
    assert set(hosts_report) == {"crashes", "host_count", "signature_count", "groups", "failed", "hosts",
                                 "panic_tests"}
    assert (hosts_report["crashes"], hosts_report["host_count"]) == (1, 1)
    summary = hosts_report["panic_tests"]
    assert (summary["runs"], summary["records"], summary["hosts"]) == (2, 3, 2)
    assert [u["source"] for u in summary["unreadable"]] == [R2 + "/hosts/broken.json"]
    json.dumps(hosts_report, allow_nan=False)
    empty = fr.FleetReport().report()
    assert (empty["hosts"], empty["panic_tests"]["unreadable"], empty["panic_tests"]["records"]) == ([], [], 0)


@pytest.mark.parametrize("line", [
    "3 hosts: 1 ready, 1 not ready, 1 unknown; latest panic test: 1 pass, 1 fail, 1 none.",
    "1 panic-test record could not be read (listed at the end).",
    "## Hosts",
    "| Host | Ready | Crash kernel loaded | Reserved MiB | Target | Panic test | When (UTC) | Reason / dump |",
    "| db1 | no | no | 0 | local /var/crash | - | - | - |",
    "| lab\\|7 | - | - | - | - | fail | 2024-06-01T09:00:10Z "
    "| unreachable: ssh \\| timeout after 30 s (step: Refuse when kdump is not ready) |",
    "| web1 | yes | yes | 144 | ssh kdumprecv@10.0.0.5:/var/crash | pass | 2024-06-01T09:02:00Z "
    "| dump dumpsrv1:/var/crash/10.0.0.7-202405181200/dump.202405181200 (46.0 MiB) |",
    "- db1: No crash kernel is loaded (/sys/kernel/kexec_crash_loaded is 0): a panic now would not be captured.",
    "- db1: No memory is reserved for the crash kernel.",
    "## Panic-test records that could not be read",
])
def test_markdown_hosts(hosts_report, line):
    lines = rd.render_markdown(hosts_report).splitlines()
    assert line in lines
    # The crash groups still come first, the hosts after them.
    assert lines.index("## Hosts") > lines.index("## 1. sysrq in `sysrq_handle_crash`")
    for row in [x for x in lines if x.startswith("| ") and "Host" not in x and "#" not in x][-3:]:
        assert len(re.split(r"(?<!\\)\|", row)) == 8 + 2


def test_markdown_without_hosts_is_unchanged(fleet):
    page = rd.render_markdown(fleet)
    assert "## Hosts" not in page and "panic-test" not in page
    legacy = dict(fleet)
    del legacy["hosts"], legacy["panic_tests"]
    assert rd.render_markdown(legacy) == page


def test_parallel_triage_gives_the_serial_report(tmp_path, monkeypatch):
    names = sorted(n for n in os.listdir(FIXTURES) if n.endswith(".log"))
    paths = []
    for i in range(120):
        paths.append(_install(tmp_path, "host%03d-2024051%d0000" % (i, i % 10), "dmesg.txt", names[i % len(names)]))
    paths.insert(7, str(tmp_path / "missing"))
    pools = []
    real_pool = fr._pool

    def counting_pool(workers):
        pools.append(workers)
        return real_pool(workers)
    monkeypatch.setattr(fr, "_pool", counting_pool)
    serial = fr.group_logs(paths, workers=1)
    assert pools == []
    parallel = fr.group_logs(paths, workers=3, min_parallel=10)
    assert pools == [3]
    assert parallel == serial
    assert serial["crashes"] + len(serial["failed"]) == len(paths)
    assert [f["source"] for f in parallel["failed"]][0] == str(tmp_path / "missing")


def test_triage_many_in_order_and_serial_without_a_pool(tmp_path, monkeypatch):
    names = sorted(n for n in os.listdir(FIXTURES) if n.endswith(".log"))[:4]
    paths = [_install(tmp_path, "h%d" % i, "dmesg.txt", name) for i, name in enumerate(names)]
    monkeypatch.setattr(fr, "_pool", lambda workers: None)
    out = list(fr.triage_many(paths, workers=4, min_parallel=1))
    assert [p for p, _r, _e in out] == paths
    assert all(r is not None or e for _p, r, e in out)


# Times and numbers from hosts are bounded: never an exception, never a time outside 1970..2100.

@pytest.mark.parametrize("value, expected", [
    (0, 0), (1716033720, 1716033720), ("1716033720", 1716033720), (1716033720.5, 1716033720.5),
    (fr.TIME_MAX, fr.TIME_MAX), (fr.TIME_MAX + 1, None), (100000000000000000, None), (-1, None),
    ("1e400", None), (float("nan"), None), (10 ** 400, None), (True, None), ("soon", None), (None, None),
    ([1], None), ("9" * 5000, None),
])
def test_bounded_time(value, expected):
    assert fr.bounded_time(value) == expected
    assert fr.utc_iso(value) == (None if expected is None else time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(expected)))


@pytest.mark.parametrize("text, expected", [
    ("2024-05-14T03:12:45", 1715656365),
    ("2024-05-14T03:12:45Z", 1715656365),
    ("2024-05-14 03:12:45", 1715656365),
    ("2024-05-14T03:12:45.118850+02:00", 1715649165),
    ("2024-05-14T03:12:45-0130", 1715661765),
    ("2024-13-14T03:12:45", None), ("2024-05-14T25:12:45", None), ("99999-05-14T03:12:45", None),
    ("2101-01-01T00:00:00", None), ("May 14 03:12:45", None), ("", None), (None, None), (12, None),
    ("2024-05-14T03:12:45" + "0" * 100, None),
])
def test_iso_epoch(text, expected):
    assert fr.iso_epoch(text) == expected


def test_panic_results_bound_times_and_keep_history(tmp_path):
    """A record with a time of 10**17 (finding 8) reads as 'time unknown', never as an error."""
    directory = write_results(tmp_path, dict(
        [(run + "/hosts/web1.json", panic_record("web1", run, "pass" if n % 2 else "fail", finished=1716000000 + n))
         for n, run in enumerate("run%02d" % i for i in range(fr.PANIC_HISTORY + 5))]
        + [("runZZ/hosts/web2.json", panic_record("web2", "runZZ", "pass", started=10 ** 17, finished=10 ** 17,
                                                  dump={"size": 10 ** 30, "mtime": -5, "crash_time": "1e999"}))]))
    results = fr.read_panic_results(directory)
    web2 = results["latest"]["web2"]
    assert (web2["started"], web2["trigger_time"], web2["finished"], web2["when"]) == (None, None, None, None)
    assert web2["dump"]["size"] is None and web2["dump"]["mtime"] is None and web2["dump"]["crash_time"] is None
    history = results["history"]["web1"]
    assert len(history) == fr.PANIC_HISTORY
    assert [r["finished"] for r in history] == sorted((r["finished"] for r in history), reverse=True)
    assert history[0] == results["latest"]["web1"] and history[0]["run_id"] == "run%02d" % (fr.PANIC_HISTORY + 4)
    json.dumps(results, allow_nan=False)


def test_timeline_counts_days_in_the_window():
    end = 1717243200  # 2024-06-01T12:00:00Z
    entries = [(end, "a"), (end - 43200, "a"), (end - fr.DAY, "b"), (end - 29 * fr.DAY, "a"),
               (end - 30 * fr.DAY, "a"), (end + fr.DAY, "a"), (None, "b")]
    line = fr.timeline(entries, end, days=30)
    assert (line["days"][0], line["days"][-1], len(line["days"])) == ("2024-05-03", "2024-06-01", 30)
    assert line["total"][-1] == 2 and line["total"][-2] == 1 and line["total"][0] == 1 and sum(line["total"]) == 4
    assert line["signatures"] == {"a": {29: 2, 0: 1}, "b": {28: 1}}
