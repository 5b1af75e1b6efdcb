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
  - The report also has one row per host (C(hosts), and a C(Hosts) table in C(report.md)) with
    the host's kdump readiness given in O(readiness) and its latest panic test read from
    O(panic_results). A host in only one of them has a row too, with the other half empty.
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
  panic_results:
    description:
      - The results directory of the P(crashkit.kdump.panic_test#role) role (its
        C(kdump_panic_report_dir), by default C(panic-test-results) in the directory the playbook
        was started from), laid out as C(<panic_results>/<run id>/hosts/<host>.json).
      - The latest record of each host is shown, the one with the highest C(finished), then
        C(started) time (epoch seconds, numbers or numeric text); on a tie the later run directory
        (by name) wins.
      - A directory that does not exist gives no panic-test results; it is not an error.
      - Records that cannot be read, are bigger than 1 MiB, are not JSON or not a JSON object are
        skipped and listed in the report (C(panic_tests.unreadable)); they do not fail the task.
        Malformed fields of a readable record (a time that is not a number, a C(dump) that is not
        a mapping) become null.
      - Without this option, no panic-test results are read.
    type: path
  readiness:
    description:
      - The kdump readiness of each host, normally built from what
        M(crashkit.kdump.kdump_info) returned on each host (see EXAMPLES).
      - "Each entry is a mapping: C(host) (required, the name the panic test records use, the
        inventory hostname), and optional C(ready) (bool), C(loaded) (bool, a crash kernel is
        loaded), C(reserved_mb) (number, memory reserved for the crash kernel), C(service) (the
        kdump unit), C(service_active) (bool), C(target) (where dumps go, text such as
        C(ssh kdumprecv@10.0.0.5:/var/crash), or the C(config.target) mapping of
        M(crashkit.kdump.kdump_info)) and C(problems) (list of sentences)."
      - Booleans also take C(yes)/C(no)/C(true)/C(false) text; C(service_active) also takes what
        C(systemctl is-active) answers (C(active) is true, C(unknown) is unknown, C(inactive),
        C(failed) and the others are false). Missing values are shown as unknown.
      - Other keys are ignored. When a host has several entries, the last one is used. An entry
        without C(host) or with a value of the wrong type fails the task.
    type: list
    elements: dict
    default: []
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

# On every host: read its readiness and keep one entry for the report.
- name: Read kdump readiness
  crashkit.kdump.kdump_info:
    mem_usage: false
  register: kdump

- name: Keep the readiness entry of this host
  ansible.builtin.set_fact:
    kdump_readiness:
      host: "{{ inventory_hostname }}"
      ready: "{{ kdump.ready }}"
      problems: "{{ kdump.problems }}"
      loaded: "{{ kdump.crash_kernel.loaded }}"
      reserved_mb: "{{ kdump.crash_kernel.reserved_mb }}"
      service: "{{ kdump.service.name }}"
      service_active: "{{ kdump.service.active }}"
      target: "{{ kdump.config.target }}"

- name: Refresh the fleet report with each host's readiness and latest panic test
  crashkit.kdump.vmcore_report:
    store: "{{ playbook_dir }}/crash-store"
    panic_results: "{{ playbook_dir }}/panic-test-results"
    readiness: "{{ ansible_play_hosts | map('extract', hostvars, 'kdump_readiness') | list }}"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
report:
  description:
    - The report (C(crashes), C(host_count), C(signature_count), C(groups), C(failed), C(hosts),
      C(panic_tests)); see the fleet report of the collection.
    - C(hosts) has one entry per host of O(readiness) or O(panic_results), sorted by host -
      C(host), C(readiness) (null when the host has no entry in O(readiness); else C(ready),
      C(loaded), C(reserved_mb), C(service), C(service_active), C(target), C(problems)) and
      C(panic_test) (null when the host has no panic-test record; else its latest record's
      C(status), C(reason), C(step), C(run_id), C(test_id), C(kernel_release), C(started),
      C(trigger_time), C(back_time), C(finished) (epoch seconds or null), C(when) (C(finished) as
      UTC ISO 8601, else the latest other time known), C(dump) (null or C(path), C(host), C(format), C(kernel_release), C(size), C(mtime),
      C(crash_time)) and C(source) (the record file, relative to O(panic_results))).
    - C(panic_tests) tells what was read from O(panic_results) - C(directory), C(runs),
      C(records), C(hosts) and C(unreadable) (C(source) and C(error) of each skipped record).
  returned: always
  type: dict
  sample:
    crashes: 0
    host_count: 0
    signature_count: 0
    groups: []
    failed: []
    hosts:
      - host: web1
        readiness: {ready: true, loaded: true, reserved_mb: 144, service: kdump-tools, service_active: true,
                    target: "ssh kdumprecv@10.0.0.5:/var/crash", problems: []}
        panic_test: {status: pass, reason: null, step: null, run_id: 20240518T120000,
                     test_id: web1-20240518T120000-abc12345, kernel_release: 6.1.0-18-amd64,
                     started: 1716033590, trigger_time: 1716033600, back_time: 1716033700,
                     finished: 1716033720, when: "2024-05-18T12:02:00Z",
                     dump: {path: /var/crash/10.0.0.7-202405181200/dump.202405181200, host: dumpsrv1,
                            format: flattened, kernel_release: 6.1.0-18-amd64, size: 48234496,
                            mtime: 1716033650, crash_time: 1716033603},
                     source: 20240518T120000/hosts/web1.json}
    panic_tests: {directory: /srv/ansible/panic-test-results, runs: 1, records: 1, hosts: 1, unreadable: []}
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
from ansible_collections.crashkit.kdump.plugins.module_utils._fleetreport import (
    FleetReport, read_panic_results, render_markdown, triage_many)
from ansible_collections.crashkit.kdump.plugins.module_utils._module import apply_file, domain_errors, read_text
from ansible_collections.crashkit.kdump.plugins.module_utils._triage import find_bundle_log


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
    panic_results = module.params["panic_results"]
    fleet.set_hosts(module.params["readiness"], read_panic_results(panic_results) if panic_results else None)
    crashes = []
    for host, crash, directory, manifest in store_crashes(store):
        entry = {"host_id": host, "crash_id": crash, "log": None, "signature": None, "kind": None,
                 "function": None, "error": None, "directory": directory}
        when = manifest.get("crash_time")
        entry["iso"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when)) if when else None
        try:
            entry["log"] = crash_log(directory)
        except KdumpError as exc:
            entry["error"] = str(exc)
        crashes.append(entry)
    # Many crashes are triaged by a process pool (triage_many), in order.
    triaged = triage_many([entry["log"] for entry in crashes if entry["log"]])
    for entry in crashes:
        directory, iso = entry.pop("directory"), entry.pop("iso")
        record = None
        if entry["log"]:
            _path, record, entry["error"] = next(triaged)
        if record is None:
            fleet.add_failure(entry["log"] or directory, entry["error"])
            continue
        entry.update(signature=record["signature"], kind=record["kind"], function=record["function"])
        fleet.add(record, host=entry["host_id"], crash_time=iso, source=os.path.relpath(entry["log"], store))
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
            panic_results=dict(type="path"),
            readiness=dict(type="list", elements="dict", default=[]),
        ),
        supports_check_mode=True,
    )
    with domain_errors(module):
        result = run(module)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
