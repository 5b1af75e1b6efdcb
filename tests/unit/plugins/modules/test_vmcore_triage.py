# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the real vmcore_triage main() on real-format kernel logs."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import os
import shutil

import pytest

from ansible_collections.crashkit.kdump.plugins.modules import vmcore_triage as module
from ansible_collections.crashkit.kdump.tests.unit.plugins import module_run

FIXTURES = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "fixtures",
                                        "triage"))
RECORD_FIELDS = ("kind", "panic_reason", "headline", "function", "module", "culprit",
                 "culprit_module", "taint", "taint_raw",
                 "comm", "pid", "cpu", "kernel_release", "kernel_build", "hardware",
                 "call_trace", "signature", "signature_text", "line", "host", "crash_time",
                 "events", "event_count", "excerpt")


run_module = functools.partial(module_run.run_module, module)


def fixture_path(name):
    return os.path.join(FIXTURES, name)


@pytest.mark.parametrize("check_mode", [False, True])
def test_dmesg_path(capsys, monkeypatch, check_mode):
    result = run_module(capsys, {"dmesg_path": fixture_path("null_deref_module.log")},
                        check_mode=check_mode)
    assert result["rc"] == 0
    assert result["changed"] is False
    assert "failed" not in result
    assert result["source"] == fixture_path("null_deref_module.log")
    for field in RECORD_FIELDS:
        assert field in result
    assert (result["kind"], result["function"], result["module"]) == (
        "null_deref", "mydrv_fill_buffer", "mydrv")
    assert (result["culprit"], result["culprit_module"]) == ("mydrv_fill_buffer", "mydrv")
    assert (result["comm"], result["pid"], result["cpu"]) == ("cat", 4211, 3)
    assert result["taint"] == ["O", "E"]
    assert result["call_trace"][0] == "mydrv_read"


@pytest.mark.parametrize("files, used", [
    (["vmcore-dmesg.txt", "dmesg.txt"], "vmcore-dmesg.txt"),
    (["dmesg.202401010000", "dmesg.202405140312"], "dmesg.202405140312"),
])
def test_bundle(capsys, monkeypatch, tmp_path, files, used):
    for name in files:
        shutil.copy(fixture_path("soft_lockup.log"), str(tmp_path / name))
    result = run_module(capsys, {"bundle": str(tmp_path)})
    assert result["rc"] == 0
    assert result["source"] == str(tmp_path / used)
    assert (result["kind"], result["function"]) == ("soft_lockup", "smp_call_function_many_cond")
    assert result["panic_reason"] == "softlockup: hung tasks"


def test_same_crash_same_signature_through_the_module(capsys, monkeypatch):
    signatures = set()
    for name in ("sysrq_debian12.log", "sysrq_debian13.log", "sysrq_rhel7.log"):
        result = run_module(capsys, {"dmesg_path": fixture_path(name)})
        assert result["kind"] == "sysrq"
        signatures.add(result["signature"])
    assert len(signatures) == 1


def test_log_without_crash_fails(capsys, monkeypatch, tmp_path):
    log = tmp_path / "dmesg.txt"
    log.write_text(u"[    0.000000] Linux version 6.1.0-18-amd64 (x) #1 SMP\n"
                   u"[   30.000000] INFO: task kworker/0:1:12 blocked for more than 120 seconds.\n")
    result = run_module(capsys, {"dmesg_path": str(log)})
    assert result["rc"] == 1
    assert result["failed"] is True
    assert str(log) in result["msg"]
    assert "no crash in 2 lines" in result["msg"]
    assert "hung_task (first at line 2)" in result["msg"]


def test_unknown_crash_shape_is_reported(capsys, monkeypatch, tmp_path):
    log = tmp_path / "vmcore-dmesg.txt"
    log.write_text(u"[ 9.0] frob: queue state machine went sideways\n"
                   u"[ 9.1] Modules linked in: frob(O)\n"
                   u"[ 9.2] RIP: 0010:frob_step+0x44/0x90 [frob]\n")
    result = run_module(capsys, {"bundle": str(tmp_path)})
    assert result["rc"] == 0
    assert (result["kind"], result["function"], result["module"]) == ("unknown", "frob_step",
                                                                      "frob")
    assert result["headline"] == "frob: queue state machine went sideways"


@pytest.mark.parametrize("args, message", [
    ({}, "one of the following is required: dmesg_path, bundle"),
    ({"dmesg_path": "/x", "bundle": "/y"}, "parameters are mutually exclusive: dmesg_path|bundle"),
])
def test_argument_errors(capsys, monkeypatch, args, message):
    result = run_module(capsys, args)
    assert result["rc"] == 1
    assert message in result["msg"]


def test_missing_files_fail_cleanly(capsys, monkeypatch, tmp_path):
    result = run_module(capsys, {"dmesg_path": str(tmp_path / "nope")})
    assert result["rc"] == 1
    assert result["msg"].startswith("cannot read kernel log %s" % (tmp_path / "nope"))
    result = run_module(capsys, {"bundle": str(tmp_path)})
    assert result["rc"] == 1
    assert "no kernel log in bundle directory" in result["msg"]
