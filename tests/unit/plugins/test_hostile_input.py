# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Crash data is hostile input: one regression test per finding of the hardening review
(issue "Crash data is hostile input"), numbered as there. Each one failed on the code before
the fix (run against 95559f4) and passes now. The receiver's (13, 14), retention's (5, 6) and the
crash-id collision (16) live beside their other tests: tests/unit/roles/, test_store.py.

The modules run through their real main() as root in a temporary tree; the collection runs
through ansible-playbook with the local connection.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
import tracemalloc

import pytest

from ansible_collections.crashkit.kdump.plugins.module_utils import _bundle, _store, _transfer, _vmcore
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError, ParseError
from ansible_collections.crashkit.kdump.plugins.modules import vmcore_bundle, vmcore_check, vmcore_list
from ansible_collections.crashkit.kdump.tests.unit.fixtures.vmcore import builders
from ansible_collections.crashkit.kdump.tests.unit.plugins.module_run import run_module

try:  # new with the fix; imported this way so the file also runs against the old code
    from ansible_collections.crashkit.kdump.plugins.module_utils import _hostread, _safefs
except ImportError:  # pragma: no cover - only when run against the code before the fix
    _hostread = _safefs = None

HERE = os.path.dirname(os.path.abspath(__file__))
TRIAGE = os.path.join(HERE, "..", "fixtures", "triage")
STAMP = "202405181200"
SECRET = b"root-only secret: 7f3c9e\n"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="runs as root (ownership checks, chown)")


def make_crash(root, name=STAMP, dmesg=True):
    crash = root / name
    crash.mkdir(parents=True)
    (crash / ("dump." + STAMP)).write_bytes(builders.kdump_compressed())
    if dmesg:
        shutil.copyfile(os.path.join(TRIAGE, "sysrq_debian12.log"), str(crash / ("dmesg." + STAMP)))
    return crash


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "root-only" / "shadow"
    path.parent.mkdir()
    path.write_bytes(SECRET)
    path.chmod(0o600)
    return path


def tree_bytes(root):
    data = b""
    for current, _dirs, files in os.walk(str(root)):
        for name in files:
            full = os.path.join(current, name)
            if not os.path.islink(full):
                with open(full, "rb") as handle:
                    data += handle.read()
            if name.endswith(".tar.gz"):
                import gzip
                with gzip.open(full) as handle:
                    data += handle.read()
    return data


# --- 1. no shell string built from data -----------------------------------------------------

BOOTS = ('[{"index":-1,"boot_id":"%s","first_entry":1715000000000000,"last_entry":1716000000000000},'
         '{"index":0,"boot_id":"%s","first_entry":1717000000000000,"last_entry":1718000000000000}]'
         % ("a" * 32, "b" * 32))
FAKE_JOURNALCTL = """#!/bin/sh
case "$*" in
  *--list-boots*) echo '%s' ;;
  *) echo "2024-05-18T12:00:00 host kernel: the crashed boot" ;;
esac
""" % BOOTS


def test_1_a_crash_directory_name_runs_no_code(tmp_path, capsys, monkeypatch):
    """A crash directory named like a shell command ran it as root while the journal was saved."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "journalctl"
    fake.write_text(FAKE_JOURNALCTL)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (bindir, os.environ["PATH"]))
    marker = tmp_path / "PWNED"
    name = "c;touch${IFS}PWNED;#"
    crash = make_crash(tmp_path / "var" / "crash", name)
    monkeypatch.chdir(str(tmp_path))
    try:
        result = run_module(vmcore_bundle, capsys, {"crash_dir": str(crash), "deep_triage": False,
                                                    "kdump_config_files": []})
    finally:
        assert not marker.exists(), "the crash directory's name ran as a command"
    assert result["rc"] == 0, result
    with open(str(crash / "crashkit-bundle" / "journal.txt")) as handle:
        assert "the crashed boot" in handle.read()


# --- 2. links are not followed; the file read is the file listed --------------------------

def test_2_a_linked_kernel_log_is_not_bundled(tmp_path, capsys, secret):
    crash = make_crash(tmp_path / "crash", dmesg=False)
    os.symlink(str(secret), str(crash / ("dmesg." + STAMP)))
    result = run_module(vmcore_bundle, capsys, {"crash_dir": str(crash), "host_facts": False,
                                                "deep_triage": False, "dmesg_from_dump": False})
    assert result["rc"] == 0, result
    assert SECRET not in tree_bytes(crash / "crashkit-bundle")
    assert SECRET not in tree_bytes(crash)
    assert "dmesg" in result["summary"]["missing"]


def test_2_a_linked_file_is_not_listed(tmp_path, capsys, secret):
    crash = make_crash(tmp_path / "crash")
    os.symlink(str(secret), str(crash / "notes.txt"))
    os.symlink(str(secret.parent), str(crash / "linked-dir"))
    result = run_module(vmcore_list, capsys, {"path": str(tmp_path / "crash")})
    assert result["rc"] == 0, result
    [listed] = result["crashes"]
    assert sorted(f["path"] for f in listed["files"]) == ["dmesg." + STAMP, "dump." + STAMP]


def test_2_a_file_swapped_after_listing_is_refused_by_the_reader(tmp_path, secret):
    crash = make_crash(tmp_path / "crash")
    dmesg = crash / ("dmesg." + STAMP)
    st = os.lstat(str(dmesg))
    dmesg.unlink()
    os.symlink(str(secret), str(dmesg))
    request = _transfer.read_request(str(tmp_path / "crash"), STAMP + "/dmesg." + STAMP, st.st_dev, st.st_ino)
    proc = subprocess.run([sys.executable, "-c", _transfer.reader_source(), request], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=60, check=False)
    assert proc.returncode == _hostread.EXIT_REFUSED
    assert SECRET not in proc.stdout
    # replaced by a hard link to the secret (another inode): refused by device and inode
    dmesg.unlink()
    os.link(str(secret), str(dmesg))
    proc = subprocess.run([sys.executable, "-c", _transfer.reader_source(), request], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=60, check=False)
    assert proc.returncode == _hostread.EXIT_REFUSED and SECRET not in proc.stdout
    # and the crash directory swapped for a link to elsewhere
    shutil.rmtree(str(crash))
    os.symlink(str(secret.parent), str(crash))
    request = _transfer.read_request(str(tmp_path / "crash"), STAMP + "/shadow", st.st_dev, st.st_ino)
    proc = subprocess.run([sys.executable, "-c", _transfer.reader_source(), request], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=60, check=False)
    assert proc.returncode == _hostread.EXIT_REFUSED and SECRET not in proc.stdout


def test_2_the_reader_streams_the_listed_file_and_its_digest(tmp_path):
    crash = make_crash(tmp_path / "crash")
    dump = crash / ("dump." + STAMP)
    st = os.lstat(str(dump))
    data = dump.read_bytes()
    request = _transfer.read_request(str(tmp_path / "crash"), STAMP + "/dump." + STAMP, st.st_dev, st.st_ino,
                                     offset=100)
    proc = subprocess.run([sys.executable, "-c", _transfer.reader_source(), request], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == data[100:]
    import hashlib
    assert _transfer.parse_digest(proc.stderr.decode()) == (hashlib.sha256(data).hexdigest(), len(data))


def test_2_crash_directories_not_owned_by_root_are_left_alone(tmp_path, capsys):
    root = tmp_path / "crash"
    crash = make_crash(root)
    os.chown(str(crash), 65534, 65534)
    other = make_crash(root, "202405181300")
    other.chmod(0o777)
    result = run_module(vmcore_list, capsys, {"path": str(root)})
    assert result["crashes"] == []
    assert sorted(s["name"] for s in result["skipped_crashes"]) == ["202405181200", "202405181300"]
    assert all("left alone" in s["reason"] for s in result["skipped_crashes"])
    bundle = run_module(vmcore_bundle, capsys, {"crash_dir": str(crash), "host_facts": False})
    assert bundle["rc"] == 1 and "refused" in bundle["msg"]
    assert os.listdir(str(crash)) == ["dump." + STAMP, "dmesg." + STAMP] or \
        sorted(os.listdir(str(crash))) == sorted(["dump." + STAMP, "dmesg." + STAMP])


# --- 3. temporary files only under random names ----------------------------------------------

def test_3_a_planted_temporary_name_does_not_redirect_the_archive(tmp_path, capsys):
    crash = make_crash(tmp_path / "crash")
    victim = tmp_path / "victim"
    victim.write_bytes(b"do not touch")
    victim.chmod(0o644)
    os.symlink(str(victim), str(crash / "crashkit-bundle.tar.gz.tmp"))
    result = run_module(vmcore_bundle, capsys, {"crash_dir": str(crash), "host_facts": False, "deep_triage": False})
    assert result["rc"] == 0, result
    assert victim.read_bytes() == b"do not touch"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert stat.S_ISREG(os.lstat(str(crash / "crashkit-bundle.tar.gz")).st_mode)


# --- 4. the store is keyed by the controller's identity ---------------------------------------

def test_4_store_directory_is_the_inventory_name_not_what_the_host_says(tmp_path):
    from ansible_collections.crashkit.kdump.tests.unit.plugins.modules import test_vmcore_collect as tc
    make_crash(tmp_path / "crash")
    play = tc.playbook(tmp_path, [tc.collect_task(tmp_path)])
    rc, data = tc.run(tmp_path, play)
    assert rc == 0, data["_output"]
    assert data["host_id"] == "localhost"
    assert os.path.isdir(str(tmp_path / "store" / "localhost" / STAMP))


@pytest.mark.parametrize("name, expected", [
    ("web1", "web1"),
    ("report.md", "report.md-host"),
    ("index.html", "index.html-host"),
    ("../../etc", "etc"),
])
def test_4_store_host_ids(name, expected):
    assert _store.store_host_id(name) == expected


def test_4_reported_crash_ids_and_times_are_not_believed():
    from ansible_collections.crashkit.kdump.plugins.action.vmcore_collect import ActionModule
    action = object.__new__(ActionModule)
    action.args = {"src": "/var/crash"}
    action._skipped = []
    listing = {"crashes": [
        {"name": "202405181200", "crash_id": "../web2/202405181200", "crash_time": 10 ** 17,
         "files": [{"path": "dump.202405181200", "size": 1, "mtime": 5, "dev": 1, "ino": 2}]},
        {"name": "../../etc", "files": []},
        {"name": "x", "files": [{"path": "../../etc/shadow", "size": 1, "mtime": 5, "dev": 1, "ino": 2}]},
    ]}
    crashes = action._crashes(listing)
    assert [(c["crash_id"], c["crash_time"], c["time"]) for c in crashes] == [("202405181200", None, 5)]
    assert len(action._skipped) == 2


# --- 8. a hostile header time breaks nothing ------------------------------------------------

def test_8_an_absurd_crash_time_is_refused_by_the_parser(tmp_path):
    info = builders.VMCOREINFO.replace("CRASHTIME=1716000000", "CRASHTIME=100000000000000000")
    path = tmp_path / "dump"
    path.write_bytes(builders.kdump_compressed(vmcoreinfo=info, timestamp=0))
    record = _vmcore.inspect_file(str(path))
    assert record["crash_time"] is None
    assert any("not plausible" in n for n in record["notes"])
    manifest = _store.build_manifest({"host_id": "web1"}, {"crash_id": STAMP, "source_dir": "/var/crash/x",
                                                           "crash_time": 10 ** 17},
                                     [{"path": "d", "size": 1, "sha256": "0" * 64}], 1716000000)
    assert manifest["crash_time"] is None
    with pytest.raises(ParseError, match="plausible"):
        _store.validate_manifest({"format": 1, "host_id": "web1", "crash_id": STAMP, "source_dir": "/x",
                                  "crash_time": 10 ** 17, "files": [{"path": "d", "size": 1, "sha256": "0" * 64}]})


# --- 10. bounded memory for a newline-free log ------------------------------------------------

def test_10_a_huge_newline_free_log_costs_bounded_memory(tmp_path):
    path = tmp_path / "dmesg"
    with open(str(path), "wb") as handle:
        for _i in range(48):
            handle.write(b"A" * (1024 * 1024))
    tracemalloc.start()
    try:
        _bundle.uptime_at(str(path))
        _bundle.boot_command_line(str(path))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, peak


# --- 11. files that are not UTF-8 -------------------------------------------------------------

def test_11_non_utf8_files_give_a_clear_message(tmp_path, capsys):
    from ansible_collections.crashkit.kdump.plugins.modules import crashkernel
    bad = tmp_path / "cmdline"
    bad.write_bytes(b"BOOT_IMAGE=/vmlinuz root=/dev/vda1 \xff\xfe crashkernel=256M\n")
    result = run_module(crashkernel, capsys, {"proc_cmdline_path": str(bad)})
    assert result["rc"] == 1
    assert "not UTF-8" in result["msg"] and str(bad) in result["msg"]


# --- 15. host-chosen names never reach a terminal raw ---------------------------------------

def test_15_names_are_made_safe_to_print(tmp_path, capsys):
    root = tmp_path / "crash"
    name = "x\x1b]0;owned\x07\x1b[2J" + STAMP
    make_crash(root, name)
    result = run_module(vmcore_list, capsys, {"path": str(root)})
    [crash] = result["crashes"]
    assert "\x1b" not in crash["label"] and "\x07" not in crash["label"]
    assert crash["label"].startswith("x\\x1b]0;owned")
    assert "\x1b" not in _safefs.display("a\x1b[31mred\u202e")
    assert _safefs.display("a\u202eb") == "a\\u202eb"


# --- 17. private modes on the controller's store --------------------------------------------

def test_17_store_files_and_state_are_private(tmp_path):
    data = os.urandom(3 * 1024 * 1024)
    final = str(tmp_path / "store" / "h" / "c" / "dump")

    class Reader(object):
        def __init__(self, offset, fail=None):
            self.data, self.pos, self.fail = data, offset, fail

        def read(self, size):
            if self.fail is not None and self.pos >= self.fail:
                raise _transfer.TransferError("cut")
            chunk = self.data[self.pos:self.pos + size]
            self.pos += len(chunk)
            return chunk

        def close(self):
            return None
    import hashlib
    source = {"path": "/var/crash/x/dump", "size": len(data), "mtime": 1, "sha256": hashlib.sha256(data).hexdigest()}
    with pytest.raises(_transfer.TransferError):
        _transfer.copy_stream(lambda offset: Reader(offset, 1024 * 1024), source, final)
    for path in (final + ".part", final + ".part.json"):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    _transfer.copy_stream(Reader, source, final)
    assert stat.S_IMODE(os.stat(final).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(final)).st_mode) == 0o700


# --- 18. no yes/no oracle through a linked log; no release of a linked dump -----------------

def test_18_vmcore_check_does_not_search_a_linked_log(tmp_path, capsys, secret):
    crash = make_crash(tmp_path / "crash", dmesg=False)
    os.symlink(str(secret), str(crash / ("dmesg." + STAMP)))
    result = run_module(vmcore_check, capsys, {"path": str(tmp_path / "crash"), "dmesg_contains": "root-only secret",
                                               "dmesg_from_dump": False})
    [dump] = result["dumps"]
    assert dump["dmesg_match"] is None


def test_18_a_linked_dump_is_not_reported(tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "vmcore").write_bytes(builders.kdump_compressed())
    crash = tmp_path / "crash" / STAMP
    crash.mkdir(parents=True)
    os.symlink(str(elsewhere / "vmcore"), str(crash / ("dump." + STAMP)))
    for module in (vmcore_check, vmcore_list):
        result = run_module(module, capsys, {"path": str(tmp_path / "crash")})
        listed = result.get("dumps", result.get("crashes"))
        assert listed == [], result


# --- 19. no bundle through a linked crash directory ------------------------------------------

def test_19_a_linked_crash_directory_is_refused(tmp_path, capsys):
    target = make_crash(tmp_path / "elsewhere")
    root = tmp_path / "crash"
    root.mkdir()
    os.symlink(str(target), str(root / STAMP))
    result = run_module(vmcore_bundle, capsys, {"crash_dir": str(root / STAMP), "host_facts": False})
    assert result["rc"] == 1
    assert sorted(os.listdir(str(target))) == ["dmesg." + STAMP, "dump." + STAMP]


# --- 20. a FIFO, a directory or a link where a file is expected --------------------------------

def test_20_fifo_and_directory_at_temporary_names_do_not_hang_or_crash(tmp_path, capsys):
    crash = make_crash(tmp_path / "crash")
    os.mkfifo(str(crash / "crashkit-bundle.tar.gz.tmp"))
    os.mkdir(str(crash / "crashkit-bundle.tmp"))
    box = {}

    def work():
        box["result"] = run_module(vmcore_bundle, capsys, {"crash_dir": str(crash), "host_facts": False,
                                                           "deep_triage": False})
    worker = threading.Thread(target=work)
    worker.daemon = True
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the module hangs on a FIFO"
    assert box["result"]["rc"] == 0, box["result"]


def test_20_a_fifo_as_a_dump_or_log_is_not_opened(tmp_path, capsys):
    crash = tmp_path / "crash" / STAMP
    crash.mkdir(parents=True)
    os.mkfifo(str(crash / ("dump." + STAMP)))
    os.mkfifo(str(crash / ("dmesg." + STAMP)))
    started = time.time()
    assert _vmcore.scan(str(tmp_path / "crash"))["dumps"] == []
    assert _vmcore.file_contains(str(crash / ("dmesg." + STAMP)), "x") is None
    assert time.time() - started < 30


def test_20_the_collect_lock_is_never_opened_through_a_link(tmp_path):
    from ansible_collections.crashkit.kdump.tests.unit.plugins.modules import test_vmcore_collect as tc
    make_crash(tmp_path / "crash")
    host_dir = tmp_path / "store" / "localhost"
    host_dir.mkdir(parents=True)
    target = tmp_path / "created-elsewhere"
    os.symlink(str(target), str(host_dir / _store.LOCK_NAME))
    rc, data = tc.run(tmp_path, tc.playbook(tmp_path, [tc.collect_task(tmp_path)]))
    assert rc != 0
    assert not target.exists()


# --- 21. host data reaching a module is never expanded ----------------------------------------

def test_21_a_dollar_name_is_not_expanded(tmp_path, capsys, monkeypatch):
    root = tmp_path / "crash"
    literal = make_crash(root, "x$CRASHKIT_T21")
    other = make_crash(root, "xexpanded")
    monkeypatch.setenv("CRASHKIT_T21", "expanded")
    result = run_module(vmcore_bundle, capsys, {"crash_dir": str(literal), "host_facts": False, "deep_triage": False})
    assert result["rc"] == 0, result
    assert (literal / "crashkit-bundle").is_dir()
    assert not (other / "crashkit-bundle").exists()
    check = run_module(vmcore_check, capsys, {"path": str(root), "exclude": [str(literal / ("dump." + STAMP))]})
    assert sorted(d["dir"] for d in check["dumps"]) == [str(other)]


# --- fuzz: the parsers that read hostile data, bounded in time and memory ---------------------

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=20000))
def test_fuzz_dump_headers_never_raise(data):
    import io
    result = _vmcore.inspect_handle(io.BytesIO(data), len(data))
    assert result["crash_time"] is None or _vmcore.MIN_TIME <= result["crash_time"] <= _vmcore.MAX_TIME


@settings(max_examples=200, deadline=2000)
@given(st.sampled_from([b"KDUMP   ", b"makedumpfile\0\0\0\0", b"\x7fELF\x02\x01\x01", b"\x1f\x8b"]),
       st.binary(max_size=8000))
def test_fuzz_dump_headers_with_real_magic(magic, rest):
    import io
    data = magic + rest
    _vmcore.inspect_handle(io.BytesIO(data), len(data), verify_compressed=True)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                           lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10),
                                                                                             children, max_size=4),
                           max_leaves=20)


@settings(max_examples=300, deadline=2000)
@given(st.dictionaries(st.sampled_from(["format", "host_id", "crash_id", "source_dir", "files", "crash_time",
                                        "collected_at", "tool", "hostname"]), json_values, max_size=9))
def test_fuzz_manifests_are_valid_or_refused(data):
    try:
        _store.validate_manifest(data)
    except KdumpError:
        pass


@settings(max_examples=200, deadline=3000)
@given(st.text(max_size=200), st.integers(), st.integers(), st.integers(min_value=-5, max_value=10 ** 6))
def test_fuzz_reader_requests_are_served_or_refused(rel, dev, ino, offset):
    request = {"root": "/nonexistent-crashkit", "rel": rel, "dev": dev, "ino": ino, "offset": offset}
    encoded = base64.b64encode(json.dumps(request).encode()).decode()
    assert _hostread.main([encoded]) in (_hostread.EXIT_REFUSED, _hostread.EXIT_UNREADABLE)


@settings(max_examples=100, deadline=5000)
@given(st.binary(max_size=300000))
def test_fuzz_lines_are_bounded(data):
    import tempfile
    with tempfile.TemporaryFile() as handle:
        handle.write(data)
        handle.flush()
        lines = list(_safefs.iter_lines(handle.fileno(), max_line=1000))
    assert all(len(line) <= 1001 for line in lines)


def test_proc_sys_files_are_read_in_pieces():
    """A 64 MiB read count on a /proc/sys file fails with ENOMEM on the lab's kernels (found in
    the VM run: /proc/sys/crypto/fips_enabled); read_text and read_small read in 64 KiB pieces."""
    from ansible_collections.crashkit.kdump.plugins.module_utils._module import read_text
    assert read_text("/proc/sys/kernel/ostype").strip() == "Linux"
    assert _safefs.read_small("/proc/sys/kernel/ostype").strip() == "Linux"


def test_triage_reads_no_linked_or_special_kernel_log(tmp_path, secret):
    """vmcore_triage, the bundle and the ingest triage through ``triage_file`` and
    ``find_bundle_log``: a log that is a link (to a root-only file) or a FIFO is never read."""
    from ansible_collections.crashkit.kdump.plugins.module_utils import _triage
    from ansible_collections.crashkit.kdump.plugins.module_utils._errors import HostError

    crash = tmp_path / "202612020101"
    crash.mkdir()
    (crash / "vmcore-dmesg.txt").symlink_to(secret)
    os.mkfifo(str(crash / "dmesg.txt"))
    (crash / "dmesg.202612020101").write_text("[    1.0] Kernel panic - not syncing: real\n")
    (crash / "dmesg.202612020102").symlink_to(secret)
    assert _triage.find_bundle_log(str(crash)) == str(crash / "dmesg.202612020101")
    for name in ("vmcore-dmesg.txt", "dmesg.txt", "dmesg.202612020102"):
        with pytest.raises(HostError):
            _triage.triage_file(str(crash / name))
    assert _triage.triage_file(str(crash / "dmesg.202612020101"))["panic_reason"] == "real"
