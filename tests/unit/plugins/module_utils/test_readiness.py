# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kdump_info's report from what it read: the problems."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.crashkit.kdump.plugins.module_utils import _readiness as rd

M = 1 << 20
G = 1 << 30


# ---------------------------------------------------------------------------------------------
# problems

MAKEDUMPFILE = {"path": "/usr/sbin/makedumpfile", "version": "1.7.2",
                "supported_compressions": ["zlib", "lzo", "none"]}
NOT_LOADED = "No crash kernel is loaded (/sys/kernel/kexec_crash_loaded is 0): a panic now would not be captured."
NOT_RESERVED = ("No memory is reserved for the crash kernel: add crashkernel= to the kernel command line and "
                "reboot.")


def report(**changes):
    """A ready Debian host's report with ``changes`` merged into its sections."""
    sections = {
        "crash_kernel": {"loaded": True, "mode": "kdump", "reserved_bytes": 256 * M, "reserved_mb": 256},
        "service": {"name": "kdump-tools", "enabled": "enabled", "active": "active"},
        "config": {"path": "/etc/default/kdump-tools", "exists": True, "managed": True, "enabled": True,
                   "compression": "zlib", "dump_level": 31},
        "makedumpfile": MAKEDUMPFILE,
        "dump_size": {"dump_level": 31, "source": "mem_usage", "expected_bytes": 2 * G, "expected_mb": 2048},
        "dump_dir": {"path": "/var/crash", "checked": "/var", "free_bytes": 10 * G, "free_mb": 10240, "room": True},
    }
    for name, change in changes.items():
        sections[name] = dict(sections[name], **change) if isinstance(change, dict) else change
    return sections


@pytest.mark.parametrize("changes,expected", [
    ({}, []),
    ({"crash_kernel": {"loaded": False}}, [NOT_LOADED]),
    ({"crash_kernel": {"loaded": False, "reserved_bytes": 0}}, [NOT_LOADED, NOT_RESERVED]),
    ({"crash_kernel": {"loaded": True, "reserved_bytes": 0}}, [NOT_RESERVED]),
    ({"crash_kernel": {"loaded": None, "reserved_bytes": 0}},
     ["This kernel has no kdump support (/sys/kernel/kexec_crash_loaded is missing)."]),
    ({"crash_kernel": {"mode": "fadump", "loaded": False, "reserved_bytes": 0}},
     ["Firmware-assisted dump is enabled but not registered: a panic now would not be captured."]),
    ({"crash_kernel": {"mode": "fadump", "loaded": True, "reserved_bytes": 0}}, []),
    ({"service": {"enabled": "disabled"}},
     ["kdump-tools.service is disabled: the crash kernel will not be loaded after the next boot."]),
    ({"service": {"name": "kdump", "enabled": "masked"}},
     ["kdump.service is masked: the crash kernel will not be loaded after the next boot."]),
    ({"service": {"enabled": "static"}}, []),
    ({"service": {"enabled": None}}, []),
    ({"config": {"exists": False, "enabled": False}},
     ["/etc/default/kdump-tools does not exist: kdump is not configured."]),
    ({"config": {"error": "bad line 3"}}, ["/etc/default/kdump-tools cannot be read: bad line 3"]),
    ({"config": {"enabled": False}}, ["USE_KDUMP is 0 in /etc/default/kdump-tools: kdump-tools does nothing."]),
    ({"makedumpfile": None}, ["makedumpfile is not installed: dumps cannot be filtered or compressed."]),
    ({"config": {"compression": "zstd"}},
     ["The configured compression zstd is not supported by /usr/sbin/makedumpfile 1.7.2 (it supports: zlib, "
      "lzo, none); makedumpfile would silently ignore the flag and write an uncompressed dump"]),
    # a compression word the model does not know is not checked against makedumpfile
    ({"config": {"compression": "-E"}}, []),
    ({"dump_dir": {"free_mb": 1024, "room": False}},
     ["Only 1024 MiB are free in /var for a dump of up to 2048 MiB (makedumpfile --mem-usage, dump level 31)."]),
    ({"dump_dir": {"free_mb": 1024, "room": False}, "dump_size": {"source": "estimate", "dump_level": 0}},
     ["Only 1024 MiB are free in /var for a dump of up to 2048 MiB (estimated as 0.5 of MemTotal, dump level 0)."]),
    ({"dump_dir": {"room": None}}, []),
    ({"dump_dir": None}, []),
    ({"crash_kernel": {"loaded": False}, "service": {"enabled": "disabled"}, "makedumpfile": None,
      "config": {"enabled": False}, "dump_dir": {"room": False}},
     [NOT_LOADED, "kdump-tools.service is disabled: the crash kernel will not be loaded after the next boot.",
      "USE_KDUMP is 0 in /etc/default/kdump-tools: kdump-tools does nothing.",
      "makedumpfile is not installed: dumps cannot be filtered or compressed.",
      "Only 10240 MiB are free in /var for a dump of up to 2048 MiB (makedumpfile --mem-usage, dump level 31)."]),
])
def test_problems(changes, expected):
    assert rd.problems(report(**changes), "/sys", 0.5) == expected
