# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the real kdump_config main() against files in a temporary directory."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import os
import shutil
import stat

import pytest
from ansible.module_utils import _internal

from ansible_collections.crashkit.kdump.plugins.module_utils import _kdumpconf as kc
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import ValidationError
from ansible_collections.crashkit.kdump.plugins.modules import kdump_config as module
from ansible_collections.crashkit.kdump.tests.unit.plugins import module_run

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "kdumpconf")
DEBIAN_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n'


@pytest.fixture(autouse=True)
def module_side_warnings(monkeypatch):
    """Once controller code is imported in the test process (other tests load filters and
    ansible.errors), module warnings go to Display instead of the result; run as a module."""
    monkeypatch.setattr(_internal, "is_controller", False)


def warnings(result):
    """Warning texts (ansible-core 2.19 returns them as structured summaries)."""
    texts = []
    for warning in result.get("warnings", []):
        texts.append(warning["event"]["msg"] if isinstance(warning, dict) else warning)
    return texts


run_module = functools.partial(module_run.run_module, module)


@pytest.fixture
def host(tmp_path):
    """os-release of Debian 12, the shipped /etc/default/kdump-tools, a makedumpfile that prints
    what Debian 12's makedumpfile 1.7.2 prints for -v."""
    (tmp_path / "os-release").write_text(DEBIAN_RELEASE)
    shutil.copy(os.path.join(FIXTURES, "debian12-kdump-tools-1.8.1.default"), str(tmp_path / "kdump-tools"))
    # -v prints the real output; --check-params records its arguments and answers like
    # makedumpfile 1.7.2 does (exit 0, or its two lines and exit 1 when CHECK_PARAMS_REFUSE is set).
    stub = tmp_path / "makedumpfile"
    stub.write_text(
        '#!/bin/sh\n'
        'case "$1" in\n'
        '-v) cat "%s" ;;\n'
        '--check-params) echo "$@" > "%s"\n'
        '  if [ -n "$CHECK_PARAMS_REFUSE" ]; then\n'
        '    echo "$CHECK_PARAMS_REFUSE" >&2; echo "Commandline parameter is invalid."; '
        'echo "Try \\`makedumpfile --help\' for more information."; exit 1\n'
        '  fi ;;\n'
        '*) exit 2 ;;\n'
        'esac\n'
        % (os.path.join(os.path.abspath(FIXTURES), "makedumpfile-1.7.2-debian12.version"),
           str(tmp_path / "check-params.args")))
    stub.chmod(0o755)
    return tmp_path


def base_args(host, **extra):
    args = {
        "os_release_path": str(host / "os-release"),
        "path": str(host / "kdump-tools"),
        "makedumpfile_path": str(host / "makedumpfile"),
    }
    args.update(extra)
    return args


def test_debian_first_run_then_idempotent(capsys, host):
    args = base_args(host, keep_local_dumps=3, failure_action="reboot",
                     extra_collector_args="--num-threads 2",
                     target={"type": "local", "path": "/var/crash"})
    first = run_module(capsys, args)
    assert first["rc"] == 0, first
    assert first["changed"] is True and first["restart_required"] is True
    assert first["family"] == "debian"
    assert first["compression"] == "zlib"
    assert first["makedumpfile"]["version"] == "1.7.2"
    text = (host / "kdump-tools").read_text()
    assert text == first["content"]
    assert text.startswith("# Managed by crashkit.kdump")
    got = kc.source_shell_file(str(host / "kdump-tools"),
                               ["USE_KDUMP", "KDUMP_COREDIR", "MAKEDUMP_ARGS", "KDUMP_NUM_DUMPS", "KDUMP_FAIL_CMD",
                                "KDUMP_KERNEL", "KDUMP_INITRD", "SSH", "NFS"])
    assert got == {"USE_KDUMP": "1", "KDUMP_COREDIR": "/var/crash", "MAKEDUMP_ARGS": "-c -d 31 --num-threads 2",
                   "KDUMP_NUM_DUMPS": "3", "KDUMP_FAIL_CMD": "reboot -f", "KDUMP_KERNEL": "/var/lib/kdump/vmlinuz",
                   "KDUMP_INITRD": "/var/lib/kdump/initrd.img", "SSH": None, "NFS": None}
    # the existing file's mode is kept
    assert stat.S_IMODE(os.stat(str(host / "kdump-tools")).st_mode) == 0o644

    second = run_module(capsys, args)
    assert second["rc"] == 0
    assert second["changed"] is False and second["restart_required"] is False
    assert (host / "kdump-tools").read_text() == text


def test_check_mode_and_diff_leave_the_file_alone(capsys, host):
    before = (host / "kdump-tools").read_text()
    result = run_module(capsys, base_args(host, _ansible_check_mode=True, _ansible_diff=True,
                                          target={"type": "ssh", "host": "dump.example.com", "user": "kdump"}))
    assert result["changed"] is True
    assert (host / "kdump-tools").read_text() == before
    assert result["diff"]["before"] == before
    assert result["diff"]["after"] == result["content"]
    assert 'SSH="kdump@dump.example.com"' in result["content"].splitlines()
    assert not [n for n in os.listdir(str(host)) if n.startswith(".kdump-tools.")]


def test_family_auto_and_cmdline_append(capsys, host):
    result = run_module(capsys, base_args(host, kdump_cmdline_append="console=ttyS0,115200"))
    assert result["family"] == "debian"
    value = kc.source_shell_file(str(host / "kdump-tools"), ["KDUMP_CMDLINE_APPEND"])["KDUMP_CMDLINE_APPEND"]
    if not os.path.exists(kc.DEBIAN_KDUMP_CONFIG):
        assert any("KDUMP_CMDLINE_APPEND" in w for w in warnings(result))
    assert value.endswith(" console=ttyS0,115200")
    assert "systemd.unit=kdump-tools-dump.service" in value


def test_redhat_ssh_and_new_file(capsys, host):
    path = host / "kdump.conf"
    result = run_module(capsys, base_args(host, family="redhat", path=str(path), compression="lzo",
                                          failure_action="dump_to_rootfs",
                                          target={"type": "ssh", "host": "dump.example.com", "user": "kdump",
                                                  "path": "/srv/crash"}))
    assert result["rc"] == 0, result
    assert path.read_text().splitlines()[2:] == [
        "ssh kdump@dump.example.com",
        "sshkey /root/.ssh/kdump_id_rsa",
        "path /srv/crash",
        "core_collector makedumpfile -F -l --message-level 7 -d 31",
        "failure_action dump_to_rootfs",
    ]
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o644


def test_redhat_keeps_default_directive(capsys, host):
    path = host / "kdump.conf"
    path.write_text("path /var/crash\ndefault reboot\n")
    run_module(capsys, base_args(host, family="redhat", path=str(path), failure_action="halt"))
    assert "default halt" in path.read_text().splitlines()
    again = run_module(capsys, base_args(host, family="redhat", path=str(path), failure_action="halt"))
    assert again["changed"] is False


@pytest.mark.parametrize("shipped", ["kexec-tools-73ced7f.kdump.conf", "kdump-utils-63f248c-x86_64.kdump.conf"])
def test_redhat_rewrite_keeps_the_directives_it_does_not_model(capsys, host, shipped):
    """RHEL 9 and 10 ship kdump.conf with auto_reset_crashkernel yes: a rewrite keeps it, and
    every other directive the module does not set, after its own lines; idempotent."""
    path = host / "kdump.conf"
    shutil.copy(os.path.join(FIXTURES, shipped), str(path))
    with open(str(path), "a") as handle:
        handle.write("dracut_args --omit-drivers \"nouveau\"\nkdump_post /var/crash/scripts/post.sh\n"
                     "blacklist_foo yes\n")
    args = base_args(host, family="redhat", path=str(path), failure_action="halt",
                     target={"type": "local", "path": "/srv/crash"})
    result = run_module(capsys, args)
    assert result["rc"] == 0 and result["changed"], result
    assert path.read_text().splitlines()[2:] == [
        "path /srv/crash",
        "core_collector makedumpfile -l --message-level 7 -d 31",
        "failure_action halt",
        "auto_reset_crashkernel yes",
        'dracut_args --omit-drivers "nouveau"',
        "kdump_post /var/crash/scripts/post.sh",
        "blacklist_foo yes",
    ]
    assert any("blacklist_foo is not one kdumpctl is known to accept" in w for w in warnings(result))
    again = run_module(capsys, args)
    assert again["changed"] is False, again
    # extra_options wins over the file; keep_other_directives=false writes only the options
    changed = run_module(capsys, dict(args, extra_options={"auto_reset_crashkernel": False}))
    assert "auto_reset_crashkernel no" in path.read_text().splitlines()
    assert path.read_text().count("auto_reset_crashkernel") == 1, changed
    run_module(capsys, dict(args, keep_other_directives=False))
    assert path.read_text().splitlines()[2:] == [
        "path /srv/crash", "core_collector makedumpfile -l --message-level 7 -d 31", "failure_action halt"]


def test_suse_nfs_new_file_is_private(capsys, host):
    path = host / "sysconfig-kdump"
    result = run_module(capsys, base_args(host, family="suse", path=str(path), compression="lzo",
                                          target={"type": "nfs", "host": "filer", "path": "/export/crash"},
                                          extra_options={"KDUMP_SMTP_PASSWORD": "s3cr3t $pw", "KDUMP_CPUS": 2}))
    assert result["rc"] == 0, result
    assert path.read_text().splitlines()[2:] == [
        'KDUMP_SAVEDIR="nfs://filer/export/crash"',
        "KDUMP_DUMPLEVEL=31",
        'KDUMP_DUMPFORMAT="lzo"',
        "KDUMP_CPUS=2",
        'KDUMP_SMTP_PASSWORD="s3cr3t \\$pw"',
    ]
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o600
    assert kc.source_shell_file(str(path), ["KDUMP_SMTP_PASSWORD"]) == {"KDUMP_SMTP_PASSWORD": "s3cr3t $pw"}


def test_unsupported_compression_fails(capsys, host):
    before = (host / "kdump-tools").read_text()
    result = run_module(capsys, base_args(host, compression="zstd"))
    assert result["failed"] is True
    assert "compression zstd is not supported" in result["msg"]
    assert "1.7.2" in result["msg"]
    assert (host / "kdump-tools").read_text() == before


def use_version(host, name):
    """Make the stub makedumpfile print another real ``makedumpfile -v``."""
    stub = host / "makedumpfile"
    stub.write_text(stub.read_text().replace("makedumpfile-1.7.2-debian12.version", name))


@pytest.mark.parametrize("version,family,expected,flag", [
    (None, "debian", "zlib", "-c"),  # Debian 12's 1.7.2: no zstd
    ("makedumpfile-1.7.6-debian13.version", "debian", "zstd", "-z"),
    ("makedumpfile-1.7.6-debian13.version", "redhat", "lzo", "-l"),
])
def test_auto_compression_follows_the_installed_makedumpfile(capsys, host, version, family, expected, flag):
    if version:
        use_version(host, version)
    path = host / ("kdump-tools" if family == "debian" else "kdump.conf")
    args = base_args(host, compression="auto", family=family, path=str(path))
    first = run_module(capsys, args)
    assert first["rc"] == 0, first
    assert first["compression"] == expected
    assert flag in path.read_text().split("MAKEDUMP_ARGS=")[-1].split("core_collector")[-1].splitlines()[0]
    assert flag in (host / "check-params.args").read_text().split()
    again = run_module(capsys, args)
    assert again["changed"] is False and again["compression"] == expected


def test_auto_compression_without_makedumpfile(capsys, host):
    result = run_module(capsys, base_args(host, compression="auto", makedumpfile_path=str(host / "nope")))
    assert result["rc"] == 0, result
    assert result["compression"] == "zlib"
    assert any("compression zlib was not checked" in w for w in warnings(result))


def test_missing_makedumpfile_warns(capsys, host):
    result = run_module(capsys, base_args(host, compression="zstd", makedumpfile_path=str(host / "nope")))
    assert result["rc"] == 0
    assert result["makedumpfile"] is None
    assert any("makedumpfile was not found" in w for w in warnings(result))


def test_validation_error_is_a_clean_failure(capsys, host):
    result = run_module(capsys, base_args(host, failure_action="shell"))
    assert result["failed"] is True
    assert "not available with kdump-tools" in result["msg"]
    result = run_module(capsys, base_args(host, target={"type": "nfs", "host": "filer"}))
    assert "nfs targets need" in result["msg"]


def test_backup(capsys, host):
    before = (host / "kdump-tools").read_text()
    result = run_module(capsys, base_args(host, backup=True))
    assert result["changed"] is True
    with open(result["backup_file"]) as handle:
        assert handle.read() == before


def test_failed_verification_keeps_the_live_file(capsys, host, monkeypatch):
    before = (host / "kdump-tools").read_text()

    def refuse(settings, path):
        raise ValidationError("sourcing the rendered file gives X=1, expected 2")

    monkeypatch.setattr(kc, "verify_rendered", refuse)
    result = run_module(capsys, base_args(host))
    assert result["failed"] is True and "sourcing the rendered file" in result["msg"]
    assert (host / "kdump-tools").read_text() == before
    assert sorted(os.listdir(str(host))) == ["check-params.args", "kdump-tools", "makedumpfile", "os-release"]


def test_unknown_os_release(capsys, host):
    (host / "os-release").write_text("ID=plan9\n")
    result = run_module(capsys, base_args(host))
    assert result["failed"] is True and "set family" in result["msg"]


def test_role_style_empty_values(capsys, host):
    """The setup role passes every option, with "" and 0 for "not set"."""
    args = base_args(host, family="redhat", path=str(host / "kdump.conf"), target={"type": "local", "path": "/var/crash"},
                     dump_level=31, compression="zlib", extra_collector_args="", failure_action="reboot",
                     keep_local_dumps=0, kdump_cmdline_append="", extra_options={})
    result = run_module(capsys, args)
    assert result["rc"] == 0, result
    assert result["content"].splitlines()[2:] == [
        "path /var/crash",
        "core_collector makedumpfile -c --message-level 7 -d 31",
        "failure_action reboot",
    ]


def test_check_params_arguments(capsys, host):
    run_module(capsys, base_args(host, dump_level=17, extra_collector_args="--num-threads 2"))
    assert (host / "check-params.args").read_text() == "--check-params -c -d 17 --num-threads 2 -F /proc/vmcore\n"
    run_module(capsys, base_args(host, family="redhat", path=str(host / "kdump.conf"), compression="none"))
    assert (host / "check-params.args").read_text() == "--check-params --message-level 7 -d 31 /proc/vmcore dumpfile\n"
    run_module(capsys, base_args(host, family="redhat", path=str(host / "kdump.conf"),
                                 target={"type": "device", "device": "/dev/vdb", "fstype": "raw"}))
    assert (host / "check-params.args").read_text() == "--check-params -F -l --message-level 7 -d 31 /proc/vmcore\n"


def test_check_params_refusal_fails(capsys, host, monkeypatch):
    before = (host / "kdump-tools").read_text()
    monkeypatch.setenv("CHECK_PARAMS_REFUSE", "makedumpfile: option requires an argument -- 'x'")
    result = run_module(capsys, base_args(host, extra_collector_args="--num-threads 2 -x"))
    assert result["failed"] is True
    assert "makedumpfile refused the dump arguments" in result["msg"]
    assert "Commandline parameter is invalid." in result["msg"]
    assert "option requires an argument" in result["msg"]
    assert (host / "kdump-tools").read_text() == before


def test_check_params_unknown_to_old_makedumpfile(capsys, host, monkeypatch):
    monkeypatch.setenv("CHECK_PARAMS_REFUSE", "makedumpfile: unrecognized option '--check-params'")
    result = run_module(capsys, base_args(host))
    assert result["rc"] == 0 and result["changed"] is True
    assert any("does not know --check-params" in w for w in warnings(result))
