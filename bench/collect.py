"""Collection benchmark: vmcore_collect against ansible.builtin.fetch (become) and plain scp.

    .venv/bin/python bench/collect.py [--size-mib 1024 --size-mib 4096] [--repeat 2]
    .venv/bin/python bench/collect.py --inventory .tmp/lab/inventory.yml [--host client-2] ...

Needs root and the lab (lab/README.md). Without ``--inventory`` it boots one lab VM of its own
(Debian 12, 1 GiB, 1 vCPU, lab run directory ``.tmp/bench-collect``) and destroys it at the end;
with one, it uses that inventory's first kdump client (or ``--host``).

For each size, on the host, makes a crash directory ``/var/crash/bench-<size>`` holding
``dump.202611220000`` (a name kdump-tools would give it; ``vmcore_collect`` leaves out a
directory without a dump it recognises): an ELF core (a VMCOREINFO note and one PT_LOAD
segment) whose segment is ``size`` MiB of random data (a 64 MiB random block, each MiB stamped with its number), so the file is a
complete dump to ``vmcore_check`` and does not compress on the way. Then, alternating, ``repeat``
times, into a fresh directory on the controller each time:

* scp: ``scp`` of the file as the ssh user;
* vmcore_collect: ``crashkit.kdump.vmcore_collect`` of that crash directory, with become;
* fetch: ``ansible.builtin.fetch`` of the file, with become (Ansible then reads it with
  ``slurp``: the whole file base64-encoded in memory on the host and on the controller);
* vmcore_collect (connection): the same with ``transport: connection``, the path a become
  password takes (sudo cannot be given a password on a stream, so the file comes in
  ``chunk_mib`` pieces, each one command through the connection plugin, base64 encoded, and the
  host's SHA-256 in one more call); only for sizes up to ``--connection-max-mib`` (default 1024:
  at 8 MiB a call it is slow under TCG);
* floor: ``ansible.builtin.ping`` on the host, the memory any playbook run costs.

Wall time, throughput (MiB/s of the file) and the peak RSS of the largest controller process
(``ru_maxrss`` of the children of a wrapper per run, in MiB) are measured; a side that fails is
recorded with its return code and the end of its output. Memory growth is a side's peak RSS minus
the floor's. Writes bench/results/collect.json. Goals (issue: benchmarks): vmcore_collect at
least 0.9x the throughput of scp, at most 64 MiB memory growth. The crash directory is removed
after each size.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "lab"))
from crashlab import inventory as lab_inventory  # noqa: E402 - lab/ is put on the path above
from crashlab.vm import Lab  # noqa: E402
from benchlib import use_collection_checkout, write_result  # noqa: E402

# ansible-playbook, ansible and ansible-inventory of the Python running this (the venv)
os.environ["PATH"] = os.path.dirname(os.path.abspath(sys.executable)) + os.pathsep + os.environ.get("PATH", "")
# Runs on the host: an ELF core header (VMCOREINFO note + one PT_LOAD of SIZE bytes) followed
# by SIZE random bytes.
MAKE_DUMP = r"""
import os, struct, sys
size = int(sys.argv[1]); path = sys.argv[2]
info = b"OSRELEASE=%s\nCRASHTIME=%d\n" % (os.uname().release.encode(), 1700000000)
name = b"VMCOREINFO\x00"
note = struct.pack("<III", len(name), len(info), 0) + name + b"\x00" * (-len(name) % 4) + info + b"\x00" * (-len(info) % 4)
ehsize, phentsize, phnum = 64, 56, 2
data_off = ehsize + phnum * phentsize + len(note)
data_off += -data_off % 4096
ident = b"\x7fELF" + bytes([2, 1, 1]) + b"\x00" * 9
eh = struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, ehsize, 0, 0, ehsize, phentsize, phnum, 64, 0, 0)
ph_note = struct.pack("<IIQQQQQQ", 4, 0, ehsize + phnum * phentsize, 0, 0, len(note), len(note), 4)
ph_load = struct.pack("<IIQQQQQQ", 1, 7, data_off, 0xffff888000000000, 0, size, size, 4096)
with open(path, "wb") as f:
    f.write(ident + eh + ph_note + ph_load + note)
    f.write(b"\x00" * (data_off - f.tell()))
    block = bytearray(os.urandom(64 << 20))
    for mib in range(size >> 20):
        off = (mib % 64) << 20
        block[off:off + 8] = mib.to_bytes(8, "little")
        f.write(memoryview(block)[off:off + (1 << 20)])
"""
# Runs ``argv`` and prints its wall time and the peak RSS of its largest process (KiB).
WRAPPER = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
rc = subprocess.call(sys.argv[1:], stdout=open(__LOG__, "ab"), stderr=subprocess.STDOUT)
print(json.dumps({"rc": rc, "seconds": time.perf_counter() - start,
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def measure(argv, log):
    out = subprocess.run([sys.executable, "-c", WRAPPER.replace("__LOG__", repr(log))] + argv,
                         stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def host_vars(inventory, host):
    out = subprocess.run(["ansible-inventory", "-i", inventory, "--host", host], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout
    return json.loads(out)


def first_client(inventory):
    out = subprocess.run(["ansible-inventory", "-i", inventory, "--list"], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout
    groups = json.loads(out)
    hosts = groups.get("kdump_clients", {}).get("hosts") or groups.get("all", {}).get("hosts") or []
    if not hosts:
        sys.exit("no host in %s" % inventory)
    return sorted(hosts)[0]


def adhoc(inventory, host, module, args, log):
    cmd = ["ansible", "-i", inventory, host, "-b", "-m", module, "-a", args]
    with open(log, "a") as handle:
        proc = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        sys.exit("%s on %s failed, see %s" % (module, host, log))


def playbook(path, host, tasks):
    with open(path, "w") as handle:
        json.dump([{"name": "bench", "hosts": host, "gather_facts": False, "tasks": tasks}], handle)
    return path


def collect_play(path, host, crash, store, transport="auto"):
    return playbook(path, host, [
        {"crashkit.kdump.vmcore_collect": {"store": store, "crashes": [crash], "include_incomplete": False,
                                           "transport": transport},
         "become": True, "register": "collected"},
        {"ansible.builtin.assert": {"that": ["collected.crashes | length == 1",
                                             "collected.transport == %s" % json.dumps(transport)
                                             if transport != "auto" else "true"]}}])


def bench_size(inv, host, hv, size_mib, repeat, log, work, connection_max_mib=1024):
    """Alternate the sides ``repeat`` times on a ``size_mib`` MiB dump; the runs and their summary."""
    crash = "bench-%d" % size_mib
    remote = "/var/crash/%s/dump.202611220000" % crash
    adhoc(inv, host, "ansible.builtin.file", "path=/var/crash/%s state=directory mode=0755" % crash, log)
    script = os.path.join(work, "make_dump.py")
    with open(script, "w") as handle:
        handle.write(MAKE_DUMP)
    adhoc(inv, host, "ansible.builtin.copy", "src=%s dest=/root/make_dump.py mode=0600" % script, log)
    made = time.perf_counter()
    adhoc(inv, host, "ansible.builtin.command", "python3 /root/make_dump.py %d %s" % (size_mib << 20, remote), log)
    made = time.perf_counter() - made
    ssh = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
           "-i", hv["ansible_ssh_private_key_file"], "-P", str(hv["ansible_port"])]
    floor_pb = playbook(os.path.join(work, "floor.json"), host, [{"ansible.builtin.ping": {}}])
    sides = {"scp": [], "vmcore_collect": [], "vmcore_collect_connection": [], "fetch": [], "floor": []}
    try:
        for round_no in range(repeat):
            dest = os.path.join(work, "r%d" % round_no)
            os.makedirs(dest)
            runs = [
                ("scp", ["scp"] + ssh + ["%s@%s:%s" % (hv["ansible_user"], hv["ansible_host"], remote),
                                         os.path.join(dest, "scp.bin")]),
                ("vmcore_collect", ["ansible-playbook", "-i", inv, collect_play(
                    os.path.join(work, "collect.json"), host, crash, os.path.join(dest, "store"))]),
                ("vmcore_collect_connection", ["ansible-playbook", "-i", inv, collect_play(
                    os.path.join(work, "collect-connection.json"), host, crash, os.path.join(dest, "store-connection"),
                    "connection")]),
                ("fetch", ["ansible-playbook", "-i", inv, playbook(
                    os.path.join(work, "fetch.json"), host,
                    [{"ansible.builtin.fetch": {"src": remote, "dest": os.path.join(dest, "fetch.bin"), "flat": True},
                      "become": True}])]),
                ("floor", ["ansible-playbook", "-i", inv, floor_pb]),
            ]
            for name, argv in runs:
                if name == "vmcore_collect_connection" and size_mib > connection_max_mib:
                    continue
                result = measure(argv, log)
                result["mib_per_s"] = (size_mib / result["seconds"]) if name != "floor" and result["rc"] == 0 else None
                sides[name].append(result)
                print("%d MiB round %d %-25s rc %d  %6.1f s  %s  peak RSS %5.0f MiB" % (
                    size_mib, round_no + 1, name, result["rc"], result["seconds"],
                    "%6.1f MiB/s" % result["mib_per_s"] if result["mib_per_s"] else "     -     ",
                    result["maxrss_kib"] / 1024.0), flush=True)
            shutil.rmtree(dest, ignore_errors=True)
    finally:
        subprocess.run(["ansible", "-i", inv, host, "-b", "-m", "ansible.builtin.file", "-a",
                        "path=/var/crash/%s state=absent" % crash], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)

    def med(name, key):
        values = [r[key] for r in sides[name] if r["rc"] == 0 and r[key] is not None]
        return statistics.median(values) if values else None

    floor_rss = med("floor", "maxrss_kib")
    summary = {}
    for name in ("scp", "vmcore_collect", "vmcore_collect_connection", "fetch"):
        if not sides[name]:
            continue
        rss = med(name, "maxrss_kib")
        summary[name] = {"ok_runs": sum(1 for r in sides[name] if r["rc"] == 0), "runs": len(sides[name]),
                         "median_seconds": med(name, "seconds"), "median_mib_per_s": med(name, "mib_per_s"),
                         "median_peak_rss_mib": rss / 1024.0 if rss else None,
                         "growth_over_floor_mib": (rss - floor_rss) / 1024.0 if rss and floor_rss else None}
    collect, scp = summary["vmcore_collect"], summary["scp"]

    def to_scp(name):
        """A side's median throughput over scp's, or None when either has none."""
        mine = (summary.get(name) or {}).get("median_mib_per_s")
        return mine / scp["median_mib_per_s"] if mine and scp["median_mib_per_s"] else None
    ratio = to_scp("vmcore_collect")
    return {"size_mib": size_mib, "make_dump_seconds": made, "runs": sides, "summary": summary,
            "ratio_connection_to_scp_throughput": to_scp("vmcore_collect_connection"),
            "floor_peak_rss_mib": floor_rss / 1024.0 if floor_rss else None,
            "ratio_collect_to_scp_throughput": ratio,
            "goal_met": bool(ratio and ratio >= 0.9 and collect["growth_over_floor_mib"] is not None
                             and collect["growth_over_floor_mib"] <= 64)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--inventory", help="an inventory of lab VMs (default: boot one VM for the benchmark)")
    parser.add_argument("--host")
    parser.add_argument("--size-mib", type=int, action="append", help="repeatable; default 1024 and 4096")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--connection-max-mib", type=int, default=1024,
                        help="the transport: connection side only for sizes up to this (default 1024)")
    parser.add_argument("--run", default=os.path.join(ROOT, ".tmp", "bench-collect"))
    parser.add_argument("--output", default=os.path.join(ROOT, "bench", "results", "collect.json"))
    args = parser.parse_args()
    use_collection_checkout()
    os.environ.update(ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_HOST_KEY_CHECKING="False")
    raw = os.path.join(os.path.dirname(args.output), "raw")
    os.makedirs(raw, exist_ok=True)
    log = os.path.join(raw, "collect.log")
    open(log, "w").close()
    lab = None
    inv = args.inventory
    if not inv:
        lab = Lab(args.run)
        print("booting collect-bench (Debian 12, 1 GiB, 1 vCPU)", flush=True)
        recs = lab.start_and_wait([{"name": "collect-bench", "release": "bookworm", "memory": 1024, "smp": 1}],
                                  1800, replace=True)[0]
        inv = os.path.join(args.run, "inventory.yml")
        with open(inv, "w") as handle:
            handle.write(lab_inventory.demo_inventory_yaml(recs, [], "local"))
    work = tempfile.mkdtemp(prefix="crashkit-collect-bench-")
    try:
        host = args.host or first_client(inv)
        hv = host_vars(inv, host)
        sizes = [bench_size(inv, host, hv, size_mib, args.repeat, log, work, args.connection_max_mib)
                 for size_mib in args.size_mib or [1024, 4096]]
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if lab:
            lab.destroy("collect-bench")
            lab.services.stop()
    result = {
        "benchmark": "collect", "host": host, "repeat": args.repeat, "sizes": sizes,
        "goal": "vmcore_collect >= 0.9x scp throughput, <= 64 MiB controller memory growth",
        "goal_met": all(s["goal_met"] for s in sizes),
    }
    write_result(args.output, result,
                 host_is="lab VM under TCG (python -m crashlab), 1 GiB, 1 vCPU, ssh through QEMU user networking")
    for size in sizes:
        for name in ("scp", "vmcore_collect", "vmcore_collect_connection", "fetch"):
            if name not in size["summary"]:
                continue
            s = size["summary"][name]
            print("%d MiB %-25s %d/%d ok  median %s  peak RSS %s  growth over floor %s" % (
                size["size_mib"], name, s["ok_runs"], s["runs"],
                "%.1f MiB/s" % s["median_mib_per_s"] if s["median_mib_per_s"] else "-",
                "%.0f MiB" % s["median_peak_rss_mib"] if s["median_peak_rss_mib"] else "-",
                "%.0f MiB" % s["growth_over_floor_mib"] if s["growth_over_floor_mib"] is not None else "-"))
        ratio = size["ratio_collect_to_scp_throughput"]
        print("%d MiB: ratio vmcore_collect/scp throughput %s; goal %s" % (
            size["size_mib"], "%.2fx" % ratio if ratio else "-", "met" if size["goal_met"] else "missed"))
        if size["ratio_connection_to_scp_throughput"]:
            print("%d MiB: ratio vmcore_collect (transport connection, the become-password path)/scp %.2fx"
                  " (no goal)" % (size["size_mib"], size["ratio_connection_to_scp_throughput"]))
    print("results: %s (output of every run: %s)" % (args.output, log))


if __name__ == "__main__":
    main()
