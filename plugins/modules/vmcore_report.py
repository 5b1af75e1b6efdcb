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
    crash signature into O(store)C(/report.json), O(store)C(/report.md) and
    O(store)C(/report.html), a self-contained web page (no external asset; open it from the file
    system or any static web server) with a chart of crashes per day and signature over the last
    30 and 90 days, the signatures, the hosts' readiness and panic tests, and the crashes.
  - Each crash also gets a page, O(store)C(/report.d/<host id>/<crash id>.html), with its evidence
    (triage, the kernel log around the crash, kernel, bundle facts, change record) and relative
    links to its files. Pages of crashes that left the store are removed.
  - The log of a crash is its bundle's C(crashkit-bundle/dmesg.txt), else the log saved with the
    dump (C(vmcore-dmesg.txt), C(dmesg.txt), C(dmesg.<stamp>)). It is triaged here, on the store's
    copy; the C(triage.json) a host wrote into its bundle is not used. Triage results are cached in
    C(report.d/<host id>/<crash id>.triage.json) while the log and the triage code are unchanged.
  - Crash data is treated as hostile. Files are read without following symbolic links and within
    size limits; times and numbers are bounded; every text is escaped for the format it is written
    in (HTML by Jinja2's autoescape, with a Content-Security-Policy that allows only the page's own
    style and script; Markdown by the template engine's Markdown escaping). A crash whose manifest or
    log cannot be read, is malformed or carries an impossible time (such as a C(crash_time) outside
    1970 to one day after now) is listed under C(failed) with the reason; it does not fail the task.
  - The report also has one row per host (C(hosts), and a C(Hosts) table in C(report.md)) with
    the host's kdump readiness given in O(readiness) and its latest panic test and history read from
    O(panic_results). A host in only one of them has a row too, with the other half empty.
  - Report files are replaced atomically (temporary file in the same directory, then a rename),
    mode 0644; a symbolic link at a report file's place is replaced, never followed.
  - The same code runs without Ansible (for example on a dump server) -
    C(write_store_report()) of the collection's C(plugins/module_utils/_fleetstore.py).
  - "Runs where the store is, normally the controller (C(delegate_to: localhost), C(run_once))."
requirements:
  - Jinja2 2.10 or later (C(python3-jinja2)) where the module runs; the controller has it.
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
    description: Title of the report (Markdown and web page).
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
    - The report, as written to C(report.json) - C(crashes), C(host_count), C(signature_count),
      C(groups), C(failed), C(hosts), C(panic_tests), C(as_of), C(new_crashes),
      C(new_signatures), C(timeline), C(store_crashes) and C(panic_history); see the fleet report
      of the collection (C(docs/collection.md)).
    - C(groups) - one entry per signature, biggest first - C(signature), C(signature_text),
      C(kind), C(function), C(module), C(headline), C(count), C(hosts), C(host_count),
      C(kernel_releases), C(first_seen), C(last_seen) (UTC ISO 8601), C(panic_reasons),
      C(examples).
    - C(failed) - C(source) (the log or the crash directory, relative to the store) and C(error) of
      each crash that could not be read or triaged.
    - C(hosts) has one entry per host of O(readiness) or O(panic_results), sorted by host -
      C(host), C(crashes) (crashes in the store attributed to this host), C(readiness) (null when
      the host has no entry in O(readiness); else C(ready), C(loaded), C(reserved_mb), C(service),
      C(service_active), C(target), C(problems)) and C(panic_test) (null when the host has no
      panic-test record; else its latest record's C(status), C(reason), C(step), C(run_id),
      C(test_id), C(kernel_release), C(started), C(trigger_time), C(back_time), C(finished) (epoch
      seconds or null), C(when) (C(finished) as UTC ISO 8601, else the latest other time known),
      C(dump) (null or C(path), C(host), C(format), C(kernel_release), C(size), C(mtime),
      C(crash_time)) and C(source) (the record file, relative to O(panic_results))).
    - C(panic_tests) tells what was read from O(panic_results) - C(directory), C(runs),
      C(records), C(hosts) and C(unreadable) (C(source) and C(error) of each skipped record).
      C(panic_history) maps each host to its latest panic tests (at most 20, latest first).
    - C(as_of) is the report's day (UTC); C(new_crashes) counts the crashes of the last 7 days,
      C(new_signatures) lists signatures first seen in them. C(timeline) has C(days) (the last 90),
      C(total) (crashes per day) and C(signatures) (each signature to its crashes per day).
    - C(store_crashes) - every crash with C(host_id), C(crash_id), C(when), C(kernel_release),
      C(signature), C(kind), C(function), C(error), C(page) (its page, relative to the store),
      C(saved_by) and C(attempt_of). C(attempt_of) is null, or the key (C(host_id/crash_id)) of the
      crash that holds the same panic when this directory is the lean capture's given-up attempt
      (its note says kdump-tools saves the panic, no complete dump in it, the same signature,
      uptime at the crash and kernel release as that crash); such an attempt is listed but not
      counted (C(crashes), C(groups), C(timeline), C(hosts)); its page and that crash's page link
      each other.
  returned: always
  type: dict
  sample:
    crashes: 0
    host_count: 0
    signature_count: 0
    groups: []
    failed: []
    as_of: "2024-06-01"
    new_crashes: 0
    new_signatures: []
    hosts:
      - host: web1
        crashes: 0
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
    - One entry per crash of the store with C(host_id), C(crash_id), C(log) (its kernel log),
      C(signature), C(kind), C(function) (null when it could not be triaged), C(error) and
      C(page) (its page, relative to the store).
  returned: always
  type: list
  elements: dict
paths:
  description: The report files (C(report.json), C(report.md), C(report.html)).
  returned: always
  type: list
  elements: str
  sample: [/srv/crash-store/report.json, /srv/crash-store/report.md, /srv/crash-store/report.html]
pages:
  description: How many crash pages the report has (C(report.d/<host id>/<crash id>.html)).
  returned: always
  type: int
  sample: 12
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.crashkit.kdump.plugins.module_utils import _fleetrender
from ansible_collections.crashkit.kdump.plugins.module_utils._fleetstore import write_store_report
from ansible_collections.crashkit.kdump.plugins.module_utils._module import domain_errors


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
    if not _fleetrender.HAS_JINJA2:
        module.fail_json(msg=missing_required_lib("jinja2", reason="to render the fleet report (package python3-jinja2)"),
                         exception="".join(traceback.format_exception_only(type(_fleetrender.JINJA2_IMPORT_ERROR),
                                                                           _fleetrender.JINJA2_IMPORT_ERROR)))
    params = module.params
    with domain_errors(module):
        result = write_store_report(params["store"], title=params["title"], panic_results=params["panic_results"],
                                    readiness=params["readiness"], check_mode=module.check_mode)
    diff = result.pop("diff")
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
