"""The launcher: QEMU VMs from copy-on-write overlays of the cached base images.

Per lab (run dir) the state is plain files, one directory per VM under ``vms/<name>/``:

* ``vm.json``       the VM's spec and allocations (release, memory, smp, ssh port, private
                    address/MAC, image, accelerator),
* ``disk.qcow2``    overlay on the base image (never written),
* ``console.log``   the serial console as QEMU writes it, ``console.tlog`` the same lines with
                    arrival times (written by the watcher), ``lifecycle.jsonl`` launcher events,
* ``qmp.sock``, ``qemu.pid``, ``watch.pid``, ``boot_id`` (last boot id seen over ssh).

Every QEMU runs as ``-name <marker>-<vm>``; ``cleanup`` kills by pidfile and by that marker.
"""
import concurrent.futures
import hashlib
import ipaddress
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

from crashlab import accel, console, image, images, paths, procs, qmp
from crashlab.services import LabError, Services

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
DEFAULT_MEMORY = 1024
DEFAULT_SMP = 2
GUEST_USER = "root"
PRIVATE_NET = os.environ.get("CRASHKIT_LAB_PRIVATE_NET", "10.77.0.0/24")
PRIVATE_FIRST_HOST = 11
PORT_RANGE = (30000, 32767)
APT_GUEST_ADDR = "10.0.2.100"
SSH_OPTIONS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
               "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"]


# --- pure allocation helpers ----------------------------------------------------------------------

def allocate_port(used, is_free, lo, hi, start):
    """First port from ``start`` (wrapping inside ``[lo, hi]``) not in ``used`` and ``is_free``."""
    span = hi - lo + 1
    for i in range(span):
        port = lo + (start - lo + i) % span
        if port not in used and is_free(port):
            return port
    raise LabError("no free port in %d-%d" % (lo, hi))


def port_start(lab_id: str, name: str, lo=PORT_RANGE[0], hi=PORT_RANGE[1]):
    """Where a VM's port search starts: spread by lab and name so labs rarely collide."""
    h = int(hashlib.sha256((lab_id + "/" + name).encode()).hexdigest()[:8], 16)
    return lo + h % (hi - lo + 1)


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def allocate_private(used_addresses, network=PRIVATE_NET, first_host=PRIVATE_FIRST_HOST):
    """``(address, prefix length, mac)``: the lowest free host address of the lab subnet."""
    net = ipaddress.ip_network(network)
    used = {ipaddress.ip_address(a) for a in used_addresses}
    for i, addr in enumerate(net.hosts(), start=1):
        if i < first_host or addr in used:
            continue
        packed = addr.packed
        mac = "52:54:00:%02x:%02x:%02x" % (packed[-3], packed[-2], packed[-1])
        return str(addr), net.prefixlen, mac
    raise LabError("lab subnet %s is full" % network)


DUMP_DISK = "dump.img"
DUMP_DISK_LABEL_RE = re.compile(r"\A[A-Za-z0-9_-]{1,16}\Z")


def make_dump_disk(path, label, size_mb):
    """A sparse raw disk of ``size_mb`` MiB holding one ext4 file system labelled ``label``
    (no partition table: the guest mounts /dev/vdb by LABEL=)."""
    if not DUMP_DISK_LABEL_RE.match(label or ""):
        raise LabError("dump disk label %r: 1 to 16 letters, digits, '_' or '-'" % (label,))
    mkfs = shutil.which("mkfs.ext4") or "/sbin/mkfs.ext4"
    with open(path, "wb") as handle:
        handle.truncate(int(size_mb) << 20)
    subprocess.run([mkfs, "-q", "-F", "-L", label, "-E", "root_owner=0:0", str(path)], check=True,
                   stdin=subprocess.DEVNULL)


def qemu_argv(rec, accel_args, apt_port, switch_dir, socat="socat"):
    """The QEMU command line of one VM record (pure)."""
    d = Path(rec["dir"])
    for p in (d, switch_dir):
        if "," in str(p):
            raise LabError("QEMU option values cannot contain commas: %s" % p)
    guestfwd = "guestfwd=tcp:%s:80-cmd:%s STDIO TCP:127.0.0.1:%d" % (APT_GUEST_ADDR, socat, apt_port)
    return ["qemu-system-x86_64", "-name", rec["qemu_name"], "-machine", "pc"] + list(accel_args) + [
        "-m", str(rec["memory"]), "-smp", str(rec["smp"]),
        "-drive", "file=%s,if=virtio,format=qcow2,cache=unsafe,discard=unmap" % (d / "disk.qcow2"),
    ] + ([
        # a second disk for a device dump target (the guest's /dev/vdb, named by its label)
        "-drive", "file=%s,if=virtio,format=raw,cache=unsafe" % (d / DUMP_DISK),
    ] if rec.get("dump_disk") else []) + [
        "-netdev", "user,id=nat,restrict=on,hostfwd=tcp:127.0.0.1:%d-:22,%s" % (rec["port"], guestfwd),
        "-device", "virtio-net-pci,netdev=nat,mac=%s" % image.NAT_MAC,
        "-netdev", "vde,id=lab,sock=%s" % switch_dir,
        "-device", "virtio-net-pci,netdev=lab,mac=%s" % rec["private_mac"],
        "-device", "virtio-rng-pci",
        "-display", "none",
        "-chardev", "file,id=serial0,path=%s,append=on" % (d / "console.log"),
        "-serial", "chardev:serial0",
        "-qmp", "unix:%s,server=on,wait=off" % (d / "qmp.sock"),
        "-pidfile", str(d / "qemu.pid"),
        "-daemonize",
    ]


def guest_setup_script(rec) -> str:
    """Shell run in a fresh guest over ssh: hostname and the private NIC's static address."""
    return """set -e
name={name}
echo "$name" > /etc/hostname
hostname "$name"
sed -i "s/^127\\.0\\.1\\.1[[:space:]].*/127.0.1.1\\t$name/" /etc/hosts
cat > /etc/systemd/network/20-crashlab-private.network <<'EOF'
[Match]
MACAddress={mac}

[Link]
RequiredForOnline=no

[Network]
Address={addr}/{plen}
LinkLocalAddressing=no
IPv6AcceptRA=no
EOF
networkctl reload
for i in $(seq 60); do
  ip -4 -o addr show | grep -q " inet {addr}/" && exit 0
  sleep 0.5
done
echo "private address {addr} did not come up" >&2
ip -o link >&2
exit 1
""".format(name=rec["name"], mac=rec["private_mac"], addr=rec["private_address"], plen=rec["private_prefixlen"])


# --- the lab ------------------------------------------------------------------------------------

class Lab:
    def __init__(self, run: Path = None):
        self.run = Path(run or paths.run_dir()).absolute()
        self.marker = paths.marker(self.run)
        self.vms_dir = self.run / "vms"
        self.lock_path = self.run / "lab.lock"
        self.services = Services(self.run)

    # records -----------------------------------------------------------------------------------
    def vm_dir(self, name) -> Path:
        return self.vms_dir / name

    def record(self, name):
        rec = paths.read_json(self.vm_dir(name) / "vm.json")
        if rec is None:
            raise LabError("no VM %r in %s" % (name, self.run))
        return rec

    def records(self):
        out = []
        if self.vms_dir.is_dir():
            for d in sorted(self.vms_dir.iterdir()):
                rec = paths.read_json(d / "vm.json")
                if rec:
                    out.append(rec)
        return out

    def save(self, rec):
        paths.write_json(self.vm_dir(rec["name"]) / "vm.json", rec)

    def qemu_pid(self, name):
        pid = procs.read_pid(self.vm_dir(name) / "qemu.pid")
        return pid if procs.alive(pid, self.marker + "-" + name) else None

    def running(self, name):
        return self.qemu_pid(name) is not None

    def lifecycle(self, name, event, **fields):
        return console.append_lifecycle(self.vm_dir(name) / "lifecycle.jsonl", event, **fields)

    # start -------------------------------------------------------------------------------------
    def start(self, specs, replace=False):
        """Create and boot VMs; ``specs`` are dicts with name, release, memory, smp."""
        specs = [dict(s) for s in specs]
        for s in specs:
            if not NAME_RE.match(s.get("name", "")):
                raise LabError("VM name %r: use lowercase letters, digits and '-' (a hostname)" % s.get("name"))
            s.setdefault("release", "bookworm")
            s["memory"] = int(s.get("memory") or DEFAULT_MEMORY)
            s["smp"] = int(s.get("smp") or DEFAULT_SMP)
        if len({s["name"] for s in specs}) != len(specs):
            raise LabError("duplicate VM names")
        releases = sorted({s["release"] for s in specs})
        with concurrent.futures.ThreadPoolExecutor(len(releases)) as pool:
            imgs = dict(zip(releases, pool.map(images.ensure, releases)))
        acc = accel.choose(next(iter(imgs.values())).disk)
        recs = []
        with paths.locked(self.lock_path):
            for s in specs:
                if self.vm_dir(s["name"]).exists():
                    if not replace:
                        raise LabError("VM %s exists in %s (destroy it, or pass --replace)" % (s["name"], self.run))
                    self._kill(s["name"])
                    shutil.rmtree(self.vm_dir(s["name"]))
            apt_port, switch_dir = self.services.ensure()
            others = self.records()
            used_ports = {r["port"] for r in others}
            used_addrs = {r["private_address"] for r in others}
            for s in specs:
                img = imgs[s["release"]]
                addr, plen, mac = allocate_private(used_addrs)
                used_addrs.add(addr)
                d = self.vm_dir(s["name"])
                d.mkdir(parents=True)
                rec = {
                    "name": s["name"], "release": s["release"], "memory": s["memory"], "smp": s["smp"],
                    "dir": str(d), "qemu_name": "%s-%s" % (self.marker, s["name"]),
                    "image": str(img.disk), "image_manifest": str(img.manifest_path),
                    "partition_offset": img.manifest.get("partition_offset"),
                    "kernels": img.manifest.get("kernels"),
                    "accel": acc["accel"], "accel_reason": acc["reason"], "accel_args": acc["args"],
                    "private_address": addr, "private_prefixlen": plen, "private_mac": mac,
                    "user": GUEST_USER, "identity_file": str(images.ssh_key()),
                    "console_log": str(d / "console.log"), "configured": False,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                }
                subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(img.disk), "-F", "raw",
                                str(d / "disk.qcow2")], check=True)
                if s.get("dump_disk"):
                    disk = dict(s["dump_disk"])
                    make_dump_disk(d / DUMP_DISK, disk.get("label", "crashdump"), disk.get("size_mb", 2048))
                    rec["dump_disk"] = {"path": str(d / DUMP_DISK), "label": disk.get("label", "crashdump")}
                rec["port"] = allocate_port(used_ports, port_is_free, *PORT_RANGE, port_start(self.marker, s["name"]))
                self._launch(rec, apt_port, switch_dir, used_ports)
                used_ports.add(rec["port"])
                recs.append(rec)
        return recs

    def start_and_wait(self, specs, timeout, replace=False):
        """:meth:`start` + :meth:`wait_ssh`; returns the configured records and boot seconds."""
        names = [r["name"] for r in self.start(specs, replace=replace)]
        secs = self.wait_ssh(names, timeout)
        return [self.record(n) for n in names], secs

    def boot(self, name):
        """Start QEMU again on an existing (stopped) VM's disk."""
        with paths.locked(self.lock_path):
            rec = self.record(name)
            if self.running(name):
                raise LabError("%s is already running" % name)
            apt_port, switch_dir = self.services.ensure()
            used = {r["port"] for r in self.records() if r["name"] != name}
            if rec["port"] in used or not port_is_free(rec["port"]):
                rec["port"] = allocate_port(used, port_is_free, *PORT_RANGE, port_start(self.marker, name))
            self._launch(rec, apt_port, switch_dir, used)
            return rec

    def _launch(self, rec, apt_port, switch_dir, used_ports):
        d = Path(rec["dir"])
        socat = shutil.which("socat")
        if not socat:
            raise LabError("socat not found: install it (lab/host-packages.txt)")
        for _attempt in range(5):
            (d / "qemu.pid").unlink(missing_ok=True)
            argv = qemu_argv(rec, rec["accel_args"], apt_port, switch_dir, socat)
            p = subprocess.run(argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, check=False)
            if p.returncode == 0:
                break
            if "host forwarding" in p.stderr:
                used_ports = set(used_ports) | {rec["port"]}
                rec["port"] = allocate_port(used_ports, port_is_free, *PORT_RANGE, rec["port"] + 1)
                continue
            raise LabError("qemu failed to start %s:\n%s" % (rec["name"], p.stderr.strip()))
        else:
            raise LabError("qemu could not bind an ssh port for %s" % rec["name"])
        pid = procs.read_pid(d / "qemu.pid")
        rec["qemu_argv"] = argv
        rec["started"] = time.time()
        self.save(rec)
        self.lifecycle(rec["name"], "qemu_start", pid=pid, port=rec["port"], accel=rec["accel"])
        procs.spawn_crashlab(["_watch", "--vm-dir", str(d), "--pid", str(pid), "--marker", rec["qemu_name"]],
                             d / "watch.log", d / "watch.pid")

    # ssh ---------------------------------------------------------------------------------------
    def ssh_argv(self, rec, connect_timeout=10):
        return ["ssh", "-i", rec["identity_file"], "-p", str(rec["port"])] + SSH_OPTIONS + [
            "-o", "ConnectTimeout=%d" % connect_timeout, "%s@127.0.0.1" % rec["user"]]

    def ssh(self, name, command, timeout=120, input=None, connect_timeout=10):  # noqa: A002 - subprocess's name
        rec = self.record(name)
        return subprocess.run(self.ssh_argv(rec, connect_timeout) + ["--", command], input=input, text=True,
                              capture_output=True, timeout=timeout, check=False,
                              stdin=None if input is not None else subprocess.DEVNULL)

    def boot_id(self, name, timeout=30):
        try:
            p = self.ssh(name, "cat /proc/sys/kernel/random/boot_id", timeout=timeout, connect_timeout=5)
        except subprocess.TimeoutExpired:
            return None
        bid = p.stdout.strip()
        return bid if p.returncode == 0 and re.match(r"^[0-9a-f-]{36}$", bid) else None

    def wait_ssh(self, names, timeout=900):
        """Wait until every VM answers on ssh (parallel); configure fresh guests once.

        Returns ``{name: seconds from qemu start to ssh}``; raises if one fails.
        """
        results, errors = {}, {}

        def one(name):
            try:
                results[name] = self._wait_ssh_one(name, timeout)
            except Exception as e:  # noqa: BLE001 - reported for every VM below
                errors[name] = e

        threads = [threading.Thread(target=one, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise LabError("; ".join("%s: %s" % (n, e) for n, e in sorted(errors.items())))
        return results

    def _wait_ssh_one(self, name, timeout, not_boot_id=None):
        rec = self.record(name)
        t0 = time.monotonic()
        while True:
            if not self.running(name):
                raise LabError("qemu of %s is not running; console tail:\n%s" % (name, self.console_tail(name)))
            bid = self.boot_id(name)
            if bid and bid != not_boot_id:
                break
            if time.monotonic() - t0 > timeout:
                raise LabError("no ssh on %s within %ds; console tail:\n%s" % (name, timeout, self.console_tail(name)))
            time.sleep(1)
        (self.vm_dir(name) / "boot_id").write_text(bid + "\n")
        since_start = round(time.time() - rec.get("started", time.time()), 1)
        self.lifecycle(name, "ssh_up", boot_id=bid, seconds_since_qemu_start=since_start)
        if not rec.get("configured"):
            p = self.ssh(name, "sh -s", input=guest_setup_script(rec), timeout=120)
            if p.returncode:
                raise LabError("guest setup of %s failed: %s" % (name, (p.stderr or p.stdout).strip()))
            rec = self.record(name)
            rec["configured"] = True
            self.save(rec)
            self.lifecycle(name, "configured", private_address=rec["private_address"])
        return round(time.monotonic() - t0, 1)

    def wait_reboot(self, name, old_boot_id=None, timeout=900):
        """Wait until ``name`` answers ssh with a boot id other than ``old_boot_id``."""
        if old_boot_id is None:
            try:
                old_boot_id = (self.vm_dir(name) / "boot_id").read_text().strip()
            except FileNotFoundError:
                raise LabError("no recorded boot id for %s: pass one" % name) from None
        return self._wait_ssh_one(name, timeout, not_boot_id=old_boot_id)

    def console_tail(self, name, lines=15):
        try:
            text = Path(self.vm_dir(name) / "console.log").read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return "(no console log)"
        return "\n".join(console.clean(x) for x in text.splitlines()[-lines:])

    # control -----------------------------------------------------------------------------------
    def qmp(self, name, command, arguments=None, timeout=10):
        return qmp.execute(self.vm_dir(name) / "qmp.sock", command, arguments, timeout)

    def set_reboot_action(self, name, shutdown: bool):
        """``shutdown=True``: the next guest reboot ends QEMU (runtime ``-no-reboot``)."""
        self.qmp(name, "set-action", {"reboot": "shutdown" if shutdown else "reset"})
        self.lifecycle(name, "reboot_action", action="shutdown" if shutdown else "reset")

    def panic(self, name):
        """Crash the guest's kernel with sysrq-c; returns the send time."""
        t = time.time()
        self.lifecycle(name, "sysrq_crash_sent")
        try:
            self.ssh(name, "sync; echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger", timeout=20,
                     connect_timeout=10)
        except subprocess.TimeoutExpired:
            pass
        return t

    def stop(self, name, timeout=120):
        """Graceful power-off via QMP ``system_powerdown``; kill after ``timeout`` seconds."""
        pid = self.qemu_pid(name)
        if pid is None:
            return False
        try:
            self.qmp(name, "system_powerdown")
        except (OSError, qmp.QMPError):
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and procs.alive(pid):
            time.sleep(0.5)
        graceful = not procs.alive(pid)
        if not graceful:
            self._kill(name)
        self.lifecycle(name, "stopped", graceful=graceful)
        return True

    def _kill(self, name):
        d = self.vm_dir(name)
        pid = self.qemu_pid(name)
        if pid:
            try:
                self.qmp(name, "quit", timeout=5)
            except (OSError, qmp.QMPError):
                pass
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and procs.alive(pid):
                time.sleep(0.1)
            procs.terminate([pid])
        watcher = procs.read_pid(d / "watch.pid")
        if procs.alive(watcher, self.marker + "-" + name):
            # the watcher drains the console and records qemu_exit by itself; give it a moment
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and procs.alive(watcher):
                time.sleep(0.1)
            procs.terminate([watcher])

    def destroy(self, name):
        """Kill the VM (its disk is thrown away anyway) and remove its directory.

        The console and lifecycle logs are kept in ``<run>/logs/<name>/`` (replaced by the
        next destroy of the same name) so a failed run can still be read afterwards.
        """
        with paths.locked(self.lock_path):
            d = self.vm_dir(name)
            if d.exists():
                self._kill(name)
                keep = self.run / "logs" / name
                shutil.rmtree(keep, ignore_errors=True)
                keep.mkdir(parents=True)
                for f in ("vm.json", "console.log", "console.tlog", "lifecycle.jsonl"):
                    if (d / f).exists():
                        shutil.copy2(d / f, keep / f)
                shutil.rmtree(d)
            if not any(self.running(r["name"]) for r in self.records()):
                self.services.stop()

    def cleanup(self, all_labs=False):
        """Kill every process this lab (or, with ``all_labs``, any lab) started."""
        killed = []
        for rec in self.records():
            d = self.vm_dir(rec["name"])
            for pidfile in ("qemu.pid", "watch.pid"):
                pid = procs.read_pid(d / pidfile)
                if procs.alive(pid, rec["qemu_name"]):
                    killed += procs.terminate([pid])
        killed += procs.terminate(self.services.pids())
        killed += procs.terminate(procs.find_by_marker("crashlab-" if all_labs else self.marker))
        shutil.rmtree(self.services.switch_dir, ignore_errors=True)
        return sorted(set(killed))

    def status(self):
        vms = []
        for rec in self.records():
            pid = self.qemu_pid(rec["name"])
            vms.append({
                "name": rec["name"], "release": rec["release"], "running": pid is not None, "pid": pid,
                "ssh": "%s@127.0.0.1:%d" % (rec["user"], rec["port"]), "port": rec["port"],
                "private_address": rec["private_address"], "memory": rec["memory"], "smp": rec["smp"],
                "accel": rec["accel"], "console_log": rec["console_log"], "configured": rec.get("configured"),
            })
        return {"run_dir": str(self.run), "marker": self.marker, "vms": vms, "services": self.services.status()}
