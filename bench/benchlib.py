"""What every benchmark in bench/ writes the same way: its result file, with the machine it ran on."""
import json
import os
import platform
import time


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
