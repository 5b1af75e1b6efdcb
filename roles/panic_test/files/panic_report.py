# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merge the per-host panic test records of one run into report.json and junit.xml.

Run on the controller by the panic_test role with the Python that runs ansible-playbook:

    panic_report.py --records DIR --json OUT.json --junit OUT.xml [--run-id ID]

DIR holds one ``<host>.json`` raw record per host (written by the role). A record that cannot
be read or is not valid becomes a failed record of that host, so the report always has a line
per host. Both outputs are replaced atomically. The rendering lives in the collection's
``_panicreport`` module_utils, imported from the collection this file belongs to.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import datetime
import json
import os
import sys
import tempfile


def collection_search_root(here):
    """The directory holding ``ansible_collections`` when this file is inside a collection."""
    collection = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(here))))
    namespace_dir = os.path.dirname(collection)
    top = os.path.dirname(namespace_dir)
    if os.path.basename(top) == "ansible_collections":
        return os.path.dirname(top)
    return None


def import_report(root=None):
    for candidate in (root, collection_search_root(os.path.abspath(__file__))):
        if candidate and candidate not in sys.path:
            sys.path.insert(0, candidate)
    from ansible_collections.crashkit.kdump.plugins.module_utils import _errors, _panicreport
    return _errors, _panicreport


def load_records(directory, errors, panicreport):
    records = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".json") or name.startswith("."):
            continue
        host = name[:-len(".json")]
        path = os.path.join(directory, name)
        try:
            with open(path, "r") as handle:
                raw = json.load(handle)
            records.append(panicreport.build_record(raw))
        except (IOError, OSError, ValueError, errors.KdumpError) as exc:
            records.append(panicreport.build_record({
                "host": host, "status": "fail", "step": "report",
                "reason": "the record %s could not be used: %s" % (path, exc),
            }))
    return records


def write_atomically(path, text):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", required=True, help="directory of <host>.json records")
    parser.add_argument("--json", required=True, help="merged JSON report to write")
    parser.add_argument("--junit", required=True, help="JUnit XML report to write")
    parser.add_argument("--run-id", default=None)
    parser.add_argument("--collections-root", default=None,
                        help="directory holding ansible_collections/crashkit/kdump (found automatically)")
    args = parser.parse_args(argv)
    errors, panicreport = import_report(args.collections_root)
    records = load_records(args.records, errors, panicreport)
    generated = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
    report = panicreport.build_report(records, run_id=args.run_id, generated=generated)
    write_atomically(args.json, panicreport.render_json(report))
    write_atomically(args.junit, panicreport.render_junit(report))
    summary = report["summary"]
    print("%d hosts: %d passed, %d failed -> %s, %s"
          % (summary["hosts"], summary["passed"], summary["failed"], args.json, args.junit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
