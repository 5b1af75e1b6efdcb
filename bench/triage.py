"""Triage benchmark: N kernel logs grouped into crash signatures, against an I/O floor.

    .venv/bin/python bench/triage.py [--logs 10000] [--repeat 3]

Builds a corpus of N logs (about 100 lines each) from the unit-test fixtures, with
timestamps, PIDs, CPUs and addresses varied per log so no two files are equal, then times,
side by side in one run and alternating:

* floor: read every file line by line (the I/O and decoding any triage must pay);
* triage: ``_fleetreport.group_logs`` (triage every log, group by signature).

Prints the medians and the ratio triage/floor, and writes bench/results/triage.json with the
machine description. Goals: 10,000 logs in under 5 s (issue: benchmarks) and triage within 2x
the floor (issue 28: triage that holds on real crashes).
"""
import argparse
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
# conftest makes ansible_collections.crashkit.kdump importable from this checkout.
import conftest  # noqa: E402,F401  pylint: disable=unused-import
from ansible_collections.crashkit.kdump.plugins.module_utils._fleetreport import group_logs  # noqa: E402
from benchlib import write_result  # noqa: E402

FIXTURES = os.path.join(ROOT, "tests", "unit", "fixtures", "triage")
BOOT_NOISE = [
    "Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2",
    "Command line: BOOT_IMAGE=/boot/vmlinuz-6.1.0-56-amd64 root=UUID=0b1c ro console=ttyS0 crashkernel=256M",
    "x86/fpu: Supporting XSAVE feature 0x001: 'x87 floating point registers'",
    "BIOS-e820: [mem 0x0000000000100000-0x000000003ffdffff] usable",
    "virtio_blk virtio1: [vda] 16777216 512-byte logical blocks (8.59 GB/8.00 GiB)",
    "EXT4-fs (vda1): mounted filesystem with ordered data mode. Quota mode: none.",
    "systemd[1]: Started systemd-journald.service - Journal Service.",
    "e1000 0000:00:03.0 eth0: (PCI:33MHz:32-bit) 52:54:00:12:34:56",
]


def build_corpus(directory, count, seed=1):
    rnd = random.Random(seed)
    fixtures = []
    for name in sorted(os.listdir(FIXTURES)):
        if name.endswith(".log"):
            with open(os.path.join(FIXTURES, name)) as handle:
                fixtures.append(handle.read().splitlines())
    hexaddr = re.compile(r"\b(0x)?[0-9a-f]{12,16}\b")
    paths = []
    for i in range(count):
        lines = fixtures[i % len(fixtures)]
        stamp = rnd.uniform(5, 90000)
        out = []
        for n in range(max(0, 100 - len(lines))):
            out.append("[%12.6f] %s" % (stamp - 50 + n * 0.3, BOOT_NOISE[n % len(BOOT_NOISE)]))
        for line in lines:
            line = hexaddr.sub(lambda m: (m.group(1) or "") + "%016x" % rnd.getrandbits(64), line)
            line = re.sub(r"PID: \d+", "PID: %d" % rnd.randint(2, 99999), line)
            line = re.sub(r"CPU: \d+", "CPU: %d" % rnd.randint(0, 63), line)
            out.append(line)
        path = os.path.join(directory, "host%05d-%012d" % (i, 202601010000 + i), "dmesg.%012d" % (202601010000 + i))
        os.makedirs(os.path.dirname(path))
        with open(path, "w") as handle:
            handle.write("\n".join(out) + "\n")
        paths.append(path)
    return paths


def floor(paths):
    hits = 0
    for path in paths:
        with open(path, errors="replace") as handle:
            for line in handle:
                if "Kernel panic" in line:
                    hits += 1
    return hits


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--logs", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", default=os.path.join(ROOT, "bench", "results", "triage.json"))
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="crashkit-triage-bench-")
    try:
        paths = build_corpus(work, args.logs)
        times = {"floor": [], "triage": []}
        report = None
        for _round in range(args.repeat):
            start = time.perf_counter()
            floor(paths)
            times["floor"].append(time.perf_counter() - start)
            start = time.perf_counter()
            report = group_logs(paths)
            times["triage"].append(time.perf_counter() - start)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    groups = report["groups"] if isinstance(report, dict) and "groups" in report else []
    result = {
        "benchmark": "triage",
        "logs": args.logs,
        "repeat": args.repeat,
        "seconds": times,
        "median_seconds": med,
        "ratio_triage_to_floor": med["triage"] / med["floor"] if med["floor"] else None,
        "signatures": len(groups),
        "failed": len(report.get("failed", [])) if isinstance(report, dict) else None,
        "goal": "10,000 logs in under 5 s",
        "goal_met": args.logs >= 10000 and med["triage"] < 5.0,
        "goal_floor": "triage within 2x the floor",
        "goal_floor_met": bool(med["floor"]) and med["triage"] <= 2.0 * med["floor"],
    }
    write_result(args.output, result)
    print("logs %d, signatures %d, failed %s" % (args.logs, result["signatures"], result["failed"]))
    print("floor  (read every line): median %.2f s  %s" % (med["floor"], ["%.2f" % t for t in times["floor"]]))
    print("triage (group_logs):      median %.2f s  %s" % (med["triage"], ["%.2f" % t for t in times["triage"]]))
    print("ratio triage/floor: %.1fx (goal <= 2x: %s); goal < 5 s: %s" % (
        result["ratio_triage_to_floor"], "met" if result["goal_floor_met"] else "missed",
        "met" if result["goal_met"] else "missed"))
    print("results: %s" % args.output)


if __name__ == "__main__":
    main()
