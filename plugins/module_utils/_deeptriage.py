# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""Deep triage: open a crash dump with ``crash`` and the crashed kernel's debug vmlinux.

Pure helpers for :mod:`vmcore_bundle`: where each family installs the debug vmlinux, its GNU
build id (read from the ELF notes, so a vmlinux of another build is never fed to ``crash``),
the command script (each command's output redirected to its own file, ``crash``'s own
``cmd > file`` syntax), and parsers of ``sys`` and ``bt`` output.

Measured with crash 8.0.2 on a Debian 12 flattened dump (``makedumpfile -F``) of a sysrq crash
and ``linux-image-6.1.0-56-amd64-dbg``: ``crash -s --no_scroll -i <script> <vmlinux> <dump>``
runs the script and exits at ``quit`` with status 0; a command it does not know prints
``crash: command not found: <name>`` and the script goes on.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import struct

from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError
from ansible_collections.crashkit.kdump.plugins.module_utils._vmcore import parse_notes

# Where the debug vmlinux of kernel <release> is, per family (the -dbg / -debuginfo packages).
VMLINUX_PATTERNS = (
    "/usr/lib/debug/boot/vmlinux-{release}",          # Debian linux-image-*-dbg, Ubuntu -dbgsym
    "/usr/lib/debug/lib/modules/{release}/vmlinux",   # RHEL family, Fedora kernel-debuginfo
    "/usr/lib/debug/boot/vmlinux-{release}.debug",    # SUSE kernel-*-debuginfo
)
# Directories whose vmlinux files decide whether a bundle built without them is out of date.
VMLINUX_GLOBS = (
    ("/usr/lib/debug/boot", re.compile(r"^vmlinux-.+\Z")),
    ("/usr/lib/debug/lib/modules", None),
)
DEFAULT_COMMANDS = ("sys", "bt", "log", "ps")
# A crash command and plain arguments: no redirection, pipe, shell escape, quoting or
# command separator, so one line of the script is exactly one command.
_COMMAND = re.compile(r"^[a-z][a-z0-9_]*(?: +[A-Za-z0-9_.:,=/+%@-]+)*\Z")
_SYS_LINE = re.compile(r"^\s*([A-Z][A-Z ]*[A-Z]):\s?(.*)\Z")
_BT_HEAD = re.compile(r"^PID:\s*(\d+)\s+TASK:\s*([0-9a-f]+)\s+CPU:\s*(\d+)\s+COMMAND:\s*\"(.*)\"")
_BT_FRAME = re.compile(r"^\s*#\d+\s+\[[0-9a-f]+\]\s+(\S+)\s+at\s+([0-9a-f]+)")

_PT_NOTE = 4
_NT_GNU_BUILD_ID = 3
_MAX_PHDRS = 4096
_NOTE_LIMIT = 1024 * 1024


def vmlinux_candidates(release, root="/"):
    """Paths where the debug vmlinux of ``release`` would be, in the order they are tried."""
    if not release or "/" in release or release.startswith("."):
        return []
    return [os.path.join(root, p.format(release=release).lstrip("/")) for p in VMLINUX_PATTERNS]


def find_vmlinux(release, root="/"):
    """The first existing debug vmlinux of ``release``, or None."""
    for path in vmlinux_candidates(release, root):
        if os.path.isfile(path):
            return path
    return None


def installed_vmlinux_files(root="/"):
    """``(path, size, mtime)`` of every debug vmlinux installed, sorted (for the bundle's inputs key)."""
    found = []
    boot = os.path.join(root, "usr/lib/debug/boot")
    if os.path.isdir(boot):
        for name in os.listdir(boot):
            if name.startswith("vmlinux-"):
                found.append(os.path.join(boot, name))
    modules = os.path.join(root, "usr/lib/debug/lib/modules")
    if os.path.isdir(modules):
        for name in os.listdir(modules):
            path = os.path.join(modules, name, "vmlinux")
            if os.path.isfile(path):
                found.append(path)
    result = []
    for path in sorted(found):
        try:
            st = os.stat(path)
        except OSError:
            continue
        result.append((path, st.st_size, int(st.st_mtime)))
    return result


def elf_build_id(path):
    """The GNU build id (hex) of an ELF file from its PT_NOTE segments, None when it has none.

    Reads the headers and the note segments only. Raises KdumpError when the file is not ELF.
    """
    try:
        with open(path, "rb") as handle:
            ident = handle.read(64)
            if len(ident) < 52 or ident[:4] != b"\x7fELF":
                raise KdumpError("%s is not an ELF file" % path)
            elf_class, data = ident[4], ident[5]
            if elf_class not in (1, 2) or data not in (1, 2):
                raise KdumpError("%s: unknown ELF class %d or data encoding %d" % (path, elf_class, data))
            order = "<" if data == 1 else ">"
            if elf_class == 2:
                e_phoff, = struct.unpack_from(order + "Q", ident, 32)
                e_phentsize, e_phnum = struct.unpack_from(order + "HH", ident, 54)
                phdr = struct.Struct(order + "IIQQQQQQ")
            else:
                e_phoff, = struct.unpack_from(order + "I", ident, 28)
                e_phentsize, e_phnum = struct.unpack_from(order + "HH", ident, 42)
                phdr = struct.Struct(order + "IIIIIIII")
            if e_phnum > _MAX_PHDRS or (e_phnum and e_phentsize < phdr.size):
                raise KdumpError("%s: implausible program header table" % path)
            handle.seek(e_phoff)
            table = handle.read(e_phnum * e_phentsize)
            if len(table) < e_phnum * e_phentsize:
                raise KdumpError("%s: the program header table is cut off" % path)
            for index in range(e_phnum):
                fields = phdr.unpack_from(table, index * e_phentsize)
                if elf_class == 2:
                    p_type, p_offset, p_filesz = fields[0], fields[2], fields[5]
                else:
                    p_type, p_offset, p_filesz = fields[0], fields[1], fields[4]
                if p_type != _PT_NOTE or not 0 < p_filesz <= _NOTE_LIMIT:
                    continue
                handle.seek(p_offset)
                for name, ntype, desc in parse_notes(handle.read(p_filesz), order):
                    if name == "GNU" and ntype == _NT_GNU_BUILD_ID and desc:
                        return "".join("%02x" % c for c in bytearray(desc))
    except (IOError, OSError) as exc:
        raise KdumpError("cannot read %s: %s" % (path, exc))
    return None


def check_commands(commands):
    """Validate crash commands; returns ``[(command, output file name)]``.

    Output files are ``NN-<command name>.txt`` (``01-sys.txt``...), in the order given.
    """
    if not commands:
        raise KdumpError("crash_commands is empty")
    checked = []
    for number, command in enumerate(commands, 1):
        text = " ".join(str(command).split())
        if not _COMMAND.match(text):
            raise KdumpError(
                "crash command %r is not allowed: a command name and plain arguments only "
                "(no redirection, pipe, '!' shell escape, quotes or ';')" % command)
        if text.split()[0] in ("q", "quit", "exit"):
            raise KdumpError("crash command %r is not allowed: the script ends crash itself" % command)
        checked.append((text, "%02d-%s.txt" % (number, text.split()[0])))
    return checked


def command_script(checked, outdir):
    """The ``-i`` script: every command's output redirected to its own file, then ``quit``."""
    if re.search(r"[\s|;<>!'\"]", outdir):
        raise KdumpError("output directory %r contains characters crash's redirection cannot take" % outdir)
    lines = ["%s > %s" % (command, os.path.join(outdir, name)) for command, name in checked]
    lines.append("quit")
    return "\n".join(lines) + "\n"


def parse_sys(text):
    """``sys`` output -> dict of its ``KEY: value`` lines (``PANIC`` without its quotes)."""
    info = {}
    for line in text.splitlines():
        match = _SYS_LINE.match(line)
        if not match:
            continue
        key = match.group(1).strip().lower().replace(" ", "_")
        value = match.group(2).strip()
        if key == "panic" and len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        info.setdefault(key, value)
    return info


def parse_bt(text):
    """``bt`` output (the panic task) -> pid, command, cpu and the frames' function names."""
    result = {"pid": None, "command": None, "cpu": None, "functions": []}
    for line in text.splitlines():
        head = _BT_HEAD.match(line)
        if head and result["pid"] is None:
            result.update(pid=int(head.group(1)), cpu=int(head.group(3)), command=head.group(4))
            continue
        frame = _BT_FRAME.match(line)
        if frame:
            result["functions"].append(frame.group(1))
    return result


def pick_dump(dumps):
    """The dump ``crash`` should open: the last complete kdump-compressed, ELF or flattened one."""
    usable = [d for d in dumps
              if d.get("complete") and d.get("format") in ("kdump_compressed", "elf", "flattened")]
    return usable[-1] if usable else None


def errors_in(text):
    """``crash: ...`` error lines of the output, in order, without repeats."""
    seen = []
    for line in text.splitlines():
        if line.startswith("crash: ") and line not in seen:
            seen.append(line)
    return seen
