# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import os
import shutil
import stat

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st
from unittest import mock


from ansible_collections.crashkit.kdump.plugins.module_utils import _grub
from ansible_collections.crashkit.kdump.plugins.modules import bootloader_args
from ansible_collections.crashkit.kdump.tests.unit.plugins import module_run

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "bootloader")
HAS_GRUBBY = bool(shutil.which("grubby") or os.path.exists("/usr/sbin/grubby") or os.path.exists("/sbin/grubby"))


run_module = functools.partial(module_run.run_module, bootloader_args)


def snapshot(root):
    """Every file under ``root`` and its bytes."""
    result = {}
    for directory, _dirs, files in os.walk(str(root)):
        for name in files:
            path = os.path.join(directory, name)
            with open(path, "rb") as handle:
                result[os.path.relpath(path, str(root))] = handle.read()
    return result


@pytest.fixture
def debian(tmp_path):
    shutil.copytree(os.path.join(FIXTURES, "debian12"), str(tmp_path / "etc"))
    (tmp_path / "proc").write_text("BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=0f2e ro quiet crashkernel=384M-:128M\n")
    return tmp_path


def grub_args(root, **extra):
    args = dict(
        name="crashkernel",
        backend="grub",
        family="Debian",
        grub_defaults_path=str(root / "etc" / "grub"),
        grub_dropin_dir=str(root / "etc" / "grub.d"),
        proc_cmdline_path=str(root / "proc"),
        update_bootloader=False,
    )
    args.update(extra)
    return args


def test_debian_present_check_mode_then_apply_then_idempotent(capsys, debian):
    args = grub_args(debian, value="256M")
    before = snapshot(debian)
    result = run_module(capsys, args, check_mode=True, diff=True)
    assert result["changed"] is True
    assert snapshot(debian) == before
    dropin = str(debian / "etc" / "grub.d" / "kdump-tools.cfg")
    assert result["files_changed"] == [dropin]
    assert result["diff"] == [{
        "before_header": dropin, "after_header": dropin,
        "before": 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT crashkernel=384M-:128M"\n',
        "after": 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT crashkernel=256M"\n',
    }]
    assert result["effective_cmdline"] == "quiet crashkernel=256M"
    assert result["reboot_required"] is True

    result = run_module(capsys, args)
    assert result["changed"] is True
    assert result["backend"] == "grub"
    assert result["effective_cmdline"] == "quiet crashkernel=256M"
    assert result["current_cmdline"].endswith("crashkernel=384M-:128M")
    assert result["reboot_required"] is True
    assert "diff" not in result

    result = run_module(capsys, args)
    assert result["changed"] is False
    assert result["files_changed"] == []
    assert result["reboot_required"] is True


def test_debian_absent_removes_dropin_occurrence(capsys, debian):
    result = run_module(capsys, grub_args(debian, state="absent"))
    assert result["changed"] is True
    assert result["effective_cmdline"] == "quiet"
    assert (debian / "etc" / "grub.d" / "kdump-tools.cfg").read_text() == (
        'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT"\n')
    assert run_module(capsys, grub_args(debian, state="absent"))["changed"] is False


def test_reboot_not_required_when_running_kernel_matches(capsys, debian):
    result = run_module(capsys, grub_args(debian, value="384M-:128M"))
    assert result["changed"] is False
    assert result["reboot_required"] is False


def test_reboot_required_for_absent_while_running_with_it(capsys, debian):
    result = run_module(capsys, grub_args(debian, state="absent"), check_mode=True)
    assert result["reboot_required"] is True
    (debian / "proc").write_text("root=UUID=0f2e ro quiet\n")
    assert run_module(capsys, grub_args(debian, state="absent"), check_mode=True)["reboot_required"] is False


def test_missing_proc_cmdline(capsys, debian):
    result = run_module(capsys, grub_args(debian, value="256M", proc_cmdline_path=str(debian / "nope")), check_mode=True)
    assert result["current_cmdline"] is None
    assert result["reboot_required"] is True


def test_backup(capsys, debian):
    result = run_module(capsys, grub_args(debian, value="256M", backup=True))
    assert len(result["backup_files"]) == 1
    with open(result["backup_files"][0]) as handle:
        assert "crashkernel=384M-:128M" in handle.read()


def write_script(path, body):
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(path)


def test_update_command_runs_once_after_change(capsys, debian):
    log = debian / "log"
    script = write_script(debian / "update-grub", 'echo "$@" >> "%s"\n' % log)
    args = grub_args(debian, value="256M", update_bootloader=True, update_bootloader_command=[script, "--flag"])
    result = run_module(capsys, args)
    assert result["bootloader_command"] == [script, "--flag"]
    assert log.read_text() == "--flag\n"
    result = run_module(capsys, args)
    assert result["changed"] is False and result["bootloader_command"] == []
    assert log.read_text() == "--flag\n"


def test_absent_update_command_fails_before_changing_anything(capsys, debian):
    before = snapshot(debian)
    args = grub_args(debian, value="256M", update_bootloader=True,
                     update_bootloader_command=[str(debian / "no-such-update-grub")])
    result = run_module(capsys, args)
    assert result["failed"] is True
    assert "not found" in result["msg"]
    assert snapshot(debian) == before


def test_failing_update_command_reports_changed(capsys, debian):
    script = write_script(debian / "update-grub", "exit 3\n")
    result = run_module(capsys, grub_args(debian, value="256M", update_bootloader=True, update_bootloader_command=[script]))
    assert result["failed"] is True and result["changed"] is True
    assert "rc=3" in result["msg"]


def test_update_command_not_run_in_check_mode(capsys, debian):
    log = debian / "log"
    script = write_script(debian / "update-grub", 'echo run >> "%s"\n' % log)
    result = run_module(capsys, grub_args(debian, value="256M", update_bootloader=True, update_bootloader_command=[script]), check_mode=True)
    assert result["changed"] is True
    assert not log.exists()


def test_rhel9_grub_backend(capsys, tmp_path):
    shutil.copytree(os.path.join(FIXTURES, "rhel9"), str(tmp_path / "etc"))
    (tmp_path / "proc").write_text("BOOT_IMAGE=(hd0,msdos1)/vmlinuz root=/dev/mapper/rhel-root ro crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M\n")
    args = grub_args(tmp_path, family="RedHat", value="512M")
    result = run_module(capsys, args)
    assert result["changed"] is True
    assert result["effective_cmdline"].startswith("crashkernel=512M resume=")
    assert 'GRUB_CMDLINE_LINUX="crashkernel=512M resume=' in (tmp_path / "etc" / "grub").read_text()
    assert run_module(capsys, args)["changed"] is False


def test_unevaluable_file_is_left_unchanged_with_clear_error(capsys, debian):
    path = debian / "etc" / "grub"
    path.write_text(path.read_text().replace('GRUB_CMDLINE_LINUX=""', 'GRUB_CMDLINE_LINUX="$(cat /etc/extra)"'))
    before = snapshot(debian)
    result = run_module(capsys, grub_args(debian, value="256M"))
    assert result["failed"] is True
    assert "%s:10: GRUB_CMDLINE_LINUX depends on command substitution" % path in result["msg"]
    assert snapshot(debian) == before


def test_shell_disagreement_leaves_files_intact(capsys, debian):
    """The verify callback sees a different value from /bin/sh: nothing is moved in place and no
    temporary file stays behind."""
    before = snapshot(debian)
    wrong = {_grub.LINUX: "", _grub.LINUX_DEFAULT: "something else"}
    with mock.patch.object(_grub, "shell_values", return_value=wrong):
        with mock.patch("os.path.exists", side_effect=lambda p, real=os.path.exists: True if p == "/bin/sh" else real(p)):
            result = run_module(capsys, grub_args(debian, value="256M"))
    assert result["failed"] is True
    assert "verification failed" in result["msg"]
    assert snapshot(debian) == before


def test_invalid_value(capsys, debian):
    result = run_module(capsys, grub_args(debian, value='a"b'))
    assert result["failed"] is True
    assert "double quote" in result["msg"]


# ------------------------------------------------------------------------ grubby ----------
@pytest.fixture
def rhel9(tmp_path):
    shutil.copytree(os.path.join(FIXTURES, "rhel9"), str(tmp_path / "rhel9"))
    (tmp_path / "proc").write_text("BOOT_IMAGE=(hd0,msdos1)/vmlinuz root=/dev/mapper/rhel-root ro\n")
    (tmp_path / "cmdline").write_text("root=/dev/mapper/rhel-root ro crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M rhgb quiet\n")
    return tmp_path


def bls_args(root, **extra):
    args = dict(
        name="crashkernel",
        family="RedHat",
        bls_dir=str(root / "rhel9" / "entries"),
        grubenv_path=str(root / "grubenv"),
        grub_defaults_path=str(root / "rhel9" / "grub"),
        grub_dropin_dir=str(root / "grub.d"),
        kernel_cmdline_path=str(root / "cmdline"),
        proc_cmdline_path=str(root / "proc"),
        update_bootloader=False,
    )
    args.update(extra)
    return args


@pytest.mark.skipif(HAS_GRUBBY, reason="grubby is installed: the direct-edit path is not taken")
def test_grubby_backend_without_binary_edits_entries_and_companions(capsys, rhel9):
    args = bls_args(rhel9, backend="grubby", value="256M")
    result = run_module(capsys, args, check_mode=True, diff=True)
    assert result["changed"] is True
    assert len(result["files_changed"]) == 5  # 3 entries, /etc/default/grub, /etc/kernel/cmdline
    assert len(result["diff"]) == 5
    result = run_module(capsys, args)
    assert result["backend"] == "grubby"
    assert "crashkernel=256M" in result["effective_cmdline"]
    for name in os.listdir(str(rhel9 / "rhel9" / "entries")):
        text = (rhel9 / "rhel9" / "entries" / name).read_text()
        assert text.count("crashkernel=") == 1 and "crashkernel=256M" in text
    assert "crashkernel=256M" in (rhel9 / "rhel9" / "grub").read_text()
    assert (rhel9 / "cmdline").read_text() == "root=/dev/mapper/rhel-root ro crashkernel=256M rhgb quiet\n"
    assert run_module(capsys, args)["changed"] is False


def test_grubby_binary_is_used_and_its_result_verified(capsys, rhel9, monkeypatch):
    """A grubby that only records its arguments: the module calls it as documented, then
    re-reads the entries and reports that they do not hold the argument."""
    bin_dir = rhel9 / "bin"
    bin_dir.mkdir()
    log = rhel9 / "grubby.log"
    write_script(bin_dir / "grubby", 'echo "$@" >> "%s"\n' % log)
    monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, os.environ.get("PATH", "")))
    before = snapshot(rhel9 / "rhel9" / "entries")
    result = run_module(capsys, bls_args(rhel9, value="256M"))
    assert log.read_text().split() == ["--update-kernel=ALL", "--bls-directory=%s" % (rhel9 / "rhel9" / "entries"),
                                       "--env=%s" % (rhel9 / "grubenv"), "--args=crashkernel=256M"]
    assert result["failed"] is True
    assert "grubby did not leave exactly one crashkernel=256M" in result["msg"]
    assert snapshot(rhel9 / "rhel9" / "entries") == before


def test_grubby_binary_not_called_in_check_mode(capsys, rhel9, monkeypatch):
    bin_dir = rhel9 / "bin"
    bin_dir.mkdir()
    log = rhel9 / "grubby.log"
    write_script(bin_dir / "grubby", 'echo "$@" >> "%s"\n' % log)
    monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, os.environ.get("PATH", "")))
    result = run_module(capsys, bls_args(rhel9, value="256M"), check_mode=True)
    assert result["backend"] == "grubby" and result["changed"] is True
    assert not log.exists()


def test_grubby_backend_rhel8_grubenv_through_symlink(capsys, tmp_path):
    shutil.copytree(os.path.join(FIXTURES, "rhel8"), str(tmp_path / "rhel8"))
    efi = tmp_path / "efi"
    efi.mkdir()
    shutil.move(str(tmp_path / "rhel8" / "grubenv"), str(efi / "grubenv"))
    os.symlink(str(efi / "grubenv"), str(tmp_path / "rhel8" / "grubenv"))
    (tmp_path / "proc").write_text("ro crashkernel=auto\n")
    args = dict(
        name="crashkernel", value="256M", backend="grubby", family="RedHat",
        bls_dir=str(tmp_path / "rhel8" / "entries"), grubenv_path=str(tmp_path / "rhel8" / "grubenv"),
        grub_defaults_path=str(tmp_path / "none"), kernel_cmdline_path=str(tmp_path / "none"),
        proc_cmdline_path=str(tmp_path / "proc"),
    )
    if HAS_GRUBBY:
        pytest.skip("grubby is installed: the direct-edit path is not taken")
    result = run_module(capsys, args)
    assert result["changed"] is True
    assert result["files_changed"] == [str(efi / "grubenv")]
    assert os.path.islink(str(tmp_path / "rhel8" / "grubenv"))
    text = (efi / "grubenv").read_text()
    assert len(text.encode()) == 1024 and "kernelopts=root=/dev/mapper/rhel-root ro crashkernel=256M resume" in text
    assert result["reboot_required"] is True


# ---------------------------------------------------------------- kernel_install ----------
def test_kernel_install_backend(capsys, tmp_path):
    shutil.copytree(os.path.join(FIXTURES, "fedora39"), str(tmp_path / "f"))
    (tmp_path / "proc").write_text("BOOT_IMAGE=/vmlinuz ro crashkernel=512M\n")
    args = dict(
        name="crashkernel", value="512M", backend="auto", family="RedHat",
        kernel_cmdline_path=str(tmp_path / "f" / "kernel-cmdline"), bls_dir=str(tmp_path / "f" / "entries"),
        grub_defaults_path=str(tmp_path / "no-grub"), grubenv_path=str(tmp_path / "no-env"),
        proc_cmdline_path=str(tmp_path / "proc"),
    )
    result = run_module(capsys, args)
    if not HAS_GRUBBY:
        assert result["backend"] == "kernel_install"
        assert result["effective_cmdline"].endswith("quiet crashkernel=512M")
        assert result["reboot_required"] is False
        assert len(result["files_changed"]) == 2
        assert run_module(capsys, args)["changed"] is False


def test_kernel_install_backend_requires_the_file(capsys, tmp_path):
    result = run_module(capsys, dict(name="quiet", backend="kernel_install", kernel_cmdline_path=str(tmp_path / "x"),
                                     bls_dir=str(tmp_path), proc_cmdline_path=str(tmp_path / "p")))
    assert result["failed"] is True and "does not exist" in result["msg"]


# ------------------------------------------------------------------- robustness -----------
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.text(alphabet='GRUB_CMDLINE_LINUX_DEFAULT="$\'\\ \n;#{}x=ck:`', max_size=60),
    state=st.sampled_from(["present", "absent"]),
)
@example(text="A=`;`", state="absent")  # a file sh cannot parse, nothing to remove
@example(text="A=`;`", state="present")
def test_module_never_corrupts_a_file(capsys, tmp_path, text, state):
    root = tmp_path / "h"
    shutil.rmtree(str(root), ignore_errors=True)
    (root / "etc" / "grub.d").mkdir(parents=True)
    (root / "etc" / "grub").write_text(text)
    (root / "proc").write_text("ro\n")
    before = snapshot(root)
    result = run_module(capsys, grub_args(root, name="ck", value="1" if state == "present" else None, state=state))
    if result.get("failed"):
        assert snapshot(root) == before
        return
    after = _grub.load(str(root / "etc" / "grub"), str(root / "etc" / "grub.d")).values()
    if not result["changed"]:
        # Left alone: byte-identical, whatever the shell makes of it (it may not parse it).
        assert snapshot(root) == before
    elif os.path.exists("/bin/sh"):
        # Edited: the written file must mean to the real shell what the module planned.
        assert _grub.shell_values([str(root / "etc" / "grub")]) == after
    assert result["effective_cmdline"] == " ".join(v for v in (after[_grub.LINUX], after[_grub.LINUX_DEFAULT]) if v.strip())
