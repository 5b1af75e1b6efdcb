# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test helper: a crash store laid out as vmcore_collect writes it, and panic-test results.

``Store(root)``: ``crash(host, crash_id, fixture, when, ...)`` adds ``<root>/<host>/<crash>/`` with
the kernel log (a triage fixture, plus extra lines), ``crashkit-bundle/{dmesg.txt,bundle.json}``
and a ``manifest.json`` listing them with their SHA-256. ``panic(results, run, host, status,
finished)`` writes a ``panic_test`` role record.
"""
from __future__ import absolute_import, division, print_function

import hashlib
import io
import json
import os
import time

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "triage")
DAY = 86400

# What a hostile host can put in its kernel log (dmesg is written by whoever controls the host).
HOSTILE = (
    u"<img src=x onerror=\"document.title='PWNED'\">",
    u"<script>document.documentElement.setAttribute('data-pwned','1')</script>",
    u"[click me](javascript:document.title='PWNED')",
    u"<a href=\"javascript:alert(1)\">link</a>",
    u"````` five backticks ` and `` two",
    u"| col | umn |",
    u"&lt;b&gt;entity&lt;/b&gt;",
)
HOSTILE_TEXT = u" ".join(HOSTILE)
# A crash whose panic reason, headline, task name and hardware name are all hostile text.
HOSTILE_LOG = u"""[    0.000000] Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0) \
#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)
[  120.000000] evil: {text}
[  120.100000] Kernel panic - not syncing: {text}
[  120.100100] CPU: 1 PID: 4242 Comm: <script>x</script> Not tainted 6.1.0-18-amd64 #1  Debian 6.1.76-1
[  120.100200] Hardware name: <b>QEMU</b> <img src=y onerror="document.title='PWNED'">
[  120.100300] Call Trace:
[  120.100400]  <TASK>
[  120.100500]  dump_stack_lvl+0x44/0x5c
[  120.100600]  panic+0x118/0x2f0
[  120.100700]  evil_handler+0x10/0x20 [evil]
[  120.100800]  ksys_write+0x5f/0xe0
[  120.100900]  </TASK>
""".format(text=HOSTILE_TEXT)


def fixture_text(name):
    with io.open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


class Store(object):
    def __init__(self, root):
        self.root = str(root)
        if not os.path.isdir(self.root):
            os.makedirs(self.root)

    def crash(self, host, crash_id, fixture, when, text=None, bundle=None, manifest=None, kernel_release=None,
              bundle_log=True, extra_files=None):
        """Add one crash; ``when`` is the dump's crash time (epoch) or None; ``text`` replaces the
        fixture's log; returns the crash directory."""
        directory = os.path.join(self.root, host, crash_id)
        os.makedirs(os.path.join(directory, "crashkit-bundle"))
        log = fixture_text(fixture) if text is None else text
        files = {"dmesg.%s" % crash_id: log}
        if bundle_log:
            files["crashkit-bundle/dmesg.txt"] = log
        summary = {"uptime_at_crash": 501.75, "crashed_cmdline": "BOOT_IMAGE=/vmlinuz root=/dev/vda1 crashkernel=192M",
                   "dumps": [{"name": "dump.%s" % crash_id, "size": 48234496, "format": "kdump_compressed",
                              "complete": True}],
                   "missing": {"journal": "the journal is volatile"},
                   "change": {"change_id": "CHG-1234", "change_text": "kernel 6.1 rollout"}}
        summary.update(bundle or {})
        files["crashkit-bundle/bundle.json"] = json.dumps(summary)
        files.update(extra_files or {})
        entries = []
        for relative, text in sorted(files.items()):
            data = text.encode("utf-8") if isinstance(text, str) else text
            with open(os.path.join(directory, relative), "wb") as handle:
                handle.write(data)
            entries.append({"path": relative, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                            "mtime": 1700000000})
        data = {"format": 1, "tool": "crashkit.kdump.vmcore_collect", "host_id": host,
                "hostname": host.rsplit("-", 1)[0], "machine_id": None,
                "inventory_hostname": host.rsplit("-", 1)[0], "crash_id": crash_id,
                "source_dir": "/var/crash/%s" % crash_id, "source_name": crash_id, "crash_time": when,
                "kernel_release": kernel_release,
                "collected_at": (when if isinstance(when, int) and 0 < when < 1 << 40 else 1700000000) + 600,
                "total_size": sum(e["size"] for e in entries), "files": entries}
        data.update(manifest or {})
        with open(os.path.join(directory, "manifest.json"), "w") as handle:
            handle.write(json.dumps(data, indent=2))
        return directory


def panic(results, run, host, status, finished, reason=None, **extra):
    """Write ``<results>/<run>/hosts/<host>.json`` as the panic_test role does."""
    directory = os.path.join(str(results), run, "hosts")
    if not os.path.isdir(directory):
        os.makedirs(directory)
    record = {"host": host, "status": status, "reason": reason if status != "pass" else None,
              "step": None if status == "pass" else "Wait for the new dump", "run_id": run,
              "test_id": "%s-%s-k3x9q2mz" % (host, run), "kernel_release": "6.1.0-18-amd64",
              "started": finished - 230, "trigger_time": finished - 200, "trigger_delay": 3,
              "back_time": finished - 20 if status == "pass" else None, "finished": finished,
              "dump": {"path": "/srv/crash/%s/202405181200/dump.202405181200" % host, "host": "dumpsrv1",
                       "size": 48234496, "format": "flattened", "mtime": finished - 120,
                       "crash_time": finished - 197} if status == "pass" else None}
    record.update(extra)
    with open(os.path.join(directory, "%s.json" % host), "w") as handle:
        json.dump(record, handle)
    return str(results)


READINESS = [
    {"host": "web1", "ready": True, "loaded": True, "reserved_mb": 192, "service": "kdump-tools",
     "service_active": True, "target": "ssh kdumprecv@10.0.0.5:/srv/crash", "problems": []},
    {"host": "db1", "ready": False, "loaded": False, "reserved_mb": 0, "service": "kdump-tools",
     "service_active": False, "target": "local /var/crash",
     "problems": ["No memory is reserved for the crash kernel: a panic now would not be captured."]},
    {"host": "app1", "ready": True, "loaded": True, "reserved_mb": 256, "service": "kdump",
     "service_active": True, "target": "nfs nas1:/export/crash", "problems": []},
]


# host id, fixture (None: HOSTILE_LOG), crash ages in days before "now"
FLEET = [
    ("web1-4c3d8b1f2a9e", "sysrq_debian12.log", [1, 3, 20]),
    ("db1-0123456789ab", "null_deref_module.log", [0.25, 5, 12, 40]),
    ("db2-ba9876543210", "null_deref_module.log", [5.5]),
    ("app1-222222222222", "soft_lockup.log", [2]),
    ("lab7-555555555555", None, [3.5]),
]


def fleet(root, now):
    """``FLEET`` as a store under ``<root>/store`` and 3 panic-test runs of web1 and db1 (db1 fails
    the last one) under ``<root>/panic-test-results``; returns both paths."""
    store = Store(os.path.join(str(root), "store"))
    for host, fixture, ages in FLEET:
        for age in ages:
            when = int(now - age * DAY)
            store.crash(host, "%d" % when, fixture, when, text=HOSTILE_LOG if fixture is None else None)
    results = os.path.join(str(root), "panic-test-results")
    for index in range(3):
        finished = int(now - (3 - index) * 7 * DAY)
        run = "run-%d" % index
        panic(results, run, "web1", "pass", finished)
        panic(results, run, "db1", "fail" if index == 2 else "pass", finished, reason="no new dump within 900 s")
    return store.root, results


# The store of the screenshots in docs/images (test_fleetreport_browser.py, CRASHKIT_REPORT_SCREENSHOTS).
DEMO = [
    ("web1-4c3d8b1f2a9e", "sysrq_debian12.log", [1, 3, 20]),
    ("web2-aa11bb22cc33", "sysrq_debian13.log", [2, 45]),
    ("db1-0123456789ab", "null_deref_module.log", [0.2, 5, 6, 12, 33, 60]),
    ("db2-ba9876543210", "null_deref_module.log", [4, 8]),
    ("fw1-111111111111", "gpf.log", [10, 80]),
    ("app1-222222222222", "soft_lockup.log", [1.5]),
    ("app2-333333333333", "oom_panic_on_oom.log", [25, 26, 27]),
    ("batch1-444444444444", "hung_task.log", [50]),
    ("lab7-555555555555", "kernel_bug.log", [2.5]),
]
DEMO_READINESS = READINESS[:1] + [
    {"host": "web2", "ready": True, "loaded": True, "reserved_mb": 192, "service": "kdump-tools",
     "service_active": True, "target": "local /var/crash", "problems": []},
    {"host": "db1", "ready": False, "loaded": False, "reserved_mb": 0, "service": "kdump-tools", "service_active": False,
     "target": "local /var/crash", "problems": [
         "No memory is reserved for the crash kernel (crashkernel= missing from /proc/cmdline): a panic now would "
         "not be captured.", "kdump-tools is inactive."]},
    READINESS[2],
    {"host": "app2", "ready": False, "loaded": True, "reserved_mb": 128, "service": "kdump", "service_active": True,
     "target": "ssh kdumprecv@10.0.0.5:/srv/crash", "problems": ["The dump server's host key is not pinned."]},
]


def demo(root, now):
    """``DEMO`` as a store, one crash with an unusable manifest, 8 weekly panic-test runs."""
    store = Store(os.path.join(str(root), "store"))
    for host, fixture, ages in DEMO:
        for age in ages:
            when = int(now - age * DAY)
            store.crash(host, time.strftime("%Y%m%d%H%M", time.gmtime(when)), fixture, when,
                        bundle={"change": {"change_id": "CHG-1234", "change_text": "kernel 6.1 rollout, wave 2"}})
    store.crash("web2-aa11bb22cc33", "209901010000", "sysrq_debian13.log", 100000000000000000)
    results = os.path.join(str(root), "panic-test-results")
    for week in range(8):
        finished = int(now - (8 - week) * 7 * DAY)
        run = time.strftime("%Y%m%dT%H%M%S", time.gmtime(finished - 300))
        panic(results, run, "web1", "pass", finished)
        panic(results, run, "db1", "fail" if week in (3, 7) else "pass", finished,
              reason="no new dump in /var/crash within 600 s")
        if week > 4:
            panic(results, run, "app1", "pass", finished)
    return store.root, results
