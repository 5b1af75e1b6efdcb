# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""What ``kdump_info`` makes of the host state it read: the sections of its report and the problems.

The module reads the files and runs the commands; the functions here get what it read:

* ``crash_kernel_state(read)``: kexec crash kernel or POWER firmware-assisted dump.
* ``config_state(family, path, text)``: the kdump configuration in ``kdump_config``'s terms.
* ``dump_size(dump_level, mem_usage_output, meminfo_text, ratio)``: expected size of a dump.
* ``secure_boot_from_firmware(secureboot, setupmode, efi_dir)``: Secure Boot without mokutil.
* ``crashkernel_default(os_release_text, machine, iomem_text, meminfo_text, reserved_bytes)``.
* ``problems(report, sysfs_root, estimate_ratio)``: the sentences saying what stops a dump from being captured.
* ``advisories(report, kernel_release)``: what does not stop a capture but makes it worse than
  configured (a known gap of makedumpfile's page filtering on this kernel).

Nothing here imports Ansible or touches the host itself (``crash_kernel_state`` calls the reader
it is given).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import posixpath
import re

from ansible_collections.crashkit.kdump.plugins.module_utils import _crashkernel as ck
from ansible_collections.crashkit.kdump.plugins.module_utils import _kdumpconf as kc
from ansible_collections.crashkit.kdump.plugins.module_utils import _kdumpinfo as ki
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError

# How every file kdump_config writes starts (its HEADER names the module and the family after this).
MANAGED_MARK = "# Managed by crashkit.kdump"
CONFIG_KEYS = ("target", "dump_level", "compression", "extra_collector_args", "failure_action",
               "keep_local_dumps", "kdump_cmdline_append")

# Known gaps of makedumpfile's page filtering, each seen on a real host: (the first kernel release
# affected, the dump level bit whose pages are then kept, the first makedumpfile release that
# handles it, what happens). Linux 6.12 reworked how a page's type is stored ("mm: support only
# one page_type per page"); makedumpfile before 1.7.7 then finds no free page at all (upstream
# issue makedumpfile/makedumpfile#16). Debian 13 ships 6.12 with makedumpfile 1.7.6: its dumps
# in this project's VMs were 199 MB (zlib) where Debian 12's of the same 1 GiB guest were 37 MB.
FILTER_GAPS = (
    ((6, 12), ki.FREE_PAGES_BIT, (1, 7, 7),
     "cannot tell free pages on Linux 6.12 and later (upstream issue makedumpfile/makedumpfile#16, "
     "fixed in makedumpfile 1.7.7)"),
)
_VERSION_NUMBERS = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,6}){0,3}(?![0-9])")


def crash_kernel_state(read):
    """``loaded``, ``mode``, ``reserved_bytes`` and ``reserved_mb`` of the crash kernel.

    ``read(name)`` returns the text of ``<sysfs>/kernel/<name>`` or ``None`` when it cannot be
    read; it is called only for the files the answer depends on.
    """
    state = {"loaded": None, "mode": "kdump", "reserved_bytes": 0, "reserved_mb": 0}
    loaded = read("kexec_crash_loaded")
    if loaded is not None:
        state["loaded"] = ki.parse_sysfs_int(loaded, "kexec_crash_loaded") == 1
    size = read("kexec_crash_size")
    if size is not None:
        state["reserved_bytes"] = ki.parse_sysfs_int(size, "kexec_crash_size")
        state["reserved_mb"] = state["reserved_bytes"] // ki.MIB
    # POWER firmware-assisted dump replaces the kexec crash kernel when enabled.
    for enabled_name, registered_name in (("fadump/enabled", "fadump/registered"),
                                          ("fadump_enabled", "fadump_registered")):
        enabled = read(enabled_name)
        if enabled is not None and enabled.strip() == "1":
            state["mode"] = "fadump"
            registered = read(registered_name)
            state["loaded"] = registered is not None and registered.strip() == "1"
            break
    return state


def config_state(family, path, text):
    """The configuration file ``path`` (``text`` ``None`` when it cannot be read) as reported.

    A file ``parse_config`` refuses gets ``error`` and the family defaults.
    """
    config = {"path": path, "exists": text is not None, "managed": False}
    try:
        info = kc.parse_config(family, text or "")
    except KdumpError as exc:
        config["error"] = str(exc)
        info = kc.parse_config(family, "")
    config["managed"] = bool(text and text.startswith(MANAGED_MARK))
    for key in CONFIG_KEYS:
        config[key] = info[key]
    if "enabled" in info:
        config["enabled"] = info["enabled"] if text is not None else False
    return config


def _mountinfo(text):
    """``(major:minor, root, mount point, fstype, source)`` of each line of ``/proc/self/mountinfo``
    text, the fields as the kernel escapes them; lines without the ``-`` separator are left out."""
    for line in (text or "").splitlines():
        fields = line.split(" ")
        if len(fields) < 10:
            continue
        try:
            sep = fields.index("-", 6)
        except ValueError:
            continue
        if len(fields) > sep + 2:
            yield fields[2], fields[3], fields[4], fields[sep + 1], fields[sep + 2]


def mount_source(mountinfo_text, point):
    """``(source, fstype)`` of the last mount on ``point`` in ``/proc/self/mountinfo`` text, or
    ``None`` when nothing is mounted there (the mount point is one without characters mountinfo
    escapes)."""
    found = None
    for _number, _root, mount_point, fstype, source in _mountinfo(mountinfo_text):
        if mount_point == point:
            found = (source, fstype)
    return found


_MOUNTINFO_ESCAPE = re.compile(r"\\([0-7]{3})")


def device_mount_point(mountinfo_text, sources, number=None):
    """Where a device's file system is mounted, from ``/proc/self/mountinfo`` text: the mount
    point of the first whole mount (its root is ``/``, not a bind mount of a directory inside)
    whose device number (``major:minor``) is ``number`` or whose source is one of ``sources``;
    ``None`` when it is not mounted. Escapes mountinfo makes (``\\040`` for a space) are undone."""
    for device_number, root, mount_point, _fstype, source in _mountinfo(mountinfo_text):
        if root == "/" and ((number is not None and device_number == number) or source in sources):
            return _MOUNTINFO_ESCAPE.sub(lambda found: chr(int(found.group(1), 8)), mount_point)
    return None


def mounted_device_dump_dir(target, mount_point):
    """A redhat device target as kdump_info reports it: ``(target, dump directory, facts)``.

    kdumpctl's capture mounts the device itself (at ``/kdumproot`` plus the point where this
    system has it mounted) and writes below the ``path`` directive inside it, so this system
    sees the dumps in ``<mount point>/<path>``; with the device not mounted here there is no
    directory to check or list (``None``), and that is no problem for the capture."""
    target = dict(target, mountpoint=mount_point)
    inside = (target.get("path") or "/").strip("/")
    dump_dir = None
    if mount_point is not None:
        dump_dir = posixpath.normpath(posixpath.join(mount_point, inside)) if inside else mount_point
    target["dump_dir"] = dump_dir
    return target, dump_dir, {"device": target.get("device"), "mounted": mount_point is not None}


def device_target_state(target, unit_text, mountinfo_text, dump_space):
    """A debian device target as kdump_info reports it: ``target`` (from ``parse_config``) with
    the device and file system its mount unit (``unit_text``, ``None`` when missing) names, and
    ``dump_space`` (``dump_dir_space`` of its dump directory) with ``device``, ``mounted`` and
    ``source`` (what is mounted on the mount point)."""
    unit = kc.parse_mount_unit(unit_text) if unit_text is not None else {}
    target = dict(target)
    target["device"] = unit.get("device")
    target["fstype"] = unit.get("type")
    mounted = mount_source(mountinfo_text, target.get("mountpoint") or kc.DEBIAN_DEVICE_MOUNT)
    space = dict(dump_space)
    space.update(device=target["device"], mounted=mounted is not None,
                 source=mounted[0] if mounted else None, unit=unit_text is not None)
    return target, space


def dump_size(dump_level, mem_usage_output, meminfo_text, ratio):
    """Expected bytes of a dump at ``dump_level``.

    From ``mem_usage_output`` (stdout and stderr of ``makedumpfile --mem-usage``, ``None`` when
    it did not run) if it holds the page table, else ``MemTotal`` of ``meminfo_text`` times
    ``ratio``; ``source`` is ``None`` when neither is there.
    """
    result = {"dump_level": dump_level, "source": None, "expected_bytes": None, "expected_mb": None}
    expected = None
    if mem_usage_output is not None:
        try:
            expected = ki.dump_size_from_mem_usage(ki.parse_mem_usage(mem_usage_output), dump_level)
            result["source"] = "mem_usage"
        except KdumpError as exc:
            result["mem_usage_error"] = str(exc)
    if expected is None and meminfo_text is not None:
        expected = ki.dump_size_from_meminfo(ki.parse_meminfo(meminfo_text), ratio)
        result["source"] = "estimate"
    if expected is not None:
        result["expected_bytes"] = expected
        result["expected_mb"] = -(-expected // ki.MIB)
    return result


def secure_boot_from_firmware(secureboot, setupmode, efi_dir):
    """Secure Boot state from the EFI variables' data (see ``secure_boot_from_efivars``).

    Without a ``SecureBoot`` variable, ``efi`` says whether ``<sysfs>/firmware/efi`` is a
    directory (``efi_dir``); a host booted without EFI has no Secure Boot.
    """
    state = ki.secure_boot_from_efivars(secureboot, setupmode)
    if state["efi"] is None:
        state["efi"] = efi_dir
        if not efi_dir:
            state["enabled"] = False
    return state


def crashkernel_default(os_release_text, machine, iomem_text, meminfo_text, reserved_bytes):
    """The distribution's published ``crashkernel=`` default and what it reserves on this host.

    ``machine`` is ``uname -m``. A distribution without a published default gets ``error``.
    """
    result = {"reserved_mb": reserved_bytes // ki.MIB}
    try:
        release = kc.parse_os_release(os_release_text or "")
        arch = ck.normalize_arch(machine)
        value, source = ck.distro_default(release.get("ID", ""), release.get("VERSION_ID") or "0", arch)
        ram, _source = ck.system_ram_from_host(iomem_text, meminfo_text, reserved_bytes)
        result.update(recommended=value, source=source,
                      recommended_mb=ck.effective_size(ck.parse_value(value), ram, arch) // ki.MIB)
    except KdumpError as exc:
        result["error"] = str(exc)
    return result


def problems(report, sysfs_root, estimate_ratio):
    """What stops a dump from being captured or saved, from the sections of ``report``.

    ``report`` holds ``crash_kernel``, ``service``, ``config``, ``makedumpfile``, ``dump_size``
    and ``dump_dir`` as this module and ``kdump_info`` build them; ``estimate_ratio`` is the share
    of ``MemTotal`` an estimated dump size assumed.
    """
    found = []
    crash = report["crash_kernel"]
    loaded_file = os.path.join(sysfs_root, "kernel", "kexec_crash_loaded")
    if crash["mode"] == "fadump":
        if not crash["loaded"]:
            found.append("Firmware-assisted dump is enabled but not registered: a panic now would not be captured.")
    elif crash["loaded"] is None:
        found.append("This kernel has no kdump support (%s is missing)." % loaded_file)
    elif not crash["loaded"]:
        found.append("No crash kernel is loaded (%s is 0): a panic now would not be captured." % loaded_file)
    if crash["mode"] == "kdump" and crash["loaded"] is not None and crash["reserved_bytes"] == 0:
        found.append("No memory is reserved for the crash kernel: add crashkernel= to the kernel command "
                     "line and reboot.")

    service = report["service"]
    if service["enabled"] is not None and service["enabled"] not in ki.ENABLED_STATES:
        found.append("%s.service is %s: the crash kernel will not be loaded after the next boot."
                     % (service["name"], service["enabled"]))

    config = report["config"]
    if not config["exists"]:
        found.append("%s does not exist: kdump is not configured." % config["path"])
    elif config.get("error"):
        found.append("%s cannot be read: %s" % (config["path"], config["error"]))
    elif config.get("enabled") is False:
        found.append("USE_KDUMP is 0 in %s: kdump-tools does nothing." % config["path"])

    makedumpfile = report["makedumpfile"]
    if makedumpfile is None:
        found.append("makedumpfile is not installed: dumps cannot be filtered or compressed.")
    elif config["compression"] in kc.COMPRESSIONS:
        try:
            ki.check_compression(config["compression"], makedumpfile, makedumpfile["path"])
        except KdumpError as exc:
            found.append("The configured %s" % str(exc))

    space, size = report["dump_dir"], report["dump_size"]
    if space is not None and space.get("mountable") is False:
        found.append("The NFS export %s cannot be mounted: %s" % (space["path"], space.get("error")))
    elif space is not None and space.get("writable") is False:
        found.append("The NFS export %s takes no file: %s" % (space["path"], space.get("error")))
    if space is not None and space.get("unit") is False:
        found.append("The dump device has no mount unit (%s is missing): the capture would reboot "
                     "without a dump. Run the setup role again." % kc.DEBIAN_DEVICE_UNIT_PATH)
    elif space is not None and space.get("unit") and space.get("mounted") is False:
        found.append("The dump device %s is not mounted on %s: the capture would reboot without a "
                     "dump (is the disk there? systemctl status %s)."
                     % (space.get("device"), kc.DEBIAN_DEVICE_MOUNT, kc.DEBIAN_DEVICE_UNIT))
    if space is not None and space["room"] is False:
        how = ("makedumpfile --mem-usage" if size["source"] == "mem_usage"
               else "estimated as %s of MemTotal" % estimate_ratio)
        found.append("Only %s MiB are free in %s for a dump of up to %s MiB (%s, dump level %s)."
                     % (space["free_mb"], space["checked"], size["expected_mb"], how, size["dump_level"]))
    return found


def version_tuple(text):
    """The leading numbers of a version (``"1.7.6"`` -> ``(1, 7, 6)``, ``"6.12.118+deb13-amd64"``
    -> ``(6, 12, 118)``), or ``None`` when ``text`` does not start with one."""
    match = _VERSION_NUMBERS.match(text) if isinstance(text, str) else None
    return tuple(int(part) for part in match.group(0).split(".")) if match else None


def advisories(report, kernel_release):
    """Sentences about what does not stop a capture but makes it worse than configured.

    ``report`` is ``kdump_info``'s (its ``makedumpfile`` and ``config`` sections are used);
    ``kernel_release`` the running kernel's (``/proc/sys/kernel/osrelease``), ``None`` when unknown.
    """
    found = []
    makedumpfile = report.get("makedumpfile") or {}
    have = version_tuple(makedumpfile.get("version"))
    kernel = version_tuple(kernel_release)
    level = (report.get("config") or {}).get("dump_level")
    if have is None or kernel is None or not isinstance(level, int) or isinstance(level, bool):
        return found
    for since, bit, fixed, what in FILTER_GAPS:
        if kernel[:2] >= since and have < fixed and level & bit:
            found.append(
                "makedumpfile %s %s: on kernel %s, dump level %d keeps those pages, so dumps are larger "
                "and the capture takes longer than that level promises (the expected dump size counts "
                "them). Use makedumpfile %s or later when the distribution ships it; until then size "
                "the dump target and the capture time for it."
                % (makedumpfile["version"], what, kernel_release.strip(), level, ".".join(str(n) for n in fixed)))
    return found
