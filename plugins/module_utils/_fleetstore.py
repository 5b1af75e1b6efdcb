# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""The fleet report of a crash store, read from the store and written into it.

One call does it all, from the ``vmcore_report`` module on the controller or from a plain Python
script on a dump server (no Ansible needed; Jinja2 is)::

    from ansible_collections.crashkit.kdump.plugins.module_utils._fleetstore import write_store_report
    result = write_store_report("/srv/crash-store")

``write_store_report(store, title, panic_results, readiness, now, check_mode)`` reads every crash
of ``<store>/<host id>/<crash id>/`` (those with a ``manifest.json``), triages each kernel log on
this side (the ``triage.json`` a host put in its bundle is not trusted), groups by signature and
writes, each atomically (temporary file in the same directory, ``os.replace``, mode 0644; a link
at the destination is replaced, never followed):

* ``report.json``, ``report.md``, ``report.html`` in the store;
* ``report.d/<host id>/<crash id>.html``: one page per crash (its evidence), linked from
  ``report.html`` with relative links, as are the crash's files, so the store can be moved or
  served by any static web server;
* ``report.d/<host id>/<crash id>.triage.json``: the triage cache, valid while the log's size,
  mtime, inode and the triage code are the same. ``report.d`` cannot be a host id (store ids have
  no dot, or are inventory names); pages and caches of crashes gone from the store are removed.

Crash data is hostile: every file is opened without following links and only when it is a
regular file, JSON files are read up to a size limit, times and numbers are bounded and texts
cut. A crash whose manifest cannot be read, is not valid, or carries a time that is not one
(``crash_time`` outside ``[0, now + 1 day]``) is listed under ``failed`` with the reason; it never
fails the report of the others.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import inspect
import io
import json
import os
import stat
import tempfile
import time

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover - Python 2
    from urllib import quote

from ansible_collections.crashkit.kdump.plugins.module_utils import _capture
from ansible_collections.crashkit.kdump.plugins.module_utils import _fleetreport as fr
from ansible_collections.crashkit.kdump.plugins.module_utils import _safefs
from ansible_collections.crashkit.kdump.plugins.module_utils import _store
from ansible_collections.crashkit.kdump.plugins.module_utils import _triage
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import HostError, KdumpError, ParseError
from ansible_collections.crashkit.kdump.plugins.module_utils._fleetrender import render_store

REPORT_NAMES = ("report.json", "report.md", "report.html")
PAGES_DIR = "report.d"
PAGE_SUFFIX = ".html"
CACHE_SUFFIX = ".triage.json"
CACHE_FORMAT = 1
BUNDLE_DIR = "crashkit-bundle"
MANIFEST_MAX_BYTES = 4 * 1024 * 1024
BUNDLE_MAX_BYTES = 4 * 1024 * 1024
CACHE_MAX_BYTES = 8 * 1024 * 1024
FUTURE_SLACK = 86400
NEW_DAYS = 7
WINDOW_DAYS = 90
FILES_MAX = 500
EXCERPT_LINE_MAX = 1000
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


# --- reading hostile files ---------------------------------------------------------------------

def _open_regular(path):
    """A read descriptor of ``path`` when it is a regular file (never through a link, no FIFO wait)."""
    try:
        fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK)
    except (IOError, OSError) as exc:
        if exc.errno == errno.ELOOP:
            raise HostError("%s is a symbolic link; not read" % path)
        raise HostError("cannot read %s: %s" % (path, exc.strerror or exc))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise HostError("%s is not a regular file; not read" % path)
    return fd


def read_bounded(path, limit):
    """The bytes of the regular file ``path``, at most ``limit`` of them (``HostError`` if bigger)."""
    fd = _open_regular(path)
    try:
        # In pieces (read_head): one read of the whole limit allocates it first (a 1 GiB buffer
        # failed with MemoryError on the 1 GiB dump server VM, and the report was never rewritten).
        data = _safefs.read_head(fd, limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise HostError("%s is bigger than %d bytes; not read" % (path, limit))
    return data


def read_json(path, limit):
    """A JSON object from a bounded regular file; ``KdumpError`` for anything else."""
    data = read_bounded(path, limit)
    try:
        value = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise ParseError("%s is not valid JSON: %s" % (path, exc))
    if not isinstance(value, dict):
        raise ParseError("%s is not a JSON object" % path)
    return value


def triage_log(path):
    """``(record with excerpt, None)`` or ``(None, message)`` of a kernel log, read without links."""
    try:
        fd = _open_regular(path)
        with io.open(fd, "r", encoding="utf-8", errors="replace") as handle:
            parser = _triage.TriageParser(keep_excerpt=True)
            for lines in _triage.iter_log_chunks(handle):
                parser.feed_chunk(lines)
            return parser.record(), None
    except (IOError, OSError) as exc:
        return None, "cannot read kernel log %s: %s" % (path, exc)
    except KdumpError as exc:
        return None, str(exc)


_TRIAGE_CODE = []


def triage_code_id():
    """A digest of the triage code (cached records of other code are not used); ``None`` if unknown."""
    if not _TRIAGE_CODE:
        try:
            source = inspect.getsource(_triage)
            _TRIAGE_CODE.append(hashlib.sha256(source.encode("utf-8")).hexdigest()[:16])
        except (IOError, OSError, TypeError):
            _TRIAGE_CODE.append(None)
    return _TRIAGE_CODE[0]


# --- the crashes of a store --------------------------------------------------------------------

def _listdir(path):
    try:
        return sorted(os.listdir(path))
    except (IOError, OSError):
        return []


def _kind(path):
    """``"dir"``, ``"file"``, ``"link"``, ``"other"`` or ``None`` (missing), without following links."""
    try:
        mode = os.lstat(path).st_mode
    except (IOError, OSError):
        return None
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "dir"
    return "file" if stat.S_ISREG(mode) else "other"


def scan_store(store):
    """``(host id, crash id, directory, problem)`` of every crash directory with a manifest.

    Names starting with a dot, the report files and ``report.d`` are not hosts; a host or crash
    directory that is a symbolic link is listed with a problem and not read.
    """
    found = []
    for host in _listdir(store):
        host_dir = os.path.join(store, host)
        if host.startswith(".") or host in REPORT_NAMES or host == PAGES_DIR:
            continue
        kind = _kind(host_dir)
        if kind == "link":
            found.append((host, None, host_dir, "%s is a symbolic link; not read" % host_dir))
        if kind != "dir":
            continue
        for crash in _listdir(host_dir):
            directory = os.path.join(host_dir, crash)
            if crash.startswith("."):
                continue
            kind = _kind(directory)
            if kind == "link":
                found.append((host, crash, directory, "%s is a symbolic link; not read" % directory))
            elif kind == "dir" and _kind(os.path.join(directory, _store.MANIFEST_NAME)) is not None:
                found.append((host, crash, directory, None))
    return found


def _manifest_time(manifest, now):
    """The manifest's crash time (epoch or ``None``); ``ParseError`` when it is not a time."""
    value = manifest.get("crash_time")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or fr.bounded_time(value) is None \
            or value > now + FUTURE_SLACK:
        raise ParseError("manifest.json: crash_time %s is not a time (epoch seconds from 1970 up to one day "
                         "after the report's time)" % fr._text(repr(value), 80))
    return value


def _page_href(host, crash, path):
    """The link from a crash page (``report.d/<host>/<crash>.html``) to a file of the crash."""
    return "../../%s/%s/%s" % (_quote(host), _quote(crash), "/".join(_quote(part) for part in path.split("/")))


def _quote(part):
    """One path component, percent-encoded for a relative link."""
    return quote(part.encode("utf-8"), safe="")


def _bundle_summary(directory):
    """What ``crashkit-bundle/bundle.json`` tells (host-written: shown as text, never trusted)."""
    path = os.path.join(directory, BUNDLE_DIR, "bundle.json")
    if _kind(path) is None:
        return None, None
    try:
        raw = read_json(path, BUNDLE_MAX_BYTES)
    except KdumpError as exc:
        return None, str(exc)
    text = fr._text
    summary = {
        "uptime_at_crash": fr._size(raw.get("uptime_at_crash")),
        "crashed_cmdline": text(raw.get("crashed_cmdline")),
        "crashed_crashkernel": text(raw.get("crashed_crashkernel")),
        "kernel_release": text(raw.get("kernel_release"), 200),
        "kernel_source": text(raw.get("kernel_source"), 200),
        "build_id": text(raw.get("build_id"), 200),
        "dmesg_source": text(raw.get("dmesg_source"), 500),
    }
    dumps = raw.get("dumps") if isinstance(raw.get("dumps"), list) else []
    summary["dumps"] = [
        {"name": text(item.get("name"), 500), "size": fr._size(item.get("size")),
         "format": text(item.get("format"), 100), "complete": item.get("complete") if isinstance(
             item.get("complete"), bool) else None, "reason": text(item.get("reason"), 500)}
        for item in dumps[:20] if isinstance(item, dict)]
    missing = raw.get("missing") if isinstance(raw.get("missing"), dict) else {}
    summary["missing"] = [(text(key, 100), text(value)) for key, value in sorted(
        missing.items(), key=lambda item: str(item[0]))[:30]]
    capture = raw.get("capture") if isinstance(raw.get("capture"), dict) else {}
    summary["saved_by"] = text(capture.get("saved_by"), 100)
    summary["lean_fallback"] = text(capture.get("lean_fallback"), 500)
    change = raw.get("change") if isinstance(raw.get("change"), dict) else {}
    summary["change"] = {"change_id": text(change.get("change_id"), 200),
                         "change_text": text(change.get("change_text"))} if change else None
    deep = raw.get("deep_triage") if isinstance(raw.get("deep_triage"), dict) else None
    if deep:
        task = deep.get("task") if isinstance(deep.get("task"), dict) else {}
        trace = deep.get("backtrace") if isinstance(deep.get("backtrace"), list) else []
        summary["deep_triage"] = {
            "status": text(deep.get("status"), 50), "reason": text(deep.get("reason")),
            "panic": text(deep.get("panic")),
            "task": " ".join("%s %s" % (key, text(task.get(key), 100)) for key in ("command", "pid", "cpu")
                             if text(task.get(key), 100)) or None,
            "backtrace": [text(frame, 200) for frame in trace[:64] if text(frame, 200)],
        }
    else:
        summary["deep_triage"] = None
    return summary, None


def _display(value):
    """Plain text of a scalar, list or mapping from a triage record (bounded)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return fr._text(value)
    try:
        return fr._text(json.dumps(value, sort_keys=True, default=str))
    except (TypeError, ValueError):
        return fr._text(repr(value))


def _excerpt(record):
    """The lines around the crash and the index of the crash line in them (or ``None``)."""
    lines = [line[:EXCERPT_LINE_MAX] for line in (record.get("excerpt") or [])
             if isinstance(line, str)][:_triage.EXCERPT_BEFORE + _triage.EXCERPT_AFTER]
    headline = record.get("headline")
    anchor = next((index for index, line in enumerate(lines) if headline and headline in line), None)
    return lines, anchor


class _Crash(object):
    """One crash directory of the store on its way into the report."""

    def __init__(self, host, crash, directory, store):
        self.host, self.crash, self.directory = host, crash, directory
        self.key = "%s/%s" % (host, crash)
        self.manifest = None
        self.time = None
        self.log = None
        self.stat = None
        self.record = None
        self.error = None
        self.cache = os.path.join(store, PAGES_DIR, host, crash + CACHE_SUFFIX) if crash else None

    def read_manifest(self, now):
        try:
            raw = read_json(os.path.join(self.directory, _store.MANIFEST_NAME), MANIFEST_MAX_BYTES)
            self.manifest = _store.validate_manifest(raw)
            self.time = _manifest_time(self.manifest, now)
        except KdumpError as exc:
            self.manifest, self.error = None, str(exc)

    def find_log(self):
        bundled = os.path.join(self.directory, BUNDLE_DIR, "dmesg.txt")
        try:
            self.log = bundled if _kind(bundled) is not None else _triage.find_bundle_log(self.directory)
            self.stat = os.lstat(self.log)
        except (IOError, OSError) as exc:
            self.error = "cannot read %s: %s" % (self.log, exc)
        except KdumpError as exc:
            self.error = str(exc)

    def cache_key(self, store):
        code = triage_code_id()
        if code is None or self.stat is None:
            return None
        return {"format": CACHE_FORMAT, "triage": code, "log": os.path.relpath(self.log, store),
                "size": self.stat.st_size, "mtime_ns": self.stat.st_mtime_ns, "inode": self.stat.st_ino,
                "device": self.stat.st_dev}

    def cached(self, key):
        if key is None or _kind(self.cache) != "file":
            return False
        try:
            cached = read_json(self.cache, CACHE_MAX_BYTES)
        except KdumpError:
            return False
        if cached.get("key") != key or not isinstance(cached.get("record"), (dict, type(None))):
            return False
        self.record, self.error = cached["record"], fr._text(cached.get("error"))
        if self.record is None and self.error is None:
            return False
        return True


def _crash_entry(crash, store, now):
    """The per-crash entry of the model (what its page shows)."""
    manifest = crash.manifest or {}
    record = crash.record or {}
    text = fr._text
    entry = {
        "key": crash.key, "host_id": crash.host, "crash_id": crash.crash,
        "hostname": text(manifest.get("hostname"), 255),
        "inventory_hostname": text(manifest.get("inventory_hostname"), 255),
        "source_dir": text(manifest.get("source_dir"), 500),
        "collected": fr.utc_iso(manifest.get("collected_at")),
        "total_size": fr._size(manifest.get("total_size")),
        "log": os.path.relpath(crash.log, store) if crash.log else None,
        "log_href": "/".join(_quote(part) for part in os.path.relpath(crash.log, store).split(os.sep))
        if crash.log else None,
        "error": crash.error,
        "page": "%s/%s/%s%s" % (PAGES_DIR, _quote(crash.host), _quote(crash.crash), PAGE_SUFFIX)
        if crash.crash else None,
    }
    epoch = crash.time
    entry["time_source"] = "dump" if epoch is not None else None
    if epoch is None and record:
        epoch = fr.iso_epoch(record.get("crash_time"))
        if epoch is not None and epoch > now + FUTURE_SLACK:
            epoch = None
        entry["time_source"] = "kernel log" if epoch is not None else None
    entry["time"] = epoch
    entry["when"] = fr.utc_iso(epoch)
    entry["new"] = epoch is not None and fr.day_start(epoch) >= fr.day_start(now) - (NEW_DAYS - 1) * fr.DAY
    entry["kernel_release"] = text(record.get("kernel_release"), 200) or text(manifest.get("kernel_release"), 200)
    for key in ("signature", "kind", "function", "module", "comm", "kernel_build", "hardware", "taint_raw"):
        entry[key] = text(record.get(key), 500)
    for key in ("panic_reason", "headline", "signature_text"):
        entry[key] = text(record.get(key))
    entry["line"] = fr._number(record.get("line"))
    entry["pid"] = fr._number(record.get("pid"))
    entry["cpu"] = fr._number(record.get("cpu"))
    entry["culprit"] = _display(record.get("culprit")) if record.get("culprit") is not None else None
    trace = record.get("call_trace") if isinstance(record.get("call_trace"), list) else []
    entry["call_trace"] = [text(frame, 300) for frame in trace[:_triage.MAX_FRAMES] if text(frame, 300)]
    entry["excerpt"], entry["anchor"] = _excerpt(record)
    files = manifest.get("files") or []
    entry["files"] = [{"path": item["path"], "size": fr._size(item["size"]), "sha256": item["sha256"],
                       "href": _page_href(crash.host, crash.crash, item["path"])} for item in files[:FILES_MAX]]
    entry["files_more"] = max(0, len(files) - FILES_MAX)
    entry["bundle"], entry["bundle_error"] = _bundle_summary(crash.directory) if crash.manifest else (None, None)
    entry["saved_by"] = entry["bundle"]["saved_by"] if entry["bundle"] else None
    if entry["bundle_error"]:
        entry["bundle_error"] = entry["bundle_error"].replace(os.path.join(store, ""), "")
    return entry


def collect_crashes(store, now, check_mode=False, workers=None):
    """The crashes of the store, triaged (cache first), as ``(entries, records)``.

    ``records`` maps a crash key to its triage record (``None`` when it failed).
    """
    crashes = []
    for host, crash_id, directory, problem in scan_store(store):
        crash = _Crash(host, crash_id, directory, store)
        if problem:
            crash.error = problem
        else:
            crash.read_manifest(now)
            if crash.manifest is not None:
                crash.find_log()
        crashes.append(crash)
    todo = []
    for crash in crashes:
        if crash.error is None:
            key = crash.cache_key(store)
            if not crash.cached(key):
                todo.append((crash, key))
    results = fr.triage_many([crash.log for crash, _key in todo], workers=workers, triage=triage_log)
    for (crash, key), (_path, record, error) in zip(todo, results):
        crash.record, crash.error = record, error
        if key is not None and not check_mode:
            _write_cache(store, crash, key)
    prefix = os.path.join(store, "")
    for crash in crashes:
        if crash.error:   # messages name files relative to the store: the report may be published
            crash.error = crash.error.replace(prefix, "")
    return [_crash_entry(crash, store, now) for crash in crashes], dict(
        (crash.key, crash.record) for crash in crashes)


def _write_cache(store, crash, key):
    try:
        directory = _pages_dir(store, crash.host, create=True)
        data = json.dumps({"key": key, "record": crash.record, "error": crash.error}, sort_keys=True)
        write_file(os.path.join(directory, crash.crash + CACHE_SUFFIX), data.encode("utf-8"))
    except (IOError, OSError, KdumpError):
        pass  # only a cache: the next run triages again


# --- the model ----------------------------------------------------------------------------------

def _host_names(entry):
    """The inventory names a crash belongs to: its host id, and the inventory name the manifest
    gives when the crash was collected from that host itself (not through a dump server)."""
    names = set([entry["host_id"]])
    hostname, inventory = entry.get("hostname"), entry.get("inventory_hostname")
    if hostname and inventory:
        try:
            own = _store.sanitize_id(hostname.strip().split(".")[0].lower())
        except KdumpError:
            own = None
        if own and (entry["host_id"] == own or entry["host_id"].startswith(own + "-")):
            names.add(inventory)
    return names


def pair_attempts(entries):
    """Mark the lean capture's given-up attempts that hold the same panic as another crash of
    their client (``_capture.pair_attempts``): ``attempt_of`` (that crash's key) and
    ``attempt_of_page`` on the attempt,
    ``lean_attempt`` (``{"key", "page", "reason"}``) on the crash; ``None`` elsewhere. Entries
    with an error are never paired. Returns the pairs."""
    items = []
    for entry in entries:
        entry["attempt_of"] = entry["attempt_of_page"] = entry["lean_attempt"] = None
        bundle = entry.get("bundle")
        if entry["error"] or not bundle:
            continue
        attempt = _capture.is_lean_attempt({"saved_by": bundle.get("saved_by"),
                                            "lean_fallback": bundle.get("lean_fallback")}, bundle.get("dumps"))
        panic = _capture.panic_key(entry["signature"], bundle.get("uptime_at_crash"), entry["kernel_release"])
        items.append((entry["key"], entry["host_id"], panic, attempt))
    pairs = _capture.pair_attempts(items)
    by_key = dict((entry["key"], entry) for entry in entries)
    for attempt, key in sorted(pairs.items()):
        entry, crash = by_key[attempt], by_key[key]
        entry["attempt_of"], entry["attempt_of_page"] = key, crash["page"]
        if crash["lean_attempt"] is None:
            crash["lean_attempt"] = {"key": attempt, "page": entry["page"],
                                     "reason": entry["bundle"].get("lean_fallback")}
    return pairs


def build_model(store, title="Kernel crash report", panic_results=None, readiness=None, now=None,
                check_mode=False, workers=None):
    """Everything the report files show: ``{"title", "as_of", "now", "report", "crashes",
    "panic_history"}``; ``report`` is what ``report.json`` holds."""
    now = time.time() if now is None else now
    fleet = fr.FleetReport()
    panic = fr.read_panic_results(panic_results) if panic_results else None
    fleet.set_hosts(readiness, panic)
    entries, records = collect_crashes(store, now, check_mode=check_mode, workers=workers)
    for entry in entries:
        if not entry["error"] and (records.get(entry["key"]) is None or not entry["signature"] or not entry["kind"]):
            entry["error"] = "no usable triage record"
    pair_attempts(entries)
    for entry in entries:
        if entry["error"]:
            fleet.add_failure(entry["log"] or entry["key"], entry["error"])
            continue
        if entry["attempt_of"]:
            continue   # the same panic as another directory of its client: counted there
        # The entry's fields, checked and bounded, not the raw record (it may come from the cache).
        record = dict((key, entry[key]) for key in (
            "signature", "signature_text", "kind", "function", "module", "headline", "kernel_release",
            "panic_reason"))
        fleet.add(record, host=entry["host_id"], crash_time=entry["when"], source=entry["log"])
    report = fleet.report()
    triaged = [entry for entry in entries if not entry["error"] and not entry["attempt_of"]]
    report["as_of"] = time.strftime("%Y-%m-%d", time.gmtime(fr.day_start(now)))
    line = fr.timeline([(entry["time"], entry["signature"]) for entry in triaged], now, WINDOW_DAYS)
    report["timeline"] = {
        "days": line["days"], "total": line["total"],
        "signatures": dict((signature, dict((line["days"][index], count) for index, count in sorted(counts.items())))
                           for signature, counts in line["signatures"].items()),
    }
    report["new_crashes"] = sum(1 for entry in triaged if entry["new"])
    cutoff = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(fr.day_start(now) - (NEW_DAYS - 1) * fr.DAY))
    report["new_signatures"] = [group["signature"] for group in report["groups"]
                                if group["first_seen"] and group["first_seen"] >= cutoff]
    report["store_crashes"] = [dict((key, entry[key]) for key in (
        "host_id", "crash_id", "when", "kernel_release", "signature", "kind", "function", "error", "page",
        "saved_by", "attempt_of"))
        for entry in entries]
    crash_hosts = {}
    for entry in triaged:
        for name in _host_names(entry):
            crash_hosts[name] = crash_hosts.get(name, 0) + 1
    for row in report["hosts"]:
        row["crashes"] = crash_hosts.get(row["host"], 0)
    history = dict((host, [dict((key, item[key]) for key in ("status", "when", "run_id", "reason", "step", "source"))
                           for item in records_])
                   for host, records_ in ((panic or {}).get("history") or {}).items())
    report["panic_history"] = history
    return {"title": title, "as_of": report["as_of"], "now": now, "report": report, "crashes": entries,
            "window": line}


# --- writing ------------------------------------------------------------------------------------

def _pages_dir(store, host=None, create=False):
    """``report.d`` (or ``report.d/<host>``), a real directory; created when asked."""
    path = os.path.join(store, PAGES_DIR)
    for part in ([PAGES_DIR] + ([host] if host else [])):
        if part != PAGES_DIR:
            path = os.path.join(path, part)
        kind = _kind(path)
        if kind is None and create:
            try:
                os.mkdir(path, 0o755)
            except (IOError, OSError) as exc:
                if exc.errno != errno.EEXIST:
                    raise HostError("cannot create %s: %s" % (path, exc))
            kind = _kind(path)
        if kind not in (None, "dir"):
            raise HostError("%s is not a directory (a %s); the report does not write through it" % (path, kind))
    return path


def current_bytes(path):
    """The bytes at ``path`` (``None`` when missing, not a regular file or a link)."""
    if _kind(path) != "file":
        return None
    try:
        return read_bounded(path, 1 << 30)
    except KdumpError:
        return None


def write_file(path, data, mode=0o644):
    """Replace ``path`` with ``data`` atomically: a temporary file in the same directory, its mode
    set on the descriptor, fsync, ``os.replace`` (which replaces a link, never follows it)."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _prune(store, keep):
    """Remove pages and caches under ``report.d`` of crashes no longer in the store."""
    root = os.path.join(store, PAGES_DIR)
    if _kind(root) != "dir":
        return
    for host in _listdir(root):
        directory = os.path.join(root, host)
        if _kind(directory) != "dir":
            continue
        for name in _listdir(directory):
            if name.endswith(CACHE_SUFFIX):
                crash = name[:-len(CACHE_SUFFIX)]
            elif name.endswith(PAGE_SUFFIX):
                crash = name[:-len(PAGE_SUFFIX)]
            else:
                continue
            if (host, crash) not in keep and _kind(os.path.join(directory, name)) in ("file", "link"):
                os.unlink(os.path.join(directory, name))
        if not _listdir(directory):
            os.rmdir(directory)


def write_store_report(store, title="Kernel crash report", panic_results=None, readiness=None, now=None,
                       check_mode=False, workers=None):
    """Read the store, triage, build the model and write every report file (see the module doc).

    ``panic_results``: the ``panic_test`` role's results directory (or ``None``); ``readiness``:
    raw per-host readiness entries (see ``_fleetreport.normalize_readiness``); ``now``: epoch
    seconds of the report (default: the current time); ``check_mode``: write nothing, not even
    the triage cache.

    Returns ``{"changed", "report", "crashes", "paths", "pages", "diff"}``: ``report`` is what
    ``report.json`` holds, ``crashes`` one short entry per crash, ``paths`` the three report files,
    ``pages`` how many crash pages there are, ``diff`` the before/after of ``report.json`` and
    ``report.md`` (Ansible's diff format). Raises ``KdumpError`` only when the store itself is not
    usable (missing, or the report files cannot be written); a bad crash is a ``failed`` entry.
    """
    if _kind(store) != "dir" and not os.path.isdir(store):
        raise HostError("store %s does not exist" % store)
    model = build_model(store, title=title, panic_results=panic_results, readiness=readiness, now=now,
                        check_mode=check_mode, workers=workers)
    outputs = render_store(model)
    report_paths = [os.path.join(store, name) for name in REPORT_NAMES]
    changed = False
    diff = []
    writes = []
    for relative, content in outputs:
        path = os.path.join(store, relative)
        data = content.encode("utf-8")
        before = current_bytes(path)
        if relative in ("report.json", "report.md"):
            diff.append({"before_header": path, "after_header": path,
                         "before": before.decode("utf-8", "replace") if before is not None else "",
                         "after": content})
        if before != data:
            changed = True
            writes.append((relative, path, data))
    keep = set((entry["host_id"], entry["crash_id"]) for entry in model["crashes"] if entry["crash_id"])
    if not check_mode:
        for relative, path, data in writes:
            parts = relative.split("/")
            if parts[0] == PAGES_DIR:
                _pages_dir(store, parts[1], create=True)
            write_file(path, data)
        _prune(store, keep)
    crashes = [dict((key, entry[key]) for key in ("host_id", "crash_id", "log", "signature", "kind", "function",
                                                  "error", "page")) for entry in model["crashes"]]
    for item in crashes:
        item["log"] = os.path.join(store, item["log"]) if item["log"] else None
    return {"changed": changed, "report": model["report"], "crashes": crashes, "paths": report_paths,
            "pages": len(outputs) - len(REPORT_NAMES), "diff": diff}
