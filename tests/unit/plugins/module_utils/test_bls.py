# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.crashkit.kdump.plugins.module_utils import _bls
from ansible_collections.crashkit.kdump.plugins.module_utils import _cmdline
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import HostError, KdumpError, ParseError

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "bootloader")
RHEL9_OPTS = ("root=/dev/mapper/rhel-root ro crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M "
              "resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap rhgb quiet")


def copy(tmp_path, name):
    target = tmp_path / name
    shutil.copytree(os.path.join(FIXTURES, name), str(target))
    return str(target)


def apply(plan):
    for path, text in plan.changes.items():
        with open(path, "w") as handle:
            handle.write(text)


def test_entry_parsing():
    entry = _bls.load_entries(os.path.join(FIXTURES, "rhel9", "entries"))[-1]
    assert entry.fields["version"] == "5.14.0-362.8.1.el9_3.x86_64"
    assert entry.options_line == RHEL9_OPTS + " $tuned_params"
    assert not entry.uses_kernelopts


def test_rhel8_entries_expand_kernelopts():
    entries = _bls.load_entries(os.path.join(FIXTURES, "rhel8", "entries"))
    grubenv = _bls.load_grubenv(os.path.join(FIXTURES, "rhel8", "grubenv"))
    assert grubenv.size == 1024
    assert all(e.uses_kernelopts for e in entries)
    assert entries[-1].effective(grubenv.get("kernelopts")) == (
        "root=/dev/mapper/rhel-root ro crashkernel=auto resume=/dev/mapper/rhel-swap "
        "rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap rhgb quiet $tuned_params")


@pytest.mark.parametrize("fixture, name, value, state, changed, expected_arg", [
    ("rhel9", "crashkernel", "256M", "present", 3, "crashkernel=256M"),
    ("rhel9", "crashkernel", "1G-4G:192M,4G-64G:256M,64G-:512M", "present", 0, "crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M"),
    ("rhel9", "crashkernel", None, "absent", 3, None),
    ("rhel9", "nmi_watchdog", "1", "present", 3, "nmi_watchdog=1"),
    ("fedora39", "crashkernel", "512M", "present", 1, "crashkernel=512M"),
    ("fedora39", "quiet", None, "absent", 1, None),
    # RHEL 8: only grubenv changes, the entries say $kernelopts
    ("rhel8", "crashkernel", "256M", "present", 1, "crashkernel=256M"),
    ("rhel8", "crashkernel", None, "absent", 1, None),
    ("rhel8", "crashkernel", "auto", "present", 0, "crashkernel=auto"),
    # RHEL 10: literal options, kdump-utils' 2G-64G:256M,64G-:512M default, a rescue entry
    ("rhel10", "crashkernel", "2G-64G:256M,64G-:512M", "present", 0, "crashkernel=2G-64G:256M,64G-:512M"),
    ("rhel10", "crashkernel", "1G-4G:192M,4G-:320M", "present", 2, "crashkernel=1G-4G:192M,4G-:320M"),
    ("rhel10", "crashkernel", None, "absent", 2, None),
])
def test_plan_fixture(tmp_path, fixture, name, value, state, changed, expected_arg):
    root = copy(tmp_path, fixture)
    entries = _bls.load_entries(os.path.join(root, "entries"))
    grubenv = _bls.load_grubenv(os.path.join(root, "grubenv"))
    plan = _bls.plan(entries, grubenv, name, value, state)
    assert len(plan.changes) == changed
    apply(plan)
    entries = _bls.load_entries(os.path.join(root, "entries"))
    grubenv = _bls.load_grubenv(os.path.join(root, "grubenv"))
    assert _bls.satisfied(entries, grubenv, name, value, state)
    kernelopts = grubenv.get("kernelopts") if grubenv else None
    for entry in entries:
        args = _cmdline.split(entry.effective(kernelopts))
        found = [a for a in args if _cmdline.matches(a, name)]
        assert found == ([expected_arg] if expected_arg else [])
    assert not _bls.plan(entries, grubenv, name, value, state).changed
    if grubenv is not None:
        with open(grubenv.path, "rb") as handle:
            assert len(handle.read()) == 1024


def test_rhel9_edit_keeps_order_and_tuned_params(tmp_path):
    root = copy(tmp_path, "rhel9")
    entries = _bls.load_entries(os.path.join(root, "entries"))
    plan = _bls.plan(entries, None, "nmi_watchdog", "1")
    apply(plan)
    entry = _bls.load_entries(os.path.join(root, "entries"))[-1]
    assert entry.options_line == RHEL9_OPTS + " nmi_watchdog=1 $tuned_params"
    # every other line is unchanged
    before = [l for l in entries[-1].text.splitlines() if not l.startswith("options")]
    assert [l for l in entry.text.splitlines() if not l.startswith("options")] == before


def test_entry_with_kernelopts_and_literal_occurrence(tmp_path):
    entries_dir = tmp_path / "entries"
    entries_dir.mkdir()
    (entries_dir / "a.conf").write_text("title a\nlinux /vmlinuz\noptions $kernelopts crashkernel=1G\n")
    env_text = _bls.GRUBENV_HEADER + "kernelopts=root=/dev/sda1 ro\n"
    env_text += "#" * (1024 - len(env_text))
    (tmp_path / "grubenv").write_text(env_text)
    entries = _bls.load_entries(str(entries_dir))
    grubenv = _bls.load_grubenv(str(tmp_path / "grubenv"))
    plan = _bls.plan(entries, grubenv, "crashkernel", "256M")
    apply(plan)
    entries = _bls.load_entries(str(entries_dir))
    grubenv = _bls.load_grubenv(str(tmp_path / "grubenv"))
    assert entries[0].options_line == "$kernelopts"
    assert grubenv.get("kernelopts") == "root=/dev/sda1 ro crashkernel=256M"


def test_entry_without_options_line_gets_one(tmp_path):
    (tmp_path / "a.conf").write_text("title a\nlinux /vmlinuz")
    entries = _bls.load_entries(str(tmp_path))
    plan = _bls.plan(entries, None, "crashkernel", "256M")
    assert plan.changes[str(tmp_path / "a.conf")] == "title a\nlinux /vmlinuz\noptions crashkernel=256M\n"


def test_multiple_options_lines(tmp_path):
    (tmp_path / "a.conf").write_text("options ro crashkernel=1G\noptions quiet crashkernel=2G\n")
    entries = _bls.load_entries(str(tmp_path))
    plan = _bls.plan(entries, None, "crashkernel", "256M")
    assert plan.changes[str(tmp_path / "a.conf")] == "options ro\noptions quiet crashkernel=256M\n"


def test_kernelopts_reference_without_grubenv():
    entries = _bls.load_entries(os.path.join(FIXTURES, "rhel8", "entries"))
    with pytest.raises(HostError):
        _bls.plan(entries, None, "crashkernel", "256M")


@pytest.mark.parametrize("text", [
    "not a grubenv\n",
    _bls.GRUBENV_HEADER + "novalue\n",
    _bls.GRUBENV_HEADER + "kernelopts=a\\nb\n",
])
def test_bad_grubenv(text):
    with pytest.raises(ParseError):
        _bls.GrubEnv("/boot/grub2/grubenv", text)


def test_grubenv_overflow_is_refused():
    env = _bls.GrubEnv("g", _bls.GRUBENV_HEADER + "kernelopts=ro\n" + "#" * 10)
    with pytest.raises(HostError):
        env.render({"kernelopts": "ro " + "x" * 100})


@pytest.mark.parametrize("text, name, value, state, expected", [
    ("root=UUID=1 ro quiet\n", "crashkernel", "1G", "present", "root=UUID=1 ro quiet crashkernel=1G\n"),
    ("root=UUID=1 ro crashkernel=2G quiet\n", "crashkernel", None, "absent", "root=UUID=1 ro quiet\n"),
    ("root=UUID=1\nro\n", "crashkernel", "1G", "present", "root=UUID=1\nro crashkernel=1G\n"),
    ("", "crashkernel", "1G", "present", "crashkernel=1G\n"),
])
def test_kernel_cmdline_file(text, name, value, state, expected):
    assert _bls.plan_cmdline_file(text, name, value, state) == expected


def test_pick_entry_prefers_running_kernel():
    entries = _bls.load_entries(os.path.join(FIXTURES, "rhel9", "entries"))
    effective = dict((e.path, e.fields["version"]) for e in entries)
    assert _bls.pick_entry(effective, "5.14.0-284.11.1.el9_2.x86_64", entries) == "5.14.0-284.11.1.el9_2.x86_64"
    assert _bls.pick_entry(effective, "other", entries) == "5.14.0-362.8.1.el9_3.x86_64"
    assert _bls.pick_entry({}, "x", entries) == ""


@pytest.mark.parametrize("state, value, options, expected", [
    ("present", "256M", ["ro crashkernel=1G"], [["--args=crashkernel=256M"]]),
    ("present", "256M", ["ro crashkernel=1G crashkernel=2G"], [["--remove-args=crashkernel"], ["--args=crashkernel=256M"]]),
    ("absent", None, ["ro crashkernel=1G"], [["--remove-args=crashkernel"]]),
    ("absent", "1G", ["ro crashkernel=1G"], [["--remove-args=crashkernel=1G"]]),
])
def test_grubby_commands(tmp_path, state, value, options, expected):
    for index, line in enumerate(options):
        (tmp_path / ("%d.conf" % index)).write_text("options %s\n" % line)
    entries = _bls.load_entries(str(tmp_path))
    commands = _bls.grubby_commands("/usr/sbin/grubby", entries, "crashkernel", value, state)
    assert [c[2:] for c in commands] == expected
    assert all(c[:2] == ["/usr/sbin/grubby", "--update-kernel=ALL"] for c in commands)


@pytest.mark.parametrize("bls_dir, grubenv, options", [
    (None, None, []),
    ("/boot/loader/entries", "/boot/grub2/grubenv", []),
    ("/srv/entries", None, ["--bls-directory=/srv/entries"]),
    ("/boot/loader/entries", "/boot/efi/EFI/redhat/grubenv", ["--env=/boot/efi/EFI/redhat/grubenv"]),
    ("/srv/entries", "/srv/grubenv", ["--bls-directory=/srv/entries", "--env=/srv/grubenv"]),
])
def test_grubby_commands_pass_only_what_is_not_grubbys_default(bls_dir, grubenv, options):
    commands = _bls.grubby_commands("/usr/sbin/grubby", [], "quiet", None, "absent", bls_dir=bls_dir, grubenv=grubenv)
    assert commands == [["/usr/sbin/grubby", "--update-kernel=ALL"] + options + ["--remove-args=quiet"]]


# requested backend, grubby on PATH, entries, /etc/kernel/cmdline, /etc/default/grub, chosen
@pytest.mark.parametrize("requested, grubby, entries, cmdline, defaults, backend", [
    ("auto", True, True, True, True, "grubby"),
    ("auto", True, False, False, True, "grub"),
    ("auto", False, True, False, True, "grub"),
    ("auto", False, True, True, False, "kernel_install"),
    ("auto", True, False, True, False, "kernel_install"),
    ("auto", False, False, True, True, "grub"),
    ("auto", False, False, False, False, "grub"),
    ("grub", True, True, True, False, "grub"),
    ("grubby", False, False, False, True, "grubby"),
    ("kernel_install", True, True, False, True, "kernel_install"),
])
def test_choose_backend(tmp_path, requested, grubby, entries, cmdline, defaults, backend):
    (tmp_path / "entries").mkdir()
    (tmp_path / "entries" / "other.txt").write_text("options ro\n")
    if entries:
        (tmp_path / "entries" / "a.conf").write_text("options ro\n")
    if cmdline:
        (tmp_path / "cmdline").write_text("ro\n")
    if defaults:
        (tmp_path / "grub").write_text('GRUB_CMDLINE_LINUX="ro"\n')
    programs = {"grubby": "/usr/sbin/grubby"} if grubby else {}
    assert _bls.choose_backend(requested, programs.get, str(tmp_path / "entries"), str(tmp_path / "cmdline"),
                               str(tmp_path / "grub")) == backend


@pytest.mark.parametrize("entries, grubenv", [
    ({"a.conf": "options ro\n", "b.conf": "options quiet\n"}, None),
    ({"a.conf": "options $kernelopts\n"}, _bls.GRUBENV_HEADER + "kernelopts=ro\n"),
    ({}, _bls.GRUBENV_HEADER),
    ({}, None),
])
def test_snapshot(tmp_path, entries, grubenv):
    (tmp_path / "entries").mkdir()
    (tmp_path / "entries" / "notes.txt").write_text("not an entry\n")
    expected = {}
    for file_name, text in entries.items():
        (tmp_path / "entries" / file_name).write_text(text)
        expected[str(tmp_path / "entries" / file_name)] = text
    if grubenv is not None:
        (tmp_path / "grubenv").write_text(grubenv)
        expected[str(tmp_path / "grubenv")] = grubenv
    assert _bls.snapshot(str(tmp_path / "entries"), str(tmp_path / "grubenv")) == expected


@pytest.mark.parametrize("fixture, name, value, state, changed", [
    ("rhel9", "crashkernel", "256M", "present", 3),
    ("rhel9", "crashkernel", None, "absent", 3),
    ("rhel8", "crashkernel", "256M", "present", 1),
    ("fedora39", "quiet", None, "absent", 1),
])
def test_load_plan(tmp_path, fixture, name, value, state, changed):
    root = copy(tmp_path, fixture)
    entries, plan = _bls.load_plan(os.path.join(root, "entries"), os.path.join(root, "grubenv"), name, value, state)
    assert [e.path for e in entries] == _bls.entry_paths(os.path.join(root, "entries"))
    assert len(plan.changes) == changed


def test_load_plan_without_entries_does_not_read_the_grubenv(tmp_path):
    (tmp_path / "grubenv").write_text("not a grubenv\n")
    entries, plan = _bls.load_plan(str(tmp_path / "entries"), str(tmp_path / "grubenv"), "crashkernel", "1G")
    assert (entries, plan.changes, plan.effective) == ([], {}, {})


@pytest.mark.parametrize("options, name, value, state, effective", [
    ("ro crashkernel=1G", "crashkernel", "1G", "present", "ro crashkernel=1G"),
    ("ro quiet", "crashkernel", None, "absent", "ro quiet"),
    ("ro crashkernel=1G", "crashkernel", "2G", "absent", "ro crashkernel=1G"),
    ("$kernelopts", "crashkernel", "256M", "present", "root=/dev/sda1 ro crashkernel=256M"),
])
def test_verify_grubby(tmp_path, options, name, value, state, effective):
    (tmp_path / "entries").mkdir()
    (tmp_path / "entries" / "a.conf").write_text("options %s\n" % options)
    (tmp_path / "grubenv").write_text(_bls.GRUBENV_HEADER + "kernelopts=root=/dev/sda1 ro crashkernel=256M\n")
    entries, lines = _bls.verify_grubby(str(tmp_path / "entries"), str(tmp_path / "grubenv"), name, value, state)
    path = str(tmp_path / "entries" / "a.conf")
    assert ([e.path for e in entries], lines) == ([path], {path: effective})


@pytest.mark.parametrize("options, name, value, state, goal", [
    ("ro crashkernel=1G crashkernel=1G", "crashkernel", "1G", "present", "one crashkernel=1G"),
    ("ro", "crashkernel", "1G", "present", "one crashkernel=1G"),
    ("ro crashkernel=2G", "crashkernel", "1G", "present", "one crashkernel=1G"),
    ("ro crashkernel=1G", "crashkernel", None, "absent", "no crashkernel"),
    ("ro crash_kernel=1G", "crash-kernel", "1G", "absent", "no crash-kernel"),
])
def test_verify_grubby_refuses_what_grubby_left(tmp_path, options, name, value, state, goal):
    (tmp_path / "a.conf").write_text("options %s\n" % options)
    with pytest.raises(HostError) as raised:
        _bls.verify_grubby(str(tmp_path), str(tmp_path / "grubenv"), name, value, state)
    assert str(raised.value) == "grubby did not leave exactly %s in every entry of %s; check the entries" % (
        goal, tmp_path)


@pytest.mark.parametrize("text, name, value, state, expected", [
    (None, "crashkernel", "1G", "present", None),
    ("ro quiet\n", "crashkernel", "1G", "present", "ro quiet crashkernel=1G\n"),
    ("ro crashkernel=1G quiet\n", "crashkernel", None, "absent", "ro quiet\n"),
])
def test_plan_cmdline_path(tmp_path, text, name, value, state, expected):
    path = tmp_path / "cmdline"
    if text is not None:
        path.write_text(text)
    assert _bls.plan_cmdline_path(str(path), name, value, state) == expected


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=80), name=st.sampled_from(["crashkernel", "quiet"]), state=st.sampled_from(["present", "absent"]))
def test_any_entry_text_gives_a_plan_or_a_domain_error(text, name, state):
    try:
        entry = _bls.Entry("x.conf", text)
        plan = _bls.plan([entry], None, name, "1G" if state == "present" else None, state)
    except KdumpError:
        return
    for new_text in plan.changes.values():
        new_entry = _bls.Entry("x.conf", new_text)
        assert _cmdline.is_satisfied(_cmdline.split(new_entry.effective()), name,
                                     "1G" if state == "present" else None, state)
