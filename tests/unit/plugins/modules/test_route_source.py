# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the real route_source main() against this host's own routes: loopback addresses, the
limited broadcast address (to which a datagram socket has no usable route), and `ip route get`."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import re
import shutil
import socket
import subprocess

import pytest

from ansible_collections.crashkit.kdump.plugins.modules import route_source as module
from ansible_collections.crashkit.kdump.tests.unit.plugins import module_run


run_module = functools.partial(module_run.run_module, module)


@pytest.mark.parametrize("args,expected", [
    ({"server": "127.0.0.1"}, "127.0.0.1"),
    # any 127/8 address goes over lo, from 127.0.0.1; the port is only given to the lookup
    ({"server": "127.0.0.2", "port": 22}, "127.0.0.1"),
    ({"server": "127.0.0.1", "required": False}, "127.0.0.1"),
])
def test_the_route_source_of_a_loopback_server(capsys, args, expected):
    for check_mode in (False, True):
        result = run_module(capsys, args, check_mode=check_mode)
        assert result["rc"] == 0 and not result.get("failed")
        assert result["changed"] is False
        assert result["source_address"] == expected


def _ip_route_source(address):
    out = subprocess.run([shutil.which("ip"), "-o", "route", "get", address], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, universal_newlines=True, check=False).stdout
    found = re.search(r" src (\S+)", out)
    return found.group(1) if found else ""


@pytest.mark.skipif(shutil.which("ip") is None, reason="no ip(8) to compare with")
def test_a_remote_server_gets_what_ip_route_says(capsys):
    # 192.0.2.1 (TEST-NET-1) is never this host's: the address of the route out (the default
    # route's, or a connected network's); without a route, the failure
    expected = _ip_route_source("192.0.2.1")
    result = run_module(capsys, {"server": "192.0.2.1", "required": False})
    assert result["rc"] == 0 and result["source_address"] == expected


def test_no_route_fails_naming_the_server_unless_not_required(capsys):
    # a datagram socket may not be connected to the limited broadcast address (EACCES without
    # SO_BROADCAST): a real case of "no route the server could see this host on"
    failed = run_module(capsys, {"server": "255.255.255.255"})
    assert failed["rc"] == 1 and failed["failed"]
    assert "no route from this host to the server '255.255.255.255' (port 2049)" in failed["msg"]
    assert "required=false" in failed["msg"]
    assert "source_address" not in failed
    for check_mode in (False, True):
        optional = run_module(capsys, {"server": "255.255.255.255", "required": False}, check_mode=check_mode)
        assert optional["rc"] == 0 and not optional.get("failed")
        assert optional["changed"] is False and optional["source_address"] == ""


def test_a_name_that_does_not_resolve_fails_even_when_not_required(capsys, monkeypatch):
    # no real lookup: a test host may have no resolver at all, or a slow one
    def no_such_name(*_args):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    for required in (True, False):
        result = run_module(capsys, {"server": "nowhere.invalid", "required": required})
        assert result["rc"] == 1 and result["failed"]
        assert "cannot resolve the dump server 'nowhere.invalid'" in result["msg"]


@pytest.mark.parametrize("args,message", [
    ({"server": ""}, "server must be a host name or an address"),
    ({"server": "127.0.0.1", "port": 0}, "port must be 1 to 65535, got 0"),
    ({"server": "127.0.0.1", "port": 65536}, "port must be 1 to 65535, got 65536"),
    ({}, "missing required arguments: server"),
])
def test_bad_options_fail(capsys, args, message):
    result = run_module(capsys, args)
    assert result["rc"] == 1 and result["failed"] and message in result["msg"]
