# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deep triage helpers: debug vmlinux lookup, ELF build ids, crash scripts, crash output parsers.

The crash outputs under fixtures/crash are real: crash 8.0.2 on a Debian 12 lab VM's sysrq dump
(flattened, dump level 31) with linux-image-6.1.0-56-amd64-dbg.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import struct
import subprocess

import pytest

from ansible_collections.crashkit.kdump.plugins.module_utils import _deeptriage as deep
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError
from ansible_collections.crashkit.kdump.tests.unit.fixtures.vmcore import builders

CRASH_FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "crash")
BUILD_ID = "4c3d8b1f2a9e7d6c5b4a39281706f5e4d3c2b1a0"


def fixture_text(name):
    with open(os.path.join(CRASH_FIXTURES, name)) as handle:
        return handle.read()


def vmlinux_elf(build_id=BUILD_ID, elf_class=64, order="<", notes=None, e_type=2):
    """An executable ELF with one PT_NOTE: the Xen/Linux notes a vmlinux has, then the build id."""
    if notes is None:
        notes = builders.note("Xen", 6, b"linux\x00", order) + builders.note("Linux", 0x101, b"\x00" * 4, order)
        if build_id is not None:
            notes += builders.note("GNU", 3, bytes(bytearray.fromhex(build_id)), order)
    if elf_class == 64:
        ehsize, phentsize = 64, 56
        ident = b"\x7fELF" + bytes([2, 1 if order == "<" else 2, 1]) + b"\x00" * 9
        header = struct.pack(order + "HHIQQQIHHHHHH", e_type, 62, 1, 0xffffffff81000000, ehsize, 0, 0,
                             ehsize, phentsize, 2, 64, 0, 0)
        load = struct.pack(order + "IIQQQQQQ", 1, 5, 0, 0, 0, 0, 0, 4096)
        phdr = struct.pack(order + "IIQQQQQQ", 4, 4, ehsize + 2 * phentsize, 0, 0, len(notes), len(notes), 4)
    else:
        ehsize, phentsize = 52, 32
        ident = b"\x7fELF" + bytes([1, 1 if order == "<" else 2, 1]) + b"\x00" * 9
        header = struct.pack(order + "HHIIIIIHHHHHH", e_type, 3, 1, 0xc1000000, ehsize, 0, 0,
                             ehsize, phentsize, 2, 40, 0, 0)
        load = struct.pack(order + "IIIIIIII", 1, 0, 0, 0, 0, 0, 5, 4096)
        phdr = struct.pack(order + "IIIIIIII", 4, ehsize + 2 * phentsize, 0, 0, len(notes), len(notes), 4, 4)
    return ident + header + load + phdr + notes


@pytest.mark.parametrize("elf_class, order", [(64, "<"), (64, ">"), (32, "<"), (32, ">")])
def test_build_id_of_every_class_and_byte_order(tmp_path, elf_class, order):
    path = tmp_path / "vmlinux"
    path.write_bytes(vmlinux_elf(elf_class=elf_class, order=order))
    assert deep.elf_build_id(str(path)) == BUILD_ID


def test_build_id_absent(tmp_path):
    path = tmp_path / "vmlinux"
    path.write_bytes(vmlinux_elf(build_id=None))
    assert deep.elf_build_id(str(path)) is None


@pytest.mark.parametrize("data, message", [
    (b"", "is not an ELF file"),
    (b"#!/bin/sh\n" + b"x" * 80, "is not an ELF file"),
    (b"\x7fELF" + bytes([3, 1, 1]) + b"\x00" * 60, "unknown ELF class 3"),
])
def test_build_id_of_what_is_not_elf(tmp_path, data, message):
    path = tmp_path / "vmlinux"
    path.write_bytes(data)
    with pytest.raises(KdumpError, match=message):
        deep.elf_build_id(str(path))


def test_build_id_program_headers_cut_off(tmp_path):
    path = tmp_path / "vmlinux"
    path.write_bytes(vmlinux_elf()[:100])
    with pytest.raises(KdumpError, match="cut off"):
        deep.elf_build_id(str(path))


def test_build_id_missing_file(tmp_path):
    with pytest.raises(KdumpError, match="cannot read"):
        deep.elf_build_id(str(tmp_path / "nothing"))


@pytest.mark.skipif(not shutil.which("readelf"), reason="binutils' readelf is not installed")
@pytest.mark.parametrize("binary", ["/bin/sh", "/usr/bin/env"])
def test_build_id_equals_readelf_on_real_binaries(binary):
    out = subprocess.run(["readelf", "-n", os.path.realpath(binary)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout
    expected = [line.split(":", 1)[1].strip() for line in out.splitlines() if "Build ID:" in line]
    assert deep.elf_build_id(os.path.realpath(binary)) == (expected[0] if expected else None)


@pytest.mark.parametrize("layout, expected", [
    ("usr/lib/debug/boot/vmlinux-6.1.0-56-amd64", "usr/lib/debug/boot/vmlinux-6.1.0-56-amd64"),
    ("usr/lib/debug/lib/modules/6.1.0-56-amd64/vmlinux", "usr/lib/debug/lib/modules/6.1.0-56-amd64/vmlinux"),
    ("usr/lib/debug/boot/vmlinux-6.1.0-56-amd64.debug", "usr/lib/debug/boot/vmlinux-6.1.0-56-amd64.debug"),
    ("usr/lib/debug/boot/vmlinux-6.1.0-55-amd64", None),
])
def test_find_vmlinux_per_family(tmp_path, layout, expected):
    target = tmp_path / layout
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x")
    found = deep.find_vmlinux("6.1.0-56-amd64", root=str(tmp_path))
    assert found == (str(tmp_path / expected) if expected else None)


def test_find_vmlinux_prefers_the_debian_path(tmp_path):
    for layout in ("usr/lib/debug/lib/modules/R/vmlinux", "usr/lib/debug/boot/vmlinux-R"):
        (tmp_path / layout).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / layout).write_bytes(b"x")
    assert deep.find_vmlinux("R", root=str(tmp_path)) == str(tmp_path / "usr/lib/debug/boot/vmlinux-R")


@pytest.mark.parametrize("release", [None, "", "../../etc/passwd", "a/b", ".hidden"])
def test_no_candidates_for_unsafe_or_unknown_releases(release):
    assert deep.vmlinux_candidates(release) == []


def test_installed_vmlinux_files(tmp_path):
    assert deep.installed_vmlinux_files(str(tmp_path)) == []
    for layout in ("usr/lib/debug/boot/vmlinux-B", "usr/lib/debug/boot/System.map-B",
                   "usr/lib/debug/lib/modules/A/vmlinux", "usr/lib/debug/lib/modules/C/kernel/x.ko"):
        (tmp_path / layout).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / layout).write_bytes(b"xy")
    found = deep.installed_vmlinux_files(str(tmp_path))
    assert [(os.path.relpath(p, str(tmp_path)), size) for p, size, _mtime in found] == [
        ("usr/lib/debug/boot/vmlinux-B", 2), ("usr/lib/debug/lib/modules/A/vmlinux", 2)]


@pytest.mark.parametrize("commands, expected", [
    (["sys", "bt", "log", "ps"], [("sys", "01-sys.txt"), ("bt", "02-bt.txt"), ("log", "03-log.txt"),
                                  ("ps", "04-ps.txt")]),
    (["bt -a", "kmem -i", "  foreach   bt "],
     [("bt -a", "01-bt.txt"), ("kmem -i", "02-kmem.txt"), ("foreach bt", "03-foreach.txt")]),
    (["struct task_struct.comm ffff890586812100", "dis -l sysrq_handle_crash+0x16"],
     [("struct task_struct.comm ffff890586812100", "01-struct.txt"),
      ("dis -l sysrq_handle_crash+0x16", "02-dis.txt")]),
])
def test_allowed_commands(commands, expected):
    assert deep.check_commands(commands) == expected


@pytest.mark.parametrize("commands, message", [
    ([], "empty"),
    (["log > /etc/passwd"], "not allowed"),
    (["ps | grep sh"], "not allowed"),
    (["!sh"], "not allowed"),
    (["sys; !reboot"], "not allowed"),
    (["bt 'x'"], "not allowed"),
    (["Sys"], "not allowed"),
    (["quit"], "ends crash itself"),
    (["q"], "ends crash itself"),
])
def test_refused_commands(commands, message):
    with pytest.raises(KdumpError, match=message):
        deep.check_commands(commands)


def test_command_script():
    checked = deep.check_commands(["sys", "bt -a"])
    assert deep.command_script(checked, "/var/crash/1/.b.x/crash") == (
        "sys > /var/crash/1/.b.x/crash/01-sys.txt\n"
        "bt -a > /var/crash/1/.b.x/crash/02-bt.txt\n"
        "quit\n")


@pytest.mark.parametrize("outdir", ["/var/crash/a b/crash", "/tmp/x|y", "/tmp/x>y", "/tmp/'q'"])
def test_command_script_refuses_unsafe_directories(outdir):
    with pytest.raises(KdumpError, match="redirection"):
        deep.command_script(deep.check_commands(["sys"]), outdir)


def test_parse_sys_of_a_real_sysrq_dump():
    info = deep.parse_sys(fixture_text("sys-debian12-sysrq.txt"))
    assert info["panic"] == "Kernel panic - not syncing: sysrq triggered crash"
    assert info["release"] == "6.1.0-56-amd64"
    assert info["version"] == "#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)"
    assert info["load_average"] == "0.73, 0.31, 0.41"
    assert info["date"] == "Sun Nov 22 10:24:10 UTC 2026"
    assert info["dumpfile"].endswith("[PARTIAL DUMP]")
    assert (info["cpus"], info["memory"], info["nodename"]) == ("1", "1 GB", "kdump-bookworm")


def test_parse_bt_of_a_real_sysrq_dump():
    bt = deep.parse_bt(fixture_text("bt-debian12-sysrq.txt"))
    assert (bt["pid"], bt["command"], bt["cpu"]) == (2686, "sh", 0)
    assert bt["functions"][:5] == ["machine_kexec", "__crash_kexec", "panic", "sysrq_handle_crash",
                                   "__handle_sysrq.cold"]
    assert bt["functions"][-1] == "entry_SYSCALL_64_after_hwframe"
    assert len(bt["functions"]) == 13


def test_parsers_on_empty_or_foreign_text():
    assert deep.parse_sys("") == {}
    assert deep.parse_bt("crash: command not found: bt\n") == {
        "pid": None, "command": None, "cpu": None, "functions": []}


@pytest.mark.parametrize("dumps, expected", [
    ([], None),
    ([{"name": "dump.1", "format": "flattened", "complete": True}], "dump.1"),
    ([{"name": "dump-incomplete", "format": "flattened", "complete": False}], None),
    ([{"name": "vmcore.gz", "format": "gzip", "complete": True}], None),
    ([{"name": "vmcore", "format": "elf", "complete": True},
      {"name": "vmcore.flat", "format": "kdump_compressed", "complete": True}], "vmcore.flat"),
])
def test_pick_dump(dumps, expected):
    picked = deep.pick_dump(dumps)
    assert (picked["name"] if picked else None) == expected


def test_errors_in():
    text = "x\ncrash: command not found: foo\ncrash: command not found: foo\ncrash: seek error\n"
    assert deep.errors_in(text) == ["crash: command not found: foo", "crash: seek error"]
