# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""Which capture saved a crash (``kdump_capture_mode``), read as hostile data.

The lean capture (the setup role's ``initramfs-capture``) leaves a note of a few ``key=value``
lines:

- when it saved the dump itself, ``crashkit-capture.txt`` next to the dump
  (``saved_by=crashkit-initramfs``, ``capture_uptime=<seconds of the capture kernel>``);
- when it left the dump to kdump-tools, ``/run/crashkit-capture/fallback``
  (``saved_by=kdump-tools``, ``fallback=<why>``, ``time=<epoch>``), which the capture boot's
  drop-in copies to ``FALLBACK_NOTE`` before kdump-tools saves (and removes there in a capture
  boot without one, so that the note always tells of the last capture boot).

``claim_fallback`` copies a fallback note into the crash directory saved in that capture boot (a
dump written at or after the note's time, within ``FALLBACK_WINDOW``), so that the crash keeps
its note after later crashes. ``capture_of`` says what a crash directory's note tells, for the
evidence bundle and the dump records.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import re

from ansible_collections.crashkit.kdump.plugins.module_utils import _safefs

NOTE_NAME = "crashkit-capture.txt"
FALLBACK_NOTE = "/var/lib/crashkit/capture-fallback"
NOTE_LIMIT = 4096
# a dump written this long after the lean capture gave up is not the one of that capture boot
FALLBACK_WINDOW = 6 * 3600
SAVED_BY = ("crashkit-initramfs", "kdump-tools")
_VALUES = {
    "saved_by": re.compile(r"\A(?:%s)\Z" % "|".join(re.escape(name) for name in SAVED_BY)),
    "capture_uptime": re.compile(r"\A[0-9]{1,9}(?:\.[0-9]{1,3})?\Z"),
    "time": re.compile(r"\A[0-9]{1,12}\Z"),
    # the reason: printable text of one line (the shell script's own words and the host's paths)
    "fallback": re.compile(r"\A[\x20-\x7e]{1,400}\Z"),
}


def valid_reason(text):
    """True when ``text`` is a fallback reason a note may carry (one line of printable ASCII, at
    most 400 characters): the check ``parse_note`` applies, for a reason that came another way."""
    return isinstance(text, str) and _VALUES["fallback"].match(text) is not None


def parse_note(text):
    """The known, valid ``key=value`` lines of a note as a dict (``time`` an int,
    ``capture_uptime`` a float); ``None`` when it names no valid ``saved_by``. Unknown keys and
    bad values are left out, never trusted."""
    if text is None:
        return None
    note = {}
    for line in text[:NOTE_LIMIT].split("\n"):
        key, sep, value = line.partition("=")
        pattern = _VALUES.get(key)
        if not sep or pattern is None or key in note or not pattern.match(value):
            continue
        note[key] = value
    if "saved_by" not in note:
        return None
    if "time" in note:
        note["time"] = int(note["time"])
    if "capture_uptime" in note:
        note["capture_uptime"] = float(note["capture_uptime"])
    if note["saved_by"] == "crashkit-initramfs":
        note.pop("fallback", None)
    return note


def format_note(note):
    """The text of a (parsed, valid) note, one ``key=value`` line per key in a fixed order."""
    return "".join("%s=%s\n" % (key, note[key]) for key in ("saved_by", "fallback", "time", "capture_uptime")
                   if note.get(key) is not None)


def note_in_dir(dir_fd, names):
    """The parsed note of the crash directory open as ``dir_fd`` (entries ``names``), or
    ``None``. The note is opened without following a link; only a regular file is read."""
    if NOTE_NAME not in names:
        return None
    return parse_note(_safefs.read_small(NOTE_NAME, dir_fd=dir_fd, limit=NOTE_LIMIT))


def read_fallback(path=FALLBACK_NOTE):
    """The parsed fallback note of the last capture boot (``None`` without one): a note of
    kdump-tools' saving with its time."""
    note = parse_note(_safefs.read_small(path, limit=NOTE_LIMIT))
    if note is None or note["saved_by"] != "kdump-tools" or "time" not in note:
        return None
    return note


def fallback_applies(note, dump_mtimes):
    """True when a dump written at one of ``dump_mtimes`` was saved in the capture boot whose
    fallback ``note`` this is."""
    return note is not None and any(note["time"] <= m <= note["time"] + FALLBACK_WINDOW for m in dump_mtimes)


def claim_fallback(dir_fd, names, dump_mtimes, path=FALLBACK_NOTE, check_mode=False):
    """Copy the fallback note at ``path`` into the crash directory ``dir_fd`` when it tells of
    this crash's capture boot and the directory has no note yet. Returns the parsed note or
    ``None``; in check mode nothing is written."""
    if NOTE_NAME in names:
        return None
    note = read_fallback(path)
    if not fallback_applies(note, dump_mtimes):
        return None
    if not check_mode:
        try:
            _safefs.write_file_at(dir_fd, NOTE_NAME, format_note(note), 0o644)
        except OSError as exc:
            if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise
    return note


def fill_from_fallback(dumps, path=FALLBACK_NOTE):
    """Give each dump record (``_vmcore``'s, with ``mtime`` and ``capture``) that has no note of
    its own the fallback note at ``path`` when it tells of that dump's capture boot: the rule
    ``claim_fallback`` applies to a crash directory, read only. Returns ``dumps``."""
    note = read_fallback(path)
    for dump in dumps:
        if dump["capture"]["saved_by"] is None and fallback_applies(note, [dump["mtime"]]):
            dump["capture"] = capture_of(note)
    return dumps


def capture_of(note):
    """The bundle's ``capture`` record of a crash directory's parsed note (``None``: no note,
    the capture mode was not the lean one or its note is lost)."""
    if note is None:
        return {"saved_by": None, "lean_fallback": None, "capture_uptime": None}
    return {"saved_by": note["saved_by"], "lean_fallback": note.get("fallback"),
            "capture_uptime": note.get("capture_uptime")}


def is_lean_attempt(capture, dumps):
    """Whether a crash directory is a lean capture's given-up attempt on a dump server: its note
    says kdump-tools saves this panic (``saved_by=kdump-tools`` with a ``fallback=`` reason: the
    lean capture sent it before it gave up, ``initramfs-capture``'s ``give_up``) and no dump in
    it is complete. kdump-tools then saves the same panic into a directory of its own. A
    directory with a complete dump (kdump-tools' own, with the note the evidence service copied
    beside it) is not an attempt. ``capture``: ``capture_of``'s record; ``dumps``: the bundle's
    dump records (``complete`` True only for a dump read whole)."""
    if not isinstance(capture, dict) or capture.get("saved_by") != "kdump-tools" or not capture.get("lean_fallback"):
        return False
    return not any(isinstance(dump, dict) and dump.get("complete") is True for dump in dumps or ())


def panic_key(signature, uptime, release):
    """What two crash directories of one client share when they hold one panic (the lean
    capture's attempt and kdump-tools' dump): the triage signature, the uptime of the crash line
    (the same kernel log, read from the same memory, to the microsecond) and the kernel release.
    ``None`` when the signature or the uptime is unknown: such directories are never paired."""
    if not isinstance(signature, str) or not signature or isinstance(uptime, bool) \
            or not isinstance(uptime, (int, float)):
        return None
    return [signature, "%.6f" % uptime, release if isinstance(release, str) else None]


def pair_attempts(items):
    """``{attempt key: key}`` for the lean capture's given-up attempts that hold the same panic as
    another crash directory of their client. ``items``: ``(key, host, panic_key, attempt)``
    tuples. An attempt is paired with the first (by key) directory of the same host and panic
    key that is not an attempt; an attempt without one stays a crash of its own (the only
    evidence of that panic when kdump-tools' dump never came). Pure."""
    saved = {}
    for key, host, panic, attempt in sorted(items, key=lambda item: item[0]):
        if panic is not None and not attempt:
            saved.setdefault((host, tuple(panic)), key)
    pairs = {}
    for key, host, panic, attempt in items:
        if attempt and panic is not None and (host, tuple(panic)) in saved:
            pairs[key] = saved[(host, tuple(panic))]
    return pairs
