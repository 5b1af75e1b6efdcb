"""Console event parsing: kernel banners, panics, kdump-tools results, reboots."""
import json
import os

import pytest

from crashlab import console

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def lines(*texts, start=100.0):
    return [(start + i, t) for i, t in enumerate(texts)]


def names(events):
    return [e["event"] for e in events]


def test_full_kdump_sequence():
    evs = console.parse_events(lines(
        "[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) #1 SMP",
        "[  100.1] sysrq: Trigger a crash",
        "[  100.2] Kernel panic - not syncing: sysrq triggered crash",
        "[  100.3] ---[ end Kernel panic - not syncing: sysrq triggered crash ]---",
        "[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) #1 SMP",
        "[   60.0] kdump-tools[412]: running makedumpfile -F -c -d 31 /proc/vmcore | compress > /var/crash/x",
        "[   80.0] kdump-tools[412]: saved vmcore in /var/crash/202611220640.",
        "[   85.0] reboot: Restarting system",
        "[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) #1 SMP",
    ))
    assert names(evs) == ["kernel_boot", "panic", "capture_kernel_boot", "makedumpfile_start", "vmcore_saved",
                          "reboot", "kernel_boot"]
    assert evs[1]["reason"] == "sysrq triggered crash"
    assert evs[1]["in_capture"] is False
    assert evs[2]["kernel"] == "6.1.0-56-amd64"
    assert evs[4]["path"] == "/var/crash/202611220640."
    assert evs[3]["args"] == "-F -c -d 31 /proc/vmcore | compress > /var/crash/x"
    assert [e["t"] for e in evs] == [100.0, 102.0, 104.0, 105.0, 106.0, 107.0, 108.0]


def test_end_marker_of_a_panic_is_not_a_second_panic():
    evs = console.parse_events(lines(
        "Kernel panic - not syncing: Fatal exception",
        "---[ end Kernel panic - not syncing: Fatal exception ]---",
    ))
    assert names(evs) == ["panic"]
    assert evs[0]["reason"] == "Fatal exception"


def test_failed_dump_and_capture_kernel_panic():
    evs = console.parse_events(lines(
        "Linux version 6.1.0-56-amd64 (x)",
        "Kernel panic - not syncing: sysrq triggered crash",
        "Linux version 6.1.0-56-amd64 (x)",
        "Kernel panic - not syncing: System is deadlocked on memory",
        "kdump-tools[300]: failed to save vmcore in /var/crash/202611220700",
    ))
    assert names(evs) == ["kernel_boot", "panic", "capture_kernel_boot", "panic", "vmcore_failed"]
    assert evs[3]["in_capture"] is True
    assert evs[3]["reason"] == "System is deadlocked on memory"


def test_plain_reboots_are_kernel_boots_not_capture_kernels():
    evs = console.parse_events(lines(
        "Linux version 6.12.117+deb13-amd64 (x)",
        "reboot: Restarting system",
        "Linux version 6.12.117+deb13-amd64 (x)",
        "reboot: Power down",
    ))
    assert names(evs) == ["kernel_boot", "reboot", "kernel_boot", "power_off"]
    assert evs[0]["kernel"] == "6.12.117+deb13-amd64"


def test_a_second_crash_after_reboot_is_detected_again():
    seq = ["Linux version 1 (x)", "Kernel panic - not syncing: a", "Linux version 1 (x)",
           "kdump-tools: saved vmcore in /var/crash/1", "reboot: Restarting system"]
    evs = console.parse_events(lines(*(seq + seq)))
    assert names(evs).count("capture_kernel_boot") == 2
    assert names(evs).count("kernel_boot") == 2


def test_the_lean_capture_in_the_initramfs_is_read_like_kdump_tools():
    evs = console.parse_events(lines(
        "Linux version 6.1.0-41-amd64 (x)", "Kernel panic - not syncing: sysrq triggered crash",
        "Linux version 6.1.0-41-amd64 (x)",
        "crashkit-capture: running makedumpfile --dump-dmesg /proc/vmcore /var/crash/202612042300/dmesg.202612042300",
        "crashkit-capture: saved dmesg content in /var/crash/202612042300",
        "crashkit-capture: running makedumpfile -c -d 31 -F /proc/vmcore | /var/crash/202612042300/dump-incomplete",
        "crashkit-capture: saved vmcore in /var/crash/202612042300", "crashkit-capture: rebooting",
        "[   40.1] sysrq: Resetting", "Linux version 6.1.0-41-amd64 (x)"))
    assert names(evs) == ["kernel_boot", "panic", "capture_kernel_boot", "makedumpfile_start", "dmesg_saved",
                          "makedumpfile_start", "vmcore_saved", "reboot", "kernel_boot"]
    assert evs[6]["path"] == "/var/crash/202612042300"
    assert evs[5]["args"].startswith("-c -d 31 -F")


@pytest.mark.parametrize("sender", ["crashkit-capture: ", "[  211.6] kdump-tools[375]: "])
def test_an_ssh_targets_makedumpfile_is_sent_not_run(sender):
    # over SSH both captures say "sending makedumpfile ..." (lines of the Debian 13 lab VM of
    # 2026-12-05): the start of the dump, as "running" is for a local target
    evs = console.parse_events(lines(
        "Linux version 6.12.118+deb13-amd64 (x)", "Kernel panic - not syncing: sysrq triggered crash",
        "Linux version 6.12.118+deb13-amd64 (x)",
        sender + "sending makedumpfile -z -d 31 -F /proc/vmcore to kdumprecv@10.77.0.12 : "
        "/var/crash/10.77.0.11-202612050852/dump-incomplete",
        sender + "saved vmcore in kdumprecv@10.77.0.12:/var/crash/10.77.0.11-202612050852"))
    assert names(evs)[-2:] == ["makedumpfile_start", "vmcore_saved"]
    assert evs[-2]["args"].startswith("-z -d 31 -F /proc/vmcore to kdumprecv@10.77.0.12")
    assert evs[-1]["path"] == "kdumprecv@10.77.0.12:/var/crash/10.77.0.11-202612050852"


@pytest.mark.parametrize("raw, expected", [
    ("\x1b[1mDebian GNU/Linux 12\x1b[0m!\r", "Debian GNU/Linux 12!"),
    ("\x1b[5;78H\x1b[22;1H   The highlighted entry", "   The highlighted entry"),
    ("text\x07 with bell\x00", "text with bell"),
    ("tab\tkept", "tab\tkept"),
])
def test_clean(raw, expected):
    assert console.clean(raw) == expected


def test_parse_tlog_skips_garbage():
    assert console.parse_tlog("12.5 hello world\nnot-a-time x\n13 \n") == [(12.5, "hello world"), (13.0, "")]


def test_watch_timestamps_lines_and_drains_on_exit(tmp_path):
    (tmp_path / "console.log").write_bytes(b"GRUB\r\n[    0.0] Linux version 6.1.0 (x)\r\npartial")
    polls = iter([True, False])
    console.watch(tmp_path, lambda: next(polls), poll=0)
    got = console.parse_tlog((tmp_path / "console.tlog").read_text())
    assert [line for _t, line in got] == ["GRUB", "[    0.0] Linux version 6.1.0 (x)", "partial"]
    assert (tmp_path / "console.offset").read_text() == str(len(b"GRUB\r\n[    0.0] Linux version 6.1.0 (x)\r\npartial"))


def test_watch_resumes_at_the_recorded_offset(tmp_path):
    log = tmp_path / "console.log"
    log.write_bytes(b"first\n")
    console.watch(tmp_path, lambda: False, poll=0)
    with open(log, "ab") as f:
        f.write(b"Kernel panic - not syncing: x\n")
    console.watch(tmp_path, lambda: False, poll=0)
    got = [line for _t, line in console.parse_tlog((tmp_path / "console.tlog").read_text())]
    assert got == ["first", "Kernel panic - not syncing: x"]


def test_vm_events_merges_lifecycle_and_console_in_time_order(tmp_path):
    (tmp_path / "console.tlog").write_text("20.0 Linux version 6.1.0 (x)\n40.0 Kernel panic - not syncing: y\n")
    (tmp_path / "lifecycle.jsonl").write_text(
        json.dumps({"event": "qemu_start", "t": 10.0}) + "\n" + json.dumps({"event": "ssh_up", "t": 30.0}) + "\n")
    evs = console.vm_events(tmp_path)
    assert names(evs) == ["qemu_start", "kernel_boot", "ssh_up", "panic"]
    assert all("time" in e for e in evs)


def _fixture_events(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        return console.parse_events(console.parse_tlog(f.read()))


def test_real_console_trixie_boot_then_sysrq_panic():
    """A trixie guest's real console: GRUB, boot, ssh login prompt, sysrq-c without kdump."""
    evs = _fixture_events("console-trixie-panic.tlog")
    assert names(evs) == ["kernel_boot", "panic"]
    assert evs[0]["kernel"] == "6.12.117+deb13-amd64"
    assert evs[1]["reason"] == "sysrq triggered crash"


def test_real_console_bookworm_kdump_cycle():
    """A bookworm guest's real console: boot, kdump-tools installed, reboot with crashkernel,
    sysrq-c, capture kernel, makedumpfile (dmesg, then the dump), vmcore saved, reboot (QEMU
    then exited: reboot action "shutdown")."""
    evs = _fixture_events("console-bookworm-kdump.tlog")
    assert names(evs) == ["kernel_boot", "reboot", "kernel_boot", "panic", "capture_kernel_boot",
                          "makedumpfile_start", "dmesg_saved", "makedumpfile_start", "vmcore_saved", "reboot"]
    assert evs[3]["reason"] == "sysrq triggered crash"
    assert evs[5]["args"].startswith("--dump-dmesg /proc/vmcore /var/crash/")
    assert evs[7]["args"].startswith("-F -c -d 31 /proc/vmcore")
    assert evs[8]["path"] == "/var/crash/202611220832."
    times = [e["t"] for e in evs]
    assert times == sorted(times)


def test_capture_boots_of_a_real_console_debian_default():
    """The bookworm fixture's capture boot (Debian's own kdump-tools, no masks): its command line,
    the units it started (the network, utmp) and the times after the panic."""
    with open(os.path.join(FIXTURES, "console-bookworm-kdump.tlog"), encoding="utf-8") as f:
        boots = console.capture_boots(console.parse_tlog(f.read()))
    assert len(boots) == 1
    boot = boots[0]
    assert boot["capture"] is True
    assert "systemd.unit=kdump-tools-dump.service" in boot["command_line"].split()
    assert boot["masked"] == []
    texts = [text for _after, _verb, text in boot["status"]]
    assert any("Network Configuration" in t for t in texts)
    assert any("Boot/Shutdown in UTMP" in t for t in texts)
    assert "network-online.target - Network is Online" in texts
    assert boot["makedumpfile"] == [183.1, 186.7]
    assert (boot["saved"], boot["reboot"], boot["failed"]) == (234.7, 236.2, False)
    assert round(boot["banner"] - boot["panic"], 1) == 13.1


def test_capture_boots_masks_failures_and_plain_reboots():
    boots = console.capture_boots(lines(
        "Linux version 6.1.0-56-amd64 (x)",
        "Kernel command line: root=/dev/vda1 ro",
        "Kernel panic - not syncing: sysrq triggered crash",
        "Linux version 6.1.0-56-amd64 (x)",
        "Kernel command line: ro reset_devices systemd.mask=timers.target systemd.mask=a.service elfcorehdr=1K",
        "         Starting systemd-update-ut…rd System Boot/Shutdown in UTMP...",
        "kdump-tools[300]: failed to save vmcore in /var/crash/202611220700",
        "reboot: Restarting system",
        "Kernel panic - not syncing: Fatal exception",
        "Linux version 6.1.0-56-amd64 (x)",
        "Kernel command line: root=/dev/vda1 ro",
        "[  OK  ] Started ssh.service - OpenBSD Secure Shell server.",
    ))
    assert [b["capture"] for b in boots] == [True, False]
    assert boots[0]["masked"] == ["timers.target", "a.service"]
    assert boots[0]["status"] == [[3.0, "Starting", "systemd-update-ut…rd System Boot/Shutdown in UTMP"]]
    assert (boots[0]["failed"], boots[0]["saved"], boots[0]["reboot"]) == (True, None, 5.0)
    assert boots[1]["status"] == [[3.0, "Started", "ssh.service - OpenBSD Secure Shell server"]]


def test_capture_boots_of_a_real_lean_capture():
    """A crashkit capture boot (kdump_capture_lean_boot, local target; bench/capture.py on Debian
    12, 2026-12-03): the masks on its command line, no network, no utmp, kdump-tools right after
    sysinit.target. Against the Debian default fixture above: kdump-tools started 59 s after
    sysinit.target there (networkd), 0.2 s here."""
    with open(os.path.join(FIXTURES, "console-bookworm-lean-capture.tlog"), encoding="utf-8") as f:
        boots = console.capture_boots(console.parse_tlog(f.read()))
    assert len(boots) == 1
    boot = boots[0]
    assert boot["capture"] is True
    assert boot["masked"] == ["network-online.target", "systemd-networkd.service", "systemd-networkd.socket",
                              "systemd-resolved.service", "timers.target", "systemd-update-utmp.service"]
    texts = [text for _after, _verb, text in boot["status"]]
    assert not [t for t in texts if "Network Configuration" in t or "Network is Online" in t or "UTMP" in t]
    sysinit = [after for after, _verb, text in boot["status"] if text.startswith("sysinit.target")]
    kdump = [after for after, _verb, text in boot["status"] if "crash dump capture service" in text]
    assert (sysinit, kdump) == ([70.4], [70.6])
    assert (boot["saved"], boot["reboot"], boot["failed"]) == (150.9, 152.1, False)
