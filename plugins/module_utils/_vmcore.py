# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""Identify a kernel crash dump by its headers and tell whether it is complete.

Nothing here reads a dump whole (except the opt-in decompression of a compressed container):
headers, the end of the file and a bounded number of small structures are enough.

Formats, as written by makedumpfile (``makedumpfile.h``, ``diskdump_mod.h``, ``IMPLEMENTATION``
of makedumpfile 1.7.x) and the kernel:

* **flattened** (``makedumpfile -F``, what Debian kdump-tools, RHEL ssh targets and SUSE kdump
  write): a 4096-byte header that starts with ``struct makedumpfile_header`` (signature
  ``"makedumpfile"`` padded to 16 bytes, big-endian int64 ``type`` = 1 (``TYPE_FLAT_HEADER``) and
  ``version``), then data blocks, each a big-endian ``struct makedumpfile_data_header``
  (int64 ``offset``, int64 ``buf_size``) followed by ``buf_size`` bytes that belong at
  ``offset`` of the rearranged file, and finally the end header: offset and size both -1
  (``END_FLAG_FLAT_HEADER``). makedumpfile writes the end header only after all data, so a
  file that does not end with it is incomplete. The blocks are walked (16 bytes read per
  block) exactly like ``makedumpfile -R`` does; the first MiBs of the rearranged file are
  rebuilt in memory to read the dump inside (kdump-compressed or ELF).
* **kdump-compressed** (``"KDUMP   "``, makedumpfile's default): ``struct disk_dump_header``
  (utsname, crash timestamp, ``status`` with the compression and
  ``DUMP_DH_COMPRESSED_INCOMPLETE`` (0x8) flags, ``block_size``, ``sub_hdr_size``,
  ``bitmap_blocks``) in block 0, ``struct kdump_sub_header`` (dump level, split range,
  VMCOREINFO and ELF note offsets, eraseinfo, 64-bit max_mapnr) in block 1, two bitmaps, one
  ``page_desc_t`` (24 bytes) per dumpable page, page data, eraseinfo. Complete when the
  incomplete flag is clear and the file is at least as long as the headers imply: the 2nd
  bitmap gives the number of page descriptors, the last descriptors give the end of the page
  data. 64-bit layouts (x86_64, arm64, ppc64, s390x) of both byte orders are read in full;
  32-bit ones only by their main header.
* **ELF** (``/proc/vmcore`` copied, ``makedumpfile -E``): an ``ET_CORE`` file; the PT_NOTE
  segment holds a ``VMCOREINFO`` note (``OSRELEASE=``, ``BUILD-ID=``, ``CRASHTIME=``).
  Complete when every PT_LOAD segment lies within the file and makedumpfile's incomplete bit
  (``e_flags`` 0x1, ``DUMP_ELF_INCOMPLETE``) is clear.
* **compressed containers** (kdump-tools ``KDUMP_COMPRESSION``: gzip, bzip2, xz, lz4): the
  dump inside is identified from its first decompressed MiBs. Whether it is complete can only
  be known by decompressing it to the end (``verify_compressed``), which is done for gzip,
  bzip2 and xz with the standard library; lz4 and zstd cannot be verified here.

Crash directories of the three families (file names from kdump-tools 1.8 ``kdump-config``,
kdump-utils ``dracut/99kdumpbase/kdump.sh``, openSUSE kdump 1.x ``kdumptool/savedump.cc`` and
2.x ``dracut/kdump-save``):

* Debian: ``<YYYYmmddHHMM>/dump.<stamp>`` (``<ip-or-hostname>-<stamp>`` on a remote target,
  ``.gz/.bz2/.lz4/.xz`` with compression), ``dmesg.<stamp>``; ``dump-incomplete`` while being
  written; ``vmcore.<stamp>`` / ``vmcore-incomplete`` when makedumpfile failed and ``cp`` was
  used.
* Red Hat: ``<ip>-<YYYY-mm-dd-HH:MM:SS>/vmcore`` (``vmcore.flat`` over ssh),
  ``vmcore-dmesg.txt``; ``vmcore-incomplete`` and ``vmcore-dmesg-incomplete.txt`` while being
  written; ``kdump-test-<id>/`` with ``kdump_test_id=``.
* SUSE: ``<YYYY-mm-dd-HH-MM>/vmcore`` (2.x, ``<hostname>-`` prefix on remote targets) with
  ``dmesg`` and ``README.txt`` (which says the dump is likely incomplete until it is rewritten
  at the end); 1.x: ``<YYYY-mm-dd-HH:MM>/vmcore`` (``vmcore1``... when split), ``dmesg.txt``.

Bad input never raises: every file gets a result whose ``complete`` is false with a
``reason``.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bz2
import lzma
import os
import re
import stat
import struct
import zlib

from ansible_collections.crashkit.kdump.plugins.module_utils import _capture, _safefs
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError

# ---------------------------------------------------------------------------------------------
# constants of the formats

FLAT_SIGNATURE = b"makedumpfile"
FLAT_HEADER_SIZE = 4096  # MAX_SIZE_MDF_HEADER
FLAT_TYPE = 1  # TYPE_FLAT_HEADER
FLAT_END = b"\xff" * 16  # END_FLAG_FLAT_HEADER for offset and buf_size, any byte order

KDUMP_SIGNATURE = b"KDUMP   "
DISKDUMP_SIGNATURE = b"DISKDUMP"
DUMP_DH_COMPRESSED_ZLIB = 0x1
DUMP_DH_COMPRESSED_LZO = 0x2
DUMP_DH_COMPRESSED_SNAPPY = 0x4
DUMP_DH_COMPRESSED_INCOMPLETE = 0x8
DUMP_DH_EXCLUDED_VMEMMAP = 0x10
DUMP_DH_COMPRESSED_ZSTD = 0x20
PAGE_DESC_SIZE = 24  # off_t offset, unsigned int size, unsigned int flags, u64 page_flags
UTS_FIELD = 65

ELF_MAGIC = b"\x7fELF"
ET_CORE = 4
PT_LOAD = 1
PT_NOTE = 4
PN_XNUM = 0xFFFF
DUMP_ELF_INCOMPLETE = 0x1
# (e_machine, ELF class, data encoding) -> the machine name uname reports.
ELF_MACHINES = {
    (62, 2, 1): "x86_64",
    (183, 2, 1): "aarch64",
    (21, 2, 1): "ppc64le",
    (21, 2, 2): "ppc64",
    (22, 2, 2): "s390x",
    (243, 2, 1): "riscv64",
    (3, 1, 1): "i686",
    (40, 1, 1): "armv7l",
}

FLAG_PROBLEM_KDUMP = ("makedumpfile marked the dump incomplete (DUMP_DH_COMPRESSED_INCOMPLETE):"
                      " it ran out of space or was interrupted")
FLAG_PROBLEM_ELF = "makedumpfile marked the ELF dump incomplete (e_flags bit 0x1)"

FORMAT_FLATTENED = "flattened"
FORMAT_KDUMP = "kdump_compressed"
FORMAT_DISKDUMP = "diskdump"
FORMAT_ELF = "elf"
FORMAT_EMPTY = "empty"
FORMAT_UNKNOWN = "unknown"
FORMAT_UNREADABLE = "unreadable"

CONTAINERS = (
    ("gzip", b"\x1f\x8b"),
    ("bzip2", b"BZh"),
    ("xz", b"\xfd7zXZ\x00"),
    ("lz4", b"\x04\x22\x4d\x18"),
    ("zstd", b"\x28\xb5\x2f\xfd"),
)
VERIFIABLE_CONTAINERS = ("gzip", "bzip2", "xz")

# Limits that keep a hostile or corrupt file from costing more than a few MiB of memory.
HEAD_LIMIT = 4 * 1024 * 1024  # bytes of the logical dump rebuilt in memory
NOTE_LIMIT = 16 * 1024 * 1024  # bytes of ELF notes / VMCOREINFO read
MAX_PHDRS = 1 << 20
MAX_FLAT_BLOCKS = 4 * 1000 * 1000  # beyond this the flattened walk stops, the tail decides
BITMAP_CHUNK = 1024 * 1024
TAIL_DESCRIPTORS = 256
CHUNK = 1024 * 1024
# Crash times outside [1990-01-01, 2100-01-01) are not believed.
MIN_TIME = 631152000
MAX_TIME = 4102444800

COMPRESSION_BITS = (
    (DUMP_DH_COMPRESSED_ZLIB, "zlib"),
    (DUMP_DH_COMPRESSED_LZO, "lzo"),
    (DUMP_DH_COMPRESSED_SNAPPY, "snappy"),
    (DUMP_DH_COMPRESSED_ZSTD, "zstd"),
)

# disk_dump_header for LP64 targets: signature, header_version, utsname, 6 bytes of padding,
# struct timeval (2 x long), status, block_size, sub_hdr_size, bitmap_blocks, max_mapnr,
# total_ram_blocks, device_blocks, written_blocks, current_cpu, nr_cpus (464 bytes).
_DH64 = "8si390s6xqqIiiIIIIIIi"
# ILP32 targets: 4-byte longs, 4-byte alignment (452 bytes).
_DH32 = "8si390s2xiiIiiIIIIIIi"
# kdump_sub_header for LP64 targets (104 bytes).
_KSH64 = "QiiQQqQqQqQQQQ"


def _struct(order, fmt):
    return struct.Struct(order + fmt)


DH64_SIZE = struct.calcsize("<" + _DH64)
DH32_SIZE = struct.calcsize("<" + _DH32)
KSH64_SIZE = struct.calcsize("<" + _KSH64)


# ---------------------------------------------------------------------------------------------
# readers


class FileReader(object):
    """Random access to a seekable binary file object."""

    def __init__(self, handle, size):
        self.handle = handle
        self.size = size

    def read_at(self, offset, length):
        if offset < 0 or length <= 0 or offset >= self.size:
            return b""
        self.handle.seek(offset)
        wanted = min(length, self.size - offset)
        data = self.handle.read(wanted)
        while data is not None and len(data) < wanted:
            more = self.handle.read(wanted - len(data))
            if not more:
                break
            data += more
        return data or b""


class BytesReader(object):
    """Random access to bytes in memory; ``size`` may be larger than what is held."""

    def __init__(self, data, size=None):
        self.data = data
        self.size = len(data) if size is None else size

    def read_at(self, offset, length):
        if offset < 0 or length <= 0:
            return b""
        return self.data[offset:offset + length]


class FlatView(object):
    """The first ``HEAD_LIMIT`` bytes of a rearranged flattened dump, rebuilt from its blocks.

    Bytes never written read as zeros (as in the sparse file ``makedumpfile -R`` makes); bytes
    beyond the rebuilt head are not available (short read).
    """

    def __init__(self, reader, blocks, size):
        self.size = size
        limit = min(size, HEAD_LIMIT)
        head = bytearray(limit)
        for offset, length, position in blocks:
            if offset >= limit:
                continue
            take = min(length, limit - offset)
            data = reader.read_at(position, take)
            head[offset:offset + len(data)] = data
        self.data = bytes(head)

    def read_at(self, offset, length):
        if offset < 0 or length <= 0:
            return b""
        return self.data[offset:offset + length]


# ---------------------------------------------------------------------------------------------
# results


def new_result(size):
    return {
        "format": FORMAT_UNKNOWN,
        "inner_format": None,
        "container": None,
        "compression": None,
        "complete": False,
        "reason": None,
        "notes": [],
        "size": size,
        "logical_size": None,
        "kernel_release": None,
        "kernel_version": None,
        "machine": None,
        "nodename": None,
        "crash_time": None,
        "build_id": None,
        "dump_level": None,
        "header_version": None,
        "incomplete_flag": None,
        "implied_size": None,
    }


def _cstr(raw):
    return raw.split(b"\x00", 1)[0].decode("utf-8", "replace")


def plausible_time(value, result=None):
    """``value`` (epoch seconds from a dump header) when it can be a crash time, else ``None``
    (with a note in ``result``): a header is data from the crashed host, a year-3000 or negative
    time is refused here rather than breaking every consumer of the record."""
    if isinstance(value, int) and MIN_TIME <= value <= MAX_TIME:
        return value
    if result is not None:
        result["notes"].append("the crash time in the header (%s) is not plausible: ignored" % str(value)[:24])
    return None


def parse_vmcoreinfo(data):
    """``KEY=VALUE`` lines of a VMCOREINFO note -> dict (the last value of a key wins)."""
    info = {}
    text = data.split(b"\x00", 1)[0].decode("latin-1")
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key:
            info[key] = value
    return info


def parse_notes(data, order):
    """ELF notes in ``data`` -> list of ``(name, type, desc)``; stops at the first bad one."""
    notes = []
    pos = 0
    header = struct.Struct(order + "III")
    while pos + header.size <= len(data):
        namesz, descsz, ntype = header.unpack_from(data, pos)
        pos += header.size
        name_end = pos + namesz
        desc_start = pos + ((namesz + 3) & ~3)
        desc_end = desc_start + descsz
        if desc_end > len(data):
            break
        name = data[pos:name_end].rstrip(b"\x00").decode("latin-1")
        notes.append((name, ntype, data[desc_start:desc_end]))
        pos = desc_start + ((descsz + 3) & ~3)
    return notes


def _apply_vmcoreinfo(result, info):
    if not info:
        return
    if info.get("OSRELEASE") and not result["kernel_release"]:
        result["kernel_release"] = info["OSRELEASE"]
    if info.get("BUILD-ID"):
        result["build_id"] = info["BUILD-ID"]
    crashtime = info.get("CRASHTIME", "")
    if re.match(r"^[0-9]{1,18}\Z", crashtime):
        result["crash_time"] = plausible_time(int(crashtime), result)


def _vmcoreinfo_from_notes(notes):
    for name, _ntype, desc in notes:
        if name == "VMCOREINFO":
            return parse_vmcoreinfo(desc)
    return None


# ---------------------------------------------------------------------------------------------
# kdump-compressed


def _plausible_block_size(value):
    return 512 <= value <= (1 << 20) and value & (value - 1) == 0


def _read_diskdump_header(reader):
    """Return ``(order, bits, fields)`` for the first layout whose values make sense."""
    for bits, fmt, size in ((64, _DH64, DH64_SIZE), (32, _DH32, DH32_SIZE)):
        raw = reader.read_at(0, size)
        if len(raw) < size:
            continue
        for order in ("<", ">"):
            fields = _struct(order, fmt).unpack(raw)
            (_sig, version, _uts, _sec, _usec, _status, block_size, sub_hdr_size,
             bitmap_blocks) = fields[:9]
            if (0 <= version < 1024 and _plausible_block_size(block_size)
                    and 0 <= sub_hdr_size < (1 << 20) and bitmap_blocks > 0):
                return order, bits, fields
    return None


def count_bits(reader, offset, start_bit, end_bit):
    """Number of set bits in ``[start_bit, end_bit)`` of the bitmap at ``offset``.

    Bit ``n`` is bit ``n % 8`` of byte ``n // 8`` (makedumpfile's ``set_bit_on_2nd_bitmap``).
    Returns ``None`` when the bitmap is cut off by the end of the data.
    """
    if end_bit <= start_bit:
        return 0
    total = 0
    first_byte = start_bit // 8
    last_byte = (end_bit + 7) // 8
    pos = first_byte
    while pos < last_byte:
        length = min(BITMAP_CHUNK, last_byte - pos)
        chunk = reader.read_at(offset + pos, length)
        if len(chunk) < length:
            return None
        value = int.from_bytes(chunk, "little")
        low = max(start_bit - pos * 8, 0)
        high = min(end_bit - pos * 8, length * 8)
        value >>= low
        value &= (1 << (high - low)) - 1
        total += bin(value).count("1")
        pos += length
    return total


def _inspect_diskdump(reader, size, result, deep):
    """Fill ``result`` from a kdump-compressed (or old diskdump) header.

    Returns a list of problems that make the dump incomplete. ``deep`` allows reading the
    bitmap and the page descriptors (plain files only); otherwise only the header blocks
    bound the implied size.
    """
    problems = []
    signature = reader.read_at(0, 8)
    result["format"] = FORMAT_KDUMP if signature == KDUMP_SIGNATURE else FORMAT_DISKDUMP
    parsed = _read_diskdump_header(reader)
    if parsed is None:
        problems.append("the disk_dump_header is cut off or its block size is not a power of two")
        return problems
    order, bits, fields = parsed
    (_sig, version, uts, tv_sec, _usec, status, block_size, sub_hdr_size, bitmap_blocks,
     max_mapnr) = fields[:10]
    result["header_version"] = version
    result["kernel_release"] = _cstr(uts[2 * UTS_FIELD:3 * UTS_FIELD]) or None
    result["kernel_version"] = _cstr(uts[3 * UTS_FIELD:4 * UTS_FIELD]) or None
    result["machine"] = _cstr(uts[4 * UTS_FIELD:5 * UTS_FIELD]) or None
    result["nodename"] = _cstr(uts[UTS_FIELD:2 * UTS_FIELD]) or None
    if tv_sec:
        result["crash_time"] = plausible_time(tv_sec, result)
    result["compression"] = "none"
    for bit, name in COMPRESSION_BITS:
        if status & bit:
            result["compression"] = name
            break
    result["incomplete_flag"] = bool(status & DUMP_DH_COMPRESSED_INCOMPLETE)
    if status & DUMP_DH_EXCLUDED_VMEMMAP:
        result["notes"].append("unused vmemmap pages are excluded (DUMP_DH_EXCLUDED_VMEMMAP)")
    if result["incomplete_flag"]:
        problems.append(FLAG_PROBLEM_KDUMP)

    # makedumpfile writes each bitmap only as far as max_mapnr needs (a dump without pages ends
    # there: the last part of a --split dump can); page descriptors start at the next block.
    headers_end = (1 + sub_hdr_size + bitmap_blocks) * block_size
    bitmap_bits = bitmap_blocks * block_size * 4
    bitmap2 = (1 + sub_hdr_size) * block_size + bitmap_blocks * block_size // 2

    def bitmaps_end(mapnr):
        return bitmap2 + (min(mapnr, bitmap_bits) + 7) // 8

    implied = bitmaps_end(max_mapnr)
    if result["format"] != FORMAT_KDUMP or bits != 64:
        what = "old diskdump" if result["format"] == FORMAT_DISKDUMP else "32-bit kdump-compressed"
        result["notes"].append("%s layout: only the main header was checked" % what)
        result["implied_size"] = implied
        return problems

    sub = reader.read_at(block_size, KSH64_SIZE)
    if len(sub) < KSH64_SIZE:
        problems.append("the kdump_sub_header is cut off")
        result["implied_size"] = implied
        return problems
    (_phys_base, dump_level, split, _start32, _end32, off_vmcoreinfo, size_vmcoreinfo,
     off_note, size_note, off_erase, size_erase, start_pfn, end_pfn,
     max_mapnr_64) = _struct(order, _KSH64).unpack(sub)
    if version >= 1:
        result["dump_level"] = dump_level
    if version >= 6 and max_mapnr_64:
        max_mapnr = max_mapnr_64
        implied = bitmaps_end(max_mapnr)
    info = None
    if version >= 3 and 0 < size_vmcoreinfo <= NOTE_LIMIT and off_vmcoreinfo > 0:
        info = parse_vmcoreinfo(reader.read_at(off_vmcoreinfo, size_vmcoreinfo))
    if not (info and "OSRELEASE" in info) and version >= 4 and 0 < size_note <= NOTE_LIMIT and off_note > 0:
        info = _vmcoreinfo_from_notes(parse_notes(reader.read_at(off_note, size_note), order))
    _apply_vmcoreinfo(result, info)
    if version >= 5 and size_erase > 0:
        implied = max(implied, off_erase + size_erase)

    if deep:
        first, last = 0, max_mapnr
        if version >= 2 and split:
            first, last = (start_pfn, end_pfn) if version >= 6 else (_start32, _end32)
            result["notes"].append("split dump: pfn %d-%d" % (first, last))
        pages = count_bits(reader, bitmap2, first, min(last, bitmap_bits))
        if pages is None:
            problems.append("the file ends inside the bitmaps (%d bytes, they end at %d)"
                            % (size, bitmaps_end(max_mapnr)))
        elif pages:
            desc_end = headers_end + pages * PAGE_DESC_SIZE
            implied = max(implied, desc_end)
            tail = min(pages, TAIL_DESCRIPTORS)
            raw = reader.read_at(desc_end - tail * PAGE_DESC_SIZE, tail * PAGE_DESC_SIZE)
            if len(raw) < tail * PAGE_DESC_SIZE:
                problems.append("the file ends inside the page descriptors (%d bytes, they end at %d)"
                                % (size, desc_end))
            else:
                desc = _struct(order, "qIIQ")
                data_end = 0
                last_offset, last_size = desc.unpack_from(raw, len(raw) - PAGE_DESC_SIZE)[:2]
                for index in range(tail):
                    offset, length = desc.unpack_from(raw, index * PAGE_DESC_SIZE)[:2]
                    if offset >= desc_end and length > 0:
                        data_end = max(data_end, offset + length)
                if last_offset < desc_end or last_size == 0 or last_size > block_size:
                    problems.append("the last page descriptor is empty or invalid (offset %d,"
                                    " size %d): the dump was cut off" % (last_offset, last_size))
                implied = max(implied, data_end)
    result["implied_size"] = implied
    return problems


# ---------------------------------------------------------------------------------------------
# ELF


def _inspect_elf(reader, size, result):
    problems = []
    result["format"] = FORMAT_ELF
    ident = reader.read_at(0, 16)
    if len(ident) < 16:
        return ["the ELF identification is cut off"]
    elf_class, data = ident[4], ident[5]
    if elf_class not in (1, 2) or data not in (1, 2):
        return ["unknown ELF class %d or data encoding %d" % (elf_class, data)]
    order = "<" if data == 1 else ">"
    if elf_class == 2:
        ehdr = _struct(order, "HHIQQQIHHHHHH")
        phdr = _struct(order, "IIQQQQQQ")
        sh_info_offset = 44
    else:
        ehdr = _struct(order, "HHIIIIIHHHHHH")
        phdr = _struct(order, "IIIIIIII")
        sh_info_offset = 28
    raw = reader.read_at(16, ehdr.size)
    if len(raw) < ehdr.size:
        return ["the ELF header is cut off"]
    (e_type, e_machine, _ver, _entry, e_phoff, e_shoff, e_flags, _ehsize, e_phentsize, e_phnum,
     e_shentsize, _shnum, _shstrndx) = ehdr.unpack(raw)
    result["machine"] = ELF_MACHINES.get((e_machine, elf_class, data), "elf-machine-%d" % e_machine)
    if e_type != ET_CORE:
        return ["not an ELF core file (e_type %d, a core file has %d)" % (e_type, ET_CORE)]
    if e_phnum == PN_XNUM and e_shoff:
        section0 = reader.read_at(e_shoff + sh_info_offset, 4)
        if len(section0) == 4:
            e_phnum = struct.unpack(order + "I", section0)[0]
    if e_phentsize < phdr.size or e_phnum > MAX_PHDRS:
        return ["implausible program header table (%d entries of %d bytes)" % (e_phnum, e_phentsize)]
    table = reader.read_at(e_phoff, e_phnum * e_phentsize)
    if len(table) < e_phnum * e_phentsize:
        return ["the program header table is cut off"]
    implied = e_phoff + e_phnum * e_phentsize
    loads = 0
    notes = []
    for index in range(e_phnum):
        fields = phdr.unpack_from(table, index * e_phentsize)
        if elf_class == 2:
            p_type, _flags, p_offset, _vaddr, _paddr, p_filesz = fields[:6]
        else:
            p_type, p_offset, _vaddr, _paddr, p_filesz = fields[:5]
        if p_type == PT_LOAD:
            loads += 1
            implied = max(implied, p_offset + p_filesz)
        elif p_type == PT_NOTE and 0 < p_filesz <= NOTE_LIMIT:
            notes.extend(parse_notes(reader.read_at(p_offset, p_filesz), order))
            implied = max(implied, p_offset + p_filesz)
    _apply_vmcoreinfo(result, _vmcoreinfo_from_notes(notes))
    result["implied_size"] = implied
    result["incomplete_flag"] = bool(e_flags & DUMP_ELF_INCOMPLETE)
    if not loads:
        problems.append("no PT_LOAD segment: the file holds no memory")
    if result["incomplete_flag"]:
        problems.append(FLAG_PROBLEM_ELF)
    return problems


# ---------------------------------------------------------------------------------------------
# dispatch on the logical content


def _inspect_logical(reader, size, result, deep):
    """Inspect an unflattened dump; returns problems (``None`` when the format is unknown).

    Size is not compared here: the caller knows whether ``size`` is final.
    """
    magic = reader.read_at(0, 8)
    if magic in (KDUMP_SIGNATURE, DISKDUMP_SIGNATURE):
        return _inspect_diskdump(reader, size, result, deep)
    if magic[:4] == ELF_MAGIC:
        return _inspect_elf(reader, size, result)
    return None


def _size_problem(result, size):
    implied = result["implied_size"]
    if implied is not None and size < implied:
        return "the dump has %d bytes but its headers imply at least %d: it is cut off" % (size, implied)
    return None


def walk_flattened(reader, size, max_blocks=MAX_FLAT_BLOCKS):
    """Walk the data headers of a flattened file like ``makedumpfile -R``.

    Returns a dict: ``end`` (offset just after the end header, or ``None``), ``problem``,
    ``blocks`` (``(offset, size, file position)`` of blocks that start in the head),
    ``logical_size``, ``count`` and ``walked`` (false when ``max_blocks`` stopped the walk).
    """
    header = struct.Struct(">qq")
    pos = FLAT_HEADER_SIZE
    walk = {"end": None, "problem": None, "blocks": [], "logical_size": 0, "count": 0, "walked": True}
    while True:
        raw = reader.read_at(pos, header.size)
        if len(raw) < header.size:
            if pos >= size:
                walk["problem"] = "the file ends after %d data blocks without the end header" % walk["count"]
            else:
                walk["problem"] = "the file ends inside a data header at %d" % pos
            return walk
        offset, length = header.unpack(raw)
        if offset == -1 and length == -1:
            walk["end"] = pos + header.size
            return walk
        if offset < 0 or length <= 0:
            walk["problem"] = "invalid data header at %d (offset %d, size %d)" % (pos, offset, length)
            return walk
        if pos + header.size + length > size:
            walk["problem"] = ("the data block at %d needs %d bytes but the file ends after %d"
                               % (pos, length, size - pos - header.size))
            return walk
        if offset < HEAD_LIMIT:
            walk["blocks"].append((offset, length, pos + header.size))
        walk["logical_size"] = max(walk["logical_size"], offset + length)
        walk["count"] += 1
        pos += header.size + length
        if walk["count"] >= max_blocks:
            walk["walked"] = False
            return walk


def _flat_header_problem(head):
    if len(head) < FLAT_HEADER_SIZE:
        return "the flattened header is cut off (%d of %d bytes)" % (len(head), FLAT_HEADER_SIZE)
    flat_type, version = struct.unpack(">qq", head[16:32])
    if head[12:16] != b"\x00" * 4 or flat_type != FLAT_TYPE:
        return "unknown flattened header (type %d, version %d)" % (flat_type, version)
    return None


def _inner_of_flattened(reader, walk, result):
    """Inspect the dump inside a walked flattened file; returns its problems or ``None``."""
    if not walk["blocks"]:
        return None
    view = FlatView(reader, walk["blocks"], walk["logical_size"])
    inner = _inspect_logical(view, walk["logical_size"], result, deep=False)
    result["inner_format"] = result["format"] if inner is not None else FORMAT_UNKNOWN
    result["format"] = FORMAT_FLATTENED
    return inner


def _inspect_flattened(reader, size, result, max_blocks):
    result["format"] = FORMAT_FLATTENED
    head = reader.read_at(0, FLAT_HEADER_SIZE)
    problem = _flat_header_problem(head)
    if problem:
        return [problem]
    result["header_version"] = struct.unpack(">q", head[24:32])[0]
    walk = walk_flattened(reader, size, max_blocks)
    problems = []
    if not walk["walked"]:
        result["notes"].append("stopped walking after %d blocks; checked the end header only" % walk["count"])
        if reader.read_at(size - 16, 16) != FLAT_END:
            problems.append("the file does not end with the flattened end header: it is cut off")
    elif walk["problem"]:
        problems.append(walk["problem"])
    elif walk["end"] != size:
        result["notes"].append("%d bytes after the end header are ignored" % (size - walk["end"]))
    inner = _inner_of_flattened(reader, walk, result)
    result["logical_size"] = walk["logical_size"]
    if inner is None:
        result["inner_format"] = FORMAT_UNKNOWN
        problems.append("the flattened data does not hold a known dump format")
        return problems
    if not walk["walked"]:
        # Blocks past the budget were not seen: only the flags of the inner header count.
        inner = [p for p in inner if p in (FLAG_PROBLEM_KDUMP, FLAG_PROBLEM_ELF)]
    problems.extend(inner)
    if walk["walked"] and not walk["problem"]:
        # Every block was seen: the rearranged size is final.
        size_problem = _size_problem(result, walk["logical_size"])
        if size_problem:
            problems.append(size_problem)
    return problems


# ---------------------------------------------------------------------------------------------
# compressed containers

OUT_CHUNK = 4 * CHUNK


def container_of(magic):
    for name, prefix in CONTAINERS:
        if magic.startswith(prefix):
            return name
    return None


def _decompressor(name):
    if name == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if name == "bzip2":
        return bz2.BZ2Decompressor()
    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ)


class _Sink(object):
    """Keeps the head, the length and the last 16 bytes of a decompressed stream."""

    def __init__(self, head_limit):
        self.head = bytearray()
        self.head_limit = head_limit
        self.total = 0
        self.tail = b""

    def add(self, out):
        if not out:
            return
        if len(self.head) < self.head_limit:
            self.head.extend(out[:self.head_limit - len(self.head)])
        self.total += len(out)
        self.tail = (self.tail + out[-16:])[-16:]


def _decompress_chunk(dec, name, data, sink):
    """Feed ``data`` to ``dec`` with bounded output; returns ``(dec, eof)``.

    A new decompressor is started when non-zero data follows the end of a stream
    (concatenated gzip members, bzip2/xz streams); zero padding after the end is ignored.
    """
    pending = data
    while True:
        if dec.eof:
            if not pending.strip(b"\x00"):
                return dec, True
            dec = _decompressor(name)
        if name == "gzip":
            out = dec.decompress(pending, OUT_CHUNK)
            pending = dec.unconsumed_tail
            more = bool(pending) or len(out) == OUT_CHUNK
        else:
            out = dec.decompress(pending, OUT_CHUNK)
            pending = b""
            more = not dec.eof and not dec.needs_input
        sink.add(out)
        if dec.eof:
            pending = dec.unused_data
            if not pending:
                return dec, True
            continue
        if not more:
            return dec, False


def stream_container(handle, name, head_limit=HEAD_LIMIT, to_end=True):
    """Decompress ``handle`` (at its start) into a ``_Sink``.

    Returns ``(sink, finished, problem)``: ``finished`` is false when reading stopped because the
    head was full and ``to_end`` is false.
    """
    sink = _Sink(head_limit)
    dec = _decompressor(name)
    eof = False
    try:
        while True:
            data = handle.read(CHUNK)
            if not data:
                break
            dec, eof = _decompress_chunk(dec, name, data, sink)
            if not to_end and len(sink.head) >= head_limit:
                return sink, False, None
    except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError) as exc:
        return sink, True, "the %s stream is corrupt: %s" % (name, exc)
    if not eof:
        return sink, True, "the %s stream is cut off" % name
    return sink, True, None


def _inspect_container(handle, result, name, verify):
    result["container"] = name
    result["format"] = name
    if name not in VERIFIABLE_CONTAINERS:
        result["notes"].append("%s-compressed: the dump inside was not read (no %s decompressor here)" % (name, name))
        return ["a %s-compressed dump cannot be verified here; decompress it and check the file" % name]
    handle.seek(0)
    sink, finished, problem = stream_container(handle, name, HEAD_LIMIT, verify)
    problems = [problem] if problem else []
    head = bytes(sink.head)
    logical = sink.total if finished else None
    result["logical_size"] = logical
    inner = new_result(logical)
    if head[:len(FLAT_SIGNATURE)] == FLAT_SIGNATURE:
        inner["format"] = FORMAT_FLATTENED
        flat_problem = _flat_header_problem(head[:FLAT_HEADER_SIZE])
        reader = BytesReader(head)
        walk = walk_flattened(reader, len(head), MAX_FLAT_BLOCKS)
        inner_problems = None if flat_problem else _inner_of_flattened(reader, walk, inner)
        if inner_problems is not None and finished and not problem and sink.tail != FLAT_END:
            inner_problems.append("the flattened dump inside does not end with its end header: it is cut off")
    else:
        reader = BytesReader(head, logical if logical is not None else len(head))
        # The bitmap and page descriptors can only be read when the whole dump is in the head.
        whole = finished and sink.total == len(head)
        inner_problems = _inspect_logical(reader, reader.size, inner, deep=whole)
        if inner_problems is not None and finished:
            size_problem = _size_problem(inner, logical)
            if size_problem:
                inner_problems.append(size_problem)
    if inner_problems is not None and not finished:
        # Only the head was read: structures past it are unknown, the flags are not.
        inner_problems = [p for p in inner_problems if p in (FLAG_PROBLEM_KDUMP, FLAG_PROBLEM_ELF)]
    for key in ("kernel_release", "kernel_version", "machine", "nodename", "crash_time", "build_id",
                "dump_level", "compression", "header_version", "incomplete_flag", "implied_size"):
        result[key] = inner[key]
    result["inner_format"] = inner["format"] if inner_problems is not None else FORMAT_UNKNOWN
    result["notes"].extend(inner["notes"])
    if inner_problems is None:
        if finished or not problem:
            problems.append("the %s stream does not hold a known dump format" % name)
    else:
        problems.extend(inner_problems)
    if not finished:
        problems.append("a %s-compressed dump is only known complete after decompressing it to the end"
                        " (verify_compressed)" % name)
    return problems


# ---------------------------------------------------------------------------------------------
# entry points


def inspect_handle(handle, size, verify_compressed=False, max_blocks=MAX_FLAT_BLOCKS):
    """Inspect an open binary file of ``size`` bytes; always returns a result dict."""
    result = new_result(size)
    if size == 0:
        result["format"] = FORMAT_EMPTY
        result["reason"] = "the file is empty"
        return result
    reader = FileReader(handle, size)
    magic = reader.read_at(0, 16)
    container = container_of(magic)
    if magic[:len(FLAT_SIGNATURE)] == FLAT_SIGNATURE:
        problems = _inspect_flattened(reader, size, result, max_blocks)
    elif container:
        problems = _inspect_container(handle, result, container, verify_compressed)
    else:
        problems = _inspect_logical(reader, size, result, deep=True)
        if problems is None:
            result["format"] = FORMAT_UNKNOWN
            problems = ["not a crash dump: no flattened, kdump-compressed or ELF signature"]
        else:
            result["logical_size"] = size
            size_problem = _size_problem(result, size)
            if size_problem:
                problems.append(size_problem)
    result["complete"] = not problems
    result["reason"] = "; ".join(problems) if problems else None
    return result


def inspect_file(path, verify_compressed=False, max_blocks=MAX_FLAT_BLOCKS, dir_fd=None, expect=None):
    """Inspect the dump file at ``path`` (relative to ``dir_fd`` when given); unreadable files,
    symbolic links and anything but a regular file give a result, not an exception."""
    try:
        fd = _safefs.open_regular(path, dir_fd=dir_fd, expect=expect)
    except (IOError, OSError, KdumpError) as exc:
        result = new_result(None)
        result["format"] = FORMAT_UNREADABLE
        result["reason"] = "cannot read %s: %s" % (_safefs.display(path), getattr(exc, "strerror", None) or exc)
        return result
    # Unbuffered: the flattened walk reads 16 bytes per data block and must not pull in a
    # buffer's worth of dump data each time.
    with os.fdopen(fd, "rb", buffering=0) as handle:
        size = os.fstat(handle.fileno()).st_size
        return inspect_handle(handle, size, verify_compressed, max_blocks)


# ---------------------------------------------------------------------------------------------
# crash directories

_EXT = r"(?:\.(?:gz|bz2|lz4|xz))?"
# (pattern, layout or None when shared, final name?)
DUMP_NAMES = (
    (re.compile(r"^dump\.[0-9]{12}" + _EXT + r"\Z"), "debian", True),
    (re.compile(r"^dump-incomplete" + _EXT + r"\Z"), "debian", False),
    (re.compile(r"^vmcore\.[0-9]{12}\Z"), "debian", True),
    (re.compile(r"^vmcore\.flat\Z"), "redhat", True),
    (re.compile(r"^vmcore-incomplete\Z"), None, False),
    (re.compile(r"^vmcore\Z"), None, True),
    (re.compile(r"^vmcore[0-9]+\Z"), "suse", True),
)
DIR_LAYOUTS = (
    (re.compile(r"^(?:(?P<host>.+)-)?(?P<stamp>[0-9]{12})\Z"), "debian"),
    (re.compile(r"^(?P<host>.+)-(?P<stamp>[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}:[0-9]{2}:[0-9]{2})\Z"), "redhat"),
    (re.compile(r"^kdump-test-(?P<stamp>.+)\Z"), "redhat"),
    (re.compile(r"^(?:(?P<host>.+)-)?(?P<stamp>[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}[-:][0-9]{2})\Z"), "suse"),
)
# dmesg files: (name pattern, layout, final?) in order of preference.
DMESG_NAMES = (
    (re.compile(r"^dmesg\.[0-9]{12}\Z"), "debian", True),
    (re.compile(r"^vmcore-dmesg\.txt\Z"), "redhat", True),
    (re.compile(r"^dmesg\.txt\Z"), "suse", True),
    (re.compile(r"^dmesg\Z"), "suse", True),
    (re.compile(r"^vmcore-dmesg-incomplete\.txt\Z"), "redhat", False),
)
SUSE_README = "README.txt"
SUSE_README_INCOMPLETE = "If you see this text the crash dump is likely incomplete"
SUSE_README_STATUS = re.compile(r"^\s*vmcore status:\s*(.*?)\s*$", re.M)
SCAN_DEPTH = 2  # root/<stamp>/dump and root/<host>/<stamp>/dump
README_LIMIT = 65536


def dump_name(name):
    """``(layout or None, final)`` when ``name`` is a dump file name of a family, else ``None``."""
    for pattern, layout, final in DUMP_NAMES:
        if pattern.match(name):
            return layout, final
    return None


def dir_layout(name):
    """``(layout, host, stamp)`` of a dump directory name, or ``(None, None, None)``."""
    for pattern, layout in DIR_LAYOUTS:
        match = pattern.match(name)
        if match:
            groups = match.groupdict()
            return layout, groups.get("host"), groups.get("stamp")
    return None, None, None


def pick_dmesg(names):
    """``(name, final)`` of the dmesg file among ``names`` (same directory), or ``(None, None)``."""
    for pattern, _layout, final in DMESG_NAMES:
        found = sorted(n for n in names if pattern.match(n))
        if found:
            return found[-1], final
    return None, None


def readme_problem(text):
    """What a SUSE ``README.txt`` says is wrong with the dump next to it, or ``None``."""
    if text is None:
        return None
    if SUSE_README_INCOMPLETE in text:
        return "README.txt still says the dump is likely incomplete: kdump-save did not finish"
    match = SUSE_README_STATUS.search(text)
    if match and match.group(1) != "saved successfully":
        return "README.txt says: vmcore status: %s" % match.group(1)
    return None


def _layout_from_names(names):
    for name in names:
        for pattern, layout, _final in DMESG_NAMES:
            if pattern.match(name):
                return layout
    if SUSE_README in names:
        return "suse"
    return None


def describe_dir(directory, names, want=None, verify_compressed=False, only=None, dir_fd=None):
    """Records of the dump files among ``names`` (the entries of ``directory``).

    ``dir_fd`` is an open descriptor of ``directory``; without it the directory is opened here,
    refused when it is a symbolic link. Files are opened relative to it, never through a link,
    and only regular files are read. ``want(path, mtime)`` decides which files are inspected at
    all (the others cost nothing); ``only`` restricts the records to one file name, which need
    not be a dump file name.
    """
    own = dir_fd is None
    if own:
        dir_fd = _safefs.open_dir(directory)
    try:
        return _describe(directory, dir_fd, names, want, verify_compressed, only)
    finally:
        if own:
            os.close(dir_fd)


def _describe(directory, dir_fd, names, want, verify_compressed, only):
    records = []
    base = os.path.basename(os.path.normpath(directory))
    layout_dir, host, stamp = dir_layout(base)
    dmesg, dmesg_final = pick_dmesg(names)
    readme = None
    capture = None
    if SUSE_README in names:
        readme = _safefs.read_small(SUSE_README, dir_fd, README_LIMIT)
    for name in sorted(names):
        path = os.path.join(directory, name)
        kind = dump_name(name)
        if only is not None:
            if name != only:
                continue
        elif kind is None:
            continue
        try:
            st = _safefs.lstat_at(dir_fd, name)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        if want is not None and not want(path, int(st.st_mtime)):
            continue
        layout_name, final = kind if kind else (None, True)
        record = inspect_file(name, verify_compressed=verify_compressed, dir_fd=dir_fd,
                              expect=(st.st_dev, st.st_ino))
        record["path"] = path
        record["name"] = name
        record["dir"] = directory
        record["mtime"] = int(st.st_mtime)
        record["dev"] = st.st_dev
        record["ino"] = st.st_ino
        record["layout"] = layout_name or layout_dir or _layout_from_names(names) or "unknown"
        record["host_tag"] = host
        record["stamp"] = stamp
        record["dmesg_path"] = os.path.join(directory, dmesg) if dmesg else None
        record["dmesg_complete"] = dmesg_final
        if capture is None:
            capture = _capture.capture_of(_capture.note_in_dir(dir_fd, names))
        record["capture"] = dict(capture)
        problems = [record["reason"]] if record["reason"] else []
        if not final:
            problems.insert(0, "%s is the temporary name the saving tool renames when it is done: still"
                               " being written, or the capture failed" % name)
        suse = readme_problem(readme)
        if suse:
            problems.insert(0, suse)
        record["complete"] = not problems
        record["reason"] = "; ".join(problems) if problems else None
        records.append(record)
    return records


def scan(path, since=None, exclude=(), verify_compressed=False, depth=SCAN_DEPTH):
    """Find dumps at ``path`` (a dump file, or a crash directory scanned ``depth`` levels deep).

    Returns ``{"exists", "dumps", "errors"}``; ``dumps`` is oldest first and holds only files
    whose mtime is at least ``since`` and whose path is not in ``exclude`` (those are not
    even opened). ``path`` itself may be a symbolic link (the operator names it); nothing below
    it is followed.
    """
    excluded = set(os.path.normpath(os.path.abspath(p)) for p in exclude or ())
    root = os.path.normpath(os.path.abspath(path))

    def want(candidate, mtime):
        if os.path.normpath(candidate) in excluded:
            return False
        return since is None or mtime >= since

    if not os.path.exists(root):
        return {"exists": False, "dumps": [], "errors": []}
    errors = []
    if not os.path.isdir(root):
        directory = os.path.dirname(root)
        try:
            fd = _safefs.open_dir(directory, follow=True)
        except (OSError, KdumpError) as exc:
            return {"exists": True, "dumps": [], "errors": ["cannot open %s: %s" % (directory, exc)]}
        try:
            dumps = describe_dir(directory, os.listdir(fd), want, verify_compressed,
                                 only=os.path.basename(root), dir_fd=fd)
        finally:
            os.close(fd)
    else:
        dumps = []
        pending = [(root, None, 0)]
        while pending:
            directory, parent_fd, level = pending.pop()
            try:
                if parent_fd is None:
                    fd = _safefs.open_dir(directory, follow=True)
                else:
                    try:
                        fd = _safefs.open_dir(os.path.basename(directory), dir_fd=parent_fd)
                    finally:
                        os.close(parent_fd)
                names = os.listdir(fd)
            except (OSError, KdumpError) as exc:
                errors.append("cannot list %s: %s" % (_safefs.display(directory), getattr(exc, "strerror", None) or exc))
                continue
            try:
                dumps.extend(describe_dir(directory, names, want, verify_compressed, dir_fd=fd))
                if level < depth:
                    for name in sorted(names):
                        try:
                            st = _safefs.lstat_at(fd, name)
                        except OSError:
                            continue
                        if stat.S_ISDIR(st.st_mode):
                            pending.append((os.path.join(directory, name), os.dup(fd), level + 1))
            finally:
                os.close(fd)
    dumps.sort(key=lambda r: (r["mtime"], r["path"]))
    return {"exists": True, "dumps": dumps, "errors": errors}


def file_contains(path, needle, limit=256 * 1024 * 1024, dir_fd=None, expect=None):
    """Whether the regular file at ``path`` (relative to ``dir_fd``) contains ``needle`` (text) in
    its first ``limit`` bytes; never through a symbolic link.

    Returns ``None`` when the file cannot be read or is refused.
    """
    data = needle.encode("utf-8")
    if not data:
        return True
    keep = len(data) - 1
    carry = b""
    seen = 0
    try:
        fd = _safefs.open_regular(path, dir_fd=dir_fd, expect=expect)
    except (IOError, OSError, KdumpError):
        return None
    try:
        while seen < limit:
            chunk = os.read(fd, min(CHUNK, limit - seen))
            if not chunk:
                return False
            seen += len(chunk)
            window = carry + chunk
            if data in window:
                return True
            carry = window[-keep:] if keep else b""
    except (IOError, OSError):
        return None
    finally:
        os.close(fd)
    return False
