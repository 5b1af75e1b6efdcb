#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: bootloader_args
short_description: Set or remove one kernel command-line argument on any bootloader layout
version_added: 0.1.0
description:
  - Makes the kernel command line the bootloader will use hold exactly one O(name)=O(value)
    (O(state=present)) or no O(name) (O(state=absent)), whatever the layout of the host.
  - "C(grub) backend: C(/etc/default/grub) and the drop-ins C(/etc/default/grub.d/*.cfg) that
    Debian and Ubuntu's C(grub-mkconfig) sources after it are evaluated exactly like the shell
    would (a strict lexer: quotes, escapes, C($VAR) references, continuation lines). The
    effective C(GRUB_CMDLINE_LINUX GRUB_CMDLINE_LINUX_DEFAULT) is then edited with the smallest
    set of source changes; every other argument keeps its place, order and spelling, comments
    and unrelated lines are untouched."
  - Each new file is written to a temporary file, re-read with the lexer and, when C(/bin/sh)
    exists, really sourced by it with an empty environment together with the other files, and
    only moved into place when both give the intended values. A file the module cannot evaluate
    safely (command substitution feeding the command line, C(if), functions, ...) is left
    unchanged and the task fails naming the file and line.
  - "Drop-ins: an occurrence that comes from a drop-in (for example Debian's C(kdump-tools)
    C(/etc/default/grub.d/kdump-tools.cfg), which appends C(crashkernel=) to
    C(GRUB_CMDLINE_LINUX_DEFAULT)) is edited inside that drop-in's own assignment: the word is
    replaced or removed and the rest of the assignment stays. Overriding the drop-in from a
    later-sorting file of our own would need shell pattern stripping that silently stops
    matching when the package changes its value, and would hide the real source. The edited
    drop-in is a dpkg conffile: dpkg keeps the local version on upgrades (it only asks when the
    packaged version changed, and C(--force-confold) keeps it without asking); if the
    maintainer's version is installed, the next run sees the extra occurrence again and removes
    it (reporting C(changed) and C(reboot_required))."
  - "C(grubby) backend: BLS entries (C(/boot/loader/entries/*.conf) C(options) lines) and the
    RHEL 8 grubenv C(kernelopts) they reference. The C(grubby) command is used when installed
    (and the result is re-read and verified); otherwise the files are edited directly.
    C(/etc/default/grub) and C(/etc/kernel/cmdline), when they exist, are kept in step so that
    a later C(grub2-mkconfig) or C(kernel-install) does not bring the old value back."
  - "C(kernel_install) backend: C(/etc/kernel/cmdline) (read by C(kernel-install) for kernels
    installed later) and the BLS entries already installed, edited directly."
  - The O(name) of kernel parameters is compared as the kernel does, with C(-) and C(_) equal.
    Arguments after a bare C(--) belong to init and are never matched.
author:
  - crashkit maintainers (@crashkit)
extends_documentation_fragment:
  - crashkit.kdump.attributes
  - crashkit.kdump.attributes.files
attributes:
  check_mode:
    details: Computes and verifies the edits, reports them (and the diffs) and changes nothing.
  diff_mode:
    details: One before/after diff per file that changes.
options:
  name:
    description: Name of the kernel argument, for example C(crashkernel).
    type: str
    required: true
  value:
    description:
      - Value of the argument. Omit it for a flag argument such as C(quiet).
      - Values containing white space are written in double quotes (C(foo="a b")); the kernel
        has no escape for a double quote, so values cannot contain one.
      - With O(state=absent), only occurrences with this value are removed; without it every
        occurrence of O(name) is removed.
    type: str
  state:
    description: Whether exactly one O(name)=O(value) or no O(name) should be on the command line.
    type: str
    choices: [present, absent]
    default: present
  backend:
    description:
      - Which boot configuration to edit.
      - C(auto) picks C(grubby) when the C(grubby) command exists and O(bls_dir) holds entries,
        C(kernel_install) when O(kernel_cmdline_path) exists and O(grub_defaults_path) does not,
        and C(grub) otherwise.
    type: str
    choices: [auto, grub, grubby, kernel_install]
    default: auto
  family:
    description:
      - OS family, which decides the default O(grub_variable) and the command that regenerates
        the GRUB configuration.
      - Read from C(/etc/os-release) (C(ID) and C(ID_LIKE)) when omitted.
    type: str
    choices: [Debian, RedHat, Suse]
  grub_defaults_path:
    description: The GRUB defaults file.
    type: path
    default: /etc/default/grub
  grub_dropin_dir:
    description:
      - Directory whose C(*.cfg) files are sourced after O(grub_defaults_path), in glob order.
    type: path
    default: /etc/default/grub.d
  grub_variable:
    description:
      - The variable that should hold the argument. Occurrences in the other variable are
        removed.
      - C(GRUB_CMDLINE_LINUX) is also used by recovery entries; C(GRUB_CMDLINE_LINUX_DEFAULT)
        only by normal entries.
      - Defaults to C(GRUB_CMDLINE_LINUX_DEFAULT) on the Debian family and C(GRUB_CMDLINE_LINUX)
        on the RedHat and SUSE families.
    type: str
    choices: [GRUB_CMDLINE_LINUX, GRUB_CMDLINE_LINUX_DEFAULT]
  update_bootloader:
    description:
      - "After a change made through the C(grub) backend, regenerate the GRUB configuration:
        C(update-grub) on Debian, C(grub2-mkconfig -o /boot/grub2/grub.cfg) on RedHat and SUSE
        (BIOS, and EFI systems whose ESP C(grub.cfg) is a stub loading that file), or
        C(grub2-mkconfig -o) the ESP C(grub.cfg) on EFI systems where it is the full
        configuration (RHEL 8)."
      - The command is looked up before any file is changed; when it is missing the task fails
        and nothing is changed.
      - The C(grubby) and C(kernel_install) backends change the boot entries directly.
    type: bool
    default: true
  update_bootloader_command:
    description:
      - Command (program and arguments) to run instead of the detected one when
        O(update_bootloader) is true and something changed.
    type: list
    elements: str
  backup:
    description: Keep a timestamped copy of each file before changing it.
    type: bool
    default: false
  bls_dir:
    description: Directory of the Boot Loader Specification entries.
    type: path
    default: /boot/loader/entries
  grubenv_path:
    description: The GRUB environment block holding C(kernelopts) on RHEL 8.
    type: path
    default: /boot/grub2/grubenv
  kernel_cmdline_path:
    description: The command line file read by C(kernel-install).
    type: path
    default: /etc/kernel/cmdline
  proc_cmdline_path:
    description: The running kernel's command line, compared to compute RV(reboot_required).
    type: path
    default: /proc/cmdline
notes:
  - Symbolic links (for example the RHEL 8 EFI C(/boot/grub2/grubenv)) are followed; the file
    they point to is replaced.
  - Drop-ins are taken in byte order, as the shell's glob sorts in the C locale.
  - Unified kernel images embed their command line and are not changed.
seealso:
  - name: GRUB simple configuration
    description: The variables of C(/etc/default/grub).
    link: https://www.gnu.org/software/grub/manual/grub/html_node/Simple-configuration.html
"""

EXAMPLES = r"""
- name: Reserve memory for the crash kernel
  crashkit.kdump.bootloader_args:
    name: crashkernel
    value: 256M
  register: crashkernel_arg

- name: Reboot when the running kernel does not have the new value yet
  ansible.builtin.reboot:
  when: crashkernel_arg.reboot_required

- name: Remove crashkernel everywhere, including Debian's kdump-tools drop-in
  crashkit.kdump.bootloader_args:
    name: crashkernel
    state: absent

- name: Add a flag argument to GRUB_CMDLINE_LINUX, keeping a backup
  crashkit.kdump.bootloader_args:
    name: nmi_watchdog
    value: "1"
    backend: grub
    grub_variable: GRUB_CMDLINE_LINUX
    backup: true

- name: Only edit the files (regenerate grub.cfg later)
  crashkit.kdump.bootloader_args:
    name: crashkernel
    value: 1G-4G:192M,4G-64G:256M,64G-:512M
    update_bootloader: false
"""

RETURN = r"""
backend:
  description: The backend that was used.
  returned: always
  type: str
  sample: grub
effective_cmdline:
  description:
    - The command line the bootloader will use after the change (in check mode, the one it would
      use).
    - C(GRUB_CMDLINE_LINUX GRUB_CMDLINE_LINUX_DEFAULT) for the C(grub) backend; the entry of the
      running kernel (else the last entry) for C(grubby); the O(kernel_cmdline_path) content for
      C(kernel_install).
  returned: always
  type: str
  sample: quiet crashkernel=256M
current_cmdline:
  description: The running kernel's command line (null when O(proc_cmdline_path) cannot be read).
  returned: always
  type: str
  sample: BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=0f2e ro quiet
reboot_required:
  description:
    - True when the running kernel's value of O(name) (or its absence) differs from the effective
      one. When O(proc_cmdline_path) cannot be read, true when something changed.
  returned: always
  type: bool
  sample: true
files_changed:
  description: Paths of the files changed (that would change, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/etc/default/grub.d/kdump-tools.cfg]
backup_files:
  description: Backup copies made when O(backup=true).
  returned: always
  type: list
  elements: str
  sample: [/etc/default/grub.12345.2024-01-01@00:00:00~]
bootloader_command:
  description: The command run to regenerate the GRUB configuration, empty when none was run.
  returned: always
  type: list
  elements: str
  sample: [/usr/sbin/update-grub]
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.crashkit.kdump.plugins.module_utils import _bls
from ansible_collections.crashkit.kdump.plugins.module_utils import _cmdline
from ansible_collections.crashkit.kdump.plugins.module_utils import _grub
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import HostError
from ansible_collections.crashkit.kdump.plugins.module_utils._module import apply_file, domain_errors, file_diff


def argument_spec():
    return dict(
        name=dict(type="str", required=True),
        value=dict(type="str"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        backend=dict(type="str", default="auto", choices=["auto", "grub", "grubby", "kernel_install"]),
        family=dict(type="str", choices=["Debian", "RedHat", "Suse"]),
        grub_defaults_path=dict(type="path", default="/etc/default/grub"),
        grub_dropin_dir=dict(type="path", default="/etc/default/grub.d"),
        grub_variable=dict(type="str", choices=[_grub.LINUX, _grub.LINUX_DEFAULT]),
        update_bootloader=dict(type="bool", default=True),
        update_bootloader_command=dict(type="list", elements="str"),
        backup=dict(type="bool", default=False),
        bls_dir=dict(type="path", default="/boot/loader/entries"),
        grubenv_path=dict(type="path", default="/boot/grub2/grubenv"),
        kernel_cmdline_path=dict(type="path", default="/etc/kernel/cmdline"),
        proc_cmdline_path=dict(type="path", default="/proc/cmdline"),
    )


class Writer(object):
    """Collects the results of ``apply_file`` calls."""

    def __init__(self, module):
        self.module = module
        self.files_changed = []
        self.backup_files = []
        self.diffs = []

    def write(self, path, content, verify=None):
        target = os.path.realpath(path)
        changed, diff, backup_file = apply_file(
            self.module, target, content, verify=verify, backup=self.module.params["backup"]
        )
        if changed:
            self.files_changed.append(target)
            self.diffs.append(diff)
        if backup_file:
            self.backup_files.append(backup_file)

    def write_all(self, changes):
        for path in sorted(changes):
            self.write(path, changes[path])

    def record(self, before, after):
        """Changes made by an external command (grubby): path -> text before and after it."""
        for path in sorted(set(before) | set(after)):
            if before.get(path) != after.get(path):
                self.files_changed.append(path)
                self.diffs.append(file_diff(path, before.get(path), after.get(path)))


def plan_grub(module, variable):
    params = module.params
    config = _grub.load(params["grub_defaults_path"], params["grub_dropin_dir"])
    return _grub.plan(config, params["name"], params["value"], params["state"], variable)


def write_grub(writer, grub_plan):
    for grub_file in grub_plan.config.files:
        if grub_file.path in grub_plan.changes:
            writer.write(grub_file.path, grub_plan.changes[grub_file.path],
                         verify=_grub.verifier(grub_plan, grub_file.path))


def run_grub(module, writer, family):
    params = module.params
    grub_plan = plan_grub(module, _grub.variable_for(family, params["grub_variable"]))
    command = None
    if grub_plan.changed and params["update_bootloader"] and not module.check_mode:
        # Find the command before touching anything: files changed without a regenerated
        # grub.cfg would look settled to the next run.
        command = _grub.update_command(family, module.get_bin_path, params["update_bootloader_command"])
    write_grub(writer, grub_plan)
    if command is None or not writer.files_changed:
        return grub_plan.effective_after, []
    rc, out, err = module.run_command(command)
    if rc != 0:
        module.fail_json(msg="%s failed (rc=%d) after the files were changed; fix the cause and run it again"
                         % (" ".join(command), rc), stdout=out, stderr=err, changed=True,
                         files_changed=writer.files_changed, diff=writer.diffs)
    return grub_plan.effective_after, command


def run_grubby(module, writer, family):
    params = module.params
    name, value, state = params["name"], params["value"], params["state"]
    entries, bls_plan = _bls.load_plan(params["bls_dir"], params["grubenv_path"], name, value, state)
    if not entries:
        raise HostError("no boot loader entries (*.conf) in %s" % params["bls_dir"])

    # Plan every companion file before anything is written.
    grub_plan = None
    if os.path.isfile(params["grub_defaults_path"]):
        grub_plan = plan_grub(module, _grub.variable_for(family, params["grub_variable"], _grub.LINUX))
    cmdline = _bls.plan_cmdline_path(params["kernel_cmdline_path"], name, value, state)

    grubby = module.get_bin_path("grubby")
    effective = bls_plan.effective
    if bls_plan.changed and grubby and not module.check_mode:
        before = _bls.snapshot(params["bls_dir"], params["grubenv_path"])
        for command in _bls.grubby_commands(grubby, entries, name, value, state,
                                            bls_dir=params["bls_dir"], grubenv=params["grubenv_path"]):
            rc, out, err = module.run_command(command)
            if rc != 0:
                module.fail_json(msg="%s failed (rc=%d)" % (" ".join(command), rc), stdout=out, stderr=err)
        writer.record(before, _bls.snapshot(params["bls_dir"], params["grubenv_path"]))
        entries, effective = _bls.verify_grubby(params["bls_dir"], params["grubenv_path"], name, value, state)
    else:
        writer.write_all(bls_plan.changes)

    if grub_plan is not None:
        write_grub(writer, grub_plan)
    if cmdline is not None:
        writer.write(params["kernel_cmdline_path"], cmdline)
    return _bls.pick_entry(effective, os.uname()[2], entries), []


def run_kernel_install(module, writer):
    params = module.params
    name, value, state = params["name"], params["value"], params["state"]
    path = params["kernel_cmdline_path"]
    new_text = _bls.plan_cmdline_path(path, name, value, state)
    if new_text is None:
        raise HostError("%s does not exist" % path)
    bls_plan = _bls.load_plan(params["bls_dir"], params["grubenv_path"], name, value, state)[1]
    writer.write(path, new_text)
    writer.write_all(bls_plan.changes)
    return " ".join(_cmdline.split(new_text)), []


def run(module):
    params = module.params
    _cmdline.validate_name(params["name"])
    _cmdline.validate_value(params["value"])
    backend = _bls.choose_backend(params["backend"], module.get_bin_path, params["bls_dir"],
                                  params["kernel_cmdline_path"], params["grub_defaults_path"])
    writer = Writer(module)
    if backend == "kernel_install":
        effective, command = run_kernel_install(module, writer)
    else:
        family = params["family"] or _grub.family_from_os_release(_grub.read_optional(_grub.OS_RELEASE))
        effective, command = (run_grub if backend == "grub" else run_grubby)(module, writer, family)
    proc_text = _grub.read_optional(params["proc_cmdline_path"])
    changed = bool(writer.files_changed)
    result = dict(
        changed=changed,
        backend=backend,
        effective_cmdline=effective,
        current_cmdline=proc_text.strip() if proc_text is not None else None,
        reboot_required=_cmdline.reboot_required(proc_text, effective, params["name"], changed),
        files_changed=writer.files_changed,
        backup_files=writer.backup_files,
        bootloader_command=command,
    )
    if module._diff:
        result["diff"] = writer.diffs
    return result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    with domain_errors(module):
        module.exit_json(**run(module))


if __name__ == "__main__":
    main()
