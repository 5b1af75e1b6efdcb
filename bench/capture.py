"""Capture benchmark: panic -> dump saved -> host back on ssh, Debian's default kdump against this
collection's default, side by side on the same image, the same RAM and the same memory load.

    .venv/bin/python bench/capture.py [--memory 1024 --memory 4096] [--release bookworm] [--repeat 1]
                                      [--target local|ssh]

Needs root and the lab (lab/README.md; tools/bootstrap.sh installs what it needs). For each
memory size, two VMs of that size with one vCPU each (so the two sides get a core each on a
2-core host) are booted from the same lab image, in a lab run directory of their own
(``.tmp/bench-capture``):

* ``debian-<MiB>``: ``apt-get install kdump-tools`` and nothing else, as Debian ships it
  (debconf's default: enabled; its ``/etc/default/grub.d/kdump-tools.cfg`` reservation;
  ``MAKEDUMP_ARGS`` of kdump-config: ``-F -c -d 31``), then a reboot;
* ``crashkit-<MiB>``: ``playbooks/kdump_setup.yml`` with this collection's defaults (local
  target), which reboots where it must; ``--crashkit-var NAME=VALUE`` (repeatable) sets a role
  variable on this side only (``kdump_compression=zstd`` measures a compression before it
  becomes a default), and the result records it.

With ``--target ssh`` a third VM, ``dumpsrv-<MiB>`` (1 GiB), is the dump server of both sides:
crashkit's side is set up with ``kdump_setup.yml`` as a fleet would be (the server's restricted
receiver account, a pinned host key, the key made by the role); Debian's side the way kdump-tools
documents it (``SSH`` and ``SSH_KEY`` in ``/etc/default/kdump-tools``, the key ``kdump-config
propagate`` would make, ``ssh-rsa`` in ``/root/.ssh/kdump_id_rsa``), sending to a plain account
``debdump`` that owns the server's ``/var/crash``, its host key taken with ``ssh-keyscan``. Dump
sizes are then read on the server.

Both must have a loaded crash kernel. Then, each round: both get the same memory load (anonymous
memory, 40% of MemTotal, non-zero pages held by a process; a file of 25% of MemTotal written and
read back into the page cache; a walk of the file system for dentries and inodes), and each is
crashed with sysrq ``c`` as soon as its load is in place (both at once, within seconds; with
``--sequential`` one after the other, every guest's boot finished first (``systemctl
is-system-running --wait``) so the other VM is idle, the side that goes first alternating by
round: side by side, one side's restart and normal boot share the 2 CPUs with the other side's
capture, which hides a capture that ends sooner). Times are read from the serial console (timestamped
by the lab's watcher on the host clock) and from the lab's ssh probe: capture kernel banner,
makedumpfile start, ``saved vmcore``, reboot, back on ssh with a new boot id, all counted from
the moment the crash was sent. The dump's size is read on the host afterwards.

Writes bench/results/capture.json (every round, medians, ratios, the machine) and prints the
ratios crashkit/debian of the time to ssh and of the dump size. Goal (issue: benchmarks): at
most 0.6x Debian's time with a dump at most 1.1x its size. The VMs are destroyed at the end
(``--keep`` leaves them running, ``--run DIR`` picks another lab run directory).
"""
import argparse
import concurrent.futures
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "lab"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# ansible-playbook of the Python running this (the venv)
os.environ["PATH"] = os.path.dirname(os.path.abspath(sys.executable)) + os.pathsep + os.environ.get("PATH", "")

from crashlab import console, inventory  # noqa: E402 - lab/ is put on the path above
from crashlab.vm import Lab  # noqa: E402
from benchlib import check_crashkit_vars, use_collection_checkout, write_result  # noqa: E402
from fleet import play  # noqa: E402

DEBIAN_SETUP = """set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q kdump-tools >/dev/null
grep -o 'crashkernel=[^ "]*' /etc/default/grub.d/kdump-tools.cfg
"""
# Runs on the guest: the memory load. Prints /proc/meminfo's main lines once it is in place; the
# anonymous memory stays held by a detached process until the crash.
LOAD = r"""
import os, subprocess, sys, time
meminfo = dict((l.split(":")[0], int(l.split()[1])) for l in open("/proc/meminfo"))
total = meminfo["MemTotal"] * 1024
if os.fork() == 0:
    os.setsid()
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    block = bytearray(os.urandom(1 << 20))
    held = []
    for i in range(int(total * 0.40) >> 20):
        block[0:8] = i.to_bytes(8, "little")
        held.append(bytes(block))
    open("/run/bench-load-ready", "w").close()
    while True:
        time.sleep(3600)
with open("/var/tmp/bench-cache.bin", "wb") as f:
    block = os.urandom(4 << 20)
    for _ in range(int(total * 0.25) >> 22):
        f.write(block)
with open("/var/tmp/bench-cache.bin", "rb") as f:
    while f.read(4 << 20):
        pass
subprocess.run(["find", "/", "-xdev", "-printf", ""], check=False)
while not os.path.exists("/run/bench-load-ready"):
    time.sleep(1)
for l in open("/proc/meminfo"):
    if l.split(":")[0] in ("MemTotal", "MemFree", "MemAvailable", "Cached", "AnonPages", "Slab"):
        sys.stdout.write(l)
"""
MILESTONES = ("capture_kernel_boot", "makedumpfile_start", "vmcore_saved", "reboot", "kernel_boot")


def ssh(lab, name, command, timeout=1800, stdin=None):
    proc = lab.ssh(name, command, timeout=timeout, input=stdin)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()[-2000:]
        sys.exit("%s: %s failed (rc %d): %s" % (name, command.splitlines()[0], proc.returncode, detail))
    return proc.stdout


def wait_loaded(lab, name, timeout=1800):
    """Wait until the crash kernel is loaded (kdump-tools builds its initramfs on the first start)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lab.ssh(name, "cat /sys/kernel/kexec_crash_loaded", timeout=60).stdout.strip() == "1":
            return
        time.sleep(10)
    sys.exit("%s: no crash kernel loaded after %d s" % (name, timeout))


# Debian's SSH target as kdump-tools documents it, run on the client after DEBIAN_SETUP; the
# server's account is made by DEBIAN_SERVER with the public key this prints.
DEBIAN_SSH = """set -e
cat >> /etc/default/kdump-tools <<'EOF'
SSH="debdump@{server}"
SSH_KEY=/root/.ssh/kdump_id_rsa
EOF
install -d -m 0700 /root/.ssh
[ -f /root/.ssh/kdump_id_rsa ] || ssh-keygen -q -t rsa -f /root/.ssh/kdump_id_rsa -N ''
ssh-keyscan -t ed25519 {server} 2>/dev/null >> /root/.ssh/known_hosts
cat /root/.ssh/kdump_id_rsa.pub
"""
DEBIAN_SERVER = """set -e
id debdump >/dev/null 2>&1 || useradd -m -s /bin/sh debdump
install -d -o debdump -g debdump -m 0700 /var/crash ~debdump/.ssh
cat >> ~debdump/.ssh/authorized_keys
chown debdump: ~debdump/.ssh/authorized_keys
"""


def setup_debian(lab, name, server=None):
    print("%s: apt-get install kdump-tools (Debian's defaults%s), reboot"
          % (name, ", SSH target " + server["name"] if server else ""), flush=True)
    reservation = ssh(lab, name, DEBIAN_SETUP).strip()
    if server:
        public = ssh(lab, name, DEBIAN_SSH.format(server=server["private_address"]))
        ssh(lab, server["name"], DEBIAN_SERVER, stdin=public)
    boot_id = lab.boot_id(name)
    lab.ssh(name, "systemctl reboot", timeout=60)
    lab.wait_reboot(name, boot_id, timeout=1800)
    wait_loaded(lab, name)
    return reservation


def setup_crashkit(lab, name, inv, log, extra=(), server=None):
    print("%s: crashkit.kdump.kdump_setup (this collection's defaults%s%s), reboot"
          % (name, "".join(", " + e for e in extra), ", SSH target " + server["name"] if server else ""), flush=True)
    argv = ["crashkit.kdump.kdump_setup", "-l", name + ("," + server["name"] if server else ""),
            "-e", "kdump_reboot_ok=true"]
    for item in extra:
        argv += ["-e", item]
    play(argv, inv, log)
    wait_loaded(lab, name)
    return ssh(lab, name, "grep -o 'crashkernel=[^ ]*' /proc/cmdline").strip()


def describe(lab, name):
    out = ssh(lab, name, "cat /sys/kernel/kexec_crash_size; uname -r; "
              "grep -E '^(MAKEDUMP_ARGS|KDUMP_CMDLINE_APPEND|KDUMP_COREDIR)=' /etc/default/kdump-tools || true; "
              "ls -l /var/lib/kdump/ 2>/dev/null | awk '/initrd/ {print $5, $NF}'")
    lines = out.splitlines()
    return {"reserved_bytes": int(lines[0]), "kernel": lines[1], "config_lines": lines[2:]}


def settle(lab, names):
    """Wait until every guest has finished booting (``systemctl is-system-running --wait``: its
    boot jobs done, "running" or "degraded"): a guest still booting after its own crash takes CPU
    from the one crashing next (seen as a 52 s stall in the firmware on 2026-12-05)."""
    for name in names:
        start = time.time()
        state = ssh(lab, name, "systemctl is-system-running --wait || true").strip()
        print("  %s settled: %s (%.0f s)" % (name, state or "?", time.time() - start), flush=True)


def one_crash(lab, name, server=None):
    """Load, crash, wait for the host to come back; the milestones in seconds after the crash."""
    meminfo = ssh(lab, name, "python3 - && sync", stdin=LOAD)
    boot_id = lab.boot_id(name)
    sent = lab.panic(name)
    lab.wait_reboot(name, boot_id, timeout=1800)
    events = [e for e in console.vm_events(lab.vm_dir(name)) if e["t"] >= sent]
    result = {"meminfo_before": meminfo.splitlines(), "seconds": {}}
    for e in events:
        key = e["event"]
        if key == "makedumpfile_start" and "--dump-dmesg" in e.get("args", ""):
            key = "makedumpfile_dmesg_start"
        if key in MILESTONES + ("makedumpfile_dmesg_start", "ssh_up", "vmcore_failed") and key not in result["seconds"]:
            result["seconds"][key] = round(e["t"] - sent, 1)
        if key == "makedumpfile_start":
            result["collector"] = e.get("args")
        if key == "vmcore_saved":
            # "saved vmcore in /var/crash/<stamp>." or "... in user@server:/var/crash/<ip>-<stamp>"
            result["dump_dir"] = e["path"].rstrip(".")
    if "vmcore_saved" not in result["seconds"] or "ssh_up" not in result["seconds"]:
        sys.exit("%s: no dump saved or no ssh after the crash: %s" % (name, json.dumps(events)[-3000:]))
    if server:
        # on the server: Debian's under /var/crash, crashkit's receiver's under /srv/crash/<host>
        base = os.path.basename(result["dump_dir"].split(":", 1)[-1].rstrip("/"))
        listing = ssh(lab, server["name"], "find /var/crash /srv/crash -path '*/%s/*' -printf '%%s %%p\\n'" % base)
    else:
        listing = ssh(lab, name, "stat -c '%%s %%n' %s/*" % result["dump_dir"].rstrip("/"))
    result["files"] = dict(reversed(line.split(" ", 1)) for line in listing.splitlines())
    result["dump_bytes"] = sum(int(s) for n, s in result["files"].items() if os.path.basename(n).startswith("dump"))
    return result


def median(size, side, key):
    """Median over the rounds of one side's milestone (seconds) or dump size (bytes)."""
    return statistics.median(r[side]["dump_bytes"] if key == "dump_bytes" else r[side]["seconds"][key]
                             for r in size["rounds"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--memory", type=int, action="append", help="guest RAM in MiB (repeatable; default 1024)")
    parser.add_argument("--release", default="bookworm", choices=("bookworm", "trixie"))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--run", default=os.path.join(ROOT, ".tmp", "bench-capture"))
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--sequential", action="store_true",
                        help="crash one side at a time (the other idle), the first side alternating by round")
    parser.add_argument("--target", default="local", choices=("local", "ssh"),
                        help="where both sides save: /var/crash, or a third VM over SSH")
    parser.add_argument("--crashkit-var", action="append", default=[], metavar="NAME=VALUE",
                        help="a role variable for the crashkit side only (repeatable)")
    parser.add_argument("--output", default=os.path.join(ROOT, "bench", "results", "capture.json"))
    args = parser.parse_args()
    check_crashkit_vars(parser, args.crashkit_var)
    use_collection_checkout()
    raw = os.path.join(os.path.dirname(args.output), "raw")
    os.makedirs(raw, exist_ok=True)
    log = os.path.join(raw, "capture.log")
    open(log, "w").close()
    lab = Lab(args.run)
    sizes = []
    for memory in args.memory or [1024]:
        names = {"debian": "debian-%d" % memory, "crashkit": "crashkit-%d" % memory}
        specs = [{"name": n, "release": args.release, "memory": memory, "smp": 1} for n in names.values()]
        if args.target == "ssh":
            specs.append({"name": "dumpsrv-%d" % memory, "release": args.release, "memory": 1024, "smp": 1})
        print("== %d MiB: booting %s" % (memory, ", ".join(s["name"] for s in specs)), flush=True)
        recs = lab.start_and_wait(specs, 1800, replace=True)[0]
        server = next((r for r in recs if r["name"] == "dumpsrv-%d" % memory), None)
        inv = os.path.join(args.run, "inventory-%d.yml" % memory)
        with open(inv, "w") as handle:
            handle.write(inventory.demo_inventory_yaml([r for r in recs if r["name"] == names["crashkit"]],
                                                       [server] if server else [], args.target))
        try:
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                deb = pool.submit(setup_debian, lab, names["debian"], server)
                ck = pool.submit(setup_crashkit, lab, names["crashkit"], inv, log, args.crashkit_var, server)
                reservation = {"debian": deb.result(), "crashkit": ck.result()}
            size = {"memory_mib": memory, "release": args.release, "target": args.target, "crashkernel": reservation,
                    "crashkit_vars": args.crashkit_var,
                    "config": {side: describe(lab, n) for side, n in names.items()}, "rounds": []}
            for round_no in range(args.repeat):
                if args.sequential:
                    order = ("debian", "crashkit") if round_no % 2 == 0 else ("crashkit", "debian")
                    outcome = {}
                    for side in order:
                        settle(lab, [spec["name"] for spec in specs])
                        print("%d MiB round %d: crashing %s alone" % (memory, round_no + 1, side), flush=True)
                        outcome[side] = one_crash(lab, names[side], server)
                    outcome = {side: outcome[side] for side in names}
                else:
                    with concurrent.futures.ThreadPoolExecutor(2) as pool:
                        futures = {side: pool.submit(one_crash, lab, n, server) for side, n in names.items()}
                        outcome = {side: f.result() for side, f in futures.items()}
                size["rounds"].append(outcome)
                for side in ("debian", "crashkit"):
                    o = outcome[side]
                    secs = o["seconds"]
                    print("%d MiB round %d %-8s makedumpfile %5.1f s  saved %6.1f s  back on ssh %6.1f s  "
                          "dump %7.1f MB  (%s)" % (
                              memory, round_no + 1, side,
                              secs["vmcore_saved"] - secs.get("makedumpfile_start", secs["vmcore_saved"]),
                              secs["vmcore_saved"], secs["ssh_up"], o["dump_bytes"] / 1e6,
                              o.get("collector")), flush=True)
        finally:
            if not args.keep:
                for spec in specs:
                    lab.destroy(spec["name"])

        size["median"] = {side: {"saved_seconds": median(size, side, "vmcore_saved"),
                                 "ssh_seconds": median(size, side, "ssh_up"),
                                 "dump_bytes": median(size, side, "dump_bytes")} for side in names}
        size["ratio_time_to_ssh"] = size["median"]["crashkit"]["ssh_seconds"] / size["median"]["debian"]["ssh_seconds"]
        size["ratio_time_to_saved"] = (size["median"]["crashkit"]["saved_seconds"]
                                       / size["median"]["debian"]["saved_seconds"])
        size["ratio_dump_size"] = size["median"]["crashkit"]["dump_bytes"] / size["median"]["debian"]["dump_bytes"]
        size["goal_met"] = size["ratio_time_to_ssh"] <= 0.6 and size["ratio_dump_size"] <= 1.1
        sizes.append(size)
    if not args.keep:
        lab.services.stop()
    result = {
        "benchmark": "capture", "repeat": args.repeat, "sizes": sizes,
        "crashes": "one side at a time, the other idle" if args.sequential else "both sides at once",
        "goal": "crashkit default <= 0.6x Debian's time panic -> back on ssh, dump <= 1.1x its size",
        "goal_met": all(s["goal_met"] for s in sizes),
    }
    write_result(args.output, result,
                 guests="lab VMs under TCG (python -m crashlab), 1 vCPU each, %s"
                 % ("crashed one at a time" if args.sequential else "both sides at once"))
    for s in sizes:
        print("%d MiB: crashkit/debian time to ssh %.2fx, to dump saved %.2fx, dump size %.2fx; goal %s" % (
            s["memory_mib"], s["ratio_time_to_ssh"], s["ratio_time_to_saved"], s["ratio_dump_size"],
            "met" if s["goal_met"] else "missed"))
    print("results: %s (playbook output: %s)" % (args.output, log))


if __name__ == "__main__":
    main()
