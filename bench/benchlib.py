"""What every benchmark in bench/ writes the same way: its result file, with the machine it ran on."""
import json
import os
import platform
import re
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def use_collection_checkout():
    """Make this checkout the ``crashkit.kdump`` collection Ansible finds: the repository's
    conftest.py makes the link ``.tmp/collections/ansible_collections/crashkit/kdump`` -> the
    checkout when it is imported (bench/triage.py uses it the same way); ANSIBLE_COLLECTIONS_PATH
    points at that tree unless it is set. A fresh checkout has no ``.tmp``; without the link every
    playbook run fails with "the playbook: crashkit.kdump.kdump_setup could not be found"."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    # importing conftest makes the link
    import conftest  # pylint: disable=import-outside-toplevel
    os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", conftest._TREE)  # pylint: disable=protected-access
    return os.environ["ANSIBLE_COLLECTIONS_PATH"]


CRASHKIT_VAR = re.compile(r"^kdump_[a-z0-9_]{1,64}=[\w.,:/-]{0,200}$")


def check_crashkit_vars(parser, items):
    """Refuse (``parser.error``) a ``--crashkit-var`` that is not ``kdump_NAME=VALUE`` of plain
    characters: the value goes to ``ansible-playbook -e`` and into result file names."""
    for item in items:
        if not CRASHKIT_VAR.match(item):
            parser.error("--crashkit-var %r: expected kdump_NAME=VALUE" % item)


def write_result(path, result, **machine):
    """Write ``result`` to ``path`` as JSON, adding ``machine`` (this host: Python, platform, CPU count,
    load average, plus the keyword arguments, e.g. what the guests were) and ``when`` (UTC)."""
    result["machine"] = dict({"python": platform.python_version(), "platform": platform.platform(),
                              "cpus": os.cpu_count(), "load_average": os.getloadavg()}, **machine)
    result["when"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as handle:
        json.dump(result, handle, indent=2)
        handle.write("\n")
