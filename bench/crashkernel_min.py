"""crashkernel minimum benchmark: bisect the smallest reservation that still captures a dump, and
set it beside crashkit.kdump.crashkernel's recommendation and the distribution's default.

    .venv/bin/python bench/crashkernel_min.py [--release bookworm] [--memory 1024 [--memory 2048 ...]] \
        [--target local --target ssh] [--low 64] [--high 384] [--step 8]

Needs root and the lab (lab/README.md). For one release, boots a client VM
per target (and a Debian 12 dump server for the ssh target) in a lab run directory of its own
(``.tmp/bench-ckmin``), sets the hosts up with ``playbooks/kdump_setup.yml`` and a fixed
reservation of ``--high`` MiB, then asks ``crashkit.kdump.crashkernel`` for its recommendation for
that target (policy ``estimate``, as the setup role uses it by default).

With several ``--memory`` sizes the set-up is done once, at the first size; for each further size
the clients are powered off and booted again with that much RAM (the same disk), the
recommendation is asked again, and the trials are run again: one result file per size.

After the setup, each client is rebooted once and, once its boot has settled, saved as a QEMU
snapshot (``savevm``, RAM and disk): a fresh boot with ``--high`` MiB reserved and the crash
kernel loaded. A trial at N MiB starts from that snapshot (``loadvm``): ``kdump-config unload``,
shrink the reservation to N MiB through ``/sys/kernel/kexec_crash_size`` (the kernel gives the
rest back; only a smaller size is accepted, hence a fresh start per trial), ``kdump-config
load``, then sysrq ``c``. Pass: the console shows kdump-tools' ``saved vmcore in`` (the dump
complete, local or on the server). Fail: the crash kernel cannot be loaded at that size, the
capture kernel panics (typically "System is deadlocked on memory" while unpacking its
initramfs), kdump-tools reports ``failed to save vmcore``, or nothing is saved within
``--trial-timeout`` seconds. The first trial is at ``--high`` (it must pass), then a binary
search over the ``--step`` MiB grid from ``--low``.

Shrinking at run time gives the capture kernel exactly the memory a ``crashkernel=N`` boot would
(the reservation's place differs, its size does not); the snapshot spares each trial the
capture kernel's reboot and a normal boot.

``--crashkit-var NAME=VALUE`` (repeatable) sets a role variable for the set-up
(``kdump_capture_mode=initramfs`` measures the lean capture); the result file then has the
variables in its name and records them, and every trial records which capture saved its dump
(``saved_by``: ``crashkit-initramfs`` when the console said ``crashkit-capture: saved vmcore``,
else ``kdump-tools``).

Writes bench/results/crashkernel_min-<release>-<MiB>[-<variables>].json (every trial with its console
verdict, the minimum per target, the recommendation, the distribution default, the ratios) and
prints the goal check: the recommendation never below the minimum and at most 1.3x minimum +
32 MiB.
"""
import argparse
import concurrent.futures
import functools
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "lab"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ["PATH"] = os.path.dirname(os.path.abspath(sys.executable)) + os.pathsep + os.environ.get("PATH", "")

from crashlab import console, inventory  # noqa: E402 - lab/ is put on the path above
from crashlab.vm import Lab  # noqa: E402
from benchlib import check_crashkit_vars, use_collection_checkout, write_result  # noqa: E402
from fleet import play  # noqa: E402

MIB = 1 << 20
# What the distribution's kdump-tools puts on the command line (/etc/default/grub.d/kdump-tools.cfg).
DISTRO_DEFAULT = {"bookworm": ("384M-:128M", 128), "trixie": ("512M-:192M", 192)}


def recommendation(inv, host, target, log):
    """``recommended_mb`` of crashkit.kdump.crashkernel on ``host`` for ``target``.

    ``allow_shrink=true``: the host runs with the fixed ``--high`` reservation for the trials, and
    without it the module keeps a larger reservation in place instead of recommending the estimate.
    """
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(["ansible", "-i", inv, host, "-b", "-m", "crashkit.kdump.crashkernel", "-a",
                           "target_type=%s allow_shrink=true" % target], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, check=False)
    with open(log, "a") as handle:
        handle.write(proc.stdout + proc.stderr)
    # the default (minimal) callback: "<host> | SUCCESS => {<the module's JSON result>}"
    head, sep, body = proc.stdout.partition(" => ")
    if proc.returncode != 0 or not sep or "SUCCESS" not in head:
        sys.exit("crashkit.kdump.crashkernel on %s failed, see %s" % (host, log))
    result = json.loads(body)
    return {"recommended": result["recommended"], "recommended_mb": result["recommended_mb"],
            "estimate_breakdown": result.get("estimate_breakdown")}


def wait_verdict(lab, name, sent, timeout):
    """``(passed, detail)`` from the console events after ``sent``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for e in console.vm_events(lab.vm_dir(name)):
            if e["t"] < sent:
                continue
            if e["event"] == "vmcore_saved":
                return True, e["line"]
            # any panic but the one sysrq triggered is the capture kernel's (the console parser's
            # own in_capture flag cannot tell: loadvm cuts the previous trial's sequence short)
            if e["event"] == "vmcore_failed" or (e["event"] == "panic" and "sysrq" not in e.get("reason", "")):
                return False, e["line"]
        time.sleep(2)
    return False, "nothing saved within %d s; console: %s" % (timeout, lab.console_tail(name, 3))


SNAPSHOT = "ckmin-base"


def hmp(lab, name, command_line):
    """One human-monitor command (savevm and loadvm have no plain QMP form); exits on its error text."""
    out = lab.qmp(name, "human-monitor-command", {"command-line": command_line}, timeout=900)
    if "rror" in (out or ""):
        sys.exit("%s: %s: %s" % (name, command_line, out.strip()))


def snapshot_fresh_boot(lab, name, reboot=True):
    """Reboot ``name`` (unless it has just booted), wait for its boot to settle and save it as the
    snapshot every trial starts from (a snapshot of that name from an earlier size is replaced)."""
    if reboot:
        boot_id = lab.boot_id(name)
        lab.ssh(name, "systemctl reboot", timeout=60)
        lab.wait_reboot(name, boot_id, timeout=1800)
    lab.ssh(name, "until systemctl is-system-running --wait >/dev/null 2>&1 || "
                  "[ \"$(systemctl is-system-running)\" = degraded ]; do sleep 5; done; sync", timeout=900)
    hmp(lab, name, "savevm %s" % SNAPSHOT)


def trial(lab, name, mb, timeout):
    """One capture with ``mb`` MiB reserved, from the VM's snapshot of a fresh boot; the trial record."""
    t0 = time.monotonic()
    hmp(lab, name, "loadvm %s" % SNAPSHOT)
    lab.wait_ssh([name], timeout=600)
    proc = lab.ssh(name, "kdump-config unload >/dev/null 2>&1; echo %d > /sys/kernel/kexec_crash_size; "
                         "cat /sys/kernel/kexec_crash_size; kdump-config load >/dev/null 2>&1; "
                         "cat /sys/kernel/kexec_crash_loaded" % (mb * MIB), timeout=600)
    lines = proc.stdout.split()
    record = {"mb": mb, "reserved_bytes": int(lines[0]) if lines else None}
    if proc.returncode != 0 or len(lines) != 2 or int(lines[0]) != mb * MIB:
        sys.exit("%s: could not shrink the reservation to %d MiB: %s %s" % (name, mb, proc.stdout, proc.stderr))
    if lines[1] != "1":
        record.update(passed=False, detail="kdump-config load failed at this size")
    else:
        sent = lab.panic(name)
        passed, detail = wait_verdict(lab, name, sent, timeout)
        record.update(passed=passed, detail=detail, seconds_to_verdict=round(time.time() - sent, 1))
        if passed:
            record["saved_by"] = "crashkit-initramfs" if "crashkit-capture: saved vmcore" in detail else "kdump-tools"
    # the next trial (or the end) starts from the snapshot again: no reboot, no reset needed
    record["seconds"] = round(time.monotonic() - t0, 1)
    print("%s: %d MiB %s (%s)" % (name, mb, "pass" if record["passed"] else "FAIL", record["detail"][:120]),
          flush=True)
    return record


def bisect(lab, name, grid, high, timeout):
    """Smallest grid value that passes, assuming a pass at ``high`` and monotonicity."""
    trials = [trial(lab, name, high, timeout)]
    if not trials[0]["passed"]:
        return None, trials
    lo, hi = -1, len(grid)  # grid[lo] fails (virtually, below the grid), grid[hi] = high passes
    while hi - lo > 1:
        mid = (lo + hi) // 2
        t = trial(lab, name, grid[mid], timeout)
        trials.append(t)
        if t["passed"]:
            hi = mid
        else:
            lo = mid
    minimum = grid[hi] if hi < len(grid) else high
    return {"minimum_mb": minimum, "largest_failing_mb": grid[lo] if lo >= 0 else None}, trials


def resize(lab, names, memory):
    """Power ``names`` off and boot them again with ``memory`` MiB of RAM, on the same disks."""
    for n in names:
        lab.stop(n)
        rec = lab.record(n)
        rec["memory"] = memory
        lab.save(rec)
        lab.boot(n)
    lab.wait_ssh(names, timeout=1800)


def summarize(release, memory, grid_args, results):
    """The result document of one memory size: minimum, recommendation, default, goal per target."""
    distro_value, distro_mb = DISTRO_DEFAULT[release]
    for r in results.values():
        minimum, rec = r.get("minimum_mb"), r["crashkit"]["recommended_mb"]
        r["distro_default"] = {"value": distro_value, "mb": distro_mb,
                               "captures": minimum is not None and distro_mb >= minimum}
        r["goal_bound_mb"] = 1.3 * minimum + 32 if minimum else None
        r["ratio_recommended_to_minimum"] = rec / minimum if minimum else None
        r["goal_met"] = bool(minimum and minimum <= rec <= 1.3 * minimum + 32)
    return {
        "benchmark": "crashkernel_min", "release": release, "memory_mib": memory,
        "grid": grid_args, "targets": results,
        "goal": "recommendation >= minimum and <= 1.3x minimum + 32 MiB",
        "goal_met": all(r["goal_met"] for r in results.values()),
    }


def report(result, output):
    for t, r in result["targets"].items():
        dd = r["distro_default"]
        print("%s %d MiB %s: minimum %s MiB (largest failing %s), crashkit recommends %s MiB (%s), "
              "bound %s; %s default %s = %d MiB %s; goal %s" % (
                  result["release"], result["memory_mib"], t, r.get("minimum_mb"), r.get("largest_failing_mb"),
                  r["crashkit"]["recommended_mb"], r["crashkit"]["recommended"],
                  "%.0f" % r["goal_bound_mb"] if r["goal_bound_mb"] else "-", result["release"], dd["value"],
                  dd["mb"], "captures" if dd["captures"] else "does NOT capture",
                  "met" if r["goal_met"] else "missed"), flush=True)
    print("results: %s" % output, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--release", default="bookworm", choices=sorted(DISTRO_DEFAULT))
    parser.add_argument("--memory", type=int, action="append",
                        help="guest RAM in MiB, repeatable (one set-up, the trials at each size); default 1024")
    parser.add_argument("--target", action="append", choices=("local", "ssh"), help="repeatable; default both")
    parser.add_argument("--low", type=int, default=64)
    parser.add_argument("--high", type=int, default=384)
    parser.add_argument("--step", type=int, default=8)
    parser.add_argument("--trial-timeout", type=int, default=900)
    parser.add_argument("--run", default=os.path.join(ROOT, ".tmp", "bench-ckmin"))
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--output-dir", default=os.path.join(ROOT, "bench", "results"))
    parser.add_argument("--crashkit-var", action="append", default=[], metavar="NAME=VALUE",
                        help="a role variable for the set-up (repeatable)")
    args = parser.parse_args()
    check_crashkit_vars(parser, args.crashkit_var)
    suffix = "".join("-" + re.sub(r"[^\w.-]", "_", item[len("kdump_"):]) for item in args.crashkit_var)
    targets = args.target or ["local", "ssh"]
    memories = args.memory or [1024]
    if len(set(memories)) != len(memories):
        parser.error("--memory: each size once")
    use_collection_checkout()
    raw = os.path.join(args.output_dir, "raw")
    os.makedirs(raw, exist_ok=True)
    log = os.path.join(raw, "crashkernel_min-%s-%s%s.log" % (args.release, "-".join(map(str, memories)), suffix))
    open(log, "w").close()
    print("playbook output: %s" % log, flush=True)
    grid = list(range(args.low, args.high, args.step))
    grid_args = {"low": args.low, "high": args.high, "step": args.step}
    lab = Lab(args.run)
    clients = {t: "ck-%s-%s" % (t, args.release[:4]) for t in targets}
    specs = [{"name": n, "release": args.release, "memory": memories[0], "smp": 1} for n in clients.values()]
    if "ssh" in targets:
        specs.append({"name": "ck-server", "release": "bookworm", "memory": 768, "smp": 1})
    print("booting %s" % ", ".join(s["name"] for s in specs), flush=True)
    recs = lab.start_and_wait(specs, 1800, replace=True)[0]
    by_name = {r["name"]: r for r in recs}
    written = []
    try:
        invs = {}
        for t, n in clients.items():
            invs[t] = os.path.join(args.run, "inventory-%s.yml" % t)
            servers = [by_name["ck-server"]] if t == "ssh" else []
            with open(invs[t], "w") as handle:
                handle.write(inventory.demo_inventory_yaml([by_name[n]], servers, t))
        print("kdump_setup.yml with crashkernel=%dM (fixed, for the trials) on %s" % (
            args.high, ", ".join(clients.values())), flush=True)
        with concurrent.futures.ThreadPoolExecutor(len(clients)) as pool:
            list(pool.map(lambda t: play(["crashkit.kdump.kdump_setup", "-e", "kdump_reboot_ok=true",
                                          "-e", "kdump_crashkernel_policy=fixed",
                                          "-e", "kdump_crashkernel_size=%dM" % args.high]
                                         + [arg for item in args.crashkit_var for arg in ("-e", item)],
                                         invs[t], log), clients))
        for i, memory in enumerate(memories):
            if i:
                print("%d MiB: booting %s again with that much RAM" % (memory, ", ".join(clients.values())),
                      flush=True)
                resize(lab, list(clients.values()), memory)
            # what the module recommends on the set-up host (kdump-tools and its initramfs in place)
            results = {t: {"host": n, "crashkit": recommendation(invs[t], n, t, log)} for t, n in clients.items()}
            with concurrent.futures.ThreadPoolExecutor(len(clients)) as pool:
                # every trial starts from this: the client freshly booted with --high MiB reserved, kdump loaded
                list(pool.map(functools.partial(snapshot_fresh_boot, lab, reboot=i == 0), clients.values()))
                futures = {t: pool.submit(bisect, lab, n, grid, args.high, args.trial_timeout)
                           for t, n in clients.items()}
                for t, f in futures.items():
                    found, trials = f.result()
                    results[t]["trials"] = trials
                    results[t].update(found or {"minimum_mb": None})
            result = summarize(args.release, memory, grid_args, results)
            result["crashkit_vars"] = args.crashkit_var
            output = os.path.join(args.output_dir, "crashkernel_min-%s-%d%s.json" % (args.release, memory, suffix))
            write_result(output, result, guests="lab VMs under TCG (python -m crashlab), 1 vCPU each")
            written.append(output)
            report(result, output)
    finally:
        if not args.keep:
            for r in recs:
                lab.destroy(r["name"])
            lab.services.stop()
    print("results: %s (playbook output: %s)" % (", ".join(written), log))


if __name__ == "__main__":
    main()
