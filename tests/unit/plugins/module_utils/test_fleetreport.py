# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import os
import re
import shutil

import pytest

from ansible_collections.crashkit.kdump.plugins.module_utils import _fleetreport as fr
from ansible_collections.crashkit.kdump.plugins.module_utils import _triage as tr

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
        ("sysrq", 3, 2), ("null_deref", 2, 1), ("panic", 1, 1)]
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
    page = fr.render_markdown(fleet, title="Crashes | March")
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
    page = fr.render_markdown(fr.build_report([item]))
    row = [line for line in page.splitlines() if line.startswith("| 1 |")][0]
    assert "weird \\| reason with newline" in row
    # Ten cells: the pipe of the reason is escaped and does not split a cell.
    assert len(re.split(r"(?<!\\)\|", row)) == 10 + 2
    assert "- Hosts: a\\|b" in page.splitlines()


def test_markdown_of_an_empty_report():
    page = fr.render_markdown(fr.FleetReport().report())
    assert "0 crashes on 0 hosts, 0 distinct signatures." in page
    assert "| # |" not in page
