# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""linux-system-roles/kdump's public variables, mapped to the crashkit.kdump.setup role's.

``map_lsr(given, current, family, major)`` takes the linux-system-roles (LSR) variables a play
defines and the setup role's current values, and returns the setup role's variables that express
the same configuration, with one notice per mapping. What has no faithful equivalent is refused
by name, with the crashkit variable to use instead (``ValidationError`` listing every refusal).

LSR variables (linux-system-roles/kdump ``defaults/main.yml``, ``meta/argument_specs.yml`` and
``templates/kdump.conf.j2``): ``kdump_target`` (``type`` and ``location``, or null for the root
file system), ``kdump_path``, ``kdump_core_collector``, ``kdump_system_action``,
``kdump_ssh_user``, ``kdump_ssh_server``, ``kdump_sshkey`` (also accepted as ``kdump_ssh_key``),
``kdump_auto_reset_crashkernel``, ``kdump_dracut_args``. ``kdump_reboot_ok`` has the same name and
meaning in both roles and needs no mapping.

Nothing here imports Ansible.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath
import re

from ansible_collections.crashkit.kdump.plugins.module_utils import _kdumpconf
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import ValidationError

LSR_VARIABLES = ("kdump_target", "kdump_path", "kdump_core_collector", "kdump_system_action",
                 "kdump_ssh_user", "kdump_ssh_server", "kdump_sshkey", "kdump_ssh_key",
                 "kdump_auto_reset_crashkernel", "kdump_dracut_args")
# The setup role's variables a mapping may set, with the role's defaults (roles/setup/defaults).
CRASHKIT_DEFAULTS = {
    "kdump_target": {"type": "local", "path": "/var/crash"},
    "kdump_compression": "auto",
    "kdump_dump_level": 31,
    "kdump_extra_collector_args": "",
    "kdump_failure_action": "reboot",
    "kdump_extra_options": {},
}
LSR_DEFAULT_PATH = "/var/crash"
LSR_DEFAULT_SSHKEY = "/root/.ssh/kdump_id_rsa"
# kdump.conf target directives LSR writes as "<type> <location>".
LSR_FS_TYPES = ("ext2", "ext3", "ext4", "xfs", "btrfs", "minix")
LSR_TYPES = ("ssh", "nfs", "raw") + LSR_FS_TYPES
SYSTEM_ACTIONS = ("reboot", "halt", "poweroff", "shell")
_NFS_LOCATION = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[^:\[\]/]+):(/[^:]*)\Z")
_UUID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\Z")


def is_lsr_target(target):
    """Whether ``target`` is spelled the LSR way: null, ``location``, an LSR-only type, or an ssh/nfs
    type without crashkit's ``host`` (LSR's kdump_ssh_user/kdump_ssh_server form). Anything that
    is not a dict counts too, so that the mapping refuses it by name."""
    if not isinstance(target, dict):
        return True
    return ("location" in target or target.get("type") in ("raw",) + LSR_FS_TYPES
            or (target.get("type") in ("ssh", "nfs") and not target.get("host")))


def uses_lsr(given):
    """Whether the variables ``given`` (name -> value, defined ones only) use LSR's spelling."""
    others = [name for name in LSR_VARIABLES if name != "kdump_target" and given.get(name) is not None]
    return bool(others) or ("kdump_target" in given and is_lsr_target(given["kdump_target"]))


def _path(given, errors):
    path = given.get("kdump_path")
    if path is None:
        return None
    if not isinstance(path, str) or not path.startswith("/"):
        errors.append("kdump_path must be an absolute path, got %r (crashkit: kdump_target.path)" % (path,))
        return None
    return posixpath.normpath(path)


def _target(given, current, family, notices, errors):
    target = given.get("kdump_target", current.get("kdump_target"))
    path = _path(given, errors)
    sshkey = given.get("kdump_sshkey", given.get("kdump_ssh_key"))
    if "kdump_sshkey" in given and "kdump_ssh_key" in given and given["kdump_sshkey"] != given["kdump_ssh_key"]:
        errors.append("kdump_sshkey and kdump_ssh_key are both set, to different keys: keep one "
                      "(crashkit: kdump_target.ssh_key)")
    if target is not None and not isinstance(target, dict):
        errors.append("kdump_target must be a dict or null, got %r" % (target,))
        return None
    if not is_lsr_target(target):
        # crashkit's own spelling; LSR's kdump_path and kdump_sshkey may still complete it.
        result = dict(target)
        default_path = CRASHKIT_DEFAULTS["kdump_target"]["path"]
        if path is not None:
            if result.get("path") not in (None, "", default_path, path):
                errors.append("kdump_path (%s) and kdump_target.path (%s) are both set: keep "
                              "kdump_target.path" % (path, result["path"]))
            elif result.get("type", "local") == "raw" or result.get("fstype") == "raw":
                notices.append("kdump_path does not apply to a raw device target; ignored")
            elif result.get("type", "local") == "nfs":
                errors.append("kdump_path with a crashkit nfs target: kdump_target.path is the exported "
                              "directory itself; set it there")
            else:
                result["path"] = path
                notices.append("kdump_path: %s -> kdump_target.path: %s" % (path, path))
        if sshkey is not None and result.get("type") == "ssh":
            if result.get("ssh_key") not in (None, "", sshkey):
                errors.append("kdump_sshkey (%s) and kdump_target.ssh_key (%s) are both set: keep "
                              "kdump_target.ssh_key" % (sshkey, result["ssh_key"]))
            else:
                result["ssh_key"] = sshkey
                notices.append("kdump_sshkey: %s -> kdump_target.ssh_key" % sshkey)
        for name in ("kdump_ssh_user", "kdump_ssh_server"):
            if given.get(name) is not None:
                errors.append("%s is linux-system-roles' spelling of an SSH target, but kdump_target is "
                              "crashkit's (%r): put the %s in kdump_target.%s"
                              % (name, target, name[len("kdump_ssh_"):],
                                 "user" if name.endswith("user") else "host"))
        return result

    dump_dir = path or LSR_DEFAULT_PATH
    if target is None:
        notices.append("kdump_target: null (the root file system) -> kdump_target: {type: local, path: %s}"
                       % dump_dir)
        return {"type": "local", "path": dump_dir}
    unknown = sorted(set(target) - {"type", "location"})
    if unknown:
        errors.append("kdump_target in linux-system-roles' spelling takes type and location only, also got "
                      "%s (crashkit's kdump_target has type, path, device, fstype, host, user, port, ssh_key)"
                      % ", ".join(unknown))
        return None
    kind = target.get("type")
    location = target.get("location")
    if kind not in LSR_TYPES:
        errors.append("kdump_target.type %r with location is not a linux-system-roles type this role maps "
                      "(%s); crashkit's kdump_target.type is one of local, device, nfs, ssh"
                      % (kind, ", ".join(LSR_TYPES)))
        return None
    if location is not None and not isinstance(location, str):
        errors.append("kdump_target.location must be a string, got %r" % (location,))
        return None
    shown = "{type: %s, location: %s}" % (kind, location)
    if kind == "ssh":
        user, host = given.get("kdump_ssh_user"), given.get("kdump_ssh_server")
        if location:
            user, _at, host = location.rpartition("@")
            if not user:
                user = given.get("kdump_ssh_user")
        if not user or not host:
            errors.append("an ssh kdump_target needs location user@host (or kdump_ssh_user and "
                          "kdump_ssh_server); crashkit: kdump_target {type: ssh, user: ..., host: ...}")
            return None
        result = {"type": "ssh", "user": user, "host": host, "path": dump_dir}
        if sshkey is not None and sshkey != LSR_DEFAULT_SSHKEY:
            result["ssh_key"] = sshkey
        elif sshkey is not None:
            notices.append("kdump_sshkey %s is linux-system-roles' default: the dump key of "
                           "crashkit.kdump.dump_key is used instead (/root/.ssh/kdump_id_ed25519, or RSA "
                           "under FIPS)" % sshkey)
        notices.append("kdump_target %s -> kdump_target %s" % (shown, _show(result)))
        notices.append("SSH targets are served by the crashkit.kdump.dump_server role's restricted "
                       "receiver: put %s in the inventory group kdump_dump_servers (or set "
                       "kdump_dump_server_host / kdump_dump_server_pinned_keys); see "
                       "docs/migration-from-lsr.md" % host)
        return result
    if kind == "nfs":
        match = _NFS_LOCATION.match(location or "")
        host, export = match.groups() if match else ("", "")
        if not match:
            errors.append("an nfs kdump_target needs location host:/export (kdump.conf's nfs syntax), got "
                          "%r; crashkit: kdump_target {type: nfs, host: ..., path: <exported directory>}"
                          % (location,))
            return None
        # kdump.conf: the export is mounted and kdump_path is relative to it.
        where = posixpath.normpath(posixpath.join(export, dump_dir.lstrip("/")))
        result = {"type": "nfs", "host": host.strip("[]"), "path": where}
        notices.append("kdump_target %s with kdump_path %s -> kdump_target %s (the directory the dumps "
                       "land in, as kdump.conf's nfs and path lines meant it)" % (shown, dump_dir, _show(result)))
        return result
    if not location:
        errors.append("a %s kdump_target needs location (the device); crashkit: kdump_target {type: "
                      "device, fstype: %s, device: ...}" % (kind, kind))
        return None
    device = "UUID=%s" % location if _UUID.match(location) else location
    result = {"type": "device", "fstype": kind, "device": device}
    if kind == "raw":
        if path is not None:
            notices.append("kdump_path does not apply to a raw device target; ignored")
    else:
        result["path"] = dump_dir
    notices.append("kdump_target %s -> kdump_target %s" % (shown, _show(result)))
    return result


def _show(target):
    return "{%s}" % ", ".join("%s: %s" % (k, target[k]) for k in
                              ("type", "fstype", "device", "user", "host", "path", "ssh_key") if k in target)


def _collector(given, notices, errors):
    """kdump_core_collector -> {kdump_compression, kdump_dump_level, kdump_extra_collector_args}."""
    command = given.get("kdump_core_collector")
    if command is None or command == "":
        return {}
    words = command.split() if isinstance(command, str) else []
    if not words or posixpath.basename(words[0]) != "makedumpfile":
        errors.append("kdump_core_collector %r: only makedumpfile collectors are modelled; use "
                      "kdump_compression, kdump_dump_level and kdump_extra_collector_args" % (command,))
        return {}
    compression, level, rest = _kdumpconf._parse_collector(words[1:])
    if level is None:
        level = 0
        notices.append("kdump_core_collector has no -d: makedumpfile's default dump level 0 is used")
    levels = [words[i + 1] for i, w in enumerate(words[:-1]) if w == "--message-level"]
    if any(level_word != "7" for level_word in levels):
        notices.append("kdump_core_collector's --message-level %s is not kept: the redhat family's "
                       "core_collector is written with --message-level 7" % levels[-1])
    mapped = {"kdump_compression": compression, "kdump_dump_level": level,
              "kdump_extra_collector_args": " ".join(rest)}
    notices.append("kdump_core_collector %r -> kdump_compression: %s, kdump_dump_level: %d, "
                   "kdump_extra_collector_args: %r (-F is added per target)"
                   % (command, compression, level, mapped["kdump_extra_collector_args"]))
    return mapped


def map_lsr(given, current=None, family="redhat", major=None):
    """Map LSR variables to the setup role's.

    ``given``: the LSR variables the play defines (name -> value). ``current``: the setup role's
    current values of CRASHKIT_DEFAULTS' keys (missing ones are the defaults). ``family``:
    redhat, debian or suse; ``major``: the distribution's major version (for the directives
    kdump.conf accepts only from RHEL 9).

    Returns ``{"mapped": bool, "vars": {every key of CRASHKIT_DEFAULTS}, "notices": [...]}``;
    raises ``ValidationError`` naming every variable that cannot be mapped.
    """
    if not isinstance(given, dict):
        raise ValidationError("the linux-system-roles variables must be a dict, got %r" % (given,))
    state = dict(CRASHKIT_DEFAULTS)
    state.update((k, v) for k, v in (current or {}).items() if k in CRASHKIT_DEFAULTS)
    if not uses_lsr(given):
        return {"mapped": False, "vars": state, "notices": []}
    try:
        major = int(major)
    except (TypeError, ValueError):
        major = None
    notices, errors = [], []
    mapped = {}

    target = _target(given, state, family, notices, errors)
    if target is not None:
        mapped["kdump_target"] = target
    mapped.update(_collector(given, notices, errors))

    action = given.get("kdump_system_action")
    if action is not None:
        if action not in SYSTEM_ACTIONS:
            errors.append("kdump_system_action must be one of %s, got %r (crashkit: kdump_failure_action)"
                          % (", ".join(SYSTEM_ACTIONS), action))
        else:
            mapped["kdump_failure_action"] = action
            notices.append("kdump_system_action: %s -> kdump_failure_action: %s" % (action, action))

    extra = {}
    reset = given.get("kdump_auto_reset_crashkernel")
    if reset is not None:
        if not isinstance(reset, bool):
            errors.append("kdump_auto_reset_crashkernel must be true or false, got %r" % (reset,))
        elif family == "redhat" and major is not None and major >= 9:
            extra["auto_reset_crashkernel"] = "yes" if reset else "no"
            notices.append("kdump_auto_reset_crashkernel: %s -> kdump_extra_options.auto_reset_crashkernel: %s"
                           % (str(reset).lower(), extra["auto_reset_crashkernel"]))
        else:
            notices.append("kdump_auto_reset_crashkernel is ignored: kdump.conf has auto_reset_crashkernel "
                           "from RHEL 9 (kexec-tools 2.0.22) only, this host is %s %s"
                           % (family, major if major is not None else "(version unknown)"))
    dracut = given.get("kdump_dracut_args")
    if dracut is not None and dracut != "":
        if family == "redhat":
            extra["dracut_args"] = dracut
            notices.append("kdump_dracut_args: %s -> kdump_extra_options.dracut_args" % dracut)
        else:
            notices.append("kdump_dracut_args is ignored: only the redhat family's kdump.conf takes "
                           "dracut_args (this host is %s)" % family)
    if extra:
        options = dict(state["kdump_extra_options"] or {})
        for key, value in sorted(extra.items()):
            if key in options and str(options[key]).lower() not in (value, {"yes": "true", "no": "false"}.get(value)):
                errors.append("kdump_extra_options.%s (%s) and its linux-system-roles variable (%s) are both "
                              "set: keep kdump_extra_options.%s" % (key, options[key], value, key))
            options[key] = value
        mapped["kdump_extra_options"] = options

    lsr_name = {"kdump_failure_action": "kdump_system_action", "kdump_compression": "kdump_core_collector",
                "kdump_dump_level": "kdump_core_collector", "kdump_extra_collector_args": "kdump_core_collector"}
    for key, name in sorted(lsr_name.items()):
        if key in mapped and str(state[key]) not in (str(CRASHKIT_DEFAULTS[key]), str(mapped[key])):
            errors.append("%s and %s are both set (to %r and %r): keep %s"
                          % (name, key, mapped[key], state[key], key))
    if errors:
        raise ValidationError("linux-system-roles/kdump variables that cannot be mapped: " + "; ".join(errors)
                              + " (docs/migration-from-lsr.md)")
    state.update(mapped)
    return {"mapped": True, "vars": state, "notices": notices}
