# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Triage results pinned: the same input gives the same kind, culprit and signature.

The signature is the grouping key of every fleet report already written: a change of it for
the same log splits one crash into two groups across reports. The tables below were computed
with the triage of b1eb66b (before its speed work) and must not move when the code is only
made faster. A deliberate change of results (a report read better) updates them in the same
commit, saying why.

* every fixture log (tests/unit/fixtures/triage and its real/ folder), read as a file and as
  text;
* every report of the shared crash corpus (../shared/crash-corpus, read in place; skipped
  where absent), pinned in tests/unit/fixtures/triage/corpus-signatures.json.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import io
import json
import os

import pytest

from ansible_collections.crashkit.kdump.plugins.module_utils import _triage as tr
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import ParseError

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "triage")
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
CORPUS = (os.environ.get("CRASHKIT_CRASH_CORPUS")
          or os.path.join(ROOT, "..", "shared", "crash-corpus"))
CASES = os.path.join(CORPUS, "syzkaller", "cases.jsonl")

# fixture (relative to tests/unit/fixtures/triage), kind, culprit, signature; None: no crash
PINNED = [
    ('gpf.log', 'gpf', '____nf_conntrack_find', '1b4a11a6668a7d34'),
    ('hard_lockup.log', 'hard_lockup', 'swake_up_locked', 'a8a9c375d86aac31'),
    ('hung_task.log', 'hung_task', 'jbd2_journal_commit_transaction', 'dec5226437102116'),
    ('kernel_bug.log', 'bug', 'ext4_writepages', 'fc540e410e37c3d3'),
    ('kernel_bug_interrupt.log', 'bug', 'mydrv_rx_poll', '5b46e0bbbdc014de'),
    ('kill_init.log', 'kill_init', 'do_exit', '4eea1b040de984a2'),
    ('mce.log', 'mce', None, 'f5e3e50cf9f757e6'),
    ('multiple_oops.log', 'gpf', 'mydrv_release_queue', '9ac8ac6c94c3156b'),
    ('no_call_trace.log', 'oops', 'memcpy_erms', 'b36cc30448d7d327'),
    ('null_deref_levels.log', 'null_deref', 'neigh_periodic_work', '843c9f8c7edcf293'),
    ('null_deref_module.log', 'null_deref', 'mydrv_fill_buffer', 'f5210f3eabf21dc3'),
    ('oom_deadlock.log', 'oom', '__handle_mm_fault', 'a9824a1e82c33585'),
    ('oom_panic_on_oom.log', 'oom', 'pagecache_get_page', '1147495f6c2d66ef'),
    ('soft_lockup.log', 'soft_lockup', 'smp_call_function', '20f40879af5eadfb'),
    ('syslog_panic_on_warn.log', 'warning', 'dev_watchdog', '06e94b839fe04c11'),
    ('sysrq_debian12.log', 'sysrq', 'sysrq_handle_crash', 'e8947ee344b45d61'),
    ('sysrq_debian13.log', 'sysrq', 'sysrq_handle_crash', 'e8947ee344b45d61'),
    ('sysrq_debian13_lab_caller.log', 'sysrq', 'sysrq_handle_crash', 'e8947ee344b45d61'),
    ('sysrq_rhel7.log', 'sysrq', 'sysrq_handle_crash', 'e8947ee344b45d61'),
    ('vfs_root.log', 'vfs_root', 'mount_block_root', '8e558fdc24a9608f'),
    ('real/arm32-kill-init-from-frames-khyp44.log', 'kill_init', 'do_exit', '4eea1b040de984a2'),
    ('real/arm32-nullderef-syslog-4.19-rpi3494.log', 'null_deref', None, '91eda714eb9f9ecf'),
    ('real/arm32-oops-6.6-rpi6413.log', 'oops', None, 'af85774b50076737'),
    ('real/arm64-bad-mode-4.4-pine64.log', 'oops', None, 'a0789f9da7290069'),
    ('real/arm64-hung-task-panic-syslog-4.4-rock64-82.log', 'hung_task', None, '7724ff36f6920da3'),
    ('real/arm64-hung-task-switch-to-4.19-rockchip298.log', None, None, None),
    ('real/arm64-nullderef-long-abort-6.13-rpi6624.log', 'null_deref', None, 'e8e057369b1c3a0c'),
    ('real/arm64-oops-journal-6.12-rpi6887.log', 'oops', None, '64d16743f25870dd'),
    ('real/i686-bug-pid-eip-3.7-enhanceio25.log', 'bug', 'scsi_setup_fs_cmnd', 'f1dddf090528c953'),
    ('real/ppc64-sysrq-doubled-console-opbuild791.log', 'sysrq', None, 'e8947ee344b45d61'),
    ('real/ppc64le-machine-check-linuxppc137.log', 'mce', None, '4e477e4d34188d63'),
    ('real/riscv-oops-epc-5.10-licheepi22.log', 'oops', 'kmem_cache_alloc', 'bd945bd93fd43549'),
    ('real/riscv-vfs-root-relay-6.17-xvisor199.log', 'vfs_root', None, '4f4ed7ab847fd2c6'),
    ('real/s390x-oops-number-5.17-cbl334.log', 'oops', 'number', 'a360a5be200ae10e'),
    ('real/x86-bug-on-slub-5.14-hardened64.log', 'bug', '__kmalloc_node', '9f7a14c01915ccd5'),
    ('real/x86-divide-error-zfs-5.9-zfs11382.log', 'oops', 'spa_taskq_dispatch_ent',
     '2f23a361b13c6d35'),
    ('real/x86-double-fault-7.0-popos4029.log', 'stack_overflow', 'sio_ite_8872_probe',
     '28b95af1a84e46ec'),
    ('real/x86-invalid-opcode-oe-5.4-kvmutils6.log', 'oops', '__send_ipi_mask', '01803dd9ef55a0f2'),
    ('real/x86-kasan-decoded-6.5-mptcp433.log', None, None, None),
    ('real/x86-kfence-polish-journal-6.1-tkg682.log', None, None, None),
    ('real/x86-list-add-corruption-4.19-sonic4925.log', 'bug', '__list_add_valid',
     '4df12d7a310995d4'),
    ('real/x86-list-add-corruption-4.19-sonickernel152.log', 'bug', '__list_add_valid',
     '4df12d7a310995d4'),
    ('real/x86-list-add-corruption-rhel8-opencas726.log', 'bug', '__list_add_valid',
     '4df12d7a310995d4'),
    ('real/x86-list-del-corruption-4.19-sonic6866.log', 'bug', '__list_del_entry_valid',
     '525ae25933769cb3'),
    ('real/x86-nullderef-ip-module-iotrace37.log', 'null_deref', 'octf_trace_push',
     '969f0b8f3e8b7c3c'),
    ('real/x86-oom-deadlocked-5.10-tempesta1789.log', 'oom', None, 'a9824a1e82c33585'),
    ('real/x86-oom-sysrq-panic-3.16-sonic2988.log', 'oom', None, '4eafa2e7de04e0b8'),
    ('real/x86-oops-syslog-utc-4.4-dockerformac87.log', 'oops', None, 'a42dc6a849c72b09'),
    ('real/x86-soft-lockup-panic-6.5-centosci660.log', 'soft_lockup', '__do_softirq',
     'fde043838ca257b1'),
]


def _fixture_names():
    names = []
    for folder in ("", "real"):
        for name in sorted(os.listdir(os.path.join(FIXTURES, folder))):
            if name.endswith(".log"):
                names.append(os.path.join(folder, name) if folder else name)
    return names


def _pin(record):
    return (record["kind"], record["culprit"], record["signature"]) if record else (None,) * 3


def _triage_file(path):
    try:
        return tr.triage_file(path)
    except ParseError:
        return None


def _triage_text(text):
    try:
        return tr.triage_text(text, keep_excerpt=False)
    except ParseError:
        return None


def test_every_fixture_is_pinned():
    assert sorted(row[0] for row in PINNED) == sorted(_fixture_names())


@pytest.mark.parametrize("name, kind, culprit, signature", PINNED, ids=[row[0] for row in PINNED])
def test_fixture_results_are_pinned(name, kind, culprit, signature):
    path = os.path.join(FIXTURES, name)
    as_file = _triage_file(path)
    assert _pin(as_file) == (kind, culprit, signature)
    with io.open(path, encoding="utf-8", errors="replace") as handle:
        as_text = _triage_text(handle.read())
    assert _pin(as_text) == (kind, culprit, signature)


def _corpus_results():
    results = {}
    with io.open(CASES, encoding="utf-8") as handle:
        for line in handle:
            case = json.loads(line)
            results[case["source"]] = _triage_text(case["log"])
    for path in sorted(glob.glob(os.path.join(CORPUS, "realpanic*", "*.txt"))):
        key = "/".join(path.split(os.sep)[-2:])
        results[key] = _triage_file(path)
    return results


@pytest.mark.skipif(not os.path.isfile(CASES),
                    reason="shared crash corpus not found at %s (set CRASHKIT_CRASH_CORPUS)" % CORPUS)
def test_corpus_signatures_are_pinned():
    with io.open(os.path.join(FIXTURES, "corpus-signatures.json"), encoding="utf-8") as handle:
        pins = json.load(handle)["pins"]
    results = _corpus_results()
    found = dict((key, "%s %s" % (record["kind"], record["signature"]) if record else "no crash")
                 for key, record in results.items())
    changed = sorted("%s: pinned %s, now %s" % (key, pins.get(key), found.get(key))
                     for key in set(pins) | set(found) if pins.get(key) != found.get(key))
    assert not changed, "%d of %d changed:\n%s" % (len(changed), len(pins), "\n".join(changed[:40]))
