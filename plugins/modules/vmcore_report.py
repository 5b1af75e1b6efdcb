#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vmcore_report
short_description: Write the fleet crash report of a central crash store
version_added: 0.1.0
description:
  - Triages the kernel log of every crash in a store written by M(crashkit.kdump.vmcore_collect)
    (C(<store>/<host id>/<crash id>/), only crashes with a C(manifest.json)) and groups them by
    crash signature into O(store)C(/report.json) and O(store)C(/report.md).
  - The log of a crash is its bundle's C(crashkit-bundle/dmesg.txt), else the log saved with the
    dump (C(vmcore-dmesg.txt), C(dmesg.txt), C(dmesg.<stamp>)).
  - Logs that cannot be triaged are listed in the report, they do not fail the task.
  - "Runs where the store is, normally the controller (C(delegate_to: localhost), C(run_once))."
author:
  - crashkit maintainers (@crashkit)
extends_documentation_fragment:
  - crashkit.kdump.attributes
  - crashkit.kdump.attributes.files
options:
  store:
    description: The central store directory.
    type: path
    required: true
  title:
    description: Title of the Markdown report.
    type: str
    default: Kernel crash report
seealso:
  - module: crashkit.kdump.vmcore_collect
  - module: crashkit.kdump.vmcore_triage
"""

EXAMPLES = r"""
- name: Refresh the fleet report of the store
  crashkit.kdump.vmcore_report:
    store: "{{ playbook_dir }}/crash-store"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
report:
  description: The report (C(crashes), C(host_count), C(signature_count), C(groups), C(failed)); see the fleet report of the collection.
  returned: always
  type: dict
crashes:
  description:
    - One entry per crash of the store with C(host_id), C(crash_id), C(log), C(signature), C(kind),
      C(function) (null when it could not be triaged) and C(error).
  returned: always
  type: list
  elements: dict
paths:
  description: The report files written.
  returned: always
  type: list
  elements: str
  sample: [/srv/crash-store/report.json, /srv/crash-store/report.md]
"""

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.crashkit.kdump.plugins.module_utils import _store
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError
from ansible_collections.crashkit.kdump.plugins.module_utils._fleetreport import FleetReport, render_markdown
from ansible_collections.crashkit.kdump.plugins.module_utils._module import apply_file, domain_errors, read_text
from ansible_collections.crashkit.kdump.plugins.module_utils._triage import find_bundle_log, triage_file


def store_crashes(store):
    """(host id, crash id, crash directory, manifest) of every collected crash, sorted."""
    found = []
    if not os.path.isdir(store):
        return found
    for host in sorted(os.listdir(store)):
        host_dir = os.path.join(store, host)
        if host.startswith(".") or not os.path.isdir(host_dir):
            continue
        for crash in sorted(os.listdir(host_dir)):
            directory = os.path.join(host_dir, crash)
            text = read_text(os.path.join(directory, _store.MANIFEST_NAME)) if os.path.isdir(directory) else None
            if text is None:
                continue
            try:
                manifest = _store.parse_manifest(text)
            except KdumpError:
                continue
            found.append((host, crash, directory, manifest))
    return found


def crash_log(directory):
    bundled = os.path.join(directory, "crashkit-bundle", "dmesg.txt")
    if os.path.isfile(bundled):
        return bundled
    return find_bundle_log(directory)


def run(module):
    store = module.params["store"]
    fleet = FleetReport()
    crashes = []
    for host, crash, directory, manifest in store_crashes(store):
        entry = {"host_id": host, "crash_id": crash, "log": None, "signature": None, "kind": None,
                 "function": None, "error": None}
        when = manifest.get("crash_time")
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when)) if when else None
        try:
            entry["log"] = crash_log(directory)
            record = triage_file(entry["log"], keep_excerpt=False)
        except KdumpError as exc:
            entry["error"] = str(exc)
            fleet.add_failure(entry["log"] or directory, exc)
            crashes.append(entry)
            continue
        entry.update(signature=record["signature"], kind=record["kind"], function=record["function"])
        fleet.add(record, host=host, crash_time=iso, source=os.path.relpath(entry["log"], store))
        crashes.append(entry)
    report = fleet.report()
    json_path = os.path.join(store, "report.json")
    md_path = os.path.join(store, "report.md")
    changed = False
    diff = []
    if not os.path.isdir(store):
        module.fail_json(msg="store %s does not exist" % store)
    for path, content in ((json_path, json.dumps(report, indent=2, sort_keys=True) + "\n"),
                          (md_path, render_markdown(report, module.params["title"]) + "\n")):
        file_changed, file_diff, _backup = apply_file(module, path, content, mode=0o644)
        changed = changed or file_changed
        diff.append(file_diff)
    result = {"changed": changed, "report": report, "crashes": crashes, "paths": [json_path, md_path]}
    if module._diff:
        result["diff"] = diff
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            store=dict(type="path", required=True),
            title=dict(type="str", default="Kernel crash report"),
        ),
        supports_check_mode=True,
    )
    with domain_errors(module):
        result = run(module)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
