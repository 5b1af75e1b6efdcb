# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dump identification and completeness: real makedumpfile output, byte-exact synthetic files."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bz2
import gzip
import hashlib
import io
import lzma
import os
import shutil
import struct
import subprocess

import pytest
from hypothesis import given, settings, HealthCheck
from hypothesis import strategies as st

from ansible_collections.crashkit.kdump.plugins.module_utils import _vmcore as vmcore
from ansible_collections.crashkit.kdump.tests.unit.fixtures.vmcore import builders

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "vmcore")
RELEASE = "6.1.0-18-amd64"
BUILD_ID = "4c3d8b1f2a9e7d6c5b4a39281706f5e4d3c2b1a0"
CRASHTIME = 1716000000


def fixture_bytes(name):
    with gzip.open(os.path.join(FIXTURES, name), "rb") as handle:
        return handle.read()


def inspect(data, **kwargs):
    return vmcore.inspect_handle(io.BytesIO(data), len(data), **kwargs)


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------------------------
# real makedumpfile 1.7.2 output


REAL = [
    # file, format, inner format, page compression, dump level, logical size
    ("makedumpfile-1.7.2-c-d0.kdump.gz", "kdump_compressed", None, "zlib", 0, 20705),
    ("makedumpfile-1.7.2-l-d1.kdump.gz", "kdump_compressed", None, "lzo", 1, 22753),
    ("makedumpfile-1.7.2-F-c-d1.flat.gz", "flattened", "kdump_compressed", "zlib", 1, 22669),
    ("makedumpfile-1.7.2-E-d1.elf.gz", "elf", None, None, None, 99588),
    ("makedumpfile-1.7.2-E-F-d1.flat.gz", "flattened", "elf", None, None, 99588),
    ("makedumpfile-1.7.2-split-c-d0.part1.gz", "kdump_compressed", None, "zlib", 0, 20705),
    # the second part of a two-way split of 64 pages holds no page: it ends after the bitmaps
    ("makedumpfile-1.7.2-split-c-d0.part2.gz", "kdump_compressed", None, "zlib", 0, 12296),
]


def test_fixture_input_is_what_the_fixtures_were_made_from():
    digest = hashlib.sha256(builders.memory_elf()).hexdigest()
    assert digest == "2b0833b9421a95cb0e481e43bd2211f3dc253b76252867a5add8f29514ff8595"


@pytest.mark.parametrize("name, fmt, inner, compression, level, logical", REAL)
def test_real_makedumpfile_output_is_complete(name, fmt, inner, compression, level, logical):
    result = inspect(fixture_bytes(name))
    assert result["complete"] is True, result["reason"]
    assert result["reason"] is None
    assert result["format"] == fmt
    assert result["inner_format"] == inner
    assert result["compression"] == compression
    assert result["dump_level"] == level
    assert result["logical_size"] == logical
    assert result["kernel_release"] == RELEASE
    assert result["build_id"] == BUILD_ID
    assert result["crash_time"] == CRASHTIME
    assert result["machine"] == "x86_64"


def test_real_kdump_header_fields():
    result = inspect(fixture_bytes("makedumpfile-1.7.2-c-d0.kdump.gz"))
    assert result["nodename"] == "pilot1"
    assert result["kernel_version"].startswith("#1 SMP PREEMPT_DYNAMIC Debian")
    assert result["header_version"] == 6
    assert result["incomplete_flag"] is False
    # the implied size is exactly the file: descriptors, page data, nothing missing
    assert result["implied_size"] == result["size"] == 20705


@pytest.mark.parametrize("name, notes", [
    ("makedumpfile-1.7.2-split-c-d0.part1.gz", ["split dump: pfn 0-64"]),
    ("makedumpfile-1.7.2-split-c-d0.part2.gz", ["split dump: pfn 64-64"]),
])
def test_real_split_parts(name, notes):
    assert inspect(fixture_bytes(name))["notes"] == notes


@pytest.mark.parametrize("name", [r[0] for r in REAL])
@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.999])
def test_real_output_cut_short_is_incomplete(name, keep):
    data = fixture_bytes(name)
    result = inspect(data[:int(len(data) * keep)])
    assert result["complete"] is False
    assert result["reason"]


@pytest.mark.parametrize("name", [r[0] for r in REAL])
def test_real_output_cut_by_16_bytes_is_incomplete(name):
    data = fixture_bytes(name)
    result = inspect(data[:-16])
    assert result["complete"] is False


def test_real_flattened_without_end_header():
    data = fixture_bytes("makedumpfile-1.7.2-F-c-d1.flat.gz")
    assert data[-16:] == b"\xff" * 16
    result = inspect(data[:-16])
    assert result["reason"] == "the file ends after 7 data blocks without the end header"
    assert result["inner_format"] == "kdump_compressed"
    assert result["kernel_release"] == RELEASE


@pytest.mark.skipif(not (os.environ.get("MAKEDUMPFILE") or shutil.which("makedumpfile")),
                    reason="no makedumpfile binary (set MAKEDUMPFILE=/path)")
@pytest.mark.parametrize("logical", [builders.kdump_compressed(), builders.elf_core()])
def test_real_makedumpfile_rearranges_our_flattened_files(tmp_path, logical):
    binary = os.environ.get("MAKEDUMPFILE") or shutil.which("makedumpfile")
    flat = builders.flatten(logical, block=1000)
    out = tmp_path / "rearranged"
    subprocess.run([binary, "-R", str(out)], input=flat, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert out.read_bytes() == logical


# ---------------------------------------------------------------------------------------------
# kdump-compressed


def test_synthetic_kdump_compressed_complete():
    data = builders.kdump_compressed()
    result = inspect(data)
    assert result["complete"] is True, result["reason"]
    assert result["implied_size"] == len(data)
    assert (result["kernel_release"], result["crash_time"], result["dump_level"]) == (RELEASE, CRASHTIME, 31)
    assert result["compression"] == "zlib"


@pytest.mark.parametrize("status, compression", [
    (0x0, "none"), (0x1, "zlib"), (0x2, "lzo"), (0x4, "snappy"), (0x20, "zstd"), (0x10 | 0x1, "zlib"),
])
def test_kdump_compression_flags(status, compression):
    result = inspect(builders.kdump_compressed(status=status))
    assert result["compression"] == compression
    assert result["complete"] is True
    if status & 0x10:
        assert any("vmemmap" in n for n in result["notes"])


def test_kdump_incomplete_flag():
    result = inspect(builders.kdump_compressed(status=0x1 | 0x8))
    assert result["complete"] is False
    assert result["incomplete_flag"] is True
    assert result["reason"] == vmcore.FLAG_PROBLEM_KDUMP


def test_kdump_big_endian():
    result = inspect(builders.kdump_compressed(order=">"))
    assert result["complete"] is True, result["reason"]
    assert result["kernel_release"] == RELEASE


@pytest.mark.parametrize("cut, reason", [
    (8, "the disk_dump_header is cut off or its block size is not a power of two"),
    (4096 + 50, "the kdump_sub_header is cut off"),
    (3 * 4096 + 4, "the file ends inside the bitmaps"),
    (4 * 4096 + 30, "the file ends inside the page descriptors"),
    (-1, "the dump has"),
])
def test_kdump_truncated(cut, reason):
    data = builders.kdump_compressed()
    result = inspect(data[:cut])
    assert result["complete"] is False
    assert reason in result["reason"]


def test_kdump_zeroed_descriptors_are_cut_off():
    """A file cut in the page descriptors and extended (a hole) is not complete."""
    data = bytearray(builders.kdump_compressed())
    descs = 4 * 4096
    data[descs:descs + 3 * 24] = b"\x00" * 72
    result = inspect(bytes(data))
    assert result["complete"] is False
    assert "last page descriptor is empty" in result["reason"]


def test_kdump_eraseinfo_counts_in_the_size():
    data = builders.kdump_compressed(eraseinfo=b"erase x size 4\n")
    assert inspect(data)["complete"] is True
    assert inspect(data[:-5])["complete"] is False


def test_kdump_split_counts_only_its_range():
    """A --split part has descriptors only for its own pfn range; the 2nd bitmap marks more."""
    part = builders.kdump_compressed(pages={1: b"a" * 10, 2: b"b" * 10}, split=(0, 32), other_parts=(40, 41))
    result = inspect(part)
    assert result["complete"] is True, result["reason"]
    assert result["notes"] == ["split dump: pfn 0-32"]
    # the same file read as a whole dump would miss the descriptors of pfn 40 and 41
    whole = builders.kdump_compressed(pages={1: b"a" * 10, 2: b"b" * 10}, other_parts=(40, 41))
    result = inspect(whole)
    assert result["complete"] is False
    assert result["reason"].startswith("the file ends inside the page descriptors")


def test_kdump_old_header_version_uses_utsname_and_timestamp():
    result = inspect(builders.kdump_compressed(header_version=1, vmcoreinfo=None, release="4.19.0-27-amd64"))
    assert result["kernel_release"] == "4.19.0-27-amd64"
    assert result["crash_time"] == CRASHTIME
    assert result["build_id"] is None
    assert result["complete"] is True


def test_kdump_32bit_layout_reads_main_header_only():
    header = struct.pack("<8si390s2xiiIiiIIIIIIi", b"KDUMP   ", 6, builders.utsname(release="5.10.0-i686"),
                         CRASHTIME, 0, 1, 4096, 1, 2, 64, 0, 0, 0, 0, 1)
    data = header.ljust(4 * 4096, b"\x00")
    result = inspect(data)
    assert result["kernel_release"] == "5.10.0-i686"
    assert result["complete"] is True
    assert any("32-bit" in n for n in result["notes"])
    assert inspect(data[:3 * 4096])["complete"] is False


def test_old_diskdump_signature():
    data = bytearray(builders.kdump_compressed())
    data[0:8] = b"DISKDUMP"
    result = inspect(bytes(data))
    assert result["format"] == "diskdump"
    assert any("old diskdump" in n for n in result["notes"])


def test_count_bits_edges():
    reader = vmcore.BytesReader(bytes([0xff, 0x0f, 0x80]))
    assert vmcore.count_bits(reader, 0, 0, 24) == 13
    assert vmcore.count_bits(reader, 0, 4, 12) == 8
    assert vmcore.count_bits(reader, 0, 3, 3) == 0
    assert vmcore.count_bits(reader, 0, 23, 24) == 1
    assert vmcore.count_bits(reader, 0, 0, 40) is None


# ---------------------------------------------------------------------------------------------
# ELF


def test_elf_vmcore_complete():
    data = builders.elf_core()
    result = inspect(data)
    assert result["complete"] is True, result["reason"]
    assert (result["format"], result["kernel_release"], result["crash_time"], result["build_id"]) == (
        "elf", RELEASE, CRASHTIME, BUILD_ID)


@pytest.mark.parametrize("elf_class, order, machine, expected", [
    (64, "<", 62, "x86_64"),
    (64, "<", 183, "aarch64"),
    (64, ">", 22, "s390x"),
    (64, "<", 21, "ppc64le"),
    (32, "<", 3, "i686"),
    (64, "<", 999, "elf-machine-999"),
])
def test_elf_classes_and_byte_orders(elf_class, order, machine, expected):
    result = inspect(builders.elf_core(elf_class=elf_class, order=order, machine=machine))
    assert result["complete"] is True, result["reason"]
    assert result["machine"] == expected
    assert result["kernel_release"] == RELEASE


@pytest.mark.parametrize("kwargs, reason", [
    ({"e_type": 2}, "not an ELF core file (e_type 2, a core file has 4)"),
    ({"e_flags": 1}, vmcore.FLAG_PROBLEM_ELF),
    ({"segments": ()}, "no PT_LOAD segment: the file holds no memory"),
])
def test_elf_problems(kwargs, reason):
    result = inspect(builders.elf_core(**kwargs))
    assert result["complete"] is False
    assert result["reason"] == reason


def test_elf_without_vmcoreinfo_is_still_a_complete_dump():
    result = inspect(builders.elf_core(vmcoreinfo=None))
    assert result["complete"] is True
    assert result["kernel_release"] is None


@pytest.mark.parametrize("cut, reason", [
    (10, "the ELF identification is cut off"),
    (40, "the ELF header is cut off"),
    (100, "the program header table is cut off"),
    (4096 + 100, "but its headers imply at least"),
])
def test_elf_truncated(cut, reason):
    result = inspect(builders.elf_core()[:cut])
    assert result["complete"] is False
    assert reason in result["reason"]


def test_elf_pn_xnum_reads_the_count_from_section_zero():
    data = bytearray(builders.elf_core())
    phnum = struct.unpack_from("<H", data, 56)[0]
    shoff = len(data)
    section0 = struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, phnum, 0, 0)
    struct.pack_into("<Q", data, 40, shoff)
    struct.pack_into("<H", data, 56, 0xffff)
    result = inspect(bytes(data) + section0)
    assert result["complete"] is True, result["reason"]
    assert result["kernel_release"] == RELEASE


def test_elf_bad_class():
    data = bytearray(builders.elf_core())
    data[4] = 7
    assert inspect(bytes(data))["reason"] == "unknown ELF class 7 or data encoding 1"


def test_vmcoreinfo_parsing():
    info = vmcore.parse_vmcoreinfo(b"OSRELEASE=6.12.1\nnoise\nCRASHTIME=17\n=x\nOSRELEASE=6.12.2\x00junk")
    assert info == {"OSRELEASE": "6.12.2", "CRASHTIME": "17"}


# ---------------------------------------------------------------------------------------------
# flattened


def test_flattened_complete_and_trailing_bytes():
    data = builders.flatten(builders.kdump_compressed())
    assert inspect(data)["complete"] is True
    result = inspect(data + b"garbage")
    assert result["complete"] is True
    assert result["notes"] == ["7 bytes after the end header are ignored"]


def test_flattened_out_of_order_writes():
    """makedumpfile writes the header, the notes, then the sub header: offsets go back."""
    logical = builders.kdump_compressed()
    order = [(0, 464), (4096 + 104, 1000), (4096, 104), (464, 4096 - 464)]
    order += [(pos, min(4096, len(logical) - pos)) for pos in range(4096 + 1104, len(logical), 4096)]
    result = inspect(builders.flatten(logical, order=order))
    assert result["complete"] is True, result["reason"]
    assert result["kernel_release"] == RELEASE
    assert result["build_id"] == BUILD_ID


@pytest.mark.parametrize("mangle, reason", [
    (lambda d: d[:100], "the flattened header is cut off (100 of 4096 bytes)"),
    (lambda d: d[:16] + struct.pack(">qq", 2, 1) + d[32:], "unknown flattened header (type 2, version 1)"),
    (lambda d: d[:4096 + 8], "the file ends inside a data header at 4096"),
    (lambda d: d[:4096] + struct.pack(">qq", 0, -5) + d[4112:], "invalid data header at 4096 (offset 0, size -5)"),
    (lambda d: d[:4096 + 16 + 100], "the data block at 4096 needs 4096 bytes but the file ends after 100"),
    (lambda d: d[:4096], "the file ends after 0 data blocks without the end header"),
])
def test_flattened_damage(mangle, reason):
    data = mangle(builders.flatten(builders.kdump_compressed()))
    result = inspect(data)
    assert result["complete"] is False
    assert result["format"] == "flattened"
    assert reason in result["reason"]


def test_flattened_inner_incomplete_flag():
    result = inspect(builders.flatten(builders.kdump_compressed(status=0x9)))
    assert result["complete"] is False
    assert result["reason"] == vmcore.FLAG_PROBLEM_KDUMP


def test_flattened_logical_size_shorter_than_headers_imply():
    elf = builders.elf_core()
    result = inspect(builders.flatten(elf[:4096 + 10]))
    assert result["complete"] is False
    assert "headers imply" in result["reason"]


def test_flattened_unknown_inside():
    result = inspect(builders.flatten(b"hello world" * 100))
    assert result["inner_format"] == "unknown"
    assert result["reason"] == "the flattened data does not hold a known dump format"


def test_flattened_walk_budget_falls_back_to_the_end_header():
    data = builders.flatten(builders.kdump_compressed(), block=512)
    result = inspect(data, max_blocks=3)
    assert result["complete"] is True
    assert result["notes"] == ["stopped walking after 3 blocks; checked the end header only"]
    result = inspect(data[:-16] + b"\x00" * 16, max_blocks=3)
    assert result["complete"] is False
    assert "does not end with the flattened end header" in result["reason"]


# ---------------------------------------------------------------------------------------------
# compressed containers (kdump-tools KDUMP_COMPRESSION)


def _xz(data):
    return lzma.compress(data, format=lzma.FORMAT_XZ)


CONTAINERS = [("gzip", gzip.compress), ("bzip2", bz2.compress), ("xz", _xz)]


@pytest.mark.parametrize("name, compress", CONTAINERS)
def test_container_verified(name, compress):
    flat = builders.flatten(builders.kdump_compressed())
    result = inspect(compress(flat), verify_compressed=True)
    assert result["complete"] is True, result["reason"]
    assert (result["format"], result["container"], result["inner_format"]) == (name, name, "flattened")
    assert result["logical_size"] == len(flat)
    assert result["kernel_release"] == RELEASE


@pytest.mark.parametrize("name, compress", CONTAINERS)
def test_container_cut_off(name, compress):
    packed = compress(builders.flatten(builders.kdump_compressed()))
    result = inspect(packed[:len(packed) // 2], verify_compressed=True)
    assert result["complete"] is False
    assert "stream is cut off" in result["reason"] or "stream is corrupt" in result["reason"]


@pytest.mark.parametrize("name, compress", CONTAINERS)
def test_container_holding_an_unfinished_flattened_dump(name, compress):
    """kdump-tools pipes makedumpfile into the compressor: a failed makedumpfile still gives a
    well-formed compressed file, so the dump inside must be checked to its end."""
    flat = builders.flatten(builders.kdump_compressed(), end=False)
    result = inspect(compress(flat), verify_compressed=True)
    assert result["complete"] is False
    assert result["reason"] == "the flattened dump inside does not end with its end header: it is cut off"


@pytest.mark.parametrize("inner", [builders.kdump_compressed(), builders.elf_core()])
def test_container_of_an_unflattened_dump(inner):
    assert inspect(gzip.compress(inner), verify_compressed=True)["complete"] is True
    cut = inspect(gzip.compress(inner[:-100]), verify_compressed=True)
    assert cut["complete"] is False
    assert "headers imply" in cut["reason"]


def test_container_not_verified_when_bigger_than_the_head():
    logical = builders.elf_core(segments=((0x100000, b"\x00" * (6 << 20)),))
    packed = gzip.compress(logical)
    result = inspect(packed, verify_compressed=False)
    assert result["complete"] is False
    assert "only known complete after decompressing it to the end (verify_compressed)" in result["reason"]
    assert result["kernel_release"] == RELEASE
    assert inspect(packed, verify_compressed=True)["complete"] is True


def test_small_container_is_read_to_its_end_anyway():
    result = inspect(gzip.compress(builders.flatten(builders.elf_core())), verify_compressed=False)
    assert result["complete"] is True


def test_concatenated_gzip_members_and_zero_padding():
    flat = builders.flatten(builders.kdump_compressed())
    packed = gzip.compress(flat[:5000]) + gzip.compress(flat[5000:]) + b"\x00" * 512
    result = inspect(packed, verify_compressed=True)
    assert result["complete"] is True, result["reason"]
    assert result["logical_size"] == len(flat)


@pytest.mark.parametrize("magic, name", [(b"\x04\x22\x4d\x18", "lz4"), (b"\x28\xb5\x2f\xfd", "zstd")])
def test_unverifiable_containers(magic, name):
    result = inspect(magic + b"\x00" * 100)
    assert result["format"] == name
    assert result["complete"] is False
    assert "cannot be verified here" in result["reason"]


def test_container_of_junk():
    result = inspect(gzip.compress(b"not a dump" * 10), verify_compressed=True)
    assert result["inner_format"] == "unknown"
    assert result["reason"] == "the gzip stream does not hold a known dump format"


def test_corrupt_gzip():
    packed = bytearray(gzip.compress(builders.flatten(builders.elf_core())))
    packed[20:40] = b"\xff" * 20
    result = inspect(bytes(packed), verify_compressed=True)
    assert result["complete"] is False


# ---------------------------------------------------------------------------------------------
# not dumps at all


@pytest.mark.parametrize("data, fmt", [
    (b"", "empty"),
    (b"\x00", "unknown"),
    (b"junk" * 1000, "unknown"),
    (b"KDUMP   ", "kdump_compressed"),
    (b"\x7fELF", "elf"),
    (b"makedumpfile", "flattened"),
    (b"\x1f\x8b", "gzip"),
])
def test_junk_and_stubs(data, fmt):
    result = inspect(data, verify_compressed=True)
    assert result["format"] == fmt
    assert result["complete"] is False
    assert result["reason"]


def test_unreadable_path(tmp_path):
    result = vmcore.inspect_file(str(tmp_path / "missing"))
    assert result["format"] == "unreadable"
    assert result["complete"] is False
    assert "cannot read" in result["reason"]


RESULT_KEYS = set(vmcore.new_result(0))


def _check_result(result):
    assert set(result) == RESULT_KEYS
    assert isinstance(result["complete"], bool)
    assert result["complete"] == (result["reason"] is None)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=6000))
def test_any_bytes_give_a_result(data):
    _check_result(inspect(data, verify_compressed=True))


PREFIXES = [b"KDUMP   ", b"DISKDUMP", b"\x7fELF\x02\x01", b"\x7fELF\x01\x02",
            b"makedumpfile\x00\x00\x00\x00" + struct.pack(">qq", 1, 1), b"\x1f\x8b\x08\x00", b"BZh9", b"\xfd7zXZ\x00"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PREFIXES), st.binary(max_size=9000))
def test_any_bytes_behind_a_signature_give_a_result(prefix, data):
    body = prefix + data
    if prefix.startswith(b"makedumpfile"):
        body = body[:32].ljust(4096, b"\x00") + data
    _check_result(inspect(body, verify_compressed=True))


SEEDS = [builders.kdump_compressed(), builders.elf_core(), builders.flatten(builders.kdump_compressed()),
         builders.flatten(builders.elf_core()), builders.kdump_compressed(order=">"),
         builders.elf_core(elf_class=32)]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 30000), st.integers(0, 255)), max_size=12),
       st.integers(0, 30000))
def test_mutated_dumps_give_a_result(seed, flips, cut):
    data = bytearray(seed)
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    _check_result(inspect(bytes(data[:cut] if cut else data)))


# ---------------------------------------------------------------------------------------------
# crash directories


STAMP = "202405181200"


@pytest.fixture
def flat_dump():
    return builders.flatten(builders.kdump_compressed())


def names_of(result):
    return [os.path.relpath(d["path"]) for d in result["dumps"]]


def test_debian_layout(tmp_path, flat_dump):
    root = tmp_path / "crash"
    write(root / "kexec_cmd", b"kexec -p ...")
    write(root / "kdump_lock", b"")
    write(root / STAMP / ("dump." + STAMP), flat_dump)
    write(root / STAMP / ("dmesg." + STAMP), b"[ 1.0] crashkit panic test t1\n")
    write(root / "202405181300" / "dump-incomplete", flat_dump[:6000])
    write(root / "202405181300" / "dmesg.202405181300", b"")
    result = vmcore.scan(str(root))
    assert result["exists"] is True
    by_name = {d["name"]: d for d in result["dumps"]}
    assert set(by_name) == {"dump." + STAMP, "dump-incomplete"}
    done = by_name["dump." + STAMP]
    assert (done["layout"], done["stamp"], done["complete"]) == ("debian", STAMP, True)
    assert done["dmesg_path"] == str(root / STAMP / ("dmesg." + STAMP))
    partial = by_name["dump-incomplete"]
    assert partial["complete"] is False
    assert partial["reason"].startswith("dump-incomplete is the temporary name")


def test_debian_remote_and_compressed(tmp_path, flat_dump):
    root = tmp_path / "srv"
    path = write(root / "pilot1" / ("10.0.2.15-" + STAMP) / ("dump." + STAMP + ".gz"), gzip.compress(flat_dump))
    result = vmcore.scan(str(root), verify_compressed=True)
    [dump] = result["dumps"]
    assert dump["path"] == str(path)
    assert (dump["layout"], dump["host_tag"], dump["format"], dump["complete"]) == ("debian", "10.0.2.15", "gzip", True)
    unverified = vmcore.scan(str(root), verify_compressed=False)["dumps"][0]
    assert unverified["complete"] is True  # small: read to its end anyway


def test_debian_cp_fallback(tmp_path):
    root = tmp_path / "crash"
    write(root / STAMP / ("vmcore." + STAMP), builders.elf_core())
    write(root / "202405181300" / "vmcore-incomplete", builders.elf_core()[:5000])
    dumps = vmcore.scan(str(root))["dumps"]
    assert sorted((d["name"], d["layout"], d["complete"]) for d in dumps) == [
        ("vmcore-incomplete", "debian", False), ("vmcore." + STAMP, "debian", True)]


def test_redhat_layout(tmp_path):
    root = tmp_path / "crash"
    done = root / "127.0.0.1-2024-05-18-12:00:01"
    write(done / "vmcore", builders.kdump_compressed())
    write(done / "vmcore-dmesg.txt", b"crashkit panic test t1\n")
    write(done / "kexec-dmesg.log", b"log")
    busy = root / "192.168.1.5-2024-05-18-13:00:01"
    write(busy / "vmcore-incomplete", builders.kdump_compressed()[:9000])
    write(busy / "vmcore-dmesg-incomplete.txt", b"partial")
    ssh = root / "10.0.0.7-2024-05-18-14:00:01"
    write(ssh / "vmcore.flat", builders.flatten(builders.kdump_compressed()))
    dumps = {d["path"]: d for d in vmcore.scan(str(root))["dumps"]}
    first = dumps[str(done / "vmcore")]
    assert (first["layout"], first["host_tag"], first["stamp"], first["complete"]) == (
        "redhat", "127.0.0.1", "2024-05-18-12:00:01", True)
    assert first["dmesg_path"] == str(done / "vmcore-dmesg.txt")
    second = dumps[str(busy / "vmcore-incomplete")]
    assert second["complete"] is False
    assert second["dmesg_path"] == str(busy / "vmcore-dmesg-incomplete.txt")
    assert second["dmesg_complete"] is False
    third = dumps[str(ssh / "vmcore.flat")]
    assert (third["layout"], third["format"], third["complete"]) == ("redhat", "flattened", True)


def test_redhat_test_id_dir(tmp_path):
    write(tmp_path / "kdump-test-abc" / "vmcore", builders.kdump_compressed())
    [dump] = vmcore.scan(str(tmp_path))["dumps"]
    assert (dump["layout"], dump["stamp"]) == ("redhat", "abc")


SUSE_FINAL = """Kernel crashdump
----------------
dmesg status: saved successfully
vmcore status: saved successfully
Kernel version: 6.4.0
"""
SUSE_TEMP = """This file will be overwritten when the dump is finished.
If you see this text the crash dump is likely incomplete.
"""
SUSE_FAILED = SUSE_FINAL.replace("vmcore status: saved successfully", "vmcore status: error while saving, return code: 1")


@pytest.mark.parametrize("readme, complete, reason", [
    (SUSE_FINAL, True, None),
    (SUSE_TEMP, False, "README.txt still says the dump is likely incomplete"),
    (SUSE_FAILED, False, "README.txt says: vmcore status: error while saving, return code: 1"),
    (None, True, None),
])
def test_suse2_layout(tmp_path, flat_dump, readme, complete, reason):
    directory = tmp_path / "2024-05-18-12-00"
    write(directory / "vmcore", flat_dump)
    write(directory / "dmesg", b"kernel log")
    if readme is not None:
        write(directory / "README.txt", readme.encode())
    [dump] = vmcore.scan(str(tmp_path))["dumps"]
    assert (dump["layout"], dump["complete"]) == ("suse", complete)
    assert dump["dmesg_path"] == str(directory / "dmesg")
    if reason:
        assert dump["reason"].startswith(reason)


def test_suse1_layout_and_split_parts(tmp_path):
    directory = tmp_path / "10.0.0.9-2024-05-18-12:00"
    write(directory / "vmcore1", builders.kdump_compressed())
    write(directory / "vmcore2", builders.kdump_compressed())
    write(directory / "dmesg.txt", b"log")
    dumps = vmcore.scan(str(tmp_path))["dumps"]
    assert [(d["name"], d["layout"], d["host_tag"]) for d in dumps] == [
        ("vmcore1", "suse", "10.0.0.9"), ("vmcore2", "suse", "10.0.0.9")]
    assert all(d["dmesg_path"] == str(directory / "dmesg.txt") for d in dumps)


def test_since_and_exclude(tmp_path, flat_dump):
    old = write(tmp_path / "202401010000" / "dump.202401010000", flat_dump)
    new = write(tmp_path / STAMP / ("dump." + STAMP), flat_dump)
    other = write(tmp_path / "202405181400" / "dump.202405181400", flat_dump)
    os.utime(str(old), (1000, 1000))
    os.utime(str(new), (5000, 5000))
    os.utime(str(other), (6000, 6000))
    assert [d["path"] for d in vmcore.scan(str(tmp_path))["dumps"]] == [str(old), str(new), str(other)]
    assert [d["path"] for d in vmcore.scan(str(tmp_path), since=5000)["dumps"]] == [str(new), str(other)]
    assert [d["path"] for d in vmcore.scan(str(tmp_path), since=5000, exclude=[str(other)])["dumps"]] == [str(new)]
    # excluded paths are compared normalised
    assert vmcore.scan(str(tmp_path), exclude=[str(tmp_path) + "//" + STAMP + "/../" + STAMP + "/dump." + STAMP,
                                               str(old), str(other)])["dumps"] == []


def test_excluded_and_old_files_are_not_opened(tmp_path, monkeypatch, flat_dump):
    write(tmp_path / STAMP / ("dump." + STAMP), flat_dump)
    opened = []
    real = vmcore.inspect_file
    monkeypatch.setattr(vmcore, "inspect_file", lambda path, **kw: opened.append(path) or real(path, **kw))
    assert vmcore.scan(str(tmp_path), since=2 ** 40)["dumps"] == []
    assert vmcore.scan(str(tmp_path), exclude=[str(tmp_path / STAMP / ("dump." + STAMP))])["dumps"] == []
    assert opened == []


def test_scan_depth(tmp_path, flat_dump):
    write(tmp_path / "a" / "b" / STAMP / ("dump." + STAMP), flat_dump)
    assert vmcore.scan(str(tmp_path))["dumps"] == []
    assert len(vmcore.scan(str(tmp_path / "a"))["dumps"]) == 1
    assert len(vmcore.scan(str(tmp_path), depth=3)["dumps"]) == 1


def test_scan_missing_root(tmp_path):
    assert vmcore.scan(str(tmp_path / "nope")) == {"exists": False, "dumps": [], "errors": []}


def test_scan_a_single_file_of_any_name(tmp_path):
    path = write(tmp_path / STAMP / "copy-of-the-dump", builders.kdump_compressed())
    write(tmp_path / STAMP / ("dmesg." + STAMP), b"log")
    [dump] = vmcore.scan(str(path))["dumps"]
    assert (dump["path"], dump["complete"], dump["layout"]) == (str(path), True, "debian")
    assert dump["dmesg_path"] == str(tmp_path / STAMP / ("dmesg." + STAMP))


def test_scan_skips_symlinked_dirs_and_non_files(tmp_path, flat_dump):
    real = tmp_path / "elsewhere"
    write(real / STAMP / ("dump." + STAMP), flat_dump)
    root = tmp_path / "crash"
    root.mkdir()
    os.symlink(str(real / STAMP), str(root / STAMP))
    (root / "202405181300").mkdir()
    (root / "202405181300" / "vmcore").mkdir()
    assert vmcore.scan(str(root))["dumps"] == []


@pytest.mark.parametrize("name, expected", [
    ("dump.202405181200", ("debian", True)),
    ("dump.202405181200.xz", ("debian", True)),
    ("dump-incomplete.lz4", ("debian", False)),
    ("vmcore", (None, True)),
    ("vmcore.flat", ("redhat", True)),
    ("vmcore-incomplete", (None, False)),
    ("vmcore3", ("suse", True)),
    ("vmcore-dmesg.txt", None),
    ("dump.2024", None),
    ("README.txt", None),
])
def test_dump_names(name, expected):
    assert vmcore.dump_name(name) == expected


@pytest.mark.parametrize("name, expected", [
    ("202405181200", ("debian", None, "202405181200")),
    ("host-a-202405181200", ("debian", "host-a", "202405181200")),
    ("127.0.0.1-2024-05-18-12:00:01", ("redhat", "127.0.0.1", "2024-05-18-12:00:01")),
    ("2024-05-18-12-00", ("suse", None, "2024-05-18-12-00")),
    ("2024-05-18-12:00", ("suse", None, "2024-05-18-12:00")),
    ("web1-2024-05-18-12-00", ("suse", "web1", "2024-05-18-12-00")),
    ("lost+found", (None, None, None)),
])
def test_dir_layouts(name, expected):
    assert vmcore.dir_layout(name) == expected


# ---------------------------------------------------------------------------------------------
# dmesg search


def test_file_contains_across_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(vmcore, "CHUNK", 7)
    path = write(tmp_path / "dmesg", b"[ 12.3] crashkit panic test abc123\n[ 12.4] sysrq: Trigger a crash\n")
    assert vmcore.file_contains(str(path), "crashkit panic test abc123") is True
    assert vmcore.file_contains(str(path), "crashkit panic test abc124") is False
    assert vmcore.file_contains(str(path), "") is True
    assert vmcore.file_contains(str(tmp_path / "missing"), "x") is None


def test_file_contains_limit(tmp_path):
    path = write(tmp_path / "dmesg", b"x" * 100 + b"needle")
    assert vmcore.file_contains(str(path), "needle", limit=50) is False
    assert vmcore.file_contains(str(path), "needle", limit=200) is True
