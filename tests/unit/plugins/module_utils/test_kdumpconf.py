# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kdump configuration model: validation, rendering per family, reading files back."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.crashkit.kdump.plugins.module_utils import _kdumpconf as kc
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import (
    HostError,
    KdumpError,
    ParseError,
    ValidationError,
)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "kdumpconf")
HEADER_LINES = 2
AMD64_APPEND = "reset_devices systemd.unit=kdump-tools-dump.service nr_cpus=1 irqpoll usbcore.nousb"


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def body(text):
    """The rendered lines after the managed-file header."""
    lines = text.splitlines()
    assert lines[0].startswith("# Managed by crashkit.kdump")
    return lines[HEADER_LINES:]


def write(tmp_path, text, name="conf"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# ---------------------------------------------------------------------------------------------
# family detection

OS_RELEASES = [
    ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n', "debian"),
    ('NAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\nID_LIKE=debian\n', "debian"),
    ('NAME="Red Hat Enterprise Linux"\nVERSION_ID="9.4"\nID="rhel"\nID_LIKE="fedora"\n', "redhat"),
    ('NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\n', "redhat"),
    ('NAME="Fedora Linux"\nID=fedora\n', "redhat"),
    ('NAME="AlmaLinux"\nID="almalinux"\nID_LIKE="rhel centos fedora"\n', "redhat"),
    ('NAME="SLES"\nVERSION_ID="15.5"\nID="sles"\nID_LIKE="suse"\n', "suse"),
    ('NAME="openSUSE Tumbleweed"\nID="opensuse-tumbleweed"\nID_LIKE="opensuse suse"\n', "suse"),
    ('NAME="Something"\nID=something\nID_LIKE="debian"\n', "debian"),
]


@pytest.mark.parametrize("text,family", OS_RELEASES)
def test_family_from_os_release(text, family):
    assert kc.family_from_os_release(text) == family


@pytest.mark.parametrize("text", ["", "ID=arch\n", 'ID=nixos\nID_LIKE=""\n'])
def test_family_unknown(text):
    with pytest.raises(HostError, match="family"):
        kc.family_from_os_release(text)


# ---------------------------------------------------------------------------------------------
# the shipped files read back in the model's terms

def test_debian_shipped_file():
    info = kc.parse_config("debian", fixture("debian12-kdump-tools-1.8.1.default"))
    assert info["target"] == {"type": "local", "path": "/var/crash"}
    assert info["compression"] == "zlib"  # MAKEDUMP_ARGS unset: kdump-config uses -c -d 31
    assert info["dump_level"] == 31
    assert info["failure_action"] == "reboot"
    assert info["keep_local_dumps"] == 0
    assert info["kdump_cmdline_append"] is None
    assert info["enabled"] is True
    assert dict(info["settings"]) == {
        "USE_KDUMP": "1",
        "KDUMP_KERNEL": "/var/lib/kdump/vmlinuz",
        "KDUMP_INITRD": "/var/lib/kdump/initrd.img",
        "KDUMP_COREDIR": "/var/crash",
    }


@pytest.mark.parametrize("name,extra", [
    ("kexec-tools-9462a7d.kdump.conf", {}),
    ("kexec-tools-73ced7f.kdump.conf", {"auto_reset_crashkernel": "yes"}),
    ("kdump-utils-63f248c-x86_64.kdump.conf", {"auto_reset_crashkernel": "yes"}),
])
def test_redhat_shipped_files(name, extra):
    info = kc.parse_config("redhat", fixture(name))
    assert info["target"] == {"type": "local", "path": "/var/crash"}
    assert info["compression"] == "lzo"
    assert info["dump_level"] == 31
    assert info["extra_collector_args"] == ""
    assert info["failure_action"] == "reboot"
    expected = dict(extra, path="/var/crash", core_collector="makedumpfile -l --message-level 7 -d 31")
    assert dict(info["settings"]) == expected


def test_suse_1x_shipped_file():
    info = kc.parse_config("suse", fixture("opensuse-kdump-1.0.2.sysconfig"))
    assert info["target"] == {"type": "local", "path": "/var/crash"}
    assert info["compression"] == "zlib"
    assert info["dump_level"] == 31
    # KDUMP_KEEP_OLD_DUMPS=5 keeps 5 old dumps before saving: 6 after a new dump
    assert info["settings"]["KDUMP_KEEP_OLD_DUMPS"] == "5"
    assert info["keep_local_dumps"] == 6
    assert info["failure_action"] == "reboot"
    assert info["kdump_cmdline_append"] is None


def test_suse_2x_shipped_file():
    info = kc.parse_config("suse", fixture("opensuse-kdump-2.1.9.sysconfig"))
    assert info["target"] == {"type": "local", "path": "/var/crash"}
    assert info["keep_local_dumps"] == 0
    assert info["settings"]["KDUMP_CPUS"] == "32"
    assert info["settings"]["KDUMP_UPDATE_BOOTLOADER"] == "true"


@pytest.mark.parametrize("name", [
    "debian12-kdump-tools-1.8.1.default",
    "opensuse-kdump-1.0.2.sysconfig",
    "opensuse-kdump-2.1.9.sysconfig",
])
def test_static_reading_matches_real_shell(name):
    """What the static reader sees in the shipped files is what /bin/sh sees."""
    values = kc.parse_shell_assignments(fixture(name))
    assert len(values) >= 4
    sourced = kc.source_shell_file(os.path.join(FIXTURES, name), list(values))
    assert sourced == dict(values)


def test_parse_kdump_conf_rules():
    text = (
        "# comment\n"
        "   \n"
        "path /var/crash # trailing comment\n"
        'dracut_args --omit-drivers "cfg80211 snd"\n'
        'kdump_post "/usr/local/bin/post.sh"\n'
        "  core_collector   makedumpfile -l  -d 31  \n"
    )
    assert kc.parse_kdump_conf(text) == [
        ("path", "/var/crash"),
        ("dracut_args", '--omit-drivers "cfg80211 snd"'),
        ("kdump_post", "/usr/local/bin/post.sh"),
        ("core_collector", "makedumpfile -l  -d 31"),
    ]


def test_redhat_duplicate_is_parse_error():
    with pytest.raises(ParseError, match="more than once"):
        kc.parse_config("redhat", "failure_action shell\ndefault reboot\n")


def test_redhat_targets_read_back():
    info = kc.parse_config("redhat", "nfs [2001:db8::1]:/export\npath /var/crash\n")
    assert info["target"] == {"type": "nfs", "host": "2001:db8::1", "path": "/export/var/crash",
                              "export": "/export"}
    info = kc.parse_config("redhat", "raw /dev/sdb1\ncore_collector makedumpfile -F -c -d 17\n")
    assert info["target"] == {"type": "device", "fstype": "raw", "device": "/dev/sdb1"}
    assert (info["compression"], info["dump_level"]) == ("zlib", 17)
    info = kc.parse_config("redhat", "core_collector scp\n")
    assert info["compression"] is None and info["extra_collector_args"] == "scp"


@pytest.mark.parametrize("savedir,target", [
    ("/var/crash", {"type": "local", "path": "/var/crash"}),
    ("file:///srv/dumps", {"type": "local", "path": "/srv/dumps"}),
    ("nfs://filer/export/dumps", {"type": "nfs", "host": "filer", "path": "/export/dumps"}),
    ("ssh://kd@dump.example.com:2222/var/crash",
     {"type": "ssh", "host": "dump.example.com", "path": "/var/crash", "user": "kd", "port": 2222, "protocol": "ssh"}),
    ("sftp://kd@[2001:db8::1]/d",
     {"type": "ssh", "host": "2001:db8::1", "path": "/d", "user": "kd", "port": None, "protocol": "sftp"}),
    ("ftp://u:pw@ftp.example.com/crash", {"type": "ftp", "host": "ftp.example.com", "path": "/crash", "user": "u"}),
])
def test_suse_savedir(savedir, target):
    assert kc.parse_suse_savedir(savedir) == target


@pytest.mark.parametrize("savedir", ["var/crash", "ssh://u@h:port/x", "sftp://u@[::1]:x/y"])
def test_suse_savedir_invalid(savedir):
    with pytest.raises(ParseError):
        kc.parse_suse_savedir(savedir)


@settings(max_examples=300, deadline=None)
@given(scheme=st.sampled_from(["file", "nfs", "ssh", "sftp", "ftp", "cifs", "x"]),
       rest=st.text(alphabet="u@h:[]/0123456789.-x", max_size=25))
def test_suse_savedir_urls_parse_or_fail_cleanly(scheme, rest):
    try:
        kc.parse_suse_savedir("%s://%s" % (scheme, rest))
    except KdumpError:
        pass


# ---------------------------------------------------------------------------------------------
# rendering, line by line

NFS = {"type": "nfs", "host": "nfs.example.com", "path": "/export/crash"}
SSH = {"type": "ssh", "host": "dump.example.com", "user": "kdump", "ssh_key": "/root/.ssh/kdump_ed25519"}


@pytest.mark.parametrize("target,options,lines", [
    ({"type": "local"}, {}, [
        "path /var/crash",
        "core_collector makedumpfile -l --message-level 7 -d 31",
    ]),
    ({"type": "local", "path": "/srv/crash"}, {"compression": "zstd", "dump_level": 17, "failure_action": "shell",
                                               "extra_collector_args": "--num-threads 4"}, [
        "path /srv/crash",
        "core_collector makedumpfile -z --message-level 7 -d 17 --num-threads 4",
        "failure_action shell",
    ]),
    (NFS, {"failure_action": "dump_to_rootfs"}, [
        "nfs nfs.example.com:/export/crash",
        "path /",
        "core_collector makedumpfile -l --message-level 7 -d 31",
        "failure_action dump_to_rootfs",
    ]),
    (dict(NFS, host="2001:db8::5"), {}, [
        "nfs [2001:db8::5]:/export/crash",
        "path /",
        "core_collector makedumpfile -l --message-level 7 -d 31",
    ]),
    (SSH, {"compression": "zlib", "extra_options": {"final_action": "poweroff", "extra_modules": "nfs nfsv4"}}, [
        "ssh kdump@dump.example.com",
        "sshkey /root/.ssh/kdump_ed25519",
        "path /var/crash",
        "core_collector makedumpfile -F -c --message-level 7 -d 31",
        "extra_modules nfs nfsv4",
        "final_action poweroff",
    ]),
    ({"type": "device", "device": "UUID=03138356-5e61-4ab3-b58e-27507ac41937", "fstype": "xfs", "path": "/crash"},
     {"compression": "none"}, [
        "xfs UUID=03138356-5e61-4ab3-b58e-27507ac41937",
        "path /crash",
        "core_collector makedumpfile --message-level 7 -d 31",
    ]),
    ({"type": "device", "device": "/dev/vg/lv_kdump", "fstype": "raw"}, {"failure_action": "halt"}, [
        "raw /dev/vg/lv_kdump",
        "core_collector makedumpfile -F -l --message-level 7 -d 31",
        "failure_action halt",
    ]),
])
def test_render_redhat(target, options, lines):
    s = kc.build_settings("redhat", target=target, **options)
    text = kc.render(s)
    assert body(text) == lines
    assert text.endswith("\n")


def test_redhat_keeps_obsolete_default_spelling():
    s = kc.build_settings("redhat", failure_action="shell", existing_text="path /var/crash\ndefault reboot\n")
    assert "default shell" in body(kc.render(s))
    s = kc.build_settings("redhat", failure_action="shell", existing_text="#default reboot\n")
    assert "failure_action shell" in body(kc.render(s))


@pytest.mark.parametrize("target,options,lines", [
    ({"type": "local"}, {"keep_local_dumps": 3, "failure_action": "reboot"}, [
        'KDUMP_SAVEDIR="file:///var/crash"',
        "KDUMP_DUMPLEVEL=31",
        'KDUMP_DUMPFORMAT="compressed"',
        "KDUMP_KEEP_OLD_DUMPS=2",
        'KDUMP_CONTINUE_ON_ERROR="true"',
    ]),
    ({"type": "local", "path": "/srv/crash"}, {"keep_local_dumps": 1, "compression": "none", "dump_level": 0}, [
        'KDUMP_SAVEDIR="file:///srv/crash"',
        "KDUMP_DUMPLEVEL=0",
        'KDUMP_DUMPFORMAT="ELF"',
        "KDUMP_KEEP_OLD_DUMPS=-1",
    ]),
    (NFS, {"compression": "lzo", "failure_action": "shell", "kdump_cmdline_append": "net_delay=10  console=ttyS0"}, [
        'KDUMP_SAVEDIR="nfs://nfs.example.com/export/crash"',
        "KDUMP_DUMPLEVEL=31",
        'KDUMP_DUMPFORMAT="lzo"',
        'KDUMP_CONTINUE_ON_ERROR="false"',
        'KDUMP_COMMANDLINE_APPEND="net_delay=10 console=ttyS0"',
    ]),
    (dict(SSH, port=2222), {
        "compression": "zstd", "extra_collector_args": "-e",
        "extra_options": {"KDUMP_HOST_KEY": "AAAAC3NzaC1lZDI1NTE5AAAAIF", "KDUMP_CPUS": 4}}, [
        'KDUMP_SAVEDIR="ssh://kdump@dump.example.com:2222/var/crash"',
        "KDUMP_DUMPLEVEL=31",
        'KDUMP_DUMPFORMAT="zstd"',
        'MAKEDUMPFILE_OPTIONS="-e"',
        'KDUMP_SSH_IDENTITY="/root/.ssh/kdump_ed25519"',
        "KDUMP_CPUS=4",
        'KDUMP_HOST_KEY="AAAAC3NzaC1lZDI1NTE5AAAAIF"',
    ]),
])
def test_render_suse(tmp_path, target, options, lines):
    s = kc.build_settings("suse", target=target, **options)
    text = kc.render(s)
    assert body(text) == lines
    kc.verify_rendered(s, write(tmp_path, text))


@pytest.mark.parametrize("target,options,expected", [
    ({"type": "local"}, {}, {
        "USE_KDUMP": "1", "KDUMP_KERNEL": "/var/lib/kdump/vmlinuz", "KDUMP_INITRD": "/var/lib/kdump/initrd.img",
        "KDUMP_COREDIR": "/var/crash", "MAKEDUMP_ARGS": "-c -d 31",
    }),
    ({"type": "local", "path": "/srv/crash"}, {"keep_local_dumps": 5, "failure_action": "poweroff", "compression": "lzo",
                                               "dump_level": 1}, {
        "USE_KDUMP": "1", "KDUMP_KERNEL": "/var/lib/kdump/vmlinuz", "KDUMP_INITRD": "/var/lib/kdump/initrd.img",
        "KDUMP_COREDIR": "/srv/crash", "MAKEDUMP_ARGS": "-l -d 1", "KDUMP_FAIL_CMD": "poweroff -f",
        "KDUMP_NUM_DUMPS": "5",
    }),
    (NFS, {"failure_action": "halt", "extra_options": {"NFS_TIMEO": 900}}, {
        "USE_KDUMP": "1", "KDUMP_KERNEL": "/var/lib/kdump/vmlinuz", "KDUMP_INITRD": "/var/lib/kdump/initrd.img",
        "KDUMP_COREDIR": "/var/crash", "MAKEDUMP_ARGS": "-c -d 31", "KDUMP_FAIL_CMD": "halt -f",
        "NFS": "nfs.example.com:/export/crash", "NFS_TIMEO": "900",
    }),
    (SSH, {"kdump_cmdline_append": "console=ttyS0,115200",
           "extra_options": {"HOSTTAG": "hostname", "KDUMP_KERNEL": "/boot/vmlinuz-kdump"}}, {
        "USE_KDUMP": "1", "KDUMP_KERNEL": "/boot/vmlinuz-kdump", "KDUMP_INITRD": "/var/lib/kdump/initrd.img",
        "KDUMP_COREDIR": "/var/crash", "MAKEDUMP_ARGS": "-c -d 31",
        "KDUMP_CMDLINE_APPEND": AMD64_APPEND + " console=ttyS0,115200",
        "SSH": "kdump@dump.example.com", "SSH_KEY": "/root/.ssh/kdump_ed25519", "HOSTTAG": "hostname",
    }),
])
def test_render_debian_sourced(tmp_path, target, options, expected):
    s = kc.build_settings("debian", target=target, **options)
    text = kc.render(s)
    path = write(tmp_path, text)
    names = sorted(set(expected) | {"NFS", "SSH", "SSH_KEY", "KDUMP_FAIL_CMD", "KDUMP_NUM_DUMPS",
                                    "KDUMP_CMDLINE_APPEND"})
    got = kc.source_shell_file(path, names)
    assert dict((k, v) for k, v in got.items() if v is not None) == expected
    assert [line.split("=", 1)[0] for line in body(text)] == [k for k, _v in kc.expected_entries(s)]
    kc.verify_rendered(s, path)


@pytest.mark.parametrize("value", [
    "--elf64-core-headers",
    "with spaces  and\ttabs-refused" .replace("\t", " "),
    'double "quotes" inside',
    "single 'quotes' inside",
    "dollar $HOME and ${PATH} and $(id) and `id`",
    "back\\slash \\n \\\\ end\\",
    "mixed '\"$`\\ all",
    "",
    "!history ~tilde *glob? [x] ;|&<>()",
])
def test_debian_values_with_shell_characters(tmp_path, value):
    s = kc.build_settings("debian", extra_options={"KDUMP_KEXEC_ARGS": value})
    path = write(tmp_path, kc.render(s))
    assert kc.source_shell_file(path, ["KDUMP_KEXEC_ARGS"]) == {"KDUMP_KEXEC_ARGS": value}
    assert kc.parse_shell_assignments(kc.render(s))["KDUMP_KEXEC_ARGS"] == value
    kc.verify_rendered(s, path)


def test_debian_cmdline_base_from_installed_script():
    script = (
        'MAKEDUMP_ARGS=${MAKEDUMP_ARGS:="-F -c -d 31"}\n'
        'KDUMP_CMDLINE_APPEND=${KDUMP_CMDLINE_APPEND:="reset_devices systemd.unit=kdump-tools-dump.service '
        'nr_cpus=1"}\n'
    )
    base = kc.parse_debian_cmdline_default(script)
    assert base == "reset_devices systemd.unit=kdump-tools-dump.service nr_cpus=1"
    s = kc.build_settings("debian", kdump_cmdline_append="crashkernel_test=1", debian_cmdline_base=base)
    assert dict(kc.expected_entries(s))["KDUMP_CMDLINE_APPEND"] == base + " crashkernel_test=1"
    assert kc.parse_debian_cmdline_default("#!/bin/sh\n") is None


@pytest.mark.parametrize("machine,arch", [("x86_64", "amd64"), ("aarch64", "arm64"), ("ppc64le", "ppc64el"),
                                          ("s390x", "amd64")])
def test_debian_cmdline_fallback(machine, arch):
    assert kc.debian_cmdline_default(machine) == kc.DEBIAN_CMDLINE_DEFAULTS[arch]


def test_no_append_leaves_the_default_alone():
    s = kc.build_settings("debian", kdump_cmdline_append="  ")
    assert "KDUMP_CMDLINE_APPEND" not in dict(kc.expected_entries(s))


# ---------------------------------------------------------------------------------------------
# validation

ERRORS = [
    ("debian", {"target": {"type": "nfs", "path": "/x"}}, "target.host is required"),
    ("redhat", {"target": {"type": "nfs", "host": "h"}}, "nfs targets need"),
    ("redhat", {"target": {"type": "ssh", "host": "h"}}, "target.user"),
    ("redhat", {"target": {"type": "ssh", "user": "u"}}, "target.host is required"),
    ("redhat", {"target": {"type": "device", "fstype": "xfs"}}, "target.device"),
    ("redhat", {"target": {"type": "device", "device": "/dev/sdb1"}}, "target.fstype"),
    ("redhat", {"target": {"type": "device", "device": "/dev/sdb1", "fstype": "raw", "path": "/x"}}, "raw device"),
    ("redhat", {"target": {"type": "device", "device": "sdb1", "fstype": "xfs"}}, "not a /dev path"),
    ("debian", {"target": {"type": "device", "device": "/dev/sdb1", "fstype": "xfs"}}, "can name another disk"),
    ("suse", {"target": {"type": "device", "device": "/dev/sdb1", "fstype": "xfs"}}, "on suse mount"),
    ("redhat", {"target": {"type": "cifs"}}, "target.type"),
    ("redhat", {"target": {"type": "local", "host": "h"}}, "do not apply"),
    ("redhat", {"target": {"type": "local", "bogus": 1}}, "unknown target key"),
    ("redhat", {"target": {"type": "local", "path": "var/crash"}}, "absolute path"),
    ("debian", {"target": {"type": "local", "path": "/var/my crash"}}, "absolute path"),
    ("redhat", {"target": {"type": "ssh", "host": "h", "user": "u", "port": 2222}}, "no SSH port"),
    ("debian", {"target": {"type": "ssh", "host": "h", "user": "u", "port": 2222}}, "no SSH port"),
    ("suse", {"target": {"type": "ssh", "host": "h", "user": "u", "port": 70000}}, "between 1 and 65535"),
    ("debian", {"target": {"type": "ssh", "host": "2001:db8::1", "user": "u"}}, "IPv6"),
    ("redhat", {"target": {"type": "ssh", "host": "bad host", "user": "u"}}, "not a host name"),
    ("redhat", {"target": {"type": "ssh", "host": "h", "user": "-oProxyCommand=x"}}, "not a valid user"),
    ("redhat", {"dump_level": 32}, "0 to 31"),
    ("redhat", {"dump_level": -1}, "0 to 31"),
    ("redhat", {"dump_level": "many"}, "integer"),
    ("redhat", {"compression": "gzip"}, "compression must be one of"),
    ("redhat", {"extra_collector_args": "-c"}, "conflicts with the compression"),
    ("debian", {"extra_collector_args": "--num-threads 2 -l"}, "conflicts with the compression"),
    ("suse", {"extra_collector_args": "-E"}, "conflicts with the compression"),
    ("redhat", {"extra_collector_args": "-d 1"}, "conflicts with the dump_level"),
    ("debian", {"extra_collector_args": "-ed31"}, "conflicts with the dump_level"),
    ("debian", {"extra_collector_args": "-F"}, "flattened"),
    ("redhat", {"extra_collector_args": "--split"}, "changes what makedumpfile does"),
    ("redhat", {"extra_collector_args": "-R"}, "changes what makedumpfile does"),
    ("redhat", {"extra_collector_args": "/tmp/out"}, "not an option"),
    ("debian", {"extra_collector_args": "--message-level 7 extra"}, "not an option"),
    ("debian", {"extra_collector_args": "-x '/boot/vmlinux'"}, "characters other than"),
    ("suse", {"extra_collector_args": "--work-dir=$(id)"}, "characters other than"),
    ("debian", {"failure_action": "shell"}, "not available with kdump-tools"),
    ("debian", {"failure_action": "dump_to_rootfs"}, "not available with kdump-tools"),
    ("suse", {"failure_action": "halt"}, "not available with SUSE"),
    ("suse", {"failure_action": "poweroff"}, "not available with SUSE"),
    ("redhat", {"failure_action": "explode"}, "failure_action must be"),
    ("redhat", {"keep_local_dumps": 3}, "no setting that removes"),
    ("debian", {"keep_local_dumps": 3, "target": NFS}, "local targets only"),
    ("debian", {"keep_local_dumps": -2}, r"0 \(keep all\) or more"),
    ("debian", {"keep_local_dumps": True}, "integer"),
    ("redhat", {"kdump_cmdline_append": "console=ttyS0"}, "/etc/sysconfig/kdump"),
    ("debian", {"kdump_cmdline_append": 'acpi_osi="!Windows 2012"'}, "must not contain quotes"),
    ("debian", {"kdump_cmdline_append": "a\nb"}, "printable ASCII"),
    ("suse", {"kdump_cmdline_append": "x=\u00e9"}, "printable ASCII"),
    ("debian", {"extra_options": {"SSH": "a@b"}}, "set by this module"),
    ("debian", {"extra_options": {"FTP": "host:/x"}}, "set by this module"),
    ("suse", {"extra_options": {"KDUMP_SAVEDIR": "/x"}}, "set by this module"),
    ("redhat", {"extra_options": {"core_collector": "cp"}}, "set by this module"),
    ("redhat", {"extra_options": {"virtiofs": "myfs"}}, "set by this module"),
    ("redhat", {"extra_options": {"frobnicate": "1"}}, "not a directive kdumpctl accepts"),
    ("redhat", {"extra_options": {"Final_Action": "halt"}}, "not a kdump.conf directive"),
    ("redhat", {"extra_options": {"final_action": "shell"}}, "must be one of"),
    ("redhat", {"extra_options": {"kdump_post": "/bin/x # y"}}, "starts a comment"),
    ("redhat", {"extra_options": {"dracut_args": " --x"}}, "surrounding"),
    ("redhat", {"extra_options": {"extra_bins": True}}, "not a boolean"),
    ("redhat", {"extra_options": {"extra_bins": ["a"]}}, "string, number or boolean"),
    ("debian", {"extra_options": {"kdump_kernel": "/x"}}, "not a debian variable name"),
    ("debian", {"extra_options": {"PATH": "/tmp"}}, "environment of the script"),
    ("debian", {"extra_options": {"LD_PRELOAD": "/tmp/x.so"}}, "environment of the script"),
    ("debian", {"extra_options": {"KDUMP_KEXEC_ARGS": "a\nb"}}, "control character"),
    ("debian", {"extra_options": {"NFS_TIMEO": "soon"}}, "must be an integer"),
    ("debian", {"extra_options": {"HOSTTAG": "fqdn"}}, "must be one of"),
    ("debian", {"extra_options": {"KDUMP_KERNEL": "vmlinuz"}}, "absolute path"),
    ("suse", {"extra_options": {"KDUMP_IMMEDIATE_REBOOT": "maybe"}}, "true or false"),
    ("suse", {"extra_options": {"OTHER_THING": "x"}}, "not a SUSE kdump variable"),
    ("suse", {"extra_options": {"KDUMP_PRESCRIPT": "/bin/echo a\\b"}}, "backslashes"),
    ("suse", {"extra_options": {"KDUMP_PRESCRIPT": "/bin/echo  a"}}, "repeated spaces"),
    ("plan9", {}, "family must be one of"),
]


@pytest.mark.parametrize("family,options,message", ERRORS)
def test_validation_errors(family, options, message):
    with pytest.raises(ValidationError, match=message):
        kc.build_settings(family, **options)


def test_remote_targets_accept_keep_zero():
    # the setup role passes keep_local_dumps: 0 for every target
    for family in ("debian", "suse"):
        s = kc.build_settings(family, target=NFS, keep_local_dumps=0)
        assert not any(k in ("KDUMP_NUM_DUMPS", "KDUMP_KEEP_OLD_DUMPS") for k, _v in kc.expected_entries(s))
    s = kc.build_settings("redhat", keep_local_dumps=0, extra_collector_args="", kdump_cmdline_append="")
    assert body(kc.render(s)) == ["path /var/crash", "core_collector makedumpfile -l --message-level 7 -d 31"]


def test_unknown_shell_keys_warn():
    s = kc.build_settings("debian", extra_options={"KDUMP_SOMETHING_NEW": "1"})
    assert s.warnings and "KDUMP_SOMETHING_NEW" in s.warnings[0]
    assert ("KDUMP_SOMETHING_NEW", "1") in kc.expected_entries(s)


def test_allowed_collector_args():
    for args in ("--num-threads 4", "-e", "-x /usr/lib/debug/vmlinux", "--message-level=31 -D",
                 "--cyclic-buffer 1024 --work-dir /var/tmp", "-b 8 --non-mmap"):
        s = kc.build_settings("debian", extra_collector_args=args)
        assert s.extra_collector_args == args.split()


def test_verify_rendered_catches_a_different_file(tmp_path):
    s = kc.build_settings("debian", target=SSH)
    text = kc.render(s).replace("kdump@dump.example.com", "other@dump.example.com")
    with pytest.raises(ValidationError, match="SSH="):
        kc.verify_rendered(s, write(tmp_path, text))
    r = kc.build_settings("redhat")
    with pytest.raises(ValidationError, match="reads back"):
        kc.verify_rendered(r, write(tmp_path, kc.render(r) + "extra_bins /bin/true\n", "k"))


def test_source_shell_file_reports_broken_files(tmp_path):
    with pytest.raises(ValidationError, match="could not source"):
        kc.source_shell_file(write(tmp_path, 'A="unterminated\n'), ["A"])
    with pytest.raises(ValidationError):
        kc.source_shell_file(write(tmp_path, "A=1\n"), ["not-a-name"])


# ---------------------------------------------------------------------------------------------
# idempotence: render -> read back -> build again -> same file

ROUND_TRIPS = [
    ("redhat", {"target": SSH, "compression": "snappy", "dump_level": 23, "failure_action": "poweroff",
                "extra_collector_args": "--num-threads 2"}),
    ("redhat", {"target": NFS, "failure_action": "shell"}),
    ("redhat", {"target": {"type": "device", "device": "LABEL=crash", "fstype": "ext4", "path": "/dumps"}}),
    ("debian", {"target": {"type": "local", "path": "/srv/crash"}, "keep_local_dumps": 2, "compression": "none",
                "failure_action": "halt", "kdump_cmdline_append": "console=ttyS1"}),
    ("debian", {"target": NFS, "dump_level": 0}),
    ("debian", {"target": SSH, "compression": "zstd", "failure_action": "reboot"}),
    ("suse", {"target": {"type": "local"}, "keep_local_dumps": 1, "failure_action": "shell"}),
    ("suse", {"target": {"type": "local"}, "keep_local_dumps": 4}),
    ("suse", {"target": NFS, "compression": "snappy", "kdump_cmdline_append": "net_delay=20"}),
    ("suse", {"target": dict(SSH, port=2200), "extra_collector_args": "-e"}),
]


@pytest.mark.parametrize("family,options", ROUND_TRIPS)
def test_round_trip(family, options):
    first = kc.render(kc.build_settings(family, **options))
    assert kc.render(kc.build_settings(family, **options)) == first
    info = kc.parse_config(family, first)
    target = dict((k, v) for k, v in info["target"].items()
                  if k in kc.Target.FIELDS and v is not None)
    if family == "debian" and target["type"] == "nfs":
        target.pop("mountpoint", None)
    if target["type"] == "ssh" and family != "suse":
        target.pop("port", None)
    again = dict(options)
    again["target"] = target
    again["compression"] = info["compression"]
    again["dump_level"] = info["dump_level"]
    again["extra_collector_args"] = info["extra_collector_args"]
    if "failure_action" in options:
        again["failure_action"] = info["failure_action"]
    if "keep_local_dumps" in options:
        again["keep_local_dumps"] = info["keep_local_dumps"]
    if family == "suse" and info["kdump_cmdline_append"]:
        again["kdump_cmdline_append"] = info["kdump_cmdline_append"]
    assert kc.render(kc.build_settings(family, existing_text=first, **again)) == first


# ---------------------------------------------------------------------------------------------
# hypothesis: any input renders to exactly itself or is refused with a ValidationError

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
SHELLISH = st.text(alphabet=" \t\n'\"$`\\!*?[]{}()<>|&;#~=-_.,:/@%+aZ09\u00e9", max_size=30)
SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SLOW
@given(value=st.one_of(TEXT, SHELLISH))
def test_cmdline_append_is_exact_or_refused(tmp_path, value):
    for family in ("debian", "suse"):
        try:
            s = kc.build_settings(family, kdump_cmdline_append=value)
        except ValidationError:
            continue
        entries = dict(kc.expected_entries(s))
        key = "KDUMP_CMDLINE_APPEND" if family == "debian" else "KDUMP_COMMANDLINE_APPEND"
        words = value.split()
        if not words:
            assert key not in entries
            continue
        wanted = " ".join(([AMD64_APPEND] if family == "debian" else []) + words)
        path = write(tmp_path, kc.render(s), family)
        assert kc.source_shell_file(path, [key]) == {key: wanted}


@SLOW
@given(value=st.one_of(TEXT, SHELLISH))
def test_collector_args_are_exact_or_refused(tmp_path, value):
    for family in ("debian", "suse", "redhat"):
        try:
            s = kc.build_settings(family, extra_collector_args=value)
        except ValidationError:
            continue
        words = value.split()
        assert s.extra_collector_args == words
        text = kc.render(s)
        if family == "redhat":
            collector = dict(kc.parse_kdump_conf(text))["core_collector"]
            assert collector.split()[6:] == words
            continue
        path = write(tmp_path, text, family)
        key = "MAKEDUMP_ARGS" if family == "debian" else "MAKEDUMPFILE_OPTIONS"
        got = kc.source_shell_file(path, [key])[key]
        if family == "debian":
            assert got == " ".join(["-c", "-d", "31"] + words)
        else:
            assert got == (" ".join(words) if words else None)


@SLOW
@given(value=st.one_of(TEXT, SHELLISH))
def test_extra_option_values_are_exact_or_refused(tmp_path, value):
    for family, key in (("debian", "KDUMP_KEXEC_ARGS"), ("suse", "KEXEC_OPTIONS"), ("redhat", "dracut_args")):
        try:
            s = kc.build_settings(family, extra_options={key: value})
        except ValidationError:
            continue
        text = kc.render(s)
        if family == "redhat":
            assert dict(kc.parse_kdump_conf(text))[key] == value
            continue
        assert kc.parse_shell_assignments(text)[key] == value
        assert kc.source_shell_file(write(tmp_path, text, family), [key]) == {key: value}


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(TEXT, SHELLISH, st.text(max_size=200)))
def test_readers_give_a_value_or_a_domain_error(text):
    for call in (kc.parse_shell_assignments, kc.parse_kdump_conf, kc.parse_os_release,
                 lambda t: kc.parse_config("debian", t), lambda t: kc.parse_config("suse", t),
                 lambda t: kc.parse_config("redhat", t), kc.parse_suse_savedir):
        try:
            call(text)
        except KdumpError:
            pass


@settings(max_examples=200, deadline=None)
@given(target=st.dictionaries(st.sampled_from(kc.Target.FIELDS),
                              st.one_of(st.none(), st.integers(-5, 70000), TEXT, st.sampled_from(kc.TARGET_TYPES))),
       family=st.sampled_from(kc.FAMILIES), level=st.one_of(st.none(), st.integers(-3, 40), TEXT),
       compression=st.one_of(st.none(), st.sampled_from(kc.COMPRESSIONS), TEXT))
def test_build_gives_settings_or_a_validation_error(target, family, level, compression):
    try:
        s = kc.build_settings(family, target=target, dump_level=level, compression=compression)
    except ValidationError:
        return
    kc.render(s)


SHELL_KEYS = ["KDUMP_COREDIR", "MAKEDUMP_ARGS", "SSH", "NFS", "FTP", "KDUMP_FAIL_CMD", "KDUMP_NUM_DUMPS",
              "USE_KDUMP", "KDUMP_SAVEDIR", "KDUMP_DUMPLEVEL", "KDUMP_DUMPFORMAT", "KDUMP_KEEP_OLD_DUMPS",
              "KDUMP_CONTINUE_ON_ERROR", "KDUMP_SSH_IDENTITY", "MAKEDUMPFILE_OPTIONS"]
VALUES = st.text(alphabet="abc019:/@.-_ ", max_size=20)
DIRECTIVES = ["path", "nfs", "ssh", "raw", "xfs", "core_collector", "sshkey", "failure_action", "default", "virtiofs"]


@settings(max_examples=300, deadline=None)
@given(pairs=st.lists(st.tuples(st.sampled_from(SHELL_KEYS), VALUES), max_size=6),
       directives=st.lists(st.tuples(st.sampled_from(DIRECTIVES), VALUES), max_size=5))
def test_structured_configs_parse_or_fail_cleanly(pairs, directives):
    shell = "".join("%s=%s\n" % (k, kc.sh_quote(v)) for k, v in pairs)
    conf = "".join("%s %s\n" % (k, v) for k, v in directives)
    for family, text in (("debian", shell), ("suse", shell), ("redhat", conf)):
        try:
            info = kc.parse_config(family, text)
        except KdumpError:
            continue
        assert info["target"]["type"]


@pytest.mark.parametrize("text,overridden,kept,warned", [
    ("auto_reset_crashkernel yes\npath /var/crash\ncore_collector makedumpfile -l -d 31\n", (),
     [("auto_reset_crashkernel", "yes")], []),
    ("ssh a@b\nsshkey /k\ndefault reboot\nfailure_action halt\next4 UUID=x\n", (), [], []),
    ("dracut_args --omit x\ndracut_args --omit y\n", (), [("dracut_args", "--omit x")], []),
    ("auto_reset_crashkernel yes\nfinal_action poweroff\n", ("auto_reset_crashkernel",),
     [("final_action", "poweroff")], []),
    ("mystery on\n", (), [("mystery", "on")], ["mystery is not one kdumpctl is known to accept"]),
    ("Weird line\nlonely\n", (), [], ["'Weird line' is not a directive", "'lonely' is not a directive"]),
    ("kdump_post /x # a comment\n", (), [("kdump_post", "/x")], []),
])
def test_kept_directives(text, overridden, kept, warned):
    got, warnings = kc.kept_directives(text, overridden)
    assert got == kept
    assert len(warnings) == len(warned)
    for warning, expected in zip(warnings, warned):
        assert expected in warning


def test_kept_directives_are_rendered_and_read_back(tmp_path):
    existing = open(os.path.join(FIXTURES, "kexec-tools-73ced7f.kdump.conf")).read()
    settings = kc.build_settings("redhat", target={"type": "local", "path": "/srv/crash"}, existing_text=existing)
    text = kc.render(settings)
    assert text.splitlines()[-1] == "auto_reset_crashkernel yes"
    path = tmp_path / "kdump.conf"
    path.write_text(text)
    kc.verify_rendered(settings, str(path))
    assert kc.build_settings("redhat", existing_text=existing, keep_other_directives=False).kept_directives == []
    assert kc.build_settings("debian", existing_text=existing).kept_directives == []


@pytest.mark.parametrize("family,supported,expected", [
    # Debian 13's makedumpfile 1.7.6 (built with libzstd) and Debian 12's 1.7.2 (without)
    ("debian", ["zlib", "lzo", "zstd", "none"], "zstd"),
    ("debian", ["zlib", "lzo", "none"], "zlib"),
    ("debian", None, "zlib"),  # makedumpfile not found: what the family ships
    # not measured on these families: what they ship, even where zstd is there
    ("redhat", ["zlib", "lzo", "zstd", "none"], "lzo"),
    ("redhat", None, "lzo"),
    ("suse", ["zlib", "lzo", "snappy", "zstd", "none"], "zlib"),
])
def test_auto_compression(family, supported, expected):
    assert kc.auto_compression(family, supported) == expected


def test_auto_compression_unknown_family():
    with pytest.raises(ValidationError):
        kc.auto_compression("arch", ["zlib"])


def test_build_settings_resolves_auto_with_what_makedumpfile_supports():
    supported = ["zlib", "lzo", "zstd", "none"]
    s = kc.build_settings("debian", compression="auto", supported_compressions=supported)
    assert s.compression == "zstd"
    assert 'MAKEDUMP_ARGS="-z -d 31"' in kc.render(s)
    assert kc.build_settings("debian", compression="auto").compression == "zlib"
    # an explicit choice is never replaced
    assert kc.build_settings("debian", compression="lzo", supported_compressions=supported).compression == "lzo"
