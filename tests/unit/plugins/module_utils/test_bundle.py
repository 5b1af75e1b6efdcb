# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_bundle on real files: kernel logs of the lab VMs and of the triage fixtures, real makedumpfile
output for kernel release / build id / crash time, journalctl JSON, dpkg.log and rpm lines."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import tarfile

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.crashkit.kdump.plugins.module_utils import _bundle, _vmcore
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError, ParseError
from ansible_collections.crashkit.kdump.plugins.module_utils._triage import triage_file

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "fixtures")
LAB = os.path.join(HERE, "..", "..", "lab", "fixtures")
TRIAGE = os.path.join(FIXTURES, "triage")
VMCORE = os.path.join(FIXTURES, "vmcore")


@pytest.mark.parametrize("name, line, uptime", [
    ("sysrq_debian12.log", None, None),
    ("sysrq_debian12.log", "triage", 123.456901),
    ("sysrq_debian13.log", "triage", None),
])
def test_uptime_at_the_crash_line(name, line, uptime):
    path = os.path.join(TRIAGE, name)
    if line == "triage":
        record = triage_file(path)
        line = record["line"]
        got = _bundle.uptime_at(path, line)
        with open(path) as handle:
            text = handle.readlines()[line - 1]
        assert got == _bundle.timestamp_of(text) or _bundle.timestamp_of(text) is None
        if uptime is not None:
            assert got == uptime
    else:
        assert _bundle.uptime_at(path) is not None


@pytest.mark.parametrize("name, line, uptime", [
    ("console-trixie-panic.tlog", 796, 546.698002),
    ("console-bookworm-kdump.tlog", 1469, 501.751965),
])
def test_uptime_in_the_lab_console_captures(name, line, uptime):
    assert _bundle.uptime_at(os.path.join(LAB, name), line) == uptime


def test_boot_command_line_of_the_crashed_kernel():
    cmdline = _bundle.boot_command_line(os.path.join(TRIAGE, "sysrq_debian12.log"))
    assert cmdline.endswith("ro quiet crashkernel=384M-:256M")
    assert _bundle.crashkernel_args(cmdline) == ["crashkernel=384M-:256M"]
    trixie = _bundle.boot_command_line(os.path.join(LAB, "console-trixie-panic.tlog"))
    assert trixie.startswith("BOOT_IMAGE=/boot/vmlinuz-6.12.117+deb13-amd64") and "console=ttyS0,115200" in trixie


@pytest.mark.parametrize("cmdline, expected", [
    (None, []), ("", []), ("ro quiet", []),
    ("crashkernel=1G-4G:192M,4G-:256M ro crashkernel=64M,low", ["crashkernel=1G-4G:192M,4G-:256M", "crashkernel=64M,low"]),
])
def test_crashkernel_args(cmdline, expected):
    assert _bundle.crashkernel_args(cmdline) == expected


@pytest.mark.parametrize("fixture", [
    "makedumpfile-1.7.2-F-c-d1.flat.gz", "makedumpfile-1.7.2-c-d0.kdump.gz", "makedumpfile-1.7.2-E-d1.elf.gz",
    "makedumpfile-1.7.2-l-d1.kdump.gz", "makedumpfile-1.7.2-E-F-d1.flat.gz",
])
def test_kernel_release_and_build_id_from_real_makedumpfile_output(tmp_path, fixture):
    """What vmcore_bundle reports as kernel release, build id and crash time: the dump's VMCOREINFO."""
    path = str(tmp_path / "dump")
    with gzip.open(os.path.join(VMCORE, fixture)) as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    record = _vmcore.inspect_file(path)
    assert record["kernel_release"] == "6.1.0-18-amd64"
    assert record["build_id"] == "4c3d8b1f2a9e7d6c5b4a39281706f5e4d3c2b1a0"
    assert record["crash_time"] == 1716000000


BOOTS = json.dumps([
    {"index": -2, "boot_id": "a" * 32, "first_entry": 1000 * 10**6, "last_entry": 1900 * 10**6},
    {"index": -1, "boot_id": "b" * 32, "first_entry": 2000 * 10**6, "last_entry": 2500 * 10**6},
    {"index": 0, "boot_id": "c" * 32, "first_entry": 2600 * 10**6, "last_entry": 2700 * 10**6},
])


@pytest.mark.parametrize("crash_time, crashed, previous", [
    (2400, "b" * 32, "a" * 32),
    (1500, "a" * 32, None),
    (None, "b" * 32, "a" * 32),
    (2650, None, None),
    (500, None, None),
])
def test_pick_boot(crash_time, crashed, previous):
    boots = _bundle.parse_boots(BOOTS)
    got, before, how = _bundle.pick_boot(boots, crash_time)
    assert (got["boot_id"] if got else None) == crashed
    assert (before["boot_id"] if before else None) == previous
    assert how


def test_pick_boot_in_a_volatile_journal():
    boots = _bundle.parse_boots(json.dumps([{"index": 0, "boot_id": "c" * 32, "first_entry": 1, "last_entry": 2}]))
    assert _bundle.pick_boot(boots, None)[0] is None
    assert "current one" in _bundle.pick_boot(boots, 5)[2]
    assert _bundle.pick_boot(_bundle.parse_boots(""), 5) == (None, None, "the journal lists no boots")


@pytest.mark.parametrize("text", ["not json", "{}", '[{"index": 0}]', '[{"boot_id": "x", "first_entry": "a"}]'])
def test_parse_boots_refuses(text):
    with pytest.raises(ParseError):
        _bundle.parse_boots(text)


@given(st.text(max_size=300))
@settings(max_examples=200, deadline=None)
def test_parse_boots_any_text(text):
    try:
        _bundle.parse_boots(text)
    except KdumpError:
        pass


DPKG_LOG = """2024-05-17 09:00:00 startup archives unpack
2024-05-17 09:00:01 upgrade libc6:amd64 2.36-9+deb12u6 2.36-9+deb12u7
2024-05-18 11:58:01 install linux-image-6.1.0-21-amd64:amd64 <none> 6.1.90-1
2024-05-18 11:58:02 status unpacked linux-image-6.1.0-21-amd64:amd64 6.1.90-1
2024-05-18 11:59:00 remove nano:amd64 7.2-1 <none>
garbage line
"""


def test_dpkg_changes_since():
    changes = _bundle.dpkg_changes(DPKG_LOG.splitlines(True), "2024-05-18 00:00:00")
    assert [(c["action"], c["package"]) for c in changes] == [
        ("install", "linux-image-6.1.0-21-amd64:amd64"), ("remove", "nano:amd64")]
    assert len(_bundle.dpkg_changes(DPKG_LOG.splitlines(True), None)) == 3


def test_rpm_changes_since():
    lines = ["1716000000 kernel-5.14.0-427.el9.x86_64", "1700000000 bash-5.1.8-9.el9.x86_64", "bad", ""]
    assert _bundle.rpm_changes(lines, 1710000000) == [
        {"time": 1716000000, "action": "install", "package": "kernel-5.14.0-427.el9.x86_64"}]


def test_sha256sums_are_what_sha256sum_checks(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("a\n")
    (tmp_path / "sub" / "b.json").write_text("{}\n")
    files = _bundle.list_files(str(tmp_path))
    assert files == ["a.txt", "sub/b.json"]
    text = _bundle.sha256sums(str(tmp_path), files)
    assert _bundle.parse_sha256sums(text)["a.txt"] == hashlib.sha256(b"a\n").hexdigest()
    (tmp_path / "SHA256SUMS").write_text(text)
    if shutil.which("sha256sum"):
        subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=str(tmp_path), check=True)
    with pytest.raises(ParseError):
        _bundle.parse_sha256sums("nonsense\n")


def test_archive_is_reproducible_and_complete(tmp_path):
    src = tmp_path / "bundle"
    (src / "kdump").mkdir(parents=True)
    (src / "dmesg.txt").write_text("log\n")
    (src / "kdump" / "etc_default_kdump-tools").write_text("USE_KDUMP=1\n")
    one, two = str(tmp_path / "one.tar.gz"), str(tmp_path / "two.tar.gz")
    _bundle.write_archive(str(src), one, "crashkit-bundle-web1-202405181200", 1716000000)
    _bundle.write_archive(str(src), two, "crashkit-bundle-web1-202405181200", 1716000000)
    with open(one, "rb") as a, open(two, "rb") as b:
        assert a.read() == b.read()
    with tarfile.open(one) as tar:
        names = tar.getnames()
        assert names == ["crashkit-bundle-web1-202405181200", "crashkit-bundle-web1-202405181200/dmesg.txt",
                         "crashkit-bundle-web1-202405181200/kdump",
                         "crashkit-bundle-web1-202405181200/kdump/etc_default_kdump-tools"]
        member = tar.getmember("crashkit-bundle-web1-202405181200/dmesg.txt")
        assert tar.extractfile(member).read() == b"log\n" and member.uname == "root"
    assert not os.path.exists(one + ".tmp")


def test_inputs_key_changes_with_files_and_options():
    base = _bundle.inputs_key([("dump.1", 10, 5)], {"change_id": None})
    assert base == _bundle.inputs_key([("dump.1", 10, 5)], {"change_id": None})
    assert base != _bundle.inputs_key([("dump.1", 11, 5)], {"change_id": None})
    assert base != _bundle.inputs_key([("dump.1", 10, 5)], {"change_id": "CHG-1"})
