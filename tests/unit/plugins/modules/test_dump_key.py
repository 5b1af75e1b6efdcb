# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run dump_key's main() against temporary directories, and its check (the system's OpenSSH
ssh, as the capture environment runs it) against an SSH server on 127.0.0.1 that runs the dump
server's receiver as a forced command."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import json
import os
import socket
import stat
import subprocess
import sys

import paramiko
import pytest

from ansible_collections.crashkit.kdump.plugins.modules import dump_key as module
from ansible_collections.crashkit.kdump.tests.unit.plugins import module_run

ROLES_TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "roles")
sys.path.insert(0, os.path.abspath(ROLES_TESTS))
import _sshd  # noqa: E402  pylint: disable=wrong-import-position

SERVER_ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
SERVER_ECDSA = ("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQE"
                "ezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WGZ3mUdAgEMnqs=")
OLD = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB4K5ROB9kNHa+K3TnN1wEDfDxDz4M4UDHmQ3vfRf0nG"


run_module = functools.partial(module_run.run_module, module)


@pytest.fixture(autouse=True)
def no_fips(tmp_path, monkeypatch):
    fips = tmp_path / "fips_enabled"
    fips.write_text("0\n")
    monkeypatch.setattr(module, "FIPS_PATH", str(fips))
    return fips


@pytest.fixture
def paths(tmp_path):
    ssh = tmp_path / "root" / ".ssh"
    return {"key": str(ssh / "kdump_id_ed25519"), "known_hosts": str(ssh / "known_hosts")}


# ssh's ConnectTimeout (and keepalive) of the checks against the test's paramiko server: that
# server is a Python thread of this test process, which the whole suite runs at the lowest CPU
# priority beside two or three emulated VMs. With the module's default of 15 s, the probe of
# test_check_catches_an_unrestricted_key once did not get through ssh at all (host_key_verified
# false, 2026-12-05, in the whole suite's unit:pinned). These tests are about what the check
# proves, not about how fast a server answers.
TIMEOUT = 60


def snapshot(directory):
    found = {}
    for current, _dirs, files in os.walk(directory):
        for name in files:
            path = os.path.join(current, name)
            with open(path, "rb") as handle:
                found[path] = (handle.read(), stat.S_IMODE(os.stat(path).st_mode))
    return found


def test_key_is_created_once(capsys, paths, tmp_path):
    first = run_module(capsys, {"path": paths["key"], "comment": "crashkit-kdump@web1"})
    assert first["rc"] == 0 and first["changed"] and first["created"]
    assert first["type"] == "ed25519"
    assert first["public_key"].startswith("ssh-ed25519 ")
    assert first["public_key"].endswith(" crashkit-kdump@web1")
    assert "PRIVATE" not in json.dumps(first)
    assert stat.S_IMODE(os.stat(paths["key"]).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(paths["key"])).st_mode) == 0o700
    out = subprocess.run(["ssh-keygen", "-l", "-f", paths["key"] + ".pub"], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout
    assert out.split()[1] == first["fingerprint"]
    before = snapshot(str(tmp_path / "root"))
    second = run_module(capsys, {"path": paths["key"], "comment": "crashkit-kdump@web1"})
    assert second["rc"] == 0 and not second["changed"] and not second["created"]
    assert second["public_key"] == first["public_key"]
    assert snapshot(str(tmp_path / "root")) == before


def test_check_mode_creates_nothing(capsys, paths, tmp_path):
    result = run_module(capsys, {"path": paths["key"], "server": "dumps",
                                 "server_host_keys": [SERVER_ED],
                                 "known_hosts_path": paths["known_hosts"]}, check_mode=True, diff=True)
    assert result["rc"] == 0 and result["changed"] and result["created"]
    assert result["public_key"] is None
    assert result["known_hosts"]["added"] == [SERVER_ED]
    assert not os.path.exists(str(tmp_path / "root"))
    assert [d["after_header"] for d in result["diff"]] == [paths["key"] + ".pub", paths["known_hosts"]]


def test_source_for_gives_the_route_source_in_the_same_run(capsys, paths, monkeypatch):
    # kdump_setup.yml's client_key.yml reads the address the server sees from this run
    # (it was a shell probe of `ip route get`, one module run more per client)
    for check_mode in (True, False):
        result = run_module(capsys, {"path": paths["key"], "source_for": "127.0.0.1"}, check_mode=check_mode)
        assert result["rc"] == 0 and result["source_address"] == "127.0.0.1"
    assert "source_address" not in run_module(capsys, {"path": paths["key"]})

    def no_such_name(*_args):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    unknown = run_module(capsys, {"path": paths["key"], "source_for": "nowhere.invalid"})
    assert unknown["failed"] and "cannot resolve the dump server 'nowhere.invalid'" in unknown["msg"]


def test_rsa_when_fips_is_enabled(capsys, tmp_path, no_fips):
    no_fips.write_text("1\n")
    key = str(tmp_path / "kdump_id_rsa")
    result = run_module(capsys, {"path": key})
    assert result["type"] == "rsa" and "FIPS" in result["type_reason"]
    assert result["public_key"].startswith("ssh-rsa ")
    refused = run_module(capsys, {"path": str(tmp_path / "k2"), "type": "ed25519"})
    assert refused["failed"] and "FIPS" in refused["msg"]


def test_rsa_when_ssh_lacks_ed25519(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(module, "supported_key_types", lambda m: {"ssh-rsa"})
    result = run_module(capsys, {"path": str(tmp_path / "k")})
    assert result["type"] == "rsa" and "does not support" in result["type_reason"]


def test_existing_key_of_another_type(capsys, tmp_path):
    key = str(tmp_path / "k")
    run_module(capsys, {"path": key, "type": "rsa"})
    kept = run_module(capsys, {"path": key})
    assert kept["type"] == "rsa" and not kept["changed"]
    refused = run_module(capsys, {"path": key, "type": "ed25519"})
    assert refused["failed"] and "regenerate=true" in refused["msg"]
    replaced = run_module(capsys, {"path": key, "type": "ed25519", "regenerate": True})
    assert replaced["changed"] and replaced["type"] == "ed25519"
    assert replaced["public_key"] != kept["public_key"]


def test_missing_public_key_is_rebuilt_and_mode_fixed(capsys, tmp_path):
    key = str(tmp_path / "k")
    first = run_module(capsys, {"path": key, "comment": "c@h"})
    os.unlink(key + ".pub")
    os.chmod(key, 0o644)
    checked = run_module(capsys, {"path": key, "comment": "c@h"}, check_mode=True)
    assert checked["changed"] and checked["public_key"] == first["public_key"]
    assert not os.path.exists(key + ".pub") and stat.S_IMODE(os.stat(key).st_mode) == 0o644
    again = run_module(capsys, {"path": key, "comment": "c@h"})
    assert again["changed"] and not again["created"]
    assert again["public_key"] == first["public_key"]
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600


def test_unreadable_key_is_an_error(capsys, tmp_path):
    key = tmp_path / "k"
    key.write_text("not a key\n")
    result = run_module(capsys, {"path": str(key)})
    assert result["failed"] and "cannot read it" in result["msg"]


def test_known_hosts_pinning_is_idempotent(capsys, paths, tmp_path):
    os.makedirs(os.path.dirname(paths["known_hosts"]))
    with open(paths["known_hosts"], "w") as handle:
        handle.write("github.com %s\n[dumps]:2222 %s\n" % (SERVER_ED, OLD))
    args = {"path": paths["key"], "server": "dumps", "port": 2222,
            "server_host_keys": [SERVER_ED + " root@dumps", SERVER_ECDSA],
            "known_hosts_path": paths["known_hosts"]}
    first = run_module(capsys, args, diff=True)
    assert first["known_hosts"]["changed"]
    assert first["known_hosts"]["name"] == "[dumps]:2222"
    assert first["known_hosts"]["removed"] == [OLD]
    with open(paths["known_hosts"]) as handle:
        assert handle.read() == "github.com %s\n[dumps]:2222 %s\n[dumps]:2222 %s\n" % (
            SERVER_ED, SERVER_ED, SERVER_ECDSA)
    before = snapshot(str(tmp_path / "root"))
    second = run_module(capsys, args, diff=True)
    assert not second["changed"] and not second["known_hosts"]["changed"]
    assert snapshot(str(tmp_path / "root")) == before
    checked = run_module(capsys, dict(args, server_host_keys=[SERVER_ED]), check_mode=True)
    assert checked["changed"] and checked["known_hosts"]["removed"] == [" ".join(SERVER_ECDSA.split()[:2])]
    assert snapshot(str(tmp_path / "root")) == before


@pytest.mark.parametrize("args,message", [
    ({"server_host_keys": [SERVER_ED]}, "server is required"),
    ({"check": True}, "server is required"),
    ({"server": "dumps", "server_host_keys": ["ssh-ed25519 nope!"]}, "not base64"),
    ({"server": "bad host"}, "not a host name"),
    ({"server": "dumps", "server_host_keys": []}, "at least one host key"),
])
def test_bad_arguments(capsys, tmp_path, args, message):
    result = run_module(capsys, dict(args, path=str(tmp_path / "k"),
                                     known_hosts_path=str(tmp_path / "kh")))
    assert result["failed"] and message in result["msg"]


def test_check_mode_skips_the_check(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(module._dumpkey, "run_bounded", lambda *a: pytest.fail("ssh must not run in check mode"))
    result = run_module(capsys, {"path": str(tmp_path / "k"), "server": "dumps", "check": True}, check_mode=True)
    assert result["rc"] == 0 and result["connectivity"]["skipped"]
    assert not (tmp_path / "k").exists()


def test_check_is_skipped_in_check_mode(capsys, tmp_path):
    result = run_module(capsys, {"path": str(tmp_path / "k"), "server": "127.0.0.1", "port": 1,
                                 "server_host_keys": [SERVER_ED], "check": True,
                                 "known_hosts_path": str(tmp_path / "kh")}, check_mode=True)
    assert result["rc"] == 0 and result["connectivity"]["skipped"]


# ---------------------------------------------------------------------------------------------
# the connectivity check against a real SSH server running the receiver


def keygen(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    with open(str(path) + ".pub") as handle:
        return " ".join(handle.read().split()[:2])


@pytest.fixture
def server(tmp_path):
    """The receiver for host web1 behind an SSH server on 127.0.0.1; a client key for it."""
    root = tmp_path / "srv"
    (root / "web1").mkdir(parents=True)
    host_pub = keygen(tmp_path / "hostkey")
    client_key = tmp_path / "client" / "kdump_id_ed25519"
    client_key.parent.mkdir()
    client_pub = keygen(client_key)
    text = _sshd.render_authorized_keys([{"host_id": "web1", "public_key": client_pub}], str(root))
    srv = _sshd.ForcedCommandServer(
        text, paramiko.Ed25519Key.from_private_key_file(str(tmp_path / "hostkey")))
    yield {"srv": srv, "host_pub": host_pub, "key": str(client_key), "root": root,
           "known_hosts": str(tmp_path / "client" / "known_hosts")}
    srv.stop()


def check_args(server, **extra):
    args = {"path": server["key"], "server": "127.0.0.1", "port": server["srv"].port,
            "server_host_keys": [server["host_pub"]], "known_hosts_path": server["known_hosts"],
            "check": True, "timeout": TIMEOUT}
    args.update(extra)
    return args


def test_check_passes_against_the_receiver(capsys, server):
    result = run_module(capsys, check_args(server))
    assert result["rc"] == 0, result
    conn = result["connectivity"]
    assert conn["ok"] and conn["host_key_verified"] and conn["authenticated"]
    assert conn["probe"]["ok"] and conn["probe"]["host"] == "web1"
    assert conn["probe"]["path"] == "/var/crash" and conn["probe"]["avail_kib"] > 0
    assert conn["exec_refused"] == {"ok": True, "rc": 2,
                                    "stderr": "crashkit-dump-receiver: refused: command 'sh' is "
                                              "not allowed for crash dump clients"}
    assert conn["shell_refused"]["ok"] and conn["shell_refused"]["rc"] == 2
    # what the server saw: the probe, the refused command, a shell request (no command)
    assert server["srv"].requests == ["crashkit-probe", "sh -c id", None]
    argv = conn["ssh_command"]
    assert argv[0].endswith("/ssh") and argv[-3:] == ["--", "127.0.0.1", "crashkit-probe"]
    assert argv[argv.index("-i") + 1] == server["key"]
    assert "UserKnownHostsFile=%s" % server["known_hosts"] in argv
    assert os.listdir(str(server["root"] / "web1")) == []
    # the pinned entry is what the check verified against
    with open(server["known_hosts"]) as handle:
        assert handle.read() == "[127.0.0.1]:%d %s\n" % (server["srv"].port, server["host_pub"])
    # known_hosts alone is enough for a later check
    again = run_module(capsys, check_args(server, server_host_keys=None))
    assert again["rc"] == 0 and again["connectivity"]["ok"] and not again["changed"]


def test_check_rejects_a_host_key_that_is_not_pinned(capsys, server):
    result = run_module(capsys, check_args(server, server_host_keys=[SERVER_ED]))
    assert result["failed"]
    conn = result["connectivity"]
    assert not conn["host_key_verified"] and not conn["authenticated"]
    assert "host key is not among the keys pinned for [127.0.0.1]:%d" % server["srv"].port in conn["error"]
    assert "Host key verification failed" in conn["error"]
    assert conn["probe"] is None and conn["exec_refused"] is None
    assert server["srv"].requests == []


def test_check_reports_an_unknown_client_key(capsys, server, tmp_path):
    other = tmp_path / "other_key"
    keygen(other)
    result = run_module(capsys, check_args(server, path=str(other)))
    assert result["failed"]
    conn = result["connectivity"]
    assert conn["host_key_verified"] and not conn["authenticated"]
    assert "did not accept the dump key (" in conn["error"] and "Permission denied" in conn["error"]
    assert server["srv"].requests == []


def test_check_catches_an_unrestricted_key(capsys, tmp_path):
    """A key with a plain shell (no forced command) must fail the check."""
    root = tmp_path / "srv"
    (root / "web1").mkdir(parents=True)
    host_pub = keygen(tmp_path / "hostkey")
    client_pub = keygen(tmp_path / "client")
    # Like sshd without command=: the requested command runs through the shell.
    text = 'command="sh -c \\"${SSH_ORIGINAL_COMMAND:-id}\\"" %s\n' % client_pub
    srv = _sshd.ForcedCommandServer(
        text, paramiko.Ed25519Key.from_private_key_file(str(tmp_path / "hostkey")))
    try:
        result = run_module(capsys, {"path": str(tmp_path / "client"), "server": "127.0.0.1",
                                     "port": srv.port, "server_host_keys": [host_pub],
                                     "known_hosts_path": str(tmp_path / "kh"), "check": True,
                                     "timeout": TIMEOUT})
    finally:
        srv.stop()
    assert result["failed"]
    conn = result["connectivity"]
    # the error first: pytest cuts a long dict, and the error says why ssh did not get there
    assert conn["authenticated"] and not conn["probe"]["ok"], (conn["error"], conn)
    assert not conn["exec_refused"]["ok"] and not conn["shell_refused"]["ok"], conn
    assert "not restricted" in result["msg"]


def test_check_reports_an_unreachable_server(capsys, tmp_path):
    key = str(tmp_path / "k")
    run_module(capsys, {"path": key})
    result = run_module(capsys, {"path": key, "server": "127.0.0.1", "port": 1,
                                 "server_host_keys": [SERVER_ED], "check": True, "timeout": 5,
                                 "known_hosts_path": str(tmp_path / "kh")})
    assert result["failed"] and "cannot reach [127.0.0.1]:1: " in result["connectivity"]["error"]
    assert "Connection refused" in result["connectivity"]["error"]


# ---------------------------------------------------------------------------------------------
# check_max_age: a passing check is reused while nothing it covered changed


def test_recent_check_is_reused_until_something_it_covered_changes(capsys, server):
    first = run_module(capsys, check_args(server, check_max_age=3600, check_token="t1"))
    assert first["rc"] == 0 and first["connectivity"]["ok"] and not first["connectivity"]["reused"]
    assert len(server["srv"].requests) == 3
    record = server["key"] + ".proved"
    assert stat.S_IMODE(os.stat(record).st_mode) == 0o600

    again = run_module(capsys, check_args(server, check_max_age=3600, check_token="t1"))
    assert again["rc"] == 0 and not again["changed"]
    assert again["connectivity"]["reused"] and again["connectivity"]["ok"]
    assert 0 <= again["connectivity"]["age"] < 60
    assert len(server["srv"].requests) == 3  # nothing was sent

    # the server's side published another token: checked again
    run_module(capsys, check_args(server, check_max_age=3600, check_token="t2"))
    assert len(server["srv"].requests) == 6
    # another line in known_hosts (a @revoked marker would be one): checked again
    with open(server["known_hosts"], "a") as handle:
        handle.write("other.example %s\n" % SERVER_ED)
    result = run_module(capsys, check_args(server, check_max_age=3600, check_token="t2"))
    assert not result["connectivity"]["reused"] and len(server["srv"].requests) == 9
    # 0 checks on every run
    result = run_module(capsys, check_args(server, check_max_age=0, check_token="t2"))
    assert not result["connectivity"]["reused"] and len(server["srv"].requests) == 12
    # another account: checked (and refused by this server, which knows only kdumprecv)
    result = run_module(capsys, check_args(server, check_max_age=3600, check_token="t2", user="other"))
    assert result["failed"] and not result["connectivity"]["reused"]
    assert "did not accept the dump key" in result["connectivity"]["error"]


def test_an_old_or_future_record_is_not_reused(capsys, server):
    run_module(capsys, check_args(server, check_max_age=3600))
    record = server["key"] + ".proved"
    with open(record) as handle:
        saved = json.load(handle)
    for proved_at in (saved["proved_at"] - 7200, saved["proved_at"] + 7200):
        with open(record, "w") as handle:
            json.dump(dict(saved, proved_at=proved_at), handle)
        before = len(server["srv"].requests)
        result = run_module(capsys, check_args(server, check_max_age=3600))
        assert not result["connectivity"]["reused"] and len(server["srv"].requests) == before + 3


def test_a_failed_check_removes_the_record(capsys, server):
    run_module(capsys, check_args(server, check_max_age=3600))
    record = server["key"] + ".proved"
    assert os.path.exists(record)
    # the server no longer authorises the key
    server["srv"].entries = _sshd.parse_authorized_keys("")
    result = run_module(capsys, check_args(server, check_max_age=0))
    assert result["failed"] and "did not accept the dump key" in result["msg"]
    assert not os.path.exists(record)
    # and the next run does not skip the check on an older pass
    result = run_module(capsys, check_args(server, check_max_age=3600))
    assert result["failed"] and not result["connectivity"]["reused"]


def test_a_record_behind_a_link_is_not_read(capsys, server, tmp_path):
    run_module(capsys, check_args(server, check_max_age=3600))
    record = server["key"] + ".proved"
    os.rename(record, str(tmp_path / "elsewhere"))
    os.symlink(str(tmp_path / "elsewhere"), record)
    result = run_module(capsys, check_args(server, check_max_age=3600))
    assert result["rc"] == 0 and not result["connectivity"]["reused"]
    # the link was replaced by a file of its own, the file it pointed to left alone
    assert not os.path.islink(record)
