# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_capture: the lean capture's notes (which capture saved a crash, and why the lean one gave up),
read as hostile data, and the evidence bundle's ``capture`` record built from them. The notes'
writer is roles/setup/files/initramfs-capture (tests/unit/roles/test_initramfs_capture.py runs it);
the VM proof is in docs/support-matrix.md."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import os
import shutil

import pytest

from ansible_collections.crashkit.kdump.plugins.module_utils import _bundle, _capture, _vmcore

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", ".."))
FIXTURES = os.path.join(REPO, "tests", "unit", "fixtures")
STAMP = "202612050212"
DUMP_MTIME = 1796000000


@pytest.mark.parametrize("text, expected", [
    ("saved_by=crashkit-initramfs\ncapture_uptime=23.45\n", {"saved_by": "crashkit-initramfs", "capture_uptime": 23.45}),
    ("saved_by=kdump-tools\nfallback=not a local target\ntime=1796000000\n",
     {"saved_by": "kdump-tools", "fallback": "not a local target", "time": 1796000000}),
    # a reason holding '=' keeps it; unknown keys and comments are left out
    ("# note\nsaved_by=kdump-tools\nfallback=KDUMP_COMPRESSION=gzip pipes\nshell=$(reboot)\n",
     {"saved_by": "kdump-tools", "fallback": "KDUMP_COMPRESSION=gzip pipes"}),
    # the first of a repeated key counts
    ("saved_by=kdump-tools\nsaved_by=crashkit-initramfs\n", {"saved_by": "kdump-tools"}),
    # the lean capture saved it: a fallback reason beside that is not believed
    ("saved_by=crashkit-initramfs\nfallback=x\n", {"saved_by": "crashkit-initramfs"}),
    # bad values are dropped, not trusted: terminal escapes, a huge number, a negative time
    ("saved_by=kdump-tools\nfallback=\x1b]0;owned\x07\ntime=-5\ncapture_uptime=1e99\n", {"saved_by": "kdump-tools"}),
    ("saved_by=kdump-tools\nfallback=%s\n" % ("x" * 401), {"saved_by": "kdump-tools"}),
    ("saved_by=kdump-tools\r\n", None),
    ("saved_by=systemd\n", None),
    ("saved_by = kdump-tools\n", None),
    ("", None),
    (None, None),
    # only the first NOTE_LIMIT characters are read
    ("\n" * _capture.NOTE_LIMIT + "saved_by=kdump-tools\n", None),
])
def test_parse_note(text, expected):
    assert _capture.parse_note(text) == expected


@pytest.mark.parametrize("note", [
    {"saved_by": "crashkit-initramfs", "capture_uptime": 23.45},
    {"saved_by": "kdump-tools", "fallback": "makedumpfile failed", "time": 1796000000},
])
def test_format_note_reads_back(note):
    assert _capture.parse_note(_capture.format_note(note)) == note


@pytest.mark.parametrize("mtimes, applies", [
    ([DUMP_MTIME], True),
    ([DUMP_MTIME - 1], False),
    ([DUMP_MTIME + _capture.FALLBACK_WINDOW], True),
    ([DUMP_MTIME + _capture.FALLBACK_WINDOW + 1], False),
    ([DUMP_MTIME - 100, DUMP_MTIME + 60], True),
    ([], False),
])
def test_fallback_applies_to_the_dump_of_that_capture_boot(mtimes, applies):
    note = {"saved_by": "kdump-tools", "fallback": "x", "time": DUMP_MTIME}
    assert _capture.fallback_applies(note, mtimes) is applies
    assert _capture.fallback_applies(None, mtimes) is False


def make_crash(root, mtime=DUMP_MTIME):
    crash = root / "crash" / STAMP
    crash.mkdir(parents=True)
    with gzip.open(os.path.join(FIXTURES, "vmcore", "makedumpfile-1.7.2-F-c-d1.flat.gz")) as src:
        (crash / ("dump." + STAMP)).write_bytes(src.read())
    shutil.copy(os.path.join(FIXTURES, "triage", "sysrq_debian12.log"), str(crash / ("dmesg." + STAMP)))
    os.utime(str(crash / ("dump." + STAMP)), (mtime, mtime))
    return crash


def bundle(crash, note_path, host_facts=True, check_mode=False):
    # host_facts without the host's own journal and packages: only the capture note is a host fact here
    options = {"deep_triage": False, "archive": False, "host_facts": host_facts, "capture_note": str(note_path),
               "kdump_config_files": [], "journal_max_mib": 1}
    return _bundle.make_bundle(str(crash), options, check_mode=check_mode, now=DUMP_MTIME + 600)


def write_fallback(path, reason, when):
    path.write_text("saved_by=kdump-tools\nfallback=%s\ntime=%d\n" % (reason, when))


ATTEMPT_NOTE = {"saved_by": "kdump-tools", "lean_fallback": "makedumpfile failed"}


@pytest.mark.parametrize("capture, dumps, attempt", [
    (ATTEMPT_NOTE, [{"name": "dump-incomplete", "complete": False}], True),
    (ATTEMPT_NOTE, [], True),                                       # gave up before the dump
    (ATTEMPT_NOTE, [{"name": "dump.1", "complete": None}], True),   # unreadable: not known complete
    # kdump-tools' own directory with the note the evidence service copied beside its dump
    (ATTEMPT_NOTE, [{"name": "dump.1", "complete": True}], False),
    ({"saved_by": "kdump-tools", "lean_fallback": None}, [], False),
    ({"saved_by": "crashkit-initramfs", "lean_fallback": "x"}, [], False),
    ({"saved_by": None, "lean_fallback": None}, [], False),
    (None, [], False),
    ("saved_by=kdump-tools", [], False),
    (ATTEMPT_NOTE, ["dump.1", None], True),                          # odd records are no complete dump
])
def test_is_lean_attempt(capture, dumps, attempt):
    assert _capture.is_lean_attempt(capture, dumps) is attempt


@pytest.mark.parametrize("signature, uptime, release, key", [
    ("e894", 123.456901, "6.1.0-56-amd64", ["e894", "123.456901", "6.1.0-56-amd64"]),
    ("e894", 5, None, ["e894", "5.000000", None]),
    ("e894", 5, 7, ["e894", "5.000000", None]),
    ("e894", None, "6.1", None),
    ("e894", True, "6.1", None),
    ("e894", "5.0", "6.1", None),
    ("", 5.0, "6.1", None),
    (None, 5.0, "6.1", None),
])
def test_panic_key(signature, uptime, release, key):
    assert _capture.panic_key(signature, uptime, release) == key


P1, P2 = ["sig", "1.000000", "6.1"], ["sig", "2.000000", "6.1"]


@pytest.mark.parametrize("items, pairs", [
    ([("h/a", "h", P1, True), ("h/b", "h", P1, False)], {"h/a": "h/b"}),
    ([("h/b", "h", P1, False), ("h/a", "h", P1, True)], {"h/a": "h/b"}),          # any order
    ([("h/a", "h", P1, True)], {}),                                                # no dump came
    ([("h/a", "h", P1, True), ("h/b", "h", P2, False)], {}),                       # another panic
    ([("h/a", "h", P1, True), ("g/b", "g", P1, False)], {}),                       # another host
    ([("h/a", "h", None, True), ("h/b", "h", None, False)], {}),                   # unknown uptime
    ([("h/a", "h", P1, True), ("h/c", "h", P1, False), ("h/b", "h", P1, False)], {"h/a": "h/b"}),
    ([("h/a", "h", P1, True), ("h/b", "h", P1, True)], {}),                        # two attempts
])
def test_pair_attempts(items, pairs):
    assert _capture.pair_attempts(items) == pairs


def test_the_lean_capture_saved_it(tmp_path):
    crash = make_crash(tmp_path)
    (crash / _capture.NOTE_NAME).write_text("saved_by=crashkit-initramfs\ncapture_uptime=21.7\n")
    note = tmp_path / "capture-fallback"
    # an older crash's fallback note, in the window: the directory's own note wins
    write_fallback(note, "not a local target", DUMP_MTIME - 60)
    summary = bundle(crash, note)["summary"]
    assert summary["capture"] == {"saved_by": "crashkit-initramfs", "lean_fallback": None, "capture_uptime": 21.7}
    (record,) = _vmcore.describe_dir(str(crash), os.listdir(str(crash)))
    assert record["capture"]["saved_by"] == "crashkit-initramfs"


def test_the_fallback_note_is_claimed_by_the_crash_of_that_capture_boot(tmp_path):
    crash = make_crash(tmp_path)
    note = tmp_path / "capture-fallback"
    write_fallback(note, "/var/crash is on /var, which the real boot mounts", DUMP_MTIME - 90)
    # check mode: the bundle would change, nothing is written
    assert bundle(crash, note, check_mode=True)["changed"] is True
    assert _capture.NOTE_NAME not in os.listdir(str(crash))
    first = bundle(crash, note)
    assert first["changed"] is True
    assert first["summary"]["capture"] == {"saved_by": "kdump-tools", "capture_uptime": None,
                                           "lean_fallback": "/var/crash is on /var, which the real boot mounts"}
    assert (crash / _capture.NOTE_NAME).read_text() == note.read_text()
    assert bundle(crash, note)["changed"] is False
    # a later capture boot's note does not touch this crash's: it kept its own copy
    write_fallback(note, "not a local target", DUMP_MTIME + 86400)
    again = bundle(crash, note)
    assert again["changed"] is False
    assert again["summary"]["capture"]["lean_fallback"] == "/var/crash is on /var, which the real boot mounts"
    (record,) = _vmcore.describe_dir(str(crash), os.listdir(str(crash)))
    assert record["capture"]["lean_fallback"] == "/var/crash is on /var, which the real boot mounts"


@pytest.mark.parametrize("when", [DUMP_MTIME + 1, DUMP_MTIME - _capture.FALLBACK_WINDOW - 1], ids=["later", "long before"])
def test_a_note_of_another_capture_boot_is_not_claimed(tmp_path, when):
    crash = make_crash(tmp_path)
    note = tmp_path / "capture-fallback"
    write_fallback(note, "not a local target", when)
    summary = bundle(crash, note)["summary"]
    assert summary["capture"] == {"saved_by": None, "lean_fallback": None, "capture_uptime": None}
    assert _capture.NOTE_NAME not in os.listdir(str(crash))


def test_a_dump_server_never_applies_its_own_note_to_a_clients_crash(tmp_path):
    crash = make_crash(tmp_path)
    note = tmp_path / "capture-fallback"
    write_fallback(note, "not a local target", DUMP_MTIME - 5)
    summary = bundle(crash, note, host_facts=False)["summary"]
    assert summary["capture"]["saved_by"] is None
    assert _capture.NOTE_NAME not in os.listdir(str(crash))


def test_a_note_that_is_a_link_is_neither_read_nor_replaced(tmp_path):
    crash = make_crash(tmp_path)
    secret = tmp_path / "secret"
    secret.write_text("saved_by=crashkit-initramfs\n")
    os.symlink(str(secret), str(crash / _capture.NOTE_NAME))
    note = tmp_path / "capture-fallback"
    write_fallback(note, "not a local target", DUMP_MTIME - 5)
    summary = bundle(crash, note)["summary"]
    assert summary["capture"]["saved_by"] is None
    assert os.path.islink(str(crash / _capture.NOTE_NAME))
    assert secret.read_text() == "saved_by=crashkit-initramfs\n"


def test_a_fallback_note_that_is_a_link_is_not_read(tmp_path):
    crash = make_crash(tmp_path)
    real = tmp_path / "real"
    write_fallback(real, "not a local target", DUMP_MTIME - 5)
    note = tmp_path / "capture-fallback"
    os.symlink(str(real), str(note))
    assert bundle(crash, note)["summary"]["capture"]["saved_by"] is None


def test_the_role_and_the_pipeline_name_the_same_note():
    with open(os.path.join(REPO, "roles", "setup", "vars", "Debian.yml")) as handle:
        text = handle.read()
    assert "__kdump_capture_note_path: %s\n" % _capture.FALLBACK_NOTE in text
    with open(os.path.join(REPO, "roles", "setup", "files", "initramfs-capture-note.conf")) as handle:
        dropin = handle.read()
    assert "/run/crashkit-capture/fallback %s\n" % _capture.FALLBACK_NOTE in dropin
    assert "ExecStartPre=-/bin/rm -f %s\n" % _capture.FALLBACK_NOTE in dropin
    with open(os.path.join(REPO, "roles", "setup", "files", "initramfs-capture")) as handle:
        script = handle.read()
    assert _capture.NOTE_NAME in script and "/run/crashkit-capture" in script
    with open(os.path.join(REPO, "roles", "panic_test", "tasks", "crash.yml")) as handle:
        assert "'%s'" % _capture.FALLBACK_NOTE in handle.read()


def test_fill_from_fallback_gives_the_note_to_the_dumps_of_its_capture_boot_only(tmp_path):
    """vmcore_check's read-only form of the claim: a dump without a note of its own, saved in the
    capture boot the fallback note tells of, gets that note; a dump with its own note and a dump
    of another boot keep theirs."""
    note = tmp_path / "capture-fallback"
    write_fallback(note, "makedumpfile failed", DUMP_MTIME - 90)
    own = {"saved_by": "crashkit-initramfs", "lean_fallback": None, "capture_uptime": 19.5}
    dumps = [{"mtime": DUMP_MTIME, "capture": _capture.capture_of(None)},
             {"mtime": DUMP_MTIME, "capture": dict(own)},
             {"mtime": DUMP_MTIME - 86400, "capture": _capture.capture_of(None)}]
    assert _capture.fill_from_fallback(dumps, str(note)) is dumps
    assert [d["capture"] for d in dumps] == [
        {"saved_by": "kdump-tools", "lean_fallback": "makedumpfile failed", "capture_uptime": None},
        own, _capture.capture_of(None)]
    assert _capture.fill_from_fallback([{"mtime": DUMP_MTIME, "capture": _capture.capture_of(None)}],
                                       str(tmp_path / "none"))[0]["capture"] == _capture.capture_of(None)
