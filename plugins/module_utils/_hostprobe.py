# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""The host reads behind ``kdump_info``: free space of a dump directory or an NFS export, the
device number of a dump device, the first EFI variable of a name. Standard library only; the
commands are run through the ``run`` callable given (the module's ``run_command``), so nothing
here imports Ansible.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import stat
import tempfile

from ansible_collections.crashkit.kdump.plugins.module_utils import _kdumpconf as kc
from ansible_collections.crashkit.kdump.plugins.module_utils import _kdumpinfo as ki

NFS_OPTIONS = "nolock,tcp,soft,timeo=50,retrans=1,retry=0,nosuid,nodev,noexec"


def _space(result, checked, expected):
    st = os.statvfs(checked)
    free = st.f_bavail * st.f_frsize
    result.update(checked=checked, free_bytes=free, free_mb=free // ki.MIB,
                  room=None if expected is None else free >= expected)
    return result


def dump_dir_space(path, expected):
    """Free space for ``path`` (or its nearest existing parent: kdump creates the directory)."""
    result = {"path": path, "checked": None, "free_bytes": None, "free_mb": None, "room": None}
    if not path or not os.path.isabs(path):
        return result
    checked = os.path.normpath(path)
    while not os.path.isdir(checked) and checked != os.path.dirname(checked):
        checked = os.path.dirname(checked)
    try:
        return _space(result, checked, expected)
    except OSError:
        return result


def nfs_export_space(run, tools, target, expected, timeout_seconds, check_mode):
    """Mount an NFS target's export on a private temporary directory as the capture mounts it,
    make and remove a file in it (not in check mode: read-only there), read its free space.

    ``run(argv)`` returns ``(rc, stdout, stderr)``; ``tools`` are the paths of mount, umount and
    timeout (``None`` where missing)."""
    # kdump.conf's nfs names the export; its path directive is a directory inside it
    host, path = target.get("host") or "", target.get("export") or target.get("path") or ""
    source = "%s:%s" % ("[%s]" % host if ":" in host else host, path)
    result = {"path": source, "checked": None, "free_bytes": None, "free_mb": None, "room": None,
              "mountable": False, "writable": None, "error": None}
    mount, umount, timeout = tools
    if not (host and path.startswith("/") and mount and umount and timeout):
        result["error"] = "no export to mount" if not host else "mount, umount or timeout is not installed"
        return result
    opts = NFS_OPTIONS + (",ro" if check_mode else "")
    point = tempfile.mkdtemp(prefix="crashkit-nfs-", dir="/run" if os.path.isdir("/run") else None)
    try:
        rc, _out, err = run([timeout, str(timeout_seconds), mount, "-t", "nfs", "-o", opts, "--", source, point])
        if rc != 0:
            result["error"] = (err or "").strip()[:500] or "mount exited %s" % rc
            return result
        result["mountable"] = True
        try:
            if not check_mode:
                fd, probe = tempfile.mkstemp(prefix=".crashkit-write-check-", dir=point)
                os.close(fd)
                os.unlink(probe)
                result["writable"] = True
            _space(result, point, expected)
            result["checked"] = source
        except OSError as exc:
            result["writable"] = False
            result["error"] = str(exc)
        finally:
            run([timeout, str(timeout_seconds), umount, "-f", "-l", "--", point])
    finally:
        try:
            os.rmdir(point)
        except OSError:
            pass
    return result


def device_ids(spec):
    """``(sources, major:minor)`` of a kdump.conf device (``UUID=`` etc. as its /dev/disk link):
    the names mountinfo may show for it, and its device number when it is a block device here."""
    link = kc.device_link(spec)
    try:
        real = os.path.realpath(link)
        found = os.stat(real)
    except (IOError, OSError):
        return (link,), None
    if not stat.S_ISBLK(found.st_mode):
        return (link, real), None
    return (link, real), "%d:%d" % (os.major(found.st_rdev), os.minor(found.st_rdev))


def first_efivar(efivars, pattern):
    """The bytes of the first EFI variable file matching ``pattern``, ``None`` when none reads."""
    for name in sorted(glob.glob(os.path.join(efivars, pattern))):
        try:
            with open(name, "rb") as handle:
                return handle.read()
        except (IOError, OSError):
            return None
    return None
