# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Panic test records, merged report, JSON and JUnit XML (parsed back with xml.etree)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings, HealthCheck
from hypothesis import strategies as st

from ansible_collections.crashkit.kdump.plugins.module_utils import _panicreport as report
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError, ValidationError

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "roles", "panic_test", "files", "panic_report.py")

PASS = {
    "host": "pilot1",
    "status": "pass",
    "reason": "",
    "step": "",
    "run_id": "20240518T120000",
    "test_id": "pilot1-20240518T120000-abc12345",
    "kernel_release": "6.1.0-18-amd64",
    "boot_id_before": "b1",
    "boot_id_after": "b2",
    "started": 1716033590,
    "trigger_time": "1716033600",
    "trigger_delay": 3,
    "back_time": 1716033700,
    "finished": 1716033720,
    "dump": {
        "path": "/var/crash/202405181200/dump.202405181200",
        "host": "pilot1",
        "size": 48234496,
        "format": "flattened",
        "inner_format": "kdump_compressed",
        "compression": "zstd",
        "dump_level": 31,
        "mtime": 1716033650,
        "kernel_release": "6.1.0-18-amd64",
        "crash_time": 1716033603,
        "dmesg_path": "/var/crash/202405181200/dmesg.202405181200",
        "dmesg_match": True,
        "notes": ["ignored"],
    },
}

FAIL = {
    "host": "pilot2",
    "status": "fail",
    "reason": "kdump is not ready on pilot2: no crash kernel loaded",
    "step": "Refuse when kdump is not ready",
    "started": 1716033800,
    "finished": 1716033805,
    "trigger_delay": 3,
}


def test_pass_record_and_timings():
    record = report.build_record(PASS)
    assert list(record) == list(report.RECORD_KEYS)
    assert record["reason"] is None
    assert record["trigger_time"] == 1716033600
    assert record["panic_time"] == 1716033603  # the dump's CRASHTIME
    assert dict(record["timings"]) == {
        "trigger_to_panic_s": 3,
        "panic_to_dump_saved_s": 47,
        "panic_to_host_back_s": 97,
        "total_s": 130,
    }
    assert "notes" not in record["dump"]
    assert record["dump"]["dmesg_match"] is True
    # how the pages were compressed and filtered: what kdump_compression and the dump level chose
    assert record["dump"]["compression"] == "zstd"
    assert record["dump"]["dump_level"] == 31
    # no lean capture note: nothing said about which capture saved it
    assert record["dump"]["saved_by"] is None and record["dump"]["lean_fallback"] is None


@pytest.mark.parametrize("capture, saved_by, fallback", [
    ({"saved_by": "crashkit-initramfs", "lean_fallback": None, "capture_uptime": 19.5}, "crashkit-initramfs", None),
    ({"saved_by": "kdump-tools", "lean_fallback": "not a local target"}, "kdump-tools", "not a local target"),
    ("crashkit-initramfs", None, None),
])
def test_which_capture_saved_the_dump(capture, saved_by, fallback):
    record = report.build_record(dict(PASS, dump=dict(PASS["dump"], capture=capture)))
    assert record["dump"]["saved_by"] == saved_by and record["dump"]["lean_fallback"] == fallback
    junit = report.render_junit(report.build_report([record]))
    assert ('<property name="saved_by" value="%s" />' % saved_by in junit) is bool(saved_by)


NOTE = {"saved_by": "kdump-tools", "fallback": "kdumprecv@10.77.0.12 did not answer over ssh", "time": 1716033640}


def test_a_dump_server_copy_gets_the_hosts_fallback_note_of_this_crash():
    # an ssh target: the server's copy has no note; the host noted why the lean capture gave up
    # 40 s after the trigger, before it was back
    record = report.build_record(dict(PASS, capture_fallback=NOTE))
    assert record["dump"]["saved_by"] == "kdump-tools"
    assert record["dump"]["lean_fallback"] == record["lean_fallback"] == NOTE["fallback"]
    junit = report.render_junit(report.build_report([record]))
    assert '<property name="lean_fallback" value="%s" />' % NOTE["fallback"] in junit


@pytest.mark.parametrize("note", [
    dict(NOTE, time=1716033599),  # an earlier crash's note: written before this trigger
    dict(NOTE, time=1716033701),  # after the host was back: not this capture boot's
    dict(NOTE, time="1716033640.0junk"), dict(NOTE, time=True), dict(NOTE, time=None),
    dict(NOTE, saved_by="crashkit-initramfs"), dict(NOTE, fallback="line\nbreak"),
    dict(NOTE, fallback="x" * 401), dict(NOTE, fallback={"a": 1}), dict(NOTE, fallback=""),
    "saved_by=kdump-tools", ["x"], None,
])
def test_a_note_that_is_not_of_this_crash_or_not_valid_is_ignored(note):
    record = report.build_record(dict(PASS, capture_fallback=note))
    assert record["dump"]["saved_by"] is None and record["lean_fallback"] is None


def test_the_dumps_own_note_wins():
    own = {"saved_by": "crashkit-initramfs", "lean_fallback": None, "capture_uptime": 19.5}
    record = report.build_record(dict(PASS, dump=dict(PASS["dump"], capture=own), capture_fallback=NOTE))
    assert record["dump"]["saved_by"] == "crashkit-initramfs" and record["lean_fallback"] is None
    own = {"saved_by": "kdump-tools", "lean_fallback": "no dump device /dev/disk/by-label/x"}
    record = report.build_record(dict(PASS, dump=dict(PASS["dump"], capture=own), capture_fallback=NOTE))
    assert record["lean_fallback"] == record["dump"]["lean_fallback"] == own["lean_fallback"]


def test_a_failed_test_says_why_the_lean_capture_gave_up():
    raw = dict(FAIL, reason="no new complete crash dump in dumpsrv:/srv/crash/pilot2: nothing found",
               trigger_time=1716033600, back_time=1716033700, capture_fallback=NOTE)
    record = report.build_record(raw)
    assert record["dump"] is None and record["lean_fallback"] == NOTE["fallback"]
    case = ET.fromstring(report.render_junit(report.build_report([record]))).find("testsuite/testcase")
    failure = case.find("failure")
    assert failure.get("message") == raw["reason"]
    assert failure.text.splitlines() == [
        raw["reason"], "The lean capture left this crash's dump to kdump-tools: " + NOTE["fallback"]]


@pytest.mark.parametrize("raw, expected, prop", [
    (True, True, "true"), (False, False, "false"), ("False", False, "false"), ("true", True, "true"),
    (None, None, None), ("maybe", None, None), (1, None, None), ({"x": 1}, None, None),
])
def test_whether_the_crash_kernel_is_loaded_again_after_the_test(raw, expected, prop):
    record = report.build_record(dict(PASS, kdump_loaded_after=raw))
    assert record["kdump_loaded_after"] is expected
    junit = report.render_junit(report.build_report([record]))
    assert ('<property name="kdump_loaded_after" value="%s" />' % prop in junit) is bool(prop)
    assert report.build_record(PASS)["kdump_loaded_after"] is None


def test_panic_time_falls_back_to_trigger_plus_delay():
    raw = dict(PASS, dump=dict(PASS["dump"], crash_time=None))
    record = report.build_record(raw)
    assert record["panic_time"] == 1716033603
    assert record["timings"]["trigger_to_panic_s"] is None
    assert record["timings"]["panic_to_dump_saved_s"] == 47


def test_fail_record_keeps_what_is_known():
    record = report.build_record(FAIL)
    assert record["status"] == "fail"
    assert record["dump"] is None
    assert record["timings"]["total_s"] == 5
    assert record["timings"]["panic_to_host_back_s"] is None


def test_fractional_times():
    record = report.build_record(dict(FAIL, started=10.5, finished=12.75))
    assert record["timings"]["total_s"] == 2.25


@pytest.mark.parametrize("raw, message", [
    ([], "a panic test record must be a mapping, not list"),
    ({"status": "pass"}, "a panic test record needs the host name"),
    ({"host": "h", "status": "ok"}, "record of h: status must be one of pass, fail, not 'ok'"),
    ({"host": "h", "status": "fail"}, "record of h: a failed test needs a reason"),
    ({"host": "h", "status": "pass", "started": "soon"}, "record of h: started must be a number, not 'soon'"),
    ({"host": "h", "status": "pass", "started": True}, "record of h: started must be a number, not True"),
    ({"host": "h", "status": "pass", "back_time": float("nan")}, "record of h: back_time must be a finite number"),
    ({"host": "h", "status": "pass", "dump": "x"}, "record of h: dump must be a mapping"),
    ({"host": "h", "status": "pass", "reason": ["x"]}, "record of h: reason must be text"),
    ({"host": "h", "status": "pass", "dump": {"size": "big"}}, "record of h dump: size must be a number, not 'big'"),
])
def test_invalid_records(raw, message):
    with pytest.raises(ValidationError) as info:
        report.build_record(raw)
    assert str(info.value) == message


def test_merge_keeps_the_latest_record_per_host():
    first = report.build_record(dict(FAIL, host="pilot1", finished=100))
    second = report.build_record(dict(PASS, finished=200))
    third = report.build_record(FAIL)
    merged = report.merge([second, third, first])
    assert [(r["host"], r["status"]) for r in merged] == [("pilot1", "pass"), ("pilot2", "fail")]
    # same finish time: the later one in the input wins
    again = report.build_record(dict(FAIL, host="pilot1", finished=200))
    assert report.merge([second, again])[0]["status"] == "fail"


def test_report_summary_and_json_schema():
    built = report.build_report([PASS, FAIL], run_id="r1", generated="2024-05-18T12:00:00+00:00")
    data = json.loads(report.render_json(built))
    assert list(data) == ["schema", "run_id", "generated", "summary", "hosts"]
    assert data["schema"] == "crashkit.kdump/panic_test/1"
    assert data["summary"] == {"hosts": 2, "passed": 1, "failed": 1, "result": "fail"}
    assert [h["host"] for h in data["hosts"]] == ["pilot1", "pilot2"]
    assert set(data["hosts"][0]) == set(report.RECORD_KEYS)
    assert report.build_report([PASS])["summary"]["result"] == "pass"
    assert report.build_report([])["summary"] == {"hosts": 0, "passed": 0, "failed": 0, "result": "fail"}


def parse_junit(text):
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    return ET.fromstring(text.encode("utf-8"))


def props(element):
    return {p.get("name"): p.get("value") for p in element.find("properties").findall("property")}


def test_junit_structure():
    built = report.build_report([PASS, FAIL], run_id="r1", generated="2024-05-18T12:00:00+00:00")
    root = parse_junit(report.render_junit(built))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "1", "0")
    [suite] = root.findall("testsuite")
    assert (suite.get("name"), suite.get("tests"), suite.get("failures"), suite.get("skipped")) == (
        "crashkit.kdump.panic_test", "2", "1", "0")
    assert suite.get("timestamp") == "2024-05-18T12:00:00+00:00"
    assert suite.get("time") == "135.000"
    assert props(suite) == {"run_id": "r1", "schema": "crashkit.kdump/panic_test/1"}
    passed, failed = suite.findall("testcase")
    assert (passed.get("name"), passed.get("classname"), passed.get("time")) == (
        "pilot1", "crashkit.kdump.panic_test", "130.000")
    assert passed.find("failure") is None
    assert props(passed) == {
        "test_id": "pilot1-20240518T120000-abc12345",
        "trigger_to_panic_s": "3",
        "panic_to_dump_saved_s": "47",
        "panic_to_host_back_s": "97",
        "dump_path": "/var/crash/202405181200/dump.202405181200",
        "dump_host": "pilot1",
        "dump_size": "48234496",
        "dump_format": "flattened",
        "kernel_release": "6.1.0-18-amd64",
    }
    assert json.loads(passed.find("system-out").text)["host"] == "pilot1"
    failure = failed.find("failure")
    assert failure.get("message") == FAIL["reason"]
    assert failure.get("type") == "panic_test"
    assert failure.text == FAIL["reason"]
    assert props(failed)["failed_step"] == "Refuse when kdump is not ready"


NASTY = u'<tag attr="x"> & \'quotes\' ]]> \x1b[31mred\x1b[0m \x00 nul \ud800 lone, tab\tand\nnew line, é ☃ 🙂'


def test_junit_escapes_special_characters():
    raw = dict(FAIL, host=u"pilot&<3>", reason=NASTY, step=u'step "quoted" <x>')
    root = parse_junit(report.render_junit(report.build_report([raw], run_id=u"r&<>\"'")))
    case = root.find("testsuite").find("testcase")
    assert case.get("name") == u"pilot&<3>"
    failure = case.find("failure")
    expected = NASTY.replace(u"\x1b", u"\ufffd").replace(u"\x00", u"\ufffd").replace(u"\ud800", u"\ufffd")
    assert failure.text == expected
    assert failure.get("message") == expected.splitlines()[0]
    assert props(case)["failed_step"] == u'step "quoted" <x>'
    assert props(root.find("testsuite"))["run_id"] == u"r&<>\"'"
    # the record in system-out is JSON; its escapes keep it valid XML
    assert json.loads(case.find("system-out").text)["reason"] == NASTY


def test_multi_line_reason_message_is_first_line():
    root = parse_junit(report.render_junit(report.build_report([dict(FAIL, reason="first\nsecond")])))
    failure = root.find("testsuite").find("testcase").find("failure")
    assert (failure.get("message"), failure.text) == ("first", "first\nsecond")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["host", "status", "reason", "step", "test_id", "started", "finished",
                                        "trigger_time", "back_time", "trigger_delay", "dump", "run_id"]),
                       st.one_of(st.none(), st.text(), st.integers(), st.floats(), st.booleans(),
                                 st.sampled_from(["pass", "fail"]),
                                 st.dictionaries(st.sampled_from(["path", "size", "mtime", "crash_time"]),
                                                 st.one_of(st.text(), st.integers())))))
def test_any_record_gives_a_record_or_a_domain_error(raw):
    try:
        built = report.build_record(raw)
    except KdumpError:
        return
    text = report.render_junit(report.build_report([built]))
    parse_junit(text)
    json.loads(report.render_json(report.build_report([built])))


@settings(max_examples=200, deadline=None)
@given(st.text(), st.text())
def test_any_text_gives_valid_xml(host, reason):
    if not host:
        host = "h"
    root = parse_junit(report.render_junit(report.build_report([dict(FAIL, host=host, reason=reason or "r")])))
    assert root.find("testsuite").find("testcase") is not None


# ---------------------------------------------------------------------------------------------
# the role's merge script (roles/panic_test/files/panic_report.py), run as the role runs it


def run_script(tmp_path, *extra):
    return subprocess.run(
        [sys.executable, SCRIPT, "--records", str(tmp_path / "hosts"), "--json", str(tmp_path / "report.json"),
         "--junit", str(tmp_path / "junit.xml"), "--run-id", "r1"] + list(extra),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60, check=False)


def test_script_merges_records_and_keeps_broken_ones_as_failures(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.mkdir()
    (hosts / "pilot1.json").write_text(json.dumps(PASS))
    (hosts / "pilot2.json").write_text(json.dumps(FAIL))
    (hosts / "pilot3.json").write_text("{not json")
    (hosts / "pilot4.json").write_text(json.dumps({"host": "pilot4", "status": "maybe"}))
    (hosts / ".pilot5.json.tmp").write_text("ignored")
    (hosts / "notes.txt").write_text("ignored")
    # a checkout is not below ansible_collections/: point the script at the test tree
    root = report.__file__.split(os.sep + "ansible_collections" + os.sep, 1)[0]
    result = run_script(tmp_path, "--collections-root", root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("4 hosts: 1 passed, 3 failed -> ")
    data = json.loads((tmp_path / "report.json").read_text())
    assert [(h["host"], h["status"]) for h in data["hosts"]] == [
        ("pilot1", "pass"), ("pilot2", "fail"), ("pilot3", "fail"), ("pilot4", "fail")]
    assert data["hosts"][2]["reason"].startswith("the record %s could not be used: " % (hosts / "pilot3.json"))
    assert data["hosts"][3]["reason"].endswith("status must be one of pass, fail, not 'maybe'")
    assert data["run_id"] == "r1"
    root_xml = parse_junit((tmp_path / "junit.xml").read_text())
    assert root_xml.get("failures") == "3"
    assert sorted(os.listdir(str(tmp_path))) == ["hosts", "junit.xml", "report.json"]


def test_script_finds_the_collection_from_its_own_path(tmp_path):
    """Run through the ansible_collections/crashkit/kdump tree the tests import from."""
    tree_script = os.path.join(os.path.dirname(report.__file__), "..", "..", "roles", "panic_test", "files",
                               "panic_report.py")
    hosts = tmp_path / "hosts"
    hosts.mkdir()
    (hosts / "pilot1.json").write_text(json.dumps(PASS))
    result = subprocess.run(
        [sys.executable, os.path.normpath(tree_script), "--records", str(hosts),
         "--json", str(tmp_path / "r.json"), "--junit", str(tmp_path / "j.xml")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60, env=dict(os.environ, PYTHONPATH=""), check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["result"] == "pass"
