# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import os
import random
import re

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.crashkit.kdump.plugins.module_utils import _triage as tr
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import HostError, ParseError

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "triage")
ALL_FIXTURES = sorted(name for name in os.listdir(FIXTURES) if name.endswith(".log"))


def fixture(name):
    with io.open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


def triage(name, **kwargs):
    return tr.triage_text(fixture(name), **kwargs)


# --------------------------------------------------------------------------- every crash form

FORMS = [
    # file, kind, function, module, taint, comm, pid, cpu, panic_reason
    ("sysrq_debian12.log", "sysrq", "sysrq_handle_crash", None, [], "bash", 2468, 0,
     "sysrq triggered crash"),
    ("sysrq_debian13.log", "sysrq", "sysrq_handle_crash", None, ["W"], "bash", 1893, 1,
     "sysrq triggered crash"),
    # the log kdump-tools 1.10.7 saved in the lab (Debian 13 VM): printk caller ids ("[ T2615]")
    ("sysrq_debian13_lab_caller.log", "sysrq", "sysrq_handle_crash", None, [], "sh", 2615, 0,
     "sysrq triggered crash"),
    ("sysrq_rhel7.log", "sysrq", "sysrq_handle_crash", None, [], "bash", 3051, 1,
     "BUG: unable to handle kernel NULL pointer dereference at           (null)"),
    ("null_deref_module.log", "null_deref", "mydrv_fill_buffer", "mydrv", ["O", "E"], "cat", 4211,
     3, "BUG: kernel NULL pointer dereference, address: 0000000000000010"),
    ("null_deref_levels.log", "null_deref", "neigh_periodic_work", None, [], "kworker/0:2", 812, 0,
     "Fatal exception"),
    ("kernel_bug.log", "bug", "ext4_writepages", "ext4", [], "kworker/u8:5", 287, 2,
     "kernel BUG at fs/ext4/inode.c:2765!"),
    ("kernel_bug_interrupt.log", "bug", "skb_panic", None, ["W", "O"], "swapper/2", 0, 2,
     "Fatal exception in interrupt"),
    ("gpf.log", "gpf", "____nf_conntrack_find", "nf_conntrack", ["O"], "swapper/5", 0, 5,
     "Fatal exception in interrupt"),
    ("soft_lockup.log", "soft_lockup", "smp_call_function_many_cond", None, [], "kworker/1:1", 97,
     1, "softlockup: hung tasks"),
    ("hard_lockup.log", "hard_lockup", "native_queued_spin_lock_slowpath", None, [],
     "qemu-system-x86", 1822, 3, "Hard LOCKUP"),
    ("hung_task.log", "hung_task", "jbd2_journal_commit_transaction", "jbd2", [], "jbd2/sda1-8",
     245, 0, "hung_task: blocked tasks"),
    ("oom_deadlock.log", "oom", "__handle_mm_fault", None, [], "stress-ng", 3310, 1,
     "System is deadlocked on memory"),
    ("oom_panic_on_oom.log", "oom", "pagecache_get_page", None, [], "java", 20511, 0,
     "Out of memory: system-wide panic_on_oom is enabled"),
    ("mce.log", "mce", None, None, [], None, None, 12, "Fatal machine check"),
    ("vfs_root.log", "vfs_root", "mount_block_root", None, [], "swapper/0", 1, 0,
     "VFS: Unable to mount root fs on unknown-block(0,0)"),
    ("kill_init.log", "kill_init", "do_exit", None, [], "systemd", 1, 2,
     "Attempted to kill init! exitcode=0x0000000b"),
    # a WARNING escalated by panic_on_warn is the warning's crash
    ("syslog_panic_on_warn.log", "warning", "dev_watchdog", None, [], "swapper/6", 0, 6,
     "kernel: panic_on_warn set ..."),
    ("multiple_oops.log", "gpf", "mydrv_release_queue", "mydrv", ["O", "E"], "mydrv-ctl", 5120, 0,
     "general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] "
     "PREEMPT SMP NOPTI"),
    ("no_call_trace.log", "oops", "memcpy_erms", None, [], "rsync", 88213, 14,
     "BUG: unable to handle page fault for address: ffffb3c0c2a41000"),
]


def test_every_fixture_is_in_the_table():
    assert sorted(row[0] for row in FORMS) == ALL_FIXTURES


@pytest.mark.parametrize("name, kind, function, module, taint, comm, pid, cpu, reason", FORMS)
def test_triage_forms(name, kind, function, module, taint, comm, pid, cpu, reason):
    record = triage(name)
    assert record["kind"] == kind
    assert record["function"] == function
    assert record["module"] == module
    assert record["taint"] == taint
    assert record["comm"] == comm
    assert record["pid"] == pid
    assert record["cpu"] == cpu
    assert record["panic_reason"] == reason
    assert re.match(r"^[0-9a-f]{16}$", record["signature"])
    assert record["signature_text"].startswith("kind=%s | reason=" % kind)
    assert record["kind"] in tr.KINDS


@pytest.mark.parametrize("name, headline", [
    ("soft_lockup.log", "watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [kworker/1:1:97]"),
    ("hard_lockup.log", "NMI watchdog: Watchdog detected hard LOCKUP on cpu 3"),
    ("hung_task.log", "INFO: task jbd2/sda1-8:245 blocked for more than 120 seconds."),
    ("null_deref_levels.log",
     "BUG: unable to handle kernel NULL pointer dereference at 0000000000000008"),
    ("kernel_bug_interrupt.log", "kernel BUG at net/core/skbuff.c:206!"),
    ("oom_deadlock.log", "Out of memory and no killable processes..."),
    ("oom_panic_on_oom.log", "java invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), "
                             "order=0, oom_score_adj=0"),
    ("mce.log", "mce: [Hardware Error]: CPU 12: Machine Check Exception: 5 Bank 7: "
                "be00000000800400"),
    ("syslog_panic_on_warn.log", "WARNING: CPU: 6 PID: 0 at net/sched/sch_generic.c:525 "
                                 "dev_watchdog+0x207/0x210"),
    ("vfs_root.log", "Kernel panic - not syncing: VFS: Unable to mount root fs on "
                     "unknown-block(0,0)"),
])
def test_headline_is_the_cause_the_panic_names(name, headline):
    assert triage(name)["headline"] == headline


@pytest.mark.parametrize("name, release, build", [
    ("sysrq_debian12.log", "6.1.0-56-amd64",
     "#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2025-06-10)"),
    ("sysrq_debian13.log", "6.12.38+deb13-amd64",
     "#1 SMP PREEMPT_DYNAMIC Debian 6.12.38-1 (2025-07-16)"),
    ("sysrq_rhel7.log", "3.10.0-1160.el7.x86_64", "#1 SMP Mon Oct 19 16:18:59 UTC 2020"),
    ("null_deref_levels.log", "4.19.0-26-amd64", "#1 SMP Debian 4.19.304-1 (2024-01-09)"),
    # No boot line in a syslog excerpt: the CPU line's short build.
    ("syslog_panic_on_warn.log", "6.1.0-18-amd64", "#1 Debian 6.1.76-1"),
    # No CPU line at all (machine check): the boot line.
    ("mce.log", "5.10.0-28-amd64", "#1 SMP Debian 5.10.209-2 (2024-01-31)"),
])
def test_kernel_release_and_build(name, release, build):
    record = triage(name)
    assert record["kernel_release"] == release
    assert record["kernel_build"] == build


@pytest.mark.parametrize("name, hardware", [
    ("sysrq_debian12.log",
     "QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014"),
    ("gpf.log", "Dell Inc. PowerEdge R640/0CRT1G, BIOS 2.19.1 06/04/2023"),
    ("mce.log", "Supermicro SYS-6019P-MTR/X11DPi-N(T), BIOS 3.8b 01/17/2023"),
])
def test_hardware(name, hardware):
    assert triage(name)["hardware"] == hardware


@pytest.mark.parametrize("name, taint_raw", [
    ("sysrq_debian12.log", "Not tainted"),
    ("null_deref_module.log", "G           OE"),
    ("sysrq_debian13.log", "G        W"),
])
def test_taint_raw(name, taint_raw):
    assert triage(name)["taint_raw"] == taint_raw


@pytest.mark.parametrize("name, call_trace", [
    ("sysrq_debian12.log", ["dump_stack_lvl", "panic", "sysrq_handle_crash",
                            "__handle_sysrq.cold", "write_sysrq_trigger", "proc_reg_write",
                            "vfs_write", "ksys_write", "do_syscall_64",
                            "entry_SYSCALL_64_after_hwframe"]),
    ("null_deref_module.log", ["mydrv_read", "vfs_read", "ksys_read", "do_syscall_64",
                               "entry_SYSCALL_64_after_hwframe"]),
    ("sysrq_rhel7.log", ["__handle_sysrq", "write_sysrq_trigger", "proc_reg_write", "vfs_write",
                         "SyS_write", "system_call_fastpath"]),
    ("soft_lockup.log", ["on_each_cpu_cond_mask", "flush_tlb_kernel_range",
                         "__purge_vmap_area_lazy", "drain_vmap_area_work", "process_one_work",
                         "worker_thread", "kthread", "ret_from_fork"]),
    ("no_call_trace.log", []),
    ("mce.log", []),
])
def test_call_trace_without_unreliable_frames_and_offsets(name, call_trace):
    assert triage(name)["call_trace"] == call_trace


def test_trace_of_only_unreliable_frames_is_kept():
    text = "\n".join([
        "[  10.0] BUG: unable to handle kernel paging request at ffffffffc0123000",
        "[  10.0] Oops: 0000 [#1] SMP",
        "[  10.0] CPU: 0 PID: 7 Comm: sh Not tainted 4.9.0-3-amd64 #1 Debian 4.9.30-2",
        "[  10.0] Call Trace:",
        "[  10.0]  ? foo_one+0x10/0x20 [legacy]",
        "[  10.0]  ? foo_two+0x10/0x20 [legacy]",
        "[  10.0]  ? 0xffffffffc0123456",
        "[  10.0]  ? foo_three+0x10/0x20",
    ])
    record = tr.triage_text(text)
    assert record["call_trace"] == ["foo_one", "foo_two", "foo_three"]
    assert (record["function"], record["module"]) == ("foo_one", "legacy")


def test_line_of_the_headline_and_excerpt():
    record = triage("null_deref_module.log")
    assert record["line"] == 8
    # The log starts less than EXCERPT_BEFORE lines before the headline.
    assert record["excerpt"][7].endswith(record["headline"])
    assert record["excerpt"][0].startswith("[    0.000000] Linux version")
    assert record["excerpt"][-1].endswith("CR2: 0000000000000010")


def test_excerpt_is_optional():
    assert "excerpt" not in triage("gpf.log", keep_excerpt=False)


def test_syslog_prefix_gives_host_and_time():
    record = triage("syslog_panic_on_warn.log")
    assert record["host"] == "web-07"
    assert record["crash_time"] == "2024-05-14T03:12:45.118850+02:00"
    assert triage("gpf.log")["host"] is None


def test_dmesg_t_timestamps_and_printk_caller_ids():
    text = "\n".join([
        "[Tue May 14 03:12:45 2024] [    T1] sysrq: Trigger a crash",
        "[Tue May 14 03:12:45 2024] [ T2468] Kernel panic - not syncing: sysrq triggered crash",
        "[Tue May 14 03:12:45 2024] [ T2468] CPU: 0 PID: 2468 Comm: bash Not tainted "
        "6.1.0-18-amd64 #1 Debian 6.1.76-1",
        "[Tue May 14 03:12:45 2024] [ T2468] Call Trace:",
        "[Tue May 14 03:12:45 2024] [ T2468]  <TASK>",
        "[Tue May 14 03:12:45 2024] [ T2468]  dump_stack_lvl+0x44/0x5c",
        "[Tue May 14 03:12:45 2024] [ T2468]  panic+0x118/0x2ed",
        "[Tue May 14 03:12:45 2024] [ T2468]  sysrq_handle_crash+0x16/0x20",
    ])
    record = tr.triage_text(text)
    assert (record["kind"], record["function"], record["pid"]) == (
        "sysrq", "sysrq_handle_crash", 2468)
    assert record["crash_time"] == "2024-05-14T03:12:45"


def test_arm64_oops():
    text = "\n".join([
        "[  301.112233] Unable to handle kernel NULL pointer dereference at virtual address "
        "0000000000000008",
        "[  301.112240] Mem abort info:",
        "[  301.112245]   ESR = 0x0000000096000005",
        "[  301.112300] Internal error: Oops: 0000000096000005 [#1] PREEMPT SMP",
        "[  301.112310] Modules linked in: armdrv(O)",
        "[  301.112320] CPU: 2 PID: 901 Comm: armtest Tainted: G           O       "
        "6.1.0-18-arm64 #1  Debian 6.1.76-1",
        "[  301.112330] Hardware name: linux,dummy-virt (DT)",
        "[  301.112340] pstate: 60400005 (nZCv daif +PAN -UAO -TCO -DIT -SSBS BTYPE=--)",
        "[  301.112350] pc : armdrv_poke+0x1c/0x40 [armdrv]",
        "[  301.112360] lr : armdrv_write+0x30/0x60 [armdrv]",
        "[  301.112370] sp : ffff80000a4b3d50",
        "[  301.112380] Call trace:",
        "[  301.112390]  armdrv_poke+0x1c/0x40 [armdrv]",
        "[  301.112400]  armdrv_write+0x30/0x60 [armdrv]",
        "[  301.112410]  vfs_write+0xc8/0x2f0",
        "[  301.112420]  ksys_write+0x74/0x110",
        "[  301.112430]  __arm64_sys_write+0x24/0x30",
        "[  301.112440] Code: f9400a60 b4000080 f9400400 (f9400400)",
    ])
    record = tr.triage_text(text)
    assert record["kind"] == "null_deref"
    assert (record["function"], record["module"]) == ("armdrv_poke", "armdrv")
    assert record["call_trace"][:3] == ["armdrv_poke", "armdrv_write", "vfs_write"]
    assert record["culprit"] == "armdrv_poke"
    assert record["signature_text"].endswith("culprit=armdrv_poke [armdrv]")
    assert record["kernel_release"] == "6.1.0-18-arm64"


def test_multiple_oopses_use_the_first_and_list_all():
    record = triage("multiple_oops.log")
    assert record["kind"] == "gpf"
    assert record["line"] == 5
    assert [(e["kind"], e["line"], e["fatal"]) for e in record["events"]] == [
        ("gpf", 5, True), ("null_deref", 45, True)]
    assert record["events"][1]["text"] == ("BUG: kernel NULL pointer dereference, address: "
                                           "0000000000000008")
    assert record["event_count"] == 2


@pytest.mark.parametrize("name, events", [
    ("hung_task.log", [("hung_task", 5, False), ("hung_task", 28, False), ("panic", 56, True)]),
    ("sysrq_debian13.log", [("warning", 8, False), ("panic", 34, True)]),
    ("mce.log", [("mce", 4, False), ("mce", 8, False), ("panic", 14, True)]),
    ("null_deref_levels.log", [("null_deref", 5, True), ("panic", 35, True)]),
])
def test_events(name, events):
    assert [(e["kind"], e["line"], e["fatal"]) for e in triage(name)["events"]] == events


def test_hung_task_run_starts_at_the_first_blocked_task():
    record = triage("hung_task.log")
    # The second blocked task (mysqld) is in the same report run: the first one is the cause.
    assert record["comm"] == "jbd2/sda1-8"
    # what the task waits in: the journal commit, past the wait primitives
    assert record["signature_text"] == (
        "kind=hung_task | reason=hung task | culprit=jbd2_journal_commit_transaction [jbd2]")


def test_events_are_capped():
    lines = ["[  %d.000000] WARNING: CPU: 0 PID: 1 at drivers/x.c:%d x_fn+0x1/0x2" % (i, i)
             for i in range(1, 260)]
    lines.append("[  999.000000] Kernel panic - not syncing: Fatal exception")
    record = tr.triage_text("\n".join(lines))
    assert len(record["events"]) == tr.MAX_EVENTS
    assert record["event_count"] == 260
    assert record["kind"] == "panic"


# --------------------------------------------------------------------------- unknown and none


def test_crash_of_unknown_shape():
    text = "\n".join([
        "[  77.100000] eth0: link up",
        "[  77.200000] frobnicator: impossible state 7 in queue 3",
        "[  77.200100] Modules linked in: frob(O) ext4",
        "[  77.200200] CPU: 1 PID: 300 Comm: frobd Tainted: G           O      "
        "6.1.0-18-amd64 #1  Debian 6.1.76-1",
        "[  77.200300] RIP: 0010:frob_step+0x44/0x90 [frob]",
        "[  77.200400] Call Trace:",
        "[  77.200500]  frob_loop+0x10/0x30 [frob]",
        "[  77.200600]  kthread+0xd7/0x100",
    ])
    record = tr.triage_text(text)
    assert record["kind"] == "unknown"
    assert record["headline"] == "frobnicator: impossible state 7 in queue 3"
    assert (record["function"], record["module"]) == ("frob_step", "frob")
    assert record["signature_text"] == (
        "kind=unknown | reason=frobnicator: impossible state 7 in queue 3"
        " | culprit=frob_step [frob]")


def test_fatal_exception_after_an_unknown_dump_is_an_oops():
    text = "\n".join([
        "[  5.0] CPU: 0 PID: 12 Comm: kworker/0:1 Not tainted 6.1.0-18-amd64 #1 Debian 6.1.76-1",
        "[  5.0] RIP: 0010:weird_fn+0x1/0x2",
        "[  5.0] Modules linked in: ext4",
        "[  5.1] Kernel panic - not syncing: Fatal exception",
    ])
    record = tr.triage_text(text)
    assert (record["kind"], record["function"], record["panic_reason"]) == (
        "oops", "weird_fn", "Fatal exception")


@pytest.mark.parametrize("text, words", [
    ("", ["empty"]),
    ("[    0.000000] Linux version 6.1.0-18-amd64 (x) #1 SMP\n[    1.0] systemd[1]: ok\n",
     ["no crash in 2 lines"]),
    ("[ 12.0] INFO: task kworker/0:1:12 blocked for more than 120 seconds.\n"
     "[ 13.0] watchdog: BUG: soft lockup - CPU#0 stuck for 23s! [sh:1]\n",
     ["hung_task (first at line 1)", "soft_lockup (first at line 2)"]),
    # A task dump of sysrq-t is no crash.
    ("[ 50.0] sysrq: Show State\n[ 50.1] task:systemd state:S stack:0 pid:1 ppid:0\n"
     "[ 50.2] Call Trace:\n[ 50.3]  <TASK>\n[ 50.4]  __schedule+0x34d/0x9e0\n", ["no crash"]),
])
def test_no_crash_is_a_parse_error(text, words):
    with pytest.raises(ParseError) as error:
        tr.triage_text(text)
    for word in words:
        assert word in str(error.value)


def test_triage_text_needs_text():
    with pytest.raises(ParseError):
        tr.triage_text(b"bytes")


# --------------------------------------------------------------------------- signatures


def test_signature_text_examples():
    assert triage("null_deref_module.log")["signature_text"] == (
        "kind=null_deref | reason=kernel NULL pointer dereference"
        " | culprit=mydrv_fill_buffer [mydrv]")
    assert triage("kernel_bug.log")["signature_text"] == (
        "kind=bug | reason=kernel BUG at fs/ext4/inode.c | culprit=ext4_writepages [ext4]")
    assert triage("oom_deadlock.log")["signature_text"] == (
        "kind=oom | reason=System is deadlocked on memory")


def test_all_sysrq_crashes_share_one_signature():
    signatures = {triage(name)["signature"] for name in (
        "sysrq_debian12.log", "sysrq_debian13.log", "sysrq_rhel7.log")}
    assert len(signatures) == 1


def test_different_crashes_have_different_signatures():
    names = [name for name in ALL_FIXTURES if not name.startswith("sysrq")]
    signatures = [triage(name)["signature"] for name in names]
    assert len(set(signatures)) == len(names)


def _shift_timestamps(text, rng):
    offset = rng.uniform(1, 5000)
    return re.sub(r"\[ *(\d+\.\d+)\]",
                  lambda m: "[%12.6f]" % (float(m.group(1)) + offset), text)


def _new_addresses(text, rng):
    return re.sub(r"\b(ffff|0000)([0-9a-f]{12})\b",
                  lambda m: m.group(1) + "%012x" % rng.getrandbits(48), text)


def _new_pids_and_cpus(text, rng):
    text = re.sub(r"\bPID: \d+", lambda m: "PID: %d" % rng.randint(2, 99999), text)
    text = re.sub(r"\bCPU: \d+", lambda m: "CPU: %d" % rng.randint(0, 63), text)
    return re.sub(r"CPU#\d+", lambda m: "CPU#%d" % rng.randint(0, 63), text)


def _new_build(text, _rng):
    text = text.replace("6.1.0-18-amd64", "6.1.0-21-amd64").replace("6.1.76-1", "6.1.90-1")
    # A rebuilt kernel: other offsets and function sizes.
    return re.sub(r"\+0x[0-9a-f]+/0x[0-9a-f]+",
                  lambda m: "+0x%x/0x%x" % (len(m.group(0)) * 3, len(m.group(0)) * 9), text)


def _syslog(text, _rng, host="db-01"):
    return "\n".join("2024-06-01T10:00:%02d.000000+00:00 %s kernel: %s" % (i % 60, host, line)
                     for i, line in enumerate(text.splitlines()))


def _no_timestamps(text, _rng):
    return re.sub(r"(?m)^\[ *\d+\.\d+\] ?", "", text)


def _levels(text, _rng):
    return re.sub(r"(?m)^", "<4>", text)


def _noise_around(text, rng):
    noise = ["[    5.%06d] systemd[1]: Started session-%d.scope." % (i, i)
             for i in range(rng.randint(1, 300))]
    return "\n".join(noise + text.splitlines() + noise[:7])


def _applies(transform, name):
    text = fixture(name)
    if transform is _new_build:
        return "6.1.0-18-amd64" in text
    if transform in (_syslog, _levels, _no_timestamps):
        # Only logs whose lines carry nothing but a kernel timestamp.
        return text.startswith("[")
    return True


TRANSFORMS = [_shift_timestamps, _new_addresses, _new_pids_and_cpus, _new_build, _syslog,
              _no_timestamps, _levels, _noise_around]
STABILITY_CASES = [pytest.param(name, transform, id="%s-%s" % (transform.__name__.strip("_"), name))
                   for transform in TRANSFORMS for name in ALL_FIXTURES
                   if _applies(transform, name)]


@pytest.mark.parametrize("name, transform", STABILITY_CASES)
def test_signature_is_stable(name, transform):
    text = fixture(name)
    original = tr.triage_text(text)
    changed = tr.triage_text(transform(text, random.Random(name)))
    assert changed["signature"] == original["signature"]
    assert changed["kind"] == original["kind"]
    assert changed["function"] == original["function"]


def test_signature_ignores_hosts():
    text = fixture("null_deref_module.log")
    one = tr.triage_text(_syslog(text, None, "web-01"))
    two = tr.triage_text(_syslog(text, None, "db-17"))
    assert (one["host"], two["host"]) == ("web-01", "db-17")
    assert one["signature"] == two["signature"]


@pytest.mark.parametrize("name, before, after", [
    ("soft_lockup.log", "stuck for 22s! [kworker/1:1:97]", "stuck for 48s! [kworker/1:0:3012]"),
    ("hung_task.log", "task jbd2/sda1-8:245 blocked for more than 120 seconds",
     "task jbd2/sdb2-8:611 blocked for more than 241 seconds"),
    ("hard_lockup.log", "hard LOCKUP on cpu 3", "hard LOCKUP on cpu 17"),
    ("kernel_bug.log", "fs/ext4/inode.c:2765!", "fs/ext4/inode.c:2790!"),
    ("null_deref_module.log", "address: 0000000000000010", "address: 0000000000000018"),
    ("gpf.log", "0xdead000000000122", "0xdead000000000100"),
    ("syslog_panic_on_warn.log", "sch_generic.c:525", "sch_generic.c:512"),
])
def test_volatile_headline_parts_do_not_change_the_signature(name, before, after):
    text = fixture(name)
    assert before in text
    assert (tr.triage_text(text.replace(before, after))["signature"]
            == tr.triage_text(text)["signature"])


@pytest.mark.parametrize("name, before, after", [
    # The same NULL dereference in another function.
    ("null_deref_module.log", "mydrv_fill_buffer+0x1c/0x70", "mydrv_fill_page+0x1c/0x70"),
    # ... or in another module.
    ("null_deref_module.log", "mydrv_fill_buffer+0x1c/0x70 [mydrv]",
     "mydrv_fill_buffer+0x1c/0x70 [otherdrv]"),
    # Other panic reasons.
    ("vfs_root.log", "unknown-block(0,0)", "unknown-block(8,1)"),
    ("kill_init.log", "exitcode=0x0000000b", "exitcode=0x00000009"),
    ("oom_panic_on_oom.log", "system-wide panic_on_oom", "compulsory panic_on_oom"),
    ("kernel_bug.log", "fs/ext4/inode.c", "fs/ext4/extents.c"),
    ("syslog_panic_on_warn.log", "net/sched/sch_generic.c", "net/core/dev.c"),
])
def test_different_causes_change_the_signature(name, before, after):
    text = fixture(name)
    assert before in text
    assert (tr.triage_text(text.replace(before, after))["signature"]
            != tr.triage_text(text)["signature"])


def test_the_same_fault_reached_from_another_caller_is_the_same_bug():
    # The culprit is the bug's identity, not the call path to it (issue 28: signatures split
    # one bug by its callers).
    text = fixture("null_deref_module.log")
    assert " mydrv_read+0x4e/0xb0" in text
    other = text.replace(" mydrv_read+0x4e/0xb0", " mydrv_ioctl+0x4e/0xb0")
    assert tr.triage_text(other)["signature"] == tr.triage_text(text)["signature"]
    assert tr.triage_text(other)["call_trace"] != tr.triage_text(text)["call_trace"]


def test_old_and_new_null_deref_headlines_are_the_same_crash():
    old = fixture("null_deref_levels.log")
    new = old.replace("BUG: unable to handle kernel NULL pointer dereference at 0000000000000008",
                      "BUG: kernel NULL pointer dereference, address: 0000000000000008")
    assert tr.triage_text(old)["signature"] == tr.triage_text(new)["signature"]


@pytest.mark.parametrize("text, normalized", [
    ("BUG: kernel NULL pointer dereference, address: 0000000000000010",
     "BUG: kernel NULL pointer dereference, address: <addr>"),
    ("general protection fault, probably for non-canonical address 0xdead000000000122: 0000 [#1] "
     "PREEMPT SMP NOPTI", "general protection fault, probably for non-canonical address <addr>"),
    ("watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [kworker/1:1:97]",
     "watchdog: BUG: soft lockup - CPU#<n> stuck for <n>s! [<task>]"),
    ("INFO: task jbd2/sda1-8:245 blocked for more than 120 seconds.",
     "INFO: task <task> blocked for more than <n> seconds."),
    ("Watchdog detected hard LOCKUP on cpu 3", "Watchdog detected hard LOCKUP on cpu <n>"),
    ("kernel BUG at fs/ext4/inode.c:2765!", "kernel BUG at fs/ext4/inode.c:<n>!"),
    ("stack-protector: Kernel stack is corrupted in: mydrv_ioctl+0x1d2/0x2b0",
     "stack-protector: Kernel stack is corrupted in: mydrv_ioctl"),
    ("Attempted to kill init! exitcode=0x0000000b", "Attempted to kill init! exitcode=0x0000000b"),
    ("WARNING: CPU: 6 PID: 0 at net/sched/sch_generic.c:525 dev_watchdog+0x207/0x210",
     "WARNING: CPU: <n> PID: <n> at net/sched/sch_generic.c:<n> dev_watchdog"),
    ("BUG: unable to handle kernel NULL pointer dereference at           (null)",
     "BUG: unable to handle kernel NULL pointer dereference at <addr>"),
])
def test_normalize_text(text, normalized):
    assert tr.normalize_text(text) == normalized


@pytest.mark.parametrize("name, base", [
    ("__handle_sysrq.cold", "__handle_sysrq"),
    ("__alloc_pages_slowpath.constprop.0", "__alloc_pages_slowpath"),
    ("load_superblock.part.0", "load_superblock"),
    ("foo.isra.0.cold", "foo"),
    ("bar.llvm.1234567890", "bar"),
    ("plain", "plain"),
    (None, None),
])
def test_base_function(name, base):
    assert tr.base_function(name) == base


@pytest.mark.parametrize("reason, kind, link", [
    ("sysrq triggered crash", "sysrq", None),
    ("softlockup: hung tasks", "soft_lockup", "soft_lockup"),
    ("hung_task: blocked tasks", "hung_task", "hung_task"),
    ("Hard LOCKUP", "hard_lockup", "hard_lockup"),
    ("Watchdog detected hard LOCKUP on cpu 2", "hard_lockup", "hard_lockup"),
    ("System is deadlocked on memory", "oom", "oom"),
    ("Out of memory and no killable processes...", "oom", "oom"),
    ("Fatal machine check", "mce", "mce"),
    ("Timeout: Not all CPUs entered broadcast exception handler", "mce", "mce"),
    ("Fatal hardware error!", "mce", "mce"),
    ("VFS: Unable to mount root fs on unknown-block(0,0)", "vfs_root", None),
    ("Attempted to kill init! exitcode=0x00000009", "kill_init", None),
    ("kernel: panic_on_warn set ...", "warning", "warning"),
    ("panic_on_kmsan set ...", "warning", "warning"),
    ("scheduling while atomic", "warning", "warning"),
    ("Fatal exception in interrupt", "oops", "crash"),
    ("synchronous external abort: Fatal exception", "oops", "crash"),
    ("RCU Stall", "rcu_stall", "rcu_stall"),
    ("NMI: Not continuing", "nmi", "nmi"),
    ("Unable to continue", "mce", "mce"),
    ("No working init found.  Try passing init= option to kernel.", "panic", None),
])
def test_panic_cause(reason, kind, link):
    assert tr.panic_cause(reason) == (kind, link)


# --------------------------------------------------------------------------- streaming


def test_chunked_reading_gives_the_same_record(tmp_path):
    text = fixture("kernel_bug_interrupt.log")
    whole = tr.triage_text(text)
    for chunk_size in (1, 7, 64, 1000):
        parser = tr.TriageParser()
        with io.open(os.path.join(FIXTURES, "kernel_bug_interrupt.log"), encoding="utf-8") as h:
            for lines in tr.iter_log_chunks(h, chunk_size=chunk_size):
                parser.feed_chunk(lines)
        assert parser.record() == whole


def test_iter_log_chunks_cuts_overlong_lines():
    handle = io.StringIO("a" * 50 + "\nshort\n" + "b" * 30 + "\ntail")
    lines = [line for chunk in tr.iter_log_chunks(handle, chunk_size=8, max_line=10)
             for line in chunk]
    assert lines == ["a" * 10, "short", "b" * 10, "tail"]


def test_large_log_with_crash_in_the_middle(tmp_path):
    path = tmp_path / "dmesg.202405140312"
    crash = fixture("null_deref_module.log").splitlines()
    with open(str(path), "w") as handle:
        for i in range(60000):
            handle.write("[%6d.000000] systemd[1]: Started unit %d.\n" % (i, i))
        handle.write("\n".join(crash) + "\n")
        for i in range(60000):
            handle.write("[%6d.500000] audit: type=1400 audit(%d): apparmor=DENIED\n" % (i, i))
    record = tr.triage_file(str(path))
    assert record["line"] == 60000 + 8
    assert record["signature"] == triage("null_deref_module.log")["signature"]
    assert len(record["excerpt"]) == tr.EXCERPT_BEFORE + tr.EXCERPT_AFTER
    assert record["excerpt"][tr.EXCERPT_BEFORE - 1].endswith(record["headline"])
    assert record["excerpt"][0].endswith("systemd[1]: Started unit 59998.")


def test_triage_file_errors(tmp_path):
    with pytest.raises(HostError):
        tr.triage_file(str(tmp_path / "missing"))
    empty = tmp_path / "dmesg.txt"
    empty.write_text("")
    with pytest.raises(ParseError) as error:
        tr.triage_file(str(empty))
    assert str(empty) in str(error.value)


def test_non_utf8_bytes_are_replaced(tmp_path):
    path = tmp_path / "vmcore-dmesg.txt"
    path.write_bytes(b"[ 1.0] \xff\xfe garbage\n" + fixture("gpf.log").encode("utf-8"))
    assert tr.triage_file(str(path))["kind"] == "gpf"


@pytest.mark.parametrize("names, expected", [
    (["vmcore-dmesg.txt", "dmesg.txt", "vmcore"], "vmcore-dmesg.txt"),
    (["dmesg.txt", "dmesg.202401010000"], "dmesg.txt"),
    (["dmesg.202401010000", "dmesg.202405140312", "dump.202405140312"], "dmesg.202405140312"),
    (["dmesg.202405140312.gz", "dmesg.202401010000"], "dmesg.202401010000"),
])
def test_find_bundle_log(tmp_path, names, expected):
    for name in names:
        (tmp_path / name).write_text("x")
    assert tr.find_bundle_log(str(tmp_path)) == str(tmp_path / expected)


def test_find_bundle_log_errors(tmp_path):
    (tmp_path / "vmcore").write_text("x")
    with pytest.raises(HostError) as error:
        tr.find_bundle_log(str(tmp_path))
    assert "vmcore-dmesg.txt" in str(error.value)
    with pytest.raises(HostError):
        tr.find_bundle_log(str(tmp_path / "nope"))


def test_group_records():
    records = [triage(name) for name in ("sysrq_debian12.log", "gpf.log", "sysrq_rhel7.log")]
    groups = tr.group_records(records)
    assert [len(group) for group in groups.values()] == [2, 1]
    assert list(groups) == [records[0]["signature"], records[1]["signature"]]


# --------------------------------------------------------------------------- properties

FIXTURE_LINES = sorted({line for name in ALL_FIXTURES for line in fixture(name).splitlines()})


def _check(text):
    try:
        record = tr.triage_text(text)
    except ParseError:
        return
    assert record["kind"] in tr.KINDS
    assert re.match(r"^[0-9a-f]{16}$", record["signature"])
    assert all(isinstance(name, str) for name in record["call_trace"])
    assert isinstance(record["events"], list)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_gives_a_record_or_parse_error(text):
    _check(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FIXTURE_LINES), max_size=80))
def test_any_mix_of_kernel_lines_gives_a_record_or_parse_error(lines):
    _check("\n".join(lines))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ALL_FIXTURES), st.data())
def test_damaged_logs_give_a_record_or_parse_error(name, data):
    lines = fixture(name).splitlines()
    start = data.draw(st.integers(0, len(lines)))
    end = data.draw(st.integers(start, len(lines)))
    junk = data.draw(st.text(max_size=40))
    _check("\n".join(lines[:start] + [junk] + lines[end:]))
