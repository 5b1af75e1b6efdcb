# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every package a role installs on the RHEL family comes from BaseOS or AppStream.

A stock RHEL host has only those two repositories (plus CodeReady Linux Builder, off by
default); nothing a default needs may come from EPEL or any other third-party repository.

The roles choose their RHEL packages in ``roles/<role>/vars/RedHat.yml`` and, for one major
release, ``RedHat_<major>.yml`` (the setup role's ``vars.yml`` looks for
``<os_family>_<major>.yml`` first; the dump_server role reads ``RedHat.yml`` only). Every list
variable whose name ends in ``packages`` (``__kdump_packages``, ``__kdump_ssh_packages``,
``__kdump_dump_server_packages``, and whatever is added later) is checked for every release the
file applies to, and so is any package name written literally in a role's ``package``/``dnf``/
``yum`` task.

Source of REPOSITORY below: Red Hat's "Package manifest" of each release, which lists every package
of BaseOS and AppStream -
  RHEL 8:  docs.redhat.com/en/documentation/red_hat_enterprise_linux/8/html/package_manifest/
           (chapter 1 "The BaseOS repository", chapter 2 "The AppStream repository")
  RHEL 9:  docs.redhat.com/en/documentation/red_hat_enterprise_linux/9/html/package_manifest/
           (chapter 2 "Repositories": 2.1 BaseOS, 2.2 AppStream)
  RHEL 10: docs.redhat.com/en/documentation/red_hat_enterprise_linux/10/html/package_manifest/
           (chapter 2 "Repositories": 2.1 BaseOS, 2.2 AppStream)
Only the packages the roles use (or used) are listed; a new package needs its manifest entries
added here, which is the point of the test. EPEL_ONLY records packages known to be missing from
all three, with where they are instead (the EPEL 8/9/10 branches of Fedora's package).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import re

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
MAJORS = (8, 9, 10)

# package -> {major: repository}
REPOSITORY = {
    "kexec-tools": {8: "BaseOS", 9: "BaseOS", 10: "BaseOS"},
    # RHEL 10 split kdumpctl, mkdumprd and the dracut module out of kexec-tools, and makedumpfile
    # into its own package (RHEL 8 and 9: both inside kexec-tools).
    "kdump-utils": {10: "BaseOS"},
    "makedumpfile": {10: "BaseOS"},
    "openssh-clients": {8: "BaseOS", 9: "BaseOS", 10: "BaseOS"},
    "openssh-server": {8: "BaseOS", 9: "BaseOS", 10: "BaseOS"},
    "rsync": {8: "BaseOS", 9: "BaseOS", 10: "BaseOS"},
    "tar": {8: "BaseOS", 9: "BaseOS", 10: "BaseOS"},
    "gzip": {8: "BaseOS", 9: "BaseOS", 10: "BaseOS"},
    "xz": {8: "BaseOS", 9: "BaseOS", 10: "BaseOS"},
    "systemd": {8: "BaseOS", 9: "BaseOS", 10: "BaseOS"},
    # /usr/bin/python3: RHEL 8's comes from the python36 stream of AppStream (platform-python in
    # BaseOS has no /usr/bin/python3); RHEL 9 and 10 ship it in BaseOS.
    "python3": {8: "AppStream", 9: "BaseOS", 10: "BaseOS"},
    "crash": {8: "AppStream", 9: "AppStream", 10: "AppStream"},
    # The dump server's ingest renders its fleet report with Jinja2 (python-jinja2 source package).
    "python3-jinja2": {8: "AppStream", 9: "AppStream", 10: "AppStream"},
    # The NFS client (setup role, NFS targets) and the kernel NFS server's tools (dump_server
    # role, kdump_dump_server_nfs): one package, nfs-utils.
    "nfs-utils": {8: "BaseOS", 9: "BaseOS", 10: "BaseOS"},
}
EPEL_ONLY = {
    "python3-paramiko": "EPEL 8, 9 and 10 (Fedora's python-paramiko epel branches)",
}
PACKAGE_MODULES = ("package", "dnf", "yum", "ansible.builtin.package", "ansible.builtin.dnf",
                   "ansible.builtin.yum")


def vars_files():
    """``(path, majors it applies to)`` for every RedHat vars file of every role."""
    found = []
    for role in sorted(glob.glob(os.path.join(ROOT, "roles", "*"))):
        specific = {}
        for path in glob.glob(os.path.join(role, "vars", "RedHat_*.yml")):
            major = re.match(r"^RedHat_([0-9]+)\.yml$", os.path.basename(path))
            if major:
                specific[int(major.group(1))] = path
        generic = os.path.join(role, "vars", "RedHat.yml")
        if os.path.exists(generic):
            found.append((generic, tuple(m for m in MAJORS if m not in specific or not _per_major(role))))
        for major, path in sorted(specific.items()):
            found.append((path, (major,)))
    return found


def _per_major(role):
    """Whether the role loads RedHat_<major>.yml before RedHat.yml (else only RedHat.yml counts)."""
    for path in glob.glob(os.path.join(role, "tasks", "*.yml")):
        with open(path) as handle:
            if "distribution_major_version" in handle.read():
                return True
    return False


def packages_in(path):
    with open(path) as handle:
        data = yaml.safe_load(handle) or {}
    names = []
    for key, value in data.items():
        if key.endswith("packages") and isinstance(value, list):
            names.extend((key, name) for name in value)
    return names


def literal_task_packages():
    """``(task file, name)`` for package names written literally in a role's package tasks."""
    found = []
    for path in sorted(glob.glob(os.path.join(ROOT, "roles", "*", "tasks", "*.yml"))):
        with open(path) as handle:
            tasks = yaml.safe_load(handle) or []
        for task in _walk(tasks):
            for module in PACKAGE_MODULES:
                args = task.get(module)
                if not isinstance(args, dict):
                    continue
                names = args.get("name")
                for name in names if isinstance(names, list) else [names]:
                    if isinstance(name, str) and "{{" not in name:
                        found.append((path, name))
    return found


def _walk(tasks):
    for task in tasks if isinstance(tasks, list) else []:
        if not isinstance(task, dict):
            continue
        yield task
        for key in ("block", "rescue", "always"):
            yield from _walk(task.get(key))


def check(name, majors):
    """The majors of ``majors`` for which ``name`` is not in BaseOS/AppStream, with why."""
    problems = []
    for major in majors:
        if major not in REPOSITORY.get(name, {}):
            where = EPEL_ONLY.get(name, "not listed in this test's package manifest table")
            problems.append("RHEL %d: %s (%s)" % (major, name, where))
    return problems


def test_the_roles_have_red_hat_package_lists():
    files = dict(vars_files())
    assert os.path.join(ROOT, "roles", "setup", "vars", "RedHat.yml") in files
    assert os.path.join(ROOT, "roles", "dump_server", "vars", "RedHat.yml") in files
    # the setup role picks RedHat_10.yml on RHEL 10; RedHat.yml serves 8 and 9
    assert files[os.path.join(ROOT, "roles", "setup", "vars", "RedHat.yml")] == (8, 9)
    assert files[os.path.join(ROOT, "roles", "setup", "vars", "RedHat_10.yml")] == (10,)
    assert files[os.path.join(ROOT, "roles", "dump_server", "vars", "RedHat.yml")] == MAJORS


@pytest.mark.parametrize("path,majors", vars_files(), ids=lambda v: os.path.relpath(v, ROOT) if isinstance(v, str) else None)
def test_red_hat_packages_are_in_base_os_or_app_stream(path, majors):
    names = packages_in(path)
    assert names, "%s lists no packages" % path
    problems = []
    for variable, name in names:
        problems.extend("%s %s" % (variable, p) for p in check(name, majors))
    assert not problems, "%s needs packages outside BaseOS/AppStream: %s" % (path, "; ".join(problems))


def test_no_literal_package_outside_base_os_or_app_stream():
    problems = []
    for path, name in literal_task_packages():
        problems.extend("%s: %s" % (os.path.relpath(path, ROOT), p) for p in check(name, MAJORS))
    assert not problems, problems


@pytest.mark.parametrize("names,majors,expected", [
    (["kexec-tools", "openssh-clients"], (8, 9), []),
    (["kdump-utils"], (9,), ["RHEL 9: kdump-utils (not listed in this test's package manifest table)"]),
    (["python3-paramiko"], (8, 9, 10), ["RHEL %d: python3-paramiko (EPEL 8, 9 and 10 (Fedora's "
                                        "python-paramiko epel branches))" % m for m in (8, 9, 10)]),
])
def test_the_check_refuses_what_base_os_and_app_stream_lack(names, majors, expected):
    """The check itself fails on an EPEL package (the setup role's former paramiko default)."""
    problems = []
    for name in names:
        problems.extend(check(name, majors))
    assert problems == expected
