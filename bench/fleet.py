"""Fleet benchmark: an idempotent rerun of kdump_setup.yml against the floor, side by side.

    tools/lab.sh                                   # a configured lab (or any converged inventory)
    .venv/bin/python bench/fleet.py --inventory .tmp/lab/inventory.yml [--repeat 3]

Alternates, ``repeat`` times, on the same hosts:

* floor: ``bench/fleet_floor.yml`` (gather facts on the clients and dump servers, one no-op task);
* setup: ``ansible-playbook crashkit.kdump.kdump_setup -e kdump_reboot_ok=true`` on hosts that are
  already set up, which must report changed=0 and failed=0 on every host (else the run is not a
  rerun and the benchmark stops).

Prints the median wall times and the ratio setup/floor, and writes bench/results/fleet.json with
the host count and the machine description. Goal (issue: benchmarks): at most 1.5x the floor.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# ansible-playbook, ansible and ansible-inventory of the Python running this (the venv)
os.environ["PATH"] = os.path.dirname(os.path.abspath(sys.executable)) + os.pathsep + os.environ.get("PATH", "")
from benchlib import use_collection_checkout, write_result  # noqa: E402 - bench/ is the script's directory

RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")


def play(args, inventory, log):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    start = time.perf_counter()
    proc = subprocess.run(["ansible-playbook", "-i", inventory] + args, env=env, cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    elapsed = time.perf_counter() - start
    with open(log, "a") as handle:
        handle.write(proc.stdout)
    hosts = {}
    for line in proc.stdout.splitlines():
        match = RECAP.match(line)
        if match:
            hosts[match.group(1)] = {"ok": int(match.group(2)), "changed": int(match.group(3)),
                                     "unreachable": int(match.group(4)), "failed": int(match.group(5))}
    if proc.returncode != 0 or not hosts:
        sys.exit("ansible-playbook %s failed (rc %d), see %s" % (" ".join(args), proc.returncode, log))
    return elapsed, hosts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", default=os.path.join(ROOT, "bench", "results", "fleet.json"))
    args = parser.parse_args()
    use_collection_checkout()
    log = os.path.join(os.path.dirname(args.output), "raw", "fleet.log")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    open(log, "w").close()

    floor_cmd = [os.path.join(ROOT, "bench", "fleet_floor.yml")]
    setup_cmd = ["crashkit.kdump.kdump_setup", "-e", "kdump_reboot_ok=true"]
    times = {"floor": [], "setup": []}
    hosts = {}
    for _round in range(args.repeat):
        elapsed, _recap = play(floor_cmd, args.inventory, log)
        times["floor"].append(elapsed)
        elapsed, hosts = play(setup_cmd, args.inventory, log)
        changed = {h: r["changed"] for h, r in hosts.items() if r["changed"] or r["failed"] or r["unreachable"]}
        if changed:
            sys.exit("kdump_setup.yml changed or failed something, this is not an idempotent rerun: %s (see %s)"
                     % (changed, log))
        times["setup"].append(elapsed)

    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["setup"] / med["floor"]
    result = {
        "benchmark": "fleet",
        "hosts": sorted(hosts),
        "repeat": args.repeat,
        "seconds": times,
        "median_seconds": med,
        "ratio_setup_to_floor": ratio,
        "goal": "idempotent kdump_setup.yml rerun at most 1.5x the floor (facts + one no-op task)",
        "goal_met": ratio <= 1.5,
    }
    write_result(args.output, result, hosts_are="lab VMs under TCG (python -m crashlab), 1 vCPU and 1 GiB each")
    print("hosts %d: %s" % (len(hosts), " ".join(sorted(hosts))))
    print("floor (facts + no-op):       median %.1f s  %s" % (med["floor"], ["%.1f" % t for t in times["floor"]]))
    print("kdump_setup.yml (changed=0): median %.1f s  %s" % (med["setup"], ["%.1f" % t for t in times["setup"]]))
    print("ratio setup/floor: %.2fx; goal <= 1.5x: %s" % (ratio, "met" if result["goal_met"] else "missed"))
    print("results: %s (playbook output: %s)" % (args.output, log))


if __name__ == "__main__":
    main()
