# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""linux-system-roles/kdump variables -> the setup role's: every mapping, every refusal."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.crashkit.kdump.plugins.module_utils import _kdumpconf as kc
from ansible_collections.crashkit.kdump.plugins.module_utils import _lsr
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError, ValidationError

DEFAULTS = _lsr.CRASHKIT_DEFAULTS
UUID = "12e3e25f-534e-4007-a40c-e7e080a933ad"


def mapped(given, current=None, family="redhat", major=9):
    result = _lsr.map_lsr(given, current, family, major)
    assert result["mapped"]
    return dict((k, v) for k, v in result["vars"].items() if v != DEFAULTS[k])


@pytest.mark.parametrize("given", [
    {},
    {"kdump_target": {"type": "local", "path": "/var/crash"}},
    {"kdump_target": {"type": "ssh", "host": "d", "user": "u"}, "kdump_reboot_ok": True},
    {"kdump_path": None, "kdump_core_collector": None, "kdump_ssh_user": None},
])
def test_crashkit_variables_alone_are_left_alone(given):
    result = _lsr.map_lsr(given, {"kdump_failure_action": "halt"}, "redhat", 9)
    assert result == {"mapped": False, "notices": [],
                      "vars": dict(DEFAULTS, kdump_failure_action="halt")}


@pytest.mark.parametrize("given,family,major,expected", [
    ({"kdump_target": None}, "redhat", 9, {}),
    ({"kdump_target": None, "kdump_path": "/srv/crash/"}, "debian", 12,
     {"kdump_target": {"type": "local", "path": "/srv/crash"}}),
    ({"kdump_path": "/srv/crash"}, "redhat", 9, {"kdump_target": {"type": "local", "path": "/srv/crash"}}),
    ({"kdump_target": {"type": "ssh", "location": "kdump@dumps"}}, "redhat", 9,
     {"kdump_target": {"type": "ssh", "user": "kdump", "host": "dumps", "path": "/var/crash"}}),
    ({"kdump_target": {"type": "ssh"}, "kdump_ssh_user": "kdump", "kdump_ssh_server": "dumps",
      "kdump_sshkey": "/root/.ssh/other"}, "redhat", 9,
     {"kdump_target": {"type": "ssh", "user": "kdump", "host": "dumps", "path": "/var/crash",
                       "ssh_key": "/root/.ssh/other"}}),
    ({"kdump_target": {"type": "ssh", "location": "kdump@dumps"}, "kdump_ssh_key": "/root/.ssh/kdump_id_rsa"},
     "redhat", 9, {"kdump_target": {"type": "ssh", "user": "kdump", "host": "dumps", "path": "/var/crash"}}),
    ({"kdump_target": {"type": "nfs", "location": "filer:/export"}, "kdump_path": "/var/crash"}, "redhat", 8,
     {"kdump_target": {"type": "nfs", "host": "filer", "path": "/export/var/crash"}}),
    ({"kdump_target": {"type": "nfs", "location": "[fd00::5]:/export"}, "kdump_path": "/"}, "suse", 15,
     {"kdump_target": {"type": "nfs", "host": "fd00::5", "path": "/export"}}),
    ({"kdump_target": {"type": "raw", "location": "/dev/sdb1"}}, "redhat", 9,
     {"kdump_target": {"type": "device", "fstype": "raw", "device": "/dev/sdb1"}}),
    ({"kdump_target": {"type": "xfs", "location": "LABEL=crash"}, "kdump_path": "/dumps"}, "redhat", 10,
     {"kdump_target": {"type": "device", "fstype": "xfs", "device": "LABEL=crash", "path": "/dumps"}}),
    ({"kdump_target": {"type": "ext4", "location": UUID}}, "redhat", 9,
     {"kdump_target": {"type": "device", "fstype": "ext4", "device": "UUID=" + UUID, "path": "/var/crash"}}),
    ({"kdump_core_collector": "makedumpfile -l --message-level 7 -d 31"}, "redhat", 9,
     {"kdump_compression": "lzo"}),
    ({"kdump_core_collector": "/usr/sbin/makedumpfile -F -z -d 17 --num-threads 4"}, "redhat", 9,
     {"kdump_compression": "zstd", "kdump_dump_level": 17, "kdump_extra_collector_args": "--num-threads 4"}),
    ({"kdump_core_collector": "makedumpfile -c"}, "debian", 12, {"kdump_compression": "zlib", "kdump_dump_level": 0}),
    ({"kdump_system_action": "shell"}, "redhat", 9, {"kdump_failure_action": "shell"}),
    ({"kdump_auto_reset_crashkernel": False}, "redhat", 9,
     {"kdump_extra_options": {"auto_reset_crashkernel": "no"}}),
    ({"kdump_auto_reset_crashkernel": True}, "redhat", 8, {}),
    ({"kdump_auto_reset_crashkernel": True}, "suse", 15, {}),
    ({"kdump_dracut_args": "--omit-drivers nouveau"}, "redhat", 8,
     {"kdump_extra_options": {"dracut_args": "--omit-drivers nouveau"}}),
    ({"kdump_dracut_args": "--omit-drivers nouveau"}, "debian", 12, {}),
])
def test_mapping(given, family, major, expected):
    assert mapped(given, None, family, major) == expected


def test_every_mapping_has_a_notice():
    result = _lsr.map_lsr({"kdump_target": {"type": "ssh", "location": "u@h"}, "kdump_path": "/p",
                           "kdump_system_action": "halt", "kdump_auto_reset_crashkernel": True,
                           "kdump_dracut_args": "-a", "kdump_core_collector": "makedumpfile -l -d 31"},
                          {}, "redhat", 9)
    text = "\n".join(result["notices"])
    for word in ("kdump_target {type: ssh, location: u@h}", "kdump_dump_servers", "kdump_core_collector",
                 "kdump_system_action: halt -> kdump_failure_action: halt",
                 "kdump_auto_reset_crashkernel: true -> kdump_extra_options.auto_reset_crashkernel: yes",
                 "kdump_dracut_args: -a -> kdump_extra_options.dracut_args"):
        assert word in text


@pytest.mark.parametrize("given,current,message", [
    ({"kdump_core_collector": "scp"}, {}, "only makedumpfile collectors are modelled; use kdump_compression"),
    ({"kdump_core_collector": "cp --sparse=always"}, {}, "only makedumpfile"),
    ({"kdump_target": {"type": "virtiofs", "location": "tag"}}, {}, "crashkit's kdump_target.type is one of"),
    ({"kdump_target": {"type": "ssh", "location": "dumps"}}, {}, "needs location user@host"),
    ({"kdump_target": {"type": "nfs", "location": "filer"}}, {}, "needs location host:/export"),
    ({"kdump_target": {"type": "raw"}}, {}, "needs location (the device)"),
    ({"kdump_target": {"type": "ssh", "location": "u@h", "port": 2222}}, {}, "takes type and location only"),
    ({"kdump_target": "ssh"}, {}, "must be a dict or null"),
    ({"kdump_path": "var/crash"}, {}, "kdump_path must be an absolute path"),
    ({"kdump_system_action": "explode"}, {}, "kdump_failure_action"),
    ({"kdump_auto_reset_crashkernel": "yes"}, {}, "must be true or false"),
    ({"kdump_system_action": "halt"}, {"kdump_failure_action": "poweroff"},
     "kdump_system_action and kdump_failure_action are both set"),
    ({"kdump_core_collector": "makedumpfile -c -d 1"}, {"kdump_dump_level": 17},
     "kdump_core_collector and kdump_dump_level are both set"),
    ({"kdump_dracut_args": "-a"}, {"kdump_extra_options": {"dracut_args": "-b"}},
     "kdump_extra_options.dracut_args (-b) and its linux-system-roles variable (-a) are both set"),
    ({"kdump_path": "/p"}, {"kdump_target": {"type": "local", "path": "/q"}},
     "kdump_path (/p) and kdump_target.path (/q) are both set"),
    ({"kdump_ssh_user": "u"}, {"kdump_target": {"type": "ssh", "host": "h", "user": "v"}},
     "put the user in kdump_target.user"),
    ({"kdump_sshkey": "/a", "kdump_ssh_key": "/b", "kdump_target": {"type": "ssh", "location": "u@h"}}, {},
     "kdump_sshkey and kdump_ssh_key are both set"),
])
def test_refusals_name_the_crashkit_equivalent(given, current, message):
    with pytest.raises(ValidationError) as error:
        _lsr.map_lsr(given, current, "redhat", 9)
    assert message in str(error.value)
    assert "docs/migration-from-lsr.md" in str(error.value)


def test_same_value_on_both_sides_is_no_conflict():
    assert mapped({"kdump_system_action": "halt"}, {"kdump_failure_action": "halt"}) == {"kdump_failure_action": "halt"}
    assert mapped({"kdump_core_collector": "makedumpfile -c -d 31"}, {"kdump_dump_level": "31"}) == {
        "kdump_compression": "zlib"}


@pytest.mark.parametrize("given,family", [
    ({"kdump_target": {"type": "ssh", "location": "kdump@dumps.example.net"}, "kdump_path": "/srv/crash",
      "kdump_core_collector": "makedumpfile -l --message-level 7 -d 31", "kdump_system_action": "halt"}, "redhat"),
    ({"kdump_target": {"type": "nfs", "location": "filer:/export"}, "kdump_system_action": "poweroff"}, "debian"),
    ({"kdump_target": {"type": "ext4", "location": UUID}, "kdump_path": "/dumps"}, "redhat"),
    ({"kdump_target": None, "kdump_path": "/var/crash", "kdump_system_action": "shell"}, "suse"),
])
def test_mapped_variables_are_valid_kdump_config_settings(given, family):
    """What the mapping gives passes kdump_config's own validation for that family."""
    result = _lsr.map_lsr(given, {}, family, 9)["vars"]
    settings_ = kc.build_settings(family, target=result["kdump_target"], dump_level=result["kdump_dump_level"],
                                  compression=result["kdump_compression"],
                                  extra_collector_args=result["kdump_extra_collector_args"],
                                  failure_action=result["kdump_failure_action"],
                                  extra_options=result["kdump_extra_options"])
    assert kc.render(settings_)


_values = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=30),
                    st.dictionaries(st.sampled_from(["type", "location", "path", "host", "user"]),
                                    st.one_of(st.none(), st.text(max_size=20), st.sampled_from(
                                        ["ssh", "nfs", "raw", "ext4", "u@h", "h:/e", "/dev/sda1"])), max_size=3))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(_lsr.LSR_VARIABLES), _values, max_size=5),
       st.sampled_from(["redhat", "debian", "suse"]), st.one_of(st.none(), st.integers(min_value=7, max_value=11)))
def test_any_variables_give_a_mapping_or_a_domain_error(given_vars, family, major):
    try:
        result = _lsr.map_lsr(given_vars, {}, family, major)
    except KdumpError:
        return
    assert set(result["vars"]) == set(DEFAULTS)
