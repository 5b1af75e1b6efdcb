#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vmcore_check
short_description: Find kernel crash dumps and prove they are complete
version_added: 0.1.0
description:
  - Looks for crash dumps in a crash directory (or checks one dump file) and tells, from the
    dumps' own headers, which format each one is in, whether it is complete, which kernel
    crashed and when. Never reads a dump whole and changes nothing.
  - "Formats: makedumpfile's flattened format (C(makedumpfile -F), written by Debian kdump-tools,
    SUSE kdump and Red Hat ssh targets): complete when every data block is in the file and the
    end header follows the last one. kdump-compressed (makedumpfile's default): complete when
    the C(DUMP_DH_COMPRESSED_INCOMPLETE) flag is clear and the file is as long as its bitmap and
    page descriptors say. ELF (a copy of C(/proc/vmcore), C(makedumpfile -E)): complete when
    every C(PT_LOAD) segment lies within the file and makedumpfile's incomplete bit is clear.
    gzip, bzip2 and xz containers (kdump-tools C(KDUMP_COMPRESSION)) are decompressed to check
    the dump inside (see O(verify_compressed)); lz4 and zstd ones are reported, never complete."
  - "Directory layouts: Debian C(<YYYYmmddHHMM>/dump.<stamp>) with C(dmesg.<stamp>)
    (C(dump-incomplete) while being written); Red Hat C(<ip>-<YYYY-mm-dd-HH:MM:SS>/vmcore) or
    C(vmcore.flat) with C(vmcore-dmesg.txt) (C(vmcore-incomplete) while being written); SUSE
    C(<YYYY-mm-dd-HH-MM>/vmcore) with C(dmesg) and C(README.txt) (or C(dmesg.txt) with kdumptool
    1.x). A dump still under its temporary name, or whose SUSE C(README.txt) does not say it was
    saved successfully, is not complete whatever its headers say."
author:
  - crashkit maintainers (@crashkit)
extends_documentation_fragment:
  - crashkit.kdump.attributes
  - crashkit.kdump.attributes.info_module
options:
  path:
    description:
      - A crash directory, scanned O(depth) levels deep (C(<path>/<stamp dir>/dump) and, for dump
        servers, C(<path>/<host dir>/<stamp dir>/dump)), or one dump file of any name.
    type: path
    default: /var/crash
  depth:
    description: How many directory levels below O(path) are searched.
    type: int
    default: 2
  since:
    description:
      - Epoch seconds; only dump files modified at or after this time are reported. A dump file's
        modification time is when its writer finished (or stopped).
      - On a dump server compare with the server's clock; allow for clock skew.
    type: float
  exclude:
    description:
      - Dump file paths to leave out, typically RV(dumps) of an earlier run (the dumps that
        existed before a test). They are not even opened.
      - Taken as they are (no C(~) or C($VAR) expansion), as they are host data.
    type: list
    elements: str
    default: []
  dmesg_contains:
    description:
      - A text that must appear in the kernel log saved with the dump (for example the line a
        panic test wrote to C(/dev/kmsg) just before the crash). Sets RV(dumps[].dmesg_match) and
        makes RV(new_complete) the newest complete dump whose log contains it.
    type: str
  dmesg_from_dump:
    description:
      - When a dump has no kernel log file next to it, extract the log from the dump with
        C(makedumpfile --dump-dmesg) into a temporary file (only when C(makedumpfile) is
        installed, only for kdump-compressed and ELF files, only with O(dmesg_contains)).
      - Flattened dumps are not extracted this way; they would first need a full rearranged copy
        (C(makedumpfile -R)).
    type: bool
    default: true
  verify_compressed:
    description:
      - Decompress gzip, bzip2 and xz dumps to their end to check the dump inside. Costs the time
        to decompress the dump, not memory. Without it a compressed dump larger than a few MiB is
        never reported complete.
    type: bool
    default: true
  require:
    description: Fail when no complete dump (whose log contains O(dmesg_contains), if given) is found.
    type: bool
    default: false
  capture_note:
    description:
      - The lean capture's fallback note of this host (C(/var/lib/crashkit/capture-fallback), see
        the setup role's C(kdump_capture_mode)). A dump without a note of its own that was written
        in the capture boot the note tells of gets RV(dumps[].capture) from it (read only, never
        copied). Give it only where the dumps are this host's own (a local target).
    type: path
notes:
  - A dump that is still being written looks incomplete; run the check again later.
  - Kernel release, build id and crash time come from the dump (C(utsname) of the kdump-compressed
    header, the C(VMCOREINFO) note's C(OSRELEASE), C(BUILD-ID) and C(CRASHTIME)).
seealso:
  - module: crashkit.kdump.kdump_info
"""

EXAMPLES = r"""
- name: Dumps that exist before a panic test
  crashkit.kdump.vmcore_check:
  register: before

- name: The dump of this test, complete, with our marker in its kernel log
  crashkit.kdump.vmcore_check:
    since: "{{ trigger_epoch }}"
    exclude: "{{ before.dumps | map(attribute='path') }}"
    dmesg_contains: "crashkit panic test {{ test_id }}"
    require: true
  register: after

- name: Check one dump on a dump server
  crashkit.kdump.vmcore_check:
    path: /srv/crash/web1/10.0.0.5-2024-05-18-12:00:01/vmcore.flat
  delegate_to: dumpserver
"""

RETURN = r"""
exists:
  description: Whether O(path) exists.
  returned: always
  type: bool
dumps:
  description: Dump files found (after O(since) and O(exclude)), oldest first.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The dump file.
      type: str
    name:
      description: Its file name.
      type: str
    dir:
      description: The directory holding it.
      type: str
    layout:
      description: Which family's layout the directory follows, C(debian), C(redhat), C(suse) or C(unknown).
      type: str
    host_tag:
      description: The host part of the directory name on remote targets (IP address or host name).
      type: str
    stamp:
      description: The time stamp part of the directory name.
      type: str
    format:
      description:
        - C(flattened), C(kdump_compressed), C(diskdump), C(elf), a container (C(gzip), C(bzip2),
          C(xz), C(lz4), C(zstd)), C(empty), C(unknown) or C(unreadable).
      type: str
    inner_format:
      description: For flattened files and containers, the format of the dump inside.
      type: str
    container:
      description: The compression container, if any.
      type: str
    compression:
      description: Page compression of a kdump-compressed dump (C(zlib), C(lzo), C(snappy), C(zstd), C(none)).
      type: str
    complete:
      description: Whether the dump is complete.
      type: bool
    reason:
      description: Why the dump is not complete (null when it is).
      type: str
    notes:
      description: Remarks that do not make the dump incomplete.
      type: list
      elements: str
    size:
      description: File size in bytes.
      type: int
    logical_size:
      description: Size of the dump itself (rearranged flattened data, decompressed container).
      type: int
    implied_size:
      description: The size the dump's headers imply.
      type: int
    mtime:
      description: Modification time (epoch seconds).
      type: int
    kernel_release:
      description: Release of the kernel that crashed.
      type: str
    kernel_version:
      description: C(uname -v) of that kernel (kdump-compressed dumps).
      type: str
    machine:
      description: Machine of that kernel.
      type: str
    nodename:
      description: Host name of the crashed system (kdump-compressed dumps).
      type: str
    crash_time:
      description: When the kernel crashed (epoch seconds), from C(CRASHTIME) or the dump header.
      type: int
    build_id:
      description: C(BUILD-ID) of the crashed kernel.
      type: str
    dump_level:
      description: makedumpfile dump level.
      type: int
    header_version:
      description: Header version of the format.
      type: int
    incomplete_flag:
      description: Whether the writer's own incomplete flag is set.
      type: bool
    dmesg_path:
      description: The kernel log saved next to the dump, if any.
      type: str
    dmesg_complete:
      description: False when the log still has its temporary name.
      type: bool
    dmesg_match:
      description: Whether the log contains O(dmesg_contains); null when there is no log to search or no O(dmesg_contains).
      type: bool
    dmesg_source:
      description: C(file) or C(makedumpfile) (extracted from the dump), null when not searched.
      type: str
    capture:
      description:
        - Which capture saved the dump, from the lean capture's note (C(kdump_capture_mode
          initramfs)); every key null without one.
        - C(saved_by) is C(crashkit-initramfs) or C(kdump-tools); C(lean_fallback) why the lean
          capture left the dump to kdump-tools; C(capture_uptime) the capture kernel's uptime when
          the lean capture had saved it.
      type: dict
  sample:
    - path: /var/crash/202405181200/dump.202405181200
      layout: debian
      format: flattened
      inner_format: kdump_compressed
      compression: zlib
      complete: true
      reason: null
      size: 48234496
      mtime: 1716033650
      kernel_release: 6.1.0-18-amd64
      crash_time: 1716033611
      dmesg_path: /var/crash/202405181200/dmesg.202405181200
      dmesg_match: true
new_complete:
  description: The newest complete dump of RV(dumps) (whose log contains O(dmesg_contains), if given), or null.
  returned: always
  type: dict
incomplete:
  description: The dumps of RV(dumps) that are not complete.
  returned: always
  type: list
  elements: dict
scan_errors:
  description: Directories that could not be listed.
  returned: always
  type: list
  elements: str
"""

import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.crashkit.kdump.plugins.module_utils import _bundle, _capture, _safefs, _vmcore
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError
from ansible_collections.crashkit.kdump.plugins.module_utils._module import domain_errors

EXTRACTABLE = (_vmcore.FORMAT_KDUMP, _vmcore.FORMAT_ELF)


def _dir_fd(root, directory):
    """Descriptor of ``directory`` (a crash directory the scan found below ``root``), opened
    without following any link below the root."""
    base = root if os.path.isdir(root) else os.path.dirname(root)
    rel = os.path.relpath(directory, base)
    return _safefs.open_dir_beneath(base, "" if rel == "." else rel)


def extract_dmesg(module, makedumpfile, dump, dir_fd, needle):
    """Search the kernel log of ``dump`` extracted by ``makedumpfile --dump-dmesg`` (given the
    dump by the descriptor that was checked). Returns ``None`` when it could not be extracted."""
    workdir = tempfile.mkdtemp(dir=module.tmpdir)
    try:
        src = _safefs.open_regular(dump["name"], dir_fd=dir_fd, expect=(dump["dev"], dump["ino"]))
        try:
            rc, _out, _err = _bundle.Runner().run([makedumpfile, "--dump-dmesg", "/proc/self/fd/%d" % src, "dmesg.txt"],
                                                  pass_fds=(src,), cwd=workdir, timeout=600)
        finally:
            os.close(src)
        if rc != 0:
            return None
        return _vmcore.file_contains(os.path.join(workdir, "dmesg.txt"), needle)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def check_dmesg(module, root, dumps, needle, from_dump):
    makedumpfile = module.get_bin_path("makedumpfile") if from_dump else None
    for dump in dumps:
        dump["dmesg_match"] = None
        dump["dmesg_source"] = None
        if needle is None:
            continue
        try:
            dir_fd = _dir_fd(root, dump["dir"])
        except (OSError, KdumpError):
            continue
        try:
            if dump["dmesg_path"]:
                dump["dmesg_match"] = _vmcore.file_contains(os.path.basename(dump["dmesg_path"]), needle,
                                                            dir_fd=dir_fd)
                dump["dmesg_source"] = "file"
            elif makedumpfile and dump["complete"] and dump["format"] in EXTRACTABLE:
                dump["dmesg_match"] = extract_dmesg(module, makedumpfile, dump, dir_fd, needle)
                if dump["dmesg_match"] is not None:
                    dump["dmesg_source"] = "makedumpfile"
        finally:
            os.close(dir_fd)


def describe_failure(params, result):
    """The message of O(require): what was looked for and why each candidate did not qualify."""
    what = "no new complete crash dump" if (params["since"] is not None or params["exclude"]) else "no complete crash dump"
    parts = []
    if params["since"] is not None:
        parts.append("modified since %d" % params["since"])
    if params["exclude"]:
        parts.append("not among the %d known before" % len(params["exclude"]))
    if params["dmesg_contains"] is not None:
        parts.append("with %r in its kernel log" % params["dmesg_contains"])
    msg = "%s in %s" % (what, params["path"])
    if parts:
        msg += " (" + ", ".join(parts) + ")"
    if not result["exists"]:
        return msg + ": %s does not exist" % params["path"]
    if not result["dumps"]:
        return msg + ": nothing found"
    details = []
    for dump in result["dumps"]:
        if not dump["complete"]:
            details.append("%s: %s" % (dump["path"], dump["reason"]))
        elif dump["dmesg_match"] is False:
            details.append("%s: complete, but %s does not contain it" % (dump["path"], dump["dmesg_path"] or "the log makedumpfile extracted"))
        elif dump["dmesg_match"] is None and params["dmesg_contains"] is not None:
            details.append("%s: complete, but no kernel log was saved with it to search" % dump["path"])
    return msg + ": " + "; ".join(details)


def run(module):
    params = module.params
    found = _vmcore.scan(params["path"], since=params["since"], exclude=params["exclude"],
                         verify_compressed=params["verify_compressed"], depth=params["depth"])
    dumps = found["dumps"]
    if params["capture_note"]:
        _capture.fill_from_fallback(dumps, params["capture_note"])
    check_dmesg(module, os.path.normpath(os.path.abspath(params["path"])), dumps, params["dmesg_contains"],
                params["dmesg_from_dump"])
    qualified = [d for d in dumps if d["complete"]
                 and (params["dmesg_contains"] is None or d["dmesg_match"] is True)]
    result = {
        "changed": False,
        "exists": found["exists"],
        "dumps": dumps,
        "new_complete": qualified[-1] if qualified else None,
        "incomplete": [d for d in dumps if not d["complete"]],
        "scan_errors": found["errors"],
    }
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/var/crash"),
            depth=dict(type="int", default=2),
            since=dict(type="float"),
            # str, not path: earlier results (host data) are passed here and must not be expanded.
            exclude=dict(type="list", elements="str", default=[]),
            dmesg_contains=dict(type="str"),
            dmesg_from_dump=dict(type="bool", default=True),
            verify_compressed=dict(type="bool", default=True),
            require=dict(type="bool", default=False),
            capture_note=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    if module.params["depth"] < 0:
        module.fail_json(msg="depth must not be negative")
    with domain_errors(module):
        result = run(module)
        if module.params["require"] and result["new_complete"] is None:
            module.fail_json(msg=describe_failure(module.params, result), **result)
        module.exit_json(**result)


if __name__ == "__main__":
    main()
