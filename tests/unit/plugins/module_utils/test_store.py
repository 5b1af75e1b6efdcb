# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_store: identities, manifests, retention plans; _transfer: commands, resume, throttle, copy."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import io
import json
import os
import shutil
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.crashkit.kdump.plugins.module_utils import _store, _transfer
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError, ParseError, ValidationError

MID = "4a5c3e8f2b1d4c6e9f0a1b2c3d4e5f60"
DAY = 86400
NOW = 1800000000


@pytest.mark.parametrize("hostname, machine_id, expected", [
    ("web1", MID, "web1-4a5c3e8f2b1d"),
    ("web1.example.com", MID + "\n", "web1-4a5c3e8f2b1d"),
    ("WEB1", MID.upper(), "web1-4a5c3e8f2b1d"),
    ("web1", "", "web1"),
    ("web1", "0" * 32, "web1"),
    ("web1", "not-a-machine-id", "web1"),
    ("db 2/x", MID, "db-2-x-4a5c3e8f2b1d"),
])
def test_host_id(hostname, machine_id, expected):
    assert _store.host_id(hostname, machine_id) == expected


def test_host_id_is_not_the_address_and_is_stable():
    assert _store.host_id("web1", MID) == _store.host_id("web1", MID)
    assert _store.host_id("web1", MID) != _store.host_id("web1", "1" * 32)


@pytest.mark.parametrize("name, expected", [
    # safe names stay as they are; any other name is sanitised and gets 8 hex digits of its
    # SHA-256, so that two names never share a store directory (hardening finding 16)
    ("202405181200", "202405181200"),
    ("10.0.0.5-2024-05-18-12:00:01", "10.0.0.5-2024-05-18-12-00-01-%s"),
    ("web1-2024-05-18-12-00", "web1-2024-05-18-12-00"),
    ("..hidden", "hidden-%s"),
    ("a b\tc", "a-b-c-%s"),
    ("manifest.json", "manifest.json-%s"),
])
def test_crash_id(name, expected):
    if "%s" in expected:
        expected = expected % hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    assert _store.crash_id(name) == expected


def test_crash_ids_of_names_that_sanitise_alike_differ():
    """Hardening finding 16: ``...-00:00:00`` and ``...-00-00-00`` overwrote each other."""
    colon, dash = "10.0.0.5-2024-05-18-00:00:00", "10.0.0.5-2024-05-18-00-00-00"
    assert _store.crash_id(colon) != _store.crash_id(dash)
    assert _store.crash_id(dash) == dash


@pytest.mark.parametrize("bad", ["", "...", "::", None, 5])
def test_ids_refuse_empty(bad):
    with pytest.raises(ValidationError):
        _store.crash_id(bad)


@given(st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_sanitize_gives_a_path_component_or_a_domain_error(text):
    try:
        value = _store.sanitize_id(text)
    except KdumpError:
        return
    assert value and "/" not in value and not value.startswith(".") and len(value) <= _store.MAX_ID
    assert value not in (".", "..")


@pytest.mark.parametrize("rel", ["/etc/passwd", "../x", "a/../../x", ".", "x.part", "x.part.json", "manifest.json",
                                 "sub/manifest.json", ""])
def test_safe_relpath_refuses(rel):
    with pytest.raises(ValidationError):
        _store.safe_relpath(rel)


def test_join_store_refuses_escapes():
    with pytest.raises(ValidationError):
        _store.join_store("/s", "..")
    with pytest.raises(ValidationError):
        _store.join_store("/s", "a/b")
    assert _store.join_store("/s", "h", "c") == "/s/h/c"


def _files():
    return [{"path": "dump.202405181200", "size": 10, "sha256": "a" * 64, "mtime": 5},
            {"path": "dmesg.202405181200", "size": 3, "sha256": "b" * 64, "mtime": 5}]


def _manifest():
    return _store.build_manifest({"host_id": "web1-4a5c3e8f2b1d", "hostname": "web1", "machine_id": MID},
                                 {"crash_id": "202405181200", "source_dir": "/var/crash/202405181200",
                                  "crash_time": 1716000000}, _files(), NOW)


def test_manifest_round_trip():
    manifest = _manifest()
    assert [f["path"] for f in manifest["files"]] == ["dmesg.202405181200", "dump.202405181200"]
    assert manifest["total_size"] == 13
    assert _store.parse_manifest(_store.dump_manifest(manifest)) == manifest


@pytest.mark.parametrize("mutate, message", [
    (lambda m: m.update(format=2), "format"),
    (lambda m: m.update(files=[]), "no files"),
    (lambda m: m["files"][0].update(sha256="xyz"), "sha256"),
    (lambda m: m["files"][0].update(size=-1), "size"),
    (lambda m: m["files"][0].update(size=True), "size"),
    (lambda m: m["files"][0].update(path="../etc"), "leaves"),
    (lambda m: m["files"].append(dict(m["files"][0])), "twice"),
    (lambda m: m.pop("host_id"), "host_id"),
])
def test_manifest_validation(mutate, message):
    manifest = _manifest()
    mutate(manifest)
    with pytest.raises(ParseError, match=message):
        _store.validate_manifest(manifest)


@pytest.mark.parametrize("text", ["", "[]", "{", "null", '{"format": 1}'])
def test_parse_manifest_refuses(text):
    with pytest.raises(ParseError):
        _store.parse_manifest(text)


@pytest.mark.parametrize("change, expected", [
    (lambda f: None, []),
    (lambda f: f.pop(), [("dmesg.202405181200", "no longer on the source")]),
    (lambda f: f.append({"path": "new", "size": 1, "sha256": "c" * 64}), [("new", "not in the central copy")]),
    (lambda f: f[0].update(size=11), [("dump.202405181200", "size 10 centrally, 11 on the source")]),
    (lambda f: f[0].update(sha256="d" * 64),
     [("dump.202405181200", "SHA-256 differs between the central copy and the source")]),
])
def test_compare_files(change, expected):
    files = _files()
    change(files)
    assert _store.compare_files(_manifest(), files) == expected


def _crashes(*ages):
    return [{"crash_id": "c%d" % i, "name": "n%d" % i, "time": NOW - age * DAY} for i, age in enumerate(ages)]


@pytest.mark.parametrize("ages, keep, max_age, kept, dropped", [
    ((1, 2, 3), None, None, ["c0", "c1", "c2"], []),
    ((1, 2, 3), 2, None, ["c0", "c1"], ["c2"]),
    ((3, 1, 2), 1, None, ["c1"], ["c2", "c0"]),
    ((1, 10, 100), None, 30, ["c0", "c1"], ["c2"]),
    ((1, 10, 100), 1, 30, ["c0"], ["c1", "c2"]),
    ((40, 50), 5, 30, [], ["c0", "c1"]),
])
def test_store_retention(ages, keep, max_age, kept, dropped):
    plan = _store.plan_store_retention(_crashes(*ages), NOW, keep=keep, max_age_days=max_age)
    assert plan["keep"] == kept
    assert [d["crash_id"] for d in plan["drop"]] == dropped
    assert all(d["reason"] for d in plan["drop"])


def test_store_retention_reasons():
    plan = _store.plan_store_retention(_crashes(1, 100), NOW, keep=1, max_age_days=30)
    assert plan["drop"] == [{"crash_id": "c1", "reason": "not among the 1 newest of the host; 100.0 days old,"
                                                         " older than 30 days"}]


@pytest.mark.parametrize("keep, max_age", [(0, None), (-1, None), (True, None), ("2", None), (None, 0), (None, -3)])
def test_retention_limits(keep, max_age):
    with pytest.raises(ValidationError):
        _store.plan_store_retention([], NOW, keep=keep, max_age_days=max_age)


@pytest.mark.parametrize("ages, verified, keep, dropped, kept_reasons", [
    ((1, 2, 3), ["c0", "c1", "c2"], 1, ["n1", "n2"], ["among the 1 newest"]),
    ((1, 2, 3), ["c0", "c2"], 1, ["n2"], ["among the 1 newest", "older, but its central copy is not verified"]),
    ((1, 2, 3), [], 1, [], ["among the 1 newest"] + ["older, but its central copy is not verified"] * 2),
    ((1, 2), ["c0", "c1"], 5, [], ["among the 5 newest"] * 2),
])
def test_host_retention_only_deletes_verified(ages, verified, keep, dropped, kept_reasons):
    plan = _store.plan_host_retention(_crashes(*ages), verified, keep)
    assert [d["name"] for d in plan["drop"]] == dropped
    assert [k["reason"] for k in plan["keep"]] == kept_reasons


def test_host_retention_needs_keep():
    with pytest.raises(ValidationError):
        _store.plan_host_retention([], [], None)


# --- _transfer -----------------------------------------------------------------------------

def test_ssh_command_from_connection_options():
    cmd = _transfer.ssh_command({
        "host": "192.0.2.10", "port": 2222, "remote_user": "debian", "private_key_file": "/k/id",
        "ssh_args": "-C -o ControlMaster=auto -o ControlPersist=60s", "ssh_common_args": "-o ProxyJump=bastion",
        "ssh_extra_args": "-4", "host_key_checking": False, "timeout": 10})
    assert cmd[0] == "ssh"
    for pair in (["-o", "StrictHostKeyChecking=no"], ["-o", "Port=2222"], ["-o", 'IdentityFile="/k/id"'],
                 ["-o", 'User="debian"'], ["-o", "ConnectTimeout=10"], ["-o", "ProxyJump=bastion"],
                 ["-o", "BatchMode=yes"], ["-o", "ControlPersist=60s"]):
        assert any(cmd[i:i + 2] == pair for i in range(len(cmd))), pair
    assert "-4" in cmd
    assert cmd[-5:] == ["-T", "-e", "none", "--", "192.0.2.10"]


@pytest.mark.parametrize("ssh_args, common, extra", [
    ("-C -o ControlMaster=auto -o ControlPersist=60s -o ControlPath=/home/u/.ansible/cp/%C", "", ""),
    ("-o Compression=yes -o ControlMaster=auto", "-C", "-C -o ControlPath=/x"),
    (None, None, None),
], ids=["ansible-default-args", "compression-everywhere", "nothing-set"])
def test_ssh_command_streams_on_its_own_connection_without_compression(ssh_args, common, extra):
    """ssh keeps the first value of an -o option and -C wherever it is: the stream options come
    first and -C is dropped, so neither Ansible's -C nor its ControlMaster socket applies."""
    cmd = _transfer.ssh_command({"host": "h", "ssh_args": ssh_args, "ssh_common_args": common,
                                 "ssh_extra_args": extra})
    assert "-C" not in cmd
    assert cmd[1:7] == ["-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "Compression=no"]
    if shutil.which(cmd[0]) is None:
        pytest.skip("no ssh client to resolve the options")
    # what ssh itself makes of the whole command line (-G prints it and connects nowhere)
    resolved = subprocess.run([cmd[0], "-G"] + cmd[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=True).stdout
    config = dict(line.split(" ", 1) for line in resolved.splitlines() if " " in line)
    assert config["compression"] == "no" and config["controlmaster"] == "false"
    assert config.get("controlpath", "none") == "none"


def test_ssh_command_needs_a_host():
    with pytest.raises(ValidationError):
        _transfer.ssh_command({"host": None})


@pytest.mark.parametrize("become, method, user, password, is_root, expected", [
    (False, None, None, None, False, []),
    (True, "sudo", None, None, False, ["sudo", "-n", "-u", "root", "--"]),
    (True, "sudo", "kdump", None, True, ["sudo", "-n", "-u", "kdump", "--"]),
    (True, "sudo", "root", None, True, []),
])
def test_become_prefix(become, method, user, password, is_root, expected):
    assert _transfer.become_prefix(become, method, user, password, is_root) == expected


@pytest.mark.parametrize("method, password", [("su", None), ("doas", None), ("sudo", "secret")])
def test_become_prefix_refuses_what_cannot_stream(method, password):
    with pytest.raises(ValidationError):
        _transfer.become_prefix(True, method, "root", password)


def test_read_command_carries_host_data_only_encoded():
    rel = "10.0.0.5-2024-05-18-12:00:01/it's $(id)`id`"
    request = _transfer.read_request("/var/crash", rel, 1, 2, offset=4096)
    assert set(request) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
    argv = _transfer.read_command("/usr/bin/python3", request, ["sudo", "-n", "-u", "root", "--"])
    assert argv[:6] == ["sudo", "-n", "-u", "root", "--", "/usr/bin/python3"]
    assert argv[6] == "-c" and argv[-1] == request
    assert "$(id)" not in _transfer.shell_join(argv)
    with pytest.raises(ValidationError):
        _transfer.read_command("python3; id", request)


def test_explain_failure_names_the_sudo_password():
    msg = _transfer.explain_failure(1, "sudo: a password is required\n", "ssh")
    assert "passwordless sudo" in msg and "transport=connection" in msg
    assert "ssh to the host failed" in _transfer.explain_failure(255, "Connection refused", "ssh")


def test_throttle_arithmetic():
    clock = [0.0]
    slept = []
    throttle = _transfer.Throttle(1000, clock=lambda: clock[0], sleep=slept.append)
    assert throttle.delay_for(500) == pytest.approx(0.5)
    clock[0] = 2.0
    assert throttle.delay_for(500) == 0.0
    throttle.account(3000)
    assert slept == [pytest.approx(2.0)]
    with pytest.raises(ValidationError):
        _transfer.Throttle(0)


def test_progress_lines():
    lines = []
    clock = [0.0]
    progress = _transfer.Progress("c/dump", 10 * _transfer.MIB, 0, 4 * _transfer.MIB,
                                  lambda text, done, total: lines.append(text), clock=lambda: clock[0])
    for _step in range(10):
        clock[0] += 1
        progress.update(_transfer.MIB)
    progress.finish()
    assert lines[0] == "c/dump: 4.0 MiB of 10.0 MiB (40%), 1.0 MiB/s"
    assert len(lines) == 3 and "(100%)" in lines[-1]


SOURCE_DATA = os.urandom(3 * 1024 * 1024 + 123)


def _source(data=SOURCE_DATA, mtime=100):
    return {"path": "/var/crash/x/dump", "size": len(data), "mtime": mtime, "sha256": hashlib.sha256(data).hexdigest()}


class _Reader(object):
    def __init__(self, data, offset, fail_after=None):
        self.handle = io.BytesIO(data)
        self.handle.seek(offset)
        self.fail_after = fail_after
        self.given = 0
        self.closed = False

    def read(self, size):
        if self.fail_after is not None and self.given >= self.fail_after:
            raise _transfer.TransferError("connection lost")
        data = self.handle.read(size)
        self.given += len(data)
        return data

    def close(self):
        self.closed = True


def test_copy_stream_verifies_and_renames(tmp_path):
    final = str(tmp_path / "store" / "dump")
    readers = []

    def opener(offset):
        readers.append(_Reader(SOURCE_DATA, offset))
        return readers[-1]
    done = _transfer.copy_stream(opener, _source(), final)
    assert done == {"resumed_from": 0, "bytes": len(SOURCE_DATA), "sha256": _source()["sha256"]}
    with open(final, "rb") as handle:
        assert handle.read() == SOURCE_DATA
    assert sorted(os.listdir(os.path.dirname(final))) == ["dump"]
    assert readers[0].closed


def test_copy_stream_resumes_an_interrupted_copy(tmp_path):
    final = str(tmp_path / "dump")
    with pytest.raises(_transfer.TransferError, match="connection lost"):
        _transfer.copy_stream(lambda offset: _Reader(SOURCE_DATA, offset, fail_after=2 * 1024 * 1024),
                              _source(), final)
    assert not os.path.exists(final)
    assert os.path.getsize(final + ".part") == 2 * 1024 * 1024
    with open(final + ".part.json") as handle:
        assert json.load(handle)["source"] == _transfer.source_key(_source())
    offsets = []

    def opener(offset):
        offsets.append(offset)
        return _Reader(SOURCE_DATA, offset)
    done = _transfer.copy_stream(opener, _source(), final)
    assert offsets == [2 * 1024 * 1024]
    assert done["resumed_from"] == 2 * 1024 * 1024 and done["bytes"] == len(SOURCE_DATA) - 2 * 1024 * 1024
    with open(final, "rb") as handle:
        assert handle.read() == SOURCE_DATA
    assert os.listdir(str(tmp_path)) == ["dump"]


def test_copy_stream_starts_over_when_the_source_changed(tmp_path):
    final = str(tmp_path / "dump")
    with pytest.raises(_transfer.TransferError):
        _transfer.copy_stream(lambda offset: _Reader(SOURCE_DATA, offset, fail_after=1024 * 1024), _source(), final)
    offsets = []
    changed = _source(mtime=200)

    def opener(offset):
        offsets.append(offset)
        return _Reader(SOURCE_DATA, offset)
    _transfer.copy_stream(opener, changed, final)
    assert offsets == [0]


def test_copy_stream_checksum_mismatch_removes_the_partial_copy(tmp_path):
    final = str(tmp_path / "dump")
    corrupt = bytearray(SOURCE_DATA)
    corrupt[5] ^= 0xFF
    with pytest.raises(_transfer.TransferError, match="differs from the source"):
        _transfer.copy_stream(lambda offset: _Reader(bytes(corrupt), offset), _source(), final)
    assert os.listdir(str(tmp_path)) == []


def test_copy_stream_short_and_long_sources(tmp_path):
    final = str(tmp_path / "dump")
    with pytest.raises(_transfer.TransferError, match="run again to resume"):
        _transfer.copy_stream(lambda offset: _Reader(SOURCE_DATA[:1000], offset), _source(), final)
    assert not os.path.exists(final)
    with pytest.raises(_transfer.TransferError, match="grew"):
        _transfer.copy_stream(lambda offset: _Reader(SOURCE_DATA + b"x" * 2000000, offset), _source(), final)
    assert not os.path.exists(final)


@pytest.mark.parametrize("state, part_size, expected", [
    (None, 100, 0),
    ({"source": {"path": "/var/crash/x/dump"}}, 100, 0),
    ("match", 0, 0),
    ("match", 100, 100),
    ("match", None, 0),
    ("match", len(SOURCE_DATA) + 1, 0),
])
def test_resume_offset(state, part_size, expected):
    if state == "match":
        state = {"source": _transfer.source_key(_source())}
    assert _transfer.resume_offset(state, part_size, _source()) == expected
