# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""The evidence bundle of one crash: the pure parts (parsing, choosing, checksums, archive).

* ``uptime_at(path, line)``: seconds since boot of the crash, from the ``[ 501.751965]``
  timestamp of the crash line (the triage record's ``line``) of the crashed kernel's log.
* ``boot_command_line(path)``: the ``Command line:`` the crashed kernel booted with.
* ``crashkernel_args(cmdline)``: its ``crashkernel=`` arguments.
* ``parse_boots(text)`` / ``pick_boot(boots, crash_time)``: the journal's boots
  (``journalctl --list-boots -o json``) and which one crashed: the last boot that started at or
  before the crash time; also the boot before it.
* ``dpkg_changes(lines, since)`` / ``rpm_changes(lines, since)``: package changes since a time.
* ``sha256sums(root, paths)``: the text of a ``SHA256SUMS`` file (``sha256sum -c`` reads it).
* ``write_archive(directory, archive, arcname, mtime)``: a reproducible ``.tar.gz``.
* ``inputs_key(...)``: what the bundle was built from, to tell whether it is up to date.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import gzip
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import tarfile
import tempfile
import time

from ansible_collections.crashkit.kdump.plugins.module_utils import (
    _capture,
    _deeptriage,
    _safefs,
    _store,
    _triage,
    _vmcore,
)
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import (
    HostError,
    KdumpError,
    ParseError,
    ValidationError,
)

BUNDLE_FORMAT = 1
_TIMESTAMP = re.compile(r"\[\s*(\d+)\.(\d+)\]")
_COMMAND_LINE = re.compile(r"\bCommand line:\s?(.*)$")
_DPKG = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (install|upgrade|remove|purge) (\S+) (\S+) (\S+)\s*$")
_RPM = re.compile(r"^(\d+) (\S+)\s*$")
SCAN_LIMIT = 64 * 1024 * 1024


def _lines(path, limit=SCAN_LIMIT, max_line=_safefs.MAX_LINE):
    """Lines of the regular file ``path`` (never through a link), bounded in total and per line."""
    try:
        fd = _safefs.open_regular(path)
    except (IOError, OSError) as exc:
        raise HostError("cannot read %s: %s" % (_safefs.display(path), exc))
    try:
        yield from _safefs.iter_lines(fd, limit, max_line)
    finally:
        os.close(fd)


def timestamp_of(line):
    """Seconds since boot of a ``[ 12.345678]`` kernel log line, or ``None``."""
    match = _TIMESTAMP.search(line)
    if not match:
        return None
    return float("%s.%s" % (match.group(1), match.group(2)))


def uptime_at(path, line_no=None):
    """Uptime (seconds) at the crash: the timestamp of line ``line_no`` (1-based), else of the
    last timestamped line before it (or of the whole log when ``line_no`` is None)."""
    last = None
    for number, line in enumerate(_lines(path), 1):
        stamp = timestamp_of(line)
        if stamp is not None:
            last = stamp
        if line_no is not None and number >= line_no:
            break
    return last


def boot_command_line(path):
    """The kernel command line of the boot whose log ``path`` is (its first ``Command line:``)."""
    for line in _lines(path, 4 * 1024 * 1024):
        match = _COMMAND_LINE.search(line)
        if match:
            return match.group(1).strip()
    return None


def crashkernel_args(cmdline):
    """The ``crashkernel=`` arguments of a command line, in order."""
    if not cmdline:
        return []
    return [arg for arg in cmdline.split() if arg.startswith("crashkernel=")]


def parse_boots(text):
    """Boots of ``journalctl --list-boots -o json`` as dicts with ``index``, ``boot_id``,
    ``first`` and ``last`` (epoch seconds, float), oldest first."""
    if not text or not text.strip():
        return []
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ParseError("journalctl --list-boots did not print JSON: %s" % exc)
    if not isinstance(data, list):
        raise ParseError("journalctl --list-boots JSON is not a list")
    boots = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("boot_id"), str):
            raise ParseError("journalctl --list-boots entry without boot_id: %r" % (item,))
        try:
            boots.append({"index": int(item.get("index", 0)), "boot_id": item["boot_id"],
                          "first": int(item["first_entry"]) / 1e6, "last": int(item["last_entry"]) / 1e6})
        except (KeyError, TypeError, ValueError):
            raise ParseError("journalctl --list-boots entry without valid times: %r" % (item,))
    boots.sort(key=lambda b: b["first"])
    return boots


def pick_boot(boots, crash_time):
    """``(crashed boot, boot before it, how)``: the crashed boot is the last one that started at
    or before ``crash_time`` (epoch); without a crash time, the boot before the current one."""
    if not boots:
        return None, None, "the journal lists no boots"
    if crash_time is None:
        if len(boots) < 2:
            return None, None, "no crash time and the journal holds only the current boot"
        return boots[-2], (boots[-3] if len(boots) > 2 else None), "boot before the current one (no crash time)"
    before = [i for i, b in enumerate(boots) if b["first"] <= crash_time]
    if not before:
        return None, None, "the journal has no boot that started before the crash (journal not persistent, or rotated)"
    i = before[-1]
    if i == len(boots) - 1:
        return None, None, ("the only boot that started before the crash is the current one: the journal of the"
                            " crashed boot is not kept (no persistent journal?)")
    return boots[i], (boots[i - 1] if i > 0 else None), "last boot that started before the crash time"


def dpkg_changes(lines, since):
    """dpkg.log lines (install, upgrade, remove, purge) at or after ``since`` (``YYYY-MM-DD HH:MM:SS``
    local time), as dicts ``time``, ``action``, ``package``, ``old``, ``new``."""
    changes = []
    for line in lines:
        match = _DPKG.match(line.rstrip("\n"))
        if not match or (since is not None and match.group(1) < since):
            continue
        changes.append({"time": match.group(1), "action": match.group(2), "package": match.group(3),
                        "old": match.group(4), "new": match.group(5)})
    changes.sort(key=lambda c: c["time"])
    return changes


def rpm_changes(lines, since):
    """``rpm -qa --qf '%{INSTALLTIME} %{NVRA}\\n'`` lines installed at or after ``since`` (epoch)."""
    changes = []
    for line in lines:
        match = _RPM.match(line.strip())
        if not match:
            continue
        when = int(match.group(1))
        if since is None or when >= since:
            changes.append({"time": when, "action": "install", "package": match.group(2)})
    changes.sort(key=lambda c: (c["time"], c["package"]))
    return changes


def local_time_text(epoch):
    """``YYYY-MM-DD HH:MM:SS`` of ``epoch`` in local time (dpkg.log's format)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def _open_root(root):
    return root if isinstance(root, int) else _safefs.open_dir(root, follow=True)


def list_files(root):
    """Relative paths of the regular files below ``root`` (a path or a directory descriptor),
    sorted; links are not followed."""
    fd = _open_root(root)
    try:
        return [rel for rel, _st in _safefs.list_files(fd, depth=8)]
    finally:
        if fd is not root:
            os.close(fd)


def sha256sums(root, paths):
    """``SHA256SUMS`` text (``sha256sum`` format) of ``paths`` relative to ``root`` (a path or a
    directory descriptor)."""
    fd = _open_root(root)
    try:
        lines = []
        for rel in sorted(paths):
            handle = _safefs.open_rel(fd, rel)
            try:
                lines.append("%s  %s\n" % (_safefs.sha256_fd(handle), rel))
            finally:
                os.close(handle)
        return "".join(lines)
    finally:
        if fd is not root:
            os.close(fd)


def parse_sha256sums(text):
    """``{path: sha256}`` of a ``SHA256SUMS`` text."""
    sums = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = re.match(r"^([0-9a-f]{64}) [ *](.+)$", line)
        if not match:
            raise ParseError("SHA256SUMS line %d is not '<sha256>  <path>': %r" % (number, line))
        sums[match.group(2)] = match.group(1)
    return sums


def write_archive(directory, archive, arcname, mtime, dir_fd=None, archive_dir_fd=None):
    """Write ``directory`` as ``archive`` (``.tar.gz``), reproducibly: sorted names, owner root,
    modes 0644/0755, every mtime ``mtime``, gzip header without name and time. Written under a
    random temporary name (``O_EXCL``, mode 0600) and renamed into place; no link is followed.

    ``dir_fd``/``archive_dir_fd``: descriptors of ``directory`` and of the archive's directory
    (then ``archive`` is a name in it)."""
    src = dir_fd if dir_fd is not None else _safefs.open_dir(directory, follow=True)
    if archive_dir_fd is None:
        dst = _safefs.open_dir(os.path.dirname(os.path.abspath(archive)), follow=True)
        name = os.path.basename(archive)
    else:
        dst, name = archive_dir_fd, archive
    fd, tmp = _safefs.mkstemp_at(dst, ".%s." % name[:40], ".tmp", 0o600)
    try:
        with os.fdopen(fd, "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
                with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                    _add_tree(tar, src, arcname, mtime)
            raw.flush()
            os.fsync(raw.fileno())
        os.rename(tmp, name, src_dir_fd=dst, dst_dir_fd=dst)
        tmp = None
        _safefs.fsync_fd(dst)
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp, dir_fd=dst)
            except OSError:
                pass
        if dir_fd is None:
            os.close(src)
        if archive_dir_fd is None:
            os.close(dst)


def _add_tree(tar, src, arcname, mtime):
    def add_dir(name):
        info = tarfile.TarInfo(name)
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        info.mtime = int(mtime)
        tar.addfile(info)
    add_dir(arcname)
    seen_dirs = set([arcname])
    for rel, st in _safefs.list_files(src, depth=8):
        parts = rel.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            sub = "/".join([arcname] + parts[:depth])
            if sub not in seen_dirs:
                add_dir(sub)
                seen_dirs.add(sub)
        info = tarfile.TarInfo("%s/%s" % (arcname, rel))
        info.size = st.st_size
        info.mode = 0o644
        info.mtime = int(mtime)
        info.uname = info.gname = "root"
        handle = _safefs.open_rel(src, rel, expect=(st.st_dev, st.st_ino))
        with os.fdopen(handle, "rb") as stream:
            tar.addfile(info, stream)


def inputs_key(files, options):
    """Stable hash of what a bundle is built from: the crash directory's files (``(path, size,
    mtime)``) and the options that change its content."""
    text = json.dumps({"format": BUNDLE_FORMAT, "files": sorted([list(f) for f in files]), "options": options},
                      sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- running programs ------------------------------------------------------------------------

SAFE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
OUTPUT_LIMIT = 4 * 1024 * 1024


class Runner(object):
    """Runs programs for the bundle: argv lists only (no shell, no ``$VAR``/``~`` expansion),
    ``LC_ALL=C``, the system directories always on ``PATH``, output kept in unlinked temporary
    files and read back up to a limit, and a timeout. The modules and the host-side service use
    this same class."""

    def __init__(self, path=None):
        current = os.environ.get("PATH", "")
        self.path = path or (current + ":" + SAFE_PATH if current else SAFE_PATH)

    def which(self, name):
        return shutil.which(name, path=self.path)

    def run(self, argv, stdout_fd=None, data=None, timeout=None, pass_fds=(), cwd=None, limit=OUTPUT_LIMIT):
        """``(rc, stdout text, stderr text)``; rc 124 after ``timeout``, 127 when it cannot start.
        With ``stdout_fd`` the output goes there and the returned stdout is empty."""
        env = dict(os.environ, PATH=self.path, LC_ALL="C", LANG="C")
        out_f = tempfile.TemporaryFile() if stdout_fd is None else None
        err_f = tempfile.TemporaryFile()
        try:
            try:
                # pylint: disable-next=ansible-bad-function  # pure code has no AnsibleModule.run_command
                proc = subprocess.Popen(argv, stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
                                        stdout=out_f if stdout_fd is None else stdout_fd, stderr=err_f,
                                        pass_fds=tuple(pass_fds), cwd=cwd, env=env, close_fds=True)
            except (OSError, ValueError) as exc:
                return 127, "", "cannot run %s: %s" % (argv[0], exc)
            try:
                proc.communicate(data.encode("utf-8") if isinstance(data, str) else data, timeout=timeout)
                rc = proc.returncode
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                rc = 124
            texts = []
            for handle in (out_f, err_f):
                if handle is None:
                    texts.append("")
                    continue
                handle.seek(0)
                texts.append(handle.read(limit).decode("utf-8", "replace"))
            return rc, texts[0], texts[1]
        finally:
            for handle in (out_f, err_f):
                if handle is not None:
                    handle.close()


# --- building the bundle -----------------------------------------------------------------------

BUNDLE_DIR = "crashkit-bundle"
EXTRACTABLE = (_vmcore.FORMAT_KDUMP, _vmcore.FORMAT_ELF)
TRIAGE_KEYS = ("kind", "function", "culprit", "module", "signature", "panic_reason", "headline",
               "kernel_release", "line")
DMESG_LIMIT = 64 * 1024 * 1024
CONFIG_LIMIT = 1024 * 1024
_BOOT_ID = re.compile(r"^[0-9a-f]{32}\Z")
DEFAULTS = {
    "archive": True, "host_facts": True, "change_id": None, "change_text": None, "dmesg_from_dump": True,
    "hash_dump": True, "journal_max_mib": 64, "package_window_days": 7,
    "kdump_config_files": ["/etc/default/kdump-tools", "/etc/kdump.conf", "/etc/sysconfig/kdump"],
    "deep_triage": True, "debug_vmlinux": None, "crash_commands": ["sys", "bt", "log", "ps"],
    "crash_timeout": 900, "force": False, "capture_note": _capture.FALLBACK_NOTE,
}
INPUT_OPTIONS = ("host_facts", "change_id", "change_text", "dmesg_from_dump", "hash_dump", "journal_max_mib",
                 "package_window_days", "kdump_config_files", "deep_triage", "debug_vmlinux", "crash_commands")


def _json_bytes(data):
    return (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode("utf-8")


def _create(dir_fd, name):
    """A new file ``name`` in our private work directory (O_EXCL, no link, 0644)."""
    return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                   | getattr(os, "O_CLOEXEC", 0), 0o644, dir_fd=dir_fd)


def _put(dir_fd, name, data):
    fd = _create(dir_fd, name)
    try:
        _safefs.write_all(fd, data if isinstance(data, bytes) else data.encode("utf-8"))
    finally:
        os.close(fd)


def remove_tree_at(dir_fd, name):
    """Remove ``name`` below ``dir_fd`` (a tree we made), never following a link."""
    try:
        st = _safefs.lstat_at(dir_fd, name)
    except OSError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=dir_fd)
        return
    fd = _safefs.open_dir(name, dir_fd=dir_fd)
    try:
        for child in os.listdir(fd):
            remove_tree_at(fd, child)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=dir_fd)


def chown_tree_at(dir_fd, uid, gid):
    """Give the tree below ``dir_fd`` (one we made) and the directory itself to ``uid:gid``."""
    for name in os.listdir(dir_fd):
        st = _safefs.lstat_at(dir_fd, name)
        if stat.S_ISDIR(st.st_mode):
            sub = _safefs.open_dir(name, dir_fd=dir_fd)
            try:
                chown_tree_at(sub, uid, gid)
            finally:
                os.close(sub)
        else:
            os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)
    os.fchown(dir_fd, uid, gid)


def crash_dir_uids(parent_fd):
    """Owners a crash directory may have: root, this process's user, the owner of its parent."""
    return set([0, os.geteuid(), os.fstat(parent_fd).st_uid])


class _Build(object):
    """One bundle being built in the private work directory ``work_fd``."""

    def __init__(self, crash_dir, crash_fd, work_fd, work_path, options, runner, identity):
        self.crash_dir = crash_dir
        self.crash_fd = crash_fd
        self.work_fd = work_fd
        self.work_path = work_path
        self.options = options
        self.runner = runner
        self.identity = identity
        self.missing = {}

    def dmesg(self, names, dumps):
        name, final = _vmcore.pick_dmesg(names)
        if name:
            try:
                src = _safefs.open_regular(name, dir_fd=self.crash_fd)
            except (OSError, KdumpError) as exc:
                self.missing["dmesg"] = "cannot read %s: %s" % (_safefs.display(name), exc)
                return None
            try:
                dst = _create(self.work_fd, "dmesg.txt")
                try:
                    copied = _copy(src, dst, DMESG_LIMIT)
                finally:
                    os.close(dst)
            finally:
                os.close(src)
            note = "" if final else " (temporary name: the log may be incomplete)"
            if copied >= DMESG_LIMIT:
                note += " (cut at %d MiB)" % (DMESG_LIMIT // (1024 * 1024))
            return "file %s%s" % (name, note)
        if not self.options["dmesg_from_dump"]:
            self.missing["dmesg"] = "no kernel log saved with the dump"
            return None
        tool = self.runner.which("makedumpfile")
        candidates = [d for d in dumps if d["format"] in EXTRACTABLE]
        if not tool:
            self.missing["dmesg"] = "no kernel log saved with the dump and makedumpfile is not installed"
            return None
        if not candidates:
            self.missing["dmesg"] = "no kernel log saved with the dump and no kdump-compressed or ELF dump to extract it from"
            return None
        dump = candidates[-1]
        src = _safefs.open_regular(dump["name"], dir_fd=self.crash_fd, expect=(dump["dev"], dump["ino"]))
        try:
            # The dump by its descriptor, the output by a fixed name in our private directory.
            rc, _out, err = self.runner.run([tool, "--dump-dmesg", "/proc/self/fd/%d" % src, "dmesg.txt"],
                                            pass_fds=(src,), cwd=self.work_path, timeout=600)
        finally:
            os.close(src)
        try:
            st = _safefs.lstat_at(self.work_fd, "dmesg.txt")
            ok = rc == 0 and stat.S_ISREG(st.st_mode)
        except OSError:
            ok = False
        if ok:
            return "makedumpfile --dump-dmesg %s" % dump["name"]
        self.missing["dmesg"] = "makedumpfile --dump-dmesg failed: %s" % err.strip()[-500:]
        try:
            os.unlink("dmesg.txt", dir_fd=self.work_fd)
        except OSError:
            pass
        return None

    def journal(self, crash_time, summary):
        journalctl = self.runner.which("journalctl")
        if not journalctl:
            self.missing["journal"] = "journalctl is not installed"
            return None
        rc, out, err = self.runner.run([journalctl, "--list-boots", "-o", "json", "--no-pager"], timeout=300)
        if rc != 0:
            self.missing["journal"] = "journalctl --list-boots failed: %s" % err.strip()[-500:]
            return None
        try:
            boots = parse_boots(out)
        except KdumpError as exc:
            self.missing["journal"] = str(exc)
            return None
        crashed, previous, how = pick_boot(boots, crash_time)
        summary["journal_boots"] = len(boots)
        if crashed is None:
            persistent = os.path.isdir("/var/log/journal")
            self.missing["journal"] = how + ("" if persistent else "; /var/log/journal does not exist, the journal is volatile")
            return None
        if not _BOOT_ID.match(crashed["boot_id"]):
            self.missing["journal"] = "journalctl listed a boot id that is not 32 hex digits"
            return previous
        summary["crashed_boot"] = dict(crashed, chosen_by=how)
        limit = self.options["journal_max_mib"] * 1024 * 1024
        fd = _create(self.work_fd, "journal.full")
        try:
            rc, _out, err = self.runner.run([journalctl, "-b", crashed["boot_id"], "-o", "short-iso-precise",
                                             "--no-pager"], stdout_fd=fd, timeout=900)
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if rc != 0:
            self.missing["journal"] = "journalctl -b %s failed: %s" % (crashed["boot_id"], err.strip()[-500:])
            os.unlink("journal.full", dir_fd=self.work_fd)
            return previous
        if size > limit:
            src = _safefs.open_regular("journal.full", dir_fd=self.work_fd)
            dst = _create(self.work_fd, "journal.txt")
            try:
                os.lseek(src, size - limit, os.SEEK_SET)
                head = os.read(src, 65536)
                cut = head.find(b"\n")
                os.lseek(src, size - limit + (cut + 1 if cut >= 0 else 0), os.SEEK_SET)
                _copy(src, dst, limit)
            finally:
                os.close(src)
                os.close(dst)
            os.unlink("journal.full", dir_fd=self.work_fd)
            summary["journal_truncated"] = "kept the last %d MiB of %d bytes" % (self.options["journal_max_mib"], size)
        else:
            os.rename("journal.full", "journal.txt", src_dir_fd=self.work_fd, dst_dir_fd=self.work_fd)
        return previous

    def packages(self, since, summary):
        changes = None
        source = None
        logs = [p for p in ("/var/log/dpkg.log.1", "/var/log/dpkg.log") if os.path.isfile(p)]
        if logs:
            since_text = local_time_text(since) if since is not None else None
            changes = []
            for log in logs:
                changes.extend(dpkg_changes(_lines(log), since_text))
            changes.sort(key=lambda c: c["time"])
            source = " + ".join(logs)
        else:
            rpm = self.runner.which("rpm")
            if rpm:
                rc, out, err = self.runner.run([rpm, "-qa", "--qf", "%{INSTALLTIME} %{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\\n"],
                                               timeout=300)
                if rc == 0:
                    changes = rpm_changes(out.splitlines(), since)
                    source = "rpm -qa install times (removals are not visible)"
                else:
                    self.missing["packages"] = "rpm -qa failed: %s" % err.strip()[-500:]
            else:
                self.missing["packages"] = "neither /var/log/dpkg.log nor rpm found"
        if changes is not None:
            _put(self.work_fd, "packages.json", _json_bytes({"source": source, "since": since, "changes": changes}))
            summary["package_changes"] = len(changes)

    def system(self):
        def small(path):
            text = _safefs.read_small(path, limit=65536)
            return text.strip() if text is not None else None
        cmdline = small("/proc/cmdline")
        system = {
            "current_cmdline": cmdline,
            "current_crashkernel": crashkernel_args(cmdline),
            "kexec_crash_size": small("/sys/kernel/kexec_crash_size"),
            "kexec_crash_loaded": small("/sys/kernel/kexec_crash_loaded"),
            "current_kernel_release": os.uname()[2],
        }
        _put(self.work_fd, "system.json", _json_bytes(system))
        configs = []
        for path in self.options["kdump_config_files"]:
            text = _safefs.read_small(path, limit=CONFIG_LIMIT)
            if text is None:
                continue
            if not configs:
                os.mkdir("kdump", 0o755, dir_fd=self.work_fd)
            kdump_fd = _safefs.open_dir("kdump", dir_fd=self.work_fd)
            try:
                _put(kdump_fd, path.strip("/").replace("/", "_"), text)
            finally:
                os.close(kdump_fd)
            configs.append(path)
        return configs

    def deep(self, dumps, release, build_id):
        """Run crash on the dump (deep triage); returns the bundle's ``deep_triage`` record."""
        options = self.options
        if not options["deep_triage"]:
            return {"status": "off"}
        vmlinux = options["debug_vmlinux"]
        if vmlinux:
            if not os.path.isfile(vmlinux):
                return {"status": "skipped", "reason": "debug_vmlinux %s does not exist" % vmlinux}
        else:
            vmlinux = _deeptriage.find_vmlinux(release)
            if not vmlinux:
                searched = _deeptriage.vmlinux_candidates(release)
                return {"status": "skipped",
                        "reason": "no debug vmlinux of %s (looked for %s); Debian: apt-get install linux-image-%s-dbg"
                                  % (_safefs.display(release), ", ".join(searched) or "nothing: kernel release unknown",
                                     _safefs.display(release))}
        record = {"vmlinux": vmlinux}
        crash = self.runner.which("crash")
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
        checked = _deeptriage.check_commands(options["crash_commands"])
        os.mkdir("crash", 0o755, dir_fd=self.work_fd)
        _put(self.work_fd, ".crash-script", _deeptriage.command_script(checked, "crash"))
        src = _safefs.open_regular(dump["name"], dir_fd=self.crash_fd, expect=(dump["dev"], dump["ino"]))
        started = time.time()
        try:
            rc, out, err = self.runner.run([crash, "-s", "--no_scroll", "-i", ".crash-script", vmlinux,
                                            "/proc/self/fd/%d" % src], data="\n", pass_fds=(src,),
                                           cwd=self.work_path, timeout=options["crash_timeout"])
        finally:
            os.close(src)
        os.unlink(".crash-script", dir_fd=self.work_fd)
        record["seconds"] = round(time.time() - started, 1)
        record["commands"] = [command for command, _name in checked]
        crash_fd = _safefs.open_dir("crash", dir_fd=self.work_fd)
        try:
            _put(crash_fd, "crash.out", out + err)
            files = ["crash/crash.out"]
            outputs = {}
            for command, name in checked:
                text = _safefs.read_small(name, dir_fd=crash_fd, limit=OUTPUT_LIMIT)
                if text is not None:
                    files.append("crash/" + name)
                    outputs[command.split()[0]] = text
        finally:
            os.close(crash_fd)
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
            if rc == 124:
                reason = "crash was stopped after crash_timeout=%d s" % options["crash_timeout"]
            tail = (err.strip() or out.strip()).splitlines()[-3:]
            return dict(record, status="failed", reason="%s: %s" % (reason, " / ".join(tail)))
        return dict(record, status="done")

    def build(self, key, now):
        options = self.options
        names = os.listdir(self.crash_fd)
        dumps = _vmcore.describe_dir(self.crash_dir, names, dir_fd=self.crash_fd)
        missing = self.missing
        summary = {"format": BUNDLE_FORMAT, "inputs": key, "created_at": int(now), "host": self.identity,
                   "crash_dir": self.crash_dir, "crash_id": _store.crash_id(os.path.basename(self.crash_dir)),
                   "dumps": []}
        for dump in dumps:
            entry = {k: dump.get(k) for k in ("name", "size", "format", "inner_format", "complete", "reason", "mtime")}
            entry["sha256"] = None
            if options["hash_dump"]:
                fd = _safefs.open_regular(dump["name"], dir_fd=self.crash_fd, expect=(dump["dev"], dump["ino"]))
                try:
                    entry["sha256"] = _safefs.sha256_fd(fd)
                finally:
                    os.close(fd)
            summary["dumps"].append(entry)
        if not dumps:
            missing["dump"] = "no dump file in the crash directory"
        release = next((d["kernel_release"] for d in dumps if d.get("kernel_release")), None)
        build_id = next((d["build_id"] for d in dumps if d.get("build_id")), None)
        crash_time = next((d["crash_time"] for d in dumps if d.get("crash_time")), None)
        summary["kernel_source"] = "dump VMCOREINFO" if release else None
        summary["capture"] = _capture.capture_of(_capture.note_in_dir(self.crash_fd, names))
        summary["dmesg_source"] = self.dmesg(names, dumps)
        record = None
        if summary["dmesg_source"]:
            dmesg = os.path.join(self.work_path, "dmesg.txt")
            try:
                record = _triage.triage_file(dmesg)
                _put(self.work_fd, "triage.json", _json_bytes(record))
                summary["triage"] = {k: record.get(k) for k in TRIAGE_KEYS}
            except KdumpError as exc:
                missing["triage"] = str(exc)
                _put(self.work_fd, "triage.json", _json_bytes({"error": str(exc)}))
            summary["uptime_at_crash"] = uptime_at(dmesg, record["line"] if record else None)
            summary["crashed_cmdline"] = boot_command_line(dmesg)
            summary["crashed_crashkernel"] = crashkernel_args(summary["crashed_cmdline"])
            if not release and record and record.get("kernel_release"):
                release = record["kernel_release"]
                summary["kernel_source"] = "kernel log"
            summary["kernel_build"] = record.get("kernel_build") if record else None
        summary.update(kernel_release=release, build_id=build_id, crash_time=crash_time)
        if not build_id:
            missing["build_id"] = "the dump carries no VMCOREINFO BUILD-ID"
        summary["deep_triage"] = self.deep(dumps, release, build_id)
        if summary["deep_triage"]["status"] in ("skipped", "failed"):
            missing["deep_triage"] = summary["deep_triage"]["reason"]
        if options["host_facts"]:
            previous = self.journal(crash_time, summary)
            if previous is not None:
                since = previous["first"]
            elif summary.get("crashed_boot"):
                since = summary["crashed_boot"]["first"]
            elif crash_time:
                since = crash_time - options["package_window_days"] * 86400
            else:
                since = now - options["package_window_days"] * 86400
            self.packages(since, summary)
            configs = self.system()
            summary["kdump_config_files"] = configs
            if not configs:
                missing["kdump_config"] = "none of %s exists" % ", ".join(options["kdump_config_files"])
        if options["change_id"] or options["change_text"]:
            change = {"change_id": options["change_id"], "change_text": options["change_text"]}
            _put(self.work_fd, "change.json", _json_bytes(change))
            summary["change"] = change
        else:
            missing["change"] = "no change record given (change_id, change_text)"
        summary["missing"] = missing
        _put(self.work_fd, "bundle.json", _json_bytes(summary))
        files = list_files(self.work_fd)
        _put(self.work_fd, "SHA256SUMS", sha256sums(self.work_fd, files))
        return summary


def _copy(src, dst, limit):
    copied = 0
    while copied < limit:
        data = os.read(src, min(1024 * 1024, limit - copied))
        if not data:
            break
        _safefs.write_all(dst, data)
        copied += len(data)
    return copied


def _source_files(crash_fd, skip, names=None):
    """``(name, size, mtime)`` of the regular files of the crash directory (``names``: its listing
    when the caller has it), without ``skip`` and dot files."""
    files = []
    for name in sorted(os.listdir(crash_fd) if names is None else names):
        if name in skip or name.startswith("."):
            continue
        try:
            st = _safefs.lstat_at(crash_fd, name)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            files.append((name, st.st_size, int(st.st_mtime)))
    return files


def _read_summary(dest_fd, dest_name, archive_name, key):
    try:
        fd = _safefs.open_dir(dest_name, dir_fd=dest_fd)
    except (OSError, KdumpError):
        return None
    try:
        text = _safefs.read_small("bundle.json", dir_fd=fd, limit=4 * 1024 * 1024)
        try:
            summary = json.loads(text) if text else None
        except ValueError:
            return None
        if not isinstance(summary, dict) or summary.get("inputs") != key:
            return None
        try:
            st = _safefs.lstat_at(fd, "SHA256SUMS")
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        files = list_files(fd)
    finally:
        os.close(fd)
    if archive_name:
        try:
            if not stat.S_ISREG(_safefs.lstat_at(dest_fd, archive_name).st_mode):
                return None
        except OSError:
            return None
    return summary, files


def inputs_options(options, runner):
    """The options that change a bundle's content (the ``inputs`` key's second half)."""
    chosen = {k: options[k] for k in INPUT_OPTIONS}
    if options["deep_triage"]:
        # Installing crash or a debug vmlinux later makes the bundle out of date: deep triage
        # then runs on the next build.
        chosen["deep_inputs"] = [bool(runner.which("crash"))] + [list(f) for f in _deeptriage.installed_vmlinux_files()]
        vmlinux = options["debug_vmlinux"]
        if vmlinux and os.path.isfile(vmlinux):
            st = os.stat(vmlinux)
            chosen["deep_inputs"].append([vmlinux, st.st_size, int(st.st_mtime)])
    return chosen


def make_bundle(crash_dir, options=None, runner=None, identity=None, check_mode=False, now=None):
    """Build (or find up to date) the evidence bundle of the crash directory ``crash_dir``.

    ``crash_dir`` is an absolute path: its parent may be a link (the operator's dump root), the
    crash directory itself may not, and it must be owned by root, by this process's user or by
    its parent's owner and not writable by others. The bundle goes to ``options["dest"]``
    (default ``<crash_dir>/crashkit-bundle``) and ``<dest>.tar.gz``. Returns ``{"changed",
    "bundle_dir", "archive", "summary", "files"}``; in check mode nothing is written.
    """
    opts = dict(DEFAULTS)
    opts.update({k: v for k, v in (options or {}).items() if v is not None or k in ("change_id", "change_text")})
    runner = runner or Runner()
    now = time.time() if now is None else now
    if not isinstance(crash_dir, str) or not os.path.isabs(crash_dir):
        raise ValidationError("crash_dir must be an absolute path, not %s" % _safefs.display(crash_dir))
    crash_dir = os.path.normpath(crash_dir)
    if opts["journal_max_mib"] < 1:
        raise ValidationError("journal_max_mib must be at least 1")
    if opts["crash_timeout"] < 1:
        raise ValidationError("crash_timeout must be at least 1")
    if opts["deep_triage"]:
        _deeptriage.check_commands(opts["crash_commands"])
    parent, name = os.path.split(crash_dir)
    try:
        parent_fd = _safefs.open_dir(parent, follow=True)
    except OSError as exc:
        raise HostError("crash directory %s does not exist (%s)" % (_safefs.display(crash_dir), exc.strerror))
    fds = [parent_fd]
    try:
        try:
            crash_fd = _safefs.open_dir(name, dir_fd=parent_fd)
        except OSError as exc:
            raise HostError("crash directory %s does not exist (%s)" % (_safefs.display(crash_dir), exc.strerror))
        fds.append(crash_fd)
        st = os.fstat(crash_fd)
        if not _safefs.owner_ok(st, crash_dir_uids(parent_fd)):
            raise _safefs.UnsafeFile("crash directory %s is owned by uid %d or writable by others: not a directory"
                                     " the capture wrote, refused" % (_safefs.display(crash_dir), st.st_uid))
        dest = os.path.normpath(opts.get("dest") or os.path.join(crash_dir, BUNDLE_DIR))
        if os.path.dirname(dest) == crash_dir:
            dest_fd = crash_fd
        else:
            if not check_mode:
                _safefs.private_dir(os.path.dirname(dest), 0o750)
            try:
                dest_fd = _safefs.open_dir(os.path.dirname(dest), follow=True)
            except OSError:
                dest_fd = None
            if dest_fd is not None:
                fds.append(dest_fd)
        dest_name = os.path.basename(dest)
        archive_name = dest_name + ".tar.gz" if opts["archive"] else None
        skip = set([dest_name, archive_name]) if dest_fd is crash_fd else set()
        names = os.listdir(crash_fd)
        sources = _source_files(crash_fd, skip, names)
        claimed = None
        if opts["host_facts"] and opts["capture_note"]:
            # on the host that crashed: the lean capture's note of why kdump-tools saved this dump
            dump_mtimes = [f[2] for f in sources if _vmcore.dump_name(f[0]) is not None]
            claimed = _capture.claim_fallback(crash_fd, names, dump_mtimes, opts["capture_note"], check_mode)
            if claimed is not None and not check_mode:
                sources = _source_files(crash_fd, skip)  # the note copied in is an input now
        key = inputs_key(sources, inputs_options(opts, runner))
        result = {"changed": False, "bundle_dir": dest, "archive": dest + ".tar.gz" if archive_name else None}
        current = None
        if not opts["force"] and dest_fd is not None and not (check_mode and claimed):
            current = _read_summary(dest_fd, dest_name, archive_name, key)
        if current is not None:
            result.update(summary=current[0], files=current[1])
            return result
        result["changed"] = True
        if check_mode:
            result.update(summary=None, files=None)
            return result
        identity = identity or {}
        work_name = None
        for _attempt in range(100):
            candidate = ".%s.%s" % (dest_name[:40], os.urandom(6).hex())
            try:
                os.mkdir(candidate, 0o700, dir_fd=dest_fd)
                work_name = candidate
                break
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    raise
        work_fd = _safefs.open_dir(work_name, dir_fd=dest_fd)
        fds.append(work_fd)
        try:
            build = _Build(crash_dir, crash_fd, work_fd, os.path.join(os.path.dirname(dest), work_name), opts,
                           runner, identity)
            summary = build.build(key, now)
            files = list_files(work_fd)
            os.fchmod(work_fd, 0o750)
            owner = os.fstat(crash_fd)
            if dest_fd is crash_fd and owner.st_uid != os.geteuid():
                # On a dump server the crash directory is the receiver account's: the bundle
                # becomes that account's too, so that its retention can remove it.
                chown_tree_at(work_fd, owner.st_uid, owner.st_gid)
            old = None
            try:
                _safefs.lstat_at(dest_fd, dest_name)
                old = ".%s.old.%s" % (dest_name[:40], os.urandom(6).hex())
                os.rename(dest_name, old, src_dir_fd=dest_fd, dst_dir_fd=dest_fd)
            except OSError:
                old = None
            os.rename(work_name, dest_name, src_dir_fd=dest_fd, dst_dir_fd=dest_fd)
            work_name = None
            if old:
                remove_tree_at(dest_fd, old)
            if archive_name:
                arcname = "crashkit-bundle-%s-%s" % (identity.get("host_id") or "host", summary["crash_id"])
                bundle_fd = _safefs.open_dir(dest_name, dir_fd=dest_fd)
                try:
                    write_archive(dest, archive_name, arcname, summary["created_at"], dir_fd=bundle_fd,
                                  archive_dir_fd=dest_fd)
                finally:
                    os.close(bundle_fd)
                if dest_fd is crash_fd and owner.st_uid != os.geteuid():
                    os.chown(archive_name, owner.st_uid, owner.st_gid, dir_fd=dest_fd, follow_symlinks=False)
            _safefs.fsync_fd(dest_fd)
        finally:
            if work_name:
                remove_tree_at(dest_fd, work_name)
        result.update(summary=summary, files=files)
        return result
    finally:
        for fd in reversed(fds):
            os.close(fd)
