"""Fleet benchmark: an idempotent rerun of kdump_setup.yml against the floor, side by side.

    tools/lab.sh                                   # a configured lab (or any converged inventory)
    .venv/bin/python bench/fleet.py --inventory .tmp/lab/inventory.yml [--repeat 3]

Alternates, ``repeat`` times, on the same hosts:

* floor: ``bench/fleet_floor.yml`` (gather facts on the clients and dump servers, one no-op task);
* setup: ``ansible-playbook crashkit.kdump.kdump_setup -e kdump_reboot_ok=true`` on hosts that are
  already set up, which must report changed=0 and failed=0 on every host (else the run is not a
  rerun and the benchmark stops).

Prints the median wall times and the ratio setup/floor, how many tasks ran on each host in a
rerun (and how many were skipped), and the tasks that took the most time summed over the hosts
(bench/callback_plugins/task_times.py records every task's time on every host); writes
bench/results/fleet.json with all of it and the machine description. Goal (issues: benchmarks,
25): at most 1.5x the floor.
"""
import argparse
import json
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


def play(args, inventory, log, times_file=None):
    """Run ansible-playbook; each task's time goes to ``times_file`` (default: next to ``log``)."""
    times_file = times_file or log + ".task-times"
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_CALLBACK_PLUGINS=os.path.join(ROOT, "bench", "callback_plugins"),
               ANSIBLE_CALLBACKS_ENABLED="task_times", CRASHKIT_TASK_TIMES=times_file)
    open(times_file, "w").close()
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


def task_times(times_file):
    """The task lines task_times.py wrote for one playbook run."""
    with open(times_file) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def per_host(lines):
    """``{host: {"ran": tasks that ran, "skipped": ..., "seconds": their sum}}`` of one run."""
    hosts = {}
    for line in lines:
        row = hosts.setdefault(line["host"], {"ran": 0, "skipped": 0, "seconds": 0.0})
        row["skipped" if line["status"] == "skipped" else "ran"] += 1
        row["seconds"] += line["seconds"] or 0.0
    return {host: dict(row, seconds=round(row["seconds"], 1)) for host, row in hosts.items()}


def slowest(rounds, count=15):
    """The tasks that took the most time, summed over the hosts, as the mean of the rounds."""
    total = {}
    for lines in rounds:
        for line in lines:
            key = (line["play"], line["task"])
            row = total.setdefault(key, {"play": line["play"], "task": line["task"], "action": line["action"],
                                         "seconds": 0.0, "hosts": set()})
            row["seconds"] += (line["seconds"] or 0.0) / len(rounds)
            if line["status"] != "skipped":
                row["hosts"].add(line["host"])
    rows = sorted(total.values(), key=lambda r: -r["seconds"])[:count]
    return [dict(r, seconds=round(r["seconds"], 1), hosts=sorted(r["hosts"])) for r in rows]


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
    times_file = os.path.join(os.path.dirname(log), "fleet-task-times.jsonl")

    floor_cmd = [os.path.join(ROOT, "bench", "fleet_floor.yml")]
    setup_cmd = ["crashkit.kdump.kdump_setup", "-e", "kdump_reboot_ok=true"]
    times = {"floor": [], "setup": []}
    hosts = {}
    floor_tasks, setup_rounds = [], []
    for _round in range(args.repeat):
        elapsed, _recap = play(floor_cmd, args.inventory, log, times_file)
        times["floor"].append(elapsed)
        floor_tasks = task_times(times_file)
        elapsed, hosts = play(setup_cmd, args.inventory, log, times_file)
        setup_rounds.append(task_times(times_file))
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
        # the last round's (the same tasks run in every round of a rerun)
        "tasks_per_host": {"floor": per_host(floor_tasks), "setup": per_host(setup_rounds[-1])},
        "slowest_setup_tasks": slowest(setup_rounds),
    }
    write_result(args.output, result, hosts_are="lab VMs under TCG (python -m crashlab), 1 vCPU and 1 GiB each")
    print("hosts %d: %s" % (len(hosts), " ".join(sorted(hosts))))
    print("floor (facts + no-op):       median %.1f s  %s" % (med["floor"], ["%.1f" % t for t in times["floor"]]))
    print("kdump_setup.yml (changed=0): median %.1f s  %s" % (med["setup"], ["%.1f" % t for t in times["setup"]]))
    print("ratio setup/floor: %.2fx; goal <= 1.5x: %s" % (ratio, "met" if result["goal_met"] else "missed"))
    print("tasks that ran on each host in a rerun (skipped; summed task seconds), floor -> setup:")
    for host in sorted(result["tasks_per_host"]["setup"]):
        floor_row = result["tasks_per_host"]["floor"].get(host, {"ran": 0, "skipped": 0, "seconds": 0.0})
        row = result["tasks_per_host"]["setup"][host]
        print("  %-12s %3d (%d; %.1f s) -> %3d (%d; %.1f s)" % (
            host, floor_row["ran"], floor_row["skipped"], floor_row["seconds"], row["ran"], row["skipped"],
            row["seconds"]))
    print("the slowest tasks of a rerun, seconds summed over the hosts (mean of the rounds):")
    for row in result["slowest_setup_tasks"]:
        print("  %6.1f s  %-28s %s / %s (%d hosts)"
              % (row["seconds"], row["action"], row["play"], row["task"], len(row["hosts"])))
    print("results: %s (playbook output: %s)" % (args.output, log))


if __name__ == "__main__":
    main()
