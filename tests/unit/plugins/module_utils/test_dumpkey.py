# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of the dump key: type choice, key lines, known_hosts pinning, probe answers."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import hmac
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.crashkit.kdump.plugins.module_utils import _dumpkey as dk
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import (
    KdumpError,
    ParseError,
    ValidationError,
)

ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
ED2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB4K5ROB9kNHa+K3TnN1wEDfDxDz4M4UDHmQ3vfRf0nG"
RSA = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDc"
ECDSA = ("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxk"
         "ZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WGZ3mUdAgEMnqs=")
ED_KEY = tuple(ED.split())
ED2_KEY = tuple(ED2.split())
ECDSA_KEY = tuple(ECDSA.split())


@pytest.mark.parametrize("requested,supported,fips,expected", [
    ("auto", {"ssh-ed25519", "ssh-rsa"}, False, "ed25519"),
    ("auto", None, False, "ed25519"),
    ("auto", {"ssh-rsa", "ssh-dss"}, False, "rsa"),
    ("auto", {"ssh-ed25519", "ssh-rsa"}, True, "rsa"),
    ("rsa", {"ssh-ed25519", "ssh-rsa"}, False, "rsa"),
    ("ed25519", {"ssh-ed25519"}, False, "ed25519"),
    ("ed25519", None, False, "ed25519"),
])
def test_choose_key_type(requested, supported, fips, expected):
    assert dk.choose_key_type(requested, supported, fips)[0] == expected


@pytest.mark.parametrize("requested,supported,fips,message", [
    ("ed25519", {"ssh-ed25519"}, True, "FIPS"),
    ("ed25519", {"ssh-rsa"}, False, "does not support"),
    ("dsa", None, False, "must be auto"),
])
def test_choose_key_type_refusals(requested, supported, fips, message):
    with pytest.raises(ValidationError) as info:
        dk.choose_key_type(requested, supported, fips)
    assert message in str(info.value)


def test_parse_key_types_from_the_real_ssh():
    out = subprocess.run(["ssh", "-Q", "key"], stdout=subprocess.PIPE, universal_newlines=True,
                         check=True).stdout
    types = dk.parse_key_types(out)
    assert "ssh-ed25519" in types and "ssh-rsa" in types


def test_keygen_argv():
    assert dk.keygen_argv("/usr/bin/ssh-keygen", "ed25519", "/root/.ssh/k", "c@h") == [
        "/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "c@h", "-f", "/root/.ssh/k"]
    assert dk.keygen_argv("ssh-keygen", "rsa", "k", "c")[4:6] == ["-b", "4096"]


@pytest.mark.parametrize("line,expected", [
    (ED, ("ssh-ed25519", ED.split()[1], "")),
    (ED + " root@dumps\n", ("ssh-ed25519", ED.split()[1], "root@dumps")),
    (ED + " crashkit kdump key", ("ssh-ed25519", ED.split()[1], "crashkit kdump key")),
    (ECDSA, ("ecdsa-sha2-nistp256", ECDSA.split()[1], "")),
])
def test_parse_public_key(line, expected):
    assert dk.parse_public_key(line) == expected


@pytest.mark.parametrize("line,message", [
    ("", "one line"),
    (ED + "\n" + ED2, "one line"),
    ("ssh-ed25519", "no base64"),
    ("ssh-foo AAAA", "unknown SSH key type"),
    ('command="x" ' + ED, "unknown SSH key type"),
    ("ssh-ed25519 AAA$", "not base64"),
    ("ssh-ed25519 AAAA=", "not base64"),
    ("ssh-rsa " + ED.split()[1], "is a ssh-ed25519 key, not ssh-rsa"),
    ("ssh-ed25519 QUJD", "broken"),
    (None, "must be a string"),
])
def test_parse_public_key_refusals(line, message):
    with pytest.raises(ParseError) as info:
        dk.parse_public_key(line)
    assert message in str(info.value)


def test_fingerprint_matches_ssh_keygen(tmp_path):
    path = tmp_path / "k.pub"
    path.write_text(ED + " test\n")
    out = subprocess.run(["ssh-keygen", "-l", "-f", str(path)], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout
    assert out.split()[1] == dk.fingerprint(ED.split()[1])


@pytest.mark.parametrize("host,port,expected", [
    ("dumps.example.net", 22, "dumps.example.net"),
    ("10.0.0.1", 2222, "[10.0.0.1]:2222"),
    ("fd00::1", 22, "fd00::1"),
    ("fd00::1", 2200, "[fd00::1]:2200"),
])
def test_known_hosts_name(host, port, expected):
    assert dk.known_hosts_name(host, port) == expected


@pytest.mark.parametrize("host,port", [("", 22), ("a b", 22), ("x;id", 22), ("h", 0), ("h", 70000),
                                       (None, 22), ("-oProxyCommand=x", 22)])
def test_known_hosts_name_refusals(host, port):
    with pytest.raises(ValidationError):
        dk.known_hosts_name(host, port)


def hashed(name, salt=b"0123456789abcdefghij"):
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return "|1|%s|%s" % (base64.b64encode(salt).decode(), base64.b64encode(digest).decode())


OTHER = "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"


@pytest.mark.parametrize("label,before,keys,after,added,removed", [
    ("empty file", None, [ED], "dumps %s %s\n" % ED_KEY, 1, 0),
    ("keeps others", OTHER, [ED, ECDSA],
     OTHER + "dumps %s %s\ndumps %s %s\n" % (ED_KEY + ECDSA_KEY), 2, 0),
    ("already pinned", "# c\n" + "dumps %s %s\n" % ED_KEY + OTHER, [ED], "# c\n" + "dumps %s %s\n" % ED_KEY + OTHER,
     0, 0),
    ("stale key replaced", "dumps %s %s\n" % ED2_KEY + OTHER, [ED], OTHER + "dumps %s %s\n" % ED_KEY, 1, 1),
    ("hashed stale entry removed", "%s %s %s\n" % ((hashed("dumps"),) + ED2_KEY) + OTHER, [ED],
     OTHER + "dumps %s %s\n" % ED_KEY, 1, 1),
    ("hashed other host kept", "%s %s %s\n" % ((hashed("other"),) + ED2_KEY), [ED],
     "%s %s %s\n" % ((hashed("other"),) + ED2_KEY) + "dumps %s %s\n" % ED_KEY, 1, 0),
    ("multi-host line split", "dumps,10.0.0.9 %s %s\n" % ED_KEY, [ED],
     "10.0.0.9 %s %s\ndumps %s %s\n" % (ED_KEY + ED_KEY), 1, 1),
    ("case-insensitive", "DUMPS %s %s\n" % ED2_KEY, [ED], "dumps %s %s\n" % ED_KEY, 1, 1),
    ("markers untouched", "@cert-authority dumps %s %s\n@revoked dumps %s %s\n" % (ED2_KEY + ED2_KEY), [ED],
     "@cert-authority dumps %s %s\n@revoked dumps %s %s\n" % (ED2_KEY + ED2_KEY) + "dumps %s %s\n" % ED_KEY,
     1, 0),
    ("no final newline", OTHER.rstrip("\n"), [ED], OTHER + "dumps %s %s\n" % ED_KEY, 1, 0),
    ("duplicate wanted key", "dumps %s %s\ndumps %s %s\n" % (ED_KEY + ED_KEY), [ED, ED + " c"],
     "dumps %s %s\n" % ED_KEY, 0, 1),
    ("comments in wanted keys ignored", None, [ED + " root@dumps"], "dumps %s %s\n" % ED_KEY, 1, 0),
    ("other port is another host", "[dumps]:2222 %s %s\n" % ED2_KEY, [ED],
     "[dumps]:2222 %s %s\ndumps %s %s\n" % (ED2_KEY + ED_KEY), 1, 0),
])
def test_pin_known_hosts(label, before, keys, after, added, removed):
    text, got_added, got_removed = dk.pin_known_hosts(before, "dumps", keys)
    assert text == after
    assert (len(got_added), len(got_removed)) == (added, removed)
    again = dk.pin_known_hosts(text, "dumps", keys)
    assert again == (text, [], [])


def test_pin_needs_a_key():
    with pytest.raises(ValidationError):
        dk.pin_known_hosts(OTHER, "dumps", [])


def test_entries_for_reads_plain_and_hashed_lines():
    text = "dumps %s %s\n%s %s %s\n" % (ED_KEY + (hashed("dumps"),) + ECDSA_KEY) + OTHER
    assert dk.entries_for(text, "dumps") == [ED_KEY, ECDSA_KEY]
    assert dk.entries_for(text, "nothere") == []
    assert dk.entries_for(None, "dumps") == []


def test_pinned_file_is_accepted_by_ssh_keygen(tmp_path):
    text, _a, _r = dk.pin_known_hosts(OTHER, "[10.0.0.1]:2222", [ED, ECDSA])
    path = tmp_path / "known_hosts"
    path.write_text(text)
    out = subprocess.run(["ssh-keygen", "-F", "[10.0.0.1]:2222", "-f", str(path)],
                         stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    assert ED.split()[1] in out and ECDSA.split()[1] in out


@pytest.mark.parametrize("stdout,expected", [
    ("crashkit-probe ok host=web1 path=/var/crash avail_kib=123\n",
     {"host": "web1", "path": "/var/crash", "avail_kib": 123}),
])
def test_probe_result(stdout, expected):
    assert dk.probe_result(stdout) == expected


@pytest.mark.parametrize("stdout", ["", "uid=0(root)", "crashkit-probe ok host=web1", None])
def test_probe_result_refusals(stdout):
    with pytest.raises(ParseError):
        dk.probe_result(stdout)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_any_public_key_text_parses_or_raises_a_domain_error(text):
    try:
        dk.parse_public_key(text)
    except KdumpError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([OTHER, "dumps %s %s\n" % ED2_KEY, "dumps %s %s\n" % ED_KEY,
                                 "# comment\n", "\n", "garbage\n", "@revoked dumps x y\n",
                                 "dumps,h2 %s %s\n" % ED2_KEY, "%s %s %s\n" % ((hashed("dumps"),) + ED2_KEY)]),
                max_size=8))
def test_pinning_is_idempotent_and_exact(lines):
    text, _a, _r = dk.pin_known_hosts("".join(lines), "dumps", [ED])
    assert dk.entries_for(text, "dumps") == [ED_KEY]
    assert dk.pin_known_hosts(text, "dumps", [ED]) == (text, [], [])
