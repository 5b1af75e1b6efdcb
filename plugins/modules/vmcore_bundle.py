#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vmcore_bundle
short_description: Build the evidence bundle of one kernel crash, as a directory and a .tar.gz
version_added: 0.1.0
description:
  - Assembles what an engineer needs next to a crash dump into O(dest) and O(dest)C(.tar.gz).
  - "C(dmesg.txt): the crashed kernel's log, the one saved with the dump (C(dmesg.<stamp>),
    C(vmcore-dmesg.txt), C(dmesg.txt), C(dmesg)), else extracted with C(makedumpfile --dump-dmesg)
    from a kdump-compressed or ELF dump (O(dmesg_from_dump))."
  - "C(triage.json): M(crashkit.kdump.vmcore_triage)'s record of that log (or the reason it
    could not be made)."
  - "C(bundle.json): the summary - host identity, crash directory, the dump files by name, size,
    format, completeness and SHA-256 (the dump itself is not in the bundle), kernel release and
    build id of the crashed kernel (the dump's C(VMCOREINFO) C(OSRELEASE)/C(BUILD-ID), else the
    log's C(Linux version) line), crash time (C(CRASHTIME)), uptime at the crash (the kernel log
    timestamp of the crash line), the crashed kernel's command line and C(crashkernel=), the
    change record, and what is missing and why."
  - "With O(host_facts) (on the host that crashed): C(journal.txt), the journal of the crashed
    boot (C(journalctl -b <boot id>), the last boot that started before the crash time; without
    a crash time the boot before the current one) and the reason when there is none (no
    persistent journal); C(packages.json), the package changes since the start of the boot
    before the crashed one (C(/var/log/dpkg.log*), or C(rpm -qa) install times); C(kdump/), the
    kdump configuration files; C(system.json), the current C(/proc/cmdline), its
    C(crashkernel=), C(/sys/kernel/kexec_crash_size) and C(kexec_crash_loaded), kernel release."
  - "C(crash/): deep triage (O(deep_triage)). Where C(crash) is installed and the crashed
    kernel's debug vmlinux is found (O(debug_vmlinux), else by the kernel release in the
    family's place: Debian C(/usr/lib/debug/boot/vmlinux-<release>) from
    C(linux-image-<release>-dbg), RHEL family C(/usr/lib/debug/lib/modules/<release>/vmlinux)
    from C(kernel-debuginfo), SUSE C(/usr/lib/debug/boot/vmlinux-<release>.debug)), and its GNU
    build id equals the dump's C(BUILD-ID), C(crash) is run headless on the dump with
    O(crash_commands) (C(sys), C(bt), C(log), C(ps)), one file per command
    (C(crash/01-sys.txt)...). C(bundle.json) C(deep_triage) says what was done or why not, with
    the panic string and task of C(sys) and the backtrace's functions."
  - "C(change.json): the operator's change record (O(change_id), O(change_text)), when given."
  - "C(SHA256SUMS): the SHA-256 of every other file of the bundle (C(sha256sum -c SHA256SUMS))."
  - The bundle is rebuilt only when the crash directory's files, the change record or the
    options differ from those it was built from (C(bundle.json) C(inputs)); otherwise nothing
    changes. It is built in a temporary directory and renamed into place.
author:
  - crashkit maintainers (@crashkit)
extends_documentation_fragment:
  - crashkit.kdump.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
options:
  crash_dir:
    description:
      - The crash directory (for example C(/var/crash/202405181200)), an absolute path.
      - Taken as it is (type C(str)), with no C(~) or C($VAR) expansion, since its name comes from
        the host. Its parent may be a symbolic link (the dump root); the crash directory itself
        may not, and it must be owned by root (or by the owner of its parent, as on a dump
        server) and not writable by others, else the module fails and writes nothing.
    type: str
    required: true
  dest:
    description:
      - The bundle directory; the archive is this path with C(.tar.gz) appended.
      - Default C(<crash_dir>/crashkit-bundle), so M(crashkit.kdump.vmcore_collect) copies it with the dump.
      - Missing parent directories are made; the one holding the bundle gets mode 0750.
      - An absolute path, taken as it is (no expansion).
    type: str
  archive:
    description: Also write the C(.tar.gz) archive.
    type: bool
    default: true
  host_facts:
    description:
      - Add the journal, package changes, kdump configuration and kernel command line of the host
        the module runs on. Turn off when building the bundle on a dump server.
    type: bool
    default: true
  change_id:
    description: The operator's change or ticket id that goes with this crash.
    type: str
  change_text:
    description: Free text of the change record.
    type: str
  dmesg_from_dump:
    description: Extract the log with C(makedumpfile --dump-dmesg) when none was saved with the dump.
    type: bool
    default: true
  hash_dump:
    description: Compute the SHA-256 of the dump files (reads them once, in chunks).
    type: bool
    default: true
  journal_max_mib:
    description: Keep at most the last this many MiB of the crashed boot's journal.
    type: int
    default: 64
  package_window_days:
    description: When the journal cannot tell when the boot before the crash started, list package changes of this many days before the crash.
    type: int
    default: 7
  kdump_config_files:
    description: kdump configuration files to include when they exist.
    type: list
    elements: path
    default: [/etc/default/kdump-tools, /etc/kdump.conf, /etc/sysconfig/kdump]
  deep_triage:
    description:
      - Run C(crash) on the dump when C(crash) and the matching debug vmlinux are installed
        (see C(crash/) above). Without them the bundle says why in C(deep_triage.reason); it is
        rebuilt once a debug vmlinux is installed.
    type: bool
    default: true
  debug_vmlinux:
    description:
      - The crashed kernel's debug vmlinux, for an analysis host that keeps it elsewhere
        (for example extracted from the C(-dbg) package). Default is the family's path for the
        dump's kernel release.
      - It must be an ELF file whose build id is the dump's; a mismatch is reported in
        C(deep_triage), never fed to C(crash).
    type: path
  crash_commands:
    description:
      - The C(crash) commands to run, each with plain arguments only (no redirection, pipes,
        shell escapes or quotes).
    type: list
    elements: str
    default: [sys, bt, log, ps]
  crash_timeout:
    description: Seconds after which C(crash) is stopped (C(timeout)); its output so far is kept.
    type: int
    default: 900
  force:
    description: Rebuild even when the bundle is up to date.
    type: bool
    default: false
notes:
  - Run with become; crash directories and the journal are readable by root only.
  - The journal's boot choice needs the crash time from the dump (kdump-compressed, ELF and
    flattened dumps carry it in C(VMCOREINFO)).
  - "Deep triage reads the dump (C(crash) needs some seconds and up to a few hundred MiB of
    memory per dump) and needs the debug vmlinux, several hundred MiB per kernel: install
    it on the dump server or an analysis host rather than on every host, and build the bundle
    there (O(host_facts=false), O(dest) outside a collected store copy)."
seealso:
  - module: crashkit.kdump.vmcore_collect
  - module: crashkit.kdump.vmcore_triage
"""

EXAMPLES = r"""
- name: Build the evidence bundle of a crash, with the change record
  crashkit.kdump.vmcore_bundle:
    crash_dir: /var/crash/202405181200
    change_id: CHG-1234
    change_text: kernel upgrade to 6.1.0-21 on the web tier
  become: true
  register: bundle

- name: Deep triage on an analysis host, with a debug vmlinux extracted from the -dbg package
  crashkit.kdump.vmcore_bundle:
    crash_dir: /srv/crash-store/web1-4c3d8b1f2a9e/202405181200
    dest: /srv/analysis/web1-202405181200
    host_facts: false
    debug_vmlinux: /srv/debug/6.1.0-56-amd64/vmlinux
  become: true

- name: Bundle on the dump server (no host facts there)
  crashkit.kdump.vmcore_bundle:
    crash_dir: /srv/crash/web1/10.0.0.5-202405181200
    host_facts: false
  delegate_to: dumpserver
  become: true
"""

RETURN = r"""
bundle_dir:
  description:
    - The bundle directory.
    - Not named C(path), which Ansible would stat after expanding C($VAR) in it (the crash
      directory's name is host data).
  returned: always
  type: str
  sample: /var/crash/202405181200/crashkit-bundle
archive:
  description: The archive, null without O(archive).
  returned: always
  type: str
  sample: /var/crash/202405181200/crashkit-bundle.tar.gz
files:
  description: Files of the bundle (relative paths), null in check mode when it would be rebuilt.
  returned: always
  type: list
  elements: str
summary:
  description: The content of C(bundle.json) (null in check mode when it would be rebuilt).
  returned: always
  type: dict
  sample:
    crash_id: "202405181200"
    kernel_release: 6.1.0-56-amd64
    build_id: 4c3d8b1f2a9e7d6c5b4a39281706f5e4d3c2b1a0
    uptime_at_crash: 501.751965
    triage: {kind: sysrq, function: sysrq_handle_crash, signature: 0f3b9c2d4e5a6b7c}
    missing: {journal: "the only boot that started before the crash is the current one"}
    deep_triage:
      status: done
      vmlinux: /usr/lib/debug/boot/vmlinux-6.1.0-56-amd64
      dump: dump.202405181200
      panic: "Kernel panic - not syncing: sysrq triggered crash"
      task: {pid: 2686, command: sh, cpu: 0}
      backtrace: [machine_kexec, __crash_kexec, panic, sysrq_handle_crash, __handle_sysrq.cold]
      files: [crash/01-sys.txt, crash/02-bt.txt, crash/03-log.txt, crash/04-ps.txt]
"""

import socket

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.crashkit.kdump.plugins.module_utils import _bundle, _deeptriage, _store
from ansible_collections.crashkit.kdump.plugins.module_utils._module import domain_errors, read_text


def identity():
    machine = _store.normalize_machine_id(read_text("/etc/machine-id", missing_ok=True, errors="ignore"))
    hostname = socket.gethostname()
    return {"hostname": hostname, "machine_id": machine, "host_id": _store.host_id(hostname, machine)}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            # str, not path: a crash directory's name is host data and must not be expanded
            # ($VAR, ~) on its way to the module.
            crash_dir=dict(type="str", required=True),
            dest=dict(type="str"),
            archive=dict(type="bool", default=True),
            host_facts=dict(type="bool", default=True),
            change_id=dict(type="str"),
            change_text=dict(type="str"),
            dmesg_from_dump=dict(type="bool", default=True),
            hash_dump=dict(type="bool", default=True),
            journal_max_mib=dict(type="int", default=64),
            package_window_days=dict(type="int", default=7),
            kdump_config_files=dict(type="list", elements="path",
                                    default=["/etc/default/kdump-tools", "/etc/kdump.conf", "/etc/sysconfig/kdump"]),
            deep_triage=dict(type="bool", default=True),
            debug_vmlinux=dict(type="path"),
            crash_commands=dict(type="list", elements="str", default=list(_deeptriage.DEFAULT_COMMANDS)),
            crash_timeout=dict(type="int", default=900),
            force=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    params = dict(module.params)
    with domain_errors(module):
        result = _bundle.make_bundle(params.pop("crash_dir"), params, identity=identity(),
                                     check_mode=module.check_mode)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
