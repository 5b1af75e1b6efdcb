# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.crashkit.kdump.plugins.module_utils import _cmdline
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError, ValidationError


@pytest.mark.parametrize("text, args", [
    ("", []),
    ("   ", []),
    ("quiet", ["quiet"]),
    ("ro  quiet\tsplash\n", ["ro", "quiet", "splash"]),
    ('foo="a b" bar', ['foo="a b"', "bar"]),
    ('"foo=a b" bar', ['"foo=a b"', "bar"]),
    ('a -- init arg', ["a", "--", "init", "arg"]),
    ('x="unterminated y', ['x="unterminated y']),
])
def test_split(text, args):
    assert _cmdline.split(text) == args


@pytest.mark.parametrize("arg, parsed", [
    ("quiet", ("quiet", None)),
    ("crashkernel=256M", ("crashkernel", "256M")),
    ("crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M", ("crashkernel", "1G-4G:192M,4G-64G:256M,64G-:512M")),
    ('foo="a b"', ("foo", "a b")),
    ('"foo=a b"', ("foo", "a b")),
    ("foo=", ("foo", "")),
    ("foo=a=b", ("foo", "a=b")),
])
def test_parse_arg(arg, parsed):
    assert _cmdline.parse_arg(arg) == parsed


@pytest.mark.parametrize("name, value, arg", [
    ("quiet", None, "quiet"),
    ("crashkernel", "256M", "crashkernel=256M"),
    ("foo", "a b", 'foo="a b"'),
    ("foo", "", "foo="),
])
def test_format_arg(name, value, arg):
    assert _cmdline.format_arg(name, value) == arg
    assert _cmdline.parse_arg(arg) == (name, value)


@pytest.mark.parametrize("name, value", [
    ("", None), ("a b", None), ("a=b", None), ('a"', None), ("--", None), ("$kernelopts", None),
    ("foo", 'a"b'), ("foo", "a\nb"),
])
def test_invalid_arguments(name, value):
    with pytest.raises(ValidationError):
        _cmdline.format_arg(name, value)


def test_names_compare_dash_and_underscore():
    assert _cmdline.find(["nmi-watchdog=1", "nmi_watchdog=0", "other"], "nmi_watchdog") == [0, 1]


def test_find_stops_at_double_dash():
    assert _cmdline.find(["crashkernel=1G", "--", "crashkernel=2G"], "crashkernel") == [0]


@pytest.mark.parametrize("text, name, value, state, expected", [
    # present: append, replace the last occurrence in place, drop the others
    ("ro quiet", "crashkernel", "256M", "present", "ro quiet crashkernel=256M"),
    ("ro crashkernel=1G quiet", "crashkernel", "256M", "present", "ro crashkernel=256M quiet"),
    ("crashkernel=1G ro crashkernel=2G quiet", "crashkernel", "256M", "present", "ro crashkernel=256M quiet"),
    ("ro crashkernel=256M quiet", "crashkernel", "256M", "present", "ro crashkernel=256M quiet"),
    ("", "quiet", None, "present", "quiet"),
    ("ro quiet=1", "quiet", None, "present", "ro quiet"),
    ("ro  quiet\n", "foo", "a b", "present", 'ro  quiet foo="a b"\n'),
    ("ro -- single", "crashkernel", "1G", "present", "ro crashkernel=1G -- single"),
    # absent: every occurrence, or only those with the value
    ("ro crashkernel=1G quiet crashkernel=2G", "crashkernel", None, "absent", "ro quiet"),
    ("crashkernel=1G ro", "crashkernel", None, "absent", "ro"),
    ("ro crashkernel=1G crashkernel=2G", "crashkernel", "1G", "absent", "ro crashkernel=2G"),
    ("ro quiet", "crashkernel", None, "absent", "ro quiet"),
    ("ro -- crashkernel=1G", "crashkernel", None, "absent", "ro -- crashkernel=1G"),
])
def test_edit(text, name, value, state, expected):
    assert _cmdline.edit(text, name, value, state) == expected
    # a second edit changes nothing
    assert _cmdline.edit(expected, name, value, state) == expected


def test_edit_inserts_before_trailing_variables():
    text = "root=/dev/sda ro $tuned_params"
    assert _cmdline.edit(text, "crashkernel", "1G", insert_before_vars=True) == (
        "root=/dev/sda ro crashkernel=1G $tuned_params"
    )


@pytest.mark.parametrize("text, found", [
    ("ro crashkernel=1G crashkernel=2G", (True, "2G")),
    ("ro quiet", (False, None)),
    ("ro crashkernel", (True, None)),
])
def test_get_returns_last_occurrence(text, found):
    assert _cmdline.get(text, "crashkernel") == found


@pytest.mark.parametrize("running, effective, name, changed, required", [
    ("ro crashkernel=256M quiet\n", "ro quiet crashkernel=256M", "crashkernel", True, False),
    ("ro nmi-watchdog=1\n", "ro nmi_watchdog=1", "nmi_watchdog", True, False),
    ("ro crashkernel=256M\n", "ro crashkernel=512M", "crashkernel", False, True),
    ("ro crashkernel=1G crashkernel=256M\n", "ro crashkernel=256M", "crashkernel", True, False),
    ("ro crashkernel=256M\n", "ro", "crashkernel", False, True),
    ("ro\n", "ro crashkernel=256M", "crashkernel", False, True),
    ("ro quiet\n", "ro", "quiet", False, True),
    ("ro crashkernel\n", "ro crashkernel=", "crashkernel", False, True),
    ("ro -- crashkernel=256M\n", "ro crashkernel=256M", "crashkernel", False, True),
    ("ro quiet\n", "ro", "crashkernel", True, False),
    (None, "ro crashkernel=256M", "crashkernel", True, True),
    (None, "ro crashkernel=256M", "crashkernel", False, False),
])
def test_reboot_required(running, effective, name, changed, required):
    assert _cmdline.reboot_required(running, effective, name, changed) is required


ARG = st.text(alphabet="abcdefgh=_-.:,0123456789", min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    args=st.lists(ARG, max_size=8),
    name=st.sampled_from(["crashkernel", "quiet", "a", "b_c"]),
    value=st.one_of(st.none(), st.text(alphabet="xyz0123 ,:", max_size=6)),
    state=st.sampled_from(["present", "absent"]),
)
def test_edit_property(args, name, value, state):
    text = " ".join(args)
    new = _cmdline.edit(text, name, value, state)
    new_args = _cmdline.split(new)
    assert _cmdline.is_satisfied(new_args, name, value, state)

    def others(items):
        return [a for a in items if not _cmdline.matches(a, name)]

    if state == "present" or value is None:
        assert others(new_args) == others(args)
    assert _cmdline.edit(new, name, value, state) == new


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=40), name=st.text(max_size=6), value=st.one_of(st.none(), st.text(max_size=6)))
def test_edit_never_crashes(text, name, value):
    try:
        _cmdline.edit(text, name, value, "present")
    except KdumpError:
        pass
