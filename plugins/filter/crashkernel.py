# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ``crashkernel_mb``: MiB a crashkernel= value reserves on a host with a given RAM.

Documentation: ``crashkernel_mb.yml`` beside this file.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.crashkit.kdump.plugins.module_utils import _crashkernel as ck
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError


def crashkernel_mb(value, total_memory_mb, arch="x86_64", round_ram=True):
    """Effective reservation in MiB of ``value`` for ``total_memory_mb`` of RAM."""
    if not isinstance(value, str):
        raise AnsibleFilterError("crashkernel_mb expects a crashkernel value string, got %r" % (value,))
    text = value.strip()
    if text.startswith("crashkernel="):
        text = text[len("crashkernel="):]
    try:
        ram = int(total_memory_mb)
    except (TypeError, ValueError):
        raise AnsibleFilterError("crashkernel_mb: total_memory_mb must be a number of MiB, got %r" % (total_memory_mb,))
    if ram < 0:
        raise AnsibleFilterError("crashkernel_mb: total_memory_mb must not be negative")
    try:
        return ck.mib(ck.effective_size(ck.parse_value(text), ram * ck.MIB, arch, round_ram=bool(round_ram)))
    except KdumpError as exc:
        raise AnsibleFilterError("crashkernel_mb: %s" % exc)


class FilterModule(object):
    """crashkit.kdump crashkernel filters."""

    def filters(self):
        return {"crashkernel_mb": crashkernel_mb}
