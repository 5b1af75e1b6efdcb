# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""The crash directories below a dump root, read as hostile data (``vmcore_list``, the host's
evidence service and the dump server's ingest share this).

``list_crashes(root, ...)`` -> ``{"exists", "crashes", "skipped_crashes"}``: every crash
directory directly below ``root`` that is a plain directory owned by root, by this process's user
or by the root's owner and not writable by others, with its regular files (links, devices and
FIFOs left out) and their ``dev``/``ino``, size, mtime and, optionally, SHA-256 read from the
checked descriptor; dump headers via ``_vmcore``. Others are listed as skipped with the reason.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

from ansible_collections.crashkit.kdump.plugins.module_utils import _bundle, _safefs, _store, _vmcore
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError, ValidationError

MAX_DEPTH = 3


def _skip(rel, name):
    """Files the store keeps for itself: partial copies anywhere, its own names at the top."""
    return name.endswith((_store.PART_SUFFIX, _store.STATE_SUFFIX)) or (rel == name and name in _store.RESERVED_NAMES)


def describe(root_fd, name, params, known, uids):
    """``(crash, reason to skip)`` of the crash directory ``name`` below ``root_fd``."""
    directory = os.path.join(params["path"], name)
    fd = _safefs.open_dir(name, dir_fd=root_fd)
    try:
        st = os.fstat(fd)
        if not _safefs.owner_ok(st, uids):
            return None, ("owned by uid %d or writable by others: not written by the capture, left alone"
                          % st.st_uid)
        names = os.listdir(fd)
        temporary = [n for n in names if (_vmcore.dump_name(n) or (None, True))[1] is False]
        records = _vmcore.describe_dir(directory, names, dir_fd=fd)
        files = []
        for rel, fst in _safefs.list_files(fd, depth=MAX_DEPTH, skip=_skip):
            entry = {"path": rel, "size": fst.st_size, "mtime": int(fst.st_mtime), "sha256": None,
                     "hashed": False, "dev": fst.st_dev, "ino": fst.st_ino}
            if params["checksum"]:
                hint = known.get(os.path.join(directory, rel))
                if (hint and hint.get("size") == fst.st_size and hint.get("mtime") == int(fst.st_mtime)
                        and hint.get("sha256")):
                    entry["sha256"] = hint["sha256"]
                else:
                    handle = _safefs.open_rel(fd, rel, expect=(fst.st_dev, fst.st_ino))
                    try:
                        entry["sha256"] = _safefs.sha256_fd(handle)
                    finally:
                        os.close(handle)
                    entry["hashed"] = True
            files.append(entry)
    finally:
        os.close(fd)
    crash_time = next((r["crash_time"] for r in records if r.get("crash_time")), None)
    release = next((r["kernel_release"] for r in records if r.get("kernel_release")), None)
    problems = ["%s: %s" % (r["name"], r["reason"]) for r in records if not r["complete"]]
    newest = max([f["mtime"] for f in files] or [0])
    crash = {
        "name": name, "label": _safefs.display(name, 120), "dir": directory,
        "crash_id": _store.crash_id(name),
        "time": int(crash_time) if crash_time else newest,
        "crash_time": int(crash_time) if crash_time else None,
        "kernel_release": release,
        "complete": bool(records) and not problems,
        "reason": "; ".join(problems) if problems else (None if records else "no dump file in the directory"),
        "files": files,
    }
    skip = None
    if temporary and not params["include_incomplete"]:
        skip = "%s still has its temporary name: being written, or the capture failed" % ", ".join(sorted(temporary))
    elif not records and _vmcore.pick_dmesg(names)[0] is None:
        skip = "neither a dump nor a kernel log in it"
    elif not files:
        skip = "no files"
    return crash, skip


def list_crashes(path, crashes=None, checksum=False, known=(), include_incomplete=False):
    """See the module docstring."""
    return run({"path": path, "crashes": crashes, "checksum": checksum, "known": list(known or ()),
                "include_incomplete": include_incomplete}, with_identity=False)


def run(params, with_identity=True, identity=None):
    """The listing of ``params`` (vmcore_list's options); ``identity()`` gives the host's
    identity for the result when ``with_identity``."""
    known = {}
    for item in params["known"]:
        if isinstance(item, dict) and item.get("path"):
            known[item["path"]] = item
    result = {"changed": False, "crashes": [], "skipped_crashes": []}
    if with_identity and identity is not None:
        result["host"] = identity()
    root = params["path"]
    if not isinstance(root, str) or not os.path.isabs(root):
        raise ValidationError("path must be an absolute path, not %s" % _safefs.display(root))
    params["path"] = root = os.path.normpath(root)
    result["exists"] = os.path.isdir(root)
    if not result["exists"]:
        return result
    wanted = set(params["crashes"]) if params["crashes"] is not None else None
    root_fd = _safefs.open_dir(root, follow=True)
    try:
        uids = _bundle.crash_dir_uids(root_fd)
        for name in sorted(os.listdir(root_fd)):
            if wanted is not None and name not in wanted:
                continue
            try:
                if not stat.S_ISDIR(_safefs.lstat_at(root_fd, name).st_mode):
                    continue
                crash, skip = describe(root_fd, name, params, known, uids)
            except (IOError, OSError, KdumpError) as exc:
                skip, crash = "cannot read: %s" % (getattr(exc, "strerror", None) or exc), None
            if skip:
                result["skipped_crashes"].append({"name": name, "label": _safefs.display(name, 120),
                                                  "dir": os.path.join(root, name), "reason": skip})
            else:
                result["crashes"].append(crash)
    finally:
        os.close(root_fd)
    result["crashes"].sort(key=lambda c: (c["time"], c["name"]))
    return result
