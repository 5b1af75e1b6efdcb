# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""Results of kdump panic tests: per-host records, the merged report, JSON and JUnit XML.

A *raw record* is what the ``panic_test`` role knows about one host when it finishes (passed, or
failed in any step); ``build_record`` checks it and derives the timings. ``merge`` keeps the
latest record per host, ``build_report`` adds the summary, ``render_json`` and ``render_junit``
write it. JUnit: one ``<testsuite>`` inside ``<testsuites>``, one ``<testcase>`` per host,
``<failure>`` with the reason, the timings and the dump as ``<property>`` elements, the whole
record in ``<system-out>``. XML is produced with ``xml.etree`` (escaping) after removing the
characters XML 1.0 cannot carry at all.

Timings (seconds, ``None`` when a time is missing):

* ``trigger_to_panic_s``: from the trigger (epoch on the host just before the delayed
  ``sysrq-trigger``) to the crash time recorded in the dump (``CRASHTIME``);
* ``panic_to_dump_saved_s``: crash to the dump file's modification time (the writer finished);
* ``panic_to_host_back_s``: crash to the host answering again with a new boot id.

``kdump_loaded_after``: whether the crash kernel was loaded again after the host's return
(``kdump_info``, waited for up to a minute): ``false`` is a host the next crash would not be
captured on; ``None`` when not read (the test ended before, or the host did not answer).

The lean capture's fallback (``lean_fallback``): why the lean capture left this crash's dump to
kdump-tools, from the dump's own note (``vmcore_check``'s ``capture``) or from the tested host's
fallback note read after its return (``capture_fallback``, ``kdump_info``'s), which tells of this
crash only when it was written between the trigger and the host's return (both times from the
host's clock). A dump on a dump server carries no note: it then gets ``saved_by: kdump-tools``
and the reason from the host's.

"Crash" is the dump's crash time when known, else the trigger time plus the configured delay.
The dump's modification time comes from the clock of the machine holding it (the dump server
for ssh targets); the other times from the tested host's clock.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import re
import xml.etree.ElementTree as ET
from collections import OrderedDict

from ansible_collections.crashkit.kdump.plugins.module_utils import _capture
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import ValidationError

SCHEMA = "crashkit.kdump/panic_test/1"
SUITE = "crashkit.kdump.panic_test"
STATUSES = ("pass", "fail")
TIME_KEYS = ("started", "trigger_time", "panic_time", "back_time", "finished")
DUMP_KEYS = ("path", "host", "size", "format", "inner_format", "compression", "dump_level", "mtime",
             "kernel_release", "crash_time", "dmesg_path", "dmesg_match", "saved_by", "lean_fallback")
TEXT_KEYS = ("test_id", "reason", "step", "boot_id_before", "boot_id_after", "kernel_release", "run_id")
RECORD_KEYS = (("host", "status") + TEXT_KEYS + TIME_KEYS + ("trigger_delay", "timings", "dump", "lean_fallback", "kdump_loaded_after"))
# Characters XML 1.0 does not allow, not even as character references.
_XML_INVALID = re.compile(u"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _number(raw, key, where):
    value = raw.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValidationError("%s: %s must be a number, not %r" % (where, key, value))
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError("%s: %s must be a number, not %r" % (where, key, value))
    if math.isnan(number) or math.isinf(number):
        raise ValidationError("%s: %s must be a finite number" % (where, key))
    return int(number) if number == int(number) else number


def _text(raw, key, where):
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise ValidationError("%s: %s must be text" % (where, key))
    return u"%s" % (value,)


def _diff(later, earlier):
    if later is None or earlier is None:
        return None
    value = later - earlier
    return int(value) if value == int(value) else round(value, 3)


def _lean_fallback(note, record):
    """The reason of the host's fallback note when it tells of this test's crash, else ``None``.
    The note comes from the tested host (which may be the compromised one): anything else than a
    valid note is ignored, never an error that would stop the run's report."""
    if not isinstance(note, dict) or note.get("saved_by") != "kdump-tools":
        return None
    reason = note.get("fallback")
    if not _capture.valid_reason(reason):
        return None
    try:
        when = _number(note, "time", "capture_fallback")
    except ValidationError:
        return None
    start, back = record["trigger_time"], record["back_time"]
    if when is None or start is None or back is None or not start <= when <= back:
        return None
    return reason


def build_record(raw):
    """Check one raw host record and derive its timings; returns an OrderedDict."""
    if not isinstance(raw, dict):
        raise ValidationError("a panic test record must be a mapping, not %s" % type(raw).__name__)
    host = raw.get("host")
    if not isinstance(host, str) or not host:
        raise ValidationError("a panic test record needs the host name")
    where = "record of %s" % host
    status = raw.get("status")
    if status not in STATUSES:
        raise ValidationError("%s: status must be one of %s, not %r" % (where, ", ".join(STATUSES), status))
    record = OrderedDict([("host", host), ("status", status)])
    for key in TEXT_KEYS:
        record[key] = _text(raw, key, where)
    if status == "fail" and not record["reason"]:
        raise ValidationError("%s: a failed test needs a reason" % where)
    if status == "pass":
        record["reason"] = None
    for key in TIME_KEYS:
        record[key] = _number(raw, key, where)
    record["trigger_delay"] = _number(raw, "trigger_delay", where)
    dump_raw = raw.get("dump") or None
    dump = None
    if dump_raw is not None:
        if not isinstance(dump_raw, dict):
            raise ValidationError("%s: dump must be a mapping" % where)
        dump = OrderedDict()
        for key in DUMP_KEYS:
            if key in ("size", "dump_level", "mtime", "crash_time"):
                dump[key] = _number(dump_raw, key, where + " dump")
            elif key in ("saved_by", "lean_fallback"):
                # vmcore_check's capture record (the lean capture's note), flattened
                capture = dump_raw.get("capture")
                dump[key] = _text(capture, key, where + " dump") if isinstance(capture, dict) else None
            elif key == "dmesg_match":
                value = dump_raw.get(key)
                dump[key] = value if isinstance(value, bool) else None
            else:
                dump[key] = _text(dump_raw, key, where + " dump")
    record["dump"] = dump
    reason = _lean_fallback(raw.get("capture_fallback"), record)
    if dump is not None and dump["saved_by"] is not None:
        # the dump's own note tells how it was saved
        reason = dump["lean_fallback"]
    elif dump is not None and reason is not None:
        dump["saved_by"], dump["lean_fallback"] = "kdump-tools", reason
    record["lean_fallback"] = reason
    loaded = raw.get("kdump_loaded_after")
    if isinstance(loaded, str):
        loaded = {"true": True, "false": False}.get(loaded.lower())
    record["kdump_loaded_after"] = loaded if isinstance(loaded, bool) else None
    crash = dump["crash_time"] if dump else None
    if crash is None and record["panic_time"] is not None:
        crash = record["panic_time"]
    if crash is None and record["trigger_time"] is not None:
        crash = record["trigger_time"] + (record["trigger_delay"] or 0)
    record["panic_time"] = crash
    record["timings"] = OrderedDict([
        ("trigger_to_panic_s", _diff(dump["crash_time"] if dump else None, record["trigger_time"])),
        ("panic_to_dump_saved_s", _diff(dump["mtime"] if dump else None, crash)),
        ("panic_to_host_back_s", _diff(record["back_time"], crash)),
        ("total_s", _diff(record["finished"], record["started"])),
    ])
    return OrderedDict((key, record[key]) for key in RECORD_KEYS)


def merge(records):
    """One record per host: the one that finished last (input order breaks ties); sorted by host."""
    latest = OrderedDict()
    for index, record in enumerate(records):
        key = ((record.get("finished") or 0), index)
        current = latest.get(record["host"])
        if current is None or key >= current[0]:
            latest[record["host"]] = (key, record)
    return [latest[host][1] for host in sorted(latest)]


def build_report(records, run_id=None, generated=None):
    """The merged report of raw or built records."""
    built = [r if isinstance(r, OrderedDict) and "timings" in r else build_record(r) for r in records]
    hosts = merge(built)
    passed = sum(1 for r in hosts if r["status"] == "pass")
    return OrderedDict([
        ("schema", SCHEMA),
        ("run_id", run_id),
        ("generated", generated),
        ("summary", OrderedDict([
            ("hosts", len(hosts)),
            ("passed", passed),
            ("failed", len(hosts) - passed),
            ("result", "pass" if hosts and passed == len(hosts) else "fail"),
        ])),
        ("hosts", hosts),
    ])


def render_json(report):
    return json.dumps(report, indent=2, sort_keys=False) + "\n"


def xml_text(value):
    """Text XML 1.0 can hold: invalid characters become U+FFFD."""
    if value is None:
        return u""
    if isinstance(value, bool):
        value = u"true" if value else u"false"
    return _XML_INVALID.sub(u"\ufffd", u"%s" % (value,))


def _seconds(value):
    return u"%.3f" % (value or 0)


def _properties(parent, pairs):
    props = ET.SubElement(parent, "properties")
    for name, value in pairs:
        if value is None:
            continue
        ET.SubElement(props, "property", {"name": name, "value": xml_text(value)})
    return props


def render_junit(report):
    """JUnit XML text of ``report`` (as built by ``build_report``)."""
    hosts = report["hosts"]
    failures = sum(1 for r in hosts if r["status"] != "pass")
    total = sum((r["timings"]["total_s"] or 0) for r in hosts)
    common = {"name": SUITE, "tests": str(len(hosts)), "failures": str(failures), "errors": "0",
              "time": _seconds(total)}
    root = ET.Element("testsuites", common)
    attrs = dict(common, skipped="0")
    if report.get("generated"):
        attrs["timestamp"] = xml_text(report["generated"])
    suite = ET.SubElement(root, "testsuite", attrs)
    _properties(suite, [("run_id", report.get("run_id")), ("schema", report["schema"])])
    for record in hosts:
        timings = record["timings"]
        case = ET.SubElement(suite, "testcase", {
            "classname": SUITE,
            "name": xml_text(record["host"]),
            "time": _seconds(timings["total_s"]),
        })
        dump = record["dump"] or {}
        _properties(case, [
            ("test_id", record["test_id"]),
            ("trigger_to_panic_s", timings["trigger_to_panic_s"]),
            ("panic_to_dump_saved_s", timings["panic_to_dump_saved_s"]),
            ("panic_to_host_back_s", timings["panic_to_host_back_s"]),
            ("dump_path", dump.get("path")),
            ("dump_host", dump.get("host")),
            ("dump_size", dump.get("size")),
            ("dump_format", dump.get("format")),
            ("saved_by", dump.get("saved_by")),
            ("lean_fallback", record.get("lean_fallback")),
            ("kernel_release", dump.get("kernel_release") or record["kernel_release"]),
            ("kdump_loaded_after", record.get("kdump_loaded_after")),
            ("failed_step", record["step"] if record["status"] != "pass" else None),
        ])
        if record["status"] != "pass":
            reason = xml_text(record["reason"])
            first_line = reason.splitlines()[0] if reason else reason
            failure = ET.SubElement(case, "failure", {"message": first_line, "type": "panic_test"})
            failure.text = reason
            if record.get("lean_fallback"):
                failure.text += u"\nThe lean capture left this crash's dump to kdump-tools: %s" % (
                    xml_text(record["lean_fallback"]),)
        out = ET.SubElement(case, "system-out")
        out.text = xml_text(json.dumps(record, indent=2))
    body = ET.tostring(root, encoding="unicode")
    return u'<?xml version="1.0" encoding="UTF-8"?>\n' + body + u"\n"
