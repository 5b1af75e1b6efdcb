# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import given, settings, strategies as st

from ansible_collections.crashkit.kdump.plugins.filter.crashkernel import FilterModule, crashkernel_mb


def test_registered():
    assert FilterModule().filters()["crashkernel_mb"] is crashkernel_mb


@pytest.mark.parametrize("value, ram, args, expected", [
    ("384M-:128M", 1024, (), 128),
    ("384M-:128M", 256, (), 0),
    ("crashkernel=256M", 4096, (), 256),
    ("  256M ", 4096, (), 256),
    ("256M", 256, (), 0),
    ("1G-4G:192M,4G-64G:256M,64G-:512M", 65536, (), 512),
    ("1G-4G:192M,4G-64G:256M,64G-:512M", 65535, (), 512),       # rounded up to 64G
    ("1G-4G:192M,4G-64G:256M,64G-:512M", 65535, ("x86_64", False), 256),
    ("1G-2G:160M", 1023, (), 160),
    ("1G-2G:160M", "1023", (), 160),
    ("512M,high", 8192, (), 512),
    ("72M,low", 8192, (), 0),
    ("auto", 2048, ("aarch64",), 448),
    ("auto", 2048, (), 160),
])
def test_crashkernel_mb(value, ram, args, expected):
    assert crashkernel_mb(value, ram, *args) == expected


@pytest.mark.parametrize("value, ram, message", [
    ("2G-1G:64M", 4096, "the end 1G is not above the start 2G"),
    ("junk", 4096, "invalid crashkernel value 'junk'"),
    (256, 4096, "expects a crashkernel value string"),
    ("256M", "lots", "total_memory_mb must be a number"),
    ("256M", -1, "must not be negative"),
])
def test_crashkernel_mb_errors(value, ram, message):
    with pytest.raises(AnsibleFilterError, match=message):
        crashkernel_mb(value, ram)


def test_auto_unknown_arch_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match="no RHEL 8 table"):
        crashkernel_mb("auto", 4096, "riscv64")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.integers(min_value=0, max_value=1 << 24))
def test_any_input_gives_int_or_filter_error(value, ram):
    try:
        result = crashkernel_mb(value, ram)
    except AnsibleFilterError:
        return
    assert isinstance(result, int) and 0 <= result < max(ram, 1)
