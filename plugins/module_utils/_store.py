# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""The central crash store: identities, layout, manifests and retention plans. Pure logic.

Layout: ``<store>/<host id>/<crash id>/`` holds the files of one crash directory of a host (the
dump, its kernel log, the evidence bundle, under their relative paths) and ``manifest.json``.

* **host id** (``host_id``): the host name (sanitised) and the first 12 hex digits of
  ``/etc/machine-id``: stable across address changes and re-installs keep apart hosts that share
  a name. Without a machine id it is the host name alone.
* **crash id** (``crash_id``): the crash directory's name as the dump tool wrote it
  (``202405181200``, ``10.0.0.5-2024-05-18-12:00:01``), with characters that are awkward in
  paths, tar and scp (``:`` and anything outside ``[A-Za-z0-9._-]``) replaced by ``-``.
* **manifest** (``build_manifest``/``validate_manifest``): JSON with format version, host id,
  host name, machine id, source host and directory, crash id and time, collection time, and per
  file its relative path, size, SHA-256 (computed on both ends and equal) and source mtime.
* **retention** (``plan_store_retention``, ``plan_host_retention``): given a listing and "now",
  which crashes to keep and which to drop, each with a reason. A host's dump is only ever
  planned for deletion when its central copy is verified.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re

from ansible_collections.crashkit.kdump.plugins.module_utils._errors import (
    ParseError,
    ValidationError,
)

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
PART_SUFFIX = ".part"
STATE_SUFFIX = ".part.json"
LOCK_NAME = ".collect.lock"
MAX_ID = 96
DAY = 86400
# Names the store and the report use for their own files and directories.
RESERVED_NAMES = frozenset(["index.html", "manifest.json", "triage.json", "assets", "crashes", "hosts"])
# Times outside [1990-01-01, 2100-01-01) in a manifest are not believed (see _vmcore.plausible_time).
MIN_TIME = 631152000
MAX_TIME = 4102444800
MAX_TEXT = 4096

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MACHINE_ID = re.compile(r"^[0-9a-f]{32}\Z")
_SHA256 = re.compile(r"^[0-9a-f]{64}\Z")


def sanitize_id(text, what="id"):
    """``text`` made safe as one path component: ``[A-Za-z0-9._-]``, no leading dot, bounded."""
    if not isinstance(text, str):
        raise ValidationError("%s must be text, not %s" % (what, type(text).__name__))
    clean = _UNSAFE.sub("-", text.strip()).strip(".-")
    clean = re.sub(r"-{2,}", "-", clean)[:MAX_ID].rstrip(".-")
    if not clean:
        raise ValidationError("%s %r has no usable characters for a directory name" % (what, text))
    return clean


def normalize_machine_id(text):
    """The machine id (32 lower-case hex digits) of ``/etc/machine-id`` text, or ``None``."""
    if not text:
        return None
    value = text.strip().lower()
    if not _MACHINE_ID.match(value) or value == "0" * 32:
        return None
    return value


def host_id(hostname, machine_id):
    """Stable store directory name of a host: ``<hostname>-<machine id[:12]>``."""
    if not hostname or not isinstance(hostname, str):
        raise ValidationError("the host has no host name to build its store id from")
    name = sanitize_id(hostname.strip().split(".")[0].lower() or hostname, "host name")
    mid = normalize_machine_id(machine_id)
    if mid is None:
        return name
    return "%s-%s" % (name[:MAX_ID - 13], mid[:12])


def crash_id(dirname):
    """Store directory name of a crash directory name.

    Names that are already safe are kept as they are (``202405181200``); any other name is
    sanitised and gets ``-`` and 8 hex digits of its SHA-256, so two names that sanitise alike
    (``...-12:00:01`` and ``...-12-00-01``) never share a store directory.
    """
    if not isinstance(dirname, str):
        raise ValidationError("crash directory name must be text, not %s" % type(dirname).__name__)
    clean = sanitize_id(dirname.replace(":", "-"), "crash directory name")
    if clean == dirname and not _reserved(clean):
        return clean
    digest = hashlib.sha256(dirname.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return "%s-%s" % (clean[:MAX_ID - 9], digest)


def store_host_id(name):
    """The store directory name of a host from the CONTROLLER's side (its inventory name or an
    explicit mapping), never from what the host reports about itself. Names the store uses for
    its own files (``report.*``, ``index.html``) get ``-host`` appended."""
    clean = sanitize_id(name, "host id")
    if _reserved(clean):
        clean = clean[:MAX_ID - 5] + "-host"
    return clean


def _reserved(name):
    lower = name.lower()
    return lower in RESERVED_NAMES or lower.startswith("report.") or lower == "report"


def join_store(store, *parts):
    """``store/part/...``, refusing parts that would leave the store."""
    for part in parts:
        if not part or part in (".", "..") or "/" in part or "\0" in part:
            raise ValidationError("%r is not a valid store path component" % (part,))
    return os.path.join(store, *parts)


def safe_relpath(rel):
    """A relative file path of a crash directory, refused when absolute or escaping."""
    if not isinstance(rel, str) or not rel or "\0" in rel:
        raise ValidationError("invalid relative path %r" % (rel,))
    norm = os.path.normpath(rel)
    if norm.startswith("/") or norm == ".." or norm.startswith("../") or norm == ".":
        raise ValidationError("relative path %r leaves its crash directory" % rel)
    if norm.endswith((PART_SUFFIX, STATE_SUFFIX)) or os.path.basename(norm) == MANIFEST_NAME:
        raise ValidationError("file name %r is reserved by the store" % rel)
    return norm


# --- manifest ---------------------------------------------------------------------------------

def build_manifest(host, crash, files, collected_at, tool="crashkit.kdump.vmcore_collect"):
    """The manifest dict of one collected crash.

    ``host``: ``host_id``, ``hostname``, ``machine_id``, ``inventory_hostname``;
    ``crash``: ``crash_id``, ``source_dir``, ``source_name``, ``crash_time`` (epoch or None),
    ``kernel_release``; ``files``: dicts with ``path`` (relative), ``size``, ``sha256``,
    ``mtime``.
    """
    entries = []
    for item in sorted(files, key=lambda f: f["path"]):
        entries.append({
            "path": safe_relpath(item["path"]),
            "size": int(item["size"]),
            "sha256": item["sha256"],
            "mtime": int(item["mtime"]) if item.get("mtime") is not None else None,
        })
    manifest = {
        "format": MANIFEST_FORMAT,
        "tool": tool,
        "host_id": host["host_id"],
        "hostname": host.get("hostname"),
        "machine_id": host.get("machine_id"),
        "inventory_hostname": host.get("inventory_hostname"),
        "crash_id": crash["crash_id"],
        "source_dir": crash["source_dir"],
        "source_name": crash.get("source_name"),
        "crash_time": bounded_time(crash.get("crash_time")),
        "kernel_release": crash.get("kernel_release"),
        "collected_at": int(collected_at),
        "total_size": sum(e["size"] for e in entries),
        "files": entries,
    }
    validate_manifest(manifest)
    return manifest


def bounded_time(value):
    """``value`` as an int epoch when it is a plausible time, else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = int(value)
    return value if MIN_TIME <= value <= MAX_TIME else None


def dump_manifest(manifest):
    """Canonical JSON text of a manifest."""
    return json.dumps(manifest, indent=2, sort_keys=True) + "\n"


def validate_manifest(data):
    """Raise ``ParseError`` when ``data`` is not a manifest this code wrote."""
    if not isinstance(data, dict):
        raise ParseError("manifest is not a JSON object")
    if data.get("format") != MANIFEST_FORMAT:
        raise ParseError("manifest format %r is not %d" % (data.get("format"), MANIFEST_FORMAT))
    for key in ("host_id", "crash_id", "source_dir"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ParseError("manifest has no %s" % key)
    for key in ("host_id", "crash_id"):
        if _UNSAFE.search(data[key]) or data[key].startswith(".") or len(data[key]) > MAX_ID:
            raise ParseError("manifest %s %r is not a store directory name" % (key, data[key][:100]))
    for key in ("crash_time", "collected_at"):
        value = data.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or not MIN_TIME <= value <= MAX_TIME):
            raise ParseError("manifest %s %r is not a plausible time" % (key, str(value)[:40]))
    for key, value in data.items():
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise ParseError("manifest %s is longer than %d characters" % (key, MAX_TEXT))
    files = data.get("files")
    if not isinstance(files, list) or not files:
        raise ParseError("manifest lists no files")
    seen = set()
    for item in files:
        if not isinstance(item, dict):
            raise ParseError("manifest file entry is not an object")
        try:
            path = safe_relpath(item.get("path"))
        except ValidationError as exc:
            raise ParseError("manifest: %s" % exc)
        if path in seen:
            raise ParseError("manifest lists %s twice" % path)
        seen.add(path)
        size = item.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ParseError("manifest: %s has no valid size" % path)
        if not isinstance(item.get("sha256"), str) or not _SHA256.match(item["sha256"]):
            raise ParseError("manifest: %s has no valid sha256" % path)
        mtime = item.get("mtime")
        if mtime is not None and (not isinstance(mtime, int) or isinstance(mtime, bool) or abs(mtime) > 1 << 40):
            raise ParseError("manifest: %s has no valid mtime" % path)
    return data


def parse_manifest(text):
    """A validated manifest from JSON text."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ParseError("manifest is not valid JSON: %s" % exc)
    return validate_manifest(data)


def compare_files(manifest, source_files):
    """What differs between a manifest and the source's current files.

    ``source_files``: dicts with ``path``, ``size``, ``sha256``. Returns a list of
    ``(path, problem)``; empty when the central copy matches the source exactly.
    """
    problems = []
    known = {f["path"]: f for f in manifest["files"]}
    current = {f["path"]: f for f in source_files}
    for path in sorted(set(known) | set(current)):
        if path not in known:
            problems.append((path, "not in the central copy"))
        elif path not in current:
            problems.append((path, "no longer on the source"))
        elif known[path]["size"] != current[path]["size"]:
            problems.append((path, "size %d centrally, %d on the source" % (
                known[path]["size"], current[path]["size"])))
        elif current[path].get("sha256") and known[path]["sha256"] != current[path]["sha256"]:
            problems.append((path, "SHA-256 differs between the central copy and the source"))
    return problems


# --- retention --------------------------------------------------------------------------------

def _check_limits(keep, max_age_days):
    if keep is not None and (not isinstance(keep, int) or isinstance(keep, bool) or keep < 1):
        raise ValidationError("the number of crashes to keep must be an integer of at least 1, not %r" % (keep,))
    if max_age_days is not None and (isinstance(max_age_days, bool) or not isinstance(max_age_days, (int, float))
                                     or max_age_days <= 0):
        raise ValidationError("the maximum age must be a positive number of days, not %r" % (max_age_days,))


def _newest_first(crashes):
    return sorted(crashes, key=lambda c: (c.get("time") or 0, c["crash_id"]), reverse=True)


def plan_store_retention(crashes, now, keep=None, max_age_days=None):
    """Which crashes of one host's store directory to keep and to drop.

    ``crashes``: dicts with ``crash_id`` and ``time`` (epoch of the crash, or of its newest file
    when the crash time is unknown). Keeps the ``keep`` newest and drops anything older than
    ``max_age_days``. Returns ``{"keep": [ids], "drop": [{"crash_id", "reason"}]}``, newest first.
    """
    _check_limits(keep, max_age_days)
    plan = {"keep": [], "drop": []}
    # A time in the future (a host's clock, or a forged header) counts as now: it must neither
    # stay "newest" forever nor escape the age limit.
    crashes = [dict(c, time=min(c["time"], now) if c.get("time") is not None else None) for c in crashes]
    for rank, crash in enumerate(_newest_first(crashes)):
        reasons = []
        if keep is not None and rank >= keep:
            reasons.append("not among the %d newest of the host" % keep)
        if max_age_days is not None and crash.get("time") is not None:
            age = (now - crash["time"]) / float(DAY)
            if age > max_age_days:
                reasons.append("%.1f days old, older than %g days" % (age, max_age_days))
        if reasons:
            plan["drop"].append({"crash_id": crash["crash_id"], "reason": "; ".join(reasons)})
        else:
            plan["keep"].append(crash["crash_id"])
    return plan


def plan_host_retention(crashes, verified, keep):
    """Which crash directories of a host to delete: beyond the ``keep`` newest AND verified.

    ``crashes``: dicts with ``crash_id``, ``name`` (the directory on the host) and ``time``;
    ``verified``: the crash ids whose central copy is verified. Returns ``{"keep": [{"name",
    "reason"}], "drop": [{"name", "crash_id", "reason"}]}``.
    """
    _check_limits(keep, None)
    if keep is None:
        raise ValidationError("host retention needs the number of crashes to keep")
    verified = set(verified)
    plan = {"keep": [], "drop": []}
    for rank, crash in enumerate(_newest_first(crashes)):
        if rank < keep:
            plan["keep"].append({"name": crash["name"], "reason": "among the %d newest" % keep})
        elif crash["crash_id"] not in verified:
            plan["keep"].append({"name": crash["name"], "reason": "older, but its central copy is not verified"})
        else:
            plan["drop"].append({"name": crash["name"], "crash_id": crash["crash_id"],
                                 "reason": "not among the %d newest; central copy verified" % keep})
    return plan
