# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""The thin glue between pure logic and AnsibleModule.

* ``domain_errors(module)``: the one place that turns a ``KdumpError`` into ``fail_json``.
* ``apply_file(module, path, content, ...)``: write a whole file safely: check mode guard,
  temporary file in the target directory, optional verification of the temporary copy,
  optional backup, ``atomic_move``; returns ``(changed, diff)``.

No module-level Ansible import: the AnsibleModule instance is passed in.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import os
import stat
import tempfile

from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError, ParseError


@contextlib.contextmanager
def domain_errors(module, **extra):
    """Turn domain errors raised inside the block into ``module.fail_json(msg=...)``."""
    try:
        yield
    except KdumpError as exc:
        module.fail_json(msg=str(exc), **extra)


def read_text(path, missing_ok=True, errors="strict", limit=64 * 1024 * 1024):
    """Return the text of ``path`` (UTF-8) or ``None`` when it does not exist.

    A file that is not UTF-8 raises a ``ParseError`` naming the file and the byte (the caller
    changes nothing); ``errors="ignore"``/``"replace"`` decode it anyway. At most ``limit``
    bytes are read.
    """
    try:
        with open(path, "rb") as handle:
            # In pieces: one read of the whole limit makes /proc/sys files fail with ENOMEM.
            chunks = []
            left = limit
            while left > 0:
                chunk = handle.read(min(65536, left))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
            data = b"".join(chunks)
    except (IOError, OSError) as exc:
        if getattr(exc, "errno", None) == 2 and missing_ok:
            return None
        raise KdumpError("cannot read %s: %s" % (path, exc))
    try:
        return data.decode("utf-8", errors)
    except UnicodeDecodeError as exc:
        start = int(exc.start)
        raise ParseError("%s is not UTF-8 text (byte 0x%02x at offset %d): fix or re-encode it; nothing was"
                         " changed" % (path, bytearray(data[start:start + 1])[0], start))


def file_diff(path, before, after):
    """One diff entry in Ansible's ``diff`` format."""
    return {
        "before_header": path,
        "after_header": path,
        "before": before if before is not None else "",
        "after": after if after is not None else "",
    }


def apply_file(module, path, content, mode=None, verify=None, backup=False):
    """Make ``path`` hold exactly ``content``.

    ``verify`` is an optional callable taking the temporary file's path; it raises a
    ``KdumpError`` when the new content is not acceptable, in which case the target is left
    untouched. Returns ``(changed, diff, backup_file)``.
    """
    before = read_text(path)
    diff = file_diff(path, before, content)
    if before == content:
        return False, diff, None
    if module.check_mode:
        return True, diff, None

    directory = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(directory):
        raise KdumpError("directory %s does not exist" % directory)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        if before is not None:
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        elif mode is not None:
            os.chmod(tmp, mode)
        else:
            os.chmod(tmp, 0o644)
        if verify is not None:
            verify(tmp)
        backup_file = None
        if backup and before is not None:
            backup_file = module.backup_local(path)
        module.atomic_move(tmp, path)
        if before is None:
            # atomic_move() gives a file it creates 0666 & ~umask, whatever mode the
            # temporary file had: set the wanted mode on the new file itself.
            os.chmod(path, mode if mode is not None else 0o644)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return True, diff, backup_file
