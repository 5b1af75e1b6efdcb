# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""Parsers behind ``kdump_info`` (and the compression check of ``kdump_config``).

* ``makedumpfile -v``: version and which compressions the binary was built with.
* ``makedumpfile --mem-usage /proc/kcore``: page counts per type -> expected dump size.
* ``/proc/meminfo``: fallback size estimate.
* ``/sys/kernel/kexec_crash_loaded`` / ``kexec_crash_size``.
* ``mokutil --sb-state`` and the ``SecureBoot``/``SetupMode`` EFI variables.
* dump directories of the three families (Debian kdump-tools, RHEL kdump, SUSE kdump).

Everything except ``scan_crash_dir`` is pure text-in, data-out.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import stat
from collections import OrderedDict

from ansible_collections.crashkit.kdump.plugins.module_utils import _safefs
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import ParseError, ValidationError

MIB = 1024 * 1024

# ---------------------------------------------------------------------------------------------
# makedumpfile -v

_VERSION_LINE = re.compile(r"^makedumpfile: version (\S+)(?: \(released on ([^)]*)\))?", re.M)
# makedumpfile prints a tab; copies pasted from mails and web pages often have spaces.
_FEATURE_LINE = re.compile(r"^(lzo|snappy|zstd)[ \t]+(enabled|disabled)[ \t]*$", re.M)


def parse_makedumpfile_version(text):
    """Parse ``makedumpfile -v``.

    makedumpfile's ``show_version()`` prints ``makedumpfile: version X (released on D)`` then
    one ``<lib>\\t<enabled|disabled>`` line for lzo and snappy (and zstd since 1.7.0). zlib
    (``-c``) is always built in. A library without a line is not supported.
    """
    m = _VERSION_LINE.search(text or "")
    if not m:
        raise ParseError("not makedumpfile -v output: %r" % (text or "")[:80])
    features = OrderedDict([("zlib", True), ("lzo", False), ("snappy", False), ("zstd", False)])
    for name, state in _FEATURE_LINE.findall(text):
        features[name] = state == "enabled"
    supported = [name for name, ok in features.items() if ok] + ["none"]
    return OrderedDict([
        ("version", m.group(1)),
        ("released", m.group(2)),
        ("compressions", features),
        ("supported_compressions", supported),
    ])


def check_compression(compression, version_info, path="makedumpfile"):
    """Raise ``ValidationError`` unless ``compression`` is built into this makedumpfile."""
    if compression in version_info["supported_compressions"]:
        return
    raise ValidationError(
        "compression %s is not supported by %s %s (it supports: %s); makedumpfile would "
        "silently ignore the flag and write an uncompressed dump"
        % (compression, path, version_info["version"], ", ".join(version_info["supported_compressions"]))
    )


# ---------------------------------------------------------------------------------------------
# makedumpfile --mem-usage

_MEM_ROW = re.compile(r"^([A-Z][A-Z_]*)\s+([0-9]+)\s+(yes|no)\s+(.*?)\s*\Z")
_MEM_FIELD = re.compile(r"^(page size|Total pages on system|Total size on system):\s*([0-9]+)")

# makedumpfile(8) dump_level bits: 1 zero pages, 2 non-private cache, 4 all cache,
# 8 user data, 16 free pages.
FREE_PAGES_BIT = 16
_EXCLUDED_BY = {"ZERO": 1, "NON_PRI_CACHE": 2 | 4, "PRI_CACHE": 4, "USER": 8, "FREE": FREE_PAGES_BIT}


def parse_mem_usage(text):
    """Parse the table of ``makedumpfile --mem-usage /proc/kcore``.

    Returns ``{"page_size", "total_pages", "total_bytes", "types": {NAME: {"pages",
    "excludable", "description"}}}``. Raises ``ParseError`` when there is no table (for example
    "No memory is reserved for crashkernel!", which makedumpfile prints when nothing is reserved).
    """
    types = OrderedDict()
    fields = {}
    for line in (text or "").splitlines():
        line = line.strip()
        m = _MEM_ROW.match(line)
        if m and m.group(1) != "TYPE":
            types[m.group(1)] = OrderedDict([("pages", int(m.group(2))),
                                             ("excludable", m.group(3) == "yes"),
                                             ("description", m.group(4))])
            continue
        m = _MEM_FIELD.match(line)
        if m:
            fields[m.group(1)] = int(m.group(2))
    if not types or "page size" not in fields:
        raise ParseError("no page table in makedumpfile --mem-usage output: %r"
                         % " ".join((text or "").split())[:160])
    total_pages = fields.get("Total pages on system", sum(t["pages"] for t in types.values()))
    return OrderedDict([
        ("page_size", fields["page size"]),
        ("total_pages", total_pages),
        ("total_bytes", fields.get("Total size on system", total_pages * fields["page size"])),
        ("types", types),
    ])


def dump_size_from_mem_usage(mem_usage, dump_level):
    """Bytes of the pages a dump at ``dump_level`` keeps (before compression).

    Types makedumpfile cannot exclude (KERN_DATA) and types this table does not know are
    always counted, so the figure is an upper bound of the uncompressed dump.
    """
    kept = 0
    for name, row in mem_usage["types"].items():
        bits = _EXCLUDED_BY.get(name)
        if bits is not None and row["excludable"] and dump_level & bits:
            continue
        kept += row["pages"]
    return kept * mem_usage["page_size"]


# ---------------------------------------------------------------------------------------------
# /proc/meminfo

DEFAULT_ESTIMATE_RATIO = 0.25


def parse_meminfo(text):
    """``/proc/meminfo`` as ``{field: bytes}`` (the kB unit converted)."""
    result = OrderedDict()
    for line in (text or "").splitlines():
        m = re.match(r"^([A-Za-z0-9_()]+):\s+([0-9]+)(?:\s+kB)?\s*$", line)
        if m:
            value = int(m.group(2))
            result[m.group(1)] = value * 1024 if line.rstrip().endswith("kB") else value
    if "MemTotal" not in result:
        raise ParseError("no MemTotal in meminfo text")
    return result


def dump_size_from_meminfo(meminfo, ratio=DEFAULT_ESTIMATE_RATIO):
    """Fallback estimate when --mem-usage is not available: ``MemTotal * ratio`` bytes."""
    if not 0 < ratio <= 1:
        raise ValidationError("estimate ratio must be in (0, 1], got %r" % (ratio,))
    return int(meminfo["MemTotal"] * ratio)


# ---------------------------------------------------------------------------------------------
# sysfs


def parse_sysfs_int(text, what="sysfs value"):
    text = (text or "").strip()
    if not re.match(r"^-?[0-9]+$", text):
        raise ParseError("%s is not an integer: %r" % (what, text[:40]))
    return int(text)


# ---------------------------------------------------------------------------------------------
# Secure Boot


def parse_sb_state(text):
    """Parse ``mokutil --sb-state`` (stdout and stderr together).

    Known lines: ``SecureBoot enabled``, ``SecureBoot disabled``, ``Platform is in Setup Mode``,
    ``SecureBoot validation is disabled in shim``, ``EFI variables are not supported on this
    system`` (legacy BIOS boot).
    """
    text = text or ""
    result = OrderedDict([("enabled", None), ("setup_mode", None), ("shim_validation", None),
                          ("efi", None), ("source", "mokutil")])
    if re.search(r"EFI variables are not supported", text):
        result["efi"] = False
        result["enabled"] = False
        return result
    m = re.search(r"^SecureBoot (enabled|disabled|unknown)", text, re.M)
    if not m:
        raise ParseError("not mokutil --sb-state output: %r" % text[:80])
    result["efi"] = True
    result["enabled"] = {"enabled": True, "disabled": False}.get(m.group(1))
    result["setup_mode"] = bool(re.search(r"Platform is in Setup Mode", text))
    if re.search(r"SecureBoot validation is disabled in shim", text):
        result["shim_validation"] = False
    return result


def efivar_value(data):
    """The first data byte of an efivarfs file (4 bytes of attributes, then the data)."""
    if data is None or len(data) < 5:
        return None
    value = data[4]
    return value if isinstance(value, int) else ord(value)


def secure_boot_from_efivars(secureboot, setupmode):
    """Secure Boot state from the raw ``SecureBoot-*`` and ``SetupMode-*`` efivarfs files.

    Mirrors kdump-config's ``check_secure_boot``: enforcing when SecureBoot is 1 and SetupMode
    is 0. ``None`` data means the variable file does not exist.
    """
    sb = efivar_value(secureboot)
    sm = efivar_value(setupmode)
    result = OrderedDict([("enabled", None), ("setup_mode", None), ("shim_validation", None),
                          ("efi", None), ("source", "efivars")])
    if sb is None:
        return result
    result["efi"] = True
    result["setup_mode"] = sm == 1 if sm is not None else None
    result["enabled"] = sb == 1 and sm != 1
    return result


# ---------------------------------------------------------------------------------------------
# dump directories

_DEBIAN_DIR = re.compile(r"^(?:.+-)?([0-9]{12})\Z")
_REDHAT_DIR = re.compile(r"^.+-([0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}:[0-9]{2}:[0-9]{2})\Z")
_SUSE_DIR = re.compile(r"^(?:.+-)?([0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}[-:][0-9]{2})\Z")
_COMPRESS_EXT = r"(?:\.bz2|\.gz|\.lz4|\.xz)?"
SUSE_INCOMPLETE_README = "If you see this text the crash dump is likely incomplete"


def classify_dump_dir(name, files, readme=None):
    """Describe one directory of a crash directory, or return ``None`` if it holds no dump.

    ``files`` maps file names to ``(size, mtime)``; ``readme`` is the text of a SUSE
    ``README.txt`` if there is one. Layouts:

    * debian (kdump-tools): ``<YYYYmmddHHMM>/dump.<stamp>`` (``.bz2/.gz/.lz4/.xz`` with
      KDUMP_COMPRESSION) and ``dmesg.<stamp>``; ``dump-incomplete`` while writing;
      ``vmcore.<stamp>``/``vmcore-incomplete`` when makedumpfile failed and ``cp`` was used.
    * redhat (kdump-utils/kexec-tools): ``<ip>-<YYYY-mm-dd-HH:MM:SS>/vmcore`` (``vmcore.flat``
      from old ssh dumps), ``vmcore-dmesg.txt``; ``vmcore-incomplete`` while writing.
    * suse: ``<YYYY-mm-dd-HH-MM>/vmcore`` (``HH:MM`` with kdumptool 1.x), ``dmesg`` or
      ``dmesg.txt``, ``README.txt`` which says the dump is likely incomplete until it is
      rewritten at the end.
    """
    deb_stamp = _DEBIAN_DIR.match(name)
    vmcore = None
    dmesg = None
    complete = None
    layout = None
    incomplete_file = None

    def pick(pattern):
        found = sorted(f for f in files if re.match(pattern + r"$", f))
        return found[0] if found else None

    debian_dump = pick(r"dump\.[0-9]{12}" + _COMPRESS_EXT)
    debian_partial = pick(r"dump-incomplete" + _COMPRESS_EXT)
    debian_cp = pick(r"vmcore\.[0-9]{12}")
    debian_dmesg = pick(r"dmesg\.[0-9]{12}")
    if debian_dump or debian_partial or debian_dmesg or debian_cp or (deb_stamp and "vmcore-incomplete" in files):
        layout = "debian"
        vmcore = debian_dump or debian_cp
        incomplete_file = debian_partial or ("vmcore-incomplete" if "vmcore-incomplete" in files else None)
        dmesg = debian_dmesg
        complete = vmcore is not None and incomplete_file is None
    elif ("vmcore-dmesg.txt" in files or "vmcore-dmesg-incomplete.txt" in files or "kexec-dmesg.log" in files
          or _REDHAT_DIR.match(name)):
        layout = "redhat"
        vmcore = "vmcore" if "vmcore" in files else ("vmcore.flat" if "vmcore.flat" in files else None)
        incomplete_file = "vmcore-incomplete" if "vmcore-incomplete" in files else None
        dmesg = "vmcore-dmesg.txt" if "vmcore-dmesg.txt" in files else None
        complete = vmcore is not None and incomplete_file is None
    elif "README.txt" in files or _SUSE_DIR.match(name):
        layout = "suse"
        vmcore = pick(r"vmcore(\.flattened)?")
        dmesg = "dmesg" if "dmesg" in files else ("dmesg.txt" if "dmesg.txt" in files else None)
        readme_says_incomplete = readme is not None and SUSE_INCOMPLETE_README in readme
        complete = vmcore is not None and not readme_says_incomplete
    else:
        return None
    if vmcore is None and incomplete_file is None and dmesg is None:
        return None
    core = vmcore or incomplete_file
    size, mtime = files[core] if core else (0, max(m for _s, m in files.values()) if files else None)
    return OrderedDict([
        ("name", name),
        ("layout", layout),
        ("vmcore", vmcore),
        ("incomplete_file", incomplete_file),
        ("dmesg", dmesg),
        ("size", size),
        ("mtime", mtime),
        ("complete", bool(complete)),
    ])


def scan_crash_dir(path):
    """List the dumps below ``path`` (one level of directories), oldest first."""
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        if getattr(exc, "errno", None) == 2:
            return []
        raise
    dumps = []
    for name in names:
        directory = os.path.join(path, name)
        try:
            if not stat.S_ISDIR(os.lstat(directory).st_mode):
                continue
            entries = os.listdir(directory)
        except OSError:
            continue
        files = {}
        for entry in entries:
            try:
                st = os.lstat(os.path.join(directory, entry))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                files[entry] = (st.st_size, st.st_mtime)
        readme = None
        if "README.txt" in files and files["README.txt"][0] < 65536:
            readme = _safefs.read_small(os.path.join(directory, "README.txt"), limit=65536)
        info = classify_dump_dir(name, files, readme)
        if info is None:
            continue
        info["path"] = directory
        for key in ("vmcore", "incomplete_file", "dmesg"):
            if info[key]:
                info[key] = os.path.join(directory, info[key])
        dumps.append(info)
    dumps.sort(key=lambda d: (d["mtime"] or 0, d["name"]))
    return dumps


# ---------------------------------------------------------------------------------------------
# systemctl

_UNIT_STATES = ("enabled", "enabled-runtime", "linked", "linked-runtime", "alias", "masked", "masked-runtime",
                "static", "indirect", "disabled", "generated", "transient", "bad", "not-found",
                "active", "reloading", "inactive", "failed", "activating", "deactivating", "maintenance",
                "refreshing", "unknown")


def parse_systemctl_state(stdout):
    """The state word printed by ``systemctl is-enabled`` / ``is-active``, or ``None``.

    Older systemd prints nothing on stdout for a unit that does not exist (only an error on
    stderr), and without a running systemd there is no state to report either.
    """
    words = (stdout or "").split()
    if len(words) == 1 and words[0] in _UNIT_STATES:
        return words[0]
    return None


ENABLED_STATES = ("enabled", "enabled-runtime", "static", "indirect", "generated", "alias", "linked",
                  "linked-runtime")
