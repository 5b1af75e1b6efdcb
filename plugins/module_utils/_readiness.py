# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""What ``kdump_info`` makes of the host state it read.

* ``problems(report, sysfs_root, estimate_ratio)``: the sentences saying what stops a dump from being captured.

Nothing here imports Ansible or touches the host.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.crashkit.kdump.plugins.module_utils import _kdumpconf as kc
from ansible_collections.crashkit.kdump.plugins.module_utils import _kdumpinfo as ki
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError


def problems(report, sysfs_root, estimate_ratio):
    """What stops a dump from being captured or saved, from the sections of ``report``.

    ``report`` holds ``crash_kernel``, ``service``, ``config``, ``makedumpfile``, ``dump_size``
    and ``dump_dir`` as this module and ``kdump_info`` build them; ``estimate_ratio`` is the share
    of ``MemTotal`` an estimated dump size assumed.
    """
    found = []
    crash = report["crash_kernel"]
    loaded_file = os.path.join(sysfs_root, "kernel", "kexec_crash_loaded")
    if crash["mode"] == "fadump":
        if not crash["loaded"]:
            found.append("Firmware-assisted dump is enabled but not registered: a panic now would not be captured.")
    elif crash["loaded"] is None:
        found.append("This kernel has no kdump support (%s is missing)." % loaded_file)
    elif not crash["loaded"]:
        found.append("No crash kernel is loaded (%s is 0): a panic now would not be captured." % loaded_file)
    if crash["mode"] == "kdump" and crash["loaded"] is not None and crash["reserved_bytes"] == 0:
        found.append("No memory is reserved for the crash kernel: add crashkernel= to the kernel command "
                     "line and reboot.")

    service = report["service"]
    if service["enabled"] is not None and service["enabled"] not in ki.ENABLED_STATES:
        found.append("%s.service is %s: the crash kernel will not be loaded after the next boot."
                     % (service["name"], service["enabled"]))

    config = report["config"]
    if not config["exists"]:
        found.append("%s does not exist: kdump is not configured." % config["path"])
    elif config.get("error"):
        found.append("%s cannot be read: %s" % (config["path"], config["error"]))
    elif config.get("enabled") is False:
        found.append("USE_KDUMP is 0 in %s: kdump-tools does nothing." % config["path"])

    makedumpfile = report["makedumpfile"]
    if makedumpfile is None:
        found.append("makedumpfile is not installed: dumps cannot be filtered or compressed.")
    elif config["compression"] in kc.COMPRESSIONS:
        try:
            ki.check_compression(config["compression"], makedumpfile, makedumpfile["path"])
        except KdumpError as exc:
            found.append("The configured %s" % str(exc))

    space, size = report["dump_dir"], report["dump_size"]
    if space is not None and space["room"] is False:
        how = ("makedumpfile --mem-usage" if size["source"] == "mem_usage"
               else "estimated as %s of MemTotal" % estimate_ratio)
        found.append("Only %s MiB are free in %s for a dump of up to %s MiB (%s, dump level %s)."
                     % (space["free_mb"], space["checked"], size["expected_mb"], how, size["dump_level"]))
    return found
