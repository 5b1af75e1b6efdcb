# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The galaxy tarball ships what it needs and no tests of code it leaves out.

Builds the collection with the real ``ansible-galaxy collection build`` and reads the tarball: the
license text is there, nothing of the VM lab, the tools, the benchmarks or Molecule is, no
shipped test builds a path into those directories from the repository root, and pytest collects
the shipped tests from the unpacked tarball without an error (a test of code the tarball
excludes fails there: the lab's tests import ``crashlab``, the reference test loads
``tools/gen_reference.py``).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import subprocess
import sys
import tarfile

import yaml

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
ANSIBLE_GALAXY = os.path.join(os.path.dirname(sys.executable), "ansible-galaxy")
EXCLUDED_CODE = ("lab", "tools", "bench", "molecule")
# A path into one of those directories from the repository root: os.path.join(REPO, "tools", ...
_REFERENCE = re.compile(r"""join\((REPO|ROOT), *["'](%s)["'/]""" % "|".join(EXCLUDED_CODE))


def test_the_tarball_ships_no_tests_of_excluded_code(tmp_path):
    with open(os.path.join(REPO, "galaxy.yml")) as handle:
        galaxy = yaml.safe_load(handle)
    for name in EXCLUDED_CODE:
        assert name in galaxy["build_ignore"]
    subprocess.run([ANSIBLE_GALAXY, "collection", "build", "--force", "--output-path", str(tmp_path), REPO],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
    tarball = os.path.join(str(tmp_path), "crashkit-kdump-%s.tar.gz" % galaxy["version"])
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
        shipped_tests = [n for n in names if n.startswith("tests/") and n.endswith(".py")]
        texts = dict((n, archive.extractfile(n).read().decode("utf-8")) for n in shipped_tests)
        license_text = archive.extractfile("LICENSE").read().decode("utf-8")
    assert "GNU GENERAL PUBLIC LICENSE" in license_text and "Version 3, 29 June 2007" in license_text
    assert not [n for n in names if n.split("/")[0] in EXCLUDED_CODE + ("conftest.py",)]
    assert not [n for n in names if n.startswith("tests/unit/lab/") and n.endswith(".py")]
    assert "tests/unit/plugins/modules/test_dump_key.py" in shipped_tests
    offenders = sorted(n for n, text in texts.items() if _REFERENCE.search(text))
    assert offenders == [], "shipped tests that use excluded code: %s" % offenders

    tree = tmp_path / "unpacked" / "ansible_collections" / "crashkit" / "kdump"
    tree.mkdir(parents=True)
    with tarfile.open(tarball) as archive:
        archive.extractall(str(tree))
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "unpacked"), PYTHONDONTWRITEBYTECODE="1")
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                                "tests/unit"], cwd=str(tree), env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, universal_newlines=True, timeout=600, check=False)
    assert collected.returncode == 0, collected.stdout[-4000:]
    assert " error" not in collected.stdout.splitlines()[-1], collected.stdout[-4000:]
