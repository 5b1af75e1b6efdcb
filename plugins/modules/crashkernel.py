#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: crashkernel
short_description: Size the crash kernel reservation and report what must change
version_added: 0.1.0
description:
  - Reads the host (kernel command line, reserved crash memory, RAM, kernel and kdump
    initramfs sizes) and recommends a C(crashkernel=) value. Changes nothing.
  - "Every form the kernel accepts is understood, on the command line and in O(size):
    C(size[@offset]), RAM range lists C(start-[end]:size,...[@offset]) (start inclusive, end
    exclusive), C(size,high) with C(size,low), C(size,cma), several C(crashkernel=) words
    (the last plain one counts) and RHEL 8's C(auto)."
  - "Effective size: the kernel matches range lists against its total system RAM (memblock),
    rounded up to 128 MiB (Linux 6.0 and later). The module approximates that RAM with the sum of
    the top-level C(System RAM) entries of C(/proc/iomem) (what Red Hat's kdump-utils does); when
    addresses are hidden (not root) it uses C(MemTotal) from C(/proc/meminfo) plus the current
    reservation, which still misses the kernel image and firmware reservations (tens of MiB)."
  - Use the C(crashkernel_mb) filter to compute the effective size of any value for a given RAM.
author:
  - crashkit maintainers (@crashkit)
extends_documentation_fragment:
  - crashkit.kdump.attributes
  - crashkit.kdump.attributes.info_module
options:
  policy:
    description:
      - C(distro_default) recommends the default the distribution's kdump package publishes
        (tables in the collection's C(_crashkernel) module_utils, each with its source).
      - C(estimate) adds up the capture kernel's needs on this host (see RV(estimate_breakdown)).
      - C(fixed) recommends O(size).
    type: str
    choices: [distro_default, estimate, fixed]
    default: estimate
  size:
    description:
      - The value for O(policy=fixed); any value the kernel accepts, with or without a leading
        C(crashkernel=). Used exactly as given (O(floor_mb) and O(ceiling_mb) do not apply).
    type: str
  floor_mb:
    description:
      - Smallest size in MiB the recommendation may reserve (for range lists, every size).
      - The default is the smallest reservation that booted Debian 12's stock capture
        environment in the project's lab (112M and 96M ran out of memory).
      - Set to V(0) to disable.
    type: int
    default: 128
  ceiling_mb:
    description: Largest size in MiB the recommendation may reserve. Unset means no limit.
    type: int
  allow_shrink:
    description:
      - When false the module never recommends less than the current command line reserves on
        this host; the current value is returned as RV(recommended) instead.
    type: bool
    default: false
  target_type:
    description: Where dumps go, for O(policy=estimate); network targets need drivers and a client.
    type: str
    choices: [local, device, nfs, ssh]
    default: local
  luks:
    description:
      - Whether cryptsetup must unlock a LUKS2 device in the capture kernel (O(policy=estimate)).
      - C(auto) looks for dm-crypt under the devices holding C(/) and O(dump_path).
    type: str
    choices: [auto, 'true', 'false']
    default: auto
  luks_memory_mb:
    description:
      - Argon2 memory cost of the keyslot in MiB (C(cryptsetup luksDump), C(Memory:) divided by
        1024). Default 1024, cryptsetup's default maximum.
    type: int
  dump_path:
    description: Local directory dumps are written to, used by O(luks=auto).
    type: path
    default: /var/crash
  capture_cpus:
    description:
      - CPUs the capture kernel starts. Debian's kdump-tools and Red Hat's kdump both pass
        C(nr_cpus=1).
    type: int
    default: 1
  total_memory_mb:
    description:
      - RAM of the host in MiB as the kernel counts it, to plan for another host. Default
        detected (see the description).
    type: int
  arch:
    description: Architecture (C(uname -m) or Debian names such as C(amd64)). Default the host's.
    type: str
  distribution:
    description:
      - Distribution for O(policy=distro_default) and for the estimate's initramfs layout; accepts
        C(ansible_distribution) and C(ansible_os_family) values (C(Debian), C(Ubuntu), C(RedHat),
        C(CentOS), C(Rocky), C(AlmaLinux), C(OracleLinux), C(Fedora), C(SLES), C(openSUSE Leap),
        C(Suse), ...). Default read from O(os_release_path).
    type: str
  distribution_major_version:
    description:
      - Release of O(distribution); C(major) or C(major.minor) (Ubuntu C(24.10)). A bare Ubuntu
        C(24) means 24.04. Default read from O(os_release_path).
    type: str
  kernel_release:
    description: Kernel release whose image and kdump initramfs are measured. Default C(uname -r).
    type: str
  kernel_path:
    description:
      - Kernel image to measure. Default C(/boot/vmlinuz-<release>) (or C(Image-), C(image-),
        C(vmlinux-)). On x86 the bzImage header's C(init_size) is used; otherwise the running
        kernel's span in C(/proc/iomem), otherwise the file size times 6 (x86, s390x), 2 (ppc64le)
        or 4 like Debian's estimator.
    type: path
  initrd_path:
    description:
      - Kdump initramfs to measure. Default C(/var/lib/kdump/initrd.img-<release>) on Debian and
        Ubuntu, C(/boot/initramfs-<release>kdump.img) on Red Hat and Fedora,
        C(/boot/initrd-<release>-kdump) on SUSE; when it does not exist yet, the regular initramfs
        of the release stands in for it.
    type: path
  proc_cmdline_path:
    description: The running kernel's command line.
    type: path
    default: /proc/cmdline
  kexec_crash_size_path:
    description: Bytes reserved for the crash kernel now.
    type: path
    default: /sys/kernel/kexec_crash_size
  iomem_path:
    description: Physical memory map.
    type: path
    default: /proc/iomem
  meminfo_path:
    description: Memory statistics, the fallback for the RAM size.
    type: path
    default: /proc/meminfo
  os_release_path:
    description: os-release file for the distribution defaults.
    type: path
    default: /etc/os-release
  mounts_path:
    description: Mount table, for O(luks=auto).
    type: path
    default: /proc/self/mounts
  sys_class_block_path:
    description: Block device sysfs directory, for O(luks=auto).
    type: path
    default: /sys/class/block
notes:
  - The module never edits the boot configuration; give RV(recommended) to a bootloader module
    and reboot when RV(reboot_required) is true.
seealso:
  - name: Kernel documentation for kdump
    description: The crashkernel syntax and its range semantics.
    link: https://docs.kernel.org/admin-guide/kdump/kdump.html
"""

EXAMPLES = r"""
- name: Size the reservation from the parts of the capture environment
  crashkit.kdump.crashkernel:
    policy: estimate
  register: ck

- name: Show what must change
  ansible.builtin.debug:
    msg: "{{ ck.action }}: crashkernel={{ ck.recommended }} ({{ ck.recommended_mb }}M here); {{ ck.reason }}"

- name: Use the distribution's published default, but never below 192M
  crashkit.kdump.crashkernel:
    policy: distro_default
    floor_mb: 192

- name: Plan for a 64 GiB RHEL 9 host that dumps over NFS
  crashkit.kdump.crashkernel:
    policy: distro_default
    distribution: RedHat
    distribution_major_version: "9"
    arch: x86_64
    total_memory_mb: 65536

- name: Pin a value and allow it to be smaller than today's
  crashkit.kdump.crashkernel:
    policy: fixed
    size: 1G-4G:192M,4G-:256M
    allow_shrink: true
"""

RETURN = r"""
recommended:
  description:
    - The C(crashkernel=) value to configure (without C(crashkernel=)). Equals RV(current) when
      the policy asks for less and O(allow_shrink) is false.
  returned: success
  type: str
  sample: 176M
recommended_mb:
  description: MiB the kernel reserves for RV(recommended) on this host.
  returned: success
  type: int
  sample: 176
policy_value:
  description: What the policy produced, before O(allow_shrink) is taken into account.
  returned: success
  type: str
  sample: 176M
policy_source:
  description: Where a O(policy=distro_default) value comes from (package, file, commit).
  returned: when O(policy=distro_default)
  type: str
  sample: Debian 12 kdump-tools 1:1.8.1 /etc/default/grub.d/kdump-tools.cfg (amd64, s390x / arm64, ppc64el)
current:
  description:
    - The C(crashkernel=) value of the running command line that counts (the last plain one,
      else the last C(,high)), exactly as written; null when there is none.
  returned: success
  type: str
  sample: 384M-:128M
current_values:
  description: Every C(crashkernel=) value on the command line, in order.
  returned: success
  type: list
  elements: str
  sample: ["384M-:128M"]
current_mb:
  description: MiB RV(current) reserves on this host (0 when none, invalid, or no range matches).
  returned: success
  type: int
  sample: 128
current_error:
  description: Why RV(current) is not usable, when the counting value is invalid.
  returned: when the current value is invalid
  type: str
reserved_mb:
  description: MiB reserved now for the crash kernel (C(/sys/kernel/kexec_crash_size)); 0 when none.
  returned: success
  type: int
  sample: 128
low_mb:
  description: MiB RV(current) reserves below 4 GiB next to a C(,high) region.
  returned: success
  type: int
  sample: 0
action:
  description:
    - C(set) when no usable C(crashkernel=) is on the command line; C(grow) when RV(recommended)
      reserves more than RV(current) on this host; C(shrink) when it reserves less and
      O(allow_shrink) is true; C(none) otherwise.
  returned: success
  type: str
  sample: grow
reboot_required:
  description: True when RV(recommended_mb) differs from RV(reserved_mb).
  returned: success
  type: bool
  sample: true
reason:
  description: One sentence on the decision.
  returned: success
  type: str
  sample: crashkernel=384M-:128M reserves 128M here, the estimate asks for 176M.
system_ram_mb:
  description: RAM in MiB used for range matching (before the kernel's rounding to 128 MiB).
  returned: success
  type: int
  sample: 1023
system_ram_source:
  description: C(iomem), C(meminfo) or C(option) (O(total_memory_mb)).
  returned: success
  type: str
  sample: iomem
arch:
  description: Architecture used.
  returned: success
  type: str
  sample: x86_64
distribution:
  description: Distribution and release used, when known.
  returned: success
  type: str
  sample: Debian 12
estimate_breakdown:
  description:
    - The parts of the estimate in MiB, the two phases they add up to, the margin, rounding and
      clamping, and C(inputs) saying where each measured size came from.
  returned: when O(policy=estimate)
  type: dict
  sample:
    kernel_mb: 48.0
    initramfs_packed_mb: 30.0
    initramfs_unpacked_mb: 60.0
    boot_phase_mb: 156.0
    dump_phase_mb: 106.06
    total_mb: 176
"""

import os
import platform

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.crashkit.kdump.plugins.module_utils import _crashkernel as ck
from ansible_collections.crashkit.kdump.plugins.module_utils import _kdumpconf as kc
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError
from ansible_collections.crashkit.kdump.plugins.module_utils._module import domain_errors, read_text


def _distribution(params):
    name, version = params["distribution"], params["distribution_major_version"]
    if name and version:
        return name, version
    return ck.complete_distribution(name, version, kc.parse_os_release(read_text(params["os_release_path"])))


def _kernel_bytes(params, release, arch, iomem):
    path = ck.kernel_image_path(release, params["kernel_path"], os.path.exists)
    header = size = None
    if path:
        with open(path, "rb") as handle:
            header = handle.read(4096)
        size = os.path.getsize(path)
    return ck.kernel_footprint(release, arch, path, header, size, iomem)


def _initrd(params, family, release):
    path, source = ck.initrd_path(family, release, params["initrd_path"], os.path.exists)
    size_file = ck.initrd_size_file(family, path)
    unpacked = ck.parse_initrd_size(read_text(size_file)) if size_file else None
    return os.path.getsize(path), unpacked, source


def _block_name(device, sys_block):
    if not device.startswith("/dev/"):
        return None
    name = os.path.basename(os.path.realpath(device))
    if os.path.isdir(os.path.join(sys_block, name)):
        return name
    wanted = os.path.basename(device)
    for entry in sorted(os.listdir(sys_block)) if os.path.isdir(sys_block) else []:
        if (read_text(os.path.join(sys_block, entry, "dm", "name")) or "").strip() == wanted:
            return entry
    return None


def _encrypted(name, sys_block, depth=0):
    if not name or depth > 16:
        return False
    if (read_text(os.path.join(sys_block, name, "dm", "uuid")) or "").startswith("CRYPT-"):
        return True
    slaves = os.path.join(sys_block, name, "slaves")
    return any(_encrypted(s, sys_block, depth + 1) for s in (sorted(os.listdir(slaves)) if os.path.isdir(slaves) else []))


def _encrypted_mounts(params):
    sys_block = params["sys_class_block_path"]
    return ck.encrypted_mounts(read_text(params["mounts_path"]), ("/", params["dump_path"]),
                               lambda device: _encrypted(_block_name(device, sys_block), sys_block))


def _estimate(params, family, arch, ram, iomem):
    release = params["kernel_release"] or platform.release()
    kernel = _kernel_bytes(params, release, arch, iomem)
    initrd = _initrd(params, family, release)
    encrypted = _encrypted_mounts(params) if params["luks"] == "auto" else None
    return ck.estimate_value(
        ram, release, family, kernel, initrd, ck.luks_choice(params["luks"], encrypted), arch=arch,
        cpus=params["capture_cpus"], target_type=params["target_type"], luks_memory_mb=params["luks_memory_mb"],
        floor_mb=params["floor_mb"] or None, ceiling_mb=params["ceiling_mb"])


def _policy_value(params, arch, ram, iomem, out):
    if params["policy"] == "fixed":
        return ck.fixed_value(params["size"])
    name, version = _distribution(params)
    family = ck.distro_family(name) if name else None
    if name:
        out["distribution"] = ("%s %s" % (name, version or "")).strip()
    if params["policy"] == "distro_default":
        value, out["policy_source"] = ck.distro_default_value(name, version, arch, params["floor_mb"],
                                                              params["ceiling_mb"])
        return value
    value, out["estimate_breakdown"] = _estimate(params, family, arch, ram, iomem)
    return value


def run(module):
    params = module.params
    arch = ck.normalize_arch(params["arch"] or platform.machine())
    cmdline = read_text(params["proc_cmdline_path"])
    if cmdline is None:
        raise KdumpError("%s does not exist" % params["proc_cmdline_path"])
    crash_text = read_text(params["kexec_crash_size_path"])
    reserved = ck.parse_kexec_crash_size(crash_text) if crash_text is not None else 0
    try:
        iomem = read_text(params["iomem_path"])
    except KdumpError:
        iomem = None
    if params["total_memory_mb"]:
        ram, ram_source = params["total_memory_mb"] * ck.MIB, "option"
    else:
        ram, ram_source = ck.system_ram_from_host(iomem, read_text(params["meminfo_path"]), reserved)

    out = {"changed": False, "arch": arch, "system_ram_mb": ck.mib(ram), "system_ram_source": ram_source,
           "reserved_mb": ck.mib(reserved)}
    current = ck.current_state(cmdline, ram, arch)
    out.update(current.fields)
    value = _policy_value(params, arch, ram, iomem, out)
    out.update(ck.recommendation(params["policy"], value, current, reserved, ram, arch, params["allow_shrink"]))
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            policy=dict(type="str", default="estimate", choices=["distro_default", "estimate", "fixed"]),
            size=dict(type="str"),
            floor_mb=dict(type="int", default=128),
            ceiling_mb=dict(type="int"),
            allow_shrink=dict(type="bool", default=False),
            target_type=dict(type="str", default="local", choices=["local", "device", "nfs", "ssh"]),
            luks=dict(type="str", default="auto", choices=["auto", "true", "false"]),
            luks_memory_mb=dict(type="int"),
            dump_path=dict(type="path", default="/var/crash"),
            capture_cpus=dict(type="int", default=1),
            total_memory_mb=dict(type="int"),
            arch=dict(type="str"),
            distribution=dict(type="str"),
            distribution_major_version=dict(type="str"),
            kernel_release=dict(type="str"),
            kernel_path=dict(type="path"),
            initrd_path=dict(type="path"),
            proc_cmdline_path=dict(type="path", default="/proc/cmdline"),
            kexec_crash_size_path=dict(type="path", default="/sys/kernel/kexec_crash_size"),
            iomem_path=dict(type="path", default="/proc/iomem"),
            meminfo_path=dict(type="path", default="/proc/meminfo"),
            os_release_path=dict(type="path", default="/etc/os-release"),
            mounts_path=dict(type="path", default="/proc/self/mounts"),
            sys_class_block_path=dict(type="path", default="/sys/class/block"),
        ),
        required_if=[("policy", "fixed", ["size"])],
        supports_check_mode=True,
    )
    for name in ("floor_mb", "ceiling_mb", "luks_memory_mb", "total_memory_mb"):
        if module.params[name] is not None and module.params[name] < 0:
            module.fail_json(msg="%s must not be negative" % name)
    if module.params["capture_cpus"] < 1:
        module.fail_json(msg="capture_cpus must be at least 1")
    with domain_errors(module):
        module.exit_json(**run(module))


if __name__ == "__main__":
    main()
