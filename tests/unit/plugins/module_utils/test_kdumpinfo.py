# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsers behind kdump_info: makedumpfile output, meminfo, Secure Boot, dump directories."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.crashkit.kdump.plugins.module_utils import _kdumpinfo as ki
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import (
    KdumpError,
    ParseError,
    ValidationError,
)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "kdumpconf")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def build_tree(root, listing):
    """Create the files of a crash-tree-*.txt listing below ``root``."""
    for line in fixture(listing).splitlines():
        if not line or line.startswith("#"):
            continue
        fields = line.split("\t")
        path = os.path.join(str(root), fields[0])
        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path))
        if fields[1].startswith("file:"):
            with open(path, "w") as handle:
                handle.write(fixture(fields[1][5:]))
        else:
            with open(path, "wb") as handle:
                handle.truncate(int(fields[1]))  # sparse: the size is real, the disk use is not
        os.utime(path, (int(fields[2]), int(fields[2])))
    return str(root)


# ---------------------------------------------------------------------------------------------
# makedumpfile -v

@pytest.mark.parametrize("name,version,released,compressions,supported", [
    ("makedumpfile-1.7.2-debian12.version", "1.7.2", "20 Oct 2022",
     {"zlib": True, "lzo": True, "snappy": False, "zstd": False}, ["zlib", "lzo", "none"]),
    ("makedumpfile-1.7.7-ppc64le-kexec-list.version", "1.7.7", "21 Apr 2025",
     {"zlib": True, "lzo": True, "snappy": True, "zstd": False}, ["zlib", "lzo", "snappy", "none"]),
    ("makedumpfile-1.6.6-kexec-list.version", "1.6.6", "27 Jun 2019",
     {"zlib": True, "lzo": True, "snappy": False, "zstd": False}, ["zlib", "lzo", "none"]),
])
def test_makedumpfile_version(name, version, released, compressions, supported):
    info = ki.parse_makedumpfile_version(fixture(name))
    assert info["version"] == version
    assert info["released"] == released
    assert dict(info["compressions"]) == compressions
    assert info["supported_compressions"] == supported


def test_makedumpfile_version_all_enabled():
    text = "makedumpfile: version 1.7.5 (released on 10 Apr 2024)\nlzo\tenabled\nsnappy\tenabled\nzstd\tenabled\n\n"
    assert ki.parse_makedumpfile_version(text)["supported_compressions"] == ["zlib", "lzo", "snappy", "zstd", "none"]


def test_makedumpfile_version_refuses_other_text():
    with pytest.raises(ParseError):
        ki.parse_makedumpfile_version("bash: makedumpfile: command not found\n")


@pytest.mark.parametrize("compression,ok", [("zlib", True), ("none", True), ("lzo", True),
                                            ("snappy", False), ("zstd", False)])
def test_check_compression_on_bookworm(compression, ok):
    info = ki.parse_makedumpfile_version(fixture("makedumpfile-1.7.2-debian12.version"))
    if ok:
        ki.check_compression(compression, info)
    else:
        with pytest.raises(ValidationError, match="not supported by makedumpfile 1.7.2"):
            ki.check_compression(compression, info)


# ---------------------------------------------------------------------------------------------
# makedumpfile --mem-usage

def test_mem_usage_arm64():
    usage = ki.parse_mem_usage(fixture("makedumpfile-mem-usage-arm64-6.5.out"))
    assert usage["page_size"] == 4096
    assert usage["total_pages"] == 16512804
    assert usage["total_bytes"] == 67636445184
    assert list(usage["types"]) == ["ZERO", "NON_PRI_CACHE", "PRI_CACHE", "USER", "FREE", "KERN_DATA"]
    assert usage["types"]["KERN_DATA"] == {"pages": 459950, "excludable": False, "description": "Dumpable kernel data"}
    assert usage["types"]["FREE"]["pages"] == 15809884


@pytest.mark.parametrize("level,pages", [
    (31, 459950),
    (0, 76234 + 147613 + 3847 + 15276 + 15809884 + 459950),
    (1, 147613 + 3847 + 15276 + 15809884 + 459950),
    (2, 76234 + 3847 + 15276 + 15809884 + 459950),
    (4, 76234 + 15276 + 15809884 + 459950),  # bit 4 drops both cache kinds
    (8, 76234 + 147613 + 3847 + 15809884 + 459950),
    (16, 76234 + 147613 + 3847 + 15276 + 459950),
    (17, 147613 + 3847 + 15276 + 459950),
])
def test_dump_size_by_level(level, pages):
    usage = ki.parse_mem_usage(fixture("makedumpfile-mem-usage-arm64-6.5.out"))
    assert ki.dump_size_from_mem_usage(usage, level) == pages * 4096


def test_mem_usage_big_host_and_space_separated_copy():
    usage = ki.parse_mem_usage(fixture("makedumpfile-mem-usage-x86_64-4TiB.out"))
    assert ki.dump_size_from_mem_usage(usage, 31) == 17464385 * 4096
    spaced = fixture("makedumpfile-mem-usage-arm64-6.5.out").replace("\t", "    ")
    assert ki.parse_mem_usage(spaced) == ki.parse_mem_usage(fixture("makedumpfile-mem-usage-arm64-6.5.out"))


def test_mem_usage_counts_unknown_types():
    text = fixture("makedumpfile-mem-usage-arm64-6.5.out").replace(
        "USER\t", "ZFS_CACHE\t1000            \tyes\t\tZFS ARC data pages\nUSER\t")
    usage = ki.parse_mem_usage(text)
    assert ki.dump_size_from_mem_usage(usage, 31) == (459950 + 1000) * 4096


def test_mem_usage_without_reservation():
    with pytest.raises(ParseError, match="No memory is reserved for crashkernel"):
        ki.parse_mem_usage(fixture("makedumpfile-1.7.2-mem-usage-no-crashkernel.out"))


# ---------------------------------------------------------------------------------------------
# meminfo, sysfs

MEMINFO = "MemTotal:        4028256 kB\nMemFree:         3122016 kB\nHugePages_Total:       0\nHugepagesize:       2048 kB\n"


def test_meminfo_and_estimate():
    info = ki.parse_meminfo(MEMINFO)
    assert info["MemTotal"] == 4028256 * 1024
    assert info["HugePages_Total"] == 0
    assert ki.dump_size_from_meminfo(info) == int(4028256 * 1024 * ki.DEFAULT_ESTIMATE_RATIO)
    assert ki.dump_size_from_meminfo(info, 1.0) == 4028256 * 1024
    with pytest.raises(ValidationError):
        ki.dump_size_from_meminfo(info, 0)
    with pytest.raises(ParseError):
        ki.parse_meminfo("MemFree: 1 kB\n")


@pytest.mark.parametrize("text,value", [("1\n", 1), ("0\n", 0), ("268435456\n", 268435456)])
def test_sysfs_int(text, value):
    assert ki.parse_sysfs_int(text) == value


def test_sysfs_int_garbage():
    with pytest.raises(ParseError, match="kexec_crash_size"):
        ki.parse_sysfs_int("abc", "kexec_crash_size")


# ---------------------------------------------------------------------------------------------
# Secure Boot

@pytest.mark.parametrize("text,enabled,setup,shim,efi", [
    ("SecureBoot enabled\n", True, False, None, True),
    ("SecureBoot disabled\n", False, False, None, True),
    ("SecureBoot disabled\nPlatform is in Setup Mode\n", False, True, None, True),
    ("SecureBoot enabled\nSecureBoot validation is disabled in shim\n", True, False, False, True),
    ("EFI variables are not supported on this system\n", False, None, None, False),
    ("SecureBoot unknown", None, False, None, True),
])
def test_mokutil(text, enabled, setup, shim, efi):
    state = ki.parse_sb_state(text)
    assert (state["enabled"], state["setup_mode"], state["shim_validation"], state["efi"]) == (enabled, setup, shim, efi)
    assert state["source"] == "mokutil"


def test_mokutil_garbage():
    with pytest.raises(ParseError):
        ki.parse_sb_state("mokutil: command not found")


ATTRS = b"\x06\x00\x00\x00"


@pytest.mark.parametrize("sb,sm,enabled,setup", [
    (ATTRS + b"\x01", ATTRS + b"\x00", True, False),
    (ATTRS + b"\x01", ATTRS + b"\x01", False, True),
    (ATTRS + b"\x00", ATTRS + b"\x00", False, False),
    (ATTRS + b"\x01", None, True, None),
    (None, None, None, None),
    (b"\x06", None, None, None),
])
def test_efivars(sb, sm, enabled, setup):
    state = ki.secure_boot_from_efivars(sb, sm)
    assert (state["enabled"], state["setup_mode"]) == (enabled, setup)
    assert state["source"] == "efivars"


# ---------------------------------------------------------------------------------------------
# dump directories

def test_debian_tree(tmp_path):
    dumps = ki.scan_crash_dir(build_tree(tmp_path, "crash-tree-debian.txt"))
    summary = [(d["name"], d["layout"], d["complete"], d["size"]) for d in dumps]
    assert summary == [
        ("202403011230", "debian", True, 48234496),
        ("202403021015", "debian", False, 1048576),
        ("202403031100", "debian", True, 2147483648),
        ("202403041200", "debian", False, 4096),
        ("202403051300", "debian", True, 12345678),
    ]
    first = dumps[0]
    assert first["vmcore"] == os.path.join(str(tmp_path), "202403011230", "dump.202403011230")
    assert first["dmesg"] == os.path.join(str(tmp_path), "202403011230", "dmesg.202403011230")
    assert first["mtime"] == 1709296290
    assert dumps[1]["vmcore"] is None
    assert dumps[1]["incomplete_file"].endswith("/dump-incomplete")
    assert dumps[3]["dmesg"] is None


def test_redhat_tree(tmp_path):
    dumps = ki.scan_crash_dir(build_tree(tmp_path, "crash-tree-redhat.txt"))
    summary = [(d["name"], d["layout"], d["complete"], os.path.basename(d["vmcore"] or "-")) for d in dumps]
    assert summary == [
        ("127.0.0.1-2024-03-01-12:30:45", "redhat", True, "vmcore"),
        ("127.0.0.1-2024-03-02-10:15:00", "redhat", False, "-"),
        ("192.168.122.10-2024-03-03-08:00:01", "redhat", True, "vmcore.flat"),
    ]
    assert dumps[0]["size"] == 52428800
    assert dumps[0]["dmesg"].endswith("vmcore-dmesg.txt")


def test_suse_tree(tmp_path):
    dumps = ki.scan_crash_dir(build_tree(tmp_path, "crash-tree-suse.txt"))
    summary = [(d["name"], d["layout"], d["complete"], os.path.basename(d["dmesg"])) for d in dumps]
    assert summary == [
        ("2023-01-05-10:11", "suse", True, "dmesg.txt"),
        ("2024-03-01-12-30", "suse", True, "dmesg"),
        ("2024-03-02-09-00", "suse", False, "dmesg"),
    ]


def test_missing_crash_dir(tmp_path):
    assert ki.scan_crash_dir(str(tmp_path / "nope")) == []


def test_unrelated_directories_are_skipped():
    assert ki.classify_dump_dir("lost+found", {"notes.txt": (1, 1)}) is None
    assert ki.classify_dump_dir("backup", {}) is None


# ---------------------------------------------------------------------------------------------
# hypothesis: parsers give a value or a domain error

@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300))
def test_parsers_never_crash(text):
    for call in (ki.parse_makedumpfile_version, ki.parse_mem_usage, ki.parse_meminfo, ki.parse_sysfs_int,
                 ki.parse_sb_state):
        try:
            call(text)
        except KdumpError:
            pass


@settings(max_examples=200, deadline=None)
@given(name=st.text(max_size=40),
       files=st.dictionaries(st.text(max_size=30), st.tuples(st.integers(0, 2 ** 40), st.floats(0, 2e9)), max_size=6),
       readme=st.one_of(st.none(), st.text(max_size=100)))
def test_classify_never_crashes(name, files, readme):
    result = ki.classify_dump_dir(name, files, readme)
    assert result is None or isinstance(result["complete"], bool)


@pytest.mark.parametrize("stdout,state", [
    ("enabled\n", "enabled"), ("disabled\n", "disabled"), ("masked\n", "masked"), ("active\n", "active"),
    ("inactive\n", "inactive"), ("failed\n", "failed"), ("not-found\n", "not-found"), ("", None),
    ("System has not been booted with systemd\n", None), ("garbage\n", None),
])
def test_systemctl_state(stdout, state):
    assert ki.parse_systemctl_state(stdout) == state
