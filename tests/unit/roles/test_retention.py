# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dump server's retention program (roles/dump_server/files/crashkit-dump-retention)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.machinery
import importlib.util
import io
import os

import pytest
from hypothesis import given, settings, strategies as st

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.abspath(os.path.join(HERE, "..", "..", "..", "roles", "dump_server", "files",
                                      "crashkit-dump-retention"))


def _load():
    loader = importlib.machinery.SourceFileLoader("crashkit_dump_retention", SCRIPT)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


ret = _load()
NOW = 1700000000.0
DAY = 86400
HOUR = 3600


def make(root, rel, age, content=b"x"):
    """Create root/rel (a file, or a directory when rel ends with /) aged ``age`` seconds."""
    path = os.path.join(str(root), rel)
    if rel.endswith("/"):
        os.makedirs(path, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(content)
    os.utime(path, (NOW - age, NOW - age))
    return path.rstrip("/")


def age_dirs(root):
    """Give every directory the age of its newest entry (creating files touched them)."""
    for current, dirs, files in os.walk(str(root), topdown=False):
        times = [os.lstat(os.path.join(current, n)).st_mtime for n in dirs + files]
        if times:
            os.utime(current, (max(times), max(times)))


def planned(root, keep=0, max_age_days=0, hours=24):
    removals = ret.plan(ret.scan(str(root)), NOW, keep, max_age_days, hours)
    return [(os.path.relpath(r.path, str(root)), r.kind) for r in removals]


@pytest.fixture
def tree(tmp_path):
    """Three hosts of the three families, dumps of various ages."""
    root = tmp_path / "srv"
    # Debian: four dumps, newest first
    make(root, "web1/10.0.0.5-202401040000/dump.202401040000", 1 * DAY)
    make(root, "web1/10.0.0.5-202401040000/dmesg.202401040000", 1 * DAY)
    make(root, "web1/10.0.0.5-202401030000/dump.202401030000", 10 * DAY)
    make(root, "web1/10.0.0.5-202401020000/dump.202401020000", 40 * DAY)
    make(root, "web1/10.0.0.5-202401010000/vmcore.202401010000", 100 * DAY)
    # Red Hat: one finished dump with a left-over incomplete vmcore, one failed transfer
    make(root, "rhel1/192.168.1.9-2024-01-01-12:00:00/vmcore-dmesg.txt", 5 * DAY)
    make(root, "rhel1/192.168.1.9-2024-01-01-12:00:00/vmcore-incomplete", 5 * DAY)
    make(root, "rhel1/192.168.1.9-2024-01-02-12:00:00/vmcore-incomplete", 2 * DAY)
    make(root, "rhel1/tmp.AbCdEf0123/", 3 * DAY)
    # a transfer in progress right now
    make(root, "rhel1/192.168.1.9-2024-01-03-12:00:00/vmcore-incomplete", 60)
    # SUSE
    make(root, "sles1/sles1-2024-01-01-12-00/README.txt", 20 * DAY)
    make(root, "sles1/sles1-2024-01-01-12-00/vmcore", 20 * DAY)
    # probe left-over and a stray incomplete file at the top of a host directory
    make(root, "sles1/.crashkit-probe-0011223344556677", 2 * DAY)
    make(root, "sles1/dump-incomplete", 2 * HOUR)
    age_dirs(root)
    return root


def test_keep_n_newest_per_host(tree):
    assert planned(tree, keep=2) == [
        ("rhel1/192.168.1.9-2024-01-01-12:00:00/vmcore-incomplete", "unfinished file"),
        ("rhel1/192.168.1.9-2024-01-02-12:00:00", "unfinished dump"),
        ("rhel1/tmp.AbCdEf0123", "unfinished dump"),
        ("sles1/.crashkit-probe-0011223344556677", "unfinished file"),
        ("web1/10.0.0.5-202401010000", "dump"),
        ("web1/10.0.0.5-202401020000", "dump"),
    ]


def test_max_age(tree):
    assert [p for p, kind in planned(tree, max_age_days=30) if kind == "dump"] == [
        "web1/10.0.0.5-202401010000", "web1/10.0.0.5-202401020000"]


def test_both_limits(tree):
    assert [p for p, kind in planned(tree, keep=1, max_age_days=15) if kind == "dump"] == [
        "sles1/sles1-2024-01-01-12-00",
        "web1/10.0.0.5-202401010000", "web1/10.0.0.5-202401020000", "web1/10.0.0.5-202401030000"]


def test_no_limits_only_clean_unfinished(tree):
    assert [kind for _p, kind in planned(tree)] == [
        "unfinished file", "unfinished dump", "unfinished dump", "unfinished file"]


@pytest.mark.parametrize("hours,expected", [
    (1, {"rhel1/192.168.1.9-2024-01-01-12:00:00/vmcore-incomplete",
         "rhel1/192.168.1.9-2024-01-02-12:00:00", "rhel1/tmp.AbCdEf0123",
         "sles1/.crashkit-probe-0011223344556677", "sles1/dump-incomplete"}),
    (24, {"rhel1/192.168.1.9-2024-01-01-12:00:00/vmcore-incomplete",
          "rhel1/192.168.1.9-2024-01-02-12:00:00", "rhel1/tmp.AbCdEf0123",
          "sles1/.crashkit-probe-0011223344556677"}),
    (24 * 4, {"rhel1/192.168.1.9-2024-01-01-12:00:00/vmcore-incomplete"}),
])
def test_incomplete_age(tree, hours, expected):
    assert {p for p, _k in planned(tree, hours=hours)} == expected


def test_a_transfer_in_progress_is_never_touched(tree):
    everything = planned(tree, keep=1, max_age_days=1, hours=1)
    assert not [p for p, _k in everything if "2024-01-03" in p]


def test_unfinished_files_inside_removed_dumps_are_not_listed_twice(tree):
    paths = [p for p, _k in planned(tree, keep=1, max_age_days=1)]
    assert "rhel1/192.168.1.9-2024-01-01-12:00:00" in paths
    assert "rhel1/192.168.1.9-2024-01-01-12:00:00/vmcore-incomplete" not in paths


def test_symlinks_are_neither_followed_nor_removed(tmp_path):
    root = tmp_path / "srv"
    outside = tmp_path / "outside"
    make(outside, "precious/vmcore", 400 * DAY)
    make(root, "web1/old/vmcore", 400 * DAY)
    os.symlink(str(outside / "precious"), str(root / "web1" / "link"))
    os.symlink(str(outside), str(root / "linkhost"))
    age_dirs(root)
    assert planned(root, keep=1, max_age_days=1) == [("web1/old", "dump")]
    assert ret.main(["--root", str(root), "--keep", "1", "--max-age-days", "1"], now=NOW,
                    out=io.StringIO()) == 0
    assert os.path.exists(str(outside / "precious" / "vmcore"))
    assert os.path.islink(str(root / "web1" / "link"))


def listing(root):
    return sorted(os.path.relpath(os.path.join(c, n), str(root))
                  for c, d, f in os.walk(str(root)) for n in d + f)


def test_dry_run_lists_what_the_real_run_removes(tree):
    args = ["--root", str(tree), "--keep", "2", "--max-age-days", "30"]
    expected = ret.plan(ret.scan(str(tree)), NOW, 2, 30, 24)
    before = listing(tree)
    dry = io.StringIO()
    assert ret.main(args + ["--dry-run"], now=NOW, out=dry) == 0
    assert listing(tree) == before
    real = io.StringIO()
    assert ret.main(args, now=NOW, out=real) == 0
    dry_lines = dry.getvalue().splitlines()
    real_lines = real.getvalue().splitlines()
    assert dry_lines[:-1] == ["would remove %s %s (%s)" % (r.kind, r.path, r.reason) for r in expected]
    assert real_lines[:-1] == ["remove %s %s (%s)" % (r.kind, r.path, r.reason) for r in expected]
    assert dry_lines[-1].endswith("dry run, 6 item(s) would be removed")
    assert real_lines[-1].endswith("removed 6 item(s)")
    gone = set(before) - set(listing(tree))
    listed = {os.path.relpath(r.path, str(tree)) for r in expected}
    assert {p for p in gone if not any(p.startswith(q + "/") for q in listed)} == listed
    assert "web1/10.0.0.5-202401040000/dump.202401040000" not in gone
    assert "rhel1/192.168.1.9-2024-01-03-12:00:00/vmcore-incomplete" not in gone


def test_negative_limits_are_refused(tmp_path):
    out = io.StringIO()
    (tmp_path / "srv").mkdir()
    assert ret.main(["--root", str(tmp_path / "srv"), "--keep", "-1"], out=out) == 1
    assert "must not be negative" in out.getvalue()
    assert ret.main(["--root", str(tmp_path / "srv"), "--incomplete-max-age-hours", "0"], out=out) == 1
    assert "at least 1 hour" in out.getvalue()


def test_a_missing_root_is_reported(tmp_path):
    out = io.StringIO()
    assert ret.main(["--root", str(tmp_path / "nope")], out=out) == 1
    assert "No such file or directory" in out.getvalue()


@settings(max_examples=60, deadline=None)
@given(ages=st.lists(st.integers(min_value=0, max_value=200), min_size=1, max_size=8),
       keep=st.integers(min_value=0, max_value=5), max_age=st.integers(min_value=0, max_value=60))
def test_property_keep_and_age(tmp_path_factory, ages, keep, max_age):
    root = tmp_path_factory.mktemp("prop")
    for index, days in enumerate(ages):
        make(root, "h/d%02d/vmcore" % index, days * DAY + index)
    age_dirs(root)
    removals = ret.plan(ret.scan(str(root)), NOW, keep, max_age, 24)
    gone = {os.path.basename(r.path) for r in removals}
    newest_first = sorted(range(len(ages)), key=lambda i: ages[i] * DAY + i)
    for rank, index in enumerate(newest_first):
        should_go = (keep and rank >= keep) or (max_age and ages[index] * DAY + index > max_age * DAY)
        assert (("d%02d" % index) in gone) == bool(should_go)


# --- hardening findings 5 and 6 -------------------------------------------------------------

def test_a_bundle_built_later_does_not_make_a_dump_young(tmp_path):
    """Finding 5: building the evidence bundle moved the dump's "newest" time to today."""
    root = tmp_path / "srv"
    make(root, "web1/10.0.0.5-202401010000/dump.202401010000", 100 * DAY)
    make(root, "web1/10.0.0.5-202401010000/crashkit-bundle/bundle.json", 0)
    make(root, "web1/10.0.0.5-202401010000/crashkit-bundle.tar.gz", 0)
    age_dirs(root)
    assert planned(root, max_age_days=90) == [("web1/10.0.0.5-202401010000", "dump")]


def test_one_entry_that_goes_away_does_not_stop_the_run(tmp_path, monkeypatch):
    """Finding 6: one ENOENT (a client renaming files) aborted the whole run."""
    root = tmp_path / "srv"
    make(root, "web1/a-202401010000/dump.202401010000", 100 * DAY)
    make(root, "web2/b-202401010000/dump.202401010000", 100 * DAY)
    age_dirs(root)
    real_lstat = os.lstat
    gone = os.path.join(str(root), "web1", "a-202401010000", "dump.202401010000")

    def flaky(path, *args, **kwargs):
        if str(path) == gone:
            raise FileNotFoundError(2, "No such file or directory", path)
        return real_lstat(path, *args, **kwargs)
    monkeypatch.setattr(ret.os, "lstat", flaky)
    out = io.StringIO()
    rc = ret.main(["--root", str(root), "--keep", "0", "--max-age-days", "90"], now=NOW, out=out)
    monkeypatch.setattr(ret.os, "lstat", real_lstat)
    assert not os.path.exists(str(root / "web2" / "b-202401010000")), out.getvalue()
    assert rc in (0, 1)


def test_a_removal_that_fails_does_not_stop_the_others(tmp_path, monkeypatch):
    root = tmp_path / "srv"
    first = make(root, "web1/a-202401010000/dump.202401010000", 100 * DAY)
    make(root, "web2/b-202401010000/dump.202401010000", 100 * DAY)
    age_dirs(root)
    real_unlink = os.unlink

    def denied(path, *args, **kwargs):
        if str(path) == first:
            raise PermissionError(13, "Permission denied", path)
        return real_unlink(path, *args, **kwargs)
    monkeypatch.setattr(ret.os, "unlink", denied)
    out = io.StringIO()
    rc = ret.main(["--root", str(root), "--keep", "0", "--max-age-days", "90"], now=NOW, out=out)
    assert rc == 1 and "Permission denied" in out.getvalue()
    assert not os.path.exists(str(root / "web2" / "b-202401010000"))


def test_top_level_files_of_a_host_age_too(tmp_path):
    """Finding 6: files at the top of a host directory were never aged."""
    root = tmp_path / "srv"
    make(root, "web1/dmesg.202401010000", 100 * DAY)
    make(root, "web1/dmesg.202401300000", 1 * DAY)
    assert planned(root, max_age_days=90) == [("web1/dmesg.202401010000", "file")]


def test_a_far_future_time_is_reset_and_then_ages(tmp_path):
    """Finding 6: a file with a far-future mtime (allowed via SFTP) never expired."""
    root = tmp_path / "srv"
    path = make(root, "web1/a-202401010000/dump.202401010000", 0)
    os.utime(path, (NOW + 5000 * DAY, NOW + 5000 * DAY))
    out = io.StringIO()
    assert ret.main(["--root", str(root), "--keep", "0", "--max-age-days", "90"], now=NOW, out=out) == 0
    assert os.stat(path).st_mtime == NOW
    out = io.StringIO()
    ret.main(["--root", str(root), "--keep", "0", "--max-age-days", "90"], now=NOW + 91 * DAY, out=out)
    assert not os.path.exists(path), out.getvalue()


def test_quota_per_host_keeps_the_newest(tmp_path):
    root = tmp_path / "srv"
    for days, name in ((1, "a"), (2, "b"), (3, "c")):
        make(root, "web1/%s-20240101000%d/dump.x" % (name, days), days * DAY, content=b"x" * (600 * 1024))
    make(root, "web2/z-202401010000/dump.x", 50 * DAY, content=b"x" * (3 * 1024 * 1024))
    age_dirs(root)
    removals = ret.plan(ret.scan(str(root)), NOW, 0, 0, 24, quota_mib=1)
    assert sorted(os.path.relpath(r.path, str(root)) for r in removals) == [
        "web1/b-202401010002", "web1/c-202401010003"]
