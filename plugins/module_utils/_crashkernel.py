# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""The ``crashkernel=`` kernel parameter: parse, size, format, and what the host reserves.

Kernel semantics follow ``kernel/crash_reserve.c`` (``parse_crashkernel*``,
``get_last_crashkernel``) and ``lib/cmdline.c`` (``memparse``) of torvalds/linux:

* sizes are ``memparse`` numbers: ``simple_strtoull(s, 0)`` (``0x`` hex, a leading ``0``
  means octal, otherwise decimal) followed by an optional one-letter suffix ``K M G T P E``
  in either case. Hex digits win over suffixes: ``0x1E`` is 30 bytes, not 1 EiB;
* ``size[@offset]``; ``start-[end]:size[,start-[end]:size...][@offset]`` (``start``
  inclusive, ``end`` exclusive, a missing end means "no upper bound"); ``size,high``,
  ``size,low`` and ``size,cma`` (kernel 6.16+);
* with several ``crashkernel=`` words the last one without a ``,high``/``,low``/``,cma``
  suffix counts. Only when there is none, the last ``,high`` is used together with the last
  ``,low`` (default low size when absent: 256M on x86_64, 128M elsewhere);
* RHEL 8 kernels also accept ``auto``, resolved with RHEL 8's table (``RHEL8_AUTO``).

This parser is stricter than the kernel on purpose: the kernel silently ignores text after a
matched range or after ``@offset`` and wraps numbers above 2**64; here those are errors, as
are overlapping ranges (the kernel would take the first match, which is never what a person
writing overlapping ranges meant).

It also holds the crashkernel module's decisions: which files the estimate measures and how
(``kernel_image_path``, ``initrd_path``, ``kernel_footprint``, ...), each policy's value
(``fixed_value``, ``distro_default_value``, ``estimate_value``) and what must change
(``current_state``, ``recommendation``). The module reads the host and passes the texts and
sizes in; where a decision needs to probe the host, the probe is passed in as a function.

Nothing here imports Ansible or reads a file; everything raises ``ParseError``/
``ValidationError`` for bad input.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import posixpath
import re
import string

from ansible_collections.crashkit.kdump.plugins.module_utils._errors import (
    ParseError,
    ValidationError,
)

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30
ULL_MAX = (1 << 64) - 1

_SHIFT = {"k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}
_UNITS = (("E", 60), ("P", 50), ("T", 40), ("G", 30), ("M", 20), ("K", 10))
SUFFIXES = (",high", ",low", ",cma")

# kernel/crash_reserve.c parse_crashkernel_mem(): "Firmware sometimes reserves some memory
# regions for its own use ... rounding up the total size to 128M". Added by the 2022 patch
# "kdump: round up the total memory size to 128M for crashkernel reservation" (Linux 6.0+).
RANGE_RAM_ROUNDING = 128 * MIB

# DEFAULT_CRASH_KERNEL_LOW_SIZE: arch/x86/include/asm/crash_reserve.h is
# max(swiotlb default 64M + 8M, 256M); include/linux/crash_reserve.h falls back to 128M.
DEFAULT_LOW = {"x86_64": 256 * MIB}
DEFAULT_LOW_OTHER = 128 * MIB

# RHEL 8 "crashkernel=auto": the table compiled into RHEL 8 kernels (kernel/crash_core.c of
# gitlab.com/redhat/centos-stream/src/kernel/centos-stream-8, quoted verbatim on LKML in
# "[PATCH] kdump: add crashkernel=auto" by Tiezhu Yang, Jan 2022) and documented in RHEL 8
# "Managing, monitoring and updating the kernel", table "Minimum amount of reserved memory
# required for kdump". ppc64le without fadump.
RHEL8_AUTO = {
    "x86_64": "1G-4G:160M,4G-64G:192M,64G-1T:256M,1T-:512M",
    "s390x": "1G-4G:160M,4G-64G:192M,64G-1T:256M,1T-:512M",
    "aarch64": "2G-:448M",
    "ppc64le": "2G-4G:384M,4G-16G:512M,16G-64G:1G,64G-128G:2G,128G-:4G",
}

_ARCH_ALIASES = {
    "amd64": "x86_64",
    "x86-64": "x86_64",
    "x64": "x86_64",
    "arm64": "aarch64",
    "ppc64el": "ppc64le",
    "powerpc64le": "ppc64le",
    "i686": "i386",
    "i586": "i386",
}


def normalize_arch(arch):
    """Map Debian/other spellings (``amd64``, ``arm64``, ``ppc64el``) to ``uname -m`` names."""
    if not arch:
        return "x86_64"
    arch = str(arch).strip().lower()
    return _ARCH_ALIASES.get(arch, arch)


# ---------------------------------------------------------------------------------------
# Numbers


def memparse(text, pos=0):
    """Parse a memparse number at ``text[pos:]``; return ``(value, end)``.

    ``end == pos`` means no digit was found (the kernel's ``cur == tmp`` test). Raises
    ``ParseError`` when the value does not fit in 64 bits (the kernel would wrap).
    """
    i = pos
    length = len(text)
    base = 10
    if text[i:i + 1] == "0":
        if text[i + 1:i + 2] in ("x", "X") and text[i + 2:i + 3] != "" and text[i + 2] in string.hexdigits:
            base = 16
            i += 2
        else:
            base = 8
    digits_start = i
    value = 0
    while i < length:
        char = text[i]
        if "0" <= char <= "9":
            digit = ord(char) - 48
        elif "a" <= char.lower() <= "f":
            digit = ord(char.lower()) - 87
        else:
            break
        if digit >= base:
            break
        value = value * base + digit
        i += 1
    if i == digits_start:
        return 0, pos
    if i < length and text[i].lower() in _SHIFT:
        value <<= _SHIFT[text[i].lower()]
        i += 1
    if value > ULL_MAX:
        raise ParseError("%s does not fit in 64 bits" % text[pos:i])
    return value, i


def parse_size(text, what="size"):
    """Parse a whole string as one memparse number (``128M``, ``0x8000000``, ``1g``)."""
    if not isinstance(text, str):
        raise ParseError("%s must be a string like 128M, got %r" % (what, text))
    stripped = text.strip()
    value, end = memparse(stripped)
    if end == 0:
        raise ParseError("%s %r: expected a number with an optional K/M/G/T/P/E suffix" % (what, text))
    if end != len(stripped):
        raise ParseError("%s %r: unexpected %r after %r" % (what, text, stripped[end], stripped[:end]))
    return value


def format_size(value):
    """Canonical text of a byte count: the largest exact unit (``1G``, ``192M``, ``4097``)."""
    if value == 0:
        return "0"
    for unit, shift in _UNITS:
        if value % (1 << shift) == 0:
            return "%d%s" % (value >> shift, unit)
    return "%d" % value


def mib(value):
    """Bytes to whole MiB (rounded down)."""
    return int(value // MIB)


# ---------------------------------------------------------------------------------------
# One crashkernel= value


class Range(collections.namedtuple("Range", "start end size")):
    """One ``start-[end]:size`` entry; ``end`` is ``None`` for an open range."""

    __slots__ = ()

    def matches(self, ram):
        return self.start <= ram and (self.end is None or ram < self.end)

    def text(self):
        end = "" if self.end is None else format_size(self.end)
        return "%s-%s:%s" % (format_size(self.start), end, format_size(self.size))


class Crashkernel(object):
    """A parsed ``crashkernel=`` value.

    ``kind`` is ``simple`` (``size[@offset]``), ``ranges``, ``high``, ``low``, ``cma`` or
    ``auto``. ``size`` is in bytes (``simple``/``high``/``low``/``cma``), ``ranges`` a tuple
    of ``Range``, ``offset`` bytes or ``None``.
    """

    __slots__ = ("kind", "size", "ranges", "offset")

    def __init__(self, kind, size=None, ranges=(), offset=None):
        self.kind = kind
        self.size = size
        self.ranges = tuple(ranges)
        self.offset = offset

    def _key(self):
        return (self.kind, self.size, self.ranges, self.offset)

    def __eq__(self, other):
        return isinstance(other, Crashkernel) and self._key() == other._key()

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return "Crashkernel(%r)" % format_value(self)

    def sizes(self):
        """Every size the value can reserve (one for plain forms, one per range)."""
        if self.kind == "ranges":
            return [entry.size for entry in self.ranges]
        if self.kind == "auto":
            return []
        return [self.size]


def _fail(value, message):
    raise ParseError("invalid crashkernel value %r: %s" % (value, message))


def _offset(value, text):
    if text == "":
        _fail(value, "expected a memory size after '@'")
    off, end = memparse(text)
    if end == 0:
        _fail(value, "expected a memory size after '@', found %r" % text[0])
    if end != len(text):
        _fail(value, "unexpected %r after the offset %r" % (text[end], text[:end]))
    return off


def _parse_ranges(value, text):
    offset = None
    body = text
    if "@" in text:
        if text.count("@") > 1:
            _fail(value, "more than one '@offset'")
        body, off_text = text.split("@", 1)
        offset = _offset(value, off_text)
    ranges = []
    for number, entry in enumerate(body.split(","), 1):
        where = "range %d (%r)" % (number, entry)
        if entry == "":
            _fail(value, "range %d is empty (stray ',')" % number)
        start, i = memparse(entry)
        if i == 0:
            _fail(value, "%s: expected the start of the RAM range, a memory size" % where)
        if entry[i:i + 1] != "-":
            _fail(value, "%s: '-' expected after the start %r" % (where, entry[:i]))
        i += 1
        end = None
        if entry[i:i + 1] != ":":
            end, j = memparse(entry, i)
            if j == i:
                _fail(value, "%s: expected the end of the RAM range or ':'" % where)
            if end <= start:
                _fail(value, "%s: the end %s is not above the start %s" % (where, entry[i:j], entry[:i - 1]))
            i = j
        if entry[i:i + 1] != ":":
            _fail(value, "%s: ':' expected after the RAM range" % where)
        i += 1
        size, j = memparse(entry, i)
        if j == i:
            _fail(value, "%s: the size to reserve is missing after ':'" % where)
        if j != len(entry):
            _fail(value, "%s: unexpected %r after the size" % (where, entry[j]))
        ranges.append(Range(start, end, size))
    ordered = sorted(ranges, key=lambda entry: entry.start)
    for before, after in zip(ordered, ordered[1:]):
        if before.end is None or before.end > after.start:
            _fail(value, "ranges %s and %s overlap" % (before.text(), after.text()))
    return Crashkernel("ranges", ranges=ranges, offset=offset)


def parse_value(value):
    """Parse one ``crashkernel=`` value (the text after ``=``) into a ``Crashkernel``."""
    if not isinstance(value, str):
        raise ParseError("a crashkernel value must be a string, got %r" % (value,))
    text = value.strip()
    if text == "":
        _fail(value, "it is empty")
    for char in text:
        if char.isspace():
            _fail(value, "white space inside the value")
    if text == "auto":
        return Crashkernel("auto")
    for suffix in SUFFIXES:
        if text.endswith(suffix):
            body = text[:-len(suffix)]
            size, end = memparse(body)
            if end == 0:
                _fail(value, "expected a memory size before %r" % suffix)
            if end != len(body):
                _fail(value, "unexpected %r after the size; the %s form takes one size" % (body[end], suffix))
            return Crashkernel(suffix[1:], size=size)
    if ":" in text:
        return _parse_ranges(value, text)
    size, end = memparse(text)
    if end == 0:
        _fail(value, "expected a memory size such as 256M, a RAM range list such as "
                     "1G-4G:192M,4G-:256M, or size,high / size,low")
    offset = None
    if end < len(text):
        if text[end] == "-":
            _fail(value, "unexpected '-' after the size %r: a RAM range needs ':size', as in 1G-4G:192M"
                  % text[:end])
        if text[end] != "@":
            _fail(value, "unexpected %r after the size %r" % (text[end], text[:end]))
        offset = _offset(value, text[end + 1:])
    return Crashkernel("simple", size=size, offset=offset)


def format_value(spec):
    """Canonical text of a ``Crashkernel``: ``parse_value(format_value(x)) == x``."""
    if spec.kind == "auto":
        return "auto"
    if spec.kind in ("high", "low", "cma"):
        return "%s,%s" % (format_size(spec.size), spec.kind)
    if spec.kind == "ranges":
        text = ",".join(entry.text() for entry in spec.ranges)
    else:
        text = format_size(spec.size)
    if spec.offset is not None:
        text += "@" + format_size(spec.offset)
    return text


def canonical(value):
    """``format_value(parse_value(value))``."""
    return format_value(parse_value(value))


def resolve_auto(arch):
    """RHEL 8's ``crashkernel=auto`` table for ``arch`` as a ``Crashkernel``."""
    arch = normalize_arch(arch)
    if arch not in RHEL8_AUTO:
        raise ValidationError("crashkernel=auto has no RHEL 8 table for architecture %s" % arch)
    return parse_value(RHEL8_AUTO[arch])


def effective_size(spec, system_ram, arch="x86_64", round_ram=True):
    """Bytes the kernel reserves for ``spec`` (the main region, as kexec_crash_size shows).

    ``system_ram`` is what the kernel passes to ``parse_crashkernel``: memblock's total
    memory (``memblock_phys_mem_size()``), which the caller approximates (see
    ``system_ram_from_host``). Range lists are matched against it rounded up to 128 MiB
    (``round_ram``; Linux 6.0+). Returns 0 when the kernel would reserve nothing: no range
    matches, a size of 0, or a size not below the RAM (``-EINVAL`` in the kernel). ``,low`` and
    ``,cma`` values reserve nothing on their own.
    """
    if spec.kind in ("low", "cma"):
        return 0
    if spec.kind == "auto":
        spec = resolve_auto(arch)
    if spec.kind == "ranges":
        total = system_ram
        if round_ram:
            total = -(-system_ram // RANGE_RAM_ROUNDING) * RANGE_RAM_ROUNDING
        size = 0
        for entry in spec.ranges:
            if entry.size >= total:
                return 0
            if entry.matches(total):
                size = entry.size
                break
    else:
        size = spec.size
    if size == 0 or size >= system_ram:
        return 0
    return size


def clamp(spec, floor=None, ceiling=None):
    """Return ``spec`` with every size moved into ``[floor, ceiling]`` (bytes, ``None`` = open).

    Range entries keep their RAM ranges; ``auto`` is resolved first by the caller.
    """
    def one(size):
        if floor is not None and size < floor:
            size = floor
        if ceiling is not None and size > ceiling:
            size = ceiling
        return size

    if spec.kind == "ranges":
        return Crashkernel("ranges", ranges=[Range(e.start, e.end, one(e.size)) for e in spec.ranges],
                           offset=spec.offset)
    if spec.kind in ("simple", "high"):
        return Crashkernel(spec.kind, size=one(spec.size), offset=spec.offset)
    return spec


# ---------------------------------------------------------------------------------------
# Command lines


def cmdline_words(cmdline):
    """Split a kernel command line like ``lib/cmdline.c:next_arg`` (double quotes group).

    Quotes are kept in the words: the kernel's crashkernel parser reads the raw text, so a
    quoted value is as invalid for it as for ``parse_value``.
    """
    words = []
    current = []
    quoted = False
    for char in cmdline:
        if char == '"':
            quoted = not quoted
        if char.isspace() and not quoted:
            if current:
                words.append("".join(current))
                current = []
            continue
        current.append(char)
    if current:
        words.append("".join(current))
    return words


def crashkernel_values(cmdline):
    """Every ``crashkernel=`` value on ``cmdline``, in order (raw text after ``=``).

    Words after a bare ``--`` are included: the kernel searches the whole boot command line
    with ``strstr``. Unlike that ``strstr``, a ``crashkernel=`` buried inside another word
    (``foo.crashkernel=...``) is not counted here.
    """
    return [word[len("crashkernel="):] for word in cmdline_words(cmdline) if word.startswith("crashkernel=")]


class Setting(object):
    """What the kernel makes of all ``crashkernel=`` words of a command line.

    ``main``: the value that sizes the main region (the last plain word, else the last
    ``,high``); ``main_text`` its raw text; ``low``/``cma``: companions (``low`` only counts
    with ``,high``); ``values``: every raw value in order.
    """

    __slots__ = ("main", "main_text", "low", "low_text", "cma", "values")

    def __init__(self, main=None, main_text=None, low=None, low_text=None, cma=None, values=()):
        self.main = main
        self.main_text = main_text
        self.low = low
        self.low_text = low_text
        self.cma = cma
        self.values = list(values)


def parse_cmdline(cmdline):
    """Pick the ``crashkernel=`` values that count on ``cmdline`` and parse them.

    Only the words the kernel uses are parsed, so an earlier, overridden invalid word does
    not raise; an invalid word that counts raises ``ParseError``.
    """
    values = crashkernel_values(cmdline)
    plain = [v for v in values if not v.endswith(SUFFIXES)]
    highs = [v for v in values if v.endswith(",high")]
    lows = [v for v in values if v.endswith(",low")]
    cmas = [v for v in values if v.endswith(",cma")]
    setting = Setting(values=values)
    if cmas:
        # The kernel ignores a bad ,cma value (its parse result is not checked).
        try:
            setting.cma = parse_value(cmas[-1])
        except ParseError:
            setting.cma = None
    if plain:
        setting.main_text = plain[-1]
        setting.main = parse_value(plain[-1])
    elif highs:
        setting.main_text = highs[-1]
        setting.main = parse_value(highs[-1])
        if lows:
            setting.low_text = lows[-1]
            setting.low = parse_value(lows[-1])
    return setting


def low_size(setting, arch="x86_64"):
    """Bytes reserved below 4G next to a ``,high`` main region (0 for other forms)."""
    if setting.main is None or setting.main.kind != "high":
        return 0
    if setting.low is not None:
        return setting.low.size
    return DEFAULT_LOW.get(normalize_arch(arch), DEFAULT_LOW_OTHER)


# ---------------------------------------------------------------------------------------
# What the host shows


IomemEntry = collections.namedtuple("IomemEntry", "start end name depth")
_IOMEM_LINE = re.compile(r"^( *)([0-9a-fA-F]+)-([0-9a-fA-F]+) : (.*)$")


def parse_iomem(text):
    """Parse ``/proc/iomem`` into ``IomemEntry`` rows (``end`` inclusive, ``depth`` = indent/2)."""
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = _IOMEM_LINE.match(line)
        if not match:
            raise ParseError("/proc/iomem line %d is not 'start-end : name': %r" % (number, line))
        start = int(match.group(2), 16)
        end = int(match.group(3), 16)
        if end < start:
            raise ParseError("/proc/iomem line %d: end below start: %r" % (number, line))
        entries.append(IomemEntry(start, end, match.group(4).strip(), len(match.group(1)) // 2))
    return entries


def _addresses_hidden(entries):
    # Non-root readers see every address as 0 (kptr_restrict-style hiding).
    return bool(entries) and all(e.start == 0 and e.end == 0 for e in entries)


def iomem_crash_regions(text):
    """``(start, end_inclusive)`` of every "Crash kernel" region (main and ``,low``)."""
    entries = parse_iomem(text)
    return [(e.start, e.end) for e in entries if e.name == "Crash kernel"]


def iomem_crash_bytes(text):
    """Total bytes of the "Crash kernel" regions, ``None`` when addresses are hidden."""
    entries = parse_iomem(text)
    if _addresses_hidden(entries):
        return None
    return sum(e.end - e.start + 1 for e in entries if e.name == "Crash kernel")


def iomem_system_ram(text):
    """Sum of top-level "System RAM" regions (memblock's view), ``None`` if not readable.

    This is how Red Hat's kdump-utils computes ``memblock.memory.total_size``
    (rhkdump/kdump-utils kdump-lib.sh ``get_system_size``).
    """
    entries = parse_iomem(text)
    if _addresses_hidden(entries):
        return None
    total = sum(e.end - e.start + 1 for e in entries if e.name == "System RAM" and e.depth == 0)
    return total or None


def iomem_kernel_image(text):
    """Bytes from the start of "Kernel code" to the end of "Kernel bss", ``None`` if absent.

    That span is the running kernel's image in memory; the capture kernel is the same image
    on Debian and Red Hat systems. kdump-utils' ``get_kernel_size`` falls back to these
    entries too.
    """
    entries = parse_iomem(text)
    if _addresses_hidden(entries):
        return None
    parts = [e for e in entries if e.name.startswith("Kernel ")]
    if not parts:
        return None
    return max(e.end for e in parts) - min(e.start for e in parts) + 1


def parse_kexec_crash_size(text):
    """``/sys/kernel/kexec_crash_size`` (decimal bytes of the main region)."""
    stripped = (text or "").strip()
    if not stripped.isdigit():
        raise ParseError("kexec_crash_size should be a decimal number of bytes, got %r" % text)
    return int(stripped)


def parse_meminfo(text):
    """``/proc/meminfo`` as a dict of bytes (``kB`` fields converted)."""
    info = {}
    for line in text.splitlines():
        name, sep, rest = line.partition(":")
        if not sep:
            continue
        fields = rest.split()
        if not fields or not fields[0].isdigit():
            continue
        value = int(fields[0])
        if len(fields) > 1 and fields[1] == "kB":
            value *= KIB
        info[name.strip()] = value
    if "MemTotal" not in info:
        raise ParseError("/proc/meminfo has no MemTotal line")
    return info


def system_ram_from_host(iomem_text=None, meminfo_text=None, crash_bytes=0):
    """Approximate the kernel's ``system_ram`` for range matching; return ``(bytes, source)``.

    The kernel matches ranges against memblock's total memory, i.e. all RAM the firmware
    reported, before anything is reserved. ``MemTotal`` is smaller: it excludes the kernel
    image, early reservations and the crash kernel region. In order of preference:

    * ``iomem``: the sum of top-level "System RAM" entries of ``/proc/iomem`` (needs root);
    * ``meminfo``: ``MemTotal`` plus the crash kernel reservation. This still misses the kernel
      image and firmware/early reservations (tens of MiB), which the kernel's own rounding up
      to 128 MiB usually absorbs.
    """
    if iomem_text:
        total = iomem_system_ram(iomem_text)
        if total:
            return total, "iomem"
    if meminfo_text:
        return parse_meminfo(meminfo_text)["MemTotal"] + (crash_bytes or 0), "meminfo"
    raise ValidationError("cannot tell how much RAM the host has: neither /proc/iomem nor /proc/meminfo is readable")


# ---------------------------------------------------------------------------------------
# Published defaults of each distribution
#
# Each entry: (family, first major version it applies to, arch or None for all, value, source).
# The last matching row (highest first version <= the host's) wins.

_RH_X86_RHEL8 = "1G-4G:160M,4G-64G:192M,64G-1T:256M,1T-:512M"
_RH_PPC = "2G-4G:384M,4G-16G:512M,16G-64G:1G,64G-128G:2G,128G-:4G"
_RH_X86_2021 = "1G-4G:192M,4G-64G:256M,64G-:512M"
_RH_ARM_2022 = "1G-4G:256M,4G-64G:320M,64G-:576M"
_RH_X86_2025 = "2G-64G:256M,64G-:512M"
_RH_ARM_2025 = "2G-4G:256M,4G-64G:320M,64G-:576M"
_DEB_BIG = "2G-4G:320M,4G-32G:512M,32G-64G:1024M,64G-128G:2048M,128G-:4096M"

_SRC_RHEL8 = ("RHEL 8 kernel crashkernel=auto table (centos-stream-8 kernel/crash_core.c, "
              "RHEL 8 'Managing, monitoring and updating the kernel', memory requirements for kdump)")
_SRC_RHEL9 = ("kexec-tools kdump-lib.sh kdump_get_arch_recommend_crashkernel, commits 34d27c4 (2021-11) "
              "and b92bc6e (2022-06) in rhkdump/kdump-utils history; RHEL 9 kdump docs")
_SRC_RHEL10 = ("rhkdump/kdump-utils kdump-lib.sh kdump_get_arch_recommend_crashkernel after commits "
               "fe18f93 and ca42bd6 (v1.0.53, 2025-03); RHEL 10.1 kdumpctl sets 2G-64G:256M,64G-:512M")
_SRC_DEB12 = "Debian 12 kdump-tools 1:1.8.1 /etc/default/grub.d/kdump-tools.cfg (amd64, s390x / arm64, ppc64el)"
_SRC_DEB13 = "Debian 13 kdump-tools 1:1.10.7 /etc/default/grub.d/kdump-tools.cfg (amd64, s390x / arm64, ppc64el)"
_SRC_UBU_OLD = ("Ubuntu kdump-tools: 512M-:192M (the bump Debian 1:1.10 took over, changelog: 'avoids out of "
                "memory errors ... 4 CPU / 2 GiB KVM instance'); arm64/ppc64el table as in Debian")
_SRC_UBU_NEW = "Ubuntu Server docs 'Kernel crash dump' (canonical/ubuntu-server-documentation), 24.10 and later"
_SRC_SUSE = ("openSUSE/kdump kdumptool/calibrate.cc DEF_RESERVE_KB (fallback of 'kdumptool calibrate'; SUSE has "
             "no static table, YaST writes the calibrated value)")

DISTRO_DEFAULTS = (
    ("redhat", 8, None, _RH_X86_RHEL8, _SRC_RHEL8),
    ("redhat", 8, "aarch64", "2G-:448M", _SRC_RHEL8),
    ("redhat", 8, "ppc64le", _RH_PPC, _SRC_RHEL8),
    ("redhat", 9, None, _RH_X86_2021, _SRC_RHEL9),
    ("redhat", 9, "aarch64", _RH_ARM_2022, _SRC_RHEL9),
    ("redhat", 9, "ppc64le", _RH_PPC, _SRC_RHEL9),
    ("redhat", 10, None, _RH_X86_2025, _SRC_RHEL10),
    ("redhat", 10, "aarch64", _RH_ARM_2025, _SRC_RHEL10),
    ("redhat", 10, "ppc64le", _RH_PPC, _SRC_RHEL10),
    ("fedora", 35, None, _RH_X86_2021, _SRC_RHEL9),
    ("fedora", 35, "aarch64", _RH_ARM_2022, _SRC_RHEL9),
    ("fedora", 35, "ppc64le", _RH_PPC, _SRC_RHEL9),
    ("fedora", 42, None, _RH_X86_2025, _SRC_RHEL10),
    ("fedora", 42, "aarch64", _RH_ARM_2025, _SRC_RHEL10),
    ("fedora", 42, "ppc64le", _RH_PPC, _SRC_RHEL10),
    ("debian", 12, None, "384M-:128M", _SRC_DEB12),
    ("debian", 12, "aarch64", _DEB_BIG, _SRC_DEB12),
    ("debian", 12, "ppc64le", _DEB_BIG, _SRC_DEB12),
    ("debian", 13, None, "512M-:192M", _SRC_DEB13),
    ("debian", 13, "aarch64", _DEB_BIG, _SRC_DEB13),
    ("debian", 13, "ppc64le", _DEB_BIG, _SRC_DEB13),
    ("ubuntu", 20, None, "512M-:192M", _SRC_UBU_OLD),
    ("ubuntu", 20, "aarch64", _DEB_BIG, _SRC_UBU_OLD),
    ("ubuntu", 20, "ppc64le", _DEB_BIG, _SRC_UBU_OLD),
    ("ubuntu", 24.1, None, _DEB_BIG, _SRC_UBU_NEW),
    ("suse", 12, None, "192M", _SRC_SUSE),
    ("suse", 12, "ppc64le", "384M", _SRC_SUSE),
)

_FAMILIES = {
    "redhat": ("redhat", "rhel", "red hat enterprise linux", "centos", "rocky", "almalinux",
               "oraclelinux", "oracle linux", "ol", "cloudlinux", "eurolinux", "navylinux", "redhat enterprise"),
    "fedora": ("fedora",),
    "debian": ("debian", "devuan", "raspbian", "kali"),
    "ubuntu": ("ubuntu", "pop!_os", "linuxmint", "linux mint"),
    "suse": ("suse", "sles", "sles_sap", "sled", "opensuse", "opensuse leap", "opensuse-leap",
             "opensuse tumbleweed", "opensuse-tumbleweed", "sle_hpc", "sle-micro"),
}


def distro_family(distribution):
    """``redhat``, ``fedora``, ``debian``, ``ubuntu`` or ``suse`` for an ``ansible_distribution``,
    ``ansible_os_family`` or os-release ``ID`` value."""
    family = _known_family(distribution)
    if family is None:
        raise ValidationError(
            "no published crashkernel default for distribution %r; use one of RedHat, CentOS, Rocky, "
            "AlmaLinux, OracleLinux, Fedora, Debian, Ubuntu, SLES, openSUSE (or policy=estimate/fixed)"
            % (distribution,))
    return family


def _known_family(distribution):
    name = str(distribution or "").strip().lower()
    for family, names in _FAMILIES.items():
        if name in names:
            return family
    if name.startswith("opensuse") or name.startswith("sle"):
        return "suse"
    return None


def complete_distribution(name, version, os_release):
    """``(name, version)`` of the distribution: the given ones, completed from ``os_release``
    (``_kdumpconf.parse_os_release`` fields): ``ID`` and ``VERSION_ID``. A name without
    published defaults is replaced by the first ``ID_LIKE`` entry that has them, if any."""
    name = name or os_release.get("ID")
    version = version or os_release.get("VERSION_ID")
    if name and _known_family(name) is None:
        name = next((like for like in os_release.get("ID_LIKE", "").split() if _known_family(like)), name)
    return name, version


def _version_number(version):
    text = str(version if version is not None else "").strip()
    match = re.match(r"^(\d+)(?:\.(\d+))?", text)
    if not match:
        raise ValidationError("distribution version %r does not start with a number" % (version,))
    major = int(match.group(1))
    minor = int(match.group(2) or 0)
    return major + min(minor, 99) / 100.0


def distro_default(distribution, version, arch="x86_64"):
    """The published default ``crashkernel=`` of a distribution release: ``(value, source)``.

    ``version`` may be a major version (``12``) or ``major.minor`` (``24.10``); a bare Ubuntu
    ``24`` means 24.04. Rolling openSUSE Tumbleweed has no version: pass any number.
    """
    family = distro_family(distribution)
    arch = normalize_arch(arch)
    number = _version_number(version)
    best = None
    for row_family, first, row_arch, value, source in DISTRO_DEFAULTS:
        if row_family != family or number < first:
            continue
        if row_arch is not None and row_arch != arch:
            continue
        key = (first, row_arch is not None)
        if best is None or key >= best[0]:
            best = (key, value, source)
    if best is None:
        oldest = min(row[1] for row in DISTRO_DEFAULTS if row[0] == family)
        raise ValidationError("no published crashkernel default for %s %s (known from %s on)"
                              % (distribution, version, oldest))
    return best[1], best[2]


def distro_default_value(distribution, version, arch="x86_64", floor_mb=None, ceiling_mb=None):
    """``(value, source)`` for ``policy=distro_default``: the published default (``distro_default``)
    with every size moved into ``[floor_mb, ceiling_mb]`` (0 or ``None``: no limit), in canonical
    form."""
    if not distribution or not version:
        raise ValidationError("cannot tell the distribution and release; set distribution and "
                              "distribution_major_version")
    value, source = distro_default(distribution, version, arch)
    floor = floor_mb * MIB if floor_mb else None
    ceiling = ceiling_mb * MIB if ceiling_mb else None
    return format_value(clamp(parse_value(value), floor, ceiling)), source


def fixed_value(size):
    """The value for ``policy=fixed``: ``size`` stripped, without a leading ``crashkernel=``,
    checked by ``parse_value`` and otherwise used as written."""
    size = (size or "").strip()
    if size.startswith("crashkernel="):
        size = size[len("crashkernel="):]
    parse_value(size)
    return size


# ---------------------------------------------------------------------------------------
# Estimate from the parts of the capture environment

# Decompressed kernel / vmlinuz file ratio when nothing better is known: Debian kdump-tools
# 1:1.10.7 kdump-config crashkernel_estimate() (6 for x86/s390x, 2 for ppc64le, 4 otherwise).
VMLINUZ_FACTOR = {"x86_64": 6, "i386": 6, "s390x": 6, "ppc64le": 2}
VMLINUZ_FACTOR_OTHER = 4


def kernel_footprint_from_vmlinuz(vmlinuz_bytes, arch="x86_64"):
    """Guess the in-memory kernel size from the compressed image size."""
    return vmlinuz_bytes * VMLINUZ_FACTOR.get(normalize_arch(arch), VMLINUZ_FACTOR_OTHER)


def bzimage_init_size(header):
    """``init_size`` of an x86 bzImage (boot protocol >= 2.10), ``None`` for other images.

    ``init_size`` is the memory the kernel needs from its load address to run, including
    decompression space and bss: exactly what kexec reserves for it inside the crash region.
    ``header`` is the first 0x270 bytes (or more) of the file.
    """
    if len(header) < 0x264 or header[0x202:0x206] != b"HdrS":
        return None
    version = header[0x206] | (header[0x207] << 8)
    if version < 0x020a:
        return None
    return header[0x260] | (header[0x261] << 8) | (header[0x262] << 16) | (header[0x263] << 24)


# Constants of the model, MiB. Judgement calls, documented in estimate().
EARLY_RUNTIME_MB = 16
RUNTIME_MB = {"dracut": 16, "initramfs-tools": 48}
UNPACK_RATIO = {"dracut": 1.0, "initramfs-tools": 2.0}
MODULES_MB = 8
PER_CPU_MB = 2
NETWORK_MB = {"local": 0, "device": 0, "nfs": 48, "ssh": 48}
LUKS_DEFAULT_MB = 1024
LUKS_OVERHEAD_MB = {"aarch64": 50}
LUKS_OVERHEAD_OTHER_MB = 20
BITMAP_CAP_MB = 32
SAFETY = 1.1
ROUND_MB = 16
FLOOR_MB = 128


def estimate(total_ram, kernel_bytes, initrd_bytes, initrd_unpacked_bytes=None, layout="initramfs-tools",
             arch="x86_64", cpus=1, page_size=4096, modules_mb=MODULES_MB, target_type="local",
             luks=False, luks_memory_mb=None, floor_mb=FLOOR_MB, ceiling_mb=None, round_mb=ROUND_MB):
    """Size the crash kernel reservation from its parts; pure, every input passed in.

    Two moments need the most memory in the capture kernel:

    * ``boot``: the kernel image (``kernel_bytes``: its in-memory footprint, e.g. bzImage
      ``init_size``), the packed initramfs kexec loaded (``initrd_bytes``) and its unpacked copy
      coexist while the kernel unpacks it, plus early kernel allocations (16 MiB, kdump-utils'
      "runtime reservation") and per-CPU data for the ``cpus`` the capture kernel starts
      (both Debian and Red Hat pass ``nr_cpus=1``; 2 MiB each). With ``layout='dracut'`` the
      capture command line has no ``root=`` (kdump-utils removes it), so the initramfs is unpacked
      into a tmpfs that may use only half of the memory: the unpacked size counts twice
      (kdump-utils commit 4e1f06e).
    * ``dump``: the kernel image, the userspace that runs makedumpfile (``dracut``: the initramfs
      stays the root file system, 16 MiB of processes; ``initramfs-tools``: the initramfs is freed
      at switch_root, the real root's systemd boots, 48 MiB), loaded modules (``modules_mb``),
      makedumpfile's two page bitmaps (2 bits per page of ``total_ram``, capped at 32 MiB like
      SUSE's calibrate: beyond that makedumpfile works in cycles), a network target's drivers and
      client (nfs/ssh: 48 MiB) and cryptsetup's PBKDF memory when the target is encrypted
      (``luks_memory_mb``: the keyslot's Argon2 memory cost, cryptsetup's default maximum is
      1 GiB, plus 20 MiB, 50 MiB on aarch64, like kdumpctl estimate).

    When the unpacked initramfs size is unknown it is taken as ``UNPACK_RATIO`` times the file
    (``dracut`` images hold a squashfs/erofs image that stays compressed, initramfs-tools ones are
    a compressed cpio). The larger moment gets 10% on top (SUSE calibrate's ADD_RESERVE) and is
    rounded up to ``round_mb``, then ``floor_mb``/``ceiling_mb`` apply. Returns a breakdown dict
    whose ``total_mb`` is the recommendation.
    """
    arch = normalize_arch(arch)
    if layout not in RUNTIME_MB:
        raise ValidationError("layout must be one of %s, got %r" % (", ".join(sorted(RUNTIME_MB)), layout))
    if target_type not in NETWORK_MB:
        raise ValidationError("target_type must be one of %s, got %r"
                              % (", ".join(sorted(NETWORK_MB)), target_type))
    for name, value in (("total_ram", total_ram), ("kernel_bytes", kernel_bytes), ("initrd_bytes", initrd_bytes)):
        if value is None or value < 0:
            raise ValidationError("%s must be a number of bytes >= 0, got %r" % (name, value))
    if cpus < 1 or page_size < 1 or round_mb < 1:
        raise ValidationError("cpus, page_size and round_mb must be positive")

    kernel_mb = kernel_bytes / MIB
    packed_mb = initrd_bytes / MIB
    if initrd_unpacked_bytes is None:
        unpacked_mb = packed_mb * UNPACK_RATIO[layout]
        unpacked_source = "assumed %.1f x the initramfs file" % UNPACK_RATIO[layout]
    else:
        unpacked_mb = initrd_unpacked_bytes / MIB
        unpacked_source = "measured"
    tmpfs_mb = unpacked_mb if layout == "dracut" else 0.0
    per_cpu = PER_CPU_MB * cpus
    bitmap = min(total_ram / page_size * 2 / 8 / MIB, BITMAP_CAP_MB)
    network = NETWORK_MB[target_type]
    luks_mb = 0.0
    if luks:
        memory = LUKS_DEFAULT_MB if luks_memory_mb is None else luks_memory_mb
        luks_mb = memory + LUKS_OVERHEAD_MB.get(arch, LUKS_OVERHEAD_OTHER_MB)
    resident_initramfs = unpacked_mb if layout == "dracut" else 0.0
    runtime = RUNTIME_MB[layout]

    boot = kernel_mb + packed_mb + unpacked_mb + tmpfs_mb + EARLY_RUNTIME_MB + per_cpu
    dump = kernel_mb + resident_initramfs + runtime + modules_mb + bitmap + network + luks_mb + per_cpu
    peak = max(boot, dump)
    with_margin = peak * SAFETY
    rounded = int(-(-with_margin // round_mb) * round_mb)
    total = rounded
    clamped = None
    if floor_mb is not None and total < floor_mb:
        total, clamped = int(floor_mb), "floor_mb"
    if ceiling_mb is not None and total > ceiling_mb:
        total, clamped = int(ceiling_mb), "ceiling_mb"

    def r(value):
        return round(value, 2)

    return {
        "kernel_mb": r(kernel_mb),
        "initramfs_packed_mb": r(packed_mb),
        "initramfs_unpacked_mb": r(unpacked_mb),
        "initramfs_unpacked_source": unpacked_source,
        "initramfs_tmpfs_headroom_mb": r(tmpfs_mb),
        "early_runtime_mb": EARLY_RUNTIME_MB,
        "runtime_mb": runtime,
        "modules_mb": r(modules_mb),
        "makedumpfile_bitmap_mb": r(bitmap),
        "per_cpu_mb": r(per_cpu),
        "cpus": cpus,
        "network_mb": network,
        "luks_mb": r(luks_mb),
        "boot_phase_mb": r(boot),
        "dump_phase_mb": r(dump),
        "peak_mb": r(peak),
        "safety_factor": SAFETY,
        "with_margin_mb": r(with_margin),
        "rounded_mb": rounded,
        "floor_mb": floor_mb,
        "ceiling_mb": ceiling_mb,
        "clamped_by": clamped,
        "layout": layout,
        "target_type": target_type,
        "total_mb": total,
    }


# ---------------------------------------------------------------------------------------
# The estimate's inputs on a host
#
# ``exists`` arguments are path predicates (``os.path.exists`` on the host): the functions only
# decide which paths to measure, the caller reads them.

KERNEL_IMAGE_NAMES = ("vmlinuz", "Image", "image", "vmlinux")


def _first_existing(paths, exists):
    return next((path for path in paths if path and exists(path)), None)


def kernel_image_path(release, given, exists):
    """The kernel image to measure: ``given``, else the first of ``/boot/<name>-<release>`` for the
    ``KERNEL_IMAGE_NAMES``; ``None`` when it does not exist."""
    return _first_existing([given] if given else ["/boot/%s-%s" % (name, release) for name in KERNEL_IMAGE_NAMES],
                           exists)


def kernel_footprint(release, arch, path=None, header=None, file_size=None, iomem_text=None):
    """``(bytes, source)``: the in-memory size of the kernel ``release``, best measure first.

    ``header`` (the first 4 KiB) and ``file_size`` are those of the image at ``path``, ``None``
    when there is none. The bzImage ``init_size`` wins, then the running kernel's span in
    ``/proc/iomem`` (``iomem_text``), then the file size times the ``VMLINUZ_FACTOR`` of ``arch``.
    """
    init_size = bzimage_init_size(header) if header is not None else None
    if init_size:
        return init_size, "bzImage init_size of %s" % path
    span = iomem_kernel_image(iomem_text) if iomem_text else None
    if span:
        return span, "running kernel's Kernel code..bss span in /proc/iomem"
    if file_size is not None:
        return kernel_footprint_from_vmlinuz(file_size, arch), "size of %s times a ratio" % path
    raise ValidationError("no kernel image found for %s; set kernel_path" % release)


def initramfs_layout(family):
    """``initramfs-tools`` for the Debian family (``distro_family``), ``dracut`` otherwise."""
    return "initramfs-tools" if family in ("debian", "ubuntu") else "dracut"


def initrd_path(family, release, given, exists):
    """``(path, source)`` of the kdump initramfs of ``release`` to measure: ``given``, else the first
    existing file where ``family``'s kdump tools write it; when it does not exist yet, the release's
    regular initramfs stands in for it."""
    if initramfs_layout(family) == "initramfs-tools":
        kdump = ["/var/lib/kdump/initrd.img-%s" % release, "/var/lib/kdump/initrd.img"]
        regular = ["/boot/initrd.img-%s" % release]
    elif family == "suse":
        kdump = ["/boot/initrd-%s-kdump" % release]
        regular = ["/boot/initrd-%s" % release]
    else:
        kdump = ["/boot/initramfs-%skdump.img" % release]
        regular = ["/boot/initramfs-%s.img" % release]
    path = given or _first_existing(kdump, exists)
    if path and exists(path):
        return path, "kdump initramfs %s" % path
    path = _first_existing(regular, exists)
    if not path:
        raise ValidationError("no kdump initramfs (%s) and no initramfs for %s; set initrd_path"
                              % (" or ".join(kdump), release))
    return path, "regular initramfs %s standing in for the kdump one, which does not exist yet" % path


def initrd_size_file(family, initrd):
    """The file in which kdump-tools >= 1:1.10 records the unpacked size of ``initrd`` (MiB, next to
    the image as ``size_<name>``); ``None`` for families whose tools write none."""
    if initramfs_layout(family) != "initramfs-tools":
        return None
    return posixpath.join(posixpath.dirname(initrd), "size_" + posixpath.basename(initrd))


def parse_initrd_size(text):
    """Bytes recorded in an ``initrd_size_file`` (decimal MiB); ``None`` when absent or not a number."""
    stripped = (text or "").strip()
    return int(stripped) * MIB if stripped.isdigit() else None


def kernel_page_size(release):
    """Page size of a kernel release: 64 KiB for ``*64k`` flavours, else 4 KiB."""
    return 65536 if release.endswith("64k") else 4096


def encrypted_mounts(mounts_text, paths, is_encrypted):
    """Mount points, once each and in order, of the ``paths`` whose device is encrypted.

    ``mounts_text`` is ``/proc/self/mounts``; a path is on the longest mount point that contains
    it (the first listed of equal ones). ``is_encrypted(device)`` answers for the mount's device.
    """
    mounts = []
    for line in (mounts_text or "").splitlines():
        fields = line.split()
        if len(fields) >= 2:
            mounts.append((fields[1], fields[0]))
    found = []
    for path in paths:
        best = None
        for point, device in mounts:
            inside = path == point or path.startswith(point.rstrip("/") + "/")
            if inside and (best is None or len(point) > len(best[0])):
                best = (point, device)
        if best and best[0] not in found and is_encrypted(best[1]):
            found.append(best[0])
    return found


def luks_choice(option, encrypted=None):
    """``(luks, source)`` for the estimate from the ``luks`` option (``auto``, ``true``, ``false``);
    ``auto`` means LUKS when ``encrypted`` (``encrypted_mounts``) names a mount point."""
    if option != "auto":
        return option == "true", "option"
    if encrypted:
        return True, "dm-crypt under %s" % ", ".join(encrypted)
    return False, "no dm-crypt found"


def estimate_value(system_ram, release, family, kernel, initrd, luks, **options):
    """``(value, breakdown)`` for ``policy=estimate``: ``estimate`` of the parts measured on a host.

    ``kernel`` is ``kernel_footprint``'s ``(bytes, source)``, ``initrd`` ``(bytes, unpacked bytes or
    None, source)`` of the kdump initramfs of kernel ``release``, ``luks`` ``luks_choice``'s answer;
    the layout comes from ``family``, the page size from ``release``, ``options`` go to
    ``estimate`` as they are. The breakdown's ``inputs`` say where each measured size came from.
    """
    result = estimate(system_ram, kernel[0], initrd[0], initrd_unpacked_bytes=initrd[1],
                      layout=initramfs_layout(family), luks=luks[0], page_size=kernel_page_size(release), **options)
    result["inputs"] = {"kernel_release": release, "kernel": kernel[1], "initramfs": initrd[2], "luks": luks[1]}
    return "%dM" % result["total_mb"], result


# ---------------------------------------------------------------------------------------
# What must change


def decide(recommended_bytes, current_bytes, reserved_bytes, has_current, allow_shrink=False):
    """``(action, keep_current, reboot_required)`` for a recommendation.

    * ``set``: no usable ``crashkernel=`` on the command line;
    * ``grow``: the recommendation reserves more than the current value does on this host;
    * ``shrink``: it reserves less and ``allow_shrink`` is true;
    * ``none``: otherwise. With less and no ``allow_shrink`` the current value is kept
      (``keep_current``): the module never recommends less than is configured.

    ``reboot_required``: the effective recommendation differs from what is reserved now.
    """
    keep_current = False
    if not has_current:
        action = "set"
    elif recommended_bytes > current_bytes:
        action = "grow"
    elif recommended_bytes < current_bytes and allow_shrink:
        action = "shrink"
    else:
        action = "none"
        keep_current = recommended_bytes < current_bytes
    effective = current_bytes if keep_current else recommended_bytes
    return action, keep_current, effective != (reserved_bytes or 0)


CurrentState = collections.namedtuple("CurrentState", "fields bytes usable")


def current_state(cmdline, system_ram, arch="x86_64"):
    """What the ``crashkernel=`` words of ``cmdline`` reserve on this host, as a ``CurrentState``.

    ``fields`` are the crashkernel module's ``current`` (the value that counts, exactly as
    written; ``None`` when there is none), ``current_values`` (every value, in order),
    ``current_mb``, ``low_mb`` and, when the value that counts is invalid, ``current_error``.
    ``bytes`` is what the value reserves for the main region; ``usable`` is false when there is
    no valid value that sizes the main region (the invalid one is still shown as ``current``).
    """
    fields = {"current": None, "current_values": crashkernel_values(cmdline), "current_mb": 0, "low_mb": 0}
    try:
        setting = parse_cmdline(cmdline)
    except ParseError as exc:
        fields["current_error"] = str(exc)
        plain = [v for v in fields["current_values"] if not v.endswith(SUFFIXES)]
        fields["current"] = (plain or [v for v in fields["current_values"] if v.endswith(",high")])[-1]
        return CurrentState(fields, 0, False)
    if setting.main is None:
        return CurrentState(fields, 0, False)
    main_bytes = effective_size(setting.main, system_ram, arch)
    fields.update(current=setting.main_text, current_mb=mib(main_bytes), low_mb=mib(low_size(setting, arch)))
    return CurrentState(fields, main_bytes, True)


def recommendation(policy, value, current, reserved_bytes, system_ram, arch="x86_64", allow_shrink=False):
    """What the crashkernel module recommends when ``policy`` produced ``value``.

    ``current`` is ``current_state``'s answer for the running command line, ``reserved_bytes``
    what is reserved now. Returns the module's ``policy_value``, ``recommended``,
    ``recommended_mb``, ``action``, ``reboot_required`` and ``reason``. An ``estimate`` that
    reserves nothing on this host (not below its RAM) raises ``ValidationError``.
    """
    recommended_bytes = effective_size(parse_value(value), system_ram, arch)
    if policy == "estimate" and recommended_bytes == 0:
        raise ValidationError("the estimate %s does not fit in this host's %dM of RAM; lower luks_memory_mb or set "
                              "ceiling_mb" % (value, mib(system_ram)))
    action, keep, reboot = decide(recommended_bytes, current.bytes, reserved_bytes, current.usable, allow_shrink)
    result = {
        "policy_value": value,
        "recommended": current.fields["current"] if keep else value,
        "recommended_mb": mib(current.bytes if keep else recommended_bytes),
        "action": action,
        "reboot_required": reboot,
    }
    facts = dict(current.fields, reserved_mb=mib(reserved_bytes), **result)
    result["reason"] = _reason(policy, recommended_bytes, facts)
    return result


def _reason(policy, recommended_bytes, facts):
    asked = "%s gives %s (%dM here)" % (policy, facts["policy_value"], mib(recommended_bytes))
    if facts["action"] == "set":
        what = "the kernel command line has no usable crashkernel="
        if facts.get("current_error"):
            what = "the current crashkernel=%s is invalid" % facts["current"]
        text = "%s; %s" % (what, asked)
    elif facts["action"] in ("grow", "shrink"):
        text = "crashkernel=%s reserves %dM here; %s" % (facts["current"], facts["current_mb"], asked)
    elif facts["policy_value"] != facts["recommended"] and facts["recommended_mb"] > mib(recommended_bytes):
        text = "crashkernel=%s reserves %dM here, more than %s, and allow_shrink is false" % (
            facts["current"], facts["current_mb"], asked)
    else:
        text = "crashkernel=%s already reserves %dM here; %s" % (facts["current"], facts["current_mb"], asked)
    if facts["reboot_required"]:
        text += "; %dM is reserved now, so a reboot is needed" % facts["reserved_mb"]
    return text + "."
