#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vmcore_collect
short_description: Copy a host's crash dumps into a central store on the controller, verified and resumable
version_added: 0.1.0
description:
  - Copies every crash directory below O(src) on the host (the dump, its kernel log, the evidence
    bundle of M(crashkit.kdump.vmcore_bundle), any other file in it) into
    O(store)C(/<host id>/<crash id>/) on the controller and writes a C(manifest.json) there.
  - "Streams each file: the host side is C(tail -c +<offset>) (under C(sudo -n) with become) over
    its own C(ssh) process built from the connection's options, or the file itself for the
    C(local) connection; memory stays flat whatever the size of the dump. No fetch, no slurp."
  - The SHA-256 of each file is computed on the host (M(crashkit.kdump.vmcore_list), with the
    task's become) and again on the controller while the bytes arrive; they must be equal.
  - "Atomic: a file is written as C(<name>.part) (with a state file C(<name>.part.json) that also
    shows the progress), fsynced, compared, and only then renamed to its name. The manifest is
    written last, also through a rename. Killing the collection leaves no file under its final
    name that is not complete and verified."
  - Resumes - a C(.part) left by an interrupted run is continued from its length when the source
    is unchanged (same path, size, modification time and SHA-256); its kept prefix is hashed
    again so the final comparison covers every byte. A changed source starts over.
  - Idempotent - a crash whose manifest matches the host's files (path, size, SHA-256) and whose
    copies exist is not copied again (RV(crashes[].status=present)); a second run reports no change.
  - Retention - in the store, keep the O(store_keep) newest crashes of the host and drop those
    older than O(store_max_age_days); on the host, keep the O(keep_on_host) newest crash
    directories and delete older ones only when their central copy is verified (manifest equal
    to the host's files, and the central files re-read and hashed equal to the manifest).
    O(retention_dry_run) (and check mode) only report what would go.
  - Check mode lists what would be copied and copies nothing.
author:
  - crashkit maintainers (@crashkit)
extends_documentation_fragment:
  - crashkit.kdump.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
options:
  src:
    description:
      - The crash directory root on the host; every directory directly below it is one crash.
      - On a dump server this is the host's directory, for example C(/srv/crash/web1), with
        O(host_id) set and the task delegated to the dump server.
    type: path
    default: /var/crash
  store:
    description: The central store directory on the controller. Created when missing.
    type: path
    required: true
  host_id:
    description:
      - The host's directory name in the store. Default is the host's stable identity, its short
        host name and the first 12 hex digits of C(/etc/machine-id) (RV(host_id)), never its address.
    type: str
  crashes:
    description: Only these crash directory names (default all).
    type: list
    elements: str
  include_incomplete:
    description: Also collect directories whose dump still has the temporary name of its writer.
    type: bool
    default: false
  transport:
    description:
      - How the bytes travel. C(auto) streams over C(ssh) for the ssh connection (with C(sudo -n)
        for become) and reads the file directly for the local connection; it falls back to
        C(connection) when streaming is not possible (a connection or become password, a become
        method other than sudo, another connection plugin).
      - C(ssh) runs one C(ssh) per file with the connection's host, port, user, key and ssh
        arguments, but on a connection of its own (no ControlMaster socket) and without
        compression (C(-C) is dropped), since a dump is compressed already and ssh's zlib would
        only slow the copy down.
      - C(connection) reads O(chunk_mib) MiB per command through the connection plugin and its
        become, base64 encoded; works everywhere, slower.
    type: str
    choices: [auto, ssh, local, connection]
    default: auto
  chunk_mib:
    description: Chunk size of the C(connection) transport in MiB.
    type: int
    default: 8
  bandwidth_limit:
    description: Limit the copy to this many KiB per second (per host); C(0) is no limit.
    type: int
    default: 0
  progress_mib:
    description: Print a progress line every this many MiB for files at least that large; C(0) is off.
    type: int
    default: 256
  verify_store:
    description:
      - Re-read and hash the central copies of crashes already in the store and hash the host's
        files again even when their size and modification time are unchanged.
    type: bool
    default: false
  store_keep:
    description: Keep this many newest crashes of the host in the store; older ones are deleted.
    type: int
  store_max_age_days:
    description: Delete the host's crashes older than this many days from the store.
    type: float
  keep_on_host:
    description:
      - Keep this many newest crash directories on the host; older ones are deleted when, and
        only when, their central copy is verified. Unset deletes nothing on the host.
    type: int
  retention_dry_run:
    description: Report what retention would delete, delete nothing.
    type: bool
    default: false
notes:
  - Run it with C(become) when the crash directories are readable by root only (the default on
    every family). For streaming over ssh the become method must be sudo without a password;
    otherwise O(transport=auto) uses the slower C(connection) transport.
  - The store's C(<host id>) directory is locked while a collection runs; a second collection of
    the same host fails at once.
  - Crash time (used for retention) is the dump's own C(CRASHTIME), else the newest file's
    modification time.
seealso:
  - module: crashkit.kdump.vmcore_list
  - module: crashkit.kdump.vmcore_bundle
  - module: crashkit.kdump.vmcore_triage
"""

EXAMPLES = r"""
- name: Collect every crash of the host into the store on the controller
  crashkit.kdump.vmcore_collect:
    store: "{{ playbook_dir }}/crash-store"
  become: true
  register: collected

- name: Collect, keep 2 dumps on the host (verified copies only) and 10 per host centrally
  crashkit.kdump.vmcore_collect:
    store: /srv/crash-store
    keep_on_host: 2
    store_keep: 10
    store_max_age_days: 365
    bandwidth_limit: 51200
  become: true

- name: Collect a host's dumps from the dump server
  crashkit.kdump.vmcore_collect:
    src: /srv/crash/{{ inventory_hostname }}
    host_id: "{{ inventory_hostname }}"
    store: /srv/crash-store
  delegate_to: dumpserver
  become: true
"""

RETURN = r"""
host:
  description: Identity of the host (C(hostname), C(machine_id), C(host_id), C(inventory_hostname)).
  returned: always
  type: dict
host_id:
  description: The host's directory name in the store.
  returned: always
  type: str
  sample: web1-4a5c3e8f2b1d
store_dir:
  description: The host's directory in the store.
  returned: always
  type: str
  sample: /srv/crash-store/web1-4a5c3e8f2b1d
transport:
  description: The transport used (C(ssh), C(local), C(connection)); null when nothing needed one.
  returned: always
  type: str
crashes:
  description: One entry per crash directory of the host.
  returned: always
  type: list
  elements: dict
  contains:
    crash_id:
      description: The crash's directory name in the store.
      type: str
    name:
      description: The crash directory's name on the host.
      type: str
    source_dir:
      description: The crash directory on the host.
      type: str
    store_path:
      description: The crash's directory in the store.
      type: str
    status:
      description:
        - C(copied), C(present) (already in the store and verified by its manifest),
          C(manifest_updated), C(would_copy) (check mode) or C(not_collected) (store retention
          would drop it at once).
      type: str
    files:
      description: Relative paths of the files copied (or that would be).
      type: list
      elements: str
    bytes_copied:
      description: Bytes received in this run.
      type: int
    resumed_bytes:
      description: Bytes kept from an interrupted run's C(.part) files.
      type: int
  sample:
    - crash_id: "202405181200"
      name: "202405181200"
      source_dir: /var/crash/202405181200
      store_path: /srv/crash-store/web1-4a5c3e8f2b1d/202405181200
      status: copied
      files: [dmesg.202405181200, dump.202405181200]
      bytes_copied: 48295730
      resumed_bytes: 0
skipped_crashes:
  description:
    - Host directories left out (still being written, no dump), with C(name), C(dir), C(reason).
    - Not named C(skipped) - Ansible reads a true C(skipped) in a result as "this task was skipped".
  returned: always
  type: list
  elements: dict
retention:
  description:
    - C(dry_run) and the plans that were applied (or would be) - C(store) with C(keep) (crash ids)
      and C(drop) (C(crash_id), C(reason), C(path)); C(host) with C(keep) and C(drop) (C(name),
      C(reason), C(path)). Null parts were not asked for.
  returned: always
  type: dict
"""
