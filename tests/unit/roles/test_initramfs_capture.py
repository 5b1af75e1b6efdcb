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
[ -z "$FAKE_MOUNT_FAIL" ] || exit 32
# a file system mounted (not a remount): listed in the mounts file, as the kernel would
if [ "$1" = -t ] && [ -z "$FAKE_MOUNT_UNLISTED" ]; then echo "$5 $6 $2 rw 0 0" >> "$CRASHKIT_CAPTURE_MOUNTS"; fi
exit 0
"""
UMOUNT = """#!/bin/sh
echo "umount $*" >> "$FAKE_LOG"
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
        for name, text in (("makedumpfile", MAKEDUMPFILE), ("mount", MOUNT), ("umount", UMOUNT)):
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
            "CRASHKIT_CAPTURE_NETCONF": str(tmp_path / "conf" / "crashkit-capture-net"),
            "CRASHKIT_CAPTURE_SYSNET": str(tmp_path / "sys" / "class" / "net"),
            "CRASHKIT_CAPTURE_NETRUN": str(tmp_path / "run"), "CRASHKIT_CAPTURE_RETRY_SLEEP": "0",
            "CRASHKIT_CAPTURE_DEVCONF": str(tmp_path / "conf" / "crashkit-capture-dev"),
            "CRASHKIT_CAPTURE_DEVPREFIX": str(tmp_path / "devs"), "CRASHKIT_CAPTURE_DEV_TRIES": "3",
        }

    def run(self, **env):
        # stdin: the console, where someone may type while the capture runs
        result = subprocess.run(["/bin/sh", SCRIPT], env=dict(self.env, **env), input="typed at the console\n",
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                                timeout=60, check=False)
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
    ('NFS="server:/export"\n', "not a local, device or SSH target"),
    ('FTP="server"\n', "not a local, device or SSH target"),
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


DEVICE = "/dev/disk/by-label/crashdump"
DUMPDEV = "/var/lib/crashkit/dumpdev"


@pytest.fixture
def dev_bed(bed):
    """The bed with a device target: the setup role's mount unit, KDUMP_COREDIR on the device,
    what the hook recorded of it, and the device's link (udev's, in the capture)."""
    units = bed.root / "etc" / "systemd" / "system"
    units.mkdir(parents=True)
    (units / "var-lib-crashkit-dumpdev.mount").write_text(
        "[Mount]\nWhat=%s\nWhere=%s\nType=ext4\n" % (DEVICE, DUMPDEV))
    (bed.root / DUMPDEV.lstrip("/") / "var" / "crash").mkdir(parents=True)
    bed.conf.write_text("KDUMP_COREDIR=%s/var/crash\nMAKEDUMP_ARGS='-c -d 31'\n" % DUMPDEV)
    bed.devconf = bed.tmp / "conf" / "crashkit-capture-dev"
    bed.devconf.parent.mkdir()
    bed.devconf.write_text("# recorded by the hook\nwhat=%s\nwhere=%s\ntype=ext4\n" % (DEVICE, DUMPDEV))
    bed.device = bed.tmp / "devs" / DEVICE.lstrip("/")
    bed.device.parent.mkdir(parents=True)
    bed.device.write_text("")
    bed.dumps = bed.root / DUMPDEV.lstrip("/") / "var" / "crash"
    return bed


def _mount_device(bed):
    return "mount -t ext4 -o rw,nodev,nosuid,noexec %s %s%s" % (bed.device, bed.root, DUMPDEV)


def test_device_target_mounts_the_device_saves_there_and_unmounts_it(dev_bed):
    out = dev_bed.run()
    (stamp,) = os.listdir(str(dev_bed.dumps))
    assert sorted(os.listdir(str(dev_bed.dumps / stamp))) == ["crashkit-capture.txt", "dmesg." + stamp, "dump." + stamp]
    calls = dev_bed.calls()
    # the root is never made writable: only the device is written
    assert calls[0] == _mount_device(dev_bed)
    assert calls[1].startswith("--dump-dmesg ") and calls[2] == "-c -d 31 -F %s" % dev_bed.vmcore
    assert calls[3:] == ["umount %s%s" % (dev_bed.root, DUMPDEV)]
    assert dev_bed.sysrq.read_text() == "b\n"
    assert "crashkit-capture: mounted the dump device %s on %s" % (DEVICE, DUMPDEV) in out
    assert "crashkit-capture: saved vmcore in %s/var/crash/%s" % (DUMPDEV, stamp) in out
    assert not dev_bed.crash_dirs()


def _device_fallback(bed, out, reason, mounted):
    assert "kdump-tools saves the dump" in out, out
    assert reason in _capture.parse_note((bed.rundir / "fallback").read_text())["fallback"]
    assert not bed.sysrq.exists()
    mounts = [c for c in bed.calls() if c.startswith(("mount", "umount"))]
    # mounted: unmounted again for the capture boot's own mount unit; the root never touched
    assert mounts == ([_mount_device(bed), "umount %s%s" % (bed.root, DUMPDEV)] if mounted else [])
    assert not [name for name in os.listdir(str(bed.dumps)) if os.listdir(str(bed.dumps / name)) != [
        "dmesg." + name]]


def test_device_target_without_its_device_is_left_to_kdump_tools(dev_bed):
    dev_bed.device.unlink()
    out = dev_bed.run()
    assert "waiting for the dump device %s" % DEVICE in out
    _device_fallback(dev_bed, out, "no dump device %s" % DEVICE, mounted=False)


def test_device_target_that_does_not_mount_is_left_to_kdump_tools(dev_bed):
    out = dev_bed.run(FAKE_MOUNT_FAIL="1")
    assert [c for c in dev_bed.calls() if c.startswith("mount")] == [_mount_device(dev_bed)]
    assert "kdump-tools saves the dump" in out and not dev_bed.sysrq.exists()
    assert "cannot mount %s (ext4) on %s" % (DEVICE, DUMPDEV) in _capture.parse_note(
        (dev_bed.rundir / "fallback").read_text())["fallback"]
    assert [c for c in dev_bed.calls() if c.startswith("umount")] == []


def test_device_target_mount_that_did_not_happen_is_undone(dev_bed):
    out = dev_bed.run(FAKE_MOUNT_UNLISTED="1")
    _device_fallback(dev_bed, out, "is not mounted on %s" % DUMPDEV, mounted=True)


def test_device_target_makedumpfile_failing_unmounts_the_device(dev_bed):
    out = dev_bed.run(FAKE_FAIL="1")
    _device_fallback(dev_bed, out, "makedumpfile failed", mounted=True)


@pytest.mark.parametrize("devconf, reason", [
    ("what=/dev/vdb\nwhere=%s\ntype=ext4\n" % DUMPDEV, "no dump device by its /dev/disk/by-* link"),
    ("what=/dev/disk/by-label/a b\nwhere=%s\ntype=ext4\n" % DUMPDEV, "names the dump device oddly"),
    ("what=/dev/disk/by-label/$(reboot)\nwhere=%s\ntype=ext4\n" % DUMPDEV, "names the dump device oddly"),
    ("what=%s\nwhere=%s\ntype=vfat\n" % (DEVICE, DUMPDEV), "no file system type"),
    ("what=%s\nwhere=/var/lib/crashkit/../crashkit/dumpdev\ntype=ext4\n" % DEVICE, "mount point oddly"),
    ("what=%s\nwhere=/\ntype=ext4\n" % DEVICE, "no mount point"),
    ("what=%s\ntype=ext4\n" % DEVICE, "no mount point"),
])
def test_device_target_recorded_oddly_is_left_to_kdump_tools(dev_bed, devconf, reason):
    dev_bed.devconf.write_text(devconf)
    out = dev_bed.run()
    _device_fallback(dev_bed, out, reason, mounted=False)


def test_device_mount_point_reached_through_a_link(dev_bed):
    shutil.rmtree(str(dev_bed.root / "var" / "lib" / "crashkit"))
    (dev_bed.root / "elsewhere" / "var" / "crash").mkdir(parents=True)
    os.symlink("../../elsewhere", str(dev_bed.root / "var" / "lib" / "crashkit"))
    (dev_bed.root / "var" / "lib" / "crashkit").resolve()
    out = dev_bed.run()
    assert "kdump-tools saves the dump" in out and not dev_bed.sysrq.exists()
    assert "reached through a link" in _capture.parse_note((dev_bed.rundir / "fallback").read_text())["fallback"]
    assert [c for c in dev_bed.calls() if c.startswith(("mount", "umount"))] == []


def test_a_target_no_longer_on_the_device_recorded_is_saved_as_it_is_now(dev_bed):
    # the target changed to local since the initramfs was built: what the hook recorded is not used
    (dev_bed.root / "etc" / "systemd" / "system" / "var-lib-crashkit-dumpdev.mount").unlink()
    dev_bed.conf.write_text("KDUMP_COREDIR=/var/crash\n")
    dev_bed.run()
    assert len(dev_bed.crash_dirs()) == 1 and dev_bed.sysrq.read_text() == "b\n"
    assert not [c for c in dev_bed.calls() if c.startswith(("mount -t", "umount"))]


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


# The SSH target: chroot runs the root's own ip and ssh; here a stand-in chroot runs stand-ins
# for them, and the stand-in ssh does to a directory what the dump server's receiver does with
# the commands kdump-config sends (mkdir -p, dd of=, mv).
CHROOT = """#!/bin/sh
root="$1"; cmd="$2"; shift 2
[ "$root" = "$FAKE_ROOT" ] || { echo "chroot into $root" >&2; exit 125; }
exec "$FAKE_BIN/in-root-$cmd" "$@"
"""
IN_ROOT_IP = """#!/bin/sh
echo "ip $*" >> "$FAKE_LOG"
[ -z "$FAKE_IP_FAIL" ]
"""
IN_ROOT_SSH = """#!/bin/sh
opts=""
while [ $# -gt 0 ]; do
    case "$1" in -i|-o) opts="$opts $1 $2"; shift 2 ;; *) break ;; esac
done
dest="$1"; shift
cmd="$*"
echo "ssh$opts $dest $cmd" >> "$FAKE_LOG"
[ -z "$FAKE_SSH_FAIL" ] || exit 255
case "$cmd" in
*"&&"*) ;;
"mkdir "*|"mv "*) ! read -r typed || echo "ssh sent the console's $typed" >> "$FAKE_LOG" ;;
esac
# the commands one by one, the first failure stops (as the receiver and a shell do with &&)
while [ -n "$cmd" ]; do
    one="${cmd%% && *}"
    if [ "$one" = "$cmd" ]; then cmd=""; else cmd="${cmd#* && }"; fi
    set -- $one
    case "$1 $2" in
    "mkdir -p") mkdir -p "$FAKE_SERVER$3" || exit 1 ;;
    "dd of="$FAKE_SSH_REFUSE) exit 2 ;;
    "dd "*) cat > "$FAKE_SERVER${2#of=}" || exit 1 ;;
    "mv "*) mv "$FAKE_SERVER$2" "$FAKE_SERVER$3" || exit 1 ;;
    *) exit 2 ;;
    esac
done
"""
IPCONFIG = """#!/bin/sh
echo "ipconfig $*" >> "$FAKE_LOG"
printf "DEVICE='ens4'\\nIPV4ADDR='10.0.2.15'\\nIPV4NETMASK='255.255.255.0'\\n" > "$FAKE_NETRUN/net-ens4.conf"
"""
MAC = "52:54:00:12:34:56"


@pytest.fixture
def ssh_bed(bed):
    """The bed with an SSH target: SSH and SSH_KEY in kdump-tools' settings, the way to the server
    the hook recorded, an interface with the recorded MAC address, the root's ssh."""
    fake = bed.tmp / "bin"
    for name, text in (("chroot", CHROOT), ("in-root-ip", IN_ROOT_IP), ("in-root-ssh", IN_ROOT_SSH),
                       ("umount", UMOUNT), ("ipconfig", IPCONFIG)):
        (fake / name).write_text(text)
        os.chmod(str(fake / name), 0o755)
    (bed.root / "usr" / "bin").mkdir(parents=True)
    (bed.root / "usr" / "bin" / "ssh").write_text("")
    os.chmod(str(bed.root / "usr" / "bin" / "ssh"), 0o755)
    (bed.root / "etc" / "hostname").write_text("client-1\n")
    for name, mac in (("lo", "00:00:00:00:00:00"), ("ens3", "52:54:00:aa:bb:cc"), ("ens4", MAC)):
        (bed.tmp / "sys" / "class" / "net" / name).mkdir(parents=True)
        (bed.tmp / "sys" / "class" / "net" / name / "address").write_text(mac + "\n")
    (bed.tmp / "conf").mkdir()
    bed.netconf = bed.tmp / "conf" / "crashkit-capture-net"
    bed.netconf.write_text("# recorded by the hook\nserver=10.0.0.1\nmac=%s\naddress=10.0.0.5/24\n" % MAC)
    bed.conf.write_text('KDUMP_COREDIR="/var/crash"\nMAKEDUMP_ARGS="-c -d 31"\n'
                        'SSH="kdumprecv@10.0.0.1"\nSSH_KEY=/root/.ssh/kdump_id_ed25519\n')
    bed.server = bed.tmp / "server"
    (bed.server / "var" / "crash").mkdir(parents=True)
    (bed.tmp / "run").mkdir(exist_ok=True)
    bed.env.update({"FAKE_BIN": str(fake), "FAKE_ROOT": str(bed.root), "FAKE_SERVER": str(bed.server),
                    "FAKE_NETRUN": str(bed.tmp / "run")})
    return bed


def _server_dirs(bed):
    return sorted(os.listdir(str(bed.server / "var" / "crash")))


def test_ssh_target_sends_kdump_tools_files_through_the_roots_own_ssh(ssh_bed):
    bed = ssh_bed
    out = bed.run()
    (name,) = _server_dirs(bed)
    assert re.match(r"\A10\.0\.0\.5-\d{12}\Z", name), name
    stamp = name.split("-", 1)[1]
    sent = bed.server / "var" / "crash" / name
    assert sorted(os.listdir(str(sent))) == ["crashkit-capture.txt", "dmesg." + stamp, "dump." + stamp]
    assert (sent / ("dump." + stamp)).read_text() == "KDUMP   flattened"
    assert "Kernel panic" in (sent / ("dmesg." + stamp)).read_text()
    assert _capture.parse_note((sent / "crashkit-capture.txt").read_text()) == {
        "saved_by": "crashkit-initramfs", "capture_uptime": 23.45}
    # nothing written on the host: the root stays read-only, nothing left in /var/crash
    assert bed.crash_dirs() == []
    calls = bed.calls()
    assert not [call for call in calls if call.startswith("mount -o remount")]
    opts = ("-i /root/.ssh/kdump_id_ed25519 -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=10 "
            "-o ServerAliveInterval=15 -o ServerAliveCountMax=4")
    where = "/var/crash/" + name
    # makedumpfile and ssh run side by side in a pipe: either may log first
    assert sorted(calls[5:7]) == sorted(["-c -d 31 -F %s" % bed.vmcore,
                                         "ssh %s kdumprecv@10.0.0.1 dd of=%s/dump-incomplete" % (opts, where)])
    # three ssh sessions: the directory with the kernel log, the dump, the note with the rename
    assert calls[:5] + calls[7:] == [
        "mount -o bind /dev %s/dev" % bed.root,
        "ip link set dev ens4 up",
        "ip -4 addr add 10.0.0.5/24 dev ens4",
        "--dump-dmesg %s %s/dmesg.%s" % (bed.vmcore, bed.rundir, stamp),
        "ssh %s kdumprecv@10.0.0.1 mkdir -p %s && dd of=%s/dmesg.%s" % (opts, where, where, stamp),
        "ssh %s kdumprecv@10.0.0.1 dd of=%s/crashkit-capture.txt && mv %s/dump-incomplete %s/dump.%s"
        % (opts, where, where, where, stamp),
        "umount %s/dev" % bed.root,
    ]
    assert bed.sysrq.read_text() == "b\n"
    assert "crashkit-capture: ens4 is up with 10.0.0.5" in out
    assert "crashkit-capture: saved vmcore in kdumprecv@10.0.0.1:%s" % where in out
    assert not (bed.rundir / "fallback").exists()


def test_ssh_target_by_name_through_a_gateway_with_the_hostname_tag(ssh_bed):
    bed = ssh_bed
    bed.netconf.write_text("server=10.0.0.1\nname=dumps.example.org\nmac=%s\naddress=192.0.2.7/25\n"
                           "gateway=192.0.2.1\ndhcp=0\n" % MAC)
    with open(str(bed.conf), "a") as handle:
        handle.write('SSH="kdumprecv@dumps.example.org"\nHOSTTAG=hostname\n')
    bed.run()
    (name,) = _server_dirs(bed)
    assert name.startswith("client-1-")
    calls = bed.calls()
    assert calls[1:4] == ["ip link set dev ens4 up", "ip -4 addr add 192.0.2.7/25 dev ens4",
                          "ip -4 route add 10.0.0.1 via 192.0.2.1 dev ens4"]
    # the recorded address, and the pinned host key still looked up by the name
    assert "-o HostName=10.0.0.1 -o HostKeyAlias=dumps.example.org kdumprecv@dumps.example.org mkdir" in calls[5]
    assert bed.sysrq.read_text() == "b\n"


def test_ssh_target_on_a_dhcp_interface(ssh_bed):
    bed = ssh_bed
    bed.netconf.write_text("server=10.0.0.1\nmac=%s\ndhcp=1\n" % MAC)
    out = bed.run()
    (name,) = _server_dirs(bed)
    assert name.startswith("10.0.2.15-")
    assert bed.calls()[1:3] == ["ip link set dev ens4 up", "ipconfig -t 15 -c dhcp -d ens4"]
    assert "asking DHCP for an address on ens4" in out and bed.sysrq.read_text() == "b\n"


def _ssh_fallback(bed, out, reason):
    assert "kdump-tools saves the dump" in out, out
    note = _capture.parse_note((bed.rundir / "fallback").read_text())
    assert note["saved_by"] == "kdump-tools" and reason in note["fallback"], note
    assert not bed.sysrq.exists()
    assert not [call for call in bed.calls() if call.startswith("mount -o remount")]


@pytest.mark.parametrize("netconf, conf, reason", [
    (None, "", "no way to the SSH server recorded"),
    ("server=10.0.0.1\nmac=%s\n" % MAC, "", "names no address of this host"),
    ("server=10.0.0.1;reboot\nmac=%s\naddress=10.0.0.5/24\n" % MAC, "", "names no server address"),
    ("server=10.0.0.1\nmac=52:54:00:00:00:01\naddress=10.0.0.5/24\n", "", "no network interface has"),
    ("server=10.0.0.1\nmac=%s\naddress=10.0.0.5/24\n" % MAC, 'SSH="-oProxyCommand=x@y"\n', "not a plain user@host"),
    ("server=10.0.0.1\nmac=%s\naddress=10.0.0.5/24\n" % MAC, "SSH_KEY='/root/my key'\n", "not a plain absolute path"),
], ids=["not-recorded", "no-address", "odd-server", "no-interface", "option-as-host", "odd-key"])
def test_ssh_target_it_cannot_take_is_left_to_kdump_tools_untouched(ssh_bed, netconf, conf, reason):
    bed = ssh_bed
    if netconf is None:
        bed.netconf.unlink()
    else:
        bed.netconf.write_text(netconf)
    with open(str(bed.conf), "a") as handle:
        handle.write(conf)
    out = bed.run()
    _ssh_fallback(bed, out, reason)
    # nothing brought up, nothing to undo
    assert bed.calls() == [] and _server_dirs(bed) == []


def test_ssh_target_without_ssh_on_the_root(ssh_bed):
    (ssh_bed.root / "usr" / "bin" / "ssh").unlink()
    out = ssh_bed.run()
    _ssh_fallback(ssh_bed, out, "no /usr/bin/ssh on the root")
    assert ssh_bed.calls() == []


def test_ssh_server_unreachable_undoes_the_network_for_kdump_tools(ssh_bed):
    bed = ssh_bed
    out = bed.run(FAKE_SSH_FAIL="1")
    _ssh_fallback(bed, out, "did not answer over ssh")
    calls = bed.calls()
    assert len([call for call in calls if call.startswith("ssh ")]) == 10
    assert "will try 1 more times" in out
    # the boot that goes on configures the network itself: the address is gone, the link down,
    # the root's /dev unbound
    assert calls[-3:] == ["ip -4 addr flush dev ens4", "ip link set dev ens4 down", "umount %s/dev" % bed.root]
    assert _server_dirs(bed) == []


def test_ssh_server_refusing_the_kernel_log_still_gets_the_dump(ssh_bed):
    bed = ssh_bed
    out = bed.run(FAKE_SSH_REFUSE="*/dmesg.*")
    (name,) = _server_dirs(bed)
    stamp = name.split("-", 1)[1]
    where = "/var/crash/" + name
    assert sorted(os.listdir(str(bed.server / "var" / "crash" / name))) == ["crashkit-capture.txt", "dump." + stamp]
    # refused (not unreachable): once more without the log, no waiting
    sessions = [call.split(" kdumprecv@10.0.0.1 ", 1)[1] for call in bed.calls() if call.startswith("ssh ")]
    assert sessions[:2] == ["mkdir -p %s && dd of=%s/dmesg.%s" % (where, where, stamp), "mkdir -p %s" % where]
    assert "failed to save dmesg content" in out and "not reachable" not in out
    assert bed.sysrq.read_text() == "b\n" and not (bed.rundir / "fallback").exists()


def test_ssh_server_refusing_the_note_still_gets_the_rename(ssh_bed):
    bed = ssh_bed
    out = bed.run(FAKE_SSH_REFUSE="*/crashkit-capture.txt")
    (name,) = _server_dirs(bed)
    stamp = name.split("-", 1)[1]
    assert sorted(os.listdir(str(bed.server / "var" / "crash" / name))) == ["dmesg." + stamp, "dump." + stamp]
    assert "could not send the capture note" in out and "saved vmcore in" in out
    assert bed.sysrq.read_text() == "b\n" and not (bed.rundir / "fallback").exists()


def test_ssh_coredir_a_remote_shell_would_read_is_left_to_kdump_tools(ssh_bed):
    with open(str(ssh_bed.conf), "a") as handle:
        handle.write("KDUMP_COREDIR='/var/crash/a;reboot'\n")
    out = ssh_bed.run()
    _ssh_fallback(ssh_bed, out, "characters the server's shell would read")
    assert ssh_bed.calls() == [] and _server_dirs(ssh_bed) == []


def test_ssh_makedumpfile_failing_is_left_to_kdump_tools(ssh_bed):
    bed = ssh_bed
    out = bed.run(FAKE_FAIL="1")
    _ssh_fallback(bed, out, "makedumpfile failed")
    (name,) = _server_dirs(bed)
    # the partial dump stays as dump-incomplete (the receiver removes nothing); never renamed
    sent = bed.server / "var" / "crash" / name
    assert sorted(os.listdir(str(sent)))[-1] == "dump-incomplete"
    # beside it, the reason: the server's evidence of this directory says kdump-tools saves the dump
    note = _capture.parse_note((sent / "crashkit-capture.txt").read_text())
    assert note["saved_by"] == "kdump-tools" and note["fallback"] == "makedumpfile failed", note
    assert not [call for call in bed.calls() if " mv " in call]
    assert bed.calls()[-3:] == ["ip -4 addr flush dev ens4", "ip link set dev ens4 down", "umount %s/dev" % bed.root]


def test_hook_leaves_every_other_initramfs_alone(tmp_path):
    result = subprocess.run(["/bin/sh", HOOK], env={"PATH": "/usr/bin:/bin", "CONFDIR": "/etc/initramfs-tools",
                                                    "DESTDIR": str(tmp_path)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert result.returncode == 0 and result.stdout == "" and os.listdir(str(tmp_path)) == []
    prereqs = subprocess.run(["/bin/sh", HOOK, "prereqs"], stdout=subprocess.PIPE, universal_newlines=True, check=False)
    assert prereqs.returncode == 0 and prereqs.stdout == "\n"


HOOK_FUNCTIONS = """
copy_exec() { echo "copy_exec $*" >> "$FAKE_LOG"; }
copy_file() { echo "copy_file $*" >> "$FAKE_LOG"; }
manual_add_modules() { echo "manual_add_modules $*" >> "$FAKE_LOG"; }
force_load() { manual_add_modules "$1"; echo "$@" >> "${DESTDIR}/conf/modules"; }  # as initramfs-tools has it
"""
FAKE_IP = """#!/bin/sh
case "$*" in
"-4 route get 10.0.0.1") printf '10.0.0.1 dev ens4 src 10.0.0.5 uid 0 \\n    cache \\n' ;;
"-4 route get 203.0.113.9") printf '203.0.113.9 via 192.0.2.1 dev ens4 src 10.0.0.5 uid 0 \\n    cache \\n' ;;
"-4 route get 10.9.9.9") printf '10.9.9.9 dev br0 src 10.9.9.2 uid 0 \\n    cache \\n' ;;
"-o -4 addr show dev ens4")
    printf '3: ens4    inet 10.0.0.5/24 brd 10.0.0.255 scope global %sens4\\\\       valid_lft forever\\n' "$FAKE_DYNAMIC"
    printf '3: ens4    inet 10.0.0.99/24 scope global secondary ens4\\\\       valid_lft forever\\n' ;;
*) echo "RTNETLINK answers: Network is unreachable" >&2; exit 2 ;;
esac
"""
FAKE_GETENT = """#!/bin/sh
[ "$*" = "ahostsv4 dumps.example.org" ] || exit 2
printf '203.0.113.9     STREAM dumps.example.org\\n203.0.113.9     DGRAM  \\n'
"""


class HookBed(object):
    """The hook run by dash against stand-ins of hook-functions, ip, getent and /sys/class/net."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.confdir = tmp_path / "kdump-initramfs-tools"
        self.dest = tmp_path / "initramfs"
        self.dest.mkdir()
        self.kdump_tools = tmp_path / "kdump-tools"
        fake = tmp_path / "hookbin"
        fake.mkdir()
        for name, text in (("ip", FAKE_IP), ("getent", FAKE_GETENT), ("makedumpfile", "#!/bin/sh\n")):
            (fake / name).write_text(text)
            os.chmod(str(fake / name), 0o755)
        (tmp_path / "hook-functions").write_text(HOOK_FUNCTIONS)
        sysnet = tmp_path / "sysnet"
        (sysnet / "ens4" / "device" / "driver").mkdir(parents=True)
        (tmp_path / "module" / "virtio_net").mkdir(parents=True)
        os.symlink(str(tmp_path / "module" / "virtio_net"), str(sysnet / "ens4" / "device" / "driver" / "module"))
        (sysnet / "ens4" / "address").write_text(MAC + "\n")
        (sysnet / "br0").mkdir()
        (sysnet / "br0" / "address").write_text("52:54:00:00:00:99\n")
        self.coredir = None  # KDUMP_COREDIR in the settings (_hook_device)
        self.log = tmp_path / "hook.log"
        self.env = {"PATH": "%s:/usr/sbin:/usr/bin:/sbin:/bin" % fake, "CONFDIR": str(self.confdir),
                    "DESTDIR": str(self.dest), "FAKE_LOG": str(self.log), "FAKE_DYNAMIC": "",
                    "CRASHKIT_HOOK_CONFDIR": str(self.confdir),
                    "CRASHKIT_HOOK_FUNCTIONS": str(tmp_path / "hook-functions"), "CRASHKIT_HOOK_SCRIPT": SCRIPT,
                    "CRASHKIT_HOOK_KDUMP_TOOLS": str(self.kdump_tools), "CRASHKIT_HOOK_SYSNET": str(sysnet)}

    def run(self, ssh=None, **env):
        self.kdump_tools.write_text('USE_KDUMP=1\n' + ('SSH="%s"\n' % ssh if ssh else "")
                                    + ("KDUMP_COREDIR=%s\n" % self.coredir if self.coredir else ""))
        result = subprocess.run(["/bin/sh", HOOK], env=dict(self.env, **env), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, universal_newlines=True, timeout=60, check=False)
        assert result.returncode == 0, result.stdout
        return result.stdout

    def netconf(self):
        return self.recorded("crashkit-capture-net")

    def devconf(self):
        return self.recorded("crashkit-capture-dev")

    def recorded(self, name):
        """The ``key=value`` lines the hook wrote to ``conf/<name>`` (``None``: no such file)."""
        path = self.dest / "conf" / name
        if not path.exists():
            return None
        return dict(line.split("=", 1) for line in path.read_text().splitlines() if not line.startswith("#"))

    def calls(self):
        return self.log.read_text().splitlines() if self.log.exists() else []


def test_hook_records_the_way_to_the_ssh_server_and_adds_the_cards_driver(tmp_path):
    hook = HookBed(tmp_path)
    out = hook.run("kdumprecv@10.0.0.1")
    assert hook.netconf() == {"server": "10.0.0.1", "mac": MAC, "address": "10.0.0.5/24", "dhcp": "0"}
    assert "the SSH capture reaches 10.0.0.1 on ens4 (%s) from 10.0.0.5/24" % MAC in out
    assert (hook.dest / "conf" / "modules").read_text() == "virtio_net\n"
    calls = hook.calls()
    assert "manual_add_modules virtio_net" in calls
    assert [c for c in calls if c.startswith("copy_exec") and ("/chroot " in c or "/umount " in c)]
    # and the capture script in both phases, as before
    assert "copy_file script %s /scripts/local-bottom/crashkit-capture" % SCRIPT in calls
    assert os.access(str(hook.confdir / "scripts" / "local-bottom" / "crashkit-capture"), os.X_OK)


def test_what_the_hook_records_is_what_the_capture_brings_up(ssh_bed, tmp_path):
    hook = HookBed(tmp_path)
    hook.run("kdumprecv@10.0.0.1")
    ssh_bed.env["CRASHKIT_CAPTURE_NETCONF"] = str(hook.dest / "conf" / "crashkit-capture-net")
    ssh_bed.run()
    assert ssh_bed.calls()[1:3] == ["ip link set dev ens4 up", "ip -4 addr add 10.0.0.5/24 dev ens4"]
    assert _server_dirs(ssh_bed)[0].startswith("10.0.0.5-") and ssh_bed.sysrq.read_text() == "b\n"


def test_hook_records_a_lease_as_dhcp_and_a_name_with_its_address_and_gateway(tmp_path):
    hook = HookBed(tmp_path)
    hook.run("kdumprecv@10.0.0.1", FAKE_DYNAMIC="dynamic ")
    assert hook.netconf()["dhcp"] == "1"
    hook.run("kdumprecv@dumps.example.org")
    assert hook.netconf() == {"server": "203.0.113.9", "name": "dumps.example.org", "mac": MAC,
                              "address": "10.0.0.5/24", "gateway": "192.0.2.1", "dhcp": "0"}


@pytest.mark.parametrize("ssh, warning", [
    ("kdumprecv@10.9.9.9", "10.9.9.9 is reached through br0, which is not a network card (a bridge, bond or VLAN?)"),
    ("kdumprecv@10.1.2.3", "no route to 10.1.2.3"),
    ("kdumprecv@nowhere.invalid", "no IPv4 address for nowhere.invalid"),
])
def test_hook_records_nothing_it_cannot_bring_up_and_says_so(tmp_path, ssh, warning):
    hook = HookBed(tmp_path)
    hook.run("kdumprecv@10.0.0.1")
    out = hook.run(ssh)
    assert "W: crashkit-capture: %s; the capture leaves SSH dumps to kdump-tools" % warning in out
    # an earlier build's record does not stay to be taken for this one
    assert hook.netconf() is None


def test_hook_local_target_records_no_network(tmp_path):
    hook = HookBed(tmp_path)
    out = hook.run()
    assert hook.netconf() is None and "crashkit-capture" not in out
    assert not [c for c in hook.calls() if c.startswith("manual_add_modules")]


def _hook_device(hook, what=DEVICE, disk="vdb", partition=None, coredir=DUMPDEV + "/var/crash"):
    """The setup role's mount unit for a dump device, the device's udev link and its disk in sysfs."""
    unit = hook.tmp / "var-lib-crashkit-dumpdev.mount"
    unit.write_text("[Unit]\nDescription=dump device\n\n[Mount]\nWhat=%s\nWhere=%s\nType=xfs\n"
                    "Options=nofail,nodev,nosuid,noexec\n" % (what, DUMPDEV))
    devs = hook.tmp / "devs"
    node = devs / "dev" / (partition or disk)
    node.parent.mkdir(parents=True, exist_ok=True)
    node.write_text("")
    link = devs / what.lstrip("/")
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(str(node), str(link))
    sysblock = hook.tmp / "sysblock"
    (sysblock / disk / "device" / "driver").mkdir(parents=True)
    (hook.tmp / "module" / "virtio_blk").mkdir(parents=True)
    os.symlink(str(hook.tmp / "module" / "virtio_blk"), str(sysblock / disk / "device" / "driver" / "module"))
    if partition:
        # as sysfs has it: /sys/class/block/vdb1 -> .../block/vdb/vdb1, its disk's device one up
        (sysblock / disk / partition).mkdir()
        os.symlink(str(sysblock / disk / partition), str(sysblock / partition))
    hook.env.update(CRASHKIT_HOOK_DEVICE_UNIT=str(unit), CRASHKIT_HOOK_DEVPREFIX=str(devs),
                    CRASHKIT_HOOK_SYSBLOCK=str(sysblock))
    hook.coredir = coredir


@pytest.mark.parametrize("partition", [None, "vdb1"], ids=["disk", "partition"])
def test_hook_records_the_dump_device_with_its_file_system_and_disk_driver(tmp_path, partition):
    hook = HookBed(tmp_path)
    _hook_device(hook, partition=partition)
    out = hook.run()
    assert hook.devconf() == {"what": DEVICE, "where": DUMPDEV, "type": "xfs"}
    assert "the capture mounts %s (xfs) on %s" % (DEVICE, DUMPDEV) in out
    calls = hook.calls()
    assert "manual_add_modules xfs" in calls and "manual_add_modules virtio_blk" in calls
    assert hook.netconf() is None


def test_what_the_hook_records_of_the_device_is_what_the_capture_mounts(dev_bed, tmp_path):
    (tmp_path / "hook").mkdir()
    hook = HookBed(tmp_path / "hook")
    _hook_device(hook)
    hook.run()
    dev_bed.env["CRASHKIT_CAPTURE_DEVCONF"] = str(hook.dest / "conf" / "crashkit-capture-dev")
    dev_bed.run()
    assert dev_bed.calls()[0] == "mount -t xfs -o rw,nodev,nosuid,noexec %s %s%s" % (dev_bed.device, dev_bed.root, DUMPDEV)
    assert dev_bed.sysrq.read_text() == "b\n"


def test_hook_device_records_nothing_when_the_dumps_go_elsewhere(tmp_path):
    hook = HookBed(tmp_path)
    _hook_device(hook, coredir="/var/crash")
    out = hook.run()
    assert hook.devconf() is None and "crashkit-capture" not in out
    assert not [c for c in hook.calls() if c.startswith("manual_add_modules")]


def test_hook_device_by_a_node_name_is_left_to_kdump_tools(tmp_path):
    hook = HookBed(tmp_path)
    _hook_device(hook)
    (hook.dest / "conf").mkdir()
    (hook.dest / "conf" / "crashkit-capture-dev").write_text("what=%s\n" % DEVICE)  # an earlier build's
    unit = tmp_path / "var-lib-crashkit-dumpdev.mount"
    unit.write_text(unit.read_text().replace("What=%s" % DEVICE, "What=/dev/vdb"))
    out = hook.run()
    assert "W: crashkit-capture: var-lib-crashkit-dumpdev.mount names no /dev/disk/by-* link (What=/dev/vdb); " \
           "the capture leaves device dumps to kdump-tools" in out
    assert hook.devconf() is None


def test_hook_device_not_there_now_is_recorded_with_a_warning(tmp_path):
    hook = HookBed(tmp_path)
    _hook_device(hook)
    os.unlink(str(tmp_path / "devs" / DEVICE.lstrip("/")))
    out = hook.run()
    assert "no driver found for %s now" % DEVICE in out
    assert hook.devconf() == {"what": DEVICE, "where": DUMPDEV, "type": "xfs"}
    assert "manual_add_modules xfs" in hook.calls()


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
