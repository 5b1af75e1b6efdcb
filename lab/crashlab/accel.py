"""Choose QEMU's accelerator: KVM only when a guest really boots under it, else TCG.

``/dev/kvm`` existing is not enough: on PVM hosts (``kvm_pvm``, "pagetable-based virtual
machine", nested virtualization without VT-x) ``KVM_CREATE_VM`` succeeds but a stock Debian
kernel never gets past GRUB/the bzImage decompressor. So:

1. :func:`kvm_candidate` decides from host facts (pure): ``/dev/kvm`` present, a ``vmx`` or
   ``svm`` CPU flag, no ``kvm_pvm`` module.
2. A candidate is confirmed by a probe boot of the real base image under KVM that must print
   a "Linux version" banner on the serial console within :data:`PROBE_SECONDS`.

The decision is cached in ``<cache>/accel.json`` keyed by the host facts.
``CRASHKIT_LAB_ACCEL=tcg|kvm`` forces one (``auto`` is the default).
"""
import hashlib
import os
import platform
import re
import subprocess
import tempfile
import time
from pathlib import Path

from crashlab import paths

PROBE_SECONDS = 60
# TCG's "max" CPU minus 5-level paging (4 levels like typical servers; measured ~10 % faster under
# TCG on fork-heavy work) and minus SVM/VMX (guests would load kvm_amd for nothing).
# CRASHKIT_LAB_TCG_CPU overrides the -cpu value.
DEFAULT_TCG_CPU = "max,-la57,-svm,-vmx"


def tcg_args():
    return ["-accel", "tcg,thread=multi", "-cpu", os.environ.get("CRASHKIT_LAB_TCG_CPU") or DEFAULT_TCG_CPU]


KVM_ARGS = ["-accel", "kvm", "-cpu", "host"]


def cpu_flags(cpuinfo: str):
    flags = set()
    for line in cpuinfo.splitlines():
        key, _sep, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return flags


def kvm_candidate(cpuinfo: str, modules, dev_kvm: bool):
    """``(bool, reason)``: may KVM work here at all? Decided from host facts only."""
    if not dev_kvm:
        return False, "no /dev/kvm"
    if "kvm_pvm" in modules:
        return False, "/dev/kvm is PVM (kvm_pvm module): stock Debian kernels do not boot under it"
    flags = cpu_flags(cpuinfo)
    if not flags & {"vmx", "svm"}:
        return False, "no vmx/svm CPU flag"
    return True, "vmx/svm present, /dev/kvm present, not PVM"


def host_facts():
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    try:
        modules = set(os.listdir("/sys/module"))
    except OSError:
        modules = set()
    return cpuinfo, modules, os.path.exists("/dev/kvm")


def facts_key(cpuinfo, modules, dev_kvm):
    flags = " ".join(sorted(cpu_flags(cpuinfo)))
    kvm_mods = " ".join(sorted(m for m in modules if m.startswith("kvm")))
    raw = "|".join([platform.release(), flags, kvm_mods, str(dev_kvm)])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def probe_boot(disk: Path, seconds: int = PROBE_SECONDS):
    """Boot ``disk`` (read-only snapshot) under KVM; True if the kernel banner shows in time."""
    with tempfile.TemporaryDirectory(prefix="crashlab-kvm-probe-") as tmp:
        console = Path(tmp, "console.log")
        argv = ["qemu-system-x86_64", "-name", "crashlab-kvm-probe"] + KVM_ARGS + [
            "-m", "512", "-smp", "1", "-snapshot", "-no-reboot",
            "-drive", "file=%s,format=raw,if=virtio" % disk,
            "-display", "none", "-serial", "file:%s" % console]
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ok = False
        try:
            while time.monotonic() - t0 < seconds and p.poll() is None:
                if console.exists() and re.search(rb"Linux version", console.read_bytes()):
                    ok = True
                    break
                time.sleep(0.5)
        finally:
            p.kill()
            p.wait()
        return ok, round(time.monotonic() - t0, 1)


def choose(disk: Path = None):
    """``{"accel": "kvm"|"tcg", "reason": ..., "args": [...]}`` for this host."""
    forced = os.environ.get("CRASHKIT_LAB_ACCEL", "auto")
    if forced in ("tcg", "kvm"):
        return {"accel": forced, "reason": "forced by CRASHKIT_LAB_ACCEL",
                "args": KVM_ARGS if forced == "kvm" else tcg_args()}
    facts = host_facts()
    ok, reason = kvm_candidate(*facts)
    if not ok:
        return {"accel": "tcg", "reason": reason, "args": tcg_args()}
    cache_file = paths.cache_dir() / "accel.json"
    key = facts_key(*facts)
    cached = paths.read_json(cache_file, {})
    if cached.get("key") != key and disk is not None:
        booted, secs = probe_boot(disk)
        cached = {"key": key, "kvm_boots": booted, "probe_seconds": secs, "probed": time.strftime("%Y-%m-%dT%H:%M:%S")}
        paths.write_json(cache_file, cached)
    if cached.get("key") == key and cached.get("kvm_boots"):
        return {"accel": "kvm", "reason": reason + "; probe boot printed the kernel banner in %ss" % cached["probe_seconds"],
                "args": KVM_ARGS}
    if cached.get("key") == key:
        return {"accel": "tcg", "reason": "KVM candidate but the probe boot showed no kernel banner in %ss" % PROBE_SECONDS,
                "args": tcg_args()}
    return {"accel": "tcg", "reason": reason + "; not probed yet (no image given)", "args": tcg_args()}
