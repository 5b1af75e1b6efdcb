# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vmcore_bundle's deep triage, through the real main().

The plumbing (which vmlinux, build id check, the script, output files, status and reasons) is
exercised with a stand-in ``crash`` that follows the script's ``cmd > file`` lines and answers
with real crash 8.0.2 output (fixtures/crash). The real crash is run by
``test_real_crash_on_a_real_dump`` when CRASHKIT_DEEP_DUMP and CRASHKIT_DEEP_VMLINUX name a
dump and its debug vmlinux (docs/development.md); it is skipped otherwise.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import json
import os
import re
import shutil
import stat

import pytest

from ansible_collections.crashkit.kdump.plugins.modules import vmcore_bundle as module
from ansible_collections.crashkit.kdump.tests.unit.plugins import module_run
from ansible_collections.crashkit.kdump.tests.unit.fixtures.vmcore import builders
from ansible_collections.crashkit.kdump.tests.unit.plugins.module_utils.test_deeptriage import (
    BUILD_ID, CRASH_FIXTURES, vmlinux_elf)

TRIAGE_FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "triage")
FAKE_CRASH = r"""#!/usr/bin/env python3
import json, os, shutil, sys
args = sys.argv[1:]
with open(os.environ["FAKE_CRASH_LOG"], "w") as log:
    json.dump({"args": args, "stdin_is_tty": os.isatty(0), "dump_real": os.path.realpath(args[-1]),
               "cwd": os.getcwd()}, log)
script = args[args.index("-i") + 1]
for line in open(script):
    line = line.strip()
    if line == "quit":
        break
    cmd, _sep, out = line.partition(" > ")
    name = cmd.split()[0]
    src = os.path.join(os.environ["FAKE_CRASH_FIXTURES"], name + "-debian12-sysrq.txt")
    if os.path.exists(src):
        shutil.copyfile(src, out)
    else:
        with open(out, "w") as handle:
            handle.write("crash: command not found: %s\n" % name)
        print("crash: command not found: %s" % name)
if os.environ.get("FAKE_CRASH_RC", "0") != "0":
    sys.stderr.write("crash: vmlinux and dump do not match!\n")
sys.exit(int(os.environ.get("FAKE_CRASH_RC", "0")))
"""


run_module = functools.partial(module_run.run_module, module)


@pytest.fixture
def lab(tmp_path, monkeypatch):
    """A crash directory with a complete dump, a debug vmlinux of its build and a stand-in crash."""
    crash_dir = tmp_path / "var" / "crash" / "202611221025"
    crash_dir.mkdir(parents=True)
    (crash_dir / "dump.202611221025").write_bytes(builders.kdump_compressed())
    shutil.copyfile(os.path.join(TRIAGE_FIXTURES, "sysrq_debian12.log"), str(crash_dir / "dmesg.202611221025"))
    vmlinux = tmp_path / "debug" / "vmlinux-6.1.0-18-amd64"
    vmlinux.parent.mkdir()
    vmlinux.write_bytes(vmlinux_elf())
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "crash"
    fake.write_text(FAKE_CRASH)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", "%s:%s" % (bindir, os.environ["PATH"]))
    monkeypatch.setenv("FAKE_CRASH_LOG", str(tmp_path / "crash-args.json"))
    monkeypatch.setenv("FAKE_CRASH_FIXTURES", CRASH_FIXTURES)
    return {"crash_dir": str(crash_dir), "vmlinux": str(vmlinux), "tmp": tmp_path,
            "args": {"crash_dir": str(crash_dir), "host_facts": False, "archive": False,
                     "debug_vmlinux": str(vmlinux)}}


def crash_args(lab):
    with open(str(lab["tmp"] / "crash-args.json")) as handle:
        return json.load(handle)


def test_deep_triage_runs_crash_and_keeps_one_file_per_command(capsys, monkeypatch, lab):
    result = run_module(capsys, lab["args"])
    assert result["rc"] == 0, result
    deep = result["summary"]["deep_triage"]
    assert deep["status"] == "done"
    assert (deep["vmlinux"], deep["vmlinux_build_id"], deep["dump"]) == (
        lab["vmlinux"], BUILD_ID, "dump.202611221025")
    assert deep["commands"] == ["sys", "bt", "log", "ps"]
    assert deep["panic"] == "Kernel panic - not syncing: sysrq triggered crash"
    assert deep["task"] == {"pid": 2686, "command": "sh", "cpu": 0}
    assert deep["backtrace"][3] == "sysrq_handle_crash"
    assert deep["errors"] == ["crash: command not found: log"]
    assert deep["files"] == ["crash/01-sys.txt", "crash/02-bt.txt", "crash/03-log.txt", "crash/04-ps.txt",
                             "crash/crash.out"]
    assert "deep_triage" not in result["summary"]["missing"]
    for name in deep["files"]:
        assert name in result["files"]
    bundle = os.path.join(lab["crash_dir"], "crashkit-bundle")
    with open(os.path.join(bundle, "SHA256SUMS")) as handle:
        assert "crash/02-bt.txt" in handle.read()
    assert not os.path.exists(os.path.join(bundle, ".crash-script"))
    called = crash_args(lab)
    args = called["args"]
    assert args[:3] == ["-s", "--no_scroll", "-i"]
    # The dump is handed over as the descriptor the module opened and checked (no path that a
    # link could redirect); it resolves to the dump itself.
    assert args[-2] == lab["vmlinux"]
    assert re.match(r"^/proc/self/fd/[0-9]+\Z", args[-1])
    assert called["dump_real"] == os.path.join(lab["crash_dir"], "dump.202611221025")
    assert called["stdin_is_tty"] is False
    # the second run is a no-op, the bundle is up to date
    again = run_module(capsys, lab["args"])
    assert again["changed"] is False
    assert again["summary"]["deep_triage"]["status"] == "done"


def test_found_by_release_in_the_family_path_and_rebuilt_when_it_appears(capsys, monkeypatch, lab):
    calls = []
    real_find = module._deeptriage.find_vmlinux
    real_installed = module._deeptriage.installed_vmlinux_files

    def find(release, root="/"):
        calls.append(release)
        return real_find(release, root=str(lab["tmp"]))
    monkeypatch.setattr(module._deeptriage, "find_vmlinux", find)
    monkeypatch.setattr(module._deeptriage, "installed_vmlinux_files",
                        lambda root="/": real_installed(str(lab["tmp"])))
    args = dict(lab["args"])
    del args["debug_vmlinux"]
    first = run_module(capsys, args)
    assert first["summary"]["deep_triage"]["status"] == "skipped"
    assert "linux-image-6.1.0-18-amd64-dbg" in first["summary"]["deep_triage"]["reason"]
    assert first["summary"]["missing"]["deep_triage"] == first["summary"]["deep_triage"]["reason"]
    assert calls == ["6.1.0-18-amd64"]
    assert run_module(capsys, args)["changed"] is False
    installed = lab["tmp"] / "usr" / "lib" / "debug" / "boot" / "vmlinux-6.1.0-18-amd64"
    installed.parent.mkdir(parents=True)
    shutil.copyfile(lab["vmlinux"], str(installed))
    second = run_module(capsys, args)
    assert second["changed"] is True
    assert second["summary"]["deep_triage"]["status"] == "done"
    assert second["summary"]["deep_triage"]["vmlinux"] == str(installed)


def test_dest_elsewhere_gets_its_parent_directories(capsys, monkeypatch, lab):
    dest = lab["tmp"] / "analysis" / "web1" / "202611221025"
    result = run_module(capsys, dict(lab["args"], dest=str(dest)))
    assert result["rc"] == 0, result
    assert result["bundle_dir"] == str(dest)
    assert (dest / "bundle.json").is_file() and (dest / "crash" / "01-sys.txt").is_file()
    assert oct(dest.parent.stat().st_mode & 0o777) == "0o750"
    assert not os.path.exists(os.path.join(lab["crash_dir"], "crashkit-bundle"))


@pytest.mark.parametrize("change, status, reason", [
    ("other_build", "skipped", "another build (build id 00112233"),
    ("not_elf", "failed", "is not an ELF file"),
    ("missing", "skipped", "does not exist"),
    ("crash_fails", "failed", "crash exited with status 1: crash: vmlinux and dump do not match!"),
    ("no_crash", "skipped", "crash is not installed"),
    ("dump_incomplete", "skipped", "no complete kdump-compressed, ELF or flattened dump"),
    ("off", "off", None),
])
def test_deep_triage_says_why_not(capsys, monkeypatch, lab, change, status, reason):
    args = dict(lab["args"])
    if change == "other_build":
        with open(lab["vmlinux"], "wb") as handle:
            handle.write(vmlinux_elf(build_id="00112233445566778899aabbccddeeff00112233"))
    elif change == "not_elf":
        with open(lab["vmlinux"], "w") as handle:
            handle.write("not a kernel\n" * 10)
    elif change == "missing":
        os.unlink(lab["vmlinux"])
    elif change == "crash_fails":
        monkeypatch.setenv("FAKE_CRASH_RC", "1")
    elif change == "no_crash":
        empty = lab["tmp"] / "empty-bin"
        empty.mkdir()
        monkeypatch.setenv("PATH", str(empty))
    elif change == "dump_incomplete":
        os.rename(os.path.join(lab["crash_dir"], "dump.202611221025"),
                  os.path.join(lab["crash_dir"], "dump-incomplete"))
        with open(os.path.join(lab["crash_dir"], "dump-incomplete"), "r+b") as handle:
            handle.truncate(8192)
    elif change == "off":
        args["deep_triage"] = False
    result = run_module(capsys, args)
    assert result["rc"] == 0, result
    deep = result["summary"]["deep_triage"]
    assert deep["status"] == status
    if reason:
        assert reason in deep["reason"]
        assert result["summary"]["missing"]["deep_triage"] == deep["reason"]
    else:
        assert "deep_triage" not in result["summary"]["missing"]
    assert not any(f.startswith("crash/0") for f in result["files"]) or change == "crash_fails"


@pytest.mark.parametrize("args, message", [
    ({"crash_commands": ["log > /etc/shadow"]}, "is not allowed"),
    ({"crash_commands": []}, "crash_commands is empty"),
    ({"crash_timeout": 0}, "crash_timeout must be at least 1"),
])
@pytest.mark.parametrize("check_mode", [False, True])
def test_bad_deep_options_fail_before_anything_is_written(capsys, monkeypatch, lab, args, message, check_mode):
    result = run_module(capsys, dict(lab["args"], **args), check_mode=check_mode)
    assert result["rc"] == 1
    assert message in result["msg"]
    assert not os.path.exists(os.path.join(lab["crash_dir"], "crashkit-bundle"))


@pytest.mark.skipif(not (os.environ.get("CRASHKIT_DEEP_DUMP") and os.environ.get("CRASHKIT_DEEP_VMLINUX")),
                    reason="set CRASHKIT_DEEP_DUMP (a crash directory) and CRASHKIT_DEEP_VMLINUX (its debug vmlinux)")
def test_real_crash_on_a_real_dump(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("FAKE_CRASH_LOG", raising=False)
    dest = tmp_path / "bundle"
    result = run_module(capsys, {
        "crash_dir": os.environ["CRASHKIT_DEEP_DUMP"], "dest": str(dest), "host_facts": False,
        "archive": False, "debug_vmlinux": os.environ["CRASHKIT_DEEP_VMLINUX"]})
    assert result["rc"] == 0, result
    deep = result["summary"]["deep_triage"]
    assert deep["status"] == "done", deep
    assert deep["vmlinux_build_id"] == result["summary"]["build_id"]
    assert deep["panic"].startswith("Kernel panic - not syncing:")
    assert deep["sys"]["release"] == result["summary"]["kernel_release"]
    assert deep["backtrace"] and deep["task"]["pid"] is not None
    with open(str(dest / "crash" / "03-log.txt")) as handle:
        assert "Linux version %s" % result["summary"]["kernel_release"] in handle.read()
