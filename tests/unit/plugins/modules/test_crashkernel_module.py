# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the real module's main() against files in a temporary directory."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import os
import shutil
import struct

import pytest

from ansible_collections.crashkit.kdump.plugins.modules import crashkernel as module
from ansible_collections.crashkit.kdump.tests.unit.plugins import module_run

M = 1 << 20
FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "crashkernel")
DEBIAN12_CMDLINE = "BOOT_IMAGE=/boot/vmlinuz-6.1.0-56-amd64 root=UUID=0a86 ro console=ttyS0,115200  {}\n"


run_module = functools.partial(module_run.run_module, module)


def bzimage(path, init_size, total=8 * M):
    header = bytearray(0x1000)
    header[0x202:0x206] = b"HdrS"
    header[0x206:0x208] = struct.pack("<H", 0x020f)
    header[0x260:0x264] = struct.pack("<I", init_size)
    with open(path, "wb") as handle:
        handle.write(bytes(header))
        handle.truncate(total)


@pytest.fixture
def host(tmp_path):
    """A Debian 12 guest with 1 GiB: fixture iomem, 256M reserved, kernel and kdump initrd."""
    files = {
        "cmdline": DEBIAN12_CMDLINE.format("crashkernel=256M"),
        "crash_size": "268435456\n",
        "meminfo": "MemTotal:         737000 kB\nMemFree: 1 kB\n",
        "os-release": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n',
        "mounts": "/dev/vda1 / ext4 rw 0 0\nproc /proc proc rw 0 0\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    shutil.copy(os.path.join(FIXTURES, "qemu-pc-1g-crash256.iomem"), str(tmp_path / "iomem"))
    bzimage(str(tmp_path / "vmlinuz"), 44 * M)
    with open(str(tmp_path / "initrd.img"), "wb") as handle:
        handle.truncate(30 * M)
    (tmp_path / "block" / "vda1").mkdir(parents=True)
    return tmp_path


def args_for(host, **extra):
    args = {
        "proc_cmdline_path": str(host / "cmdline"),
        "kexec_crash_size_path": str(host / "crash_size"),
        "iomem_path": str(host / "iomem"),
        "meminfo_path": str(host / "meminfo"),
        "os_release_path": str(host / "os-release"),
        "mounts_path": str(host / "mounts"),
        "sys_class_block_path": str(host / "block"),
        "kernel_release": "6.1.0-56-amd64",
        "kernel_path": str(host / "vmlinuz"),
        "initrd_path": str(host / "initrd.img"),
        "arch": "x86_64",
    }
    args.update(extra)
    return args


def test_estimate_on_debian12_guest(capsys, host):
    result = run_module(capsys, args_for(host))
    assert result["rc"] == 0, result
    assert result["changed"] is False
    assert result["system_ram_source"] == "iomem"
    assert result["system_ram_mb"] == 1023
    assert result["distribution"] == "debian 12"
    assert result["current"] == "256M" and result["current_mb"] == 256
    assert result["reserved_mb"] == 256
    breakdown = result["estimate_breakdown"]
    assert breakdown["kernel_mb"] == 44
    assert breakdown["layout"] == "initramfs-tools"
    assert breakdown["inputs"]["kernel"].startswith("bzImage init_size")
    assert breakdown["inputs"]["luks"] == "no dm-crypt found"
    assert 128 <= breakdown["total_mb"] <= 198
    # 256M is configured: the estimate asks for less, so nothing changes without allow_shrink.
    assert result["policy_value"] == "%dM" % breakdown["total_mb"]
    assert result["action"] == "none"
    assert result["recommended"] == "256M" and result["recommended_mb"] == 256
    assert result["reboot_required"] is False
    assert "allow_shrink is false" in result["reason"]


def test_estimate_shrink_allowed(capsys, host):
    result = run_module(capsys, args_for(host, allow_shrink=True))
    assert result["action"] == "shrink"
    assert result["recommended"] == result["policy_value"]
    assert result["recommended_mb"] < 256
    assert result["reboot_required"] is True
    assert "a reboot is needed" in result["reason"]


def test_check_mode_gives_the_same_answer(capsys, host):
    normal = run_module(capsys, args_for(host, allow_shrink=True))
    checked = run_module(capsys, args_for(host, allow_shrink=True, _ansible_check_mode=True))
    for key in ("recommended", "recommended_mb", "action", "reboot_required", "reason", "estimate_breakdown"):
        assert checked[key] == normal[key]
    assert checked["changed"] is False


def test_debian12_stock_cmdline_grows_with_estimate(capsys, host):
    (host / "cmdline").write_text(DEBIAN12_CMDLINE.format("crashkernel=384M-:128M"))
    (host / "crash_size").write_text("134217728\n")
    result = run_module(capsys, args_for(host))
    assert result["current"] == "384M-:128M" and result["current_mb"] == 128
    assert result["action"] == "grow"
    assert result["recommended"] == result["policy_value"]
    assert result["recommended_mb"] > 128
    assert result["reboot_required"] is True


def test_set_when_nothing_on_cmdline(capsys, host):
    (host / "cmdline").write_text(DEBIAN12_CMDLINE.format(""))
    (host / "crash_size").write_text("0\n")
    result = run_module(capsys, args_for(host, policy="distro_default"))
    assert result["current"] is None and result["current_mb"] == 0 and result["reserved_mb"] == 0
    assert result["recommended"] == "384M-:128M"
    assert result["recommended_mb"] == 128
    assert result["action"] == "set"
    assert result["reboot_required"] is True
    assert "kdump-tools 1:1.8.1" in result["policy_source"]
    assert "estimate_breakdown" not in result


def test_distro_default_already_in_effect(capsys, host):
    (host / "cmdline").write_text(DEBIAN12_CMDLINE.format("crashkernel=384M-:128M"))
    (host / "crash_size").write_text("134217728\n")
    result = run_module(capsys, args_for(host, policy="distro_default"))
    assert (result["action"], result["reboot_required"]) == ("none", False)
    assert "already reserves 128M" in result["reason"]


def test_distro_default_floor_applies(capsys, host):
    (host / "cmdline").write_text(DEBIAN12_CMDLINE.format("crashkernel=384M-:128M"))
    result = run_module(capsys, args_for(host, policy="distro_default", floor_mb=192))
    assert result["recommended"] == "384M-:192M"
    assert result["action"] == "grow"


def test_distro_default_for_another_host(capsys, host):
    result = run_module(capsys, args_for(host, policy="distro_default", distribution="RedHat",
                                         distribution_major_version="9", total_memory_mb=65536))
    assert result["system_ram_source"] == "option"
    assert result["recommended"] == "1G-4G:192M,4G-64G:256M,64G-:512M"
    assert result["recommended_mb"] == 512
    assert result["action"] == "grow"


def test_fixed_with_prefix_and_high(capsys, host):
    (host / "cmdline").write_text(DEBIAN12_CMDLINE.format("crashkernel=512M,high crashkernel=72M,low"))
    (host / "crash_size").write_text("536870912\n")
    result = run_module(capsys, args_for(host, policy="fixed", size="crashkernel=512M,high", total_memory_mb=8192))
    assert result["current"] == "512M,high" and result["low_mb"] == 72
    assert result["recommended"] == "512M,high"
    assert (result["action"], result["reboot_required"]) == ("none", False)


def test_fixed_rejects_invalid_size(capsys, host):
    result = run_module(capsys, args_for(host, policy="fixed", size="1G-512M:64M"))
    assert result["failed"] is True
    assert "the end 512M is not above the start 1G" in result["msg"]


def test_fixed_requires_size(capsys, host):
    result = run_module(capsys, args_for(host, policy="fixed"))
    assert result["failed"] is True
    assert "size" in result["msg"]


def test_invalid_current_value_means_set(capsys, host):
    (host / "cmdline").write_text(DEBIAN12_CMDLINE.format("crashkernel=128M-"))
    result = run_module(capsys, args_for(host, policy="fixed", size="256M"))
    assert result["current"] == "128M-"
    assert "a RAM range needs" in result["current_error"]
    assert result["action"] == "set"
    assert "is invalid" in result["reason"]


def test_meminfo_fallback_when_iomem_hidden(capsys, host):
    shutil.copy(os.path.join(FIXTURES, "nonroot-view.iomem"), str(host / "iomem"))
    result = run_module(capsys, args_for(host, policy="fixed", size="1G-2G:160M", allow_shrink=True))
    assert result["system_ram_source"] == "meminfo"
    assert result["system_ram_mb"] == 737000 // 1024 + 256
    # 975M rounds up to 1G for the kernel's range match.
    assert result["recommended_mb"] == 160


def test_luks_auto_finds_dm_crypt_below_lvm(capsys, host):
    (host / "mounts").write_text("/dev/mapper/vg-root / ext4 rw 0 0\n")
    for name, uuid, dm_name in (("dm-1", "LVM-abc", "vg-root"), ("dm-0", "CRYPT-LUKS2-xyz", "luks-xyz")):
        (host / "block" / name / "dm").mkdir(parents=True)
        (host / "block" / name / "dm" / "uuid").write_text(uuid + "\n")
        (host / "block" / name / "dm" / "name").write_text(dm_name + "\n")
    (host / "block" / "dm-1" / "slaves" / "dm-0").mkdir(parents=True)
    result = run_module(capsys, args_for(host, luks_memory_mb=512, allow_shrink=True))
    assert result["estimate_breakdown"]["inputs"]["luks"] == "dm-crypt under /"
    assert result["estimate_breakdown"]["luks_mb"] == 532
    assert result["recommended_mb"] >= 532
    assert result["action"] == "grow"


def test_luks_that_does_not_fit_fails(capsys, host):
    result = run_module(capsys, args_for(host, luks="true"))
    assert result["failed"] is True
    assert "does not fit in this host's 1023M of RAM" in result["msg"]


def test_ceiling_and_network_target(capsys, host):
    result = run_module(capsys, args_for(host, target_type="nfs", luks="false", ceiling_mb=160, allow_shrink=True))
    assert result["estimate_breakdown"]["network_mb"] == 48
    assert result["estimate_breakdown"]["clamped_by"] == "ceiling_mb"
    assert result["recommended"] == "160M"


def test_debian13_unpacked_size_file_is_used(capsys, host):
    kdump = host / "kdump"
    kdump.mkdir()
    with open(str(kdump / "initrd.img-6.1.0-56-amd64"), "wb") as handle:
        handle.truncate(20 * M)
    (kdump / "size_initrd.img-6.1.0-56-amd64").write_text("51\n")
    result = run_module(capsys, args_for(host, initrd_path=str(kdump / "initrd.img-6.1.0-56-amd64")))
    breakdown = result["estimate_breakdown"]
    assert breakdown["initramfs_unpacked_mb"] == 51
    assert breakdown["initramfs_unpacked_source"] == "measured"


def test_missing_cmdline_fails(capsys, host):
    result = run_module(capsys, args_for(host, proc_cmdline_path=str(host / "nope")))
    assert result["failed"] is True
    assert "does not exist" in result["msg"]


@pytest.mark.parametrize("extra, message", [
    ({"floor_mb": -1}, "floor_mb must not be negative"),
    ({"capture_cpus": 0}, "capture_cpus must be at least 1"),
    ({"policy": "distro_default", "distribution": "Gentoo", "distribution_major_version": "2"},
     "no published crashkernel default for distribution 'Gentoo'"),
])
def test_option_errors(capsys, host, extra, message):
    result = run_module(capsys, args_for(host, **extra))
    assert result["failed"] is True
    assert message in result["msg"]
