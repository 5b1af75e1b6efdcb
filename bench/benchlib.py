"""What every benchmark in bench/ writes the same way: its result file, with the machine it ran on."""
import json
import os
import platform
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def use_collection_checkout():
    """Make this checkout the ``crashkit.kdump`` collection Ansible finds: the link
    ``.tmp/collections/ansible_collections/crashkit/kdump`` -> the checkout (made if missing, as
    tools/lab.sh and tools/test.sh do), and ANSIBLE_COLLECTIONS_PATH pointing there unless it is set.
    A fresh checkout has no ``.tmp``; without the link every playbook run fails with
    "the playbook: crashkit.kdump.kdump_setup could not be found"."""
    tree = os.path.join(ROOT, ".tmp", "collections")
    link = os.path.join(tree, "ansible_collections", "crashkit", "kdump")
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(ROOT, link)
    os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", tree)
    return os.environ["ANSIBLE_COLLECTIONS_PATH"]


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
