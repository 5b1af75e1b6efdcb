# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Triage of real kernel logs quoted in public bug threads (tests/unit/fixtures/triage/real).

Each expectation is what a kernel engineer reading the log would say; where the quoted log is
cut or ambiguous, the row says what is missing and why the expectation is what it is. The
sources are in real/SOURCES.md.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import os
import re

import pytest

from ansible_collections.crashkit.kdump.plugins.module_utils import _triage as tr
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import ParseError

REAL = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "triage", "real")
ALL_REAL = sorted(name for name in os.listdir(REAL) if name.endswith(".log"))


def text_of(name):
    with io.open(os.path.join(REAL, name), encoding="utf-8") as handle:
        return handle.read()


def triage(name):
    return tr.triage_file(os.path.join(REAL, name))


def test_every_real_fixture_names_its_source():
    with io.open(os.path.join(REAL, "SOURCES.md"), encoding="utf-8") as handle:
        sources = handle.read()
    listed = set(re.findall(r"^\| `([^`]+\.log)` \| https://github\.com/\S+", sources, re.M))
    assert listed == set(ALL_REAL)


# name, kind, function, culprit, comm, pid, cpu, kernel release, canonical reason (signature)
CRASHES = [
    # arm64, 6.13: the "Internal error: Oops" die line comes 13 lines after the headline (the
    # 6.10+ abort block); it is part of the same report, not a second crash. The quote ends at
    # the module list: no pc, task or release to read.
    ("arm64-nullderef-long-abort-6.13-rpi6624.log", "null_deref", None, None, None, None,
     None, None, "kernel NULL pointer dereference"),
    # The quote starts after the headline: the die line is all there is of the report.
    ("arm64-oops-journal-6.12-rpi6887.log", "oops", None, None, None, None, None, None, "oops"),
    # arm64 4.4: "Bad mode in Synchronous Abort handler", then "Oops - bad mode: 0 [#1]". The pc
    # is 0x200000, no symbol: there is no faulting function (the LR is not it).
    ("arm64-bad-mode-4.4-pine64.log", "oops", None, None, "swapper/2", 0, 2, "4.4.0-rc8",
     "bad mode"),
    # The panic of the hung task detector; the blocked task's report is not in the quote, so
    # nothing tells what it waited for (the detector's own frames are not the culprit).
    ("arm64-hung-task-panic-syslog-4.4-rock64-82.log", "hung_task", None, None, "khungtaskd", 29,
     0, "4.4.77-rockchip-ayufan-136", "hung task"),
    # ARM 6.6: "Oops: 5 [#5]" (any number of hex digits); the quote ends at the CPU line.
    ("arm32-oops-6.6-rpi6413.log", "oops", None, None, "systemd", 1, 3, "6.6.56-v7+",
     "unable to handle kernel paging request"),
    # ARM 4.19 in syslog, the module list wrapped over unprefixed lines; cut before the pc.
    ("arm32-nullderef-syslog-4.19-rpi3494.log", "null_deref", None, None, "kworker/u9:2", 15257,
     1, "4.19.75-v7l+", "kernel NULL pointer dereference"),
    # The panic line has no timestamp; "(func+off) from [<addr>](func+off)" frames.
    ("arm32-kill-init-from-frames-khyp44.log", "kill_init", "do_exit", "do_exit", None, None, None,
     None, "Attempted to kill init! exitcode=0x0000000b"),
    # x86-32, 3.7: "Pid: N, comm: X" header and "EIP is at" line, "[# 1]" die number.
    ("i686-bug-pid-eip-3.7-enhanceio25.log", "bug", "scsi_setup_fs_cmnd", "scsi_setup_fs_cmnd",
     "eio_cli", 2706, None, "3.7.5", "kernel BUG at drivers/scsi/scsi_lib.c"),
    # A double fault is how an x86-64 kernel stack overflow ends; the RIP is where it was.
    ("x86-double-fault-7.0-popos4029.log", "stack_overflow", "sio_ite_8872_probe",
     "sio_ite_8872_probe", "kswapd0", 124, 4, "7.0.11-76070011-generic", "kernel stack overflow"),
    ("x86-divide-error-zfs-5.9-zfs11382.log", "oops", "spa_taskq_dispatch_ent",
     "spa_taskq_dispatch_ent", "txg_sync", 1097, 5, "5.9.14-arch1-1", "divide error"),
    # "invalid opcode" without "kernel BUG at": a ud2 reached on its own (here a test module).
    ("x86-invalid-opcode-oe-5.4-kvmutils6.log", "oops", "__send_ipi_mask", "__send_ipi_mask",
     "insmod", 6411, 3, "5.4.18-111-generic", "invalid opcode"),
    # List corruption: the checker is the function. The quotes end before the call trace, so
    # the checker is also the only frame the culprit can be (see the grouping test below).
    ("x86-list-del-corruption-4.19-sonic6866.log", "bug", "__list_del_entry_valid",
     "__list_del_entry_valid", "kexec", 8890, 1, "4.19.0-9-2-amd64", "list corruption"),
    ("x86-list-add-corruption-4.19-sonic4925.log", "bug", "__list_add_valid", "__list_add_valid",
     "set-fan-speed", 770, 1, "4.19.0-6-2-amd64", "list corruption"),
    ("x86-list-add-corruption-4.19-sonickernel152.log", "bug", "__list_add_valid",
     "__list_add_valid", "set-fan-speed", 770, 1, "4.19.0-6-2-amd64", "list corruption"),
    ("x86-list-add-corruption-rhel8-opencas726.log", "bug", "__list_add_valid", "__list_add_valid",
     "kworker/18:2", 119884, 18, "4.18.0-240.el8.x86_64", "list corruption"),
    # BUG_ON in the slab allocator; the trace is cut, the allocator is all that is known.
    ("x86-bug-on-slub-5.14-hardened64.log", "bug", "__kmalloc_node", "__kmalloc_node", "updatedb",
     26863, 1, "5.14.11-hardened1-2-hardened-debug-debug", "kernel BUG at mm/slub.c"),
    # 3.10-era "IP: [<addr>] func+off [module]" line.
    ("x86-nullderef-ip-module-iotrace37.log", "null_deref", "octf_trace_push", "octf_trace_push",
     None, None, None, None, "kernel NULL pointer dereference"),
    # Executing a non-executable page: the instruction pointer is a heap address, no symbol.
    ("x86-oops-syslog-utc-4.4-dockerformac87.log", "oops", None, None, "start-stop-daem", 1835, 3,
     "4.4.15-moby", "unable to handle kernel paging request"),
    # The panic's trace holds the RIP of the interrupted code after the watchdog frames: that
    # is where the CPU was stuck, not __hrtimer_run_queues.
    ("x86-soft-lockup-panic-6.5-centosci660.log", "soft_lockup", "__do_softirq", "__do_softirq",
     "swapper/3", 0, 3, "6.5.3-arch1-1", "soft lockup"),
    ("x86-oom-sysrq-panic-3.16-sonic2988.log", "oom", None, None, "kworker/1:2", 243, 1,
     "3.16.0-6-amd64", "Out of memory: compulsory panic_on_oom is enabled"),
    ("x86-oom-deadlocked-5.10-tempesta1789.log", "oom", None, None, "systemd-userdbd", 724, 3,
     "5.10.35perf+", "System is deadlocked on memory"),
    # s390x: the fault address is in the Krnl PSW line.
    ("s390x-oops-number-5.17-cbl334.log", "oops", "number", "number", "kworker/u2:1", 32, 0,
     "5.17.0-next-20220321", "unable to handle kernel paging request"),
    # powerpc, every console line printed twice; "SysRq : Trigger a crash" just before: the
    # crash sysrq asked for, whatever the trace (cut here) would have said.
    ("ppc64-sysrq-doubled-console-opbuild791.log", "sysrq", None, None, None, None, None, None,
     "sysrq triggered crash"),
    # powerpc machine check in kernel mode: a hardware error, whatever the code path.
    ("ppc64le-machine-check-linuxppc137.log", "mce", None, None, None, None, None, None,
     "Oops: Machine check"),
    # RISC-V: the oops headline is above the quote; its end, the panic, and the "epc :" line
    # after it remain ("Modules linked in:" without a report: an oops of unknown shape).
    ("riscv-oops-epc-5.10-licheepi22.log", "oops", "kmem_cache_alloc", "kmem_cache_alloc",
     "systemd-journal", 286, 0, "5.10.113-lpi4a", "oops"),
    # Xvisor's "[guest0/uart0] " on every line of the guest's console.
    ("riscv-vfs-root-relay-6.17-xvisor199.log", "vfs_root", None, None, "swapper/0", 1, 1,
     "6.17.0-rc2-00060-g068a56e56fa8", "VFS: Unable to mount root fs on unknown-block(1,0)"),
]


def test_every_crash_fixture_is_in_the_table():
    no_crash = {"arm64-hung-task-switch-to-4.19-rockchip298.log",
                "x86-kfence-polish-journal-6.1-tkg682.log", "x86-kasan-decoded-6.5-mptcp433.log"}
    assert sorted([row[0] for row in CRASHES] + list(no_crash)) == ALL_REAL


@pytest.mark.parametrize("name, kind, function, culprit, comm, pid, cpu, release, reason",
                         CRASHES, ids=[row[0] for row in CRASHES])
def test_real_crash(name, kind, function, culprit, comm, pid, cpu, release, reason):
    record = triage(name)
    assert record["kind"] == kind
    assert record["function"] == function
    assert record["culprit"] == culprit
    assert (record["comm"], record["pid"], record["cpu"]) == (comm, pid, cpu)
    assert record["kernel_release"] == release
    assert "| reason=%s" % reason in record["signature_text"]


@pytest.mark.parametrize("name, module, taint", [
    ("x86-divide-error-zfs-5.9-zfs11382.log", "zfs", ["P", "B", "W", "O", "E"]),
    ("x86-double-fault-7.0-popos4029.log", "parport_pc", ["P", "O", "E"]),
    ("x86-nullderef-ip-module-iotrace37.log", "iotrace", []),
    ("x86-invalid-opcode-oe-5.4-kvmutils6.log", None, ["O", "E"]),
    # RHEL 8 prints dashed columns in the taint field
    ("x86-list-add-corruption-rhel8-opencas726.log", None, ["W", "I", "O", "E"]),
])
def test_module_and_taint(name, module, taint):
    record = triage(name)
    assert record["module"] == module
    assert record["culprit_module"] == module
    assert record["taint"] == taint


def test_long_arm64_abort_block_is_one_report():
    record = triage("arm64-nullderef-long-abort-6.13-rpi6624.log")
    # the old 12-line window made the die line a second crash of unknown shape
    assert [(e["kind"], e["line"], e["fatal"]) for e in record["events"]] == [
        ("null_deref", 1, True)]
    assert record["headline"] == ("Unable to handle kernel NULL pointer dereference at virtual "
                                  "address 00000000000000c0")


@pytest.mark.parametrize("name, die", [
    ("arm64-bad-mode-4.4-pine64.log", "Internal error: Oops - bad mode: 0 [#1] PREEMPT SMP"),
    ("arm32-oops-6.6-rpi6413.log", "Internal error: Oops: 5 [#5] SMP ARM"),
    ("arm32-nullderef-syslog-4.19-rpi3494.log", "Internal error: Oops: 207 [#1] SMP ARM"),
    ("i686-bug-pid-eip-3.7-enhanceio25.log", "invalid opcode: 0000 [# 1] SMP"),
])
def test_die_lines_of_any_width_belong_to_their_report(name, die):
    record = triage(name)
    assert len([e for e in record["events"] if e["fatal"]]) == 1
    assert any(line.endswith(die) or line.rstrip().endswith(die) for line in record["excerpt"])


def test_x86_32_pid_line_and_eip():
    record = triage("i686-bug-pid-eip-3.7-enhanceio25.log")
    assert record["kernel_build"] == "# 9"
    assert record["hardware"] == "VMware, Inc. VMware Virtual Platform/440BX Desktop Reference Platform"
    assert record["taint_raw"] == "Not tainted"


def test_double_fault_report():
    record = triage("x86-double-fault-7.0-popos4029.log")
    assert record["headline"] == "traps: PANIC: double fault, error_code: 0x0"
    assert record["panic_reason"] == "Fatal exception in interrupt"


@pytest.mark.parametrize("name, host, crash_time", [
    ("x86-oops-syslog-utc-4.4-dockerformac87.log", None, "2016-07-31T16:26:53"),
    ("arm32-nullderef-syslog-4.19-rpi3494.log", "4GB", None),
    ("arm64-oops-journal-6.12-rpi6887.log", "rzx", None),
    ("arm64-hung-task-panic-syslog-4.4-rock64-82.log", "Rock64", None),
])
def test_syslog_and_journal_heads(name, host, crash_time):
    record = triage(name)
    assert record["host"] == host
    assert record["crash_time"] == crash_time
    # neither the date nor the host leaks into what is grouped on
    assert host is None or host not in record["signature_text"]


def test_journal_lines_in_another_language():
    # A Polish-locale journal: "sty" is January. The KFENCE report alone is no crash.
    text = text_of("x86-kfence-polish-journal-6.1-tkg682.log")
    for line in text.splitlines()[1:]:
        message = tr.split_line(line)[0]
        assert not message.startswith(("sty ", "pc kernel")), line
    assert tr.split_line(text.splitlines()[2])[0] == " bfq_exit_icq_bfqq+0x132/0x270"
    with pytest.raises(ParseError) as error:
        tr.triage_text(text)
    assert "sanitizer (first at line 1)" in str(error.value)


@pytest.mark.parametrize("line, message, host", [
    # https://github.com/openzfs/zfs/issues/11582: journal without a host, two blanks
    ("Feb  6 04:11:34  kernel: [1196532.369002] ------------[ cut here ]------------",
     "------------[ cut here ]------------", None),
    # https://github.com/koverstreet/bcachefs/issues/529: /dev/kmsg records in a journal
    ("Mar 31 19:59:53 extravaganza.localdomain 4,1792,1531224190,-; </TASK>", " </TASK>",
     "extravaganza.localdomain"),
    # https://github.com/coolsnowwolf/lede/issues/10753: OpenWrt logread
    ("Tue Jan 10 12:24:53 2023 kern.warn kernel: [92612.658988] Call Trace:", "Call Trace:",
     None),
    # https://github.com/raspberrypi/linux/issues/690: syslogd wall message
    (" kernel:[14802.137324] Internal error: Oops - undefined instruction: 0 [#1] PREEMPT ARM",
     "Internal error: Oops - undefined instruction: 0 [#1] PREEMPT ARM", None),
    # https://github.com/linux-test-project/ltp/issues/1191: level before the timestamp
    ("<12>[ 1037.024770] LTP: starting ftrace-stress-test (ftrace_stress_test.sh 90) ",
     "LTP: starting ftrace-stress-test (ftrace_stress_test.sh 90) ", None),
])
def test_line_prefixes(line, message, host):
    assert tr.split_line(line.lstrip())[0] == message
    assert tr.split_prefix(line.lstrip())[1].group("host") == host


def test_console_relay_tag():
    record = triage("riscv-vfs-root-relay-6.17-xvisor199.log")
    assert record["headline"] == ("Kernel panic - not syncing: VFS: Unable to mount root fs on "
                                  "unknown-block(1,0)")
    assert record["hardware"] == "Virt64 (DT)"


def test_arm64_hung_task_starts_at_switch_to():
    # No panic in this quote, so no crash; the hung task report itself is read the same way a
    # panicking one is: __switch_to and the wait primitives are not what the task waits for.
    parser = tr.TriageParser()
    parser.feed_lines(text_of("arm64-hung-task-switch-to-4.19-rockchip298.log").splitlines())
    block = parser.latest["hung_task"]
    report = tr._analyze(block, None)
    function, _module, culprit, _cmod, trace = tr._select("hung_task", report)
    assert trace[0] == "__switch_to"
    assert (function, culprit) == ("flush_work", "drain_all_pages")


def test_decoded_stack_trace():
    # "func (file:line)" frames as scripts/decode_stacktrace.sh writes them into bug reports.
    # No panic here (a report without panic_on_warn is no crash): the report is read directly.
    parser = tr.TriageParser()
    parser.feed_lines(text_of("x86-kasan-decoded-6.5-mptcp433.log").splitlines())
    block = parser.first_sanitizer
    assert block.text.startswith("BUG: KASAN: slab-use-after-free in kernfs_test_super")
    report = tr._analyze(block, None)
    head = tr._head_function("sanitizer", block.text, None)
    function, _module, culprit, _cmod, trace = tr._select("sanitizer", report, head)
    assert trace == ["dump_stack_lvl", "print_address_description.constprop.0", "print_report",
                     "kasan_report"]
    assert (function, culprit) == ("kernfs_test_super", "kernfs_test_super")
    assert (report.comm, report.pid, report.release) == ("ip", 14140, "6.5.0-g7088bf643393")
    assert tr.canonical_reason("sanitizer", block.text, None) == "KASAN: use-after-free"


# The two prefixes below were reported against logs not found among public threads; the tests
# take a real log and rewrite only its prefix, which is the part under test.


def test_relay_tag_after_a_syslog_head():
    # "[guest0/uart0] " replaced by a syslog head and a "UART: " tag on every line
    text = text_of("riscv-vfs-root-relay-6.17-xvisor199.log")
    relayed = text.replace("[guest0/uart0] ", "Jul 27 14:08:04 labhost conserver: UART: ")
    original, record = tr.triage_text(text), tr.triage_text(relayed)
    assert record["signature"] == original["signature"]
    assert (record["kind"], record["comm"], record["kernel_release"]) == (
        "vfs_root", "swapper/0", "6.17.0-rc2-00060-g068a56e56fa8")
    assert record["host"] == "labhost"


def test_journal_short_monotonic():
    # journalctl -o short-monotonic: the kernel timestamp, then the host and "kernel:"
    text = text_of("x86-divide-error-zfs-5.9-zfs11382.log")
    journal = re.sub(r"(?m)^(\[[ \d.]+\]) ", r"\1 nas kernel: ", text)
    record, original = tr.triage_text(journal), tr.triage_text(text)
    assert record["signature"] == original["signature"]
    assert (record["function"], record["module"], record["comm"]) == (
        "spa_taskq_dispatch_ent", "zfs", "txg_sync")


@pytest.mark.parametrize("month", ["июн", "juin", "Jun", "giu", "cze"])
def test_journal_month_in_any_language_groups(month):
    text = text_of("arm64-oops-journal-6.12-rpi6887.log")
    other = text.replace("Jun 09 11:11:21 rzx", "%s 10 02:03:04 web-03" % month)
    record = tr.triage_text(other)
    assert record["signature"] == tr.triage_text(text)["signature"]
    assert record["host"] == "web-03"
    assert month not in record["signature_text"] and "02:03" not in record["headline"]


# --------------------------------------------------------------------------- grouping


def test_one_crash_filed_twice_groups():
    # The same crash quoted in two repositories' threads; in the second, GitHub turned the
    # build's "#1" into "Azure/sonic-buildimage#1". One bug, one signature.
    one = triage("x86-list-add-corruption-4.19-sonic4925.log")
    two = triage("x86-list-add-corruption-4.19-sonickernel152.log")
    assert one["kernel_build"] != two["kernel_build"]
    assert one["signature"] == two["signature"]


def test_list_corruptions_without_a_trace_are_one_group():
    # Ambiguous by nature: these quotes end before the call trace, so the list checker is the
    # only frame known and two different callers' corruptions cannot be told apart. They share
    # a signature; their kernel_release and comm in the fleet report tell them apart.
    sonic = triage("x86-list-add-corruption-4.19-sonic4925.log")
    cas = triage("x86-list-add-corruption-rhel8-opencas726.log")
    assert sonic["signature"] == cas["signature"]
    assert sonic["comm"] != cas["comm"]


def test_crashes_without_any_function_are_keyed_on_the_task():
    # Cut before the pc, or a pc without a symbol: the task that crashed is what is left.
    assert triage("arm32-oops-6.6-rpi6413.log")["signature_text"].endswith("| task=systemd")
    assert triage("arm32-nullderef-syslog-4.19-rpi3494.log")["signature_text"].endswith(
        "| task=kworker")


def test_different_real_crashes_have_different_signatures():
    same = {"x86-list-add-corruption-4.19-sonickernel152.log",
            "x86-list-add-corruption-rhel8-opencas726.log"}
    names = [row[0] for row in CRASHES if row[0] not in same]
    signatures = [triage(name)["signature"] for name in names]
    assert len(set(signatures)) == len(names)
