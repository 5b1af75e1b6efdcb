# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Device targets on debian: kdump-tools has none, so crashkit mounts the device with a systemd
mount unit and makes the capture boot mount it (or reboot without writing elsewhere). The model,
the files, reading them back and the readiness report."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import subprocess

import pytest
import yaml

from ansible_collections.crashkit.kdump.plugins.module_utils import _kdumpconf as kc
from ansible_collections.crashkit.kdump.plugins.module_utils import _readiness as rd
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import ValidationError

LABEL = {"type": "device", "device": "LABEL=crashdump", "fstype": "ext4"}


def settings(target, **options):
    return kc.build_settings("debian", target=target, **options)


def values(text):
    return dict(kc.parse_shell_assignments(text))


@pytest.mark.parametrize("target,message", [
    (dict(LABEL, device="/dev/sdb1"), "can name another disk after a reboot"),
    (dict(LABEL, device="/dev/vdb"), "can name another disk after a reboot"),
    (dict(LABEL, device="LABEL=a/b"), "no /dev/disk/by-\\* link with / or :"),
    (dict(LABEL, device="PARTLABEL=x:y"), "no /dev/disk/by-\\* link with / or :"),
    (dict(LABEL, fstype="raw"), "one of ext2, ext3, ext4, xfs, btrfs"),
    (dict(LABEL, fstype="minix"), "one of ext2, ext3, ext4, xfs, btrfs"),
    (dict(LABEL, fstype=None), "one of ext2"),
    (dict(LABEL, device=None), "need target.device"),
    (dict(LABEL, path="/var/crash dir"), "absolute path"),
])
def test_debian_device_refused(target, message):
    with pytest.raises(ValidationError, match=message):
        settings(target)


def test_suse_device_refused():
    with pytest.raises(ValidationError, match="on suse mount the file system from /etc/fstab"):
        kc.build_settings("suse", target=LABEL)


@pytest.mark.parametrize("path,coredir", [
    (None, "/var/lib/crashkit/dumpdev/var/crash"),
    ("/var/crash", "/var/lib/crashkit/dumpdev/var/crash"),
    ("/", "/var/lib/crashkit/dumpdev"),
    ("/dumps/", "/var/lib/crashkit/dumpdev/dumps"),
    ("/a/./b", "/var/lib/crashkit/dumpdev/a/b"),
])
def test_debian_device_coredir(path, coredir):
    s = settings(dict(LABEL, path=path))
    text = kc.render(s)
    assert values(text)["KDUMP_COREDIR"] == coredir
    assert kc.local_dump_dir(s) == coredir
    assert "NFS" not in values(text) and "SSH" not in values(text)


def test_debian_device_keeps_dumps_like_local():
    assert values(kc.render(settings(LABEL, keep_local_dumps=3)))["KDUMP_NUM_DUMPS"] == "3"
    with pytest.raises(ValidationError, match="local targets only"):
        kc.build_settings("debian", target={"type": "nfs", "host": "srv", "path": "/x"}, keep_local_dumps=3)


@pytest.mark.parametrize("device,link", [
    ("LABEL=crashdump", "/dev/disk/by-label/crashdump"),
    ("UUID=0b1c5f5e-0e2b-4c1b-9a55-3a7a0d1f2c3d", "/dev/disk/by-uuid/0b1c5f5e-0e2b-4c1b-9a55-3a7a0d1f2c3d"),
    ("PARTUUID=6f1c-02", "/dev/disk/by-partuuid/6f1c-02"),
    ("PARTLABEL=kdump", "/dev/disk/by-partlabel/kdump"),
    ("/dev/disk/by-id/virtio-dump", "/dev/disk/by-id/virtio-dump"),
])
def test_device_link_and_back(device, link):
    assert kc.device_link(device) == link
    assert kc.device_spec(link) == device


def test_device_units_content():
    units = kc.device_units(settings(dict(LABEL, device="UUID=0b1c")))
    assert [u["path"] for u in units] == [kc.DEBIAN_DEVICE_UNIT_PATH, kc.DEBIAN_DEVICE_DROPIN]
    mount = kc.parse_mount_unit(units[0]["content"])
    assert mount == {"what": "/dev/disk/by-uuid/0b1c", "where": kc.DEBIAN_DEVICE_MOUNT, "type": "ext4",
                     "device": "UUID=0b1c"}
    lines = units[0]["content"].splitlines()
    assert "Options=nofail,nodev,nosuid,noexec" in lines
    assert "WantedBy=local-fs.target" in lines
    dropin = units[1]["content"].splitlines()
    assert "Wants=%s" % kc.DEBIAN_DEVICE_UNIT in dropin
    assert "After=%s" % kc.DEBIAN_DEVICE_UNIT in dropin
    assert "FailureAction=reboot-force" in dropin
    assert "ExecStartPre=mountpoint -q %s" % kc.DEBIAN_DEVICE_MOUNT in dropin


@pytest.mark.parametrize("family,target", [
    ("debian", {"type": "local"}),
    ("debian", {"type": "nfs", "host": "srv", "path": "/x"}),
    ("redhat", LABEL),
])
def test_no_units_for_other_targets(family, target):
    s = kc.build_settings(family, target=target)
    assert kc.device_units(s) == []
    if family == "redhat":
        assert kc.local_dump_dir(s) is None


def test_unit_name_is_systemds_own_name_for_the_mount_point():
    escape = shutil.which("systemd-escape")
    if escape is None:
        pytest.skip("systemd-escape is not installed")
    out = subprocess.check_output([escape, "--path", "--suffix=mount", kc.DEBIAN_DEVICE_MOUNT])
    assert out.decode().strip() == kc.DEBIAN_DEVICE_UNIT
    assert kc.DEBIAN_DEVICE_UNIT_PATH.endswith("/" + kc.DEBIAN_DEVICE_UNIT)


def test_systemd_accepts_the_mount_unit(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    unit = kc.device_units(settings(LABEL))[0]
    path = tmp_path / kc.DEBIAN_DEVICE_UNIT
    path.write_text(unit["content"])
    proc = subprocess.run([analyze, "verify", "--man=no", str(path)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, check=False)
    text = proc.stdout.decode()
    # (a unit with a misspelt key or a name that does not match its Where= fails here)
    assert proc.returncode == 0 and "Unknown key" not in text, text


@pytest.mark.parametrize("path,expected", [
    (None, "/var/crash"),
    ("/dumps", "/dumps"),
    ("/", "/"),
])
def test_parse_config_reads_the_device_target_back(path, expected):
    text = kc.render(settings(dict(LABEL, path=path)))
    target = kc.parse_config("debian", text)["target"]
    assert target == {"type": "device", "path": expected, "mountpoint": kc.DEBIAN_DEVICE_MOUNT,
                      "dump_dir": kc.local_dump_dir(settings(dict(LABEL, path=path)))}
    again = settings(dict(LABEL, path=target["path"]), existing_text=text)
    assert kc.render(again) == text


def test_parse_mount_unit_reads_the_mount_section_only():
    text = ("[Unit]\nWhat=/dev/wrong\n[Mount]\n# What=/dev/comment\nWhat = /dev/disk/by-label/x\n"
            "Where=/var/lib/crashkit/dumpdev\nType=xfs\n[Install]\nType=other\n")
    assert kc.parse_mount_unit(text) == {"what": "/dev/disk/by-label/x", "where": "/var/lib/crashkit/dumpdev",
                                         "type": "xfs", "device": "LABEL=x"}
    assert kc.parse_mount_unit("") == {}


# /proc/self/mountinfo of a Debian 12 guest with the dump device mounted (lab VM, 2026-12-04)
MOUNTINFO = (
    "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
    "23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
    "61 22 254:16 / /var/lib/crashkit/dumpdev rw,nosuid,nodev,noexec,relatime shared:33 - ext4 /dev/vdb rw\n"
)


@pytest.mark.parametrize("text,point,expected", [
    (MOUNTINFO, "/var/lib/crashkit/dumpdev", ("/dev/vdb", "ext4")),
    (MOUNTINFO, "/", ("/dev/vda1", "ext4")),
    (MOUNTINFO, "/var/lib/crashkit", None),
    ("", "/var/lib/crashkit/dumpdev", None),
    # optional fields vary in number; a mount over a mount: the last one counts
    (MOUNTINFO + "70 61 0:40 / /var/lib/crashkit/dumpdev rw - tmpfs tmpfs rw\n",
     "/var/lib/crashkit/dumpdev", ("tmpfs", "tmpfs")),
    # a line without the separator is ignored, not an error
    ("61 22 254:16 / /var/lib/crashkit/dumpdev rw shared:33 ext4 /dev/vdb rw x\n", "/var/lib/crashkit/dumpdev", None),
])
def test_mount_source(text, point, expected):
    assert rd.mount_source(text, point) == expected


def _state(unit_text, mountinfo):
    text = kc.render(settings(LABEL))
    target = kc.parse_config("debian", text)["target"]
    space = {"path": target["dump_dir"], "checked": "/var/lib/crashkit/dumpdev", "free_bytes": 1 << 30,
             "free_mb": 1024, "room": True}
    return rd.device_target_state(target, unit_text, mountinfo, space)


def _problems(space):
    report = {
        "crash_kernel": {"mode": "kdump", "loaded": True, "reserved_bytes": 256 << 20},
        "service": {"name": "kdump-tools", "enabled": "enabled"},
        "config": {"exists": True, "path": "/etc/default/kdump-tools", "enabled": True, "compression": None},
        "makedumpfile": {"path": "/usr/bin/makedumpfile"},
        "dump_dir": space,
        "dump_size": {"source": "estimate", "expected_mb": 100, "dump_level": 31},
    }
    return rd.problems(report, "/sys", 0.1)


def test_device_state_mounted():
    target, space = _state(kc.device_units(settings(LABEL))[0]["content"], MOUNTINFO)
    assert target["device"] == "LABEL=crashdump" and target["fstype"] == "ext4"
    assert space["mounted"] is True and space["source"] == "/dev/vdb" and space["unit"] is True
    assert _problems(space) == []


def test_device_state_not_mounted_is_a_problem():
    _target, space = _state(kc.device_units(settings(LABEL))[0]["content"], MOUNTINFO.splitlines()[0] + "\n")
    assert space["mounted"] is False
    assert _problems(space) == [
        "The dump device LABEL=crashdump is not mounted on /var/lib/crashkit/dumpdev: the capture would "
        "reboot without a dump (is the disk there? systemctl status var-lib-crashkit-dumpdev.mount)."]


def test_device_state_without_unit_is_a_problem():
    target, space = _state(None, MOUNTINFO)
    assert target["device"] is None and space["unit"] is False
    assert len(_problems(space)) == 1 and "has no mount unit" in _problems(space)[0]


def test_the_setup_role_removes_the_files_kdump_config_writes():
    """roles/setup/vars/Debian.yml names the two files: config.yml enables the mount unit and
    makes the drop-in's directory by these names, and takes them away when the target is no
    longer a device; they must be the paths kdump_config returns for one."""
    root = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..")
    with open(os.path.join(root, "roles", "setup", "vars", "Debian.yml")) as handle:
        role = yaml.safe_load(handle)
    paths = [u["path"] for u in kc.device_units(settings(LABEL))]
    assert [role["__kdump_device_unit_path"], role["__kdump_device_dropin_path"]] == paths
