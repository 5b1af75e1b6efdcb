"""Serial console: timestamping watcher and kernel event parser.

QEMU writes each VM's serial console to ``console.log``. A watcher process per VM (started by
the launcher, ``python3 -m crashlab _watch``) tails that file and appends every line to
``console.tlog`` as ``<unix time> <text>``; when QEMU exits it records ``qemu_exit`` in
``lifecycle.jsonl`` and ends. Events are derived from ``console.tlog`` on demand by the
pure :func:`parse_events`, so nothing but raw timestamped lines is ever stored.
"""
import json
import os
import re
import time
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

LINUX_VERSION = re.compile(r"Linux version (\S+)")
PANIC = re.compile(r"(?<!end )Kernel panic - not syncing: ?(.*?)\s*(?:\]---)?$")
SAVED = re.compile(r"saved vmcore in (\S+)")
FAILED = re.compile(r"failed to save vmcore")
DMESG_SAVED = re.compile(r"saved dmesg content in (\S+)")
# "running makedumpfile ..." for a local target, "sending makedumpfile ... to user@host : path" over SSH
MAKEDUMPFILE = re.compile(r"(?:running|sending) makedumpfile (.*)")
# reboot(2) prints the first; the lean capture (kdump_capture_mode initramfs) restarts through
# the sysrq trigger, which prints the second
RESTART = re.compile(r"reboot: Restarting system|sysrq: Resetting")
POWER_DOWN = re.compile(r"reboot: Power down|reboot: System halted")
KERNEL_COMMAND_LINE = re.compile(r"Kernel command line: (.*)")
# systemd's status lines ("[  OK  ] Started x.service - Desc.", "   Starting x.…ice - Desc...");
# the unit name and description may be cut with "…" on a narrow console.
STATUS = re.compile(r"(?:^|\] |^\s+)(Starting|Started|Finished|Reached target|Stopping|Stopped) (\S.*)")


def clean(raw: str) -> str:
    """Printable text of one console line (no ANSI sequences, no control characters)."""
    return CONTROL.sub("", ANSI.sub("", raw)).rstrip()


def parse_tlog(text: str):
    """``[(unix time, line)]`` from the contents of a ``console.tlog``."""
    out = []
    for raw in text.splitlines():
        stamp, _sep, line = raw.partition(" ")
        try:
            out.append((float(stamp), line))
        except ValueError:
            continue
    return out


def parse_events(lines):
    """Kernel / kdump events from ``[(time, line)]``, in order.

    Event names:

    * ``kernel_boot``: a "Linux version" banner of a normal boot,
    * ``panic``: "Kernel panic - not syncing: <reason>" (``in_capture`` when the capture
      kernel itself panicked),
    * ``capture_kernel_boot``: the first "Linux version" after a panic (kdump's kernel),
    * ``makedumpfile_start`` (with ``args``: kdump-tools runs it twice, ``--dump-dmesg`` first),
      ``dmesg_saved``, ``vmcore_saved`` (with ``path``), ``vmcore_failed``,
    * ``reboot`` ("reboot: Restarting system", or "sysrq: Resetting"), ``power_off``.

    A reboot ends a crash sequence: the next banner is a normal ``kernel_boot`` again.
    """
    events = []
    panicked = in_capture = False
    for t, line in lines:
        ev = None
        m = LINUX_VERSION.search(line)
        if m:
            if panicked and not in_capture:
                in_capture = True
                ev = {"event": "capture_kernel_boot", "kernel": m.group(1)}
            else:
                panicked = in_capture = False
                ev = {"event": "kernel_boot", "kernel": m.group(1)}
        elif PANIC.search(line):
            ev = {"event": "panic", "reason": PANIC.search(line).group(1), "in_capture": in_capture}
            panicked = True
        elif SAVED.search(line):
            ev = {"event": "vmcore_saved", "path": SAVED.search(line).group(1)}
        elif FAILED.search(line):
            ev = {"event": "vmcore_failed"}
        elif DMESG_SAVED.search(line):
            ev = {"event": "dmesg_saved", "path": DMESG_SAVED.search(line).group(1)}
        elif MAKEDUMPFILE.search(line):
            ev = {"event": "makedumpfile_start", "args": MAKEDUMPFILE.search(line).group(1).rstrip(".")}
        elif RESTART.search(line):
            ev = {"event": "reboot"}
            panicked = in_capture = False
        elif POWER_DOWN.search(line):
            ev = {"event": "power_off"}
        if ev:
            ev["t"] = t
            ev["line"] = line
            events.append(ev)
    return events


def capture_boots(lines):
    """Every boot that follows a panic in ``[(time, line)]``, up to its reboot: a dict with
    ``panic`` and ``banner`` (unix times), ``command_line``, ``capture`` (the command line has
    ``elfcorehdr=``: kexec's capture kernel, not a plain reboot), ``masked`` (the units of its
    ``systemd.mask=`` words), ``status`` (systemd's status lines ``[seconds after the panic,
    verb, text]``), ``makedumpfile`` (seconds of each start), ``saved`` and ``reboot`` (seconds
    or None) and ``failed`` (kdump-tools said it failed)."""
    boots, boot, panic_t = [], None, None
    for t, line in lines:
        if LINUX_VERSION.search(line):
            boot = None
            if panic_t is not None:
                boot = {"panic": panic_t, "banner": t, "command_line": None, "capture": False, "masked": [],
                        "status": [], "makedumpfile": [], "saved": None, "reboot": None, "failed": False}
                boots.append(boot)
            panic_t = None
            continue
        if boot is None:
            if PANIC.search(line):
                panic_t = t
            continue
        after = round(t - boot["panic"], 1)
        found = KERNEL_COMMAND_LINE.search(line)
        if found and boot["command_line"] is None:
            words = found.group(1).split()
            boot["command_line"] = found.group(1).strip()
            boot["capture"] = any(w.startswith("elfcorehdr=") for w in words)
            boot["masked"] = [w.split("=", 1)[1] for w in words if w.startswith("systemd.mask=")]
        elif SAVED.search(line):
            boot["saved"] = after
        elif FAILED.search(line):
            boot["failed"] = True
        elif MAKEDUMPFILE.search(line):
            boot["makedumpfile"].append(after)
        elif RESTART.search(line) or POWER_DOWN.search(line):
            boot["reboot"] = after
            boot = None
        else:
            found = STATUS.search(line)
            if found:
                boot["status"].append([after, found.group(1), found.group(2).rstrip(". ")])
    return boots


def read_lifecycle(path: Path):
    out = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    except FileNotFoundError:
        pass
    return out


def append_lifecycle(path: Path, event: str, **fields):
    rec = dict(fields, event=event, t=round(time.time(), 3))
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(rec, sort_keys=True) + "\n")
    return rec


def vm_events(vm_dir: Path):
    """All events of one VM (console + lifecycle), sorted by time, with ISO timestamps."""
    vm_dir = Path(vm_dir)
    try:
        tlog = (vm_dir / "console.tlog").read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        tlog = ""
    events = parse_events(parse_tlog(tlog)) + read_lifecycle(vm_dir / "lifecycle.jsonl")
    events.sort(key=lambda e: e["t"])
    for e in events:
        e["time"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(e["t"])) + ".%03d" % (e["t"] % 1 * 1000)
    return events


def watch(vm_dir: Path, alive, poll=0.2, partial_flush=2.0):
    """Tail ``console.log`` into ``console.tlog`` until ``alive()`` is false, then drain."""
    vm_dir = Path(vm_dir)
    src, dst = vm_dir / "console.log", vm_dir / "console.tlog"
    offset_file = vm_dir / "console.offset"
    try:
        offset = int(offset_file.read_text())
    except (FileNotFoundError, ValueError):
        offset = 0
    buf = b""
    buf_since = None
    with open(dst, "ab") as out:
        while True:
            running = alive()
            try:
                with open(src, "rb") as f:
                    f.seek(offset)
                    data = f.read()
            except FileNotFoundError:
                data = b""
            now = time.time()
            if data:
                offset += len(data)
                buf += data
                *complete, buf = buf.split(b"\n")
                for raw in complete:
                    out.write(b"%.3f %s\n" % (now, clean(raw.decode("utf-8", "replace")).encode()))
                buf_since = now if buf else None
            if buf and buf_since and (now - buf_since > partial_flush or not running):
                out.write(b"%.3f %s\n" % (now, clean(buf.decode("utf-8", "replace")).encode()))
                buf, buf_since = b"", None
            if data or not running:
                out.flush()
                tmp = offset_file.with_suffix(".tmp")
                tmp.write_text(str(offset - len(buf)))
                os.replace(tmp, offset_file)
            if not running:
                return
            time.sleep(poll)
