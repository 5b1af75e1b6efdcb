#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: service_files
short_description: Install a service's directories, files and systemd units in one module run
version_added: 0.1.0
description:
  - Makes each of O(directories) exist with its owner, group and mode, makes each of O(files) hold
    exactly its content with its owner, group and mode, and then makes each of O(units) enabled and
    running; C(systemctl daemon-reload) runs first when a file under a systemd unit directory
    changed, and a running unit whose own unit file changed is restarted.
  - One module run for what would otherwise be two per C(copy) or C(template) and one per
    C(systemd_service). The setup and dump_server roles install crashkit's services with it.
  - Files are written to a C(mkstemp) name in their directory, their mode and owner set on the
    descriptor, synced, and renamed over the old one; a link or special file found at a path is
    replaced, never followed. Existing files are read without following links.
  - In check mode nothing is written and no unit is touched; owners and groups the host does not
    know yet (an account a task before would create) count as a change.
author:
  - crashkit maintainers (@crashkit)
extends_documentation_fragment:
  - crashkit.kdump.attributes
  - crashkit.kdump.attributes.files
options:
  directories:
    description: Directories, created (with missing parents as root 0755) in the order given.
    type: list
    elements: dict
    default: []
    suboptions:
      path: {description: Absolute path., type: path, required: true}
      owner: {description: User name., type: str, default: root}
      group: {description: Group name., type: str, default: root}
      mode: {description: Octal mode as a string., type: str, default: "0755"}
  files:
    description: Regular files and their whole content (text, written as UTF-8, at most 16 MiB).
    type: list
    elements: dict
    default: []
    suboptions:
      path: {description: Absolute path; its directory must exist or be in O(directories)., type: path, required: true}
      content: {description: The whole content., type: str, required: true}
      owner: {description: User name., type: str, default: root}
      group: {description: Group name., type: str, default: root}
      mode: {description: Octal mode as a string., type: str, default: "0644"}
  units:
    description: systemd units to enable and start (timers, paths, sockets, services, mounts).
    type: list
    elements: str
    default: []
  absent:
    description:
      - Paths that must not exist, removed after the files are written (a link is removed itself,
        never what it points to; a directory is refused). None of them may be in O(files).
    type: list
    elements: path
    default: []
  absent_if_empty:
    description:
      - Directories removed after O(absent) when nothing is left in them, in the order given (a
        directory's subdirectories first). One with anything else in it, or a link or file at its
        path, is left as it is; nothing is removed recursively.
    type: list
    elements: path
    default: []
"""

EXAMPLES = r"""
- name: Install a program and its timer, and start the timer
  crashkit.kdump.service_files:
    directories:
      - {path: /usr/local/libexec/example, mode: "0755"}
    files:
      - {path: /usr/local/libexec/example/run, content: "#!/bin/sh\necho hi\n", mode: "0755"}
      - {path: /etc/systemd/system/example.service, content: "{{ lookup('ansible.builtin.template', 'example.service.j2') }}"}
      - {path: /etc/systemd/system/example.timer, content: "{{ lookup('ansible.builtin.template', 'example.timer.j2') }}"}
    units: [example.timer]
"""

RETURN = r"""
directories:
  description: The directories created or whose owner, group or mode changed.
  type: list
  elements: str
  returned: always
files:
  description: The files written (C(create), C(content), C(replace)) or whose attributes changed.
  type: list
  elements: str
  returned: always
removed:
  description: The O(absent) paths removed (or that would be, in check mode).
  type: list
  elements: str
  returned: always
removed_dirs:
  description: The O(absent_if_empty) directories removed (or that would be, in check mode).
  type: list
  elements: str
  returned: always
daemon_reload:
  description: Whether C(systemctl daemon-reload) ran (or would run, in check mode).
  type: bool
  returned: always
units:
  description: The units enabled, started and restarted (or that would be, in check mode).
  type: dict
  returned: always
  sample: {enable: [example.timer], start: [example.timer], restart: []}
"""

import grp
import pwd

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.crashkit.kdump.plugins.module_utils import _servicefiles as sf
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError
from ansible_collections.crashkit.kdump.plugins.module_utils._module import domain_errors, file_diff

_DIR = dict(path=dict(type="path", required=True), owner=dict(type="str", default="root"),
            group=dict(type="str", default="root"), mode=dict(type="str", default="0755"))
_FILE = dict(path=dict(type="path", required=True), content=dict(type="str", required=True),
             owner=dict(type="str", default="root"), group=dict(type="str", default="root"),
             mode=dict(type="str", default="0644"))


def _ids(owner, group):
    try:
        uid = pwd.getpwnam(owner).pw_uid
    except KeyError:
        uid = None
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        gid = None
    return uid, gid


def _text(data):
    return "(%d bytes, binary)" % len(data) if data is not None and b"\0" in data else (
        data.decode("utf-8", "replace") if data is not None else "")


def _systemctl(module, *args):
    return module.run_command(["systemctl"] + list(args))


def _units(module, units, changed_units):
    _rc, shown, _err = _systemctl(module, "show", "--property=UnitFileState,ActiveState", "--", *units)
    todo = sf.systemctl_plan(units, shown, changed_units)
    if module.check_mode:
        return todo
    for verb in ("enable", "start", "restart"):
        if todo[verb]:
            rc, out, err = _systemctl(module, verb, "--", *todo[verb])
            if rc != 0:
                raise KdumpError("systemctl %s %s failed: %s" % (verb, " ".join(todo[verb]), (err or out).strip()))
    return todo


def main():
    module = AnsibleModule(
        argument_spec=dict(
            directories=dict(type="list", elements="dict", default=[], options=_DIR),
            files=dict(type="list", elements="dict", default=[], options=_FILE),
            units=dict(type="list", elements="str", default=[]),
            absent=dict(type="list", elements="path", default=[]),
            absent_if_empty=dict(type="list", elements="path", default=[]),
        ),
        supports_check_mode=True,
    )
    with domain_errors(module):
        dirs, files, units = sf.check_spec(module.params["directories"], module.params["files"],
                                           module.params["units"])
        absent = sf.check_absent(module.params["absent"], files)
        planned = sf.plan(dirs, files, _ids, absent)
        planned["removed_dirs"] = sf.plan_empty_dirs(sf.check_absent(module.params["absent_if_empty"], files),
                                                     planned["removed"])
        reload_units = sf.unit_files_changed(planned)
        diff = [file_diff(entry["path"], _text(planned["before"].get(entry["path"])), entry["content"])
                for entry, what in planned["files"] if what != "attributes"]
        diff += [file_diff(path, _text(planned["before"].get(path)), "") for path in planned["removed"]]
        if not module.check_mode:
            sf.apply(planned, _ids)
            if reload_units:
                rc, out, err = _systemctl(module, "daemon-reload")
                if rc != 0:
                    raise KdumpError("systemctl daemon-reload failed: %s" % (err or out).strip())
        todo = _units(module, units, reload_units) if units else {"enable": [], "start": [], "restart": []}
        changed = bool(planned["directories"] or planned["files"] or planned["removed"] or planned["removed_dirs"]
                       or any(todo.values()))
        module.exit_json(
            changed=changed,
            directories=[entry["path"] for entry, _what in planned["directories"]],
            files=[entry["path"] for entry, _what in planned["files"]],
            removed=planned["removed"],
            removed_dirs=planned["removed_dirs"],
            daemon_reload=bool(reload_units),
            units=todo,
            diff=diff,
        )


if __name__ == "__main__":
    main()
