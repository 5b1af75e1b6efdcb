# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""File access for hostile crash data: no links followed, no fixed temporary names, bounded reads.

Crash directories are written by the capture environment, but on some hosts by anyone
(a world-writable ``/var/crash``) and on a dump server by clients. Everything that reads or
writes near them goes through here:

* ``open_dir``/``open_regular``/``open_beneath`` (from ``_hostread``): ``O_NOFOLLOW`` on every
  component below an operator-given root, regular files only, never blocking on a FIFO, and the
  listed ``(dev, ino)`` checked on the descriptor that is then read.
* ``list_files(dir_fd)``: the regular files below a directory descriptor, links skipped, with
  their ``stat`` (device and inode for the later check).
* ``read_head``, ``iter_lines``: reads with a byte limit and a per-line limit (a newline-free
  200 MB "log" costs at most ``max_line`` of memory); ``sha256_fd``/``sha256_of``: a whole file's
  SHA-256, read in chunks.
* ``write_file_at``, ``mkstemp_at``: new files only under a random name created with
  ``O_CREAT|O_EXCL|O_NOFOLLOW``, the mode set on the descriptor, then renamed into place.
* ``display``: a host-chosen name made safe for a terminal or a log line.

Raises ``HostError`` subclasses (``UnsafeFile`` for what is refused). Standard library only.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import codecs
import errno
import hashlib
import os
import re
import stat
import sys

from ansible_collections.crashkit.kdump.plugins.module_utils._errors import HostError, ValidationError
from ansible_collections.crashkit.kdump.plugins.module_utils import _hostread
from ansible_collections.crashkit.kdump.plugins.module_utils._hostread import Refused

CHUNK = 1024 * 1024
MAX_LINE = 64 * 1024
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_CONTROL = re.compile(u"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


class UnsafeFile(HostError):
    """A file or directory that is refused: a link, not regular, replaced, or wrongly owned."""


def _refused(exc):
    return UnsafeFile(str(exc))


def check_name(name, what="name"):
    """``name`` when it is one path component (no ``/``, not ``.``/``..``, no NUL), else raise."""
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\0" in name:
        raise ValidationError("%s %s is not a single file name" % (what, display(name)))
    return name


def open_dir(path, dir_fd=None, follow=False):
    """Directory descriptor (see ``_hostread.open_dir``); refusals as ``UnsafeFile``."""
    try:
        return _hostread.open_dir(path, dir_fd=dir_fd, follow=follow)
    except Refused as exc:
        raise _refused(exc)


def open_regular(name, dir_fd=None, expect=None):
    """Read descriptor of a regular file, never through a link (see ``_hostread``)."""
    try:
        return _hostread.open_regular(name, dir_fd=dir_fd, expect=expect)
    except Refused as exc:
        raise _refused(exc)


def open_beneath(root, rel, expect=None, follow_root=True):
    try:
        return _hostread.open_beneath(root, rel, expect=expect, follow_root=follow_root)
    except Refused as exc:
        raise _refused(exc)


def open_dir_beneath(root, rel, follow_root=True):
    """Descriptor of the directory ``root/rel`` (``rel`` may be ``""``), nothing below ``root``
    followed."""
    parts = [p for p in rel.split("/") if p] if rel else []
    try:
        return _hostread.open_dir_beneath(root, parts, follow_root)
    except Refused as exc:
        raise _refused(exc)


def open_rel(dir_fd, rel, expect=None):
    """Read descriptor of the regular file ``rel`` below the directory ``dir_fd``, no component
    followed."""
    parts = [p for p in rel.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise UnsafeFile("%s is not a relative path below its directory" % display(rel))
    current = dir_fd
    try:
        for part in parts[:-1]:
            nxt = open_dir(part, dir_fd=current)
            if current != dir_fd:
                os.close(current)
            current = nxt
        return open_regular(parts[-1], dir_fd=current, expect=expect)
    finally:
        if current != dir_fd:
            os.close(current)


def lstat_at(dir_fd, name):
    return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)


def owner_ok(st, uids):
    """Whether a directory's owner is one of ``uids`` and others cannot write into it."""
    return st.st_uid in uids and not st.st_mode & stat.S_IWOTH


def list_files(dir_fd, depth=3, skip=None):
    """``[(relative path, stat)]`` of the regular files below ``dir_fd`` (``depth`` levels),
    sorted. Links, devices, FIFOs and sockets are left out; ``skip(rel, name)`` leaves out more."""
    found = []
    pending = [("", dir_fd, 0)]
    opened = []
    try:
        while pending:
            rel, fd, level = pending.pop()
            for name in sorted(os.listdir(fd)):
                child = name if not rel else rel + "/" + name
                if skip is not None and skip(child, name):
                    continue
                try:
                    st = lstat_at(fd, name)
                except OSError:
                    continue  # gone since the listing
                if stat.S_ISDIR(st.st_mode):
                    if level + 1 < depth:
                        try:
                            sub = open_dir(name, dir_fd=fd)
                        except (UnsafeFile, OSError):
                            continue
                        opened.append(sub)
                        pending.append((child, sub, level + 1))
                elif stat.S_ISREG(st.st_mode):
                    found.append((child, st))
    finally:
        for fd in opened:
            os.close(fd)
    return sorted(found, key=lambda item: item[0])


def read_head(fd, limit):
    """At most ``limit`` bytes from the start of ``fd``."""
    os.lseek(fd, 0, os.SEEK_SET)
    parts = []
    left = limit
    while left > 0:
        # 64 KiB at a time: a large read count makes /proc/sys files fail with ENOMEM.
        data = os.read(fd, min(65536, left))
        if not data:
            break
        parts.append(data)
        left -= len(data)
    return b"".join(parts)


def sha256_fd(fd, chunk=CHUNK):
    """SHA-256 hex digest of everything in ``fd`` from its start."""
    digest = hashlib.sha256()
    os.lseek(fd, 0, os.SEEK_SET)
    while True:
        data = os.read(fd, chunk)
        if not data:
            break
        digest.update(data)
    return digest.hexdigest()


def sha256_of(path, chunk=CHUNK):
    """``sha256_fd`` of the regular file ``path``, never through a link."""
    fd = open_regular(path)
    try:
        return sha256_fd(fd, chunk)
    finally:
        os.close(fd)


def read_small(name, dir_fd=None, limit=65536):
    """Text (UTF-8, undecodable bytes replaced) of the first ``limit`` bytes of a regular file,
    or ``None`` when it does not exist or is refused."""
    try:
        fd = open_regular(name, dir_fd=dir_fd)
    except (UnsafeFile, OSError):
        return None
    try:
        return read_head(fd, limit).decode("utf-8", "replace")
    finally:
        os.close(fd)


def iter_lines(fd, max_total=64 * 1024 * 1024, max_line=MAX_LINE, start=0):
    """Text lines of ``fd`` from ``start``, each ending in ``\\n``; a line longer than
    ``max_line`` characters is cut there (the rest of it is skipped); reading stops after
    ``max_total`` bytes. Memory is bounded by ``max_line`` and the read chunk."""
    os.lseek(fd, start, os.SEEK_SET)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    seen = 0
    line = []
    length = 0
    skipping = False
    while seen < max_total:
        data = os.read(fd, min(CHUNK, max_total - seen))
        if not data:
            break
        seen += len(data)
        text = decoder.decode(data)
        pos = 0
        while pos < len(text):
            end = text.find("\n", pos)
            piece = text[pos:] if end < 0 else text[pos:end]
            if not skipping:
                room = max_line - length
                if len(piece) > room:
                    piece = piece[:room]
                    skipping = True
                line.append(piece)
                length += len(piece)
            if end < 0:
                break
            yield "".join(line) + "\n"
            line, length, skipping = [], 0, False
            pos = end + 1
    tail = decoder.decode(b"", True)
    if tail and not skipping:
        line.append(tail[:max(0, max_line - length)])
    if line and any(line):
        yield "".join(line)


def mkstemp_at(dir_fd, prefix, suffix="", mode=0o600):
    """``(fd, name)`` of a new file in ``dir_fd`` under a random name (O_EXCL, no link)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
    for _attempt in range(100):
        name = "%s%s%s" % (prefix, os.urandom(6).hex(), suffix)
        try:
            fd = os.open(name, flags, mode, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                continue
            raise
        os.fchmod(fd, mode)
        return fd, name
    raise HostError("cannot create a temporary file (%s...)" % prefix)  # pragma: no cover


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_file_at(dir_fd, name, data, mode=0o600):
    """Make ``name`` in ``dir_fd`` hold ``data`` (bytes or text): a new file under a random name,
    fsynced, renamed over ``name``. A directory or other non-file at ``name`` is refused."""
    check_name(name)
    if not isinstance(data, bytes):
        data = data.encode("utf-8")
    try:
        st = lstat_at(dir_fd, name)
    except OSError:
        st = None
    if st is not None and not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
        raise UnsafeFile("%s exists and is not a regular file" % display(name))
    fd, tmp = mkstemp_at(dir_fd, ".%s." % name[:40], ".tmp", mode)
    try:
        write_all(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp, dir_fd=dir_fd)
        raise
    os.close(fd)
    try:
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError:
        os.unlink(tmp, dir_fd=dir_fd)
        raise
    fsync_fd(dir_fd)


def fsync_fd(fd):
    try:
        os.fsync(fd)
    except OSError:
        pass


def private_dir(path, mode=0o700, parents=True):
    """Make sure ``path`` is a directory (not a link), mode ``mode``; create it if missing."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise
        parent = os.path.dirname(path.rstrip("/")) or "/"
        if parents and not os.path.isdir(parent):
            private_dir(parent, mode, parents)
        try:
            os.mkdir(path, mode)
        except OSError as exc2:
            if exc2.errno != errno.EEXIST:
                raise
        st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeFile("%s is a symbolic link or not a directory" % path)
    if stat.S_IMODE(st.st_mode) != mode and st.st_uid == os.geteuid():
        os.chmod(path, mode)
    return path


def say(message):
    """One line to standard output, flushed (the services' progress: journald reads it at once)."""
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def display(text, limit=300):
    """``text`` safe to print on a terminal or in one log line: control characters (and the
    Unicode bidi/line separators) shown as ``\\xNN``/``\\uNNNN``, at most ``limit`` characters."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        text = repr(text)

    def escape(match):
        code = ord(match.group(0))
        return "\\x%02x" % code if code < 256 else "\\u%04x" % code
    clean = _CONTROL.sub(escape, text)
    if len(clean) > limit:
        clean = clean[:limit] + "..."
    return clean
