# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Triage of the shared corpus of real crash reports, read in place (third-party data).

The corpus is ../shared/crash-corpus/ next to the checkout (or $CRASHKIT_CRASH_CORPUS):
syzkaller's Linux pkg/report test corpus with each report's title and guilty frame
(syzkaller/cases.jsonl) and real kernel logs from public repositories (realpanic*/); its
SOURCES.md names every source. The tests skip, saying so, where it is absent.

The agreement with syzkaller is printed in the test command's summary (tests/unit/conftest.py)
and asserted against the goals only: culprit = guilty frame on >= 90% of the panicked reports,
>= 90% of the report pairs that share a title grouped, and >= 95% of the pairs grouped sharing a
title, counting as agreement the merges docs/triage.md lists as differences by design.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import itertools
import json
import os
import re
import time

import pytest

from ansible_collections.crashkit.kdump.plugins.module_utils import _triage as tr
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import ParseError

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
CORPUS = (os.environ.get("CRASHKIT_CRASH_CORPUS")
          or os.path.join(ROOT, "..", "shared", "crash-corpus"))
CASES = os.path.join(CORPUS, "syzkaller", "cases.jsonl")

needs_corpus = pytest.mark.skipif(
    not os.path.isfile(CASES),
    reason="shared crash corpus not found at %s (set CRASHKIT_CRASH_CORPUS)" % CORPUS)


def corpus_file(name):
    for folder in ("realpanic", "realpanic2"):
        path = os.path.join(CORPUS, folder, name)
        if os.path.isfile(path):
            return path
    pytest.skip("shared crash corpus file %s not found under %s" % (name, CORPUS))
    return None


def guilty_frame(case):
    """syzkaller's guilty frame: FRAME, else the function its title names."""
    if case.get("frame"):
        return case["frame"]
    found = re.search(r" in (\S+)", case["title"])
    # "WARNING in aiptek_open/usb_submit_urb": the caller is the guilty frame
    return found.group(1).split("/")[0] if found else None


def by_design(one, two):
    """Whether a merge of two titles is one of the differences docs/triage.md argues."""
    if one["kind"] == "sysrq" and two["kind"] == "sysrq":
        # every sysrq-triggered crash is one crash, whether the kernel panicked or oopsed
        return True
    # titles taken from a secure OS's own log (trusty); the kernel's report is the same
    return one.get("_title", "").startswith("trusty:") and two.get("_title", "").startswith(
        "trusty:")


@pytest.fixture(scope="module")
def syzkaller():
    cases = []
    with io.open(CASES, encoding="utf-8") as handle:
        for line in handle:
            cases.append(json.loads(line))
    results = []
    slowest = 0.0
    for case in cases:
        start = time.process_time()
        try:
            record = tr.triage_text(case["log"], keep_excerpt=False)
        except ParseError:
            record = None
        slowest = max(slowest, time.process_time() - start)
        if record is not None:
            record["_title"] = case["title"]
        results.append((case, record))
    return results, slowest


@needs_corpus
def test_every_report_gives_a_record_or_parse_error(syzkaller):
    results, slowest = syzkaller
    assert len(results) > 500
    for case, record in results:
        if record is None:
            continue
        assert record["kind"] in tr.KINDS, case["source"]
        assert re.match(r"^[0-9a-f]{16}$", record["signature"])
    # all the panicked reports are crashes
    assert all(record is not None for case, record in results if case["panicked"])
    assert slowest < 2.0


@needs_corpus
def test_agreement_with_syzkaller(syzkaller, request):
    results, _slowest = syzkaller
    panicked = [(case, record) for case, record in results if case["panicked"]]
    framed = [(guilty_frame(case), record) for case, record in panicked if guilty_frame(case)]
    culprits = sum(1 for frame, record in framed if record["culprit"] == frame)
    pairs = list(itertools.combinations(panicked, 2))
    same_title = [(a, b) for a, b in pairs if a[0]["title"] == b[0]["title"]]
    grouped = [(a, b) for a, b in same_title if a[1]["signature"] == b[1]["signature"]]
    merged = [(a, b) for a, b in pairs if a[1]["signature"] == b[1]["signature"]]
    designed = [(a, b) for a, b in merged if a[0]["title"] != b[0]["title"]
                and by_design(a[1], b[1])]
    others = [(case, record) for case, record in results
              if not case["panicked"] and record is not None and guilty_frame(case)]
    other_culprits = sum(1 for case, record in others if record["culprit"] == guilty_frame(case))
    lines = [
        "syzkaller corpus: %d reports, %d panicked" % (len(results), len(panicked)),
        "culprit = guilty frame: %d of %d panicked reports (%.1f%%)"
        % (culprits, len(framed), 100.0 * culprits / len(framed)),
        "pairs with one title grouped: %d of %d (%.1f%%)"
        % (len(grouped), len(same_title), 100.0 * len(grouped) / len(same_title)),
        "pairs grouped sharing a title: %d of %d (%.1f%%); %d of %d counting the %d merges "
        "by design (%.1f%%)" % (
            len(grouped), len(merged), 100.0 * len(grouped) / len(merged),
            len(grouped) + len(designed), len(merged), len(designed),
            100.0 * (len(grouped) + len(designed)) / len(merged)),
        "non-panicked reports triaged as crashes: culprit = guilty frame in %d of %d"
        % (other_culprits, len(others)),
    ]
    request.config._crashkit_triage_figures = lines
    print("\n".join(lines))
    assert culprits >= 0.90 * len(framed)
    assert len(grouped) >= 0.90 * len(same_title)
    assert len(grouped) + len(designed) >= 0.95 * len(merged)


# name, kind, function, culprit, comm, pid, kernel release, canonical reason (signature)
REAL = [
    ("a06-syz-arm64-sea-clear-page.txt", "oops", "clear_page", "clear_page", "swapper/0", 1,
     "5.10.2", "synchronous external abort"),
    # arm64 "Bad mode" (5.10 panics with "bad mode" after it)
    ("a07-syz-arm64-bad-mode.txt", "oops", "update_cpu_capabilities", "update_cpu_capabilities",
     "swapper", 0, "5.10.2", "bad mode"),
    # a soft lockup is named after the operation the CPU loops in (network receive in
    # softirq), not after the lock release the watchdog sampled
    ("a13-syz-arm64-softlockup.txt", "soft_lockup", "_raw_spin_unlock_irqrestore", "ip_list_rcv",
     "ksoftirqd/0", 9, "5.9.0-12994-gf9893351acae", "soft lockup"),
    ("p06-abrt-rhel7-oom-panic.txt", "oom", "read_swap_cache_async", "read_swap_cache_async",
     "webservice", 35943, "3.10.0-327.28.2.el7.x86_64",
     "Out of memory: system-wide panic_on_oom is enabled"),
    # old-format machine check: "CPU 0: Machine Check Exception", "Unable to continue"
    ("p15-abrt-mce-unable-to-continue.txt", "mce", None, None, None, None, None,
     "Unable to continue"),
    # x86-64 3.6: "Pid: N, comm: X", "RIP: 0010:[<addr>]  [<addr>] func"
    ("p23-rhbz865695-wl-x86_64.txt", "bug", "wdev_priv", "wdev_priv", "wpa_supplicant", 802,
     "3.6.1-1.fc17.x86_64", "kernel BUG at include/net/cfg80211.h"),
    # the same bug on i686: "EIP is at"
    ("p24-rhbz865695-wl-i686.txt", "bug", "wdev_priv", "wdev_priv", "wpa_supplicant", 598,
     "3.6.1-1.fc17.i686.PAE", "kernel BUG at include/net/cfg80211.h"),
    # 5.3 WARNING escalated by panic_on_warn; another task's lines ([ T3185], [ T3109]) are
    # interleaved with the call trace
    ("p25-syz-warn-pvr2-a.txt", "warning", "sysfs_remove_group", "pvr2_i2c_core_done",
     "pvrusb2-context", 107, "5.3.0+", "WARNING at fs/sysfs/group.c"),
    ("p26-syz-warn-pvr2-b.txt", "warning", "sysfs_remove_group", "pvr2_i2c_core_done",
     "pvrusb2-context", 102, "5.3.0+", "WARNING at fs/sysfs/group.c"),
    ("p27-syz-sysrq-callerid.txt", "sysrq", "sysrq_handle_crash", "sysrq_handle_crash", "bash",
     5831, "4.20.0-next-20190102", "sysrq triggered crash"),
    ("p28-syz-kill-init.txt", "kill_init", "do_exit", "do_exit", "init", 1,
     "4.15.0-rc3-next-20171214+", "Attempted to kill init! exitcode=0x0000000b"),
    # "PANIC: double fault" is how x86-64 reports a kernel stack overflow
    ("p29-syz-double-fault.txt", "stack_overflow", "kvm_async_pf_task_wait",
     "kvm_async_pf_task_wait", "kworker/1:1", 1227, "4.16.0-rc1+", "kernel stack overflow"),
    # stuck waiting for other CPUs in smp_call_function_single: the wait is the bug's identity
    ("p30-syz-softlockup-smp-call-function.txt", "soft_lockup", "smp_call_function_single",
     "smp_call_function", "syz-executor.1", 2970, "5.8.0-rc3-syzkaller", "soft lockup"),
    # the file system module set f_op->release to single_release without seq_file: the trace
    # has no frame of it, the fault is in single_release called by __fput
    ("a01-alma9-arm64-oot-fs-nullderef-kdump.txt", "null_deref", "single_release",
     "single_release", "touch", 67150, "5.14.0-570.22.1.el9_6.aarch64",
     "kernel NULL pointer dereference"),
    # the panic line follows a test's output on the same serial line
    ("a03-kci-arm64-kill-init-console-prefix.txt", "kill_init", "do_exit", "do_exit", "init", 1,
     "6.13.0", "Attempted to kill init! exitcode=0x00000200"),
    ("a05-ubuntu-nvidia64k-arm64-callerid-rcu-bad-pc-kdump.txt", "oops", "rcu_core", "rcu_core",
     "swapper/0", 0, "6.14.0-1008-nvidia-64k", "unable to handle kernel paging request"),
    ("a06-ubuntu-nvidia64k-arm64-callerid-gpu-lost-nullderef.txt", "null_deref",
     "kfifoGetChannelIterator_IMPL", "kfifoGetChannelIterator_IMPL", "nv_open_q", 131119,
     "6.14.0-1008-nvidia-64k", "kernel NULL pointer dereference"),
    # the fault is in the wait queue code; who passed it the bad queue is the culprit
    ("i01-kci-chromebook-i686-nullderef-wake-up-common.txt", "null_deref", "__wake_up_common",
     "amdgpu_debugfs_wait_dump", "kworker/1:1", 69, "5.10.234-rc1",
     "kernel NULL pointer dereference"),
    ("p01-rhel7-ppc64-ipr-eeh-oops.txt", "oops", "ipr_pci_error_detected",
     "ipr_pci_error_detected", "eehd", 251, "3.10.0-33.el7.ppc64",
     "unable to handle kernel paging request"),
    # an NMI from the management processor (hpwdt): the idle CPU is where it was, not a cause
    ("x01-rhel8-hpe-nmi-hpwdt-panic.txt", "nmi", "intel_idle", "intel_idle", "swapper/0", 0,
     "4.18.0-193.13.2.el8_2.x86_64",
     "02: An NMI occurred. Depending on your system the reason for the NMI is logged in any one "
     "of the following resources:"),
    # RHEL 7 hard lockup: the lockup report's registers are another context's; the panic's NMI
    # backtrace shows the CFS bandwidth timer spinning after the NMI section
    ("x02-rhel7-hard-lockup-cfs-bandwidth.txt", "hard_lockup", "walk_tg_tree_from",
     "walk_tg_tree_from", "swapper/61", 0, "3.10.0-957.el7.x86_64", "hard LOCKUP"),
    ("x03-fedora23-null-rip-wacom-irq.txt", "null_deref", "led_trigger_event",
     "led_trigger_event", "swapper/0", 0, "4.2.3-300.fc23.x86_64",
     "kernel NULL pointer dereference"),
    # serial console with test output glued to the kernel's lines, the BUG printed twice
    ("x04-lkft-kvm-mmu-load-bug-serial-interleaved.txt", "bug", "kvm_mmu_load", "kvm_mmu_load",
     "set_memory_regi", 10338, "5.7.0-rc6-next-20200518", "kernel BUG at arch/x86/kvm/mmu/mmu.c"),
    # a bad string pointer faults in vsnprintf's helpers; the caller formatting it is to blame
    ("x06-kci-chromebook-pagefault-string-nocheck-panic.txt", "oops", "string_nocheck",
     "__devm_ioremap_resource", "udevd", 185, "5.10.219-rc1",
     "unable to handle kernel paging request"),
    ("x07-kci-chromebook-nullderef-cros-ec-interleaved.txt", "null_deref",
     "cros_ec_check_features", "cros_ec_check_features", "udevd", 154, "5.15.161",
     "kernel NULL pointer dereference"),
    # the panic names an address, not a symbol: the culprit is the frame above the check
    ("x09-amdgpu-stack-protector-panic-4.11.txt", "panic", "__stack_chk_fail",
     "amdgpu_atombios_crtc_powergate_init", "modprobe", 1594, "4.11.3+",
     "stack-protector: Kernel stack is corrupted in: <addr>"),
    ("x22-fedora32-kdump-sysrq-crash-full-dmesg.txt", "sysrq", "sysrq_handle_crash",
     "sysrq_handle_crash", "bash", 4952, "5.4.0-0.rc6.git0.1.fc32.x86_64",
     "sysrq triggered crash"),
    ("x23-fedora22-radeon-bug-no-timestamps.txt", "bug", "radeon_invalid_rreg",
     "radeon_invalid_rreg", "plymouthd", 280, "4.0.6-300.fc22.x86_64",
     "kernel BUG at drivers/gpu/drm/radeon/radeon_asic.c"),
]


@needs_corpus
@pytest.mark.parametrize("name, kind, function, culprit, comm, pid, release, reason", REAL,
                         ids=[row[0] for row in REAL])
def test_real_corpus_log(name, kind, function, culprit, comm, pid, release, reason):
    record = tr.triage_file(corpus_file(name))
    assert record["kind"] == kind
    assert record["function"] == function
    assert record["culprit"] == culprit
    assert (record["comm"], record["pid"]) == (comm, pid)
    assert record["kernel_release"] == release
    assert "| reason=%s" % reason in record["signature_text"]


@needs_corpus
def test_interleaved_task_does_not_cut_the_call_trace():
    record = tr.triage_file(corpus_file("p25-syz-warn-pvr2-a.txt"))
    # frames after the "[ T3185] usb 8-1: ..." and "[ T3109] usbhid ..." lines are still read
    assert record["call_trace"][-3:] == ["pvr2_context_thread_func", "kthread", "ret_from_fork"]


@needs_corpus
def test_real_corpus_grouping_both_ways():
    signatures = {row[0]: tr.triage_file(corpus_file(row[0]))["signature"] for row in REAL}
    # the same bug on two hosts, builds, PIDs and log prefixes
    assert signatures["p25-syz-warn-pvr2-a.txt"] == signatures["p26-syz-warn-pvr2-b.txt"]
    # the same bug on x86_64 and i686 builds of one release
    assert signatures["p23-rhbz865695-wl-x86_64.txt"] == signatures["p24-rhbz865695-wl-i686.txt"]
    # every sysrq-triggered crash is one crash
    assert signatures["p27-syz-sysrq-callerid.txt"] == signatures[
        "x22-fedora32-kdump-sysrq-crash-full-dmesg.txt"]
    # everything else is a different bug
    groups = {}
    for name, signature in signatures.items():
        groups.setdefault(signature, []).append(name)
    assert sorted(len(names) for names in groups.values() if len(names) > 1) == [2, 2, 2]
    assert len(groups) == len(REAL) - 3
