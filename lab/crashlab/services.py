"""Per-lab helper services: the apt cache (HTTP on 127.0.0.1) and the private-network switch.

Both are started on demand by the launcher when a VM starts and stopped when the lab's last
VM is gone. Their command lines carry the lab's marker, so ``cleanup`` finds them.

Private network: one ``vde_switch`` per lab, reached by QEMU's ``-netdev vde`` through a unix
socket directory. Ethernet frames between guests travel only through that user-space
switch: the host's network stack never sees them (the host sends nothing to the lab subnet).
"""
import shutil
import subprocess
import time
from pathlib import Path

from crashlab import paths, procs


class LabError(Exception):
    pass


def _wait_for(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise LabError("timed out waiting for " + what)


class Services:
    def __init__(self, run: Path):
        self.run = Path(run)
        self.dir = self.run / "services"
        self.marker = paths.marker(self.run)
        self.apt_pidfile = self.dir / "apt-cache.pid"
        self.apt_portfile = self.dir / "apt-cache.port"
        self.apt_log = self.dir / "apt-cache.log"
        self.switch_dir = self.dir / (self.marker + ".vde")
        self.switch_pidfile = self.dir / "switch.pid"

    def apt_running(self):
        return procs.alive(procs.read_pid(self.apt_pidfile), self.marker)

    def switch_running(self):
        return procs.alive(procs.read_pid(self.switch_pidfile), self.marker)

    def apt_port(self):
        return procs.read_pid(self.apt_portfile)

    def ensure(self):
        """Start whatever is not running; return ``(apt cache port, switch socket dir)``."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self.apt_running():
            # Running guests' guestfwd points at the old port: take it again if it is free.
            old = self.apt_port()
            for port in ([old] if old else []) + [0]:
                self.apt_portfile.unlink(missing_ok=True)
                procs.spawn_crashlab(["apt-cache", "serve", "--port", str(port), "--port-file",
                                      str(self.apt_portfile), "--marker", self.marker], self.apt_log, self.apt_pidfile)
                pid = procs.read_pid(self.apt_pidfile)
                _wait_for(lambda: self.apt_portfile.exists() or not procs.alive(pid), 15, "the apt cache to listen")
                if self.apt_portfile.exists():
                    break
            else:
                raise LabError("apt cache did not start, see %s" % self.apt_log)
        if not self.switch_running():
            vde = shutil.which("vde_switch")
            if not vde:
                raise LabError("vde_switch not found: install the vde2 package (lab/host-packages.txt)")
            shutil.rmtree(self.switch_dir, ignore_errors=True)
            self.switch_pidfile.unlink(missing_ok=True)
            subprocess.run([vde, "--sock", str(self.switch_dir), "--daemon", "--pidfile", str(self.switch_pidfile),
                            "--mode", "0600", "--dirmode", "0700", "--numports", "64"],
                           check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            _wait_for(lambda: self.switch_running() and (self.switch_dir / "ctl").exists(), 10, "vde_switch")
        return self.apt_port(), self.switch_dir

    def pids(self):
        return [p for p in (procs.read_pid(self.apt_pidfile), procs.read_pid(self.switch_pidfile))
                if procs.alive(p, self.marker)]

    def stop(self):
        procs.terminate(self.pids())
        shutil.rmtree(self.switch_dir, ignore_errors=True)

    def status(self):
        return {"apt_cache": {"running": self.apt_running(), "port": self.apt_port(), "log": str(self.apt_log)},
                "switch": {"running": self.switch_running(), "socket_dir": str(self.switch_dir)}}
