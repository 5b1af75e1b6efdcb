# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""Open one file below a directory without following links, and stream it: the host's reader.

This file is two things at once, so that there is one implementation:

* a module: ``open_beneath(root, rel, expect)`` is what ``_safefs`` and the modules use to open a
  file of a crash directory on the host;
* a program: ``vmcore_collect`` runs this file's source on the host (``python3 -c <source>
  <request>``, under ``sudo -n`` when become is wanted) to stream a file to the controller. The
  request is one argument, base64 of JSON (``root``, ``rel``, ``dev``, ``ino``, ``size``,
  ``offset``, ``length``, ``mode``): nothing in the command line comes from the host unencoded.

What it guarantees: every component below ``root`` is opened with ``O_NOFOLLOW`` (a symbolic
link anywhere below the root is refused, not followed), the file is a regular file, and its
device and inode are the ones the listing saw (``dev``/``ino``): a file swapped for another
between listing and reading is refused. The bytes come from that one descriptor.

Modes: ``raw`` writes the bytes from ``offset`` (up to ``length``) to stdout, hashing the whole
file from byte 0 on the way (the bytes before ``offset`` are read but not sent), and ends with
``crashkit-sha256 <hex> <bytes>`` on stderr; ``b64`` writes ``length`` bytes from ``offset`` as
base64 (the chunked fallback transport); ``sha256`` only prints the digest line.

Python 3.6+, standard library only, no import of the collection: the source runs alone.
Exit status: 0 done, 3 refused (link, not a regular file, changed), 4 cannot read.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import errno
import hashlib
import json
import os
import stat
import sys

CHUNK = 1024 * 1024
EXIT_REFUSED = 3
EXIT_UNREADABLE = 4
DIGEST_TAG = "crashkit-sha256"
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_NOCTTY = getattr(os, "O_NOCTTY", 0)


class Refused(Exception):
    """The file is not what may be read: a link, not regular, or not the listed file."""


def split_rel(rel):
    """The components of a relative path, refused when it is absolute, empty or leaves its root."""
    if not isinstance(rel, str) or not rel or "\0" in rel or rel.startswith("/"):
        raise Refused("%r is not a relative path" % (rel,))
    parts = [p for p in rel.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise Refused("%r leaves its directory or names none" % (rel,))
    return parts


def open_dir(path, dir_fd=None, follow=False):
    """A descriptor of the directory ``path`` (relative to ``dir_fd``); a link is refused unless
    ``follow`` (an operator-given root may be a link, nothing below it may)."""
    flags = os.O_RDONLY | _DIRECTORY | _CLOEXEC | (0 if follow else _NOFOLLOW)
    try:
        fd = os.open(path, flags, dir_fd=dir_fd) if dir_fd is not None else os.open(path, flags)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            raise Refused("%s is a symbolic link or not a directory" % path)
        raise
    if not stat.S_ISDIR(os.fstat(fd).st_mode):  # pragma: no cover - O_DIRECTORY makes sure
        os.close(fd)
        raise Refused("%s is not a directory" % path)
    return fd


def open_regular(name, dir_fd=None, expect=None):
    """A read descriptor of the regular file ``name`` (relative to ``dir_fd``), never through a
    link, never blocking on a FIFO or device; ``expect`` = ``(dev, ino)`` it must be."""
    flags = os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _NOCTTY | _CLOEXEC
    try:
        fd = os.open(name, flags, dir_fd=dir_fd) if dir_fd is not None else os.open(name, flags)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            raise Refused("%s is a symbolic link" % name)
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Refused("%s is not a regular file" % name)
        if expect is not None and (st.st_dev, st.st_ino) != tuple(expect):
            raise Refused("%s is not the file that was listed (replaced since)" % name)
        if _NONBLOCK:
            import fcntl
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~_NONBLOCK)
    except Exception:
        os.close(fd)
        raise
    return fd


def open_dir_beneath(root, parts, follow_root=True):
    """A descriptor of the directory ``root/parts[0]/...``, no component below ``root`` followed."""
    current = open_dir(root, follow=follow_root)
    try:
        for part in parts:
            if part in ("", ".", "..") or "/" in part:
                raise Refused("%r is not a single directory name" % (part,))
            nxt = open_dir(part, dir_fd=current)
            os.close(current)
            current = nxt
    except Exception:
        os.close(current)
        raise
    return current


def open_beneath(root, rel, expect=None, follow_root=True):
    """A read descriptor of ``root/rel``: ``root`` may be a link (``follow_root``), no component
    of ``rel`` may be; ``expect`` = ``(dev, ino)`` of the file."""
    parts = split_rel(rel)
    current = open_dir_beneath(root, parts[:-1], follow_root)
    try:
        return open_regular(parts[-1], dir_fd=current, expect=expect)
    finally:
        os.close(current)


def stream(fd, out, offset, length, digest):
    """Copy ``length`` bytes (None: to the end) from ``offset`` of ``fd`` to ``out``; when
    ``digest`` is given, also hash the bytes before ``offset``. Returns the bytes sent."""
    pos = 0
    if digest is not None:
        while pos < offset:
            data = os.read(fd, min(CHUNK, offset - pos))
            if not data:
                break
            digest.update(data)
            pos += len(data)
    else:
        os.lseek(fd, offset, os.SEEK_SET)
        pos = offset
    sent = 0
    while length is None or sent < length:
        want = CHUNK if length is None else min(CHUNK, length - sent)
        data = os.read(fd, want)
        if not data:
            break
        if digest is not None:
            digest.update(data)
        view = memoryview(data)
        while view:
            written = out(view)
            view = view[written:]
        sent += len(data)
    return sent


def run(request, stdout_fd, stderr):
    """Serve one request (a dict); returns the exit status."""
    fd = open_beneath(request["root"], request["rel"], expect=(request["dev"], request["ino"]))
    try:
        mode = request.get("mode", "raw")
        offset = int(request.get("offset") or 0)
        length = request.get("length")
        length = None if length is None else int(length)
        if offset < 0 or (length is not None and length < 0):
            raise Refused("negative offset or length")

        def out(view):
            return os.write(stdout_fd, view)

        if mode == "b64":
            os.lseek(fd, offset, os.SEEK_SET)
            data = b""
            while length is None or len(data) < length:
                more = os.read(fd, CHUNK if length is None else min(CHUNK, length - len(data)))
                if not more:
                    break
                data += more
            encoded = base64.b64encode(data)
            view = memoryview(encoded)
            while view:
                view = view[out(view):]
            return 0
        digest = hashlib.sha256()
        if mode == "sha256":
            total = stream(fd, len, 0, None, digest)
        elif mode == "raw":
            sent = stream(fd, out, offset, length, digest)
            total = offset + sent
            if length is not None:
                return 0
        else:
            raise Refused("unknown mode %r" % (mode,))
        stderr.write("%s %s %d\n" % (DIGEST_TAG, digest.hexdigest(), total))
        stderr.flush()
        return 0
    finally:
        os.close(fd)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        request = json.loads(base64.b64decode(argv[0]).decode("utf-8"))
        return run(request, sys.stdout.fileno(), sys.stderr)
    except Refused as exc:
        sys.stderr.write("crashkit-hostread: refused: %s\n" % exc)
        return EXIT_REFUSED
    except (OSError, IOError) as exc:
        sys.stderr.write("crashkit-hostread: cannot read: %s\n" % (exc.strerror or exc))
        return EXIT_UNREADABLE
    except (IndexError, ValueError, KeyError, TypeError) as exc:
        sys.stderr.write("crashkit-hostread: bad request: %s\n" % exc)
        return EXIT_REFUSED


if __name__ == "__main__":
    # pylint: disable-next=ansible-bad-function  # run as a script (python -c), not as a module
    sys.exit(main())
