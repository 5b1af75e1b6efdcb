"""Pure parts of the launcher: port and private address allocation, the QEMU command line."""
import os
import shutil
import subprocess

import pytest

from crashlab import paths, vm
from crashlab.services import LabError


def test_allocate_port_skips_used_and_busy_ports():
    busy = {30001}
    port = vm.allocate_port({30000, 30002}, lambda p: p not in busy, 30000, 30010, 30000)
    assert port == 30003


def test_allocate_port_wraps_around_the_range():
    assert vm.allocate_port({30009, 30010}, lambda p: True, 30000, 30010, 30009) == 30000


def test_allocate_port_starts_at_the_hint():
    assert vm.allocate_port(set(), lambda p: True, 30000, 30010, 30007) == 30007


def test_allocate_port_fails_when_the_range_is_exhausted():
    with pytest.raises(LabError, match="no free port"):
        vm.allocate_port({1, 2}, lambda p: p != 3, 1, 3, 1)


def test_port_start_is_stable_and_in_range():
    a = vm.port_start("crashlab-aaaa", "smoke-bookworm")
    assert a == vm.port_start("crashlab-aaaa", "smoke-bookworm")
    assert vm.PORT_RANGE[0] <= a <= vm.PORT_RANGE[1]
    starts = {vm.port_start("crashlab-aaaa", "vm-%d" % i) for i in range(50)}
    assert len(starts) > 40  # spread, so two VMs rarely probe the same port first


def test_port_is_free_sees_a_listening_socket():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert vm.port_is_free(s.getsockname()[1]) is False


@pytest.mark.parametrize("used, expected", [
    (set(), ("10.77.0.11", 24, "52:54:00:4d:00:0b")),
    ({"10.77.0.11", "10.77.0.12"}, ("10.77.0.13", 24, "52:54:00:4d:00:0d")),
    ({"10.77.0.12"}, ("10.77.0.11", 24, "52:54:00:4d:00:0b")),
])
def test_allocate_private(used, expected):
    assert vm.allocate_private(used, "10.77.0.0/24", 11) == expected


def test_allocate_private_macs_are_unique_per_address():
    used, macs = set(), set()
    for _i in range(100):
        addr, _plen, mac = vm.allocate_private(used, "10.77.0.0/24", 11)
        used.add(addr)
        macs.add(mac)
    assert len(macs) == 100


def test_allocate_private_full_subnet():
    with pytest.raises(LabError, match="full"):
        vm.allocate_private({"192.168.5.1", "192.168.5.2"}, "192.168.5.0/30", 1)


REC = {"name": "smoke-trixie", "qemu_name": "crashlab-0123456789-smoke-trixie", "memory": 1024, "smp": 1,
       "dir": "/repo/.tmp/lab/vms/smoke-trixie", "port": 31005, "private_mac": "52:54:00:4d:00:0c"}


def test_qemu_argv():
    argv = vm.qemu_argv(REC, ["-accel", "tcg,thread=multi", "-cpu", "max"], 41234, "/repo/.tmp/lab/services/x.vde",
                        "/usr/bin/socat")
    joined = " ".join(argv)
    assert argv[:3] == ["qemu-system-x86_64", "-name", "crashlab-0123456789-smoke-trixie"]
    assert "-accel tcg,thread=multi -cpu max" in joined
    assert "-m 1024 -smp 1" in joined
    netdev = argv[argv.index("-netdev") + 1]
    assert netdev.startswith("user,id=nat,restrict=on,hostfwd=tcp:127.0.0.1:31005-:22,")
    assert "guestfwd=tcp:10.0.2.100:80-cmd:/usr/bin/socat STDIO TCP:127.0.0.1:41234" in netdev
    assert "vde,id=lab,sock=/repo/.tmp/lab/services/x.vde" in argv
    assert "virtio-net-pci,netdev=lab,mac=52:54:00:4d:00:0c" in argv
    assert "file=/repo/.tmp/lab/vms/smoke-trixie/disk.qcow2,if=virtio,format=qcow2,cache=unsafe,discard=unmap" in argv
    assert "unix:/repo/.tmp/lab/vms/smoke-trixie/qmp.sock,server=on,wait=off" in argv
    assert "file,id=serial0,path=/repo/.tmp/lab/vms/smoke-trixie/console.log,append=on" in argv
    assert argv[-1] == "-daemonize"


def test_qemu_argv_refuses_commas_in_paths():
    bad = dict(REC, dir="/tmp/a,b/vm")
    with pytest.raises(LabError, match="comma"):
        vm.qemu_argv(bad, [], 1, "/tmp/s")


def test_guest_setup_script_sets_hostname_and_private_address():
    script = vm.guest_setup_script({"name": "client-1", "private_mac": "52:54:00:4d:00:0b",
                                    "private_address": "10.77.0.11", "private_prefixlen": 24})
    assert "name=client-1\n" in script
    assert "MACAddress=52:54:00:4d:00:0b" in script
    assert "Address=10.77.0.11/24" in script
    assert " inet 10.77.0.11/" in script


@pytest.mark.parametrize("name, ok", [
    ("smoke-bookworm", True), ("client-1", True), ("a", True), ("Upper", False), ("-lead", False),
    ("trail-", False), ("under_score", False), ("x" * 41, False), ("dots.no", False),
])
def test_vm_names_are_hostnames(name, ok):
    assert bool(vm.NAME_RE.match(name)) is ok


def test_markers_differ_per_run_dir(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert paths.marker(a) != paths.marker(b)
    assert paths.marker(a) == paths.marker(a)
    assert paths.marker(a).startswith("crashlab-")


def test_qemu_argv_with_a_dump_disk_adds_it_after_the_root_disk():
    argv = vm.qemu_argv(dict(REC, dump_disk={"path": "x", "label": "crashdump"}), [], 1, "/tmp/s")
    drives = [argv[i + 1] for i, word in enumerate(argv) if word == "-drive"]
    assert drives == [
        "file=/repo/.tmp/lab/vms/smoke-trixie/disk.qcow2,if=virtio,format=qcow2,cache=unsafe,discard=unmap",
        "file=/repo/.tmp/lab/vms/smoke-trixie/dump.img,if=virtio,format=raw,cache=unsafe"]
    plain = vm.qemu_argv(REC, [], 1, "/tmp/s")
    assert [w for w in plain if w == "-drive"] == ["-drive"]


def test_make_dump_disk_writes_a_labelled_ext4_file_system(tmp_path):
    blkid = shutil.which("blkid") or "/sbin/blkid"
    if not os.path.exists(blkid) or not (shutil.which("mkfs.ext4") or os.path.exists("/sbin/mkfs.ext4")):
        pytest.skip("e2fsprogs/blkid not installed")
    path = tmp_path / "dump.img"
    vm.make_dump_disk(path, "crashdump", 64)
    assert path.stat().st_size == 64 << 20
    out = subprocess.run([blkid, "-o", "export", str(path)], stdout=subprocess.PIPE, check=True).stdout.decode()
    assert "LABEL=crashdump" in out.splitlines() and "TYPE=ext4" in out.splitlines()


@pytest.mark.parametrize("label", ["", "a b", "x" * 17, "a/b", "$(id)"])
def test_make_dump_disk_refuses_labels_that_are_not_plain(tmp_path, label):
    with pytest.raises(LabError, match="dump disk label"):
        vm.make_dump_disk(tmp_path / "d.img", label, 8)
    assert not (tmp_path / "d.img").exists()
