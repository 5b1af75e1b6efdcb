# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ``lsr_vars``: linux-system-roles/kdump variables -> the crashkit.kdump.setup role's.

Documentation: ``lsr_vars.yml`` beside this file. The logic is ``module_utils/_lsr.py``.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.crashkit.kdump.plugins.module_utils import _lsr
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError


def lsr_vars(given, current=None, family="redhat", major=None):
    """Map the linux-system-roles variables ``given`` onto the setup role's ``current`` ones."""
    if not isinstance(given, dict):
        raise AnsibleFilterError("lsr_vars expects a dict of linux-system-roles variables, got %r" % (given,))
    if current is not None and not isinstance(current, dict):
        raise AnsibleFilterError("lsr_vars: current must be a dict, got %r" % (current,))
    try:
        return _lsr.map_lsr(dict(given), dict(current or {}), family, major)
    except KdumpError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    """crashkit.kdump linux-system-roles compatibility filter."""

    def filters(self):
        return {"lsr_vars": lsr_vars}
