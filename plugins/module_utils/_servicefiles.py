# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""Install a service's directories, files and systemd units in one pass (``service_files``).

One module run instead of two per ``copy``/``template`` and one per ``systemd_service``: on a
slow host (a TCG guest: 7-9 s per module run) the dump server's and the evidence service's
files cost minutes per playbook run otherwise.

* ``check_spec(directories, files, units)``: validate what the role asks for (``KdumpError``).
* ``check_absent(paths, files)``: validate the paths that must not exist.
* ``plan(directories, files, ids, absent)``: what differs from the host (pure but for
  ``lstat``/reads).
* ``apply(...)``: make it so: directories created then chowned/chmodded, files written to a
  ``mkstemp`` name in their directory, mode and owner set on the descriptor, fsynced, renamed;
  the absent paths unlinked (a link itself, never what it points to).
* ``systemctl_plan(units, show_out, changed_units)``: which ``enable``/``start``/``restart`` are
  needed, from ``systemctl show`` output.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re
import stat
import tempfile

from ansible_collections.crashkit.kdump.plugins.module_utils import _safefs
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError

UNIT_DIRS = ("/etc/systemd/system/", "/run/systemd/system/", "/usr/lib/systemd/system/", "/lib/systemd/system/")
_UNIT = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9@_.:-]{0,199}\.(?:service|timer|path|socket|target|mount)\Z")
_NAME = re.compile(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\Z")
_MODE = re.compile(r"\A0?[0-7]{3,4}\Z")
MAX_FILE = 16 * 1024 * 1024


def _check_path(path, what):
    if not isinstance(path, str) or not path.startswith("/") or "\0" in path:
        raise KdumpError("%s %r: an absolute path is needed" % (what, path))
    if ".." in path.split("/") or path.rstrip("/") == "":
        raise KdumpError("%s %r: no '..' and not / itself" % (what, path))
    return os.path.normpath(path)


def _check_mode(mode, what):
    if not isinstance(mode, str) or not _MODE.match(mode):
        raise KdumpError("%s: mode %r must be an octal string such as '0644'" % (what, mode))
    return int(mode, 8)


def _check_owner(entry, what):
    for key in ("owner", "group"):
        value = entry.get(key) or "root"
        if not _NAME.match(value):
            raise KdumpError("%s: %s %r is not a user or group name" % (what, key, value))
        entry[key] = value


def check_spec(directories, files, units):
    """Return normalised copies of the three lists; raise ``KdumpError`` on bad input."""
    dirs, out, seen = [], [], set()
    for entry in directories or []:
        entry = dict(entry)
        entry["path"] = _check_path(entry.get("path"), "directory")
        entry["mode"] = _check_mode(entry.get("mode") or "0755", entry["path"])
        _check_owner(entry, entry["path"])
        dirs.append(entry)
    for entry in files or []:
        entry = dict(entry)
        entry["path"] = _check_path(entry.get("path"), "file")
        if entry["path"] in seen:
            raise KdumpError("file %s is listed twice" % entry["path"])
        seen.add(entry["path"])
        entry["mode"] = _check_mode(entry.get("mode") or "0644", entry["path"])
        _check_owner(entry, entry["path"])
        content = entry.get("content")
        if not isinstance(content, str):
            raise KdumpError("file %s: content must be text" % entry["path"])
        entry["data"] = content.encode("utf-8")
        if len(entry["data"]) > MAX_FILE:
            raise KdumpError("file %s: content over %d bytes" % (entry["path"], MAX_FILE))
        out.append(entry)
    for unit in units or []:
        if not isinstance(unit, str) or not _UNIT.match(unit):
            raise KdumpError("unit %r: a systemd unit name (.service, .timer, .path, .socket, .target, .mount)" % (unit,))
    return dirs, out, list(units or [])


def check_absent(paths, files):
    """Normalised copies of the paths that must not exist; none of them may be one of
    ``files`` (``check_spec``'s result)."""
    out, wanted = [], set(entry["path"] for entry in files)
    for path in paths or []:
        path = _check_path(path, "absent path")
        if path in wanted:
            raise KdumpError("%s is both a file to install and a path to remove" % path)
        if path not in out:
            out.append(path)
    return out


def _lstat(path):
    try:
        return os.lstat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise KdumpError("cannot stat %s: %s" % (path, exc))


def _read(path, size):
    """The bytes of the regular file ``path``, read without following a link (``None`` when it
    is anything else or bigger than MAX_FILE)."""
    if size > MAX_FILE:
        return None
    try:
        fd = _safefs.open_regular(path)
    except (_safefs.UnsafeFile, OSError):
        return None
    try:
        data = _safefs.read_head(fd, MAX_FILE + 1)
    finally:
        os.close(fd)
    return data if len(data) <= MAX_FILE else None


def _meta_differs(st, entry, ids):
    uid, gid = ids(entry["owner"], entry["group"])
    if uid is None or gid is None:
        return True
    return stat.S_IMODE(st.st_mode) != entry["mode"] or st.st_uid != uid or st.st_gid != gid


def plan_empty_dirs(paths, removed):
    """The directories of ``paths`` (``check_absent``-normalised) that are empty once ``removed``
    and the directories before them in ``paths`` are gone: removed in the order given (a
    directory's subdirectories first). Anything else in one, or a link or file at its path,
    leaves it alone; nothing is removed recursively."""
    gone = set(removed)
    out = []
    for path in paths:
        st = _lstat(path)
        if st is None or not stat.S_ISDIR(st.st_mode):
            continue
        try:
            names = os.listdir(path)
        except OSError as exc:
            raise KdumpError("cannot list %s: %s" % (path, exc))
        if all(os.path.join(path, name) in gone for name in names):
            out.append(path)
            gone.add(path)
    return out


def plan(directories, files, ids, absent=()):
    """What must change. ``ids(owner, group)`` gives (uid, gid), ``None`` for a name the host
    does not know (yet: check mode before the account exists). Returns a dict with
    ``directories`` and ``files`` lists of ``(entry, what)``; ``what`` is ``create``,
    ``replace`` (a link or another kind of file in the way: replaced, never followed), ``content``
    or ``attributes``; ``removed``, the ``absent`` paths that exist (a directory among them is
    refused); plus ``before`` text per file path for the diff."""
    out = {"directories": [], "files": [], "removed": [], "before": {}}
    for path in absent:
        st = _lstat(path)
        if st is None:
            continue
        if stat.S_ISDIR(st.st_mode):
            raise KdumpError("%s is a directory, not removed: nothing was changed" % path)
        out["removed"].append(path)
        if stat.S_ISREG(st.st_mode):
            out["before"][path] = _read(path, st.st_size)
    for entry in directories:
        st = _lstat(entry["path"])
        if st is None:
            out["directories"].append((entry, "create"))
        elif not stat.S_ISDIR(st.st_mode):
            raise KdumpError("%s exists and is not a directory: nothing was changed" % entry["path"])
        elif _meta_differs(st, entry, ids):
            out["directories"].append((entry, "attributes"))
    for entry in files:
        st = _lstat(entry["path"])
        if st is None:
            out["files"].append((entry, "create"))
            continue
        if stat.S_ISDIR(st.st_mode):
            raise KdumpError("%s is a directory: nothing was changed" % entry["path"])
        current = _read(entry["path"], st.st_size) if stat.S_ISREG(st.st_mode) else None
        if not stat.S_ISREG(st.st_mode):
            out["files"].append((entry, "replace"))
        elif current != entry["data"]:
            out["files"].append((entry, "content"))
            out["before"][entry["path"]] = current
        elif _meta_differs(st, entry, ids):
            out["files"].append((entry, "attributes"))
    return out


def _set_meta(fd, entry, ids):
    uid, gid = ids(entry["owner"], entry["group"])
    if uid is None or gid is None:
        raise KdumpError("%s: no user %r or group %r on this host" % (entry["path"], entry["owner"], entry["group"]))
    os.fchown(fd, uid, gid)
    os.fchmod(fd, entry["mode"])


def _apply_dir(entry, what, ids):
    if what == "create":
        parent = os.path.dirname(entry["path"])
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o755)
        os.mkdir(entry["path"], 0o700)
    fd = os.open(entry["path"], os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0))
    try:
        _set_meta(fd, entry, ids)
    finally:
        os.close(fd)


def _apply_file(entry, what, ids):
    if what == "attributes":
        fd = os.open(entry["path"], os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise KdumpError("%s changed while it was read: nothing was changed" % entry["path"])
            _set_meta(fd, entry, ids)
        finally:
            os.close(fd)
        return
    directory, name = os.path.split(entry["path"])
    fd, tmp = tempfile.mkstemp(prefix=".%s." % name, dir=directory)
    try:
        try:
            view = memoryview(entry["data"])
            while view:
                view = view[os.write(fd, view):]
            _set_meta(fd, entry, ids)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, entry["path"])
        tmp = None
    finally:
        if tmp is not None:
            os.unlink(tmp)


def apply(planned, ids):
    """Carry out ``plan()``'s result: directories first (in the order given), then files, then
    the removals."""
    try:
        for entry, what in planned["directories"]:
            _apply_dir(entry, what, ids)
        for entry, what in planned["files"]:
            _apply_file(entry, what, ids)
        for path in planned.get("removed", ()):
            try:
                os.unlink(path)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise
        for path in planned.get("removed_dirs", ()):
            try:
                os.rmdir(path)
            except OSError as exc:
                # something was put there since the plan: it stays, with the directory
                if exc.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST):
                    raise
    except OSError as exc:
        raise KdumpError("cannot install %s: %s" % (getattr(exc, "filename", None) or "a file", exc))


def unit_files_changed(planned):
    """Unit names whose own file under a systemd unit directory changes (daemon-reload needed)."""
    names = []
    for path in [entry["path"] for entry, _what in planned["files"]] + list(planned.get("removed", ())):
        if path.startswith(UNIT_DIRS):
            names.append(os.path.basename(path))
    return names


def parse_show(text):
    """The blocks of ``systemctl show --property=... U...`` (one per unit, in the order given,
    separated by empty lines) as a list of dicts."""
    blocks, current = [], {}
    for line in (text or "").splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
            current = {}
            continue
        key, _sep, value = line.partition("=")
        current[key] = value
    if current:
        blocks.append(current)
    return blocks


ENABLED = ("enabled", "enabled-runtime", "static", "alias", "indirect", "generated")
RUNNING = ("active", "reloading", "activating")


def systemctl_plan(units, show_out, changed_units):
    """From ``systemctl show --property=UnitFileState,ActiveState U...`` return the units to
    ``enable``, ``start`` and ``restart`` (running units whose unit file changes). A unit
    without a block (or a unit systemd does not know yet) is enabled and started."""
    blocks = parse_show(show_out)
    if len(blocks) != len(units):
        blocks = [{}] * len(units)
    todo = {"enable": [], "start": [], "restart": []}
    for unit, block in zip(units, blocks):
        if block.get("UnitFileState", "") not in ENABLED:
            todo["enable"].append(unit)
        if block.get("ActiveState", "") not in RUNNING:
            todo["start"].append(unit)
        elif unit in changed_units:
            todo["restart"].append(unit)
    return todo
