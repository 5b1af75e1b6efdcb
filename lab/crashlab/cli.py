"""Command line of the lab: ``PYTHONPATH=lab python3 -m crashlab <command> ...``.

Images:    image build --release R [--force] | image list | image prune [--dry-run]
Launcher:  start NAME --release R [--memory M] [--smp N] | boot NAME | wait-ssh NAME...
           ssh NAME -- CMD | boot-id NAME | wait-reboot NAME [--boot-id ID]
           noreboot NAME [--undo] | panic NAME | events NAME [--wait EVENT]
           capture-boot CONSOLE.TLOG [--all]
           stop NAME... | destroy NAME... | status | cleanup [--all] | accel
Molecule:  create --platforms JSON --instance-config PATH | destroy NAME... --instance-config PATH
Demo:      up --clients N --server 1 --release R --inventory PATH [--target ssh|nfs|local|device] | down
Services:  apt-cache serve (started by the launcher)
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from crashlab import RELEASES, console, images, inventory, paths, procs
from crashlab.services import LabError
from crashlab.vm import DEFAULT_MEMORY, DEFAULT_SMP, Lab


def _print_json(obj):
    json.dump(obj, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    sys.stdout.flush()


def _err(msg):
    sys.stderr.write("crashlab: %s\n" % msg)
    sys.stderr.flush()


# --- images ---------------------------------------------------------------------------------------

def cmd_image_build(args):
    for release in args.release:
        t0 = time.monotonic()
        hit = images.current_image(release).exists() and not args.force
        img = images.ensure(release, force=args.force)
        _print_json({"release": release, "disk": str(img.disk), "cache_hit": hit,
                     "seconds": round(time.monotonic() - t0, 1), "kernels": img.manifest.get("kernels")})


def cmd_image_list(args):
    current = {r: images.current_image(r).dir for r in RELEASES}
    _print_json([{"release": i.release, "dir": str(i.dir), "current": current.get(i.release) == i.dir,
                  "os": i.manifest.get("os"), "kernels": i.manifest.get("kernels"),
                  "built": i.manifest.get("built"), "build_seconds": i.manifest.get("build_seconds")}
                 for i in images.list_images()])


def cmd_image_prune(args):
    _print_json({"removed" if not args.dry_run else "would_remove": [str(d) for d in images.prune(args.dry_run)]})


def cmd_apt_cache_serve(args):
    from crashlab import aptcache
    aptcache.serve(paths.cache_dir() / "apt", args.port, args.port_file)


# --- launcher -------------------------------------------------------------------------------------

def cmd_start(args):
    lab = Lab()
    specs = [{"name": n, "release": args.release, "memory": args.memory, "smp": args.smp} for n in args.names]
    secs = None
    if args.no_wait:
        recs = lab.start(specs, replace=args.replace)
    else:
        recs, secs = lab.start_and_wait(specs, args.timeout, replace=args.replace)
    out = {"vms": [{"name": r["name"], "port": r["port"], "private_address": r["private_address"],
                    "accel": r["accel"], "console_log": r["console_log"]} for r in recs]}
    if secs is not None:
        out["boot_to_ssh_seconds"] = secs
    _print_json(out)


def cmd_boot(args):
    lab = Lab()
    rec = lab.boot(args.name)
    out = {"name": rec["name"], "port": rec["port"]}
    if not args.no_wait:
        out["boot_to_ssh_seconds"] = lab.wait_ssh([rec["name"]], args.timeout)[rec["name"]]
    _print_json(out)


def cmd_wait_ssh(args):
    _print_json(Lab().wait_ssh(args.names, args.timeout))


def cmd_ssh(args):
    lab = Lab()
    rec = lab.record(args.name)
    cmd = lab.ssh_argv(rec, 30) + (["--"] + args.command if args.command else [])
    os.execvp(cmd[0], cmd)


def cmd_boot_id(args):
    bid = Lab().boot_id(args.name)
    if not bid:
        _err("%s does not answer on ssh" % args.name)
        return 1
    print(bid)
    return 0


def cmd_wait_reboot(args):
    secs = Lab().wait_reboot(args.name, args.boot_id, args.timeout)
    _print_json({"name": args.name, "seconds": secs})


def cmd_noreboot(args):
    Lab().set_reboot_action(args.name, shutdown=not args.undo)
    _print_json({"name": args.name, "reboot_action": "reset" if args.undo else "shutdown"})


def cmd_panic(args):
    t = Lab().panic(args.name)
    _print_json({"name": args.name, "sysrq_crash_sent": t})


def cmd_events(args):
    lab = Lab()
    d = lab.vm_dir(args.name)
    lab.record(args.name)
    if not args.wait:
        _print_json(console.vm_events(d))
        return 0
    deadline = time.monotonic() + args.timeout
    while True:
        evs = [e for e in console.vm_events(d) if e["t"] >= args.after]
        hit = [e for e in evs if e["event"] in args.wait]
        if hit:
            _print_json(hit[0])
            return 0
        if time.monotonic() > deadline:
            _err("no %s event for %s within %ds" % ("/".join(args.wait), args.name, args.timeout))
            return 1
        time.sleep(0.5)


def cmd_capture_boot(args):
    """The last capture boot of a console log (``console.tlog``) as JSON, or all of them."""
    try:
        text = Path(args.tlog).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        _err("cannot read %s: %s" % (args.tlog, exc))
        return 1
    boots = [b for b in console.capture_boots(console.parse_tlog(text)) if b["capture"]]
    if not boots:
        _err("no capture boot in %s" % args.tlog)
        return 1
    _print_json(boots if args.all else boots[-1])
    return 0


def cmd_stop(args):
    lab = Lab()
    _print_json({n: lab.stop(n, args.timeout) for n in args.names})


def cmd_destroy(args):
    lab = Lab()
    for n in args.names:
        lab.destroy(n)
    if args.instance_config:
        paths.atomic_write(Path(args.instance_config), inventory.instance_config_yaml([]), 0o600)
    _print_json({"destroyed": args.names})


def cmd_status(args):
    st = Lab().status()
    if args.json:
        _print_json(st)
        return
    print("lab %s (marker %s)" % (st["run_dir"], st["marker"]))
    for v in st["vms"]:
        print("  %-20s %-8s %-8s ssh %-22s private %-14s %s %sMiB/%scpu" % (
            v["name"], v["release"], "running" if v["running"] else "stopped", v["ssh"], v["private_address"],
            v["accel"], v["memory"], v["smp"]))
    s = st["services"]
    print("  apt cache: %s (port %s); switch: %s" % ("running" if s["apt_cache"]["running"] else "stopped",
                                                     s["apt_cache"]["port"],
                                                     "running" if s["switch"]["running"] else "stopped"))


def cmd_cleanup(args):
    _print_json({"killed": Lab().cleanup(all_labs=args.all)})


def cmd_accel(args):
    from crashlab import accel
    disk = images.current_image(args.release).disk
    _print_json(accel.choose(disk if disk.exists() else None))


def cmd_watch(args):
    console.watch(Path(args.vm_dir), lambda: procs.alive(args.pid, args.marker))
    console.append_lifecycle(Path(args.vm_dir) / "lifecycle.jsonl", "qemu_exit", pid=args.pid)


# --- Molecule -------------------------------------------------------------------------------------

def cmd_create(args):
    """Start Molecule's platforms at once, wait for ssh, write instance_config.yml."""
    platforms = json.loads(args.platforms)
    specs = [{"name": p["name"], "release": p.get("release", "bookworm"), "memory": p.get("memory"),
              "smp": p.get("smp"), "dump_disk": p.get("dump_disk")} for p in platforms]
    t0 = time.monotonic()
    recs, secs = Lab().start_and_wait(specs, args.timeout, replace=True)
    paths.atomic_write(Path(args.instance_config), inventory.instance_config_yaml(recs), 0o600)
    _print_json({"instances": inventory.instance_config(recs), "boot_to_ssh_seconds": secs,
                 "accel": recs[0]["accel"] if recs else None, "seconds": round(time.monotonic() - t0, 1)})


# --- demo -----------------------------------------------------------------------------------------

def cmd_up(args):
    lab = Lab()
    clients = ["client-%d" % i for i in range(1, args.clients + 1)]
    servers = ["server-%d" % i for i in range(1, args.server + 1)]
    specs = [{"name": n, "release": args.release, "memory": args.memory, "smp": args.smp,
              "dump_disk": {"label": "crashdump"} if args.target == "device" and n in clients else None}
             for n in clients + servers]
    t0 = time.monotonic()
    started, secs = lab.start_and_wait(specs, args.timeout, replace=True)
    recs = {r["name"]: r for r in started}
    inv = Path(args.inventory).absolute()
    text = inventory.demo_inventory_yaml([recs[n] for n in clients], [recs[n] for n in servers], args.target)
    paths.atomic_write(inv, text)
    results = lab.run / "results"
    results.mkdir(parents=True, exist_ok=True)
    _print_json({"inventory": str(inv), "run_dir": str(lab.run), "results_dir": str(results),
                 "console_logs": {n: r["console_log"] for n, r in recs.items()},
                 "private_addresses": {n: r["private_address"] for n, r in recs.items()},
                 "boot_to_ssh_seconds": secs, "seconds": round(time.monotonic() - t0, 1)})


def cmd_down(args):
    lab = Lab()
    names = [r["name"] for r in lab.records()]
    for n in names:
        lab.destroy(n)
    lab.services.stop()
    if args.inventory:
        Path(args.inventory).unlink(missing_ok=True)
    _print_json({"destroyed": names})


# --- parser ---------------------------------------------------------------------------------------

def build_parser():
    p = argparse.ArgumentParser(prog="python3 -m crashlab", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    img = sub.add_parser("image", help="base images").add_subparsers(dest="image_command", required=True)
    b = img.add_parser("build", help="build (or reuse) the base image of a release")
    b.add_argument("--release", action="append", choices=RELEASES, required=True)
    b.add_argument("--force", action="store_true", help="rebuild even if the recipe is unchanged")
    b.set_defaults(func=cmd_image_build)
    img.add_parser("list", help="images in the cache").set_defaults(func=cmd_image_list)
    pr = img.add_parser("prune", help="remove images of old recipes that no running VM uses")
    pr.add_argument("--dry-run", action="store_true")
    pr.set_defaults(func=cmd_image_prune)

    ac = sub.add_parser("apt-cache", help="the host-side package cache").add_subparsers(dest="ac", required=True)
    s = ac.add_parser("serve", help="serve Debian's archive through the cache on 127.0.0.1")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--port-file", help="write the port actually bound here")
    s.add_argument("--marker", help="process marker of the lab that started it (for cleanup)")
    s.set_defaults(func=cmd_apt_cache_serve)

    def vm_opts(q, single_default_smp=DEFAULT_SMP):
        q.add_argument("--release", choices=RELEASES, default="bookworm")
        q.add_argument("--memory", type=int, default=DEFAULT_MEMORY, help="MiB (default %(default)s)")
        q.add_argument("--smp", type=int, default=single_default_smp, help="vCPUs (default %(default)s)")
        q.add_argument("--timeout", type=int, default=900, help="seconds to wait for ssh")

    s = sub.add_parser("start", help="create and boot VMs")
    s.add_argument("names", nargs="+")
    vm_opts(s)
    s.add_argument("--replace", action="store_true", help="destroy existing VMs of the same names first")
    s.add_argument("--no-wait", action="store_true", help="do not wait for ssh")
    s.set_defaults(func=cmd_start)

    s = sub.add_parser("boot", help="start a stopped VM again on its existing disk")
    s.add_argument("name")
    s.add_argument("--timeout", type=int, default=900)
    s.add_argument("--no-wait", action="store_true")
    s.set_defaults(func=cmd_boot)

    s = sub.add_parser("wait-ssh", help="wait until VMs answer on ssh")
    s.add_argument("names", nargs="+")
    s.add_argument("--timeout", type=int, default=900)
    s.set_defaults(func=cmd_wait_ssh)

    s = sub.add_parser("ssh", help="ssh into a VM (command after --)")
    s.add_argument("name")
    s.add_argument("command", nargs=argparse.REMAINDER)
    s.set_defaults(func=cmd_ssh)

    s = sub.add_parser("boot-id", help="print the guest's current boot id")
    s.add_argument("name")
    s.set_defaults(func=cmd_boot_id)

    s = sub.add_parser("wait-reboot", help="wait until the guest is back with a new boot id")
    s.add_argument("name")
    s.add_argument("--boot-id", help="the boot id before the reboot (default: the last one recorded)")
    s.add_argument("--timeout", type=int, default=900)
    s.set_defaults(func=cmd_wait_reboot)

    s = sub.add_parser("noreboot", help="make the next guest reboot end QEMU (QMP set-action reboot=shutdown)")
    s.add_argument("name")
    s.add_argument("--undo", action="store_true", help="back to reboot=reset")
    s.set_defaults(func=cmd_noreboot)

    s = sub.add_parser("panic", help="crash the guest kernel (sysrq-c over ssh)")
    s.add_argument("name")
    s.set_defaults(func=cmd_panic)

    s = sub.add_parser("events", help="console/lifecycle events of a VM as JSON")
    s.add_argument("name")
    s.add_argument("--wait", action="append", metavar="EVENT", help="wait for the first such event and print it")
    s.add_argument("--after", type=float, default=0.0, help="only events at/after this unix time")
    s.add_argument("--timeout", type=int, default=900)
    s.set_defaults(func=cmd_events)

    s = sub.add_parser("capture-boot", help="the last kdump capture boot of a console.tlog as JSON")
    s.add_argument("tlog")
    s.add_argument("--all", action="store_true", help="every capture boot, oldest first")
    s.set_defaults(func=cmd_capture_boot)

    s = sub.add_parser("stop", help="graceful power-off (QMP system_powerdown), kill after --timeout")
    s.add_argument("names", nargs="+")
    s.add_argument("--timeout", type=int, default=120)
    s.set_defaults(func=cmd_stop)

    s = sub.add_parser("destroy", help="kill VMs and remove their overlay and run dir")
    s.add_argument("names", nargs="*")
    s.add_argument("--instance-config", help="also write an empty Molecule instance config here")
    s.set_defaults(func=cmd_destroy)

    s = sub.add_parser("status", help="VMs and services of this lab")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)

    s = sub.add_parser("cleanup", help="kill every process this lab started (pidfiles + marker scan)")
    s.add_argument("--all", action="store_true", help="every crashlab lab on this machine, not just this run dir")
    s.set_defaults(func=cmd_cleanup)

    s = sub.add_parser("accel", help="show the accelerator the lab would use")
    s.add_argument("--release", choices=RELEASES, default="bookworm")
    s.set_defaults(func=cmd_accel)

    s = sub.add_parser("create", help="Molecule create: boot platforms, write instance_config.yml")
    s.add_argument("--platforms", required=True, help="JSON list of {name, release, memory, smp}")
    s.add_argument("--instance-config", required=True)
    s.add_argument("--timeout", type=int, default=900)
    s.set_defaults(func=cmd_create)

    s = sub.add_parser("up", help="demo lab: N clients + dump server(s), writes an Ansible inventory")
    s.add_argument("--clients", type=int, default=2)
    s.add_argument("--server", type=int, default=1)
    s.add_argument("--inventory", required=True)
    s.add_argument("--target", choices=["ssh", "nfs", "local", "device"], default="ssh",
                   help="where the clients' dumps go: the first server over ssh (default) or NFS, /var/crash, "
                        "or a second disk of each client (ext4, LABEL=crashdump)")
    vm_opts(s, single_default_smp=1)
    s.set_defaults(func=cmd_up)

    s = sub.add_parser("down", help="destroy every VM of this lab and stop its services")
    s.add_argument("--inventory", help="also remove this inventory file")
    s.set_defaults(func=cmd_down)

    s = sub.add_parser("_watch", help=argparse.SUPPRESS)
    s.add_argument("--vm-dir", required=True)
    s.add_argument("--pid", type=int, required=True)
    s.add_argument("--marker", required=True)
    s.set_defaults(func=cmd_watch)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except LabError as e:
        _err(str(e))
        return 2
    except subprocess.CalledProcessError as e:
        _err("command failed (%d): %s" % (e.returncode, " ".join(str(a) for a in e.cmd)))
        return 2
    except KeyboardInterrupt:
        return 130
