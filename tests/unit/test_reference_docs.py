# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/reference/ is generated (tools/gen_reference.py) and must match its sources.

A module's DOCUMENTATION, a role's argument_specs.yml or defaults/main.yml changed without
regenerating fails here; the fix is ``.venv/bin/python tools/gen_reference.py``.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import os
import subprocess
import sys

import pytest

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
GENERATOR = os.path.join(REPO, "tools", "gen_reference.py")


def load_generator():
    spec = importlib.util.spec_from_file_location("crashkit_gen_reference", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = load_generator()


def test_reference_docs_are_up_to_date():
    if not GEN.find_ansible_doc():
        pytest.skip("ansible-doc is not installed next to %s or on PATH: cannot render the reference" % sys.executable)
    result = subprocess.run([sys.executable, GENERATOR, "--check"], cwd=REPO, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_module_has_a_page():
    pages = set(os.listdir(os.path.join(REPO, "docs", "reference", "modules")))
    assert {"%s.md" % name for name in GEN.module_names()} <= pages


CTX = GEN.Context("module", "crashkernel", {"module": {"crashkernel", "kdump_config"}, "filter": {"crashkernel_mb"},
                                            "role": {"setup"}})


@pytest.mark.parametrize("text, expected", [
    ("C(/var/crash)", "`/var/crash`"),
    ("V(true) and O(size=256M)", "`true` and [`size=256M`](#parameter-size)"),
    ("RV(recommended)", "[`recommended`](#return-recommended)"),
    ("O(crashkit.kdump.kdump_config#module:target.type)",
     "[`target.type`](kdump_config.md#parameter-target.type)"),
    ("RV(crashkit.kdump.dump_key#module:public_key)", "`public_key` (`crashkit.kdump.dump_key`)"),
    ("M(crashkit.kdump.kdump_config)", "[`crashkit.kdump.kdump_config`](kdump_config.md)"),
    ("M(ansible.builtin.reboot)",
     "[`ansible.builtin.reboot`](https://docs.ansible.com/ansible/latest/collections/ansible/builtin/reboot_module.html)"),
    ("P(crashkit.kdump.crashkernel_mb#filter)", "[`crashkit.kdump.crashkernel_mb`](../filters/crashkernel_mb.md)"),
    ("I(not) B(never) E(HOME)", "*not* **never** `HOME`"),
    ("U(https://example.org/x)", "<https://example.org/x>"),
    ("L(the docs,https://example.org/y)", "[the docs](https://example.org/y)"),
    ("V(a\\)b)", "`a)b`"),
    ("C(a`b)", "`` a`b ``"),
    ("<run id>/*.cfg _x_ a_b", "\\<run id\\>/\\*.cfg \\_x\\_ a_b"),
    ("NOT(x) ABC(y) C no paren", "NOT(x) ABC(y) C no paren"),
])
def test_markup(text, expected):
    assert GEN.markup(text, CTX) == expected


def test_markup_in_table_escapes_pipes_inside_code():
    assert GEN.markup("C(a | b) x|y", CTX, table=True) == "`a \\| b` x\\|y"


def test_tables_and_nested_options():
    options = {"target": {"type": "dict", "suboptions": {"type": {"type": "str", "choices": ["local", "ssh"],
                                                                  "default": "local"}}},
               "hosts": {"type": "list", "elements": "dict", "required": True,
                         "options": {"name": {"type": "str", "description": "C(x)"}}}}
    out = GEN.options_table(options, CTX)
    lines = out.splitlines()
    assert lines[1] == "|---|---|---|---|---|---|"
    names = [line.split("|")[1].strip() for line in lines[2:]]
    assert names == ['<a id="parameter-hosts"></a>`hosts`', '<a id="parameter-hosts.name"></a>`hosts[].name`',
                     '<a id="parameter-target"></a>`target`', '<a id="parameter-target.type"></a>`target.type`']
    assert "| list of dict | yes |" in lines[2]
    assert "| `local` | `local`<br>`ssh` |" in lines[5]
