# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""Fleet crash report: many triage records grouped by crash signature.

* ``FleetReport``: an accumulator. ``add(record, host=None, crash_time=None, source=None)`` one
  triage record (see ``_triage``), ``add_failure(source, error)`` a log that could not be
  triaged, ``report()`` the JSON-able result. Memory grows with the number of distinct
  signatures and hosts, not with the number of records.
* ``group_logs(paths)``: triage many kernel log files and return the report (from 256 logs on
  a pool of processes triages and groups runs of logs; their groups are merged in order).
* ``triage_many(paths)``: ``(path, record, error)`` of many logs, in order; from 256 logs on the
  work is spread over a pool of forked processes (one per CPU), which is where a fleet's worth
  of logs spends its time (bench/triage.py).
* Rendering (Markdown, HTML) is in ``_fleetrender``; reading a whole store and writing its
  report files in ``_fleetstore``.
* ``infer_origin(path)``: host and time a kdump directory name tells (``<host>-<stamp>``).
* ``read_panic_results(directory)``: the latest panic-test record of each host (and its last
  ``PANIC_HISTORY`` records) found in the results directory of the ``panic_test`` role
  (``<dir>/<run id>/hosts/<host>.json``).
* ``bounded_time(value)``, ``iso_epoch(text)``, ``utc_iso(epoch)``: times from hostile data as
  epoch seconds within ``[0, TIME_MAX]`` or ``None``, never an exception.
* ``timeline(entries, end_day, days)``: crashes per day and signature over a window.
* ``normalize_readiness(entries)``: checked per-host kdump readiness entries.
* ``host_rows(readiness, panic_results)``: one row per host merging both; ``FleetReport`` puts
  them under ``hosts`` (with a ``panic_tests`` summary) when given ``set_hosts(...)``.

Crash times are ISO 8601 strings as found (log syslog prefix or dump directory name); first and
last seen compare them as text, which orders them correctly when they share a time zone
convention (the store report gives them all as UTC ``YYYY-MM-DDTHH:MM:SSZ``).

Every value read from a panic-test record or a readiness entry is host data: numbers are bounded
(a time outside ``[0, TIME_MAX]`` or a size outside ``[0, 2**63)`` becomes null), texts are cut
at ``TEXT_MAX`` characters, and one malformed host never fails the whole report.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import json
import math
import os
import re
import time

from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError, ValidationError
from ansible_collections.crashkit.kdump.plugins.module_utils._triage import triage_file

EXAMPLES_PER_GROUP = 3
REASONS_PER_GROUP = 5

# kdump-tools: /var/crash/<YYYYMMDDHHMM>/dmesg.<YYYYMMDDHHMM>, remote: <host>-<YYYYMMDDHHMM>.
_KDUMP_TOOLS_STAMP = re.compile(r"^(?:(?P<host>.+)-)?(?P<stamp>\d{12})$")
# RHEL kdump: /var/crash/<host-or-ip>-<YYYY-MM-DD-HH:MM:SS>/vmcore-dmesg.txt
_RHEL_STAMP = re.compile(
    r"^(?P<host>.+)-(?P<date>\d{4}-\d\d-\d\d)-(?P<time>\d\d:\d\d:\d\d)$"
)
_DMESG_STAMP = re.compile(r"^dmesg\.(?P<stamp>\d{12})$")

# Panic-test records (roles/panic_test/tasks/report.yml): <dir>/<run id>/hosts/<host>.json.
PANIC_RECORD_MAX_BYTES = 1024 * 1024
PANIC_TEXT_KEYS = ("status", "reason", "step", "run_id", "test_id", "kernel_release")
PANIC_TIME_KEYS = ("started", "trigger_time", "back_time", "finished")
PANIC_DUMP_TEXT_KEYS = ("path", "host", "format", "kernel_release")
PANIC_DUMP_TIME_KEYS = ("mtime", "crash_time")
PANIC_HISTORY = 20
# Times from hosts are epoch seconds in [0, TIME_MAX] (2100-01-01), anything else is unknown;
# other numbers (sizes, MiB) are bounded by NUMBER_MAX. Texts are cut at TEXT_MAX characters.
TIME_MAX = 4102444800
NUMBER_MAX = 2 ** 63
TEXT_MAX = 2000
DAY = 86400
_ISO = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,]\d{1,9})?(Z|[+-]\d\d:?\d\d)?$")
_TRUE_WORDS = ("true", "yes", "on", "y", "1", "active")
# systemctl is-active answers: only "active" is up; "unknown" (and empty text) tells nothing.
_FALSE_WORDS = ("false", "no", "off", "n", "0", "inactive", "failed", "dead", "activating",
                "deactivating", "reloading", "refreshing", "maintenance")
_UNKNOWN_WORDS = ("", "unknown")


def _stamp_iso(stamp):
    return "%s-%s-%sT%s:%s:00" % (stamp[0:4], stamp[4:6], stamp[6:8], stamp[8:10], stamp[10:12])


def infer_origin(path):
    """Return ``(host, crash_time)`` told by a kdump dump directory layout (``None`` if not)."""
    host = crash_time = None
    directory, name = os.path.split(os.path.normpath(path))
    parent = os.path.basename(directory)
    found = _DMESG_STAMP.match(name)
    if found:
        crash_time = _stamp_iso(found.group("stamp"))
    found = _RHEL_STAMP.match(parent)
    if found:
        return found.group("host"), "%sT%s" % (found.group("date"), found.group("time"))
    found = _KDUMP_TOOLS_STAMP.match(parent)
    if found:
        host = found.group("host")
        crash_time = crash_time or _stamp_iso(found.group("stamp"))
    return host, crash_time


def _version_key(release):
    return [(0, int(part), "") if part.isdigit() else (1, 0, part)
            for part in re.split(r"(\d+)", release) if part]


def utc_iso(epoch):
    """``YYYY-MM-DDTHH:MM:SSZ`` of epoch seconds, ``None`` when there is no usable time."""
    epoch = bounded_time(epoch)
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def bounded_time(value):
    """Epoch seconds (number or numeric text) within ``[0, TIME_MAX]``, else ``None``."""
    number = _number(value)
    if number is None or number < 0 or number > TIME_MAX:
        return None
    return number


def iso_epoch(text):
    """Epoch seconds of an ISO 8601 time (``2024-05-14T03:12:45.1+02:00``; no zone: UTC).

    ``None`` for anything else, or a time outside ``[0, TIME_MAX]``.
    """
    if not isinstance(text, str) or len(text) > 40:
        return None
    found = _ISO.match(text.strip())
    if not found:
        return None
    year, month, day, hour, minute, second = [int(part) for part in found.groups()[:6]]
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 60):
        return None
    try:
        epoch = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    except (OverflowError, ValueError):
        return None
    zone = found.group(7)
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        offset = int(digits[:2]) * 3600 + int(digits[2:]) * 60
        epoch = epoch - offset if zone[0] == "+" else epoch + offset
    return bounded_time(epoch)


def day_start(epoch):
    """Epoch of 00:00 UTC of the day of ``epoch``."""
    return int(epoch // DAY * DAY)


def _number(value):
    """A finite number from a number or numeric text (``None`` for anything else)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = value
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    if isinstance(number, float):
        if math.isnan(number) or math.isinf(number):
            return None
        if number == int(number):
            number = int(number)
    if abs(number) >= NUMBER_MAX:
        return None
    return number


def _size(value):
    """A number >= 0 (bytes, MiB), else ``None``."""
    number = _number(value)
    return number if number is not None and number >= 0 else None


def _text(value, limit=TEXT_MAX):
    """Text of a scalar (``None`` for null, empty text, mappings and lists), cut at ``limit``."""
    if value is None or isinstance(value, (dict, list)):
        return None
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[:limit] + u"\u2026"
    return text if text.strip() else None


def _panic_record(raw, host, source):
    """The fields of one raw panic-test record the fleet report shows; lenient."""
    record = {"host": host}
    for key in PANIC_TEXT_KEYS:
        record[key] = _text(raw.get(key))
    record["status"] = (record["status"] or "unknown").strip().lower()
    for key in PANIC_TIME_KEYS:
        record[key] = bounded_time(raw.get(key))
    dump = raw.get("dump")
    if isinstance(dump, dict) and dump:
        record["dump"] = dict([(key, _text(dump.get(key))) for key in PANIC_DUMP_TEXT_KEYS]
                              + [("size", _size(dump.get("size")))]
                              + [(key, bounded_time(dump.get(key))) for key in PANIC_DUMP_TIME_KEYS])
    else:
        record["dump"] = None
    when = next((record[key] for key in ("finished", "back_time", "trigger_time", "started")
                 if record[key] is not None), None)
    record["when"] = utc_iso(when)
    record["source"] = source
    return record


def _panic_order(record):
    """Sort key of a record: ``finished``, then ``started``; a missing time is the oldest."""
    return tuple((0, 0) if record[key] is None else (1, record[key]) for key in ("finished", "started"))


def _listdir(path):
    try:
        return sorted(os.listdir(path))
    except (IOError, OSError):
        return []


def read_panic_results(directory):
    """The latest panic-test record of each host under ``directory``.

    ``directory`` is the results directory of the ``panic_test`` role: one directory per run,
    each with ``hosts/<host>.json`` records. A missing directory gives no records. A record that
    cannot be read, is too big, is not JSON or not a JSON object is skipped and listed under
    ``unreadable``. Records are compared by ``finished``, then ``started`` (epoch seconds, numbers
    or numeric text); on a tie the later run directory (by name) wins.

    Returns ``{"directory", "runs", "records", "latest": {host: record}, "history": {host: [record,
    ...]}, "unreadable": [{"source", "error"}]}``; ``history`` holds the ``PANIC_HISTORY`` latest
    records of each host, latest first; sources are relative to ``directory``.
    """
    results = {"directory": directory, "runs": 0, "records": 0, "latest": {}, "history": {},
               "unreadable": []}
    history = {}
    if not directory or not os.path.exists(directory):
        return results
    if not os.path.isdir(directory):
        results["unreadable"].append({"source": directory, "error": "not a directory"})
        return results
    for run in _listdir(directory):
        hosts_dir = os.path.join(directory, run, "hosts")
        if run.startswith(".") or not os.path.isdir(hosts_dir):
            continue
        results["runs"] += 1
        for name in _listdir(hosts_dir):
            if name.startswith(".") or not name.endswith(".json"):
                continue
            path = os.path.join(hosts_dir, name)
            source = os.path.join(run, "hosts", name)
            if not os.path.isfile(path):
                continue
            try:
                if os.path.getsize(path) > PANIC_RECORD_MAX_BYTES:
                    raise ValueError("bigger than %d bytes" % PANIC_RECORD_MAX_BYTES)
                with open(path, "rb") as handle:
                    raw = json.loads(handle.read().decode("utf-8"))
                if not isinstance(raw, dict):
                    raise ValueError("not a JSON object")
            except (IOError, OSError, ValueError, RecursionError) as exc:
                results["unreadable"].append({"source": source, "error": str(exc) or type(exc).__name__})
                continue
            host = (_text(raw.get("host")) or name[:-len(".json")]).strip()
            record = _panic_record(raw, host, source)
            results["records"] += 1
            current = results["latest"].get(host)
            if current is None or _panic_order(record) >= _panic_order(current):
                results["latest"][host] = record
            kept = history.setdefault(host, [])
            kept.append((_panic_order(record), results["records"], record))
            if len(kept) > 2 * PANIC_HISTORY:
                kept.sort(reverse=True, key=lambda item: item[:2])
                del kept[PANIC_HISTORY:]
    for host, kept in history.items():
        kept.sort(reverse=True, key=lambda item: item[:2])
        results["history"][host] = [item[2] for item in kept[:PANIC_HISTORY]]
    return results


def _flag(value, where):
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _UNKNOWN_WORDS:
            return None
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    raise ValidationError("%s must be a boolean, not %r" % (where, value))


def _target_text(value, where):
    """A dump target as text; a mapping as ``kdump_info`` returns it becomes ``type user@host:path``."""
    if value is None or isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        kind = _text(value.get("type"))
        host = _text(value.get("host"))
        user = _text(value.get("user"))
        place = _text(value.get("path")) or _text(value.get("device"))
        remote = ("%s@%s" % (user, host) if user else host) if host else None
        if remote and place:
            remote = "%s:%s" % (remote, place)
        elif place:
            remote = place
        return " ".join(part for part in (kind, remote) if part) or None
    raise ValidationError("%s must be text or a mapping, not %r" % (where, value))


READINESS_PROBLEMS_MAX = 20


def _readiness_row(entry, host, where):
    """The checked fields of one readiness entry; ``ValidationError`` for a wrong type."""
    row = {"host": host}
    for key in ("ready", "loaded"):
        row[key] = _flag(entry.get(key), "%s: %s" % (where, key))
    reserved = entry.get("reserved_mb")
    row["reserved_mb"] = _size(reserved)
    if reserved is not None and reserved != "" and row["reserved_mb"] is None:
        raise ValidationError("%s: reserved_mb must be a number >= 0, not %r" % (where, reserved))
    service = entry.get("service")
    if isinstance(service, (dict, list)):
        raise ValidationError("%s: service must be text" % where)
    row["service"] = _text(service, 200)
    row["service_active"] = _flag(entry.get("service_active"), "%s: service_active" % where)
    row["target"] = _target_text(entry.get("target"), "%s: target" % where)
    problems = entry.get("problems")
    if problems is None:
        problems = []
    elif isinstance(problems, str):
        problems = [problems]
    elif not isinstance(problems, (list, tuple)):
        raise ValidationError("%s: problems must be a list of texts" % where)
    row["problems"] = [text for text in (_text(item) for item in problems) if text][:READINESS_PROBLEMS_MAX]
    return row


def normalize_readiness(entries):
    """Checked readiness entries, one per host (the last entry of a host wins), sorted by host.

    Each entry is a mapping with ``host`` (required text) and optional ``ready``, ``loaded``,
    ``service_active`` (booleans, also as yes/no/true/false text; ``service_active`` also takes
    what ``systemctl is-active`` answers: ``active`` is true, ``unknown`` null, the others
    false), ``reserved_mb`` (a number >= 0), ``service``
    (text), ``target`` (text, or a target mapping as ``kdump_info`` returns it) and ``problems``
    (a list of texts or one text). Other keys are ignored.

    ``ValidationError`` when ``entries`` is not a list of mappings or an entry has no host (the
    playbook built it wrong). A value of the wrong type inside a host's entry is what that host
    reported: the host's readiness becomes unknown and the reason is its only problem, the other
    hosts are not affected.
    """
    if entries is None:
        return []
    if not isinstance(entries, (list, tuple)):
        raise ValidationError("readiness must be a list of mappings, not %r" % (entries,))
    found = {}
    for index, entry in enumerate(entries):
        where = "readiness[%d]" % index
        if not isinstance(entry, dict):
            raise ValidationError("%s must be a mapping, not %r" % (where, entry))
        host = entry.get("host")
        if not isinstance(host, str) or not host.strip():
            raise ValidationError("%s needs the host name (text) in host" % where)
        host = _text(host.strip(), 255)
        try:
            row = _readiness_row(entry, host, "%s (%s)" % (where, host))
        except ValidationError as exc:
            row = dict((key, None) for key in ("ready", "loaded", "reserved_mb", "service", "service_active",
                                               "target"))
            row.update(host=host, problems=["The readiness this host reported is not usable: %s" % _text(
                str(exc))])
        found[host] = row
    return [found[host] for host in sorted(found)]


def host_rows(readiness=None, panic_results=None):
    """One row per host of ``readiness`` (normalised) or ``panic_results`` (``read_panic_results``).

    Each row is ``{"host", "readiness", "panic_test"}``; a host missing from one side has
    ``None`` there. Sorted by host.
    """
    ready = dict((row["host"], row) for row in (readiness or []))
    latest = (panic_results or {}).get("latest") or {}
    rows = []
    for host in sorted(set(ready) | set(latest)):
        item = ready.get(host)
        rows.append({
            "host": host,
            "readiness": dict((key, value) for key, value in item.items() if key != "host") if item else None,
            "panic_test": dict((key, value) for key, value in latest[host].items() if key != "host")
            if host in latest else None,
        })
    return rows


def panic_summary(panic_results=None):
    """``{"directory", "runs", "records", "hosts", "unreadable"}`` of ``read_panic_results``."""
    results = panic_results or {}
    return {
        "directory": results.get("directory"),
        "runs": results.get("runs", 0),
        "records": results.get("records", 0),
        "hosts": len(results.get("latest") or {}),
        "unreadable": list(results.get("unreadable") or []),
    }


class _Group(object):
    __slots__ = ("record", "count", "hosts", "releases", "first", "last", "examples",
                 "reasons")

    def __init__(self, record):
        self.record = {key: record.get(key) for key in (
            "signature", "signature_text", "kind", "function", "module", "headline")}
        self.count = 0
        self.hosts = set()
        self.releases = set()
        self.first = self.last = None
        self.examples = []
        self.reasons = []


class FleetReport(object):
    """Accumulates triage records into signature groups."""

    def __init__(self):
        self.groups = {}
        self.failures = []
        self.crashes = 0
        self.hosts = set()
        self.rows = []
        self.panic_tests = panic_summary()

    def set_hosts(self, readiness=None, panic_results=None):
        """Per-host readiness (raw entries, checked here) and ``read_panic_results`` output."""
        self.rows = host_rows(normalize_readiness(readiness), panic_results)
        self.panic_tests = panic_summary(panic_results)

    def add(self, record, host=None, crash_time=None, source=None):
        """Count one triage record; ``host``/``crash_time`` override the record's own."""
        host = host or record.get("host")
        crash_time = crash_time or record.get("crash_time")
        group = self.groups.get(record["signature"])
        if group is None:
            group = self.groups[record["signature"]] = _Group(record)
        self.crashes += 1
        group.count += 1
        if host:
            group.hosts.add(host)
            self.hosts.add(host)
        if record.get("kernel_release"):
            group.releases.add(record["kernel_release"])
        if crash_time:
            if group.first is None or crash_time < group.first:
                group.first = crash_time
            if group.last is None or crash_time > group.last:
                group.last = crash_time
        reason = record.get("panic_reason")
        if reason and reason not in group.reasons and len(group.reasons) < REASONS_PER_GROUP:
            group.reasons.append(reason)
        if len(group.examples) < EXAMPLES_PER_GROUP:
            group.examples.append({"source": source, "host": host, "crash_time": crash_time,
                                   "kernel_release": record.get("kernel_release")})

    def add_failure(self, source, error):
        """Remember a log that could not be triaged."""
        self.failures.append({"source": source, "error": str(error)})

    def report(self):
        """The JSON-able report, biggest groups first."""
        groups = []
        for group in self.groups.values():
            item = dict(group.record)
            item.update({
                "count": group.count,
                "hosts": sorted(group.hosts),
                "host_count": len(group.hosts),
                "kernel_releases": sorted(group.releases, key=_version_key),
                "first_seen": group.first,
                "last_seen": group.last,
                "panic_reasons": list(group.reasons),
                "examples": list(group.examples),
            })
            groups.append(item)
        groups.sort(key=lambda g: (-g["count"], -g["host_count"], g["signature"]))
        return {
            "crashes": self.crashes,
            "host_count": len(self.hosts),
            "signature_count": len(groups),
            "groups": groups,
            "failed": list(self.failures),
            "hosts": list(self.rows),
            "panic_tests": dict(self.panic_tests),
        }


def build_report(records):
    """Report of an iterable of triage records (each may carry ``host``/``crash_time``/``source``)."""
    fleet = FleetReport()
    for record in records:
        fleet.add(record, source=record.get("source"))
    return fleet.report()


PARALLEL_MIN_LOGS = 256
_CHUNK = 32


def _triage_one(path):
    try:
        return triage_file(path, keep_excerpt=False), None
    except KdumpError as exc:
        return None, str(exc)


def _pool(workers):
    try:
        import multiprocessing
        return multiprocessing.get_context("fork").Pool(workers)
    except (ImportError, OSError, ValueError):
        # no fork (not Linux), no semaphores (/dev/shm missing in some containers): serial
        return None


def triage_many(paths, workers=None, min_parallel=PARALLEL_MIN_LOGS, triage=None):
    """Yield ``(path, record, error)`` for every path, in order (``error`` is None or a message).

    ``workers`` processes (default: the CPU count) triage the logs when there are at least
    ``min_parallel`` of them; fewer logs, one CPU or no process pool: in this process.
    ``triage``: a module-level function ``path -> (record, error)`` (default: ``triage_file``
    without excerpt, ``KdumpError`` as the error).
    """
    paths = list(paths)
    triage = triage or _triage_one
    if workers is None:
        workers = os.cpu_count() or 1
    pool = _pool(workers) if workers > 1 and len(paths) >= min_parallel else None
    if pool is None:
        for path in paths:
            record, error = triage(path)
            yield path, record, error
        return
    try:
        for path, (record, error) in zip(paths, pool.imap(triage, paths, _CHUNK)):
            yield path, record, error
    finally:
        pool.terminate()
        pool.join()


def _group_part(items):
    """A ``FleetReport`` of ``(host, path)`` items, added in order as ``group_logs`` adds them."""
    fleet = FleetReport()
    for host, path in items:
        record, error = _triage_one(path)
        if error is not None:
            fleet.add_failure(path, error)
            continue
        dir_host, dir_time = infer_origin(path)
        fleet.add(record, host=host or record.get("host") or dir_host,
                  crash_time=record.get("crash_time") or dir_time, source=path)
    return fleet


def _merge(fleet, part):
    """Add ``part`` (the ``FleetReport`` of the logs after those of ``fleet``) to ``fleet``:
    the same groups as adding its records one by one (first examples and reasons first)."""
    fleet.crashes += part.crashes
    fleet.hosts |= part.hosts
    fleet.failures.extend(part.failures)
    for signature, other in part.groups.items():
        group = fleet.groups.get(signature)
        if group is None:
            fleet.groups[signature] = other
            continue
        group.count += other.count
        group.hosts |= other.hosts
        group.releases |= other.releases
        if other.first is not None and (group.first is None or other.first < group.first):
            group.first = other.first
        if other.last is not None and (group.last is None or other.last > group.last):
            group.last = other.last
        for reason in other.reasons:
            if reason not in group.reasons and len(group.reasons) < REASONS_PER_GROUP:
                group.reasons.append(reason)
        group.examples.extend(other.examples[:max(0, EXAMPLES_PER_GROUP - len(group.examples))])


def _batch_size(count, workers):
    """Logs per pool task: about 8 tasks per worker (even when other work takes CPUs
    away from some), 16 to 256 logs each (a task costs a few milliseconds of overhead)."""
    return max(16, min(256, -(-count // (workers * 8))))


def group_logs(paths, workers=None, min_parallel=PARALLEL_MIN_LOGS):
    """Triage every kernel log of ``paths`` and group them by signature.

    Each item is a path or a ``(host, path)`` pair. Without an explicit host, the host is the one
    named by the log's syslog prefix, else by the dump directory name (``infer_origin``). Logs
    that cannot be read or show no crash are listed under ``failed``. ``workers`` and
    ``min_parallel``: see ``triage_many``. With a pool, each task triages and groups a run of
    consecutive logs and sends back only its groups, merged here in order: the same report as
    one process adding every record.
    """
    items = [tuple(item) if isinstance(item, (tuple, list)) else (None, item) for item in paths]
    if workers is None:
        workers = os.cpu_count() or 1
    pool = _pool(workers) if workers > 1 and len(items) >= min_parallel else None
    if pool is None:
        return _group_part(items).report()
    fleet = FleetReport()
    size = _batch_size(len(items), workers)
    try:
        for part in pool.imap(_group_part, [items[start:start + size]
                                            for start in range(0, len(items), size)]):
            _merge(fleet, part)
    finally:
        pool.terminate()
        pool.join()
    return fleet.report()


def _plural(count, word, many=None):
    return "%d %s" % (count, word if count == 1 else (many or word + "s"))


def mib(size):
    """``46.0 MiB`` of a size in bytes."""
    return "%.1f MiB" % (size / 1048576.0)


def panic_detail(test):
    """Why a panic test did not pass, else where its dump is (plain text)."""
    if test["status"] != "pass" and test.get("reason"):
        if test.get("step"):
            return "%s (step: %s)" % (test["reason"], test["step"])
        return test["reason"]
    dump = test.get("dump") or {}
    if dump.get("path"):
        where = "%s:%s" % (dump["host"], dump["path"]) if dump.get("host") else dump["path"]
        if dump.get("size") is not None:
            return "dump %s (%s)" % (where, mib(dump["size"]))
        return "dump %s" % where
    return test.get("reason")


def host_summary(rows):
    """One sentence: how many hosts are ready and how their latest panic tests ended."""
    ready = sum(1 for row in rows if (row["readiness"] or {}).get("ready") is True)
    not_ready = sum(1 for row in rows if (row["readiness"] or {}).get("ready") is False)
    statuses = {}
    for row in rows:
        status = row["panic_test"]["status"] if row["panic_test"] else "none"
        statuses[status] = statuses.get(status, 0) + 1
    order = sorted(statuses, key=lambda s: ({"pass": 0, "fail": 1, "none": 3}.get(s, 2), s))
    return "%s: %d ready, %d not ready, %d unknown; latest panic test: %s." % (
        _plural(len(rows), "host"), ready, not_ready, len(rows) - ready - not_ready,
        ", ".join("%d %s" % (statuses[status], status) for status in order))


def timeline(entries, end_day, days=90):
    """Crashes per day and signature in the ``days`` days up to and including ``end_day``.

    ``entries``: ``(epoch or None, signature)`` pairs; ``end_day``: an epoch in the last day.
    Returns ``{"days": [YYYY-MM-DD, ...], "start", "end", "total": [count per day], "signatures":
    {signature: {day index: count}}}`` (sparse; crashes outside the window or without a time are
    not counted).
    """
    last = day_start(end_day)
    first = last - (days - 1) * DAY
    total = [0] * days
    signatures = {}
    for epoch, signature in entries:
        if epoch is None or epoch < first or epoch >= last + DAY:
            continue
        index = int((epoch - first) // DAY)
        total[index] += 1
        counts = signatures.setdefault(signature, {})
        counts[index] = counts.get(index, 0) + 1
    return {
        "days": [time.strftime("%Y-%m-%d", time.gmtime(first + i * DAY)) for i in range(days)],
        "start": first,
        "end": last + DAY,
        "total": total,
        "signatures": signatures,
    }
