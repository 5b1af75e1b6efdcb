# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the real kdump_info main() against a host tree in a temporary directory."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import os
import stat

import pytest
from ansible.module_utils import _internal
from ansible.module_utils.common import warnings as _warnings

from ansible_collections.crashkit.kdump.plugins.module_utils import _crashkernel as ck
from ansible_collections.crashkit.kdump.plugins.module_utils import _hostprobe as hostprobe
from ansible_collections.crashkit.kdump.plugins.module_utils import _kdumpconf as kc
from ansible_collections.crashkit.kdump.plugins.modules import kdump_info as module
from ansible_collections.crashkit.kdump.tests.unit.plugins import module_run

FIXTURES = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "kdumpconf"))
EFI_GUID = "8be4df61-93ca-11d2-aa0d-00e098032b8c"
M = 1 << 20


@pytest.fixture(autouse=True)
def module_side_warnings(monkeypatch):
    """Module warnings into the result, as on a managed host (see test_kdump_config.py), and
    none left over from an earlier module run in this process."""
    monkeypatch.setattr(_internal, "is_controller", False)
    _warnings._global_warnings.clear()


def warnings(result):
    return [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]


run_module = functools.partial(module_run.run_module, module)


def stub(path, script):
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return str(path)


def build_tree(root, listing):
    with open(os.path.join(FIXTURES, listing)) as handle:
        lines = handle.read().splitlines()
    for line in lines:
        if not line or line.startswith("#"):
            continue
        fields = line.split("\t")
        path = os.path.join(str(root), fields[0])
        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path))
        with open(path, "wb") as handle:
            if fields[1].startswith("file:"):
                with open(os.path.join(FIXTURES, fields[1][5:]), "rb") as source:
                    handle.write(source.read())
            else:
                handle.truncate(int(fields[1]))
        os.utime(path, (int(fields[2]), int(fields[2])))


@pytest.fixture
def host(tmp_path):
    """A Debian 12 host with 1 GiB, 256M reserved and loaded, a managed kdump-tools file that
    dumps to <tmp>/crash (holding the Debian dump tree), and stubs printing real outputs."""
    sysfs = tmp_path / "sys"
    (sysfs / "kernel").mkdir(parents=True)
    (sysfs / "kernel" / "kexec_crash_loaded").write_text("1\n")
    (sysfs / "kernel" / "kexec_crash_size").write_text("268435456\n")
    efivars = sysfs / "firmware" / "efi" / "efivars"
    efivars.mkdir(parents=True)
    (efivars / ("SecureBoot-" + EFI_GUID)).write_bytes(b"\x06\x00\x00\x00\x01")
    (efivars / ("SetupMode-" + EFI_GUID)).write_bytes(b"\x06\x00\x00\x00\x00")
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "meminfo").write_text("MemTotal:         737000 kB\nMemFree:          500000 kB\n")
    (tmp_path / "os-release").write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n')
    crash = tmp_path / "crash"
    build_tree(crash, "crash-tree-debian.txt")
    settings = kc.build_settings("debian", target={"type": "local", "path": str(crash)})
    (tmp_path / "kdump-tools").write_text(kc.render(settings))
    bins = tmp_path / "bin"
    bins.mkdir()
    stub(bins / "makedumpfile",
         'case "$1" in\n'
         '-v) cat "%s/makedumpfile-1.7.2-debian12.version" ;;\n'
         '--mem-usage) cat "%s/${MEM_USAGE_FIXTURE:-makedumpfile-mem-usage-arm64-6.5.out}" ;;\n'
         '*) exit 2 ;;\nesac\n' % (FIXTURES, FIXTURES))
    stub(bins / "systemctl", 'case "$1" in is-enabled) echo enabled ;; is-active) echo active ;; esac\n')
    stub(bins / "mokutil", 'echo "SecureBoot disabled"\n')
    return tmp_path


def args_for(host, **extra):
    args = {
        "os_release_path": str(host / "os-release"),
        "config_path": str(host / "kdump-tools"),
        "sysfs_root": str(host / "sys"),
        "proc_root": str(host / "proc"),
        "makedumpfile_path": str(host / "bin" / "makedumpfile"),
        "systemctl_path": str(host / "bin" / "systemctl"),
        "mokutil_path": str(host / "bin" / "mokutil"),
        "capture_note": str(host / "capture-fallback"),
    }
    args.update(extra)
    return args


def test_ready_host(capsys, host):
    result = run_module(capsys, args_for(host))
    assert result["rc"] == 0, result
    assert result["problems"] == []
    assert result["ready"] is True
    assert result["changed"] is False
    assert result["family"] == "debian"
    assert result["crash_kernel"] == {"loaded": True, "mode": "kdump", "reserved_bytes": 256 * M, "reserved_mb": 256}
    assert result["service"] == {"name": "kdump-tools", "enabled": "enabled", "active": "active"}
    config = result["config"]
    assert config["managed"] is True and config["exists"] is True and config["enabled"] is True
    assert config["target"] == {"type": "local", "path": str(host / "crash")}
    assert (config["compression"], config["dump_level"]) == ("zlib", 31)
    assert result["makedumpfile"]["version"] == "1.7.2"
    assert result["dump_size"] == {"dump_level": 31, "source": "mem_usage", "expected_bytes": 459950 * 4096,
                                   "expected_mb": 1797}
    assert result["dump_dir"]["checked"] == str(host / "crash")
    assert result["dump_dir"]["room"] is (result["dump_dir"]["free_bytes"] >= 459950 * 4096)
    assert result["secure_boot"]["enabled"] is False and result["secure_boot"]["source"] == "mokutil"
    assert [(d["name"], d["complete"]) for d in result["dumps"]] == [
        ("202403011230", True), ("202403021015", False), ("202403031100", True), ("202403041200", False),
        ("202403051300", True)]
    crashkernel = result["crashkernel"]
    assert crashkernel["reserved_mb"] == 256
    value, _source = ck.distro_default("debian", "12", ck.normalize_arch(os.uname()[4]))
    assert crashkernel["recommended"] == value
    assert "kdump-tools" in crashkernel["source"]
    assert result["advisories"] == [] and warnings(result) == []


@pytest.mark.parametrize("note, expected", [
    (None, None),
    ("saved_by=kdump-tools\nfallback=kdumprecv@10.77.0.12 did not answer over ssh\ntime=1764950000\n",
     {"saved_by": "kdump-tools", "fallback": "kdumprecv@10.77.0.12 did not answer over ssh", "time": 1764950000}),
    # unknown keys and a bad value left out; a note without its time tells of no capture boot
    ("saved_by=kdump-tools\nfallback=no dump device\x1b[2J\nevil=1\ntime=1764950000\n",
     {"saved_by": "kdump-tools", "fallback": None, "time": 1764950000}),
    ("saved_by=kdump-tools\nfallback=no dump device\n", None),
    ("saved_by=crashkit-initramfs\ntime=1764950000\n", None),
    ("link", None),
])
def test_the_lean_captures_fallback_note(capsys, host, note, expected):
    if note == "link":
        (host / "elsewhere").write_text("saved_by=kdump-tools\nfallback=x\ntime=1764950000\n")
        (host / "capture-fallback").symlink_to(host / "elsewhere")
    elif note is not None:
        (host / "capture-fallback").write_text(note)
    result = run_module(capsys, args_for(host))
    assert result["rc"] == 0, result
    assert result["capture_fallback"] == expected


def test_check_mode_reports_the_same(capsys, host):
    normal = run_module(capsys, args_for(host))
    checked = run_module(capsys, args_for(host, _ansible_check_mode=True))
    for key in ("ready", "problems", "crash_kernel", "config", "dumps", "dump_size"):
        assert checked[key] == normal[key]


def test_not_loaded_not_reserved_disabled(capsys, host, monkeypatch):
    (host / "sys" / "kernel" / "kexec_crash_loaded").write_text("0\n")
    (host / "sys" / "kernel" / "kexec_crash_size").write_text("0\n")
    stub(host / "bin" / "systemctl", 'case "$1" in is-enabled) echo disabled; exit 1 ;; '
                                     'is-active) echo inactive; exit 3 ;; esac\n')
    monkeypatch.setenv("MEM_USAGE_FIXTURE", "makedumpfile-1.7.2-mem-usage-no-crashkernel.out")
    result = run_module(capsys, args_for(host))
    assert result["ready"] is False
    assert result["problems"][:3] == [
        "No crash kernel is loaded (%s/kernel/kexec_crash_loaded is 0): a panic now would not be captured."
        % (host / "sys"),
        "No memory is reserved for the crash kernel: add crashkernel= to the kernel command line and reboot.",
        "kdump-tools.service is disabled: the crash kernel will not be loaded after the next boot.",
    ]
    size = result["dump_size"]
    assert size["source"] == "estimate"
    assert size["expected_bytes"] == int(737000 * 1024 * 0.25)
    assert "No memory is reserved for crashkernel" in size["mem_usage_error"]


def test_no_room(capsys, host, monkeypatch):
    monkeypatch.setenv("MEM_USAGE_FIXTURE", "makedumpfile-mem-usage-x86_64-4TiB.out")
    settings = kc.build_settings("debian", target={"type": "local", "path": str(host / "crash" / "new")},
                                 dump_level=0)
    (host / "kdump-tools").write_text(kc.render(settings))
    result = run_module(capsys, args_for(host))
    assert result["dump_size"]["expected_bytes"] == 1073659068 * 4096
    assert result["dump_dir"]["checked"] == str(host / "crash")
    assert result["dump_dir"]["room"] is False
    assert result["ready"] is False
    assert result["problems"] == [
        "Only %d MiB are free in %s for a dump of up to %d MiB (makedumpfile --mem-usage, dump level 0)."
        % (result["dump_dir"]["free_mb"], host / "crash", -(-1073659068 * 4096 // M))]


def test_tools_missing_efivars_and_unreadable_config(capsys, host):
    (host / "kdump-tools").write_text('USE_KDUMP=1\nKDUMP_COREDIR="$(mktemp -d)"\n')
    result = run_module(capsys, args_for(host, makedumpfile_path=str(host / "nope"),
                                         mokutil_path=str(host / "nope"), systemctl_path=str(host / "nope"),
                                         crash_dir=str(host / "crash")))
    assert result["makedumpfile"] is None
    assert result["service"] == {"name": "kdump-tools", "enabled": None, "active": None}
    assert result["secure_boot"]["source"] == "efivars" and result["secure_boot"]["enabled"] is True
    assert result["problems"][0].startswith("%s cannot be read: " % (host / "kdump-tools"))
    assert "command substitution" in result["problems"][0]
    assert result["problems"][1] == "makedumpfile is not installed: dumps cannot be filtered or compressed."
    assert result["dump_size"]["source"] == "estimate"
    assert len(result["dumps"]) == 5


def test_use_kdump_off_and_missing_config(capsys, host):
    (host / "kdump-tools").write_text("USE_KDUMP=0\n")
    result = run_module(capsys, args_for(host))
    assert "USE_KDUMP is 0 in %s: kdump-tools does nothing." % (host / "kdump-tools") in result["problems"]
    os.unlink(str(host / "kdump-tools"))
    result = run_module(capsys, args_for(host))
    assert "%s does not exist: kdump is not configured." % (host / "kdump-tools") in result["problems"]


def test_suse_config_with_unsupported_compression(capsys, host):
    settings = kc.build_settings("suse", target={"type": "local", "path": str(host / "crash")}, compression="zstd")
    (host / "sysconfig-kdump").write_text(kc.render(settings))
    result = run_module(capsys, args_for(host, family="suse", config_path=str(host / "sysconfig-kdump")))
    assert result["service"]["name"] == "kdump"
    assert result["config"]["compression"] == "zstd"
    assert result["problems"] == [
        "The configured compression zstd is not supported by %s 1.7.2 (it supports: zlib, lzo, none); "
        "makedumpfile would silently ignore the flag and write an uncompressed dump" % (host / "bin" / "makedumpfile")]


def test_redhat_remote_target(capsys, host):
    (host / "kdump.conf").write_text("ssh kdump@dump.example.com\nsshkey /root/.ssh/kdump_id_rsa\npath /srv\n")
    crash = host / "rh-crash"
    build_tree(crash, "crash-tree-redhat.txt")
    result = run_module(capsys, args_for(host, family="redhat", config_path=str(host / "kdump.conf"),
                                         crash_dir=str(crash)))
    assert result["config"]["target"] == {"type": "ssh", "user": "kdump", "host": "dump.example.com", "path": "/srv",
                                          "ssh_key": "/root/.ssh/kdump_id_rsa"}
    assert result["dump_dir"] is None
    assert result["ready"] is True
    assert [d["layout"] for d in result["dumps"]] == ["redhat"] * 3


def test_fadump(capsys, host):
    (host / "sys" / "kernel" / "fadump").mkdir()
    (host / "sys" / "kernel" / "fadump" / "enabled").write_text("1\n")
    (host / "sys" / "kernel" / "fadump" / "registered").write_text("0\n")
    (host / "sys" / "kernel" / "kexec_crash_loaded").write_text("0\n")
    result = run_module(capsys, args_for(host))
    assert result["crash_kernel"]["mode"] == "fadump"
    assert result["problems"] == [
        "Firmware-assisted dump is enabled but not registered: a panic now would not be captured."]


def test_bad_estimate_ratio(capsys, host):
    result = run_module(capsys, args_for(host, estimate_ratio=1.5))
    assert result["failed"] is True and "estimate_ratio" in result["msg"]


def test_dump_dir_space_edges(tmp_path):
    assert hostprobe.dump_dir_space("relative/dir", 1)["room"] is None
    space = hostprobe.dump_dir_space(str(tmp_path / "a" / "b" / "c"), 0)
    assert space["checked"] == str(tmp_path) and space["room"] is True
    assert hostprobe.dump_dir_space(str(tmp_path), None)["room"] is None


@pytest.mark.parametrize("version,mem_usage,osrelease,kern_data_pages,advised", [
    # Debian 13: makedumpfile 1.7.6 on kernel 6.12 counts no free page (MemFree was 547 MiB)
    ("makedumpfile-1.7.6-debian13.version", "makedumpfile-1.7.6-mem-usage-debian13.out",
     "6.12.118+deb13-amd64", 173639, True),
    # Debian 12: makedumpfile 1.7.2 on kernel 6.1 finds them (168786 free pages)
    ("makedumpfile-1.7.2-debian12.version", "makedumpfile-1.7.2-mem-usage-debian12.out",
     "6.1.0-57-amd64", 36149, False),
])
def test_free_pages_gap_of_makedumpfile_is_advised(capsys, host, version, mem_usage, osrelease,
                                                   kern_data_pages, advised):
    """The real outputs of the lab's VMs (1 GiB, crashkernel reserved, after the setup role):
    both hosts are ready; only Debian 13's gets the advisory (a result and a warning), and its
    expected dump size holds the free pages it cannot leave out."""
    stub(host / "bin" / "makedumpfile",
         'case "$1" in\n'
         '-v) cat "%s/%s" ;;\n'
         '--mem-usage) cat "%s/%s" ;;\n'
         '*) exit 2 ;;\nesac\n' % (FIXTURES, version, FIXTURES, mem_usage))
    (host / "proc" / "sys" / "kernel").mkdir(parents=True)
    (host / "proc" / "sys" / "kernel" / "osrelease").write_text(osrelease + "\n")
    result = run_module(capsys, args_for(host))
    assert result["rc"] == 0, result
    assert result["ready"] is True and result["problems"] == []
    assert result["dump_size"]["expected_bytes"] == kern_data_pages * 4096
    assert warnings(result) == result["advisories"]
    if not advised:
        assert result["advisories"] == []
        return
    assert len(result["advisories"]) == 1
    assert result["advisories"][0].startswith(
        "makedumpfile 1.7.6 cannot tell free pages on Linux 6.12 and later (upstream issue "
        "makedumpfile/makedumpfile#16, fixed in makedumpfile 1.7.7): on kernel 6.12.118+deb13-amd64, "
        "dump level 31 keeps those pages")


def _nfs_config(host, export):
    settings = kc.build_settings("debian", target={"type": "nfs", "host": "127.0.0.1", "path": export})
    (host / "kdump-tools").write_text(kc.render(settings))


def test_nfs_export_that_cannot_be_mounted_is_a_problem(capsys, host):
    """The real mount(8) against an address with no NFS server: the export cannot be mounted (the
    mount's own message is the reason), the temporary mount point is gone, not ready."""
    _nfs_config(host, "/srv/crash/client-1")
    before = set(os.listdir("/run")) if os.path.isdir("/run") else set()
    result = run_module(capsys, args_for(host, nfs_timeout=20))
    space = result["dump_dir"]
    assert space["path"] == "127.0.0.1:/srv/crash/client-1"
    assert space["mountable"] is False and space["room"] is None and space["error"]
    assert result["ready"] is False
    assert any(p.startswith("The NFS export 127.0.0.1:/srv/crash/client-1 cannot be mounted: ")
               for p in result["problems"])
    after = set(os.listdir("/run")) if os.path.isdir("/run") else set()
    assert not [n for n in after - before if n.startswith("crashkit-nfs-")]


def test_nfs_check_off_leaves_the_export_alone(capsys, host):
    _nfs_config(host, "/srv/crash/client-1")
    result = run_module(capsys, args_for(host, nfs_check=False))
    assert result["dump_dir"] is None
    assert result["ready"] is True


def test_redhat_nfs_target_mounts_the_export_not_the_path_inside_it(capsys, host):
    """kdump.conf's ``nfs host:/export`` plus ``path /var/crash``: kdumpctl mounts the export and
    writes below the path inside it; the check mounts what kdumpctl mounts."""
    (host / "kdump.conf").write_text("nfs 127.0.0.1:/export\npath /var/crash\n")
    result = run_module(capsys, args_for(host, family="redhat", config_path=str(host / "kdump.conf"), nfs_timeout=20))
    assert result["config"]["target"]["path"] == "/export/var/crash"
    assert result["dump_dir"]["path"] == "127.0.0.1:/export"
    assert result["dump_dir"]["mountable"] is False


def _device_host(host, mounted):
    settings = kc.build_settings("debian", target={"type": "device", "device": "LABEL=crashdump", "fstype": "ext4"})
    (host / "kdump-tools").write_text(kc.render(settings))
    (host / "dumpdev.mount").write_text(kc.device_units(settings)[0]["content"])
    (host / "proc" / "self").mkdir()
    (host / "proc" / "self" / "mountinfo").write_text(
        "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
        + ("61 22 254:16 / /var/lib/crashkit/dumpdev rw,nosuid shared:33 - ext4 /dev/vdb rw\n" if mounted else ""))
    return args_for(host, device_unit_path=str(host / "dumpdev.mount"), mem_usage=False)


def test_debian_device_target_mounted(capsys, host):
    result = run_module(capsys, _device_host(host, True))
    assert result["config"]["target"] == {
        "type": "device", "device": "LABEL=crashdump", "fstype": "ext4", "path": "/var/crash",
        "mountpoint": "/var/lib/crashkit/dumpdev", "dump_dir": "/var/lib/crashkit/dumpdev/var/crash"}
    space = result["dump_dir"]
    assert space["path"] == "/var/lib/crashkit/dumpdev/var/crash"
    assert (space["mounted"], space["source"], space["device"], space["unit"]) == (True, "/dev/vdb", "LABEL=crashdump", True)
    assert space["checked"] and space["free_mb"] is not None
    assert result["problems"] == [] and result["ready"] is True


def test_debian_device_target_not_mounted_is_a_problem(capsys, host):
    result = run_module(capsys, _device_host(host, False))
    assert result["dump_dir"]["mounted"] is False
    assert result["ready"] is False
    assert "The dump device LABEL=crashdump is not mounted on /var/lib/crashkit/dumpdev" in result["problems"][0]


def test_debian_device_target_without_its_mount_unit_is_a_problem(capsys, host):
    args = _device_host(host, True)
    os.unlink(args["device_unit_path"])
    result = run_module(capsys, args)
    assert result["config"]["target"]["device"] is None
    assert any("has no mount unit" in p for p in result["problems"])


# /proc/self/mountinfo of a RHEL-family host with the dump disk mounted on /mnt/dump (the format
# of the Debian 12 lab guest's, with a bind mount of a directory inside the same disk after it)
REDHAT_MOUNTINFO = (
    "22 1 254:1 / / rw,relatime shared:1 - xfs /dev/vda1 rw\n"
    "61 22 254:16 / /mnt/dump rw,relatime shared:33 - xfs /dev/vdb rw\n"
    "62 22 254:16 /var/crash /srv/crash rw,relatime shared:33 - xfs /dev/vdb rw\n"
)


@pytest.mark.parametrize("mountinfo,path,mountpoint,dump_dir", [
    (REDHAT_MOUNTINFO, "/var/crash", "/mnt/dump", "/mnt/dump/var/crash"),
    (REDHAT_MOUNTINFO, "/", "/mnt/dump", "/mnt/dump"),
    # mountinfo escapes a space in a mount point as \040
    (REDHAT_MOUNTINFO.replace("/mnt/dump", "/mnt/dump\\040disk"), "crash", "/mnt/dump disk", "/mnt/dump disk/crash"),
    # only a bind mount of a directory inside it: not where the file system's root is
    (REDHAT_MOUNTINFO.splitlines(True)[0] + REDHAT_MOUNTINFO.splitlines(True)[2], "/var/crash", None, None),
    ("22 1 254:1 / / rw,relatime shared:1 - xfs /dev/vda1 rw\n", "/var/crash", None, None),
])
def test_redhat_device_target_dumps_are_below_its_mount_point(capsys, host, mountinfo, path, mountpoint, dump_dir):
    """kdumpctl mounts an ext4/xfs target itself in the capture and writes below its path
    directive inside it: on this system the dumps are in <mount point>/<path>, not in /var/crash
    of the root file system; a device not mounted here has no directory to check or list, and
    that is no problem (unlike debian's mount unit)."""
    (host / "kdump.conf").write_text("xfs /dev/vdb\npath %s\ncore_collector makedumpfile -l -d 31\n" % path)
    (host / "proc" / "self").mkdir()
    (host / "proc" / "self" / "mountinfo").write_text(mountinfo)
    result = run_module(capsys, args_for(host, family="redhat", config_path=str(host / "kdump.conf"), mem_usage=False))
    target = result["config"]["target"]
    assert (target["type"], target["device"], target["mountpoint"], target["dump_dir"]) == (
        "device", "/dev/vdb", mountpoint, dump_dir)
    space = result["dump_dir"]
    assert (space["path"], space["device"], space["mounted"]) == (dump_dir, "/dev/vdb", dump_dir is not None)
    assert (space["checked"] is None) == (dump_dir is None) and "unit" not in space
    assert not any("mount" in problem for problem in result["problems"])
    if dump_dir is None:
        assert result["dumps"] == []


@pytest.mark.skipif(not os.path.exists("/dev/loop0") or not stat.S_ISBLK(os.stat("/dev/loop0").st_mode),
                    reason="needs the block device /dev/loop0")
def test_redhat_device_target_found_by_its_device_number(capsys, host, tmp_path):
    """A device named by a link (as UUID= is, through /dev/disk/by-uuid) is found in mountinfo by
    its major:minor, whatever name mount(8) recorded as the source; its dumps are listed there."""
    disk = tmp_path / "disk"
    build_tree(disk / "var" / "crash", "crash-tree-debian.txt")
    os.symlink("/dev/loop0", str(tmp_path / "by-uuid-0b1c"))
    (host / "kdump.conf").write_text("ext4 %s\npath /var/crash\n" % (tmp_path / "by-uuid-0b1c"))
    (host / "proc" / "self").mkdir()
    number = os.stat("/dev/loop0").st_rdev
    (host / "proc" / "self" / "mountinfo").write_text(
        "61 22 %d:%d / %s rw,relatime shared:33 - ext4 /dev/mapper/dumps rw\n"
        % (os.major(number), os.minor(number), disk))
    result = run_module(capsys, args_for(host, family="redhat", config_path=str(host / "kdump.conf"), mem_usage=False))
    assert result["dump_dir"]["path"] == str(disk / "var" / "crash") and result["dump_dir"]["mounted"] is True
    assert result["dumps"] and all(d["path"].startswith(str(disk)) for d in result["dumps"])


def test_redhat_raw_device_target_lists_the_path_directory(capsys, host, monkeypatch):
    """A raw target has no file system to mount: kdumpctl copies its dump into the path
    directory at the next boot, so the dumps are listed there, as before device targets were
    read from their mount point."""
    crash = host / "rawcopies"
    build_tree(crash, "crash-tree-debian.txt")
    monkeypatch.setattr(module.kc, "DEFAULT_DUMP_DIR", str(crash))
    (host / "kdump.conf").write_text("raw /dev/vdb\n")
    result = run_module(capsys, args_for(host, family="redhat", config_path=str(host / "kdump.conf"), mem_usage=False))
    assert result["config"]["target"]["type"] == "device" and result["dump_dir"] is None
    assert result["dumps"] and all(d["path"].startswith(str(crash)) for d in result["dumps"])
