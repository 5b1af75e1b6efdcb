# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run vmcore_check's main() against crash directories in a temporary directory."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import os
import stat

import pytest

from ansible_collections.crashkit.kdump.plugins.modules import vmcore_check as module
from ansible_collections.crashkit.kdump.tests.unit.plugins import module_run
from ansible_collections.crashkit.kdump.tests.unit.fixtures.vmcore import builders

MARK = "crashkit panic test 20240518T120000Z-abc123"
OLD, NEW = "202405181200", "202405181300"


run_module = functools.partial(module_run.run_module, module)


def debian_dump(root, stamp, data, dmesg=b"", mtime=None):
    directory = root / stamp
    directory.mkdir(parents=True)
    path = directory / ("dump." + stamp)
    path.write_bytes(data)
    if dmesg is not None:
        (directory / ("dmesg." + stamp)).write_bytes(dmesg)
    if mtime is not None:
        os.utime(str(path), (mtime, mtime))
    return str(path)


@pytest.fixture
def crash(tmp_path):
    """/var/crash of a Debian host: one old dump and the new one of the test."""
    root = tmp_path / "crash"
    flat = builders.flatten(builders.kdump_compressed())
    old = debian_dump(root, OLD, flat, b"[ 1.0] old crash\n", mtime=1000)
    new = debian_dump(root, NEW, flat, ("[ 9.1] %s\n[ 9.2] sysrq: Trigger a crash\n" % MARK).encode(), mtime=5000)
    return root, old, new


def test_lists_every_dump(capsys, crash):
    root, old, new = crash
    result = run_module(capsys, {"path": str(root)})
    assert result["rc"] == 0
    assert result["changed"] is False
    assert result["exists"] is True
    assert [d["path"] for d in result["dumps"]] == [old, new]
    assert result["new_complete"]["path"] == new
    assert result["incomplete"] == []
    assert result["dumps"][1]["kernel_release"] == "6.1.0-18-amd64"
    assert result["dumps"][1]["format"] == "flattened"
    assert result["dumps"][1]["dmesg_match"] is None


def test_new_dump_of_this_test(capsys, crash):
    root, old, new = crash
    result = run_module(capsys, {"path": str(root), "since": 4000, "exclude": [old],
                                 "dmesg_contains": MARK, "require": True})
    assert result["rc"] == 0
    assert [d["path"] for d in result["dumps"]] == [new]
    assert result["new_complete"]["path"] == new
    assert result["new_complete"]["dmesg_match"] is True
    assert result["new_complete"]["dmesg_source"] == "file"


def test_check_mode_is_the_same_read(capsys, crash):
    root, old, new = crash
    result = run_module(capsys, {"path": str(root), "exclude": [old], "_ansible_check_mode": True})
    assert result["new_complete"]["path"] == new


def test_require_fails_with_the_reasons(capsys, crash):
    root, old, new = crash
    os.truncate(new, 6000)
    result = run_module(capsys, {"path": str(root), "exclude": [old], "since": 4000, "require": True})
    assert result["rc"] == 1
    assert result["failed"] is True
    assert result["msg"].startswith("no new complete crash dump in %s (modified since 4000, not among the 1 known before): %s: "
                                    % (root, new))
    assert "the data block at" in result["msg"]
    assert [d["path"] for d in result["incomplete"]] == [new]


def test_dump_of_another_test_does_not_count(capsys, crash):
    root, old, new = crash
    result = run_module(capsys, {"path": str(root), "exclude": [old], "dmesg_contains": "crashkit panic test other",
                                 "require": True})
    assert result["rc"] == 1
    assert "complete, but %s does not contain it" % os.path.join(os.path.dirname(new), "dmesg." + NEW) in result["msg"]
    assert result["dumps"][0]["dmesg_match"] is False


def test_nothing_new(capsys, crash):
    root, old, new = crash
    result = run_module(capsys, {"path": str(root), "exclude": [old, new], "require": True})
    assert result["rc"] == 1
    assert result["msg"].endswith(": nothing found")
    assert run_module(capsys, {"path": str(root), "exclude": [old, new]})["rc"] == 0


def test_missing_directory(capsys, tmp_path):
    result = run_module(capsys, {"path": str(tmp_path / "none")})
    assert (result["rc"], result["exists"], result["dumps"], result["new_complete"]) == (0, False, [], None)
    result = run_module(capsys, {"path": str(tmp_path / "none"), "require": True})
    assert result["rc"] == 1
    assert result["msg"] == "no complete crash dump in %s: %s does not exist" % (tmp_path / "none", tmp_path / "none")


def test_newest_qualifying_dump_wins(capsys, tmp_path):
    root = tmp_path / "crash"
    flat = builders.flatten(builders.kdump_compressed())
    first = debian_dump(root, OLD, flat, MARK.encode(), mtime=5000)
    debian_dump(root, NEW, flat[:-16], MARK.encode(), mtime=6000)  # newer but cut off
    result = run_module(capsys, {"path": str(root), "dmesg_contains": MARK})
    assert result["new_complete"]["path"] == first
    assert len(result["incomplete"]) == 1


def fake_makedumpfile(tmp_path, text, rc=0):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "makedumpfile"
    script.write_text('#!/bin/sh\n[ "$1" = --dump-dmesg ] || exit 2\nprintf "%%s\\n" "%s" > "$3"\nexit %d\n' % (text, rc))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(bindir)


@pytest.mark.parametrize("text, rc, match, source", [
    (MARK, 0, True, "makedumpfile"),
    ("something else", 0, False, "makedumpfile"),
    (MARK, 1, None, None),
])
def test_dmesg_extracted_by_makedumpfile(capsys, tmp_path, monkeypatch, text, rc, match, source):
    directory = tmp_path / "crash" / "127.0.0.1-2024-05-18-12:00:01"
    directory.mkdir(parents=True)
    (directory / "vmcore").write_bytes(builders.kdump_compressed())
    monkeypatch.setenv("PATH", fake_makedumpfile(tmp_path, text, rc) + os.pathsep + os.environ["PATH"])
    result = run_module(capsys, {"path": str(tmp_path / "crash"), "dmesg_contains": MARK})
    [dump] = result["dumps"]
    assert (dump["dmesg_match"], dump["dmesg_source"]) == (match, source)
    assert (result["new_complete"] is not None) == bool(match)


def test_dmesg_not_extracted_when_disabled_or_flattened(capsys, tmp_path, monkeypatch):
    root = tmp_path / "crash"
    (root / "a").mkdir(parents=True)
    (root / "a" / "vmcore").write_bytes(builders.kdump_compressed())
    (root / "b").mkdir()
    (root / "b" / "vmcore").write_bytes(builders.flatten(builders.kdump_compressed()))
    monkeypatch.setenv("PATH", fake_makedumpfile(tmp_path, MARK) + os.pathsep + os.environ["PATH"])
    result = run_module(capsys, {"path": str(root), "dmesg_contains": MARK, "dmesg_from_dump": False, "require": True})
    assert [d["dmesg_match"] for d in result["dumps"]] == [None, None]
    assert result["msg"].count("no kernel log was saved with it to search") == 2
    result = run_module(capsys, {"path": str(root), "dmesg_contains": MARK})
    assert {os.path.basename(d["dir"]): d["dmesg_match"] for d in result["dumps"]} == {"a": True, "b": None}


def test_one_file(capsys, tmp_path):
    path = tmp_path / "copy.vmcore"
    path.write_bytes(builders.elf_core())
    result = run_module(capsys, {"path": str(path), "require": True})
    assert result["rc"] == 0
    assert result["new_complete"]["format"] == "elf"


def test_negative_depth(capsys, tmp_path):
    result = run_module(capsys, {"path": str(tmp_path), "depth": -1})
    assert (result["rc"], result["msg"]) == (1, "depth must not be negative")


@pytest.mark.parametrize("when, saved_by", [(4900, "kdump-tools"), (5001, None)], ids=["this capture boot", "a later one"])
def test_the_lean_captures_fallback_note_of_this_host(capsys, crash, when, saved_by):
    root, old, new = crash
    note = root.parent / "capture-fallback"
    note.write_text("saved_by=kdump-tools\nfallback=not a local target\ntime=%d\n" % when)
    result = run_module(capsys, {"path": str(root), "capture_note": str(note)})
    assert result["rc"] == 0
    # the old dump (written long before the note) never takes it
    assert result["dumps"][0]["capture"]["saved_by"] is None
    assert result["new_complete"]["capture"]["saved_by"] == saved_by
    assert result["new_complete"]["capture"]["lean_fallback"] == ("not a local target" if saved_by else None)
    # read, never copied: the note stays where it is, the crash directory gets nothing
    assert note.exists() and sorted(os.listdir(str(root / NEW))) == ["dmesg." + NEW, "dump." + NEW]
    without = run_module(capsys, {"path": str(root)})
    assert without["new_complete"]["capture"] == {"saved_by": None, "lean_fallback": None, "capture_uptime": None}


def test_the_note_beside_the_dump_wins(capsys, crash):
    root, old, new = crash
    (root / NEW / "crashkit-capture.txt").write_text("saved_by=crashkit-initramfs\ncapture_uptime=19.47\n")
    note = root.parent / "capture-fallback"
    note.write_text("saved_by=kdump-tools\nfallback=not a local target\ntime=4900\n")
    result = run_module(capsys, {"path": str(root), "capture_note": str(note)})
    assert result["new_complete"]["capture"] == {"saved_by": "crashkit-initramfs", "lean_fallback": None,
                                                 "capture_uptime": 19.47}
