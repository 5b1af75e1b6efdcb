# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Let the plugin tests run on every ansible-core and Python of the support matrix.

The tests are written against ansible-core 2.19's module test helpers:
``ansible.module_utils.testing.patch_module_args``, ``basic._ANSIBLE_PROFILE`` and
``ansible.module_utils._internal.is_controller``. ansible-core 2.16 to 2.18 have none of them:
their ``AnsibleModule`` reads ``basic._ANSIBLE_ARGS`` (the same JSON document) and has no
serialization profile, and module warnings always go into the result. On those versions this
file provides the same names with the older meaning, so one test file runs on all of them
(``tools/matrix.sh`` runs it under ansible-core 2.16 on managed-host Pythons 3.6 to 3.10).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json
import os
import sys
import types

import pytest
from ansible.module_utils import basic

try:
    from ansible.module_utils import testing as _testing  # noqa: F401  ansible-core 2.19+
except ImportError:
    _testing = types.ModuleType("ansible.module_utils.testing")

    @contextlib.contextmanager
    def patch_module_args(args=None):
        """ansible-core < 2.19: AnsibleModule reads its arguments from basic._ANSIBLE_ARGS."""
        if not isinstance(args, (dict, type(None))):
            raise TypeError("The `args` arg must be a dict or None.")
        saved = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}).encode("utf-8")
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = saved

    _testing.patch_module_args = patch_module_args
    sys.modules[_testing.__name__] = _testing
    import ansible.module_utils
    ansible.module_utils.testing = _testing

if not hasattr(basic, "_ANSIBLE_PROFILE"):
    # Unused before 2.19; tests set it to "legacy" (the 2.19 default) through monkeypatch.
    basic._ANSIBLE_PROFILE = "legacy"

try:
    from ansible.module_utils import _internal  # noqa: F401  ansible-core 2.19+
except ImportError:
    # Before 2.19 a module's warnings always go into its result, whatever else the test
    # process imported; tests switch "is_controller" off to get that behaviour on 2.19+.
    _internal = types.ModuleType("ansible.module_utils._internal")
    _internal.is_controller = False
    sys.modules[_internal.__name__] = _internal
    import ansible.module_utils
    ansible.module_utils._internal = _internal


# Test modules that need the controller (they run ansible-playbook, or a controller-side script),
# besides tests marked ``@pytest.mark.controller`` themselves. On managed-host Python cells of
# tools/matrix.sh (CRASHKIT_TEST_SIDE=host) they are skipped: the controller does not run there.
CONTROLLER_MODULES = (
    "test_vmcore_collect.py",  # the vmcore_collect action plugin and collect.yml, through ansible-playbook
    "test_fleetreport_browser.py",  # the report's page in Chromium, served by the test (an operator's side)
)
# Test modules that run only in the pinned run (tools/matrix.sh's cells set CRASHKIT_TEST_SIDE):
# the report's page in Chromium is the same page whatever ansible-core or Python rendered it (the
# cells render it too, in test_fleetrender.py and test_fleetstore.py); Chromium was the heaviest
# part of the controller cells beside the suite's VMs (205 s of unit:ctl-2.16 in the 12:42 run
# of 2026-12-03).
PINNED_ONLY_MODULES = (
    "test_fleetreport_browser.py",
)


def pytest_collection_modifyitems(config, items):
    side = os.environ.get("CRASHKIT_TEST_SIDE")
    host_side = side == "host"
    limit = int(os.environ.get("CRASHKIT_HYPOTHESIS_MAX_EXAMPLES") or 0)
    for item in items:
        if os.path.basename(str(item.fspath)) in CONTROLLER_MODULES:
            item.add_marker(pytest.mark.controller)
        if host_side and item.get_closest_marker("controller") is not None:
            item.add_marker(pytest.mark.skip(reason="needs the controller; this run is a managed-host Python"))
        elif side and os.path.basename(str(item.fspath)) in PINNED_ONLY_MODULES:
            item.add_marker(pytest.mark.skip(reason="runs in unit:pinned only (the same page on every cell)"))
        if limit:
            _limit_examples(item, limit)


def _limit_examples(item, limit):
    """Cap a hypothesis test's examples (tools/matrix.sh: each version runs the code, the
    pinned run keeps the full numbers). Explicit ``@settings(max_examples=...)`` are capped
    too, which a hypothesis profile cannot do."""
    from hypothesis import settings
    func = getattr(item, "obj", None)
    current = getattr(func, "_hypothesis_internal_use_settings", None)
    if current is not None and current.max_examples > limit:
        func._hypothesis_internal_use_settings = settings(current, max_examples=limit)
