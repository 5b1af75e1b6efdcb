# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module's ``main()`` in the test process, as Ansible would run it on a host: the one
helper of the plugin tests (tests/unit/plugins/conftest.py gives older ansible-core the same
``patch_module_args``)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest
from ansible.module_utils.testing import patch_module_args


def run_module(module, capsys, args, check_mode=False, diff=False):
    """``module.main()`` with ``args`` (in check and diff mode when asked): its JSON result, with
    ``rc`` the exit code (0 for ``exit_json``, 1 for ``fail_json``)."""
    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exit_info:
            module.main()
    result = json.loads(capsys.readouterr().out)
    result["rc"] = exit_info.value.code
    return result
