#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vmcore_list
short_description: List a host's crash directories with file sizes, SHA-256 and the host's identity
version_added: 0.1.0
description:
  - Lists the crash directories directly below O(path) (C(/var/crash/<stamp>) on a host,
    C(<root>/<host>/<stamp>) on a dump server) and every regular file in them (also in
    subdirectories such as the evidence bundle), with size, modification time and SHA-256.
  - Files are hashed in 1 MiB chunks; memory does not grow with the size of a dump.
  - A directory whose dump still has the temporary name of its writer (C(dump-incomplete),
    C(vmcore-incomplete)) is being written or its capture failed; it is listed under
    RV(skipped_crashes), not under RV(crashes), unless O(include_incomplete) is set.
  - Returns the host's stable identity (host name and C(/etc/machine-id)), the one the central
    store files the host's crashes under.
  - This is the host side of M(crashkit.kdump.vmcore_collect); it is useful on its own to see
    what a host holds.
author:
  - crashkit maintainers (@crashkit)
extends_documentation_fragment:
  - crashkit.kdump.attributes
  - crashkit.kdump.attributes.info_module
options:
  path:
    description:
      - The crash directory root, an absolute path taken as it is (no C(~) or C($VAR) expansion).
      - It may be a symbolic link; nothing below it is followed. Crash directories not owned by
        root, by the module's user or by the root's owner, or writable by others, are left out
        (RV(skipped_crashes)) and never read.
    type: str
    default: /var/crash
  crashes:
    description: Only these crash directory names (default all).
    type: list
    elements: str
  checksum:
    description: Compute the SHA-256 of every file listed.
    type: bool
    default: true
  known:
    description:
      - Files whose SHA-256 is already known (for example from the central store's manifests),
        each a dict with C(path) (absolute), C(size), C(mtime) and C(sha256). A file whose size
        and modification time are unchanged is not read again.
    type: list
    elements: dict
    default: []
  include_incomplete:
    description: Also list directories whose dump still has a temporary name.
    type: bool
    default: false
notes:
  - Kernel release and crash time come from the dump's own headers (see M(crashkit.kdump.vmcore_check)).
seealso:
  - module: crashkit.kdump.vmcore_collect
  - module: crashkit.kdump.vmcore_check
"""

EXAMPLES = r"""
- name: What crash dumps does the host hold
  crashkit.kdump.vmcore_list:
  register: crash_list

- name: List one host's dumps on the dump server without hashing them
  crashkit.kdump.vmcore_list:
    path: /srv/crash/web1
    checksum: false
  delegate_to: dumpserver
"""

RETURN = r"""
exists:
  description: Whether O(path) exists.
  returned: always
  type: bool
host:
  description: Identity of the host the module ran on.
  returned: always
  type: dict
  contains:
    hostname:
      description: The host name.
      type: str
    machine_id:
      description: C(/etc/machine-id), null when it is missing or invalid.
      type: str
    host_id:
      description: The store directory name of the host (C(<short host name>-<machine id[:12]>)).
      type: str
  sample: {hostname: web1, machine_id: 4a5c3e8f2b1d4c6e9f0a1b2c3d4e5f60, host_id: web1-4a5c3e8f2b1d}
crashes:
  description: Crash directories, oldest first.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The directory name.
      type: str
    label:
      description: The name safe to print (control characters escaped, at most 120 characters).
      type: str
    dir:
      description: The directory path.
      type: str
    crash_id:
      description:
        - The name as a store directory name; a name that is not already one gets 8 hex digits of
          its SHA-256 appended, so two names never share one.
      type: str
    time:
      description: Crash time (epoch) from the dump, else the newest file's modification time.
      type: int
    crash_time:
      description: Crash time from the dump's headers, null when unknown.
      type: int
    kernel_release:
      description: Release of the crashed kernel from the dump's headers.
      type: str
    complete:
      description: Whether every dump file in it is complete by its headers.
      type: bool
    reason:
      description: Why not.
      type: str
    files:
      description:
        - Regular files (symbolic links, devices and FIFOs are left out), with C(path) relative
          to the directory, C(size), C(mtime), C(sha256) (null without O(checksum)), C(hashed)
          (false when taken from O(known)) and C(dev)/C(ino), which the reader of
          M(crashkit.kdump.vmcore_collect) checks on the file it opens.
      type: list
      elements: dict
  sample:
    - name: "202405181200"
      dir: /var/crash/202405181200
      crash_id: "202405181200"
      time: 1716033611
      complete: true
      files:
        - {path: dmesg.202405181200, size: 61234, mtime: 1716033650, sha256: 9f86d0..., hashed: true}
skipped_crashes:
  description:
    - Directories left out, each with C(name), C(dir) and C(reason).
    - Not named C(skipped) - Ansible reads a true C(skipped) in a result as "this task was skipped".
  returned: always
  type: list
  elements: dict
"""

import socket

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.crashkit.kdump.plugins.module_utils import _crashlist, _store
from ansible_collections.crashkit.kdump.plugins.module_utils._module import domain_errors, read_text

MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")


def identity():
    machine = None
    for path in MACHINE_ID_FILES:
        machine = _store.normalize_machine_id(read_text(path, errors="ignore", limit=4096))
        if machine:
            break
    hostname = socket.gethostname()
    return {"hostname": hostname, "machine_id": machine, "host_id": _store.host_id(hostname, machine)}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            # str, not path: no $VAR or ~ expansion of a path that may hold host data.
            path=dict(type="str", default="/var/crash"),
            crashes=dict(type="list", elements="str"),
            checksum=dict(type="bool", default=True),
            known=dict(type="list", elements="dict", default=[]),
            include_incomplete=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    with domain_errors(module):
        result = _crashlist.run(dict(module.params), identity=identity)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
