#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: kdump_info
short_description: Report whether a host is ready to capture a kernel crash dump
version_added: 0.1.0
description:
  - Reads the host and reports whether a panic now would be captured, and why not.
  - Crash kernel state from C(/sys/kernel/kexec_crash_loaded) and C(kexec_crash_size) (or the
    firmware-assisted dump state on POWER), the kdump service of the family (C(kdump-tools) or
    C(kdump)) from C(systemctl is-enabled) and C(is-active), the configured target read from the
    family's configuration file, the makedumpfile version and compressions, Secure Boot
    (C(mokutil --sb-state), else the EFI variables), and the dumps already saved.
  - "Room for a dump: the expected size is what C(makedumpfile --mem-usage /proc/kcore) counts for
    the configured dump level, before compression (an upper bound). makedumpfile refuses to count
    when no memory is reserved for the crash kernel; then, or with O(mem_usage=false), the size is
    estimated as C(MemTotal) times O(estimate_ratio). The free space of the file system holding
    the local dump directory (C(os.statvfs), blocks available to unprivileged users) must be at
    least that size. An NFS target's export is mounted as the capture mounts it (on a private
    temporary directory, for at most O(nfs_timeout) seconds; read-only and without the write test in
    check mode), a file is made and removed in it, and its free space must be at least that size
    (O(nfs_check=false) leaves it out). A debian device target's mount unit must exist and its
    device be mounted (C(/proc/self/mountinfo)); config.target then names the device and its
    C(dump_dir). A redhat device target's dumps are where this system has the device mounted
    (kdumpctl mounts it in the capture itself): config.target names that C(mountpoint) and
    C(dump_dir), null when it is not mounted here, which is no problem. SSH targets are not checked here (see
    M(crashkit.kdump.dump_key))."
  - RV(ready) is true when RV(problems) is empty.
  - RV(crashkernel) gives the distribution's published C(crashkernel=) default for this host
    (see M(crashkit.kdump.crashkernel) for an estimate from the capture environment's parts).
author:
  - crashkit maintainers (@crashkit)
extends_documentation_fragment:
  - crashkit.kdump.attributes
  - crashkit.kdump.attributes.info_module
options:
  family:
    description: Which kdump implementation the host uses; C(auto) reads O(os_release_path).
    type: str
    choices: [auto, redhat, debian, suse]
    default: auto
  os_release_path:
    description: os-release file for O(family=auto) and the distribution default of RV(crashkernel).
    type: path
    default: /etc/os-release
  config_path:
    description:
      - The kdump configuration to read. Default C(/etc/kdump.conf) (redhat),
        C(/etc/default/kdump-tools) (debian) or C(/etc/sysconfig/kdump) (suse).
    type: path
  sysfs_root:
    description: Where sysfs is mounted (C(kernel/kexec_crash_*), C(firmware/efi/efivars)).
    type: path
    default: /sys
  proc_root:
    description: Where procfs is mounted (C(meminfo), C(iomem), C(kcore)).
    type: path
    default: /proc
  nfs_check:
    description:
      - For an NFS target, mount its export (as the capture does, on a private temporary directory
        under C(/run)), make and remove a file in it and read its free space; unmounted at once.
        In check mode the export is mounted read-only and nothing is written.
    type: bool
    default: true
  device_unit_path:
    description:
      - The mount unit of a debian device target's dump device (a path option for tests).
    type: path
    default: /etc/systemd/system/var-lib-crashkit-dumpdev.mount
  nfs_timeout:
    description: Seconds the NFS check may take to mount (and to unmount) the export.
    type: int
    default: 30
  crash_dir:
    description:
      - Directory whose dumps are listed in RV(dumps). Default the configured local dump
        directory, else C(/var/crash).
    type: path
  makedumpfile_path:
    description: makedumpfile binary. Default found on C(PATH).
    type: path
  mem_usage:
    description:
      - Run C(makedumpfile --mem-usage) on C(<proc_root>/kcore) to size the dump. It reads the
        page tables of the whole memory, which takes a few seconds on large hosts.
    type: bool
    default: true
  estimate_ratio:
    description:
      - Share of C(MemTotal) assumed for a dump when makedumpfile cannot count. The default
        0.25 is a conservative figure for dump level 31 (kernel data only), which usually
        stays well below a quarter of RAM; use 1.0 for dump level 0.
    type: float
    default: 0.25
  systemctl_path:
    description: systemctl binary. Default found on C(PATH); without it the service state is null.
    type: path
  mokutil_path:
    description: mokutil binary. Default found on C(PATH); without it the EFI variables are read.
    type: path
  capture_note:
    description:
      - The lean capture's fallback note of this host (see the setup role's
        C(kdump_capture_mode)), read into RV(capture_fallback). A path option for tests.
    type: path
    default: /var/lib/crashkit/capture-fallback
notes:
  - Needs root for C(/proc/kcore) and C(/proc/iomem) addresses; without them the dump size is
    estimated and the RAM size comes from C(/proc/meminfo).
seealso:
  - module: crashkit.kdump.kdump_config
  - module: crashkit.kdump.crashkernel
"""

EXAMPLES = r"""
- name: Gather kdump readiness
  crashkit.kdump.kdump_info:
  register: kdump

- name: Stop when a panic would not be captured
  ansible.builtin.assert:
    that: kdump.ready
    fail_msg: "{{ kdump.problems | join(' ') }}"

- name: List incomplete dumps
  ansible.builtin.debug:
    msg: "{{ kdump.dumps | rejectattr('complete') | map(attribute='path') | list }}"

- name: Quick check without running makedumpfile over all memory
  crashkit.kdump.kdump_info:
    mem_usage: false
    estimate_ratio: 0.5
"""

RETURN = r"""
ready:
  description: True when RV(problems) is empty.
  returned: always
  type: bool
  sample: false
problems:
  description: Sentences saying what stops a dump from being captured or saved.
  returned: always
  type: list
  elements: str
  sample:
    - "No crash kernel is loaded (/sys/kernel/kexec_crash_loaded is 0): a panic now would not be captured."
advisories:
  description:
    - Sentences about what does not stop a capture but makes it worse than configured, for
      example a makedumpfile that cannot tell free pages on this kernel (then also given as
      warnings). Empty when nothing is known.
  returned: always
  type: list
  elements: str
  sample:
    - "makedumpfile 1.7.6 cannot tell free pages on Linux 6.12 and later (upstream issue
      makedumpfile/makedumpfile#16, fixed in makedumpfile 1.7.7): on kernel 6.12.118+deb13-amd64,
      dump level 31 keeps those pages, so dumps are larger and the capture takes longer than that
      level promises (the expected dump size counts them). Use makedumpfile 1.7.7 or later when
      the distribution ships it; until then size the dump target and the capture time for it."
family:
  description: The family the host was treated as.
  returned: always
  type: str
  sample: debian
crash_kernel:
  description:
    - C(loaded) (null when the kernel has no kexec crash support), C(mode) (C(kdump) or C(fadump)),
      C(reserved_bytes) and C(reserved_mb) of memory reserved for the crash kernel.
  returned: always
  type: dict
  sample: {loaded: true, mode: kdump, reserved_bytes: 268435456, reserved_mb: 256}
service:
  description: C(name) of the kdump unit, C(enabled) and C(active) as systemctl reports them (null when unknown).
  returned: always
  type: dict
  sample: {name: kdump-tools, enabled: enabled, active: active}
config:
  description:
    - The configuration read back in the terms of M(crashkit.kdump.kdump_config) - C(path),
      C(exists), C(target), C(dump_level), C(compression), C(extra_collector_args),
      C(failure_action), C(keep_local_dumps), C(kdump_cmdline_append), C(managed) (written by
      kdump_config), C(error) when it could not be read. Missing settings show the family defaults.
  returned: always
  type: dict
  sample:
    path: /etc/default/kdump-tools
    exists: true
    managed: false
    target: {type: local, path: /var/crash}
    dump_level: 31
    compression: zlib
makedumpfile:
  description: C(path), C(version), C(released), C(compressions) and C(supported_compressions); null when not installed.
  returned: always
  type: dict
  sample: {path: /usr/bin/makedumpfile, version: 1.7.2, supported_compressions: [zlib, lzo, none]}
dump_size:
  description:
    - C(expected_bytes) and C(expected_mb) of a dump at C(dump_level), C(source) C(mem_usage) or
      C(estimate), C(mem_usage_error) when makedumpfile could not count.
  returned: always
  type: dict
  sample: {expected_bytes: 175112192, expected_mb: 167, dump_level: 31, source: mem_usage}
dump_dir:
  description:
    - For local targets, C(path), the existing directory C(checked) with statvfs, C(free_bytes),
      C(free_mb) and C(room) (free space is at least the expected size).
    - For NFS targets (with O(nfs_check)), C(path) is the export (C(host:/path)), C(mountable),
      C(writable) (a file could be made and removed; null in check mode), C(error) (why not), and
      C(checked), C(free_bytes), C(free_mb), C(room) as for a local target.
    - For device targets on debian, as for a local target on the dump directory inside the mount,
      with C(device) (from the mount unit), C(unit) (the mount unit exists), C(mounted) (something
      is mounted on C(/var/lib/crashkit/dumpdev)) and C(source) (what).
    - For redhat file system device targets, as for a local target on C(<mount point>/<path>),
      with C(device) and C(mounted) (this system has the device mounted; else C(path) is null and
      RV(dumps) is empty). Null for other targets.
  returned: always
  type: dict
  sample: {path: /var/crash, checked: /var/crash, free_bytes: 9663676416, free_mb: 9216, room: true}
secure_boot:
  description: C(enabled), C(setup_mode), C(shim_validation), C(efi) (null when unknown) and C(source).
  returned: always
  type: dict
  sample: {enabled: false, setup_mode: false, shim_validation: null, efi: true, source: mokutil}
dumps:
  description:
    - Dumps below the crash directory, oldest first - C(path), C(name), C(layout) (debian,
      redhat, suse), C(vmcore), C(incomplete_file), C(dmesg), C(size) (bytes of the vmcore or of
      the partial file), C(mtime) and C(complete).
  returned: always
  type: list
  elements: dict
  sample:
    - path: /var/crash/202403011230
      name: "202403011230"
      layout: debian
      vmcore: /var/crash/202403011230/dump.202403011230
      dmesg: /var/crash/202403011230/dmesg.202403011230
      size: 48234496
      mtime: 1709296290.0
      complete: true
capture_fallback:
  description:
    - What the last capture boot under systemd kept of the lean capture's fallback note, when the
      lean capture left the dump to kdump-tools - C(saved_by) (C(kdump-tools)), C(fallback) (why,
      one line) and C(time) (when it gave up, epoch seconds of this host's clock). Null without
      such a note (the lean capture saved the last dump itself, or it is not in use).
    - Read as hostile data - the file is opened without following a link, its first 4 KiB
      only, known keys with valid values only.
  returned: always
  type: dict
  sample: {saved_by: kdump-tools, fallback: "kdumprecv@10.77.0.12 did not answer over ssh", time: 1764950000}
crashkernel:
  description:
    - The distribution's published C(crashkernel=) default (C(recommended), C(source)) and what
      it reserves on this host (C(recommended_mb)), next to C(reserved_mb); C(error) instead when
      the distribution has no published default.
  returned: always
  type: dict
  sample: {recommended: 384M-:128M, recommended_mb: 128, reserved_mb: 128, source: Debian 12 kdump-tools 1:1.8.1}
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.crashkit.kdump.plugins.module_utils import _capture
from ansible_collections.crashkit.kdump.plugins.module_utils import _hostprobe as hp
from ansible_collections.crashkit.kdump.plugins.module_utils import _kdumpconf as kc
from ansible_collections.crashkit.kdump.plugins.module_utils import _kdumpinfo as ki
from ansible_collections.crashkit.kdump.plugins.module_utils import _readiness as rd
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import HostError, KdumpError
from ansible_collections.crashkit.kdump.plugins.module_utils._module import domain_errors, read_text


def argument_spec():
    return dict(
        family=dict(type="str", default="auto", choices=["auto", "redhat", "debian", "suse"]),
        os_release_path=dict(type="path", default="/etc/os-release"),
        config_path=dict(type="path"),
        sysfs_root=dict(type="path", default="/sys"),
        proc_root=dict(type="path", default="/proc"),
        crash_dir=dict(type="path"),
        makedumpfile_path=dict(type="path"),
        mem_usage=dict(type="bool", default=True),
        estimate_ratio=dict(type="float", default=ki.DEFAULT_ESTIMATE_RATIO),
        systemctl_path=dict(type="path"),
        mokutil_path=dict(type="path"),
        nfs_check=dict(type="bool", default=True),
        nfs_timeout=dict(type="int", default=30),
        device_unit_path=dict(type="path", default=kc.DEBIAN_DEVICE_UNIT_PATH),
        capture_note=dict(type="path", default=_capture.FALLBACK_NOTE),
    )


def _read(path):
    try:
        return read_text(path)
    except KdumpError:
        return None


def _binary(module, given, name):
    if given:
        return given if os.access(given, os.X_OK) else None
    return module.get_bin_path(name, opt_dirs=["/usr/sbin", "/sbin", "/usr/bin", "/bin"])


def service_state(module, family, systemctl):
    name = kc.SERVICE_NAMES[family]
    state = {"name": name, "enabled": None, "active": None}
    if not systemctl:
        return state
    for verb, key in (("is-enabled", "enabled"), ("is-active", "active")):
        _rc, out, _err = module.run_command([systemctl, verb, name + ".service"])
        state[key] = ki.parse_systemctl_state(out)
    return state


def probe_makedumpfile(module, path):
    if not path:
        return None
    rc, out, err = module.run_command([path, "-v"])
    try:
        info = ki.parse_makedumpfile_version((out or "") + (err or ""))
    except KdumpError as exc:
        raise HostError("%s -v (exit %s) did not print a version: %s" % (path, rc, exc))
    info["path"] = path
    return info


def mem_usage_output(module, params, makedumpfile):
    """stdout and stderr of ``makedumpfile --mem-usage`` on the kcore, or ``None`` when it is not run."""
    if not (makedumpfile and params["mem_usage"]):
        return None
    kcore = os.path.join(params["proc_root"], "kcore")
    _rc, out, err = module.run_command([makedumpfile["path"], "--mem-usage", kcore])
    return (out or "") + "\n" + (err or "")


def secure_boot(module, sysfs, mokutil):
    if mokutil:
        _rc, out, err = module.run_command([mokutil, "--sb-state"])
        try:
            return ki.parse_sb_state((out or "") + (err or ""))
        except KdumpError:
            pass
    efi = os.path.join(sysfs, "firmware", "efi")
    efivars = os.path.join(efi, "efivars")
    return rd.secure_boot_from_firmware(hp.first_efivar(efivars, "SecureBoot-*"),
                                        hp.first_efivar(efivars, "SetupMode-*"), os.path.isdir(efi))


def _family(params):
    if params["family"] != "auto":
        return params["family"]
    text = _read(params["os_release_path"])
    if text is None:
        raise HostError("family=auto needs %s, which does not exist; set family" % params["os_release_path"])
    return kc.family_from_os_release(text)


def run(module):
    params = module.params
    if not 0 < params["estimate_ratio"] <= 1:
        raise HostError("estimate_ratio must be more than 0 and at most 1, got %s" % params["estimate_ratio"])
    family = _family(params)
    sysfs, proc = params["sysfs_root"], params["proc_root"]
    out = {"family": family}
    out["crash_kernel"] = rd.crash_kernel_state(lambda name: _read(os.path.join(sysfs, "kernel", name)))
    out["service"] = service_state(module, family, _binary(module, params["systemctl_path"], "systemctl"))
    config_path = params["config_path"] or kc.CONFIG_PATHS[family]
    config = out["config"] = rd.config_state(family, config_path, _read(config_path))
    makedumpfile = probe_makedumpfile(module, _binary(module, params["makedumpfile_path"], "makedumpfile"))
    out["makedumpfile"] = makedumpfile
    level = config["dump_level"] if isinstance(config["dump_level"], int) else kc.DEFAULT_DUMP_LEVEL
    meminfo = _read(os.path.join(proc, "meminfo"))
    size = out["dump_size"] = rd.dump_size(level, mem_usage_output(module, params, makedumpfile), meminfo,
                                           params["estimate_ratio"])
    target = config["target"] or {}
    # this host's dump directory: a local target's path, a debian device target's on its mount
    local_dir = target.get("path") if target.get("type") == "local" else target.get("dump_dir")
    out["dump_dir"] = hp.dump_dir_space(local_dir, size["expected_bytes"]) if local_dir else None
    if target.get("type") == "device" and local_dir:
        # debian: the device is mounted by crashkit's mount unit on a fixed mount point
        config["target"], out["dump_dir"] = rd.device_target_state(
            target, _read(params["device_unit_path"]), _read(os.path.join(proc, "self", "mountinfo")),
            out["dump_dir"])
    # a redhat file system device: kdumpctl mounts it in the capture; here the dumps are where it
    # is mounted, and nowhere else (a raw device's dumps are copied to the path at the next boot)
    on_device = target.get("type") == "device" and family == "redhat" and target.get("fstype") != "raw"
    if on_device:
        sources, number = hp.device_ids(target.get("device") or "")
        config["target"], local_dir, facts = rd.mounted_device_dump_dir(
            target, rd.device_mount_point(_read(os.path.join(proc, "self", "mountinfo")), sources, number))
        out["dump_dir"] = dict(hp.dump_dir_space(local_dir, size["expected_bytes"]), **facts)
    if target.get("type") == "nfs" and params["nfs_check"]:
        tools = [_binary(module, None, name) for name in ("mount", "umount", "timeout")]
        out["dump_dir"] = hp.nfs_export_space(module.run_command, tools, target, size["expected_bytes"],
                                              params["nfs_timeout"], module.check_mode)
    out["secure_boot"] = secure_boot(module, sysfs, _binary(module, params["mokutil_path"], "mokutil"))
    crash_dir = params["crash_dir"] or local_dir or (None if on_device else kc.DEFAULT_DUMP_DIR)
    out["dumps"] = ki.scan_crash_dir(crash_dir) if crash_dir else []
    out["crashkernel"] = rd.crashkernel_default(_read(params["os_release_path"]), os.uname()[4],
                                                _read(os.path.join(proc, "iomem")), meminfo,
                                                out["crash_kernel"]["reserved_bytes"])
    note = _capture.read_fallback(params["capture_note"])
    out["capture_fallback"] = None if note is None else {
        "saved_by": note["saved_by"], "fallback": note.get("fallback"), "time": note["time"]}
    out["problems"] = rd.problems(out, sysfs, params["estimate_ratio"])
    out["advisories"] = rd.advisories(out, _read(os.path.join(proc, "sys", "kernel", "osrelease")))
    for advice in out["advisories"]:
        module.warn(advice)
    out["ready"] = not out["problems"]
    out["changed"] = False
    return out


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    with domain_errors(module):
        module.exit_json(**run(module))


if __name__ == "__main__":
    main()
