# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""Copy one large file from a host into the store: streamed, hashed, resumable, atomic.

Used on the controller by the ``vmcore_collect`` action plugin; nothing here imports Ansible.

* ``ssh_command(options)``: the OpenSSH command line of a host from the ``ssh`` connection
  plugin's options (the same options, in the same order, as the plugin's own command).
* ``read_command(path, offset, become)``: the remote command that writes the file from
  ``offset`` to stdout (``tail -c +N``: seeks on regular files, GNU coreutils and busybox),
  under ``sudo -n`` when become is wanted, so a password prompt fails at once instead of hanging.
* ``copy_stream(open_reader, source, final, ...)``: the copy itself. Writes ``<final>.part``
  and a state file ``<final>.part.json`` (source path, size, mtime, SHA-256, bytes received:
  also the progress a watcher can read), reads fixed-size chunks (memory is flat whatever the
  size), hashes while writing, fsyncs, compares the SHA-256 with the source's and only then
  renames to ``final``. A ``.part`` left by an interrupted run is resumed when the state says
  it was copying the same source (same path, size, mtime, SHA-256): its kept prefix is hashed
  first, then the copy continues from its length. Otherwise it starts over.
* ``Throttle`` and ``Progress``: bandwidth limit and progress lines, with injectable clocks.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import errno
import hashlib
import json
import os
import shlex
import stat
import time

from ansible_collections.crashkit.kdump.plugins.module_utils import _hostread, _safefs, _store
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import HostError, KdumpError, ValidationError
from ansible_collections.crashkit.kdump.plugins.module_utils._store import PART_SUFFIX, STATE_SUFFIX

CHUNK = 1024 * 1024
MIB = 1024 * 1024


class TransferError(KdumpError):
    """The copy failed; the message says why and whether a rerun resumes it."""


# --- commands -----------------------------------------------------------------------------

def split_args(value):
    """``ssh_args``-style option text (or list) as a list of arguments."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return shlex.split(value)


# The stream gets an ssh connection of its own, without compression: a dump is compressed
# already (makedumpfile -c/-l/-z/-p), so ssh's zlib (Ansible's default ssh_args start with -C)
# only burns CPU on both ends, and a multiplexed ControlMaster connection would carry the
# master's compression and share its one TCP stream. ssh keeps the first value of an -o
# option, so these come first; -C sets compression whatever its place and is left out.
STREAM_OPTIONS = ["-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "Compression=no"]


def _stream_args(value):
    """``split_args`` of one of the connection's ssh argument options, without ``-C``."""
    return [a for a in split_args(value) if a != "-C"]


def ssh_command(options):
    """The ``ssh`` argv (without the remote command) for a host, for one bulk stream.

    ``options``: ``ssh_executable``, ``host``, ``port``, ``remote_user``, ``private_key_file``,
    ``ssh_args``, ``ssh_common_args``, ``ssh_extra_args``, ``host_key_checking``, ``timeout``.
    The connection's ControlMaster socket is not reused and compression is off
    (``STREAM_OPTIONS``).
    """
    host = options.get("host")
    if not host:
        raise ValidationError("the ssh connection has no host to connect to")
    cmd = [options.get("ssh_executable") or "ssh"] + STREAM_OPTIONS
    cmd += _stream_args(options.get("ssh_args"))
    if options.get("host_key_checking") is False:
        cmd += ["-o", "StrictHostKeyChecking=no"]
    if options.get("port") is not None:
        cmd += ["-o", "Port=%s" % options["port"]]
    if options.get("private_key_file"):
        cmd += ["-o", 'IdentityFile="%s"' % os.path.expanduser(options["private_key_file"])]
    cmd += ["-o", "KbdInteractiveAuthentication=no",
            "-o", "PreferredAuthentications=gssapi-with-mic,gssapi-keyex,hostbased,publickey",
            "-o", "PasswordAuthentication=no",
            "-o", "BatchMode=yes"]
    if options.get("remote_user"):
        cmd += ["-o", 'User="%s"' % options["remote_user"]]
    if options.get("timeout") is not None:
        cmd += ["-o", "ConnectTimeout=%s" % options["timeout"]]
    cmd += _stream_args(options.get("ssh_common_args"))
    cmd += _stream_args(options.get("ssh_extra_args"))
    cmd += ["-T", "-e", "none", "--", host]
    return cmd


def become_prefix(become, become_method, become_user, become_password, is_root=False):
    """The argv prefix that reads as ``become_user`` non-interactively, or raise ``ValidationError``.

    Only ``sudo`` without a password can be streamed; the caller falls back to chunked reads
    through the connection for anything else.
    """
    if not become:
        return []
    user = become_user or "root"
    if is_root and user == "root":
        return []
    if become_method != "sudo":
        raise ValidationError("streaming with become needs become_method sudo, not %s" % become_method)
    if become_password:
        raise ValidationError("streaming with become needs passwordless sudo (a become password is set)")
    return ["sudo", "-n", "-u", user, "--"]


def reader_source():
    """The Python source the host runs to read one file (``_hostread``, shipped as it is)."""
    with open(_hostread.__file__.replace(".pyc", ".py"), "r") as handle:
        return handle.read()


def read_request(root, rel, dev, ino, offset=0, length=None, mode="raw"):
    """The reader's one argument: base64 of the JSON request (nothing of the host's data reaches
    a command line in any other form)."""
    if offset < 0:
        raise ValidationError("offset must not be negative")
    _store.safe_relpath(rel)
    request = {"root": root, "rel": rel, "dev": int(dev), "ino": int(ino), "offset": int(offset),
               "length": None if length is None else int(length), "mode": mode}
    return base64.b64encode(json.dumps(request, sort_keys=True).encode("utf-8")).decode("ascii")


def read_command(python, request, prefix=()):
    """argv that runs the reader on the host with ``python`` (the host's Ansible interpreter)."""
    if not python or not python.startswith("/") or any(c.isspace() for c in python):
        raise ValidationError("the host's Python interpreter must be an absolute path, not %r" % (python,))
    return list(prefix) + [python, "-c", reader_source(), request]


def shell_join(argv):
    """One shell command line of ``argv`` (for the remote side of ssh)."""
    return " ".join(shlex.quote(a) for a in argv)


def parse_digest(stderr):
    """``(sha256, size)`` from the reader's ``crashkit-sha256 <hex> <bytes>`` line, else ``None``."""
    for line in reversed((stderr or "").splitlines()):
        parts = line.split()
        if len(parts) == 3 and parts[0] == _hostread.DIGEST_TAG and len(parts[1]) == 64 and parts[2].isdigit():
            return parts[1], int(parts[2])
    return None


SUDO_PASSWORD_HINTS = ("a password is required", "a terminal is required", "no tty present")


def explain_failure(rc, stderr, transport):
    """An operator's message for a reader that failed."""
    text = _safefs.display((stderr or "").strip(), 600)
    if any(h in text for h in SUDO_PASSWORD_HINTS):
        return ("sudo on the host asks for a password, which a streamed copy cannot give: allow"
                " passwordless sudo for the connecting user, or set transport=connection (%s)" % text)
    if rc == 255 and transport == "ssh":
        return "ssh to the host failed (exit 255): %s" % (text or "no message")
    if rc == _hostread.EXIT_REFUSED:
        return "the host's reader refused the file: %s" % (text or "no message")
    return "reading the file failed (exit %s): %s" % (rc, text or "no message")


# --- throttling and progress --------------------------------------------------------------

class Throttle(object):
    """Sleep so the average rate stays at or below ``rate`` bytes per second (None: no limit)."""

    def __init__(self, rate, clock=time.monotonic, sleep=time.sleep):
        if rate is not None and rate <= 0:
            raise ValidationError("bandwidth limit must be positive")
        self.rate = rate
        self.clock = clock
        self.sleep = sleep
        self.start = clock()
        self.sent = 0

    def delay_for(self, nbytes):
        """Seconds to wait after ``nbytes`` more were sent (pure arithmetic)."""
        self.sent += nbytes
        if self.rate is None:
            return 0.0
        due = self.start + self.sent / float(self.rate)
        return max(0.0, due - self.clock())

    def account(self, nbytes):
        wait = self.delay_for(nbytes)
        if wait > 0:
            self.sleep(wait)


def format_size(nbytes):
    if nbytes >= 1024 * MIB:
        return "%.2f GiB" % (nbytes / float(1024 * MIB))
    return "%.1f MiB" % (nbytes / float(MIB))


class Progress(object):
    """Emits a line every ``interval`` bytes (and at the end) through ``emit(text, done, total)``."""

    def __init__(self, label, total, start_at, interval, emit, clock=time.monotonic):
        self.label = label
        self.total = total
        self.done = start_at
        self.start_at = start_at
        self.interval = interval
        self.emit = emit
        self.clock = clock
        self.started = clock()
        self.next_at = start_at + interval if interval else None

    def line(self):
        elapsed = max(self.clock() - self.started, 1e-6)
        rate = (self.done - self.start_at) / elapsed
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return "%s: %s of %s (%.0f%%), %s/s" % (self.label, format_size(self.done), format_size(self.total),
                                                pct, format_size(rate))

    def update(self, nbytes):
        self.done += nbytes
        if self.next_at is not None and self.done >= self.next_at:
            while self.next_at <= self.done:
                self.next_at += self.interval
            self.emit(self.line(), self.done, self.total)

    def finish(self):
        if self.emit is not None:
            self.emit(self.line(), self.done, self.total)


# --- the copy -----------------------------------------------------------------------------

def _write_json(path, data):
    directory, name = os.path.split(path)
    fd = _safefs.open_dir(directory, follow=True)
    try:
        _safefs.write_file_at(fd, name, json.dumps(data, sort_keys=True), mode=0o600)
    finally:
        os.close(fd)


def _read_json(path):
    text = _safefs.read_small(path, limit=1024 * 1024)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sha256_file(path, chunk=CHUNK, limit=None):
    """SHA-256 hex digest of the regular file ``path`` (of its first ``limit`` bytes), read in
    chunks, never through a symbolic link."""
    digest = hashlib.sha256()
    remaining = limit
    fd = _safefs.open_regular(path)
    try:
        while remaining is None or remaining > 0:
            data = os.read(fd, chunk if remaining is None else min(chunk, remaining))
            if not data:
                break
            digest.update(data)
            if remaining is not None:
                remaining -= len(data)
    finally:
        os.close(fd)
    return digest.hexdigest()


def source_key(source):
    """What identifies the source version a ``.part`` belongs to."""
    key = {"path": source["path"], "size": int(source["size"]), "mtime": int(source["mtime"])}
    for name in ("dev", "ino", "sha256"):
        if source.get(name) is not None:
            key[name] = source[name]
    return key


def resume_offset(state, part_size, source):
    """Bytes of a ``.part`` that can be kept: its size when ``state`` matches ``source``, else 0."""
    if not state or part_size is None or part_size <= 0:
        return 0
    if state.get("source") != source_key(source):
        return 0
    if part_size > int(source["size"]):
        return 0
    return part_size


def open_part(part, fresh):
    """The ``.part`` file, created 0600 if missing, never through a link; ``(fd, size)``."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | os.O_NONBLOCK
    try:
        fd = os.open(part, flags, 0o600)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
            raise TransferError("%s is a link, a directory or a device: remove it" % _safefs.display(part))
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise TransferError("%s is not a regular file: remove it" % _safefs.display(part))
    os.fchmod(fd, 0o600)
    if fresh:
        os.ftruncate(fd, 0)
    return fd, os.fstat(fd).st_size


def copy_stream(open_reader, source, final, chunk=CHUNK, throttle=None, progress=None, should_stop=None):
    """Copy ``source`` (dict: ``path``, ``size``, ``mtime``, optional ``dev``/``ino`` and the
    expected ``sha256``) to ``final``.

    ``open_reader(offset)`` returns an object with ``read(n)`` (bytes, ``b""`` at the end) and
    ``close()``, which raises ``TransferError`` or returns the host's own SHA-256 of the whole
    file (computed by the host in the same read) or ``None``. The copy is hashed as it is
    written; it is renamed to ``final`` only when its digest equals the expected one and the
    host's. Returns a dict with ``resumed_from``, ``bytes`` (received in this run) and
    ``sha256``. On any failure the ``.part`` and its state stay for a rerun, except after a
    checksum mismatch, when both are removed. ``should_stop()`` is asked after every chunk; a
    true value (a message) stops the copy with that message. Store files are 0600.
    """
    part = final + PART_SUFFIX
    state_path = final + STATE_SUFFIX
    directory = os.path.dirname(final)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    key = source_key(source)
    label = _safefs.display(key["path"])
    try:
        part_size = os.lstat(part).st_size
    except OSError:
        part_size = None
    offset = resume_offset(_read_json(state_path), part_size, source)
    fd, _size = open_part(part, fresh=not offset)
    digest = hashlib.sha256()
    try:
        if offset:
            remaining = offset
            while remaining:
                data = os.read(fd, min(chunk, remaining))
                if not data:
                    break
                digest.update(data)
                remaining -= len(data)
            os.lseek(fd, offset, os.SEEK_SET)
            os.ftruncate(fd, offset)
        state = {"source": key, "received": offset, "resumed_from": offset, "updated": int(time.time())}
        _write_json(state_path, state)
        received = 0
        host_digest = None
        reader = open_reader(offset)
        try:
            last_state = offset
            while True:
                data = reader.read(chunk)
                if not data:
                    break
                _safefs.write_all(fd, data)
                digest.update(data)
                received += len(data)
                if offset + received > key["size"]:
                    raise TransferError("%s grew while it was copied (more than %d bytes): the source changed"
                                        % (label, key["size"]))
                if throttle is not None:
                    throttle.account(len(data))
                if progress is not None:
                    progress.update(len(data))
                stop = should_stop() if should_stop is not None else None
                if stop:
                    raise TransferError("%s: stopped after %d bytes: %s; run again to resume"
                                        % (label, offset + received, stop))
                if offset + received - last_state >= 64 * MIB:
                    state.update(received=offset + received, updated=int(time.time()))
                    _write_json(state_path, state)
                    last_state = offset + received
            os.fsync(fd)
        finally:
            closed = reader.close()
        if closed:
            host_digest = closed
    finally:
        os.close(fd)
    total = offset + received
    if total != key["size"]:
        state.update(received=total, updated=int(time.time()))
        _write_json(state_path, state)
        raise TransferError("%s: received %d of %d bytes; run again to resume" % (label, total, key["size"]))
    got = digest.hexdigest()
    expected = [v for v in (key.get("sha256"), host_digest) if v]
    if any(v != got for v in expected):
        for path in (part, state_path):
            if os.path.lexists(path):
                os.unlink(path)
        raise TransferError("%s: SHA-256 of the copy (%s) differs from the source's (%s); the partial copy was"
                            " removed, run again to copy it anew" % (label, got, ", ".join(expected)))
    os.replace(part, final)
    fsync_dir(directory)
    os.unlink(state_path)
    if progress is not None:
        progress.finish()
    return {"resumed_from": offset, "bytes": received, "sha256": got}


class FileReader(object):
    """Reads a local file from an offset, in this process (the local connection without
    privilege change): opened below ``root`` without following links, checked to be the listed
    file (``dev``/``ino``)."""

    def __init__(self, root, rel, expect, offset):
        try:
            self.fd = _safefs.open_beneath(root, rel, expect=expect)
        except (IOError, OSError, KdumpError) as exc:
            raise HostError("cannot read %s: %s" % (_safefs.display(rel), exc))
        os.lseek(self.fd, offset, os.SEEK_SET)

    def read(self, n):
        return os.read(self.fd, n)

    def close(self):
        os.close(self.fd)
        return None
