# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kdump_info's report from what it read: crash kernel, configuration, dump size, Secure Boot,
crashkernel= default and the problems."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.crashkit.kdump.plugins.module_utils import _kdumpconf as kc
from ansible_collections.crashkit.kdump.plugins.module_utils import _readiness as rd
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import ParseError

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "kdumpconf")
M = 1 << 20
G = 1 << 30


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


# ---------------------------------------------------------------------------------------------
# crash kernel


@pytest.mark.parametrize("files,expected", [
    ({}, {"loaded": None, "mode": "kdump", "reserved_bytes": 0, "reserved_mb": 0}),
    ({"kexec_crash_loaded": "1\n", "kexec_crash_size": "268435456\n"},
     {"loaded": True, "mode": "kdump", "reserved_bytes": 256 * M, "reserved_mb": 256}),
    ({"kexec_crash_loaded": "0\n", "kexec_crash_size": "0\n"},
     {"loaded": False, "mode": "kdump", "reserved_bytes": 0, "reserved_mb": 0}),
    # reserved_mb rounds down
    ({"kexec_crash_loaded": "1\n", "kexec_crash_size": "%d\n" % (192 * M + 4096)},
     {"loaded": True, "mode": "kdump", "reserved_bytes": 192 * M + 4096, "reserved_mb": 192}),
    ({"kexec_crash_loaded": "0\n", "fadump/enabled": "1\n", "fadump/registered": "1\n"},
     {"loaded": True, "mode": "fadump", "reserved_bytes": 0, "reserved_mb": 0}),
    ({"kexec_crash_loaded": "1\n", "fadump/enabled": "1\n", "fadump/registered": "0\n"},
     {"loaded": False, "mode": "fadump", "reserved_bytes": 0, "reserved_mb": 0}),
    ({"kexec_crash_loaded": "0\n", "fadump/enabled": "1\n"},
     {"loaded": False, "mode": "fadump", "reserved_bytes": 0, "reserved_mb": 0}),
    # older kernels: /sys/kernel/fadump_enabled and fadump_registered
    ({"kexec_crash_loaded": "0\n", "fadump_enabled": "1\n", "fadump_registered": "1\n"},
     {"loaded": True, "mode": "fadump", "reserved_bytes": 0, "reserved_mb": 0}),
    ({"kexec_crash_loaded": "1\n", "kexec_crash_size": "1048576\n", "fadump/enabled": "0\n",
      "fadump/registered": "1\n"},
     {"loaded": True, "mode": "kdump", "reserved_bytes": M, "reserved_mb": 1}),
])
def test_crash_kernel_state(files, expected):
    assert rd.crash_kernel_state(files.get) == expected


def test_crash_kernel_state_reads_only_what_it_needs():
    files = {"kexec_crash_loaded": "0\n", "fadump/enabled": "1\n", "fadump/registered": "1\n",
             "fadump_enabled": "1\n", "fadump_registered": "0\n"}
    asked = []

    def read(name):
        asked.append(name)
        return files.get(name)

    assert rd.crash_kernel_state(read)["loaded"] is True
    assert asked == ["kexec_crash_loaded", "kexec_crash_size", "fadump/enabled", "fadump/registered"]


@pytest.mark.parametrize("files", [{"kexec_crash_loaded": "yes\n"}, {"kexec_crash_size": "256M\n"}])
def test_crash_kernel_state_refuses_garbage(files):
    with pytest.raises(ParseError):
        rd.crash_kernel_state(files.get)


# ---------------------------------------------------------------------------------------------
# configuration


def _managed(family, **options):
    return kc.render(kc.build_settings(family, target={"type": "local", "path": "/srv/crash"}, **options))


@pytest.mark.parametrize("family,text,expected", [
    ("debian", _managed("debian"),
     {"exists": True, "managed": True, "enabled": True, "target": {"type": "local", "path": "/srv/crash"},
      "dump_level": 31, "compression": "zlib"}),
    ("debian", None,
     {"exists": False, "managed": False, "enabled": False, "target": {"type": "local", "path": "/var/crash"},
      "dump_level": 31, "compression": "zlib"}),
    ("debian", "USE_KDUMP=0\nMAKEDUMP_ARGS='-l -d 1'\n",
     {"exists": True, "managed": False, "enabled": False, "dump_level": 1, "compression": "lzo"}),
    # not written by kdump_config: the mark must start the file
    ("debian", "USE_KDUMP=1\n# Managed by crashkit.kdump\n", {"exists": True, "managed": False, "enabled": True}),
    ("redhat", "path /var/crash\ncore_collector makedumpfile -l --message-level 7 -d 17\n",
     {"exists": True, "managed": False, "dump_level": 17, "compression": "lzo", "failure_action": "reboot",
      "target": {"type": "local", "path": "/var/crash"}}),
    ("redhat", None, {"exists": False, "managed": False, "compression": "lzo"}),
    ("suse", _managed("suse", compression="zstd"),
     {"exists": True, "managed": True, "compression": "zstd", "dump_level": 31}),
])
def test_config_state(family, text, expected):
    config = rd.config_state(family, "/etc/kdump-file", text)
    assert config["path"] == "/etc/kdump-file"
    assert "error" not in config
    assert set(rd.CONFIG_KEYS) <= set(config)
    assert ("enabled" in config) is (family == "debian")
    for key, value in expected.items():
        assert config[key] == value, key


@pytest.mark.parametrize("family,text,words", [
    ("debian", 'USE_KDUMP=1\nKDUMP_COREDIR="$(mktemp -d)"\n', "command substitution"),
    ("redhat", "path /a\npath /b\n", "more than once"),
])
def test_config_state_unreadable_gives_defaults_and_error(family, text, words):
    config = rd.config_state(family, "/etc/kdump-file", text)
    assert words in config["error"]
    assert config["exists"] is True
    defaults = kc.parse_config(family, "")
    assert [config[key] for key in rd.CONFIG_KEYS] == [defaults[key] for key in rd.CONFIG_KEYS]


def test_managed_mark_is_what_kdump_config_writes():
    for family in kc.FAMILIES:
        assert (kc.HEADER % family).startswith(rd.MANAGED_MARK)


# ---------------------------------------------------------------------------------------------
# dump size

MEMINFO = "MemTotal:        4000000 kB\nMemFree:         1000000 kB\n"
ARM64 = fixture("makedumpfile-mem-usage-arm64-6.5.out")
NO_CRASHKERNEL = fixture("makedumpfile-1.7.2-mem-usage-no-crashkernel.out")


@pytest.mark.parametrize("level,output,meminfo,ratio,source,expected_bytes,expected_mb", [
    # arm64 table: KERN_DATA 459950 pages kept at 31, everything at 0, all but FREE at 16
    (31, ARM64, MEMINFO, 0.25, "mem_usage", 459950 * 4096, 1797),
    (0, ARM64, MEMINFO, 0.25, "mem_usage", 16512804 * 4096, 64504),
    (16, ARM64, None, 0.25, "mem_usage", 702920 * 4096, 2746),
    (31, None, MEMINFO, 0.25, "estimate", 1024000000, 977),
    (31, None, MEMINFO, 1.0, "estimate", 4096000000, 3907),
    (31, None, None, 0.25, None, None, None),
])
def test_dump_size(level, output, meminfo, ratio, source, expected_bytes, expected_mb):
    size = rd.dump_size(level, output, meminfo, ratio)
    assert size == {"dump_level": level, "source": source, "expected_bytes": expected_bytes,
                    "expected_mb": expected_mb}


@pytest.mark.parametrize("output,meminfo,source", [
    (NO_CRASHKERNEL, MEMINFO, "estimate"),
    ("makedumpfile: command not found\n", None, None),
])
def test_dump_size_when_makedumpfile_cannot_count(output, meminfo, source):
    size = rd.dump_size(31, output, meminfo, 0.25)
    assert size["source"] == source
    assert size["mem_usage_error"].startswith("no page table in makedumpfile --mem-usage output")
    assert (size["expected_bytes"] is None) is (meminfo is None)


def test_dump_size_refuses_meminfo_without_memtotal():
    with pytest.raises(ParseError):
        rd.dump_size(31, None, "MemFree: 1 kB\n", 0.25)


# ---------------------------------------------------------------------------------------------
# Secure Boot without mokutil

ON = b"\x06\x00\x00\x00\x01"
OFF = b"\x06\x00\x00\x00\x00"


@pytest.mark.parametrize("secureboot,setupmode,efi_dir,expected", [
    (ON, OFF, True, (True, False, True)),
    (ON, ON, True, (False, True, True)),
    (OFF, OFF, True, (False, False, True)),
    (ON, None, True, (True, None, True)),
    # efivarfs not mounted or no SecureBoot variable: EFI only if the firmware directory exists
    (None, None, True, (None, None, True)),
    (None, None, False, (False, None, False)),
    (b"\x06\x00", None, False, (False, None, False)),
])
def test_secure_boot_from_firmware(secureboot, setupmode, efi_dir, expected):
    state = rd.secure_boot_from_firmware(secureboot, setupmode, efi_dir)
    assert (state["enabled"], state["setup_mode"], state["efi"]) == expected
    assert state["source"] == "efivars" and state["shim_validation"] is None


# ---------------------------------------------------------------------------------------------
# crashkernel= default

DEBIAN12 = 'ID=debian\nVERSION_ID="12"\n'
MEMINFO_1G = "MemTotal:        1000000 kB\n"
MEMINFO_2G = "MemTotal:        2000000 kB\n"
MEMINFO_16G = "MemTotal:       16000000 kB\n"


@pytest.mark.parametrize("os_release,machine,meminfo,reserved,recommended,recommended_mb", [
    (DEBIAN12, "x86_64", MEMINFO_2G, 256 * M, "384M-:128M", 128),
    # amd64 is the Debian spelling of x86_64
    (DEBIAN12, "amd64", MEMINFO_2G, 0, "384M-:128M", 128),
    (DEBIAN12, "aarch64", MEMINFO_16G, 512 * M, "2G-4G:320M,4G-32G:512M,32G-64G:1024M,64G-128G:2048M,128G-:4096M",
     512),
    # below the first range: nothing reserved
    (DEBIAN12, "aarch64", MEMINFO_1G, 0,
     "2G-4G:320M,4G-32G:512M,32G-64G:1024M,64G-128G:2048M,128G-:4096M", 0),
    ('ID="rhel"\nVERSION_ID="9.4"\n', "x86_64", MEMINFO_16G, 0, "1G-4G:192M,4G-64G:256M,64G-:512M", 256),
])
def test_crashkernel_default(os_release, machine, meminfo, reserved, recommended, recommended_mb):
    result = rd.crashkernel_default(os_release, machine, None, meminfo, reserved)
    assert result["recommended"] == recommended
    assert result["recommended_mb"] == recommended_mb
    assert result["reserved_mb"] == reserved // M
    assert result["source"] and "error" not in result


@pytest.mark.parametrize("os_release,words", [
    (None, "distribution ''"),
    ("ID=arch\n", "distribution 'arch'"),
    ('ID=debian\nVERSION_ID="11"\n', "debian 11"),
])
def test_crashkernel_default_without_published_default(os_release, words):
    result = rd.crashkernel_default(os_release, "x86_64", None, MEMINFO_2G, 128 * M)
    assert result == {"reserved_mb": 128, "error": result["error"]}
    assert words in result["error"]


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


# ---------------------------------------------------------------------------------------------
# advisories: known gaps of makedumpfile's page filtering

DEBIAN13_KERNEL = "6.12.118+deb13-amd64\n"  # /proc/sys/kernel/osrelease of the lab's Debian 13 VM


@pytest.mark.parametrize("version,kernel,level,advised", [
    # Debian 13: kernel 6.12 with makedumpfile 1.7.6 (its dumps in the lab held the free pages)
    ("1.7.6", DEBIAN13_KERNEL, 31, True),
    ("1.7.6", "7.0.3-1-default", 31, True),
    ("1.7.5", "6.12.0", 16, True),
    # the fixed release, an older kernel, or a level that keeps free pages anyway: nothing to say
    ("1.7.7", DEBIAN13_KERNEL, 31, False),
    ("1.8.0", "6.17.1", 31, False),
    ("1.7.6", "6.11.10", 31, False),
    ("1.7.2", "6.1.0-57-amd64", 31, False),
    ("1.7.6", DEBIAN13_KERNEL, 15, False),
    ("1.7.6", DEBIAN13_KERNEL, 0, False),
    # what cannot be read is not guessed at
    ("1.7.6", None, 31, False),
    ("1.7.6", "", 31, False),
    ("git-snapshot", DEBIAN13_KERNEL, 31, False),
    (None, DEBIAN13_KERNEL, 31, False),
    ("1.7.6", DEBIAN13_KERNEL, None, False),
    ("1.7.6", DEBIAN13_KERNEL, True, False),
    ("1.7.6", DEBIAN13_KERNEL, "31", False),
])
def test_advisories(version, kernel, level, advised):
    makedumpfile = None if version is None else dict(MAKEDUMPFILE, version=version)
    found = rd.advisories(report(makedumpfile=makedumpfile, config={"dump_level": level}), kernel)
    assert len(found) == (1 if advised else 0), found
    if advised:
        text = found[0]
        assert text.startswith("makedumpfile %s cannot tell free pages on Linux 6.12 and later" % version)
        assert "makedumpfile/makedumpfile#16" in text and "1.7.7 or later" in text
        assert "on kernel %s, dump level %d keeps those pages" % (kernel.strip(), level) in text


def test_advisories_without_a_makedumpfile_section():
    assert rd.advisories(report(makedumpfile=None), DEBIAN13_KERNEL) == []


@pytest.mark.parametrize("text,expected", [
    ("1.7.6", (1, 7, 6)),
    ("6.12.118+deb13-amd64", (6, 12, 118)),
    ("5.14.0-427.13.1.el9_4.x86_64", (5, 14, 0)),
    ("6.4.0-150600.23.25-default", (6, 4, 0)),
    ("1.2.3.4.5", (1, 2, 3, 4)),
    ("1234567.1", None),
    ("1.7.6\n", (1, 7, 6)),
    ("v1.7.6", None),
    ("", None),
    (None, None),
    (17, None),
    ("9" * 100000, None),
])
def test_version_tuple(text, expected):
    assert rd.version_tuple(text) == expected
