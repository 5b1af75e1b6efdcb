# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""The evidence bundle of one crash: the pure parts (parsing, choosing, checksums, archive).

* ``uptime_at(path, line)``: seconds since boot of the crash, from the ``[ 501.751965]``
  timestamp of the crash line (the triage record's ``line``) of the crashed kernel's log.
* ``boot_command_line(path)``: the ``Command line:`` the crashed kernel booted with.
* ``crashkernel_args(cmdline)``: its ``crashkernel=`` arguments.
* ``parse_boots(text)`` / ``pick_boot(boots, crash_time)``: the journal's boots
  (``journalctl --list-boots -o json``) and which one crashed: the last boot that started at or
  before the crash time; also the boot before it.
* ``dpkg_changes(lines, since)`` / ``rpm_changes(lines, since)``: package changes since a time.
* ``sha256sums(root, paths)``: the text of a ``SHA256SUMS`` file (``sha256sum -c`` reads it).
* ``write_archive(directory, archive, arcname, mtime)``: a reproducible ``.tar.gz``.
* ``inputs_key(...)``: what the bundle was built from, to tell whether it is up to date.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import time

from ansible_collections.crashkit.kdump.plugins.module_utils._errors import HostError, ParseError

BUNDLE_FORMAT = 1
_TIMESTAMP = re.compile(r"\[\s*(\d+)\.(\d+)\]")
_COMMAND_LINE = re.compile(r"\bCommand line:\s?(.*)$")
_DPKG = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (install|upgrade|remove|purge) (\S+) (\S+) (\S+)\s*$")
_RPM = re.compile(r"^(\d+) (\S+)\s*$")
SCAN_LIMIT = 64 * 1024 * 1024


def _lines(path, limit=SCAN_LIMIT):
    try:
        handle = io.open(path, "r", encoding="utf-8", errors="replace")
    except (IOError, OSError) as exc:
        raise HostError("cannot read %s: %s" % (path, exc))
    seen = 0
    with handle:
        for line in handle:
            seen += len(line)
            if seen > limit:
                return
            yield line


def timestamp_of(line):
    """Seconds since boot of a ``[ 12.345678]`` kernel log line, or ``None``."""
    match = _TIMESTAMP.search(line)
    if not match:
        return None
    return float("%s.%s" % (match.group(1), match.group(2)))


def uptime_at(path, line_no=None):
    """Uptime (seconds) at the crash: the timestamp of line ``line_no`` (1-based), else of the
    last timestamped line before it (or of the whole log when ``line_no`` is None)."""
    last = None
    for number, line in enumerate(_lines(path), 1):
        stamp = timestamp_of(line)
        if stamp is not None:
            last = stamp
        if line_no is not None and number >= line_no:
            break
    return last


def boot_command_line(path):
    """The kernel command line of the boot whose log ``path`` is (its first ``Command line:``)."""
    for line in _lines(path, 4 * 1024 * 1024):
        match = _COMMAND_LINE.search(line)
        if match:
            return match.group(1).strip()
    return None


def crashkernel_args(cmdline):
    """The ``crashkernel=`` arguments of a command line, in order."""
    if not cmdline:
        return []
    return [arg for arg in cmdline.split() if arg.startswith("crashkernel=")]


def parse_boots(text):
    """Boots of ``journalctl --list-boots -o json`` as dicts with ``index``, ``boot_id``,
    ``first`` and ``last`` (epoch seconds, float), oldest first."""
    if not text or not text.strip():
        return []
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ParseError("journalctl --list-boots did not print JSON: %s" % exc)
    if not isinstance(data, list):
        raise ParseError("journalctl --list-boots JSON is not a list")
    boots = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("boot_id"), str):
            raise ParseError("journalctl --list-boots entry without boot_id: %r" % (item,))
        try:
            boots.append({"index": int(item.get("index", 0)), "boot_id": item["boot_id"],
                          "first": int(item["first_entry"]) / 1e6, "last": int(item["last_entry"]) / 1e6})
        except (KeyError, TypeError, ValueError):
            raise ParseError("journalctl --list-boots entry without valid times: %r" % (item,))
    boots.sort(key=lambda b: b["first"])
    return boots


def pick_boot(boots, crash_time):
    """``(crashed boot, boot before it, how)``: the crashed boot is the last one that started at
    or before ``crash_time`` (epoch); without a crash time, the boot before the current one."""
    if not boots:
        return None, None, "the journal lists no boots"
    if crash_time is None:
        if len(boots) < 2:
            return None, None, "no crash time and the journal holds only the current boot"
        return boots[-2], (boots[-3] if len(boots) > 2 else None), "boot before the current one (no crash time)"
    before = [i for i, b in enumerate(boots) if b["first"] <= crash_time]
    if not before:
        return None, None, "the journal has no boot that started before the crash (journal not persistent, or rotated)"
    i = before[-1]
    if i == len(boots) - 1:
        return None, None, ("the only boot that started before the crash is the current one: the journal of the"
                            " crashed boot is not kept (no persistent journal?)")
    return boots[i], (boots[i - 1] if i > 0 else None), "last boot that started before the crash time"


def dpkg_changes(lines, since):
    """dpkg.log lines (install, upgrade, remove, purge) at or after ``since`` (``YYYY-MM-DD HH:MM:SS``
    local time), as dicts ``time``, ``action``, ``package``, ``old``, ``new``."""
    changes = []
    for line in lines:
        match = _DPKG.match(line.rstrip("\n"))
        if not match or (since is not None and match.group(1) < since):
            continue
        changes.append({"time": match.group(1), "action": match.group(2), "package": match.group(3),
                        "old": match.group(4), "new": match.group(5)})
    changes.sort(key=lambda c: c["time"])
    return changes


def rpm_changes(lines, since):
    """``rpm -qa --qf '%{INSTALLTIME} %{NVRA}\\n'`` lines installed at or after ``since`` (epoch)."""
    changes = []
    for line in lines:
        match = _RPM.match(line.strip())
        if not match:
            continue
        when = int(match.group(1))
        if since is None or when >= since:
            changes.append({"time": when, "action": "install", "package": match.group(2)})
    changes.sort(key=lambda c: (c["time"], c["package"]))
    return changes


def local_time_text(epoch):
    """``YYYY-MM-DD HH:MM:SS`` of ``epoch`` in local time (dpkg.log's format)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def sha256_of(path, chunk=1024 * 1024):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while True:
            data = handle.read(chunk)
            if not data:
                break
            digest.update(data)
    return digest.hexdigest()


def list_files(root):
    """Relative paths of the regular files below ``root``, sorted."""
    found = []
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        for name in files:
            path = os.path.join(directory, name)
            if os.path.isfile(path) and not os.path.islink(path):
                found.append(os.path.relpath(path, root))
    return sorted(found)


def sha256sums(root, paths):
    """``SHA256SUMS`` text (``sha256sum`` format) of ``paths`` relative to ``root``."""
    return "".join("%s  %s\n" % (sha256_of(os.path.join(root, rel)), rel) for rel in sorted(paths))


def parse_sha256sums(text):
    """``{path: sha256}`` of a ``SHA256SUMS`` text."""
    sums = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = re.match(r"^([0-9a-f]{64}) [ *](.+)$", line)
        if not match:
            raise ParseError("SHA256SUMS line %d is not '<sha256>  <path>': %r" % (number, line))
        sums[match.group(2)] = match.group(1)
    return sums


def write_archive(directory, archive, arcname, mtime):
    """Write ``directory`` as ``archive`` (``.tar.gz``), reproducibly: sorted names, owner root,
    modes 0644/0755, every mtime ``mtime``, gzip header without name and time. Atomic."""
    tmp = archive + ".tmp"
    with open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                def add_dir(name):
                    info = tarfile.TarInfo(name)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    info.mtime = int(mtime)
                    tar.addfile(info)
                add_dir(arcname)
                seen_dirs = set([arcname])
                for rel in list_files(directory):
                    parts = rel.split(os.sep)[:-1]
                    for depth in range(1, len(parts) + 1):
                        sub = "/".join([arcname] + parts[:depth])
                        if sub not in seen_dirs:
                            add_dir(sub)
                            seen_dirs.add(sub)
                    path = os.path.join(directory, rel)
                    info = tarfile.TarInfo("%s/%s" % (arcname, rel.replace(os.sep, "/")))
                    info.size = os.path.getsize(path)
                    info.mode = 0o644
                    info.mtime = int(mtime)
                    info.uname = info.gname = "root"
                    with open(path, "rb") as handle:
                        tar.addfile(info, handle)
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(tmp, archive)


def inputs_key(files, options):
    """Stable hash of what a bundle is built from: the crash directory's files (``(path, size,
    mtime)``) and the options that change its content."""
    text = json.dumps({"format": BUNDLE_FORMAT, "files": sorted([list(f) for f in files]), "options": options},
                      sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
