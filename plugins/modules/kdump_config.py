#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: kdump_config
short_description: Write the kdump configuration of any distribution family from one model
version_added: 0.1.0
description:
  - Renders one description of where and how crash dumps are saved to the file the host's kdump
    implementation reads, and writes it atomically.
  - C(redhat) (RHEL, CentOS Stream, Rocky, AlmaLinux, Fedora) - C(/etc/kdump.conf) of kexec-tools
    or kdump-utils, one C(directive value) per line.
  - C(debian) (Debian, Ubuntu) - C(/etc/default/kdump-tools) of kdump-tools, a shell fragment.
  - C(suse) (SLES, openSUSE) - C(/etc/sysconfig/kdump), a shell fragment.
  - The module owns the whole file. Settings it does not model are passed with O(extra_options).
    On redhat, the directives of the existing C(kdump.conf) that the module does not set (for
    example RHEL 9's C(auto_reset_crashkernel yes), C(dracut_args), C(kdump_post)) are kept as
    found (O(keep_other_directives)); on debian and suse anything else found in the file is
    replaced. The file starts with a comment saying so.
  - Shell fragments are verified before they replace the live file, by sourcing the temporary copy
    with C(/bin/sh) in an empty environment and comparing every variable with the intended value.
    C(kdump.conf) is read back the way C(kdumpctl) reads it.
  - "Mapping of the model (sources: kdump-utils/kexec-tools C(kdumpctl) and C(dracut/99kdumpbase/kdump.sh),
    kdump-tools 1.8.1/1.10.3 C(/usr/sbin/kdump-config) and C(/etc/init.d/kdump-tools), openSUSE kdump 1.0.2
    C(kdumptool) and 2.1.9 C(kdump-save)):"
  - "O(target) - redhat: C(nfs host:/path) with C(path /), C(ssh user@host) with C(sshkey) and C(path),
    C(<fstype> <device>) or C(raw <device>), C(path) alone for local. debian: C(NFS=host:/path) (mounted on
    C(KDUMP_COREDIR=/var/crash)), C(SSH=user@host) with C(SSH_KEY) and C(KDUMP_COREDIR) as the remote
    directory, C(KDUMP_COREDIR) alone for local; a device (kdump-tools has no device target) is mounted
    on C(/var/lib/crashkit/dumpdev) by a systemd mount unit this module returns in RV(units) (the caller
    installs it), and C(KDUMP_COREDIR) is C(path) inside it. suse: C(KDUMP_SAVEDIR) as C(file://path), C(nfs://host/path)
    or C(ssh://user@host[:port]/path) with C(KDUMP_SSH_IDENTITY)."
  - "O(dump_level), O(compression), O(extra_collector_args) - redhat: C(core_collector makedumpfile [-F] <flag>
    --message-level 7 -d <level> <args>) (C(-F), the flattened format, for ssh and raw targets, where
    C(mkdumprd) refuses makedumpfile without it; C(mkdumprd) also runs C(makedumpfile --check-params)).
    debian: C(MAKEDUMP_ARGS=<flag> -d <level> <args>) (kdump-config appends C(-F) itself, it pipes every
    dump). suse: C(KDUMP_DUMPLEVEL), C(KDUMP_DUMPFORMAT) (zlib
    C(compressed), lzo, snappy, zstd, none C(ELF)) and C(MAKEDUMPFILE_OPTIONS)."
  - "O(failure_action) - redhat: C(failure_action) (C(default) when the existing file still uses that
    obsolete spelling). debian: C(KDUMP_FAIL_CMD) C(reboot -f), C(halt -f) or C(poweroff -f). suse:
    C(KDUMP_CONTINUE_ON_ERROR) C(true) (reboot) or C(false) (shell)."
  - "O(keep_local_dumps) - debian: C(KDUMP_NUM_DUMPS). suse: C(KDUMP_KEEP_OLD_DUMPS), which counts the
    dumps kept before a new one is saved (N-1; C(-1) for 1). redhat has no such setting."
  - "O(kdump_cmdline_append) - debian: C(KDUMP_CMDLINE_APPEND) set to kdump-tools' built-in default
    followed by the given words (setting the variable replaces that default, which the capture kernel
    needs, for example C(systemd.unit=kdump-tools-dump.service)). The default is read from the installed
    C(/usr/sbin/kdump-config); without it the value Debian builds for the host's architecture is used.
    suse: C(KDUMP_COMMANDLINE_APPEND), which SUSE already adds to its own default. redhat: refused, the
    capture command line lives in C(/etc/sysconfig/kdump)."
author:
  - crashkit maintainers (@crashkit)
extends_documentation_fragment:
  - crashkit.kdump.attributes
  - crashkit.kdump.attributes.files
options:
  family:
    description:
      - Which kdump implementation to configure. C(auto) reads O(os_release_path) (C(ID), then
        C(ID_LIKE)).
    type: str
    choices: [auto, redhat, debian, suse]
    default: auto
  os_release_path:
    description: os-release file used when O(family=auto).
    type: path
    default: /etc/os-release
  path:
    description:
      - The file to write. Default C(/etc/kdump.conf) (redhat), C(/etc/default/kdump-tools)
        (debian) or C(/etc/sysconfig/kdump) (suse).
    type: path
  target:
    description:
      - Where the capture kernel saves the dump.
      - Paths are limited to letters, digits and C(._/+,=@-) because every family's dump
        script expands them unquoted somewhere.
    type: dict
    default: {type: local}
    suboptions:
      type:
        description:
          - C(local) - a directory of the host's own file systems (on debian and suse any file
            system mounted from C(/etc/fstab); redhat finds the mount itself).
          - C(device) - a block device's file system (C(fstype) and C(device) required); redhat and
            debian (on debian by C(UUID=), C(LABEL=), C(PARTUUID=), C(PARTLABEL=) or a C(/dev/disk/by-*)
            link, never a C(/dev/sdX) name that can change at boot; no C(raw)).
          - C(nfs) - an NFS export (C(host) and C(path) required).
          - C(ssh) - a directory on an SSH server (C(host) and C(user) required).
        type: str
        choices: [local, device, nfs, ssh]
        default: local
      path:
        description:
          - local, device, ssh - the dump directory (on the device's file system, or on the
            server). Default C(/var/crash).
          - nfs - the exported directory that receives the dumps (required).
        type: str
      device:
        description:
          - device - a C(/dev) path, C(UUID=), C(LABEL=), C(PARTUUID=) or C(PARTLABEL=).
        type: str
      fstype:
        description:
          - device - the file system, or C(raw) to write the dump to the device itself
            (no C(path) then).
        type: str
        choices: [ext2, ext3, ext4, xfs, btrfs, minix, raw]
      host:
        description:
          - nfs, ssh - server name or address. IPv6 addresses are bracketed where the family's
            syntax needs it; debian cannot use an IPv6 address for ssh (its scp targets are
            C(user@host:path)).
        type: str
      user:
        description: ssh - the remote user.
        type: str
      port:
        description:
          - ssh - the SSH port. Only suse can express a port other than 22 in its configuration;
            for the other families configure it in root's C(ssh_config).
        type: int
      ssh_key:
        description:
          - ssh - the private key. Default C(/root/.ssh/kdump_id_rsa), the default of both
            kdumpctl and kdump-config.
        type: str
  dump_level:
    description:
      - makedumpfile dump level, 0-31 (bits - 1 zero pages, 2 non-private cache, 4 all cache,
        8 user data, 16 free pages). 31 keeps only kernel data.
    type: int
    default: 31
  compression:
    description:
      - Page compression of makedumpfile (C(-c) zlib, C(-l) lzo, C(-p) snappy, C(-z) zstd) or
        none. Default what the family ships - lzo on redhat, zlib on debian and suse.
      - C(auto) - on debian, zstd where the installed makedumpfile was built with it (measured
        faster than zlib at about the same dump size), otherwise the family's default; redhat and
        suse always get their default. RV(compression) returns what was written.
      - Checked against what the installed makedumpfile was built with (RV(makedumpfile)),
        because makedumpfile silently ignores a flag for a library it lacks.
      - The whole makedumpfile argument list is then checked with C(makedumpfile --check-params),
        the test C(mkdumprd) runs on redhat.
    type: str
    choices: [auto, zlib, lzo, snappy, zstd, none]
  extra_collector_args:
    description:
      - More makedumpfile options, for example C(--num-threads 4). Plain words only (letters,
        digits and C(_=,./:+%@-)), because the dump scripts word-split them and SUSE evaluates them.
      - Options that the other parameters own are refused - compression flags (C(-c -l -p -z -E)),
        C(-d), C(-F), and options that change makedumpfile's mode (C(-R), C(--split),
        C(--dump-dmesg), ...).
    type: str
  failure_action:
    description:
      - What the capture environment does when saving the dump fails. Default is each family's
        default, reboot.
      - redhat supports all choices; debian C(reboot), C(halt), C(poweroff); suse C(reboot) and
        C(shell). Other combinations fail with an explanation.
    type: str
    choices: [reboot, halt, poweroff, shell, dump_to_rootfs]
  keep_local_dumps:
    description:
      - How many dumps to keep in a local dump directory after a new dump is saved; C(0) keeps
        all. Larger values are only possible on debian and suse with a local target.
    type: int
  kdump_cmdline_append:
    description:
      - Words added to the capture kernel's command line (see the mapping above). Printable ASCII
        without quotes, C($), backquotes or backslashes (kdump-tools evaluates the command line).
      - Not available on redhat.
    type: str
  extra_options:
    description:
      - Other settings of the family's file, passed through after validation. Keys must be
        directives (redhat) or variable names (debian, suse) of that family and must not be
        one this module's options set. redhat only accepts directives kdumpctl knows (it
        refuses to start otherwise); values of known keys are type-checked; unknown debian or
        suse variables are written with a warning.
      - On debian the module writes kdump-tools' shipped C(KDUMP_KERNEL=/var/lib/kdump/vmlinuz)
        and C(KDUMP_INITRD=/var/lib/kdump/initrd.img) unless given here.
    type: dict
    default: {}
  keep_other_directives:
    description:
      - redhat only. Keep the directives of the existing C(kdump.conf) that this module does not
        set (everything but the target, C(path), C(core_collector), C(failure_action)/C(default),
        C(sshkey) and the O(extra_options) keys), in file order after the module's own. A
        directive kdumpctl is not known to accept is kept with a warning; a line that is not a
        directive is dropped with a warning.
      - V(false) writes only what the options say.
    type: bool
    default: true
  makedumpfile_path:
    description:
      - makedumpfile binary asked (C(-v)) which compressions it supports. Default found on
        C(PATH). When it is missing the check is skipped with a warning.
    type: path
  backup:
    description: Keep a timestamped copy of the previous file.
    type: bool
    default: false
notes:
  - The kdump service has to be restarted for a change to take effect (RV(restart_required));
    redhat and suse rebuild their kdump initramfs then.
  - SUSE kdump 1.x (kdumptool) re-reads values through an unquoted C(echo), so suse values may not
    contain backslashes or repeated, leading or trailing spaces.
  - SSH targets need the key pair and the server's host key in place - C(kdumpctl propagate)
    (redhat), C(kdump-config propagate) (debian), and on suse the host key in root's
    C(known_hosts) or C(KDUMP_HOST_KEY) in O(extra_options). This module does not create keys.
seealso:
  - module: crashkit.kdump.kdump_info
"""

EXAMPLES = r"""
- name: Dump locally, keep three dumps (Debian)
  crashkit.kdump.kdump_config:
    target:
      type: local
      path: /var/crash
    keep_local_dumps: 3
  register: kdump_conf

- name: Restart kdump when the configuration changed
  ansible.builtin.service:
    name: "{{ 'kdump-tools' if kdump_conf.family == 'debian' else 'kdump' }}"
    state: restarted
  when: kdump_conf.restart_required

- name: Ship dumps over SSH with zstd, power off when that fails (RHEL)
  crashkit.kdump.kdump_config:
    target:
      type: ssh
      host: dumps.example.com
      user: kdump
      path: /srv/crash
      ssh_key: /root/.ssh/kdump_id_ed25519
    compression: zstd
    failure_action: poweroff
    extra_options:
      final_action: reboot

- name: NFS export, capture kernel on a serial console, longer NFS timeout (Ubuntu)
  crashkit.kdump.kdump_config:
    target:
      type: nfs
      host: filer.example.com
      path: /export/crash
    kdump_cmdline_append: console=ttyS0,115200
    extra_options:
      NFS_TIMEO: 900

- name: Raw partition on RHEL
  crashkit.kdump.kdump_config:
    family: redhat
    target:
      type: device
      fstype: raw
      device: /dev/disk/by-partlabel/kdump
"""

RETURN = r"""
path:
  description: The file written (or that would be written).
  returned: always
  type: str
  sample: /etc/default/kdump-tools
family:
  description: The family the file was rendered for.
  returned: always
  type: str
  sample: debian
content:
  description: The complete rendered file.
  returned: always
  type: str
  sample: |-
    # Managed by crashkit.kdump (module crashkit.kdump.kdump_config) for the debian family.
    # Do not edit: the whole file is rewritten from the playbook on the next run.
    USE_KDUMP=1
    KDUMP_KERNEL="/var/lib/kdump/vmlinuz"
    KDUMP_INITRD="/var/lib/kdump/initrd.img"
    KDUMP_COREDIR="/var/crash"
    MAKEDUMP_ARGS="-c -d 31"
dump_dir:
  description:
    - The directory on this host the dumps are written to, for local targets and debian device
      targets (C(path) inside the device's mount); null for the others.
  returned: always
  type: str
  sample: /var/crash
units:
  description:
    - The systemd files a debian device target needs, as C(path) and C(content) (empty otherwise),
      for M(crashkit.kdump.service_files) to install (the mount unit of the dump device on
      C(/var/lib/crashkit/dumpdev) and a drop-in that makes the capture boot's
      C(kdump-tools-dump.service) mount it and reboot rather than write the dump anywhere else).
  returned: always
  type: list
  elements: dict
  sample: []
restart_required:
  description: True when the file changed (or would change in check mode); restart the kdump service.
  returned: always
  type: bool
  sample: true
compression:
  description: The compression written, after the family default or C(auto) was applied.
  returned: always
  type: str
  sample: zlib
makedumpfile:
  description:
    - What C(makedumpfile -v) reported, or null when makedumpfile was not found (the compression
      check was skipped).
  returned: always
  type: dict
  sample:
    path: /usr/bin/makedumpfile
    version: 1.7.2
    released: 20 Oct 2022
    compressions: {zlib: true, lzo: true, snappy: false, zstd: false}
    supported_compressions: [zlib, lzo, none]
backup_file:
  description: The backup of the previous file.
  returned: when O(backup=true) and the file changed
  type: str
  sample: /etc/kdump.conf.12345.2024-03-01@12:00:00~
diff:
  description: Before and after text of the file.
  returned: in diff mode
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.crashkit.kdump.plugins.module_utils import _kdumpconf as kc
from ansible_collections.crashkit.kdump.plugins.module_utils import _kdumpinfo as ki
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import HostError, KdumpError, ValidationError
from ansible_collections.crashkit.kdump.plugins.module_utils._module import apply_file, domain_errors, read_text

TARGET_SPEC = dict(
    type=dict(type="str", default="local", choices=["local", "device", "nfs", "ssh"]),
    path=dict(type="str"),
    device=dict(type="str"),
    fstype=dict(type="str", choices=["ext2", "ext3", "ext4", "xfs", "btrfs", "minix", "raw"]),
    host=dict(type="str"),
    user=dict(type="str"),
    port=dict(type="int"),
    ssh_key=dict(type="str", no_log=False),
)


def argument_spec():
    return dict(
        family=dict(type="str", default="auto", choices=["auto", "redhat", "debian", "suse"]),
        os_release_path=dict(type="path", default="/etc/os-release"),
        path=dict(type="path"),
        target=dict(type="dict", default={"type": "local"}, options=TARGET_SPEC),
        dump_level=dict(type="int", default=31),
        compression=dict(type="str", choices=["auto", "zlib", "lzo", "snappy", "zstd", "none"]),
        extra_collector_args=dict(type="str"),
        failure_action=dict(type="str", choices=["reboot", "halt", "poweroff", "shell", "dump_to_rootfs"]),
        keep_local_dumps=dict(type="int"),
        kdump_cmdline_append=dict(type="str"),
        extra_options=dict(type="dict", default={}),
        keep_other_directives=dict(type="bool", default=True),
        makedumpfile_path=dict(type="path"),
        backup=dict(type="bool", default=False),
    )


def resolve_family(params):
    if params["family"] != "auto":
        return params["family"]
    text = read_text(params["os_release_path"])
    if text is None:
        raise HostError("family=auto needs %s, which does not exist; set family" % params["os_release_path"])
    return kc.family_from_os_release(text)


def probe_makedumpfile(module, path):
    """``makedumpfile -v`` of ``path`` (or the one on PATH); ``None`` when there is none."""
    if path is None:
        path = module.get_bin_path("makedumpfile", opt_dirs=["/usr/sbin", "/sbin", "/usr/bin"])
    if not path or not os.path.exists(path):
        return None
    rc, out, err = module.run_command([path, "-v"])
    try:
        info = ki.parse_makedumpfile_version((out or "") + (err or ""))
    except KdumpError as exc:
        raise HostError("%s -v (exit %s) did not print a version: %s" % (path, rc, exc))
    info["path"] = path
    return info


def check_params(module, path, settings):
    """Let makedumpfile itself judge the collector arguments (what mkdumprd does on redhat)."""
    argv = kc.check_params_argv(settings)
    rc, out, err = module.run_command([path] + argv)
    if rc == 0:
        return
    text = " ".join(((out or "") + " " + (err or "")).split())
    if "--check-params" in text:
        module.warn("%s does not know --check-params; the makedumpfile arguments were not checked" % path)
        return
    raise ValidationError("makedumpfile refused the dump arguments (%s %s): %s"
                          % (path, " ".join(argv), text or "exit %d" % rc))


def debian_cmdline_base(module):
    text = read_text(kc.DEBIAN_KDUMP_CONFIG)
    base = kc.parse_debian_cmdline_default(text) if text else None
    if base is not None:
        return base
    machine = os.uname()[4]
    base = kc.debian_cmdline_default(machine)
    module.warn("could not read the built-in KDUMP_CMDLINE_APPEND of %s; kdump_cmdline_append was added to "
                "the default kdump-tools ships for %s: %s" % (kc.DEBIAN_KDUMP_CONFIG, machine, base))
    return base


def run(module):
    params = module.params
    family = resolve_family(params)
    path = params["path"] or kc.CONFIG_PATHS[family]
    existing = read_text(path)

    base = None
    if family == "debian" and (params["kdump_cmdline_append"] or "").strip():
        base = debian_cmdline_base(module)

    makedumpfile = probe_makedumpfile(module, params["makedumpfile_path"])
    settings = kc.build_settings(
        family,
        target=params["target"],
        dump_level=params["dump_level"],
        compression=params["compression"],
        extra_collector_args=params["extra_collector_args"],
        failure_action=params["failure_action"],
        keep_local_dumps=params["keep_local_dumps"],
        kdump_cmdline_append=params["kdump_cmdline_append"],
        extra_options=params["extra_options"],
        debian_cmdline_base=base,
        existing_text=existing,
        keep_other_directives=params["keep_other_directives"],
        supported_compressions=makedumpfile["supported_compressions"] if makedumpfile else None,
    )
    for warning in settings.warnings:
        module.warn(warning)

    if makedumpfile is None:
        where = params["makedumpfile_path"] or "on PATH"
        module.warn("makedumpfile was not found (%s); the compression %s was not checked against what it "
                    "supports" % (where, settings.compression))
    else:
        ki.check_compression(settings.compression, makedumpfile, makedumpfile["path"])
        check_params(module, makedumpfile["path"], settings)

    content = kc.render(settings)
    changed, diff, backup_file = apply_file(
        module, path, content,
        mode=kc.CONFIG_MODES[family],
        verify=lambda tmp: kc.verify_rendered(settings, tmp),
        backup=params["backup"],
    )
    result = dict(
        changed=changed,
        path=path,
        family=family,
        content=content,
        restart_required=changed,
        units=kc.device_units(settings),
        dump_dir=kc.local_dump_dir(settings),
        compression=settings.compression,
        makedumpfile=makedumpfile,
    )
    if backup_file:
        result["backup_file"] = backup_file
    if module._diff:
        result["diff"] = diff
    return result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    with domain_errors(module):
        module.exit_json(**run(module))


if __name__ == "__main__":
    main()
