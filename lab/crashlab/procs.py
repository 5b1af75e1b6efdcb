"""Processes the lab starts: pidfiles, liveness, the marker scan, termination."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

LAB_DIR = str(Path(__file__).resolve().parents[1])


def cmdline(pid: int):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def alive(pid, marker=None) -> bool:
    """True if ``pid`` runs (and, with ``marker``, carries it on its command line)."""
    if not pid:
        return False
    args = cmdline(int(pid))
    for _retry in range(20):
        # A process that has just exec'd shows an empty cmdline for a moment.
        if args != []:
            break
        time.sleep(0.025)
        args = cmdline(int(pid))
    if not args:
        return False
    try:
        with open("/proc/%d/stat" % int(pid), encoding="utf-8") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
    except (FileNotFoundError, IndexError):
        return False
    return marker is None or any(marker in a for a in args)


def read_pid(path: Path):
    try:
        return int(Path(path).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def find_by_marker(marker: str):
    """Pids of every process whose command line contains ``marker`` (not this one)."""
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        args = cmdline(int(entry))
        if args and any(marker in a for a in args) and alive(int(entry)):
            found.append(int(entry))
    return sorted(found)


def terminate(pids, grace=5.0):
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL whatever is left."""
    pids = [p for p in pids if alive(p)]
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    for p in pids:
        if alive(p):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return pids


def spawn_crashlab(args, log: Path, pidfile: Path):
    """Start ``python3 -m crashlab ARGS`` detached (own session), logging to ``log``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = LAB_DIR + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with open(log, "ab") as logf:
        p = subprocess.Popen([sys.executable, "-m", "crashlab"] + list(args), stdin=subprocess.DEVNULL,
                             stdout=logf, stderr=logf, env=env, start_new_session=True, close_fds=True)
    Path(pidfile).write_text("%d\n" % p.pid)
    return p.pid
