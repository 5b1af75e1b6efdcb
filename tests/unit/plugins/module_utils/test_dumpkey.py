# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of the dump key: type choice, key lines, known_hosts pinning, probe answers."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import hmac
import re
import shutil
import socket
import subprocess
import time

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.crashkit.kdump.plugins.module_utils import _dumpkey as dk
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import (
    HostError,
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


# ---------------------------------------------------------------------------------------------
# the ssh command line of the connectivity check


def test_ssh_argv_is_the_capture_environments_ssh():
    argv = dk.ssh_argv("/usr/bin/ssh", "/root/.ssh/kdump_id_ed25519", "kdumprecv", "dumps.example.net",
                       22, "/root/.ssh/known_hosts", 15, "crashkit-probe")
    assert argv == [
        "/usr/bin/ssh", "-T", "-i", "/root/.ssh/kdump_id_ed25519",
        "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes",
        "-o", "PreferredAuthentications=publickey", "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "CheckHostIP=no", "-o", "LogLevel=ERROR",
        "-o", "UserKnownHostsFile=/root/.ssh/known_hosts", "-o", "ConnectTimeout=15",
        "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=1",
        "-l", "kdumprecv", "--", "dumps.example.net", "crashkit-probe"]


def test_ssh_argv_port_and_shell_request():
    argv = dk.ssh_argv("ssh", "/k", "u", "10.0.0.1", 2222, "/kh", 5)
    assert argv[-6:] == ["-p", "2222", "-l", "u", "--", "10.0.0.1"]
    assert "-p" not in dk.ssh_argv("ssh", "/k", "u", "10.0.0.1", 22, "/kh", 5)


@pytest.mark.parametrize("port,name", [(22, "dumps.example.net"), (2222, "[dumps.example.net]:2222")])
def test_ssh_resolves_the_options_as_meant(tmp_path, port, name):
    """``ssh -G`` prints the configuration a command line resolves to (root's ssh_config
    included), without connecting."""
    known = str(tmp_path / "known_hosts")
    (tmp_path / "key").write_text("")  # ssh -G drops an -i file that does not exist
    argv = dk.ssh_argv("ssh", str(tmp_path / "key"), "kdumprecv", "dumps.example.net", port, known, 7)
    resolved = subprocess.run([argv[0], "-G"] + argv[1:], stdout=subprocess.PIPE,
                              universal_newlines=True, check=True).stdout
    config = {}
    for line in resolved.splitlines():
        key, _sep, value = line.partition(" ")
        config.setdefault(key, []).append(value)
    assert config["batchmode"] == ["yes"]
    assert config["stricthostkeychecking"] == ["true"]
    assert config["identitiesonly"] == ["yes"]
    assert config["preferredauthentications"] == ["publickey"]
    assert config["identityfile"] == [str(tmp_path / "key")]
    assert config["userknownhostsfile"] == [known]
    assert config["globalknownhostsfile"] == ["/dev/null"]
    assert config["checkhostip"] == ["no"]
    assert config["connecttimeout"] == ["7"]
    assert config["user"] == ["kdumprecv"]
    assert config["port"] == [str(port)]
    assert dk.known_hosts_name("dumps.example.net", port) == name


@pytest.mark.parametrize("kwargs,message", [
    ({"key_path": "/root/.ssh/key with space"}, "dump key path"),
    ({"key_path": "/root/%d/key"}, "dump key path"),
    ({"key_path": "~/key"}, "dump key path"),
    ({"known_hosts_path": "/tmp/kh -oProxyCommand=x"}, "known_hosts_path"),
    ({"user": "-oProxyCommand=x"}, "not a user name"),
    ({"user": "a b"}, "not a user name"),
    ({"server": "-oProxyCommand=x"}, "not a host name"),
    ({"server": "dumps;id"}, "not a host name"),
    ({"port": 0}, "between 1 and 65535"),
    ({"timeout": 0}, "at least 1 second"),
])
def test_ssh_argv_refuses_what_ssh_would_read_differently(kwargs, message):
    args = dict(ssh="ssh", key_path="/k", user="u", server="dumps", port=22, known_hosts_path="/kh",
                timeout=5)
    args.update(kwargs)
    with pytest.raises(ValidationError, match=message):
        dk.ssh_argv(**args)


# stderr of OpenSSH 9.2 (Debian 12) for each failure, as the module's tests see it against a real
# server; the older wordings (OpenSSH 7.4 .. 8.7) end in the same closing lines.
CHANGED = """@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
Someone could be eavesdropping on you right now (man-in-the-middle attack)!
It is also possible that a host key has just been changed.
The fingerprint for the ED25519 key sent by the remote host is
SHA256:4GnD0VhV1cXSm0oTFb3iDbeD3Aw3a7TMmMv9AeEYQbE.
Please contact your system administrator.
Add correct host key in /root/.ssh/known_hosts to get rid of this message.
Offending ED25519 key in /root/.ssh/known_hosts:1
Host key for dumps has changed and you have requested strict checking.
Host key verification failed.
"""


@pytest.mark.parametrize("rc,stderr,expected", [
    (0, "", None),
    (2, "crashkit-dump-receiver: refused: command 'sh' is not allowed", None),
    (1, "", None),
    (255, CHANGED, (False, False, "the server's host key is not among the keys pinned for dumps in the "
                                  "known_hosts file (Host key for dumps has changed and you have requested "
                                  "strict checking; Host key verification failed)")),
    (255, "No ED25519 host key is known for dumps and you have requested strict checking.\n"
          "Host key verification failed.\n",
     (False, False, "the server's host key is not among the keys pinned for dumps in the known_hosts file "
                    "(No ED25519 host key is known for dumps and you have requested strict checking; "
                    "Host key verification failed)")),
    (255, "kdumprecv@dumps: Permission denied (publickey).\n",
     (True, False, "the server did not accept the dump key (kdumprecv@dumps: Permission denied (publickey).): "
                   "is it in the receiver's authorized_keys, with a from= pattern that matches this client?")),
    (255, "ssh: connect to host dumps port 22: Connection refused\n",
     (False, False, "cannot reach dumps: ssh: connect to host dumps port 22: Connection refused")),
    (255, "ssh: Could not resolve hostname dumps: Name or service not known\n",
     (False, False, "cannot reach dumps: ssh: Could not resolve hostname dumps: Name or service not known")),
    (255, "Connection timed out during banner exchange\n",
     (False, False, "cannot reach dumps: Connection timed out during banner exchange")),
    (255, "Load key \"/k\": invalid format\n",
     (False, False, "ssh to dumps failed (exit 255): Load key \"/k\": invalid format")),
    (255, "", (False, False, "ssh to dumps failed (exit 255): no message")),
])
def test_ssh_failure(rc, stderr, expected):
    assert dk.ssh_failure(rc, stderr, "dumps") == expected


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=255), st.text(max_size=300))
def test_ssh_failure_gives_none_or_a_triple(rc, stderr):
    result = dk.ssh_failure(rc, stderr, "dumps")
    assert result is None if rc != 255 else (len(result) == 3 and isinstance(result[2], str))


def test_run_bounded_returns_status_and_output():
    assert dk.run_bounded(["sh", "-c", "echo out; echo err >&2; exit 3"], 10) == (3, "out\n", "err\n")


def test_run_bounded_bounds_output_and_time():
    """A server that talks forever and never ends is cut off: bounded output, killed at the limit."""
    started = time.time()
    rc, out, err = dk.run_bounded(["sh", "-c", "head -c 300000 /dev/zero | tr '\\0' x; sleep 60"], 2)
    assert rc is None and out == "x" * dk.OUTPUT_LIMIT and err == ""
    assert time.time() - started < 30


# ---------------------------------------------------------------------------------------------
# the module's decisions: options, an existing key pair, a new key


@pytest.mark.parametrize("server,port,host_keys,check", [
    (None, 22, None, False),
    (None, 22, [], False),
    ("dumps", 22, [ED, ECDSA + " root@dumps"], True),
    ("10.0.0.1", 2222, None, True),
])
def test_check_options_accepts(server, port, host_keys, check):
    assert dk.check_options(server, port, host_keys, check) is None


@pytest.mark.parametrize("server,port,host_keys,check,error,message", [
    (None, 22, [ED], False, ValidationError, "server is required with server_host_keys and check"),
    (None, 22, None, True, ValidationError, "server is required"),
    ("", 22, [ED], True, ValidationError, "server is required"),
    ("bad host", 22, None, False, ValidationError, "not a host name"),
    ("dumps", 0, None, False, ValidationError, "between 1 and 65535"),
    ("dumps", 22, [ED, "ssh-ed25519 nope!"], False, ParseError, "not base64"),
])
def test_check_options_refuses(server, port, host_keys, check, error, message):
    with pytest.raises(error, match=message):
        dk.check_options(server, port, host_keys, check)


@pytest.mark.parametrize("requested,expected", [
    ("auto", ["/root/.ssh/kdump_id_ed25519", "/root/.ssh/kdump_id_rsa"]),
    ("ed25519", []),
    ("rsa", []),
])
def test_existing_key_paths(requested, expected):
    assert dk.existing_key_paths(requested) == expected


@pytest.mark.parametrize("comment,node,expected", [
    ("c@h", "web1.example.net", "c@h"),
    (None, "web1.example.net", "crashkit-kdump@web1"),
    ("", "web1", "crashkit-kdump@web1"),
    (None, "", "crashkit-kdump@localhost"),
    (None, ".example.net", "crashkit-kdump@localhost"),
])
def test_key_comment(comment, node, expected):
    assert dk.key_comment(comment, node) == expected


@pytest.mark.parametrize("line,expected", [
    (ED, "ed25519"),
    (RSA + " c@h", "rsa"),
    (ECDSA, "ecdsa-sha2-nistp256"),
])
def test_key_type_name(line, expected):
    assert dk.key_type_name(line) == expected


def test_public_key_facts():
    assert dk.public_key_facts(ED + " c@h") == {
        "public_key": ED + " c@h", "fingerprint": "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU"}
    with pytest.raises(ParseError):
        dk.public_key_facts("ssh-ed25519")


@pytest.mark.parametrize("result,requested,regenerate,expected", [
    ((0, ED + " c@h\n", ""), "auto", False, (ED, "ed25519")),
    ((0, RSA + "\n", "some warning"), "auto", False, (RSA, "rsa")),
    ((0, ECDSA + "\n", ""), "auto", False, (ECDSA, "ecdsa-sha2-nistp256")),
    ((0, ED + "\n", ""), "ed25519", False, (ED, "ed25519")),
    ((0, ED + "\n", ""), "ed25519", True, (ED, "ed25519")),
    ((0, RSA + "\n", ""), "ed25519", True, (RSA, None)),
    ((0, ED + "\n", ""), "rsa", True, (ED, None)),
])
def test_existing_key(result, requested, regenerate, expected):
    assert dk.existing_key("/k", requested, regenerate, *result) == expected


@pytest.mark.parametrize("result,requested,error,message", [
    ((1, "", "Load key \"/k\": invalid format\n"), "auto", HostError,
     "/k exists but ssh-keygen cannot read it (Load key \"/k\": invalid format); it must be an unencrypted"),
    ((255, "broken\n", ""), "auto", HostError, "cannot read it (broken)"),
    ((0, RSA + "\n", ""), "ed25519", ValidationError,
     "/k is a rsa key but type=ed25519; set regenerate=true to replace it"),
    ((0, "garbage\n", ""), "auto", ParseError, "no base64 part"),
])
def test_existing_key_refusals(result, requested, error, message):
    with pytest.raises(error) as info:
        dk.existing_key("/k", requested, False, *result)
    assert message in str(info.value)


@pytest.mark.parametrize("pub_text,expected", [
    (None, (ED + " new@c", True)),
    ("", (ED + " new@c", True)),
    (ED + " old@c\n", (ED + " old@c", False)),
    ("  " + ED + "\n\n", (ED, False)),
    (ED2 + " old@c\n", (ED + " new@c", True)),
    ("ssh-ed25519\n", (ED + " new@c", True)),
])
def test_public_line(pub_text, expected):
    assert dk.public_line(ED, pub_text, "new@c") == expected


@pytest.mark.parametrize("result,message", [
    ((0, "", ""), None),
    ((1, "", "Saving key failed: Permission denied\n"), "ssh-keygen failed to create /k: Saving key failed"),
    ((1, "only stdout\n", ""), "ssh-keygen failed to create /k: only stdout"),
])
def test_keygen_done(result, message):
    if message is None:
        assert dk.keygen_done("/k", *result) is None
    else:
        with pytest.raises(HostError, match=message):
            dk.keygen_done("/k", *result)


@pytest.mark.parametrize("name,host_keys,text,refused", [
    ("dumps", [ED], None, False),
    ("dumps", None, "dumps %s %s\n" % ED_KEY, False),
    ("dumps", [], "%s %s %s\n" % ((hashed("dumps"),) + ED2_KEY), False),
    ("dumps", None, None, True),
    ("dumps", [], OTHER, True),
    ("[dumps]:2222", None, "dumps %s %s\n" % ED_KEY, True),
    ("dumps", None, "@cert-authority dumps %s %s\n" % ED_KEY, True),
])
def test_check_pinned(name, host_keys, text, refused):
    if not refused:
        assert dk.check_pinned(name, host_keys, text, "/kh") is None
    else:
        with pytest.raises(ValidationError, match=r"no host key of %s is pinned in /kh: give server_host_keys"
                           % re.escape(name)):
            dk.check_pinned(name, host_keys, text, "/kh")


# ---------------------------------------------------------------------------------------------
# the connectivity report from canned ssh runs

PROBE_OK = (0, "crashkit-probe ok host=web1 path=/var/crash avail_kib=81234\n", "")
REFUSED = (2, "", "crashkit-dump-receiver: refused")
SHELL = (0, "uid=0(root) gid=0(root)\n", "")
DENIED = (255, "", "kdumprecv@dumps: Permission denied (publickey).")
CHANGED_KEY = (255, "", "Host key for dumps has changed and you have requested strict checking.\n"
                        "Host key verification failed.")


def canned_ssh(results):
    """An ``ssh_run`` answering each command from ``results``; records the commands."""
    calls = []

    def ssh_run(command):
        calls.append(command)
        result = results[command]
        if isinstance(result, list):  # one answer per run
            result = result.pop(0)
        return (["ssh", "--", "dumps"] + ([command] if command else []),) + result

    return ssh_run, calls


@pytest.mark.parametrize("results,expected,calls", [
    ({"crashkit-probe": PROBE_OK, "sh -c id": REFUSED, None: REFUSED},
     dict(ok=True, host_key_verified=True, authenticated=True, error=None,
          probe=dict(ok=True, rc=0, stderr="", host="web1", path="/var/crash", avail_kib=81234),
          exec_refused=dict(ok=True, rc=2, stderr=REFUSED[2]), shell_refused=dict(ok=True, rc=2, stderr=REFUSED[2])),
     ["crashkit-probe", "sh -c id", None]),
    ({"crashkit-probe": (None, "", "")},
     dict(ok=False, host_key_verified=False, authenticated=False, probe=None, exec_refused=None,
          shell_refused=None, error="ssh to dumps did not finish within 45 seconds"),
     ["crashkit-probe"]),
    ({"crashkit-probe": CHANGED_KEY},
     dict(ok=False, host_key_verified=False, authenticated=False, probe=None, exec_refused=None,
          error="the server's host key is not among the keys pinned for dumps in the known_hosts file (Host key "
                "for dumps has changed and you have requested strict checking; Host key verification failed)"),
     ["crashkit-probe"]),
    ({"crashkit-probe": DENIED},
     dict(ok=False, host_key_verified=True, authenticated=False, probe=None,
          error="the server did not accept the dump key (kdumprecv@dumps: Permission denied (publickey).): "
                "is it in the receiver's authorized_keys, with a from= pattern that matches this client?"),
     ["crashkit-probe"]),
    ({"crashkit-probe": SHELL, "sh -c id": SHELL, None: (0, "", "")},
     dict(ok=False, host_key_verified=True, authenticated=True,
          probe=dict(ok=False, rc=0, stderr="", error="the receiver did not answer the probe (got "
                                                      "'uid=0(root) gid=0(root)\\n')"),
          exec_refused=dict(ok=False, rc=0, stderr=""), shell_refused=dict(ok=False, rc=0, stderr=""),
          error="the probe failed (rc=0): the receiver did not answer the probe (got 'uid=0(root) gid=0(root)\\n'); "
                "the server ran 'sh -c id' for this key: it is not restricted to the receiver; "
                "the server gave this key an interactive shell: it is not restricted"),
     ["crashkit-probe", "sh -c id", None]),
    ({"crashkit-probe": (1, PROBE_OK[1], "no room"), "sh -c id": (2, "uid=0(root)\n", ""), None: REFUSED},
     dict(ok=False, probe=dict(ok=False, rc=1, stderr="no room", host="web1", path="/var/crash", avail_kib=81234),
          exec_refused=dict(ok=False, rc=2, stderr=""),
          error="the probe failed (rc=1): no room; "
                "the server ran 'sh -c id' for this key: it is not restricted to the receiver"),
     ["crashkit-probe", "sh -c id", None]),
    ({"crashkit-probe": PROBE_OK, "sh -c id": REFUSED, None: (None, "", "")},
     dict(ok=False, shell_refused=dict(ok=False, rc=None, stderr=""),
          error="the server gave this key an interactive shell: it is not restricted"),
     ["crashkit-probe", "sh -c id", None]),
    # ssh itself failing (exit 255) proves no refusal: one more run, then the check fails.
    ({"crashkit-probe": PROBE_OK, "sh -c id": REFUSED, None: (255, "", "Connection reset by 127.0.0.1 port 22")},
     dict(ok=False, shell_refused=dict(ok=False, rc=255, stderr="Connection reset by 127.0.0.1 port 22"),
          error="cannot tell whether the server refuses a shell for this key: ssh failed twice (exit 255): "
                "Connection reset by 127.0.0.1 port 22"),
     ["crashkit-probe", "sh -c id", None, None]),
    ({"crashkit-probe": PROBE_OK, "sh -c id": REFUSED, None: [(255, "", "Connection closed"), REFUSED]},
     dict(ok=True, error=None, shell_refused=dict(ok=True, rc=2, stderr=REFUSED[2])),
     ["crashkit-probe", "sh -c id", None, None]),
    ({"crashkit-probe": PROBE_OK, "sh -c id": (255, "uid=0(root)\n", ""), None: REFUSED},
     dict(ok=False, exec_refused=dict(ok=False, rc=255, stderr=""),
          error="the server ran 'sh -c id' for this key: it is not restricted to the receiver"),
     ["crashkit-probe", "sh -c id", None]),
    ({"crashkit-probe": (0, PROBE_OK[1], "x" * 5000), "sh -c id": (2, "", "y" * 5000), None: REFUSED},
     dict(ok=True, probe=dict(ok=True, rc=0, stderr="x" * 1000, host="web1", path="/var/crash", avail_kib=81234),
          exec_refused=dict(ok=True, rc=2, stderr="y" * 1000)),
     ["crashkit-probe", "sh -c id", None]),
])
def test_connectivity_report(results, expected, calls):
    ssh_run, made = canned_ssh(results)
    report = dk.connectivity_report(ssh_run, "dumps", 45)
    assert made == calls
    assert report["skipped"] is False
    assert report["ssh_command"] == ["ssh", "--", "dumps", "crashkit-probe"]
    assert {key: report[key] for key in expected} == expected


# --- source_address: the address the dump server sees -------------------------------------


def _ip_route_source(address):
    """What `ip -o route get` says the source address is (the role's former shell probe)."""
    out = subprocess.run([shutil.which("ip"), "-o", "route", "get", address], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, universal_newlines=True, check=False).stdout
    found = re.search(r" src (\S+)", out)
    return found.group(1) if found else ""


@pytest.mark.skipif(shutil.which("ip") is None, reason="no ip(8) to compare with")
@pytest.mark.parametrize("server,expected", [
    ("127.0.0.1", "127.0.0.1"),
    ("127.0.0.2", "127.0.0.1"),
    # 192.0.2.1 (TEST-NET-1) is never local: the default route's source, or "" without one
    ("192.0.2.1", None),
])
def test_source_address_is_what_ip_route_says(server, expected):
    assert dk.source_address(server) == _ip_route_source(server)
    if expected is not None:
        assert dk.source_address(server) == expected


GAIERROR = socket.gaierror


class _Sockets(object):
    """A stand-in for the socket module: one address, and what connect does."""

    SOCK_DGRAM = 2
    gaierror = GAIERROR

    def __init__(self, found, connect_error=None, local=None):
        self.found, self.connect_error, self.local = found, connect_error, local
        self.connected, self.closed = [], []

    def getaddrinfo(self, host, port, family, kind):
        if isinstance(self.found, Exception):
            raise self.found
        return self.found

    def socket(self, family, kind, proto):
        stand_in = self

        class _Socket(object):
            def connect(self, address):
                stand_in.connected.append(address)
                if stand_in.connect_error:
                    raise stand_in.connect_error

            def getsockname(self):
                return (stand_in.local, 0)

            def close(self):
                stand_in.closed.append(True)

        return _Socket()


V6 = [(10, 2, 17, "", ("2001:db8::1", 22, 0, 0)), (2, 2, 17, "", ("192.0.2.7", 22))]


@pytest.mark.parametrize("sockets,expected", [
    # the first address is the one used, as `getent ahosts | head -1` did
    (_Sockets(V6, local="2001:db8::10"), "2001:db8::10"),
    # a link-local source comes with its zone, which sshd's from= pattern does not take
    (_Sockets(V6, local="fe80::5054:ff:fe12:3456%ens3"), "fe80::5054:ff:fe12:3456"),
    # no route: "" (the server then allows any address), the socket closed
    (_Sockets(V6, connect_error=OSError(101, "Network is unreachable")), ""),
])
def test_source_address_cases(sockets, expected):
    assert dk.source_address("dumps.example.net", sockets=sockets) == expected
    assert sockets.connected == [("2001:db8::1", 22, 0, 0)] and sockets.closed == [True]


@pytest.mark.parametrize("found", [socket.gaierror(-2, "Name or service not known"), []])
def test_source_address_of_a_name_that_does_not_resolve(found):
    with pytest.raises(HostError, match="cannot resolve the dump server 'nowhere.invalid'"):
        dk.source_address("nowhere.invalid", sockets=_Sockets(found))


# ---------------------------------------------------------------------------------------------
# the record of a passing check

PROOF_BASE = dict(public_line=ED + " c",
                  name="dumps", user="kdumprecv", known_hosts_sha="a" * 64,
                  ssh_config_sha="", ssh_identity=[1000, 1.0, 2.0], token="t")


@pytest.mark.parametrize("change", [
    {"public_line": ED2 + " c"},
    {"name": "[dumps]:2222"},
    {"user": "other"},
    {"known_hosts_sha": "b" * 64},
    {"ssh_config_sha": "c" * 64},
    {"ssh_identity": [1000, 1.0, 3.0]},
    {"token": "u"},
    {"token": None},
])
def test_proof_digest_changes_with_anything_the_check_covered(change):
    changed = dict(PROOF_BASE)
    changed.update(change)
    assert dk.proof_digest(**changed) != dk.proof_digest(**PROOF_BASE)


def test_proof_digest_ignores_the_key_comment():
    other = dict(PROOF_BASE)
    other.update(public_line=ED + " another comment")
    assert dk.proof_digest(**other) == dk.proof_digest(**PROOF_BASE)


@pytest.mark.parametrize("record,now,max_age,expected", [
    ('{"digest": "d", "proved_at": 100}', 150, 60, 50),
    ('{"digest": "d", "proved_at": 100.5}', 100.5, 60, 0),
    ('{"digest": "d", "proved_at": 100}', 161, 60, None),        # too old
    ('{"digest": "d", "proved_at": 100}', 99, 60, None),         # in the future (clock set back)
    ('{"digest": "d", "proved_at": 100}', 150, 0, None),         # 0: always check
    ('{"digest": "e", "proved_at": 100}', 150, 60, None),        # another path
    ('{"digest": "d", "proved_at": true}', 150, 60, None),
    ('{"digest": "d", "proved_at": "100"}', 150, 60, None),
    ('{"digest": "d"}', 150, 60, None),
    ('["d", 100]', 150, 60, None),
    ('{"digest": "d", "proved_at": 1', 150, 60, None),           # cut short
    ("", 150, 60, None),
    (None, 150, 60, None),
])
def test_recent_proof(record, now, max_age, expected):
    assert dk.recent_proof(record, "d", now, max_age) == expected


def test_file_sha256(tmp_path):
    path = tmp_path / "known_hosts"
    assert dk.file_sha256(str(path)) == ""
    data = b"dumps ssh-ed25519 AAAA\n" * 100000  # more than one read
    path.write_bytes(data)
    assert dk.file_sha256(str(path)) == hashlib.sha256(data).hexdigest()
    link = tmp_path / "link"
    link.symlink_to(path)
    assert dk.file_sha256(str(link)) == ""  # never through a link


def test_path_digest_follows_the_known_hosts_file(tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text("dumps %s\n" % ED2)
    ssh = shutil.which("ssh") or "/bin/sh"
    first = dk.path_digest(ED, "dumps", "kdumprecv", str(known), ssh, "t")
    assert dk.path_digest(ED, "dumps", "kdumprecv", str(known), ssh, "t") == first
    with known.open("a") as handle:
        handle.write("@revoked dumps %s\n" % ED2)
    assert dk.path_digest(ED, "dumps", "kdumprecv", str(known), ssh, "t") != first


def test_save_and_read_proof(tmp_path):
    key = str(tmp_path / "kdump_id_ed25519")
    assert dk.read_proof(key) is None
    assert dk.save_proof(key, "d", 100.0) is None
    assert dk.recent_proof(dk.read_proof(key), "d", 110.0, 60) == 10.0
    assert dk.save_proof(key, None, 120.0) is None
    assert dk.read_proof(key) is None
    assert dk.save_proof(key, None, 120.0) is None  # nothing to remove


def test_save_proof_reports_what_it_could_not_do(tmp_path):
    key = str(tmp_path / "missing" / "kdump_id_ed25519")
    message = dk.save_proof(key, "d", 100.0)
    assert message.startswith("cannot write the record of the dump path check %s.proved: " % key)
