# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kdump_capture_mode initramfs: the capture script (roles/setup/files/initramfs-capture) run by
the real /bin/sh (dash, as klibc's and busybox's sh run it in the initramfs) against a root file
system in a temporary directory: the files it writes are kdump-tools' (dmesg.<stamp>,
dump-incomplete renamed to dump.<stamp>), and every case it cannot take leaves the dump to
kdump-tools with nothing written and no restart. makedumpfile, mount and the sysrq trigger are
stand-ins that record their calls (the VM proof captures real panics: docs/support-matrix.md);
date, stat and readlink are the host's own.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import subprocess
import time

import pytest

from ansible_collections.crashkit.kdump.plugins.module_utils import _capture

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
SCRIPT = os.path.join(REPO, "roles", "setup", "files", "initramfs-capture")
HOOK = os.path.join(REPO, "roles", "setup", "files", "initramfs-hook")
MAKEDUMPFILE = """#!/bin/sh
echo "$*" >> "$FAKE_LOG"
if [ "$1" = --dump-dmesg ]; then echo "[ 1.0] Kernel panic - not syncing: sysrq" > "$3"; exit 0; fi
[ -n "$FAKE_FAIL" ] && { printf 'half'; exit 1; }
printf 'KDUMP   flattened'
"""
MOUNT = """#!/bin/sh
echo "mount $*" >> "$FAKE_LOG"
[ -z "$FAKE_MOUNT_FAIL" ]
"""


class Bed(object):
    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.root = tmp_path / "root"
        (self.root / "etc" / "default").mkdir(parents=True)
        (self.root / "var" / "crash").mkdir(parents=True)
        self.conf = self.root / "etc" / "default" / "kdump-tools"
        self.conf.write_text('USE_KDUMP=1\nKDUMP_COREDIR="/var/crash"\nMAKEDUMP_ARGS="-c -d 31"\n')
        (self.root / "etc" / "fstab").write_text("# <file system> <mount point>\nUUID=1 / ext4 errors=remount-ro 0 1\n"
                                                 "UUID=2 none swap sw 0 0\n")
        fake = tmp_path / "bin"
        fake.mkdir()
        for name, text in (("makedumpfile", MAKEDUMPFILE), ("mount", MOUNT)):
            (fake / name).write_text(text)
            os.chmod(str(fake / name), 0o755)
        self.vmcore = tmp_path / "vmcore"
        self.vmcore.write_text("ELF")
        self.cmdline = tmp_path / "cmdline"
        self.cmdline.write_text("BOOT_IMAGE=/vmlinuz root=UUID=1 ro systemd.unit=kdump-tools-dump.service\n")
        self.mounts = tmp_path / "mounts"
        self.mounts.write_text("rootfs / rootfs rw 0 0\n/dev/vda1 %s ext4 ro,relatime 0 0\n" % self.root)
        self.log = tmp_path / "calls.log"
        self.sysrq = tmp_path / "sysrq"
        self.uptime = tmp_path / "uptime"
        self.uptime.write_text("23.45 40.01\n")
        self.rundir = tmp_path / "run" / "crashkit-capture"
        self.env = {
            "PATH": "%s:/usr/bin:/bin" % fake, "rootmnt": str(self.root), "FAKE_LOG": str(self.log),
            "CRASHKIT_CAPTURE_VMCORE": str(self.vmcore), "CRASHKIT_CAPTURE_CMDLINE": str(self.cmdline),
            "CRASHKIT_CAPTURE_MOUNTS": str(self.mounts), "CRASHKIT_CAPTURE_SYSRQ": str(self.sysrq),
            "CRASHKIT_CAPTURE_UPTIME": str(self.uptime), "CRASHKIT_CAPTURE_RUNDIR": str(self.rundir),
        }

    def run(self, **env):
        result = subprocess.run(["/bin/sh", SCRIPT], env=dict(self.env, **env), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, universal_newlines=True, timeout=60, check=False)
        assert result.returncode == 0, result.stdout
        return result.stdout

    def calls(self):
        return self.log.read_text().splitlines() if self.log.exists() else []

    def crash_dirs(self):
        return sorted(os.listdir(str(self.root / "var" / "crash")))


@pytest.fixture
def bed(tmp_path):
    return Bed(tmp_path)


def test_saves_kdump_tools_files_then_restarts_with_the_root_read_only_again(bed):
    out = bed.run()
    (stamp,) = bed.crash_dirs()
    assert re.match(r"\A\d{12}\Z", stamp)
    files = sorted(os.listdir(str(bed.root / "var" / "crash" / stamp)))
    assert files == ["crashkit-capture.txt", "dmesg." + stamp, "dump." + stamp]
    # the note the evidence bundle reads: this capture saved it, at 23.45 s of the capture kernel
    note = _capture.parse_note((bed.root / "var" / "crash" / stamp / "crashkit-capture.txt").read_text())
    assert note == {"saved_by": "crashkit-initramfs", "capture_uptime": 23.45}
    assert not bed.rundir.exists()
    assert (bed.root / "var" / "crash" / stamp / ("dump." + stamp)).read_text() == "KDUMP   flattened"
    assert "Kernel panic" in (bed.root / "var" / "crash" / stamp / ("dmesg." + stamp)).read_text()
    calls = bed.calls()
    assert calls[0] == "mount -o remount,rw %s" % bed.root
    assert calls[1].startswith("--dump-dmesg %s " % bed.vmcore)
    # kdump-config's rule: MAKEDUMP_ARGS with -F added (the output is a stream)
    assert calls[2] == "-c -d 31 -F %s" % bed.vmcore
    assert calls[3] == "mount -o remount,ro %s" % bed.root
    assert bed.sysrq.read_text() == "b\n"
    # the console lines crashlab's parser and the capture benchmark read, paths as the host sees them
    assert "crashkit-capture: saved dmesg content in /var/crash/%s" % stamp in out
    assert "crashkit-capture: running makedumpfile -c -d 31 -F" in out
    assert "crashkit-capture: saved vmcore in /var/crash/%s" % stamp in out


def test_a_root_mounted_read_write_is_left_so_and_defaults_are_kdump_configs(bed):
    bed.mounts.write_text("/dev/vda1 %s ext4 rw,relatime 0 0\n" % bed.root)
    bed.conf.write_text("USE_KDUMP=1\n")
    bed.run()
    calls = bed.calls()
    assert not [call for call in calls if call.startswith("mount")]
    assert calls[1] == "-F -c -d 31 %s" % bed.vmcore
    assert bed.sysrq.read_text() == "b\n"


def test_no_vmcore_means_not_a_capture_boot(bed):
    bed.vmcore.unlink()
    assert bed.run() == ""
    assert bed.calls() == [] and bed.crash_dirs() == [] and not bed.sysrq.exists() and not bed.rundir.exists()


def test_the_oldest_dumps_over_kdump_num_dumps_are_removed(bed):
    for old in ("202601010000", "202602010000", "202603010000"):
        (bed.root / "var" / "crash" / old).mkdir()
    (bed.root / "var" / "crash" / "kexec_cmd").write_text("x")
    bed.conf.write_text('KDUMP_COREDIR=/var/crash\nKDUMP_NUM_DUMPS=2\n')
    bed.run()
    dirs = bed.crash_dirs()
    assert dirs[:1] == ["202603010000"] and dirs[-1] == "kexec_cmd" and len(dirs) == 3


def _fallback(bed, out, reason=None):
    assert "kdump-tools saves the dump" in out, out
    # the note the capture boot keeps for the evidence bundle: kdump-tools saved it, and why
    note = _capture.parse_note((bed.rundir / "fallback").read_text())
    assert note["saved_by"] == "kdump-tools" and abs(note["time"] - time.time()) < 120
    assert reason is None or reason in note["fallback"]
    assert not bed.sysrq.exists()
    assert not [name for name in bed.crash_dirs() if name[:1] == "2"]
    mounts = [call for call in bed.calls() if call.startswith("mount")]
    # remounted read-write only to be made read-only again
    assert mounts in ([], ["mount -o remount,rw %s" % bed.root, "mount -o remount,ro %s" % bed.root])


@pytest.mark.parametrize("conf, reason", [
    ('SSH="kdump@dumps"\n', "not a local target"),
    ('NFS="server:/export"\n', "not a local target"),
    ("KDUMP_COREDIR=var/crash\n", "not an absolute path"),
    ("KDUMP_COREDIR=/var/crash/../../etc\n", "not a plain path"),
    ("KDUMP_COREDIR=/var/nowhere\n", "not a directory"),
    ("KDUMP_COMPRESSION=gzip\n", "pipes through a compressor"),
    ("KDUMP_NUM_DUMPS='1;reboot'\n", "not a number"),
])
def test_what_it_does_not_take_is_left_to_kdump_tools(bed, conf, reason):
    bed.conf.write_text(conf)
    out = bed.run()
    assert reason in out
    _fallback(bed, out, reason)


def test_asked_on_the_command_line(bed):
    bed.cmdline.write_text("root=UUID=1 ro crashkit.capture=systemd nr_cpus=1\n")
    out = bed.run()
    assert "crashkit.capture=systemd" in out
    _fallback(bed, out)


def test_a_dump_directory_another_file_system_holds(bed):
    with open(str(bed.root / "etc" / "fstab"), "a") as handle:
        handle.write("LABEL=var /var ext4 defaults 0 2\n")
    out = bed.run()
    assert "/var/crash is on /var, which the real boot mounts" in out
    _fallback(bed, out)


def test_a_device_target_mount_unit(bed):
    units = bed.root / "etc" / "systemd" / "system"
    units.mkdir(parents=True)
    (units / "var-lib-crashkit-dumpdev.mount").write_text(
        "[Mount]\nWhat=/dev/disk/by-label/crashdump\nWhere=/var/lib/crashkit/dumpdev\nType=ext4\n")
    (bed.root / "var" / "lib" / "crashkit" / "dumpdev" / "var" / "crash").mkdir(parents=True)
    bed.conf.write_text("KDUMP_COREDIR=/var/lib/crashkit/dumpdev/var/crash\n")
    out = bed.run()
    assert "which var-lib-crashkit-dumpdev.mount mounts" in out
    _fallback(bed, out)


@pytest.mark.parametrize("target", ["../big", "/big"], ids=["relative", "absolute"])
def test_a_dump_directory_reached_through_a_link(bed, target):
    # an absolute link (/var/crash -> /srv/crash, as an operator moves dumps to a bigger disk)
    # leads nowhere in the initramfs; a relative one into the root: either way the reason is the
    # link (seen in a Debian 12 VM: the absolute one was first reported as "not a directory")
    shutil.rmtree(str(bed.root / "var" / "crash"))
    (bed.root / "big").mkdir()
    os.symlink(target, str(bed.root / "var" / "crash"))
    out = bed.run()
    assert "/var/crash is reached through a link" in out
    assert bed.calls() == [] and not bed.sysrq.exists() and os.listdir(str(bed.root / "big")) == []
    assert "reached through a link" in _capture.parse_note((bed.rundir / "fallback").read_text())["fallback"]


def test_settings_that_are_a_link_are_not_read(bed):
    real = bed.tmp / "elsewhere"
    real.write_text("KDUMP_COREDIR=/var/crash\n")
    bed.conf.unlink()
    os.symlink(str(real), str(bed.conf))
    out = bed.run()
    assert "no regular file" in out and bed.calls() == []


def test_a_root_that_stays_read_only(bed):
    out = bed.run(FAKE_MOUNT_FAIL="1")
    assert "cannot be mounted read-write" in out
    assert bed.calls() == ["mount -o remount,rw %s" % bed.root]
    assert not bed.sysrq.exists()


def test_makedumpfile_failing_leaves_no_partial_dump_and_the_root_read_only(bed):
    out = bed.run(FAKE_FAIL="1")
    assert "makedumpfile failed" in out
    _fallback_note = _capture.parse_note((bed.rundir / "fallback").read_text())
    assert _fallback_note["fallback"] == "makedumpfile failed"
    (stamp,) = bed.crash_dirs()
    # the dmesg is kept (kdump-tools' own run writes its own next to it); the partial dump is not
    assert os.listdir(str(bed.root / "var" / "crash" / stamp)) == ["dmesg." + stamp]
    assert bed.calls()[-1] == "mount -o remount,ro %s" % bed.root
    assert not bed.sysrq.exists()


def test_hook_leaves_every_other_initramfs_alone(tmp_path):
    result = subprocess.run(["/bin/sh", HOOK], env={"PATH": "/usr/bin:/bin", "CONFDIR": "/etc/initramfs-tools",
                                                    "DESTDIR": str(tmp_path)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert result.returncode == 0 and result.stdout == "" and os.listdir(str(tmp_path)) == []
    prereqs = subprocess.run(["/bin/sh", HOOK, "prereqs"], stdout=subprocess.PIPE, universal_newlines=True, check=False)
    assert prereqs.returncode == 0 and prereqs.stdout == "\n"


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed (tools/bootstrap.sh installs it)")
@pytest.mark.parametrize("path", [SCRIPT, HOOK])
def test_shellcheck_posix_sh(path):
    result = subprocess.run(["shellcheck", "-s", "sh", "-e", "SC1091", path], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert result.returncode == 0, result.stdout


def _premount(bed, tmp_path, fsck_tools, **env):
    """Run the script as the hook installs it in scripts/local-premount, with ``fsck_tools`` the
    fsck programs this initramfs has; returns (output, what it added to param.conf)."""
    premount = tmp_path / "scripts" / "local-premount"
    premount.mkdir(parents=True)
    shutil.copy(SCRIPT, str(premount / "crashkit-capture"))
    tools = tmp_path / "fsck-tools"
    tools.mkdir()
    for name in fsck_tools:
        (tools / name).write_text("#!/bin/sh\nexit 0\n")
        os.chmod(str(tools / name), 0o755)
    paramconf = tmp_path / "param.conf"
    run_env = dict(bed.env, PATH="%s:/usr/bin:/bin" % tools, ROOT="/dev/vda1", ROOTFSTYPE="ext4",
                   CRASHKIT_CAPTURE_PARAMCONF=str(paramconf))
    run_env.update(env)
    result = subprocess.run(["/bin/sh", str(premount / "crashkit-capture")], env=run_env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout
    return result.stdout, paramconf.read_text() if paramconf.exists() else None


def test_premount_skips_a_root_check_that_cannot_run(bed, tmp_path):
    """fsck present, fsck.ext4 not (Debian 13 without e2fsprogs): initramfs-tools' check would
    fail and sleep 5 s; the script sets fastboot=y for it, and does nothing of the capture."""
    out, param = _premount(bed, tmp_path, ["fsck"])
    assert param == "fastboot=y\n"
    assert "no fsck.ext4 in this initramfs" in out
    assert bed.calls() == [] and not os.path.exists(str(bed.root / "var" / "crash" / "x"))
    assert os.listdir(str(bed.root / "var" / "crash")) == []


@pytest.mark.parametrize("tools,env", [
    (["fsck", "fsck.ext4"], {}),  # the check can run: it runs
    ([], {}),  # no fsck at all: initramfs-tools skips the check itself, without a pause
    (["fsck"], {"ROOTFSTYPE": "ext4;reboot"}),  # a type that is not a plain name is not used
    (["fsck"], {"CRASHKIT_CAPTURE_VMCORE": "/nonexistent"}),  # not a capture boot
], ids=["fsck-can-run", "no-fsck", "odd-type", "not-a-capture"])
def test_premount_leaves_every_other_check_alone(bed, tmp_path, tools, env):
    out, param = _premount(bed, tmp_path, tools, **env)
    assert param is None and out == ""


def test_premount_reads_the_type_with_blkid_when_the_command_line_has_none(bed, tmp_path):
    fake = tmp_path / "blkid-bin"
    fake.mkdir()
    (fake / "blkid").write_text('#!/bin/sh\ncase "$*" in\n"-o value -s TYPE /dev/vda1") echo xfs ;;\n'
                                '"-l -o device -t UUID=4e8e") echo /dev/vda1 ;;\n*) exit 2 ;;\nesac\n')
    os.chmod(str(fake / "blkid"), 0o755)
    out, param = _premount(bed, tmp_path, ["fsck"], ROOTFSTYPE="auto")
    assert param is None and out == ""  # no blkid on this PATH: no type, nothing done
    shutil.rmtree(str(tmp_path / "scripts"))
    shutil.rmtree(str(tmp_path / "fsck-tools"))
    out, param = _premount(bed, tmp_path, ["fsck"], ROOTFSTYPE="",
                           PATH="%s:%s:/usr/bin:/bin" % (tmp_path / "fsck-tools", fake))
    assert param == "fastboot=y\n" and "no fsck.xfs" in out
    # what the capture kernel really has there: root= as the command line gives it (seen in a
    # Debian 13 capture boot: ROOT=UUID=...), resolved with blkid
    for name in ("scripts", "fsck-tools"):
        shutil.rmtree(str(tmp_path / name))
    (tmp_path / "param.conf").unlink()
    out, param = _premount(bed, tmp_path, ["fsck"], ROOTFSTYPE="", ROOT="UUID=4e8e",
                           PATH="%s:%s:/usr/bin:/bin" % (tmp_path / "fsck-tools", fake))
    assert param == "fastboot=y\n" and "no fsck.xfs" in out
