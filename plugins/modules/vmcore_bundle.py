#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vmcore_bundle
short_description: Build the evidence bundle of one kernel crash, as a directory and a .tar.gz
version_added: 0.1.0
description:
  - Assembles what an engineer needs next to a crash dump into O(dest) and O(dest)C(.tar.gz).
  - "C(dmesg.txt): the crashed kernel's log, the one saved with the dump (C(dmesg.<stamp>),
    C(vmcore-dmesg.txt), C(dmesg.txt), C(dmesg)), else extracted with C(makedumpfile --dump-dmesg)
    from a kdump-compressed or ELF dump (O(dmesg_from_dump))."
  - "C(triage.json): M(crashkit.kdump.vmcore_triage)'s record of that log (or the reason it
    could not be made)."
  - "C(bundle.json): the summary - host identity, crash directory, the dump files by name, size,
    format, completeness and SHA-256 (the dump itself is not in the bundle), kernel release and
    build id of the crashed kernel (the dump's C(VMCOREINFO) C(OSRELEASE)/C(BUILD-ID), else the
    log's C(Linux version) line), crash time (C(CRASHTIME)), uptime at the crash (the kernel log
    timestamp of the crash line), the crashed kernel's command line and C(crashkernel=), the
    change record, and what is missing and why."
  - "With O(host_facts) (on the host that crashed): C(journal.txt), the journal of the crashed
    boot (C(journalctl -b <boot id>), the last boot that started before the crash time; without
    a crash time the boot before the current one) and the reason when there is none (no
    persistent journal); C(packages.json), the package changes since the start of the boot
    before the crashed one (C(/var/log/dpkg.log*), or C(rpm -qa) install times); C(kdump/), the
    kdump configuration files; C(system.json), the current C(/proc/cmdline), its
    C(crashkernel=), C(/sys/kernel/kexec_crash_size) and C(kexec_crash_loaded), kernel release."
  - "C(crash/): deep triage (O(deep_triage)). Where C(crash) is installed and the crashed
    kernel's debug vmlinux is found (O(debug_vmlinux), else by the kernel release in the
    family's place: Debian C(/usr/lib/debug/boot/vmlinux-<release>) from
    C(linux-image-<release>-dbg), RHEL family C(/usr/lib/debug/lib/modules/<release>/vmlinux)
    from C(kernel-debuginfo), SUSE C(/usr/lib/debug/boot/vmlinux-<release>.debug)), and its GNU
    build id equals the dump's C(BUILD-ID), C(crash) is run headless on the dump with
    O(crash_commands) (C(sys), C(bt), C(log), C(ps)), one file per command
    (C(crash/01-sys.txt)...). C(bundle.json) C(deep_triage) says what was done or why not, with
    the panic string and task of C(sys) and the backtrace's functions."
  - "C(change.json): the operator's change record (O(change_id), O(change_text)), when given."
  - "C(SHA256SUMS): the SHA-256 of every other file of the bundle (C(sha256sum -c SHA256SUMS))."
  - The bundle is rebuilt only when the crash directory's files, the change record or the
    options differ from those it was built from (C(bundle.json) C(inputs)); otherwise nothing
    changes. It is built in a temporary directory and renamed into place.
author:
  - crashkit maintainers (@crashkit)
extends_documentation_fragment:
  - crashkit.kdump.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
options:
  crash_dir:
    description: The crash directory (for example C(/var/crash/202405181200)).
    type: path
    required: true
  dest:
    description:
      - The bundle directory; the archive is this path with C(.tar.gz) appended.
      - Default C(<crash_dir>/crashkit-bundle), so M(crashkit.kdump.vmcore_collect) copies it with the dump.
      - Missing parent directories are made; the one holding the bundle gets mode 0750.
    type: path
  archive:
    description: Also write the C(.tar.gz) archive.
    type: bool
    default: true
  host_facts:
    description:
      - Add the journal, package changes, kdump configuration and kernel command line of the host
        the module runs on. Turn off when building the bundle on a dump server.
    type: bool
    default: true
  change_id:
    description: The operator's change or ticket id that goes with this crash.
    type: str
  change_text:
    description: Free text of the change record.
    type: str
  dmesg_from_dump:
    description: Extract the log with C(makedumpfile --dump-dmesg) when none was saved with the dump.
    type: bool
    default: true
  hash_dump:
    description: Compute the SHA-256 of the dump files (reads them once, in chunks).
    type: bool
    default: true
  journal_max_mib:
    description: Keep at most the last this many MiB of the crashed boot's journal.
    type: int
    default: 64
  package_window_days:
    description: When the journal cannot tell when the boot before the crash started, list package changes of this many days before the crash.
    type: int
    default: 7
  kdump_config_files:
    description: kdump configuration files to include when they exist.
    type: list
    elements: path
    default: [/etc/default/kdump-tools, /etc/kdump.conf, /etc/sysconfig/kdump]
  deep_triage:
    description:
      - Run C(crash) on the dump when C(crash) and the matching debug vmlinux are installed
        (see C(crash/) above). Without them the bundle says why in C(deep_triage.reason); it is
        rebuilt once a debug vmlinux is installed.
    type: bool
    default: true
  debug_vmlinux:
    description:
      - The crashed kernel's debug vmlinux, for an analysis host that keeps it elsewhere
        (for example extracted from the C(-dbg) package). Default is the family's path for the
        dump's kernel release.
      - It must be an ELF file whose build id is the dump's; a mismatch is reported in
        C(deep_triage), never fed to C(crash).
    type: path
  crash_commands:
    description:
      - The C(crash) commands to run, each with plain arguments only (no redirection, pipes,
        shell escapes or quotes).
    type: list
    elements: str
    default: [sys, bt, log, ps]
  crash_timeout:
    description: Seconds after which C(crash) is stopped (C(timeout)); its output so far is kept.
    type: int
    default: 900
  force:
    description: Rebuild even when the bundle is up to date.
    type: bool
    default: false
notes:
  - Run with become; crash directories and the journal are readable by root only.
  - The journal's boot choice needs the crash time from the dump (kdump-compressed, ELF and
    flattened dumps carry it in C(VMCOREINFO)).
  - "Deep triage reads the dump (C(crash) needs some seconds and up to a few hundred MiB of
    memory per dump) and needs the debug vmlinux, several hundred MiB per kernel: install
    it on the dump server or an analysis host rather than on every host, and build the bundle
    there (O(host_facts=false), O(dest) outside a collected store copy)."
seealso:
  - module: crashkit.kdump.vmcore_collect
  - module: crashkit.kdump.vmcore_triage
"""

EXAMPLES = r"""
- name: Build the evidence bundle of a crash, with the change record
  crashkit.kdump.vmcore_bundle:
    crash_dir: /var/crash/202405181200
    change_id: CHG-1234
    change_text: kernel upgrade to 6.1.0-21 on the web tier
  become: true
  register: bundle

- name: Deep triage on an analysis host, with a debug vmlinux extracted from the -dbg package
  crashkit.kdump.vmcore_bundle:
    crash_dir: /srv/crash-store/web1-4c3d8b1f2a9e/202405181200
    dest: /srv/analysis/web1-202405181200
    host_facts: false
    debug_vmlinux: /srv/debug/6.1.0-56-amd64/vmlinux
  become: true

- name: Bundle on the dump server (no host facts there)
  crashkit.kdump.vmcore_bundle:
    crash_dir: /srv/crash/web1/10.0.0.5-202405181200
    host_facts: false
  delegate_to: dumpserver
  become: true
"""

RETURN = r"""
path:
  description: The bundle directory.
  returned: always
  type: str
  sample: /var/crash/202405181200/crashkit-bundle
archive:
  description: The archive, null without O(archive).
  returned: always
  type: str
  sample: /var/crash/202405181200/crashkit-bundle.tar.gz
files:
  description: Files of the bundle (relative paths), null in check mode when it would be rebuilt.
  returned: always
  type: list
  elements: str
summary:
  description: The content of C(bundle.json) (null in check mode when it would be rebuilt).
  returned: always
  type: dict
  sample:
    crash_id: "202405181200"
    kernel_release: 6.1.0-56-amd64
    build_id: 4c3d8b1f2a9e7d6c5b4a39281706f5e4d3c2b1a0
    uptime_at_crash: 501.751965
    triage: {kind: sysrq, function: sysrq_handle_crash, signature: 0f3b9c2d4e5a6b7c}
    missing: {journal: "the only boot that started before the crash is the current one"}
    deep_triage:
      status: done
      vmlinux: /usr/lib/debug/boot/vmlinux-6.1.0-56-amd64
      dump: dump.202405181200
      panic: "Kernel panic - not syncing: sysrq triggered crash"
      task: {pid: 2686, command: sh, cpu: 0}
      backtrace: [machine_kexec, __crash_kexec, panic, sysrq_handle_crash, __handle_sysrq.cold]
      files: [crash/01-sys.txt, crash/02-bt.txt, crash/03-log.txt, crash/04-ps.txt]
"""

import json
import os
import shutil
import socket
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.crashkit.kdump.plugins.module_utils import _bundle, _deeptriage, _store, _vmcore
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError
from ansible_collections.crashkit.kdump.plugins.module_utils._module import domain_errors, read_text
from ansible_collections.crashkit.kdump.plugins.module_utils._triage import triage_file

BUNDLE_DIR = "crashkit-bundle"
EXTRACTABLE = (_vmcore.FORMAT_KDUMP, _vmcore.FORMAT_ELF)
TRIAGE_KEYS = ("kind", "function", "module", "signature", "panic_reason", "headline", "kernel_release", "line")


def write_json(path, data):
    with open(path, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True, default=str)
        handle.write("\n")


def source_files(crash_dir, dest, archive):
    skip = set([os.path.abspath(dest), os.path.abspath(archive)]) if archive else set([os.path.abspath(dest)])
    files = []
    for name in sorted(os.listdir(crash_dir)):
        path = os.path.join(crash_dir, name)
        if os.path.abspath(path) in skip or name.startswith(".") or not os.path.isfile(path):
            continue
        st = os.stat(path)
        files.append((name, st.st_size, int(st.st_mtime)))
    return files


def identity():
    machine = _store.normalize_machine_id(read_text("/etc/machine-id"))
    hostname = socket.gethostname()
    return {"hostname": hostname, "machine_id": machine, "host_id": _store.host_id(hostname, machine)}


def get_dmesg(module, crash_dir, names, dumps, work, missing):
    name, final = _vmcore.pick_dmesg(names)
    out = os.path.join(work, "dmesg.txt")
    if name:
        shutil.copyfile(os.path.join(crash_dir, name), out)
        return "file %s%s" % (name, "" if final else " (temporary name: the log may be incomplete)")
    if module.params["dmesg_from_dump"]:
        tool = module.get_bin_path("makedumpfile")
        candidates = [d for d in dumps if d["format"] in EXTRACTABLE]
        if tool and candidates:
            rc, _out, err = module.run_command([tool, "--dump-dmesg", candidates[-1]["path"], out])
            if rc == 0 and os.path.isfile(out):
                return "makedumpfile --dump-dmesg %s" % candidates[-1]["name"]
            missing["dmesg"] = "makedumpfile --dump-dmesg failed: %s" % err.strip()
        elif not tool:
            missing["dmesg"] = "no kernel log saved with the dump and makedumpfile is not installed"
        else:
            missing["dmesg"] = "no kernel log saved with the dump and no kdump-compressed or ELF dump to extract it from"
    else:
        missing["dmesg"] = "no kernel log saved with the dump"
    if os.path.exists(out):
        os.unlink(out)
    return None


def add_journal(module, work, crash_time, summary, missing):
    journalctl = module.get_bin_path("journalctl")
    if not journalctl:
        missing["journal"] = "journalctl is not installed"
        return None
    rc, out, err = module.run_command([journalctl, "--list-boots", "-o", "json", "--no-pager"])
    if rc != 0:
        missing["journal"] = "journalctl --list-boots failed: %s" % err.strip()
        return None
    try:
        boots = _bundle.parse_boots(out)
    except KdumpError as exc:
        missing["journal"] = str(exc)
        return None
    crashed, previous, how = _bundle.pick_boot(boots, crash_time)
    summary["journal_boots"] = len(boots)
    if crashed is None:
        persistent = os.path.isdir("/var/log/journal")
        missing["journal"] = how + ("" if persistent else "; /var/log/journal does not exist, the journal is volatile")
        return None
    summary["crashed_boot"] = dict(crashed, chosen_by=how)
    path = os.path.join(work, "journal.txt")
    limit = module.params["journal_max_mib"] * 1024 * 1024
    cmd = "%s -b %s -o short-iso-precise --no-pager > %s" % (journalctl, crashed["boot_id"], path)
    rc, _out, err = module.run_command(cmd, use_unsafe_shell=True)
    if rc != 0:
        missing["journal"] = "journalctl -b %s failed: %s" % (crashed["boot_id"], err.strip())
        return previous
    size = os.path.getsize(path)
    if size > limit:
        trimmed = path + ".tail"
        with open(path, "rb") as src, open(trimmed, "wb") as dst:
            src.seek(size - limit)
            src.readline()
            shutil.copyfileobj(src, dst, 1024 * 1024)
        os.replace(trimmed, path)
        summary["journal_truncated"] = "kept the last %d MiB of %d bytes" % (module.params["journal_max_mib"], size)
    return previous


def add_packages(module, work, since, summary, missing):
    changes = None
    source = None
    logs = [p for p in ("/var/log/dpkg.log.1", "/var/log/dpkg.log") if os.path.isfile(p)]
    if logs:
        since_text = _bundle.local_time_text(since) if since is not None else None
        changes = []
        for log in logs:
            with open(log, "r", errors="replace") as handle:
                changes.extend(_bundle.dpkg_changes(handle, since_text))
        changes.sort(key=lambda c: c["time"])
        source = " + ".join(logs)
    else:
        rpm = module.get_bin_path("rpm")
        if rpm:
            rc, out, err = module.run_command([rpm, "-qa", "--qf", "%{INSTALLTIME} %{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\\n"])
            if rc == 0:
                changes = _bundle.rpm_changes(out.splitlines(), since)
                source = "rpm -qa install times (removals are not visible)"
            else:
                missing["packages"] = "rpm -qa failed: %s" % err.strip()
        else:
            missing["packages"] = "neither /var/log/dpkg.log nor rpm found"
    if changes is not None:
        write_json(os.path.join(work, "packages.json"), {"source": source, "since": since, "changes": changes})
        summary["package_changes"] = len(changes)


def add_system(module, work):
    def small(path):
        text = read_text(path)
        return text.strip() if text is not None else None
    cmdline = small("/proc/cmdline")
    system = {
        "current_cmdline": cmdline,
        "current_crashkernel": _bundle.crashkernel_args(cmdline),
        "kexec_crash_size": small("/sys/kernel/kexec_crash_size"),
        "kexec_crash_loaded": small("/sys/kernel/kexec_crash_loaded"),
        "current_kernel_release": os.uname()[2],
    }
    write_json(os.path.join(work, "system.json"), system)
    configs = []
    for path in module.params["kdump_config_files"]:
        if os.path.isfile(path):
            os.makedirs(os.path.join(work, "kdump"), exist_ok=True)
            name = path.strip("/").replace("/", "_")
            shutil.copyfile(path, os.path.join(work, "kdump", name))
            configs.append(path)
    return system, configs


def add_deep(module, work, dumps, release, build_id):
    """Run crash on the dump (deep triage); returns the bundle's ``deep_triage`` record."""
    params = module.params
    if not params["deep_triage"]:
        return {"status": "off"}
    vmlinux = params["debug_vmlinux"]
    if vmlinux:
        if not os.path.isfile(vmlinux):
            return {"status": "skipped", "reason": "debug_vmlinux %s does not exist" % vmlinux}
    else:
        vmlinux = _deeptriage.find_vmlinux(release)
        if not vmlinux:
            searched = _deeptriage.vmlinux_candidates(release)
            return {"status": "skipped",
                    "reason": "no debug vmlinux of %s (looked for %s); Debian: apt-get install "
                              "linux-image-%s-dbg" % (release, ", ".join(searched) or "nothing: kernel release unknown",
                                                      release)}
    record = {"vmlinux": vmlinux}
    crash = module.get_bin_path("crash")
    if not crash:
        return dict(record, status="skipped", reason="crash is not installed")
    dump = _deeptriage.pick_dump(dumps)
    if dump is None:
        return dict(record, status="skipped", reason="no complete kdump-compressed, ELF or flattened dump to open")
    record["dump"] = dump["name"]
    try:
        record["vmlinux_build_id"] = _deeptriage.elf_build_id(vmlinux)
    except KdumpError as exc:
        return dict(record, status="failed", reason=str(exc))
    if build_id and record["vmlinux_build_id"] and record["vmlinux_build_id"] != build_id:
        return dict(record, status="skipped",
                    reason="the debug vmlinux is of another build (build id %s, the dump's %s)"
                           % (record["vmlinux_build_id"], build_id))
    checked = _deeptriage.check_commands(params["crash_commands"])
    outdir = os.path.join(work, "crash")
    os.mkdir(outdir)
    script = os.path.join(work, ".crash-script")
    with open(script, "w") as handle:
        handle.write(_deeptriage.command_script(checked, outdir))
    cmd = [crash, "-s", "--no_scroll", "-i", script, vmlinux, dump["path"]]
    timeout = module.get_bin_path("timeout")
    if timeout:
        cmd = [timeout, str(params["crash_timeout"])] + cmd
    started = time.time()
    rc, out, err = module.run_command(cmd, data="\n", binary_data=True)
    os.unlink(script)
    record["seconds"] = round(time.time() - started, 1)
    record["commands"] = [command for command, _name in checked]
    with open(os.path.join(outdir, "crash.out"), "w") as handle:
        handle.write(out + err)
    files = ["crash/crash.out"]
    outputs = {}
    for command, name in checked:
        path = os.path.join(outdir, name)
        if os.path.isfile(path):
            files.append("crash/" + name)
            with open(path, "r", errors="replace") as handle:
                outputs[command.split()[0]] = handle.read()
    record["files"] = sorted(files)
    record["errors"] = _deeptriage.errors_in(out + err)
    if "sys" in outputs:
        sys_info = _deeptriage.parse_sys(outputs["sys"])
        record["panic"] = sys_info.get("panic")
        record["sys"] = sys_info
    if "bt" in outputs:
        bt = _deeptriage.parse_bt(outputs["bt"])
        record["task"] = {"pid": bt["pid"], "command": bt["command"], "cpu": bt["cpu"]}
        record["backtrace"] = bt["functions"]
    if rc != 0:
        reason = "crash exited with status %d" % rc
        if rc == 124 and timeout:
            reason = "crash was stopped after crash_timeout=%d s" % params["crash_timeout"]
        tail = (err.strip() or out.strip()).splitlines()[-3:]
        return dict(record, status="failed", reason="%s: %s" % (reason, " / ".join(tail)))
    return dict(record, status="done")


def build(module, crash_dir, work, key):
    params = module.params
    names = os.listdir(crash_dir)
    dumps = _vmcore.describe_dir(crash_dir, names)
    missing = {}
    summary = {"format": _bundle.BUNDLE_FORMAT, "inputs": key, "created_at": int(time.time()),
               "host": identity(), "crash_dir": crash_dir, "crash_id": _store.crash_id(os.path.basename(crash_dir)),
               "dumps": []}
    for dump in dumps:
        entry = {k: dump.get(k) for k in ("name", "size", "format", "inner_format", "complete", "reason", "mtime")}
        entry["sha256"] = _bundle.sha256_of(dump["path"]) if params["hash_dump"] else None
        summary["dumps"].append(entry)
    if not dumps:
        missing["dump"] = "no dump file in the crash directory"
    release = next((d["kernel_release"] for d in dumps if d.get("kernel_release")), None)
    build_id = next((d["build_id"] for d in dumps if d.get("build_id")), None)
    crash_time = next((d["crash_time"] for d in dumps if d.get("crash_time")), None)
    summary["kernel_source"] = "dump VMCOREINFO" if release else None
    summary["dmesg_source"] = get_dmesg(module, crash_dir, names, dumps, work, missing)
    dmesg = os.path.join(work, "dmesg.txt")
    record = None
    if summary["dmesg_source"]:
        try:
            record = triage_file(dmesg)
            write_json(os.path.join(work, "triage.json"), record)
            summary["triage"] = {k: record.get(k) for k in TRIAGE_KEYS}
        except KdumpError as exc:
            missing["triage"] = str(exc)
            write_json(os.path.join(work, "triage.json"), {"error": str(exc)})
        summary["uptime_at_crash"] = _bundle.uptime_at(dmesg, record["line"] if record else None)
        summary["crashed_cmdline"] = _bundle.boot_command_line(dmesg)
        summary["crashed_crashkernel"] = _bundle.crashkernel_args(summary["crashed_cmdline"])
        if not release and record and record.get("kernel_release"):
            release = record["kernel_release"]
            summary["kernel_source"] = "kernel log"
        summary["kernel_build"] = record.get("kernel_build") if record else None
    summary.update(kernel_release=release, build_id=build_id, crash_time=crash_time)
    if not build_id:
        missing["build_id"] = "the dump carries no VMCOREINFO BUILD-ID"
    summary["deep_triage"] = add_deep(module, work, dumps, release, build_id)
    if summary["deep_triage"]["status"] in ("skipped", "failed"):
        missing["deep_triage"] = summary["deep_triage"]["reason"]
    if params["host_facts"]:
        previous = add_journal(module, work, crash_time, summary, missing)
        if previous is not None:
            since = previous["first"]
        elif summary.get("crashed_boot"):
            since = summary["crashed_boot"]["first"]
        elif crash_time:
            since = crash_time - params["package_window_days"] * 86400
        else:
            since = time.time() - params["package_window_days"] * 86400
        add_packages(module, work, since, summary, missing)
        _system, configs = add_system(module, work)
        summary["kdump_config_files"] = configs
        if not configs:
            missing["kdump_config"] = "none of %s exists" % ", ".join(params["kdump_config_files"])
    if params["change_id"] or params["change_text"]:
        change = {"change_id": params["change_id"], "change_text": params["change_text"]}
        write_json(os.path.join(work, "change.json"), change)
        summary["change"] = change
    else:
        missing["change"] = "no change record given (change_id, change_text)"
    summary["missing"] = missing
    write_json(os.path.join(work, "bundle.json"), summary)
    files = _bundle.list_files(work)
    with open(os.path.join(work, "SHA256SUMS"), "w") as handle:
        handle.write(_bundle.sha256sums(work, files))
    return summary


def up_to_date(dest, archive, key):
    try:
        with open(os.path.join(dest, "bundle.json")) as handle:
            summary = json.load(handle)
    except (IOError, OSError, ValueError):
        return None
    if summary.get("inputs") != key or not os.path.isfile(os.path.join(dest, "SHA256SUMS")):
        return None
    if archive and not os.path.isfile(archive):
        return None
    return summary


def run(module):
    params = module.params
    crash_dir = os.path.abspath(params["crash_dir"])
    if not os.path.isdir(crash_dir):
        module.fail_json(msg="crash directory %s does not exist" % crash_dir)
    if params["deep_triage"]:
        _deeptriage.check_commands(params["crash_commands"])
    dest = os.path.abspath(params["dest"] or os.path.join(crash_dir, BUNDLE_DIR))
    archive = dest + ".tar.gz" if params["archive"] else None
    options = {k: params[k] for k in ("host_facts", "change_id", "change_text", "dmesg_from_dump", "hash_dump",
                                      "journal_max_mib", "package_window_days", "kdump_config_files",
                                      "deep_triage", "debug_vmlinux", "crash_commands")}
    if params["deep_triage"]:
        # Installing crash or a debug vmlinux later makes the bundle out of date: deep triage
        # then runs on the next build.
        options["deep_inputs"] = [bool(module.get_bin_path("crash"))] + [
            list(f) for f in _deeptriage.installed_vmlinux_files()]
        if params["debug_vmlinux"] and os.path.isfile(params["debug_vmlinux"]):
            st = os.stat(params["debug_vmlinux"])
            options["deep_inputs"].append([params["debug_vmlinux"], st.st_size, int(st.st_mtime)])
    key = _bundle.inputs_key(source_files(crash_dir, dest, archive), options)
    result = {"changed": False, "path": dest, "archive": archive}
    current = None if params["force"] else up_to_date(dest, archive, key)
    if current is not None:
        result.update(summary=current, files=_bundle.list_files(dest))
        return result
    result["changed"] = True
    if module.check_mode:
        result.update(summary=None, files=None)
        return result
    parent = os.path.dirname(dest)
    if not os.path.isdir(parent):
        # a dest elsewhere (an analysis host): its parent directories, private like the bundle
        os.makedirs(parent, mode=0o750)
    work = tempfile.mkdtemp(prefix=".%s." % os.path.basename(dest), dir=parent)
    try:
        os.chmod(work, 0o750)
        summary = build(module, crash_dir, work, key)
        files = _bundle.list_files(work)
        old = None
        if os.path.exists(dest):
            old = tempfile.mkdtemp(prefix=".%s.old." % os.path.basename(dest), dir=parent)
            os.rename(dest, os.path.join(old, "b"))
        os.rename(work, dest)
        work = None
        if old:
            shutil.rmtree(old, ignore_errors=True)
        if archive:
            arcname = "crashkit-bundle-%s-%s" % (summary["host"]["host_id"], summary["crash_id"])
            _bundle.write_archive(dest, archive, arcname, summary["created_at"])
            os.chmod(archive, 0o640)
    finally:
        if work and os.path.isdir(work):
            shutil.rmtree(work, ignore_errors=True)
    result.update(summary=summary, files=files)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            crash_dir=dict(type="path", required=True),
            dest=dict(type="path"),
            archive=dict(type="bool", default=True),
            host_facts=dict(type="bool", default=True),
            change_id=dict(type="str"),
            change_text=dict(type="str"),
            dmesg_from_dump=dict(type="bool", default=True),
            hash_dump=dict(type="bool", default=True),
            journal_max_mib=dict(type="int", default=64),
            package_window_days=dict(type="int", default=7),
            kdump_config_files=dict(type="list", elements="path",
                                    default=["/etc/default/kdump-tools", "/etc/kdump.conf", "/etc/sysconfig/kdump"]),
            deep_triage=dict(type="bool", default=True),
            debug_vmlinux=dict(type="path"),
            crash_commands=dict(type="list", elements="str", default=list(_deeptriage.DEFAULT_COMMANDS)),
            crash_timeout=dict(type="int", default=900),
            force=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    if module.params["journal_max_mib"] < 1:
        module.fail_json(msg="journal_max_mib must be at least 1")
    if module.params["crash_timeout"] < 1:
        module.fail_json(msg="crash_timeout must be at least 1")
    with domain_errors(module):
        result = run(module)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
