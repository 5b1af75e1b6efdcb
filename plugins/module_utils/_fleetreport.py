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
* ``group_logs(paths)``: triage many kernel log files and return the report.
* ``render_markdown(report)``: the report as a Markdown page.
* ``infer_origin(path)``: host and time a kdump directory name tells (``<host>-<stamp>``).

Crash times are ISO 8601 strings as found (log syslog prefix or dump directory name); first and
last seen compare them as text, which orders them correctly when they share a time zone
convention.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError
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
        }


def build_report(records):
    """Report of an iterable of triage records (each may carry ``host``/``crash_time``/``source``)."""
    fleet = FleetReport()
    for record in records:
        fleet.add(record, source=record.get("source"))
    return fleet.report()


def group_logs(paths):
    """Triage every kernel log of ``paths`` and group them by signature.

    Each item is a path or a ``(host, path)`` pair. Without an explicit host, the host is the one
    named by the log's syslog prefix, else by the dump directory name (``infer_origin``). Logs
    that cannot be read or show no crash are listed under ``failed``.
    """
    fleet = FleetReport()
    for item in paths:
        if isinstance(item, (tuple, list)):
            host, path = item
        else:
            host, path = None, item
        try:
            record = triage_file(path, keep_excerpt=False)
        except KdumpError as exc:
            fleet.add_failure(path, exc)
            continue
        dir_host, dir_time = infer_origin(path)
        fleet.add(record, host=host or record.get("host") or dir_host,
                  crash_time=record.get("crash_time") or dir_time, source=path)
    return fleet.report()


def _cell(text):
    if text is None or text == "":
        return "-"
    text = " ".join(str(text).split())
    return text.replace("\\", "\\\\").replace("|", "\\|")


def _code(text):
    if not text:
        return "-"
    text = " ".join(str(text).split()).replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    return "%s%s%s" % (fence, text, fence)


def _where(group):
    if not group.get("function"):
        return None
    if group.get("module"):
        return "%s [%s]" % (group["function"], group["module"])
    return group["function"]


def _short_list(items, limit=5):
    items = list(items)
    if not items:
        return "-"
    text = ", ".join(items[:limit])
    if len(items) > limit:
        text += " (+%d more)" % (len(items) - limit)
    return text


def render_markdown(report, title="Kernel crash report"):
    """Render a ``report()`` result as a Markdown page."""
    lines = ["# %s" % _cell(title), ""]
    lines.append("%d crash%s on %d host%s, %d distinct signature%s." % (
        report["crashes"], "" if report["crashes"] == 1 else "es",
        report["host_count"], "" if report["host_count"] == 1 else "s",
        report["signature_count"], "" if report["signature_count"] == 1 else "s"))
    if report["failed"]:
        lines.append("%d log%s could not be triaged (listed at the end)." % (
            len(report["failed"]), "" if len(report["failed"]) == 1 else "s"))
    lines.append("")
    if report["groups"]:
        lines.append("| # | Signature | Kind | Function | Reason | Crashes | Hosts | Kernels "
                     "| First seen | Last seen |")
        lines.append("|---:|---|---|---|---|---:|---:|---|---|---|")
        for number, group in enumerate(report["groups"], 1):
            lines.append("| %d | %s | %s | %s | %s | %d | %d | %s | %s | %s |" % (
                number, _code(group["signature"]), _cell(group["kind"]),
                _code(_where(group)), _cell(_short_list(group["panic_reasons"], 1)),
                group["count"], group["host_count"],
                _cell(_short_list(group["kernel_releases"], 3)),
                _cell(group["first_seen"]), _cell(group["last_seen"])))
        lines.append("")
    for number, group in enumerate(report["groups"], 1):
        where = _where(group)
        lines.append("## %d. %s%s" % (number, _cell(group["kind"]),
                                      " in %s" % _code(where) if where else ""))
        lines.append("")
        lines.append("- Signature: %s (%s)" % (_code(group["signature"]),
                                               _code(group["signature_text"])))
        lines.append("- Crashes: %d on %d host%s" % (
            group["count"], group["host_count"], "" if group["host_count"] == 1 else "s"))
        lines.append("- Hosts: %s" % _cell(_short_list(group["hosts"], 20)))
        lines.append("- Kernel releases: %s" % _cell(_short_list(group["kernel_releases"], 20)))
        lines.append("- First seen: %s, last seen: %s" % (_cell(group["first_seen"]),
                                                          _cell(group["last_seen"])))
        for reason in group["panic_reasons"]:
            lines.append("- Reason: %s" % _code(reason))
        for example in group["examples"]:
            if example.get("source"):
                lines.append("- Example: %s" % _code(example["source"]))
        lines.append("")
    if report["failed"]:
        lines.append("## Logs that could not be triaged")
        lines.append("")
        for failure in report["failed"]:
            lines.append("- %s: %s" % (_code(failure["source"]), _cell(failure["error"])))
        lines.append("")
    return "\n".join(lines)
