"""Zero-touch evidence: from a crashed host's return to the dump server's report, no playbook.

    .venv/bin/python bench/zero_touch.py [--from FILE] [--run LOG] [--commit REV]

The kdump scenario (molecule/kdump/side_effect.yml) crashes two Debian VMs and, without any
playbook, waits for the dump server's fleet report to list both crashes; it writes the times it
saw to ``$MOLECULE_EPHEMERAL_DIRECTORY/zero-touch.json`` and prints them ("Show the times"). This
script takes that file (``--from``), or the printed copy from a saved run log (``--run``: the
output of tools/test.sh or molecule), checks the figures are whole seconds of a plausible size,
prints each host's time against the issue's goal (at most 10 minutes under TCG) as a ratio, and
writes bench/results/zero-touch.json with the machine. The times are measured by the scenario,
not here: the report is polled every 10 s there, so each time is an upper bound.
"""
import argparse
import json
import os
import re
import sys
import time

from benchlib import ROOT, write_result

SHOW = re.compile(r'TASK \[Show the times\][^\n]*\n(?:[^\n]*\n){0,3}?ok: \[[^\]\n]{1,64}\] => \{\n[ \t]*"msg": ([{"])')


def from_run_log(text):
    """The ``msg`` object that "Show the times" printed last in a run's output."""
    found = None
    for found in SHOW.finditer(text):
        pass
    if found is None:
        raise ValueError("no 'Show the times' output in the run log")
    value, _end = json.JSONDecoder().raw_decode(text, found.start(1))
    # the file's text, printed as a string or (when Ansible made it data) as an object
    return json.loads(value) if isinstance(value, str) else value


def check(times):
    """The hosts' figures, as whole seconds; ValueError for anything else."""
    hosts = {name: entry for name, entry in times.items() if isinstance(entry, dict)}
    if not hosts:
        raise ValueError("no host in the times")
    for name, entry in hosts.items():
        for key, value in entry.items():
            if key.endswith("_seconds"):
                seconds = int(value)
                if not 0 <= seconds <= 24 * 3600:
                    raise ValueError("%s %s: %r is not a time of this run" % (name, key, value))
                entry[key] = seconds
            elif key in ("back_on_ssh", "listed_in_report_by", "server_reachable_again", "report_written"):
                entry[key] = int(value)
    return hosts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from", dest="path", help="the scenario's zero-touch.json")
    source.add_argument("--run", help="a saved run log with the scenario's 'Show the times' output")
    parser.add_argument("--commit", default=None, help="the commit the run tested")
    parser.add_argument("--output", default=os.path.join(ROOT, "bench", "results", "zero-touch.json"))
    args = parser.parse_args()
    with open(args.path or args.run) as handle:
        text = handle.read()
    times = json.loads(text) if args.path else from_run_log(text)
    goal = int(times.get("goal_seconds", 600))
    hosts = check(times)
    result = {"benchmark": "zero-touch", "goal_seconds": goal, "commit": args.commit, "hosts": hosts,
              "ratios_to_goal": {}}
    for name, entry in sorted(hosts.items()):
        seconds = entry["back_to_report_seconds"]
        result["ratios_to_goal"][name] = round(seconds / goal, 2)
        extra = ""
        if "reachable_to_report_seconds" in entry:
            extra = " (server unreachable at its boot; %d s from reachable again to the report)" % (
                entry["reachable_to_report_seconds"])
        print("%-16s %-5s back on ssh -> in the server's report: %4d s = %.2fx the goal of %d s%s" % (
            name, entry.get("target", "?"), seconds, seconds / goal, goal, extra))
    stamps = [int(e.get("report_written") or e.get("listed_in_report_by") or 0) for e in hosts.values()]
    if max(stamps) > 0:
        result["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(max(stamps)))
    write_result(args.output, result, guests="Debian 12 and 13 under TCG (molecule/kdump)",
                 load_average_is="of this machine when the result was written, not during the run")
    print("results: %s" % args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
