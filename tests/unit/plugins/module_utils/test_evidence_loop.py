# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Zero-touch evidence without VMs: the host's evidence service (_push) sends a crash through a
stand-in ``ssh`` that runs the real receiver (roles/dump_server/files/crashkit-dump-receiver) as
sshd's forced command would, the receiver queues the client, the dump server's ingest (_ingest)
builds the store entry and the hook events, the hook runner delivers them. State, retries,
backoff and refusals are tested on the pure parts. The real thing runs in the kdump scenario."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import stat
import sys
import time

import pytest

from ansible_collections.crashkit.kdump.plugins.module_utils import _ingest, _push, _safefs, _store
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import ValidationError
from ansible_collections.crashkit.kdump.tests.unit.fixtures.vmcore import builders

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
RECEIVER = os.path.join(REPO, "roles", "dump_server", "files", "crashkit-dump-receiver")
TRIAGE = os.path.join(REPO, "tests", "unit", "fixtures", "triage")
STAMP = "202405181200"
NOW = 1716100000

FAKE_SSH = """#!/bin/sh
# ssh [options] -- server crashkit-push ...: run the receiver as sshd's forced command would.
while [ "$1" != "--" ]; do shift; done
shift 2
[ -n "$FAKE_SSH_DOWN" ] && { echo "ssh: connect to host dumpsrv port 22: Connection timed out" >&2; exit 255; }
SSH_ORIGINAL_COMMAND="$*" exec "$PYTHON" "$RECEIVER" --root "$DUMP_ROOT" --host "$CLIENT" --queue
"""


@pytest.fixture
def loop(tmp_path, monkeypatch):
    root = tmp_path / "srv" / "crash"
    (root / "web1").mkdir(parents=True)
    (root / ".queue").mkdir()
    store = tmp_path / "srv" / "crash-store"
    store.mkdir()
    fake = tmp_path / "bin" / "ssh"
    fake.parent.mkdir()
    fake.write_text(FAKE_SSH)
    fake.chmod(0o755)
    monkeypatch.setenv("PYTHON", sys.executable)
    monkeypatch.setenv("RECEIVER", RECEIVER)
    monkeypatch.setenv("DUMP_ROOT", str(root))
    monkeypatch.setenv("CLIENT", "web1")
    crash_root = tmp_path / "var" / "crash"
    crash_root.mkdir(parents=True)
    config = dict(_push.DEFAULTS, server="dumpsrv", ssh=str(fake), root=str(crash_root),
                  state=str(tmp_path / "var" / "lib" / "crashkit" / "state.json"), key="/dev/null",
                  bundle_options={"host_facts": False})
    logs = []
    pusher = _push.Pusher(config, identity={"hostname": "web1", "machine_id": None, "host_id": "web1"},
                          log=logs.append)
    hook_out = tmp_path / "hook-events.jsonl"
    hook = tmp_path / "bin" / "hook"
    hook.write_text("#!/bin/sh\n[ -e %s ] && exit 3\ncat >> %s\n" % (tmp_path / "hook-fails", hook_out))
    hook.chmod(0o755)
    ingest = _ingest.Ingest(str(root), str(store), hooks=True, report=True, log=logs.append)
    return {"root": root, "store": store, "crash_root": crash_root, "pusher": pusher, "ingest": ingest,
            "hook": [str(hook)], "hook_out": hook_out, "tmp": tmp_path, "logs": logs}


def crash(root, stamp=STAMP):
    directory = root / stamp
    directory.mkdir()
    (directory / ("dump." + stamp)).write_bytes(builders.kdump_compressed())
    shutil.copyfile(os.path.join(TRIAGE, "sysrq_debian12.log"), str(directory / ("dmesg." + stamp)))
    return directory


def test_a_crash_is_sent_ingested_grouped_and_announced_once(loop):
    crash(loop["crash_root"])
    report = loop["pusher"].run(now=NOW)
    assert report["sent"] == [STAMP] and report["failed"] == []
    incoming = loop["root"] / "web1" / STAMP
    assert sorted(os.listdir(str(incoming))) == sorted(
        ["dmesg." + STAMP, "dump." + STAMP, _push.HOST_BUNDLE, _push.PUSH_MANIFEST])
    assert os.listdir(str(loop["root"] / ".queue")) == ["web1"]
    summary = loop["ingest"].drain(now=NOW)
    assert summary["ingested"] == ["web1/" + STAMP] and not summary["errors"]
    entry = loop["store"] / "web1" / STAMP
    manifest = _store.parse_manifest((entry / "manifest.json").read_text())
    assert manifest["host_id"] == "web1"
    triage = json.loads((entry / "triage.json").read_text())
    assert (triage["kind"], triage["function"]) == ("sysrq", "sysrq_handle_crash")
    assert (entry / "crashkit-bundle" / "bundle.json").is_file()
    # stored as links of the client's files, which are now read-only for the client
    assert os.stat(str(entry / ("dump." + STAMP))).st_ino == os.stat(str(incoming / ("dump." + STAMP))).st_ino
    assert stat.S_IMODE(os.stat(str(incoming / ("dump." + STAMP))).st_mode) == 0o400
    assert [e["event"] for e in summary["events"]] == ["crash", "signature"]
    assert os.listdir(str(loop["root"] / ".queue")) == []
    # the store's fleet report is written again on arrival
    report = json.loads((loop["store"] / "report.json").read_text())
    assert (loop["store"] / "report.html").is_file()
    [group] = report["groups"]
    assert group["count"] == 1
    # nothing new: a second service run sends nothing, a second drain ingests nothing
    assert loop["pusher"].run(now=NOW + 60) == {"sent": [], "failed": [], "waiting": []}
    loop["ingest"]._queue_entry("web1", True)
    assert loop["ingest"].drain(now=NOW + 60)["ingested"] == []
    # the hook gets both events once
    assert _ingest.run_hooks(str(loop["store"]), loop["hook"], now=NOW)["done"] == 2
    lines = [json.loads(line) for line in loop["hook_out"].read_text().splitlines()]
    assert sorted(e["event"] for e in lines) == ["crash", "signature"]
    assert all(e["host"] == "web1" and e["crash_id"] == STAMP and e["function"] == "sysrq_handle_crash"
               for e in lines)
    assert _ingest.run_hooks(str(loop["store"]), loop["hook"], now=NOW)["done"] == 0


@pytest.mark.parametrize("note, saved_by", [
    ("saved_by=crashkit-initramfs\ncapture_uptime=26.5\n", "crashkit-initramfs"),
    # a client's note is hostile data on the server: a bad one says nothing
    ("saved_by=<script>alert(1)</script>\n", None),
    (None, None),
], ids=["lean capture", "hostile note", "no note"])
def test_which_capture_saved_it_reaches_the_servers_report(loop, note, saved_by):
    directory = crash(loop["crash_root"])
    if note is not None:
        (directory / "crashkit-capture.txt").write_text(note)
    assert loop["pusher"].run(now=NOW)["sent"] == [STAMP]
    incoming = sorted(os.listdir(str(loop["root"] / "web1" / STAMP)))
    assert ("crashkit-capture.txt" in incoming) is (note is not None)
    assert not loop["ingest"].drain(now=NOW)["errors"]
    bundle = json.loads((loop["store"] / "web1" / STAMP / "crashkit-bundle" / "bundle.json").read_text())
    assert bundle["capture"]["saved_by"] == saved_by
    [entry] = json.loads((loop["store"] / "report.json").read_text())["store_crashes"]
    assert entry["saved_by"] == saved_by


def test_a_fallback_note_claimed_by_the_bundle_goes_with_the_crash(loop):
    # kdump-tools saved this dump after the lean capture gave up: the bundle (on the host that
    # crashed) copies the capture boot's note into the crash directory, and the push sends it
    directory = crash(loop["crash_root"])
    note = loop["tmp"] / "capture-fallback"
    written = int(os.stat(str(directory / ("dump." + STAMP))).st_mtime)
    note.write_text("saved_by=kdump-tools\nfallback=not a local target\ntime=%d\n" % (written - 30))
    loop["pusher"].config["bundle_options"] = {"host_facts": True, "capture_note": str(note),
                                               "kdump_config_files": [], "journal_max_mib": 1}
    assert loop["pusher"].run(now=NOW)["sent"] == [STAMP]
    assert (loop["root"] / "web1" / STAMP / "crashkit-capture.txt").read_text() == note.read_text()
    assert not loop["ingest"].drain(now=NOW)["errors"]
    [entry] = json.loads((loop["store"] / "report.json").read_text())["store_crashes"]
    assert entry["saved_by"] == "kdump-tools"
    bundle = json.loads((loop["store"] / "web1" / STAMP / "crashkit-bundle" / "bundle.json").read_text())
    assert bundle["capture"]["lean_fallback"] == "not a local target"


def test_a_lean_ssh_attempt_given_up_says_why_in_the_servers_evidence(loop):
    # What the lean capture leaves on the server when its dump failed half-way (kdump-tools then
    # sends the dump into a directory of its own): the kernel log, the partial dump, and the
    # reason it sent with its note (roles/setup/files/initramfs-capture, give_up).
    name = "10.0.0.5-" + STAMP
    directory = loop["root"] / "web1" / name
    directory.mkdir()
    shutil.copyfile(os.path.join(TRIAGE, "sysrq_debian12.log"), str(directory / ("dmesg." + STAMP)))
    (directory / "dump-incomplete").write_bytes(b"KDUMP   half")
    (directory / "crashkit-capture.txt").write_text("saved_by=kdump-tools\nfallback=makedumpfile failed\n"
                                                    "time=%d\n" % (NOW - 10))
    for path in directory.iterdir():
        os.utime(str(path), (NOW, NOW))
    loop["ingest"]._queue_entry("web1", True)
    assert loop["ingest"].drain(now=NOW + 60)["ingested"] == []  # the partial dump holds it back
    loop["ingest"]._queue_entry("web1", True)
    later = NOW + _ingest.ABANDONED_SECONDS + 1
    assert loop["ingest"].drain(now=later)["ingested"] == ["web1/" + name]
    bundle = json.loads((loop["store"] / "web1" / name / "crashkit-bundle" / "bundle.json").read_text())
    assert bundle["capture"]["saved_by"] == "kdump-tools"
    assert bundle["capture"]["lean_fallback"] == "makedumpfile failed"
    [entry] = json.loads((loop["store"] / "report.json").read_text())["store_crashes"]
    assert entry["saved_by"] == "kdump-tools"


def _lean_attempt(root, stamp, partial=True, log="sysrq_debian12.log"):
    # what the lean capture leaves on the server when it gave up after its first session
    directory = root / "web1" / ("10.0.0.5-" + stamp)
    directory.mkdir()
    shutil.copyfile(os.path.join(TRIAGE, log), str(directory / ("dmesg." + stamp)))
    if partial:
        (directory / "dump-incomplete").write_bytes(b"KDUMP   half")
    (directory / "crashkit-capture.txt").write_text("saved_by=kdump-tools\nfallback=makedumpfile failed\n"
                                                    "time=%d\n" % (NOW - 10))
    return directory


def _kdump_tools_dump(root, stamp, log="sysrq_debian12.log"):
    # kdump-tools' own directory of the same panic (its fallback after the lean capture gave up)
    directory = root / "web1" / ("10.0.0.5-" + stamp)
    directory.mkdir()
    (directory / ("dump." + stamp)).write_bytes(builders.kdump_compressed())
    shutil.copyfile(os.path.join(TRIAGE, log), str(directory / ("dmesg." + stamp)))
    return directory


def _touch(directory, when):
    for path in directory.iterdir():
        os.utime(str(path), (when, when))


@pytest.mark.parametrize("partial", [True, False], ids=["attempt-ingested-last", "attempt-ingested-first"])
def test_a_panic_the_lean_capture_gave_up_on_is_one_crash_with_its_attempt_beside_it(loop, partial):
    # One panic, two directories on the server: the lean capture's attempt (its kernel log, the
    # reason; with a partial dump it waits for the abandon time, without one it settles first)
    # and kdump-tools' dump. The report counts one crash, links the two, and the hook hears of
    # the panic once, whichever directory came in first.
    attempt = _lean_attempt(loop["root"], "202405181200", partial=partial)
    _touch(attempt, NOW)
    loop["ingest"]._queue_entry("web1", True)
    first = loop["ingest"].drain(now=NOW + _ingest.SETTLE_SECONDS + 1)
    saved = _kdump_tools_dump(loop["root"], "202405181202")
    _touch(saved, NOW + 200)
    loop["ingest"]._queue_entry("web1", True)
    second = loop["ingest"].drain(now=NOW + 200 + _ingest.SETTLE_SECONDS + 1)
    loop["ingest"]._queue_entry("web1", True)
    third = loop["ingest"].drain(now=NOW + _ingest.ABANDONED_SECONDS + 400)
    ingested = first["ingested"] + second["ingested"] + third["ingested"]
    assert sorted(ingested) == ["web1/" + attempt.name, "web1/" + saved.name]
    events = first["events"] + second["events"] + third["events"]
    assert [e["event"] for e in events] == ["crash", "signature"]
    assert events[0]["crash_dir"] == (saved.name if partial else attempt.name)
    report = json.loads((loop["store"] / "report.json").read_text())
    [group] = report["groups"]
    assert (report["crashes"], group["count"]) == (1, 1)
    rows = dict((row["crash_id"], row) for row in report["store_crashes"])
    assert rows[attempt.name]["attempt_of"] == "web1/" + saved.name
    assert rows[saved.name]["attempt_of"] is None
    saved_page = (loop["store"] / "report.d" / "web1" / (saved.name + ".html")).read_text()
    assert 'id="lean-attempt"' in saved_page and "makedumpfile failed" in saved_page
    assert attempt.name + ".html" in saved_page
    attempt_page = (loop["store"] / "report.d" / "web1" / (attempt.name + ".html")).read_text()
    assert 'id="attempt-of"' in attempt_page and saved.name + ".html" in attempt_page
    state = json.loads((loop["store"] / _ingest.STATE_NAME).read_text())
    later = "web1/" + (attempt.name if partial else saved.name)
    assert state["crashes"][later]["same_panic_as"] == "web1/" + (saved.name if partial else attempt.name)


def test_an_attempt_and_a_dump_of_two_panics_are_two_crashes(loop):
    # the same bug twice (another uptime at the crash): nothing is paired
    attempt = _lean_attempt(loop["root"], "202405181200", partial=False, log="sysrq_debian13.log")
    saved = _kdump_tools_dump(loop["root"], "202405181202")
    _touch(attempt, NOW)
    _touch(saved, NOW)
    loop["ingest"]._queue_entry("web1", True)
    summary = loop["ingest"].drain(now=NOW + _ingest.SETTLE_SECONDS + 1)
    assert len(summary["ingested"]) == 2
    assert [e["event"] for e in summary["events"]].count("crash") == 2
    report = json.loads((loop["store"] / "report.json").read_text())
    assert report["crashes"] == 2
    assert [row["attempt_of"] for row in report["store_crashes"]] == [None, None]


def test_the_same_bug_on_a_second_host_is_one_more_crash_not_a_new_signature(loop, monkeypatch):
    crash(loop["crash_root"])
    loop["pusher"].run(now=NOW)
    loop["ingest"].drain(now=NOW)
    (loop["root"] / "web2").mkdir()
    monkeypatch.setenv("CLIENT", "web2")
    other = _push.Pusher(dict(loop["pusher"].config, root=str(loop["tmp"] / "other"),
                              state=str(loop["tmp"] / "other-state.json")),
                         identity={"host_id": "web2"}, log=loop["logs"].append)
    (loop["tmp"] / "other").mkdir()
    crash(loop["tmp"] / "other", "202405190800")
    assert other.run(now=NOW)["sent"] == ["202405190800"]
    summary = loop["ingest"].drain(now=NOW)
    assert [e["event"] for e in summary["events"]] == ["crash"]
    assert summary["events"][0]["first_seen"] is False


def test_server_unreachable_waits_retries_and_sends_once(loop, monkeypatch):
    directory = crash(loop["crash_root"])
    monkeypatch.setenv("FAKE_SSH_DOWN", "1")
    report = loop["pusher"].run(now=NOW)
    assert report["sent"] == [] and report["failed"][0]["next_try"] == NOW + 60
    assert "Connection timed out" in report["failed"][0]["error"]
    # before the backoff: not tried again
    assert loop["pusher"].run(now=NOW + 30)["waiting"] == [STAMP]
    report = loop["pusher"].run(now=NOW + 61)
    assert report["failed"][0]["next_try"] == NOW + 61 + 120
    monkeypatch.delenv("FAKE_SSH_DOWN")
    assert loop["pusher"].run(now=NOW + 200)["sent"] == [STAMP]
    assert loop["pusher"].run(now=NOW + 400)["sent"] == []
    # the local dump is still there, untouched
    assert (directory / ("dump." + STAMP)).read_bytes() == builders.kdump_compressed()
    assert loop["ingest"].drain(now=NOW + 400)["ingested"] == ["web1/" + STAMP]


def test_retry_max_seconds_caps_the_wait_between_tries(loop, monkeypatch):
    crash(loop["crash_root"])
    loop["pusher"].config["retry_max_seconds"] = 60
    monkeypatch.setenv("FAKE_SSH_DOWN", "1")
    for attempt in range(4):
        report = loop["pusher"].run(now=NOW + attempt * 60)
        assert report["failed"][0]["next_try"] == NOW + attempt * 60 + 60
    monkeypatch.delenv("FAKE_SSH_DOWN")
    assert loop["pusher"].run(now=NOW + 240)["sent"] == [STAMP]


@pytest.mark.parametrize("value", [-1, "60", True, 1.5])
def test_retry_max_seconds_must_be_a_whole_number(tmp_path, value):
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps({"server": "dumpsrv", "retry_max_seconds": value}))
    with pytest.raises(ValidationError, match="retry_max_seconds"):
        _push.load_config(str(path))
    path.write_text(json.dumps({"server": "dumpsrv"}))
    assert _push.load_config(str(path))["retry_max_seconds"] == 3600


def test_an_ssh_capture_settles_when_its_log_arrives(loop):
    incoming = loop["root"] / "web1" / ("10.0.0.5-" + STAMP)
    incoming.mkdir()
    (incoming / "dump-incomplete").write_bytes(builders.kdump_compressed())
    loop["ingest"]._queue_entry("web1", True)
    summary = loop["ingest"].drain(now=NOW)
    assert summary["ingested"] == [] and summary["waiting"]
    # the inbox the path unit watches is empty; the client waits for the timer's next run
    assert os.listdir(str(loop["root"] / ".queue")) == []
    assert os.listdir(str(loop["store"] / ".waiting")) == ["web1"]
    os.rename(str(incoming / "dump-incomplete"), str(incoming / ("dump." + STAMP)))
    summary = loop["ingest"].drain(now=NOW)
    assert summary["ingested"] == [] and "kernel log" in summary["waiting"][0]
    shutil.copyfile(os.path.join(TRIAGE, "sysrq_debian12.log"), str(incoming / ("dmesg." + STAMP)))
    summary = loop["ingest"].drain(now=NOW)
    assert summary["ingested"] == ["web1/10.0.0.5-" + STAMP]
    assert os.listdir(str(loop["store"] / ".waiting")) == []


def test_the_server_never_takes_a_crash_before_its_push_is_complete(loop, monkeypatch):
    """The receiver queues the client after every file, and the path unit starts the ingest at
    once: it must wait for the rest of the push (once, a kernel log and a dump were ingested
    before the host's bundle had come, and the hook announced the half-sent crash)."""
    crash(loop["crash_root"])
    pusher = loop["pusher"]
    pushed, early = [], []
    original = pusher.push_fd

    def push_then_ingest(crash_name, name, fd, size, digest):
        original(crash_name, name, fd, size, digest)
        pushed.append(name)
        early.extend(loop["ingest"].drain(now=NOW)["ingested"])
        if len(pushed) < 4:
            assert not early, "ingested after %s" % pushed

    monkeypatch.setattr(pusher, "push_fd", push_then_ingest)
    assert pusher.run(now=NOW)["sent"] == [STAMP]
    assert pushed[0] == _push.PUSH_MANIFEST and len(pushed) == 4
    assert early == ["web1/" + STAMP]
    bundle = loop["store"] / "web1" / STAMP / _push.HOST_BUNDLE
    assert bundle.is_file()


def test_a_failing_hook_is_retried_and_never_blocks_ingest(loop):
    crash(loop["crash_root"])
    loop["pusher"].run(now=NOW)
    (loop["tmp"] / "hook-fails").write_text("")
    assert loop["ingest"].drain(now=NOW)["ingested"]
    result = _ingest.run_hooks(str(loop["store"]), loop["hook"], now=NOW)
    assert result == {"done": 0, "failed": 2, "waiting": 0}
    assert _ingest.run_hooks(str(loop["store"]), loop["hook"], now=NOW + 10)["waiting"] == 2
    (loop["tmp"] / "hook-fails").unlink()
    assert _ingest.run_hooks(str(loop["store"]), loop["hook"], now=NOW + 4000)["done"] == 2


@pytest.mark.parametrize("files, manifest, ready", [
    ({}, None, False),
    ({"dump.202405181200": (10, NOW)}, None, False),
    ({"dump.202405181200": (10, NOW - 500)}, None, True),
    ({"dump.202405181200": (10, NOW), "dmesg.202405181200": (5, NOW)}, None, True),
    ({"dump-incomplete": (10, NOW - 5000), "dmesg.202405181200": (5, NOW)}, None, False),
    ({"dmesg.x": (5, NOW)}, {"files": [{"name": "dmesg.x", "size": 5}]}, True),
    ({"dmesg.x": (5, NOW)}, {"files": [{"name": "dmesg.x", "size": 5}, {"name": "dump.x", "size": 9}]}, False),
    ({"dmesg.x": (5, NOW)}, {"files": "nonsense"}, False),
    # announced first: a kernel log and a dump alone are not the whole push
    ({"crashkit-push.json": (9, NOW), "dmesg.x": (5, NOW), "dump.x": (9, NOW)},
     {"files": [{"name": "dmesg.x", "size": 5}, {"name": "dump.x", "size": 9},
                {"name": "crashkit-host-bundle.tar.gz", "size": 7}]}, False),
    # ... unless the client gave up: nothing new for the settle time
    ({"crashkit-push.json": (9, NOW - 500), "dmesg.x": (5, NOW - 500)},
     {"files": [{"name": "dmesg.x", "size": 5}, {"name": "dump.x", "size": 9}]}, True),
    ({"crashkit-push.json": (9, NOW - 500)}, {"files": [{"name": "dmesg.x", "size": 5}]}, False),
    # hostile manifests: names and sizes of other types are never "there" (and never raise)
    ({"dmesg.x": (5, NOW)}, {"files": [{"name": ["dmesg.x"], "size": 5}]}, False),
    ({"dmesg.x": (5, NOW)}, {"files": [{"name": {"a": 1}, "size": 5}]}, False),
    ({"dmesg.x": (1, NOW)}, {"files": [{"name": "dmesg.x", "size": True}]}, False),
    ({"dmesg.x": (5, NOW)}, {"files": [{"name": "dmesg.x", "size": "5"}]}, False),
    ({"dmesg.x": (5, NOW)}, {"files": ["dmesg.x"]}, False),
    # a partial file a killed receiver left: a complete push is taken beside it ...
    ({".push-0123.part": (3, NOW), "dmesg.x": (5, NOW)}, {"files": [{"name": "dmesg.x", "size": 5}]}, True),
    # ... an incomplete one waits for it while it is recent ...
    ({".push-0123.part": (3, NOW - 60), "crashkit-push.json": (9, NOW - 600), "dmesg.x": (5, NOW - 600)},
     {"files": [{"name": "dmesg.x", "size": 5}, {"name": "dump.x", "size": 9}]}, False),
    # ... and is taken with what came once nothing wrote it for an hour
    ({".push-0123.part": (3, NOW - 3600), "crashkit-push.json": (9, NOW - 3600), "dmesg.x": (5, NOW - 3600)},
     {"files": [{"name": "dmesg.x", "size": 5}, {"name": "dump.x", "size": 9}]}, True),
    # a capture kernel that died mid-dump: its kernel log is taken an hour after the last write
    ({"dump-incomplete": (10, NOW - 3599), "dmesg.202405181200": (5, NOW - 4000)}, None, False),
    ({"dump-incomplete": (10, NOW - 3600), "dmesg.202405181200": (5, NOW - 4000)}, None, True),
    # a temporary name announced by the client does not make a push complete
    ({"dump-incomplete": (9, NOW)}, {"files": [{"name": "dump-incomplete", "size": 9}]}, False),
    # nothing but a given-up partial file: nothing to take
    ({".push-0123.part": (3, NOW - 9000)}, None, False),
])
def test_settled(files, manifest, ready):
    assert _ingest.settled(files, NOW, push_manifest=manifest)[0] is ready


def test_a_partial_file_left_by_a_killed_receiver_neither_blocks_nor_enters_the_store(loop):
    """The receiver killed mid-file (SIGKILL, the server's power) leaves its ``.push-*.part``;
    the client's next try completes the push. Before, that file held the crash back forever."""
    crash(loop["crash_root"])
    assert loop["pusher"].run(now=NOW)["sent"] == [STAMP]
    incoming = loop["root"] / "web1" / STAMP
    (incoming / ".push-0123456789abcdef.part").write_bytes(b"half a dump")
    summary = loop["ingest"].drain(now=NOW)
    assert summary["ingested"] == ["web1/" + STAMP], summary
    entry = loop["store"] / "web1" / STAMP
    assert not [n for n in os.listdir(str(entry)) if n.startswith(".push-")]
    manifest = _store.parse_manifest((entry / "manifest.json").read_text())
    assert not [f for f in manifest["files"] if ".part" in f["path"]]


def test_a_push_given_up_beside_a_partial_file_is_ingested_once_the_file_is_old(loop, monkeypatch):
    """The client pushed the manifest and the kernel log, the receiver died in the dump, the
    client never came back (replaced): the kernel log reaches the store an hour later."""
    crash(loop["crash_root"])
    pusher = loop["pusher"]
    original = pusher.push_fd

    def die_in_the_dump(crash_name, name, fd, size, digest):
        if name.startswith("dump."):
            raise _push.PushError("the receiver was killed")
        original(crash_name, name, fd, size, digest)

    monkeypatch.setattr(pusher, "push_fd", die_in_the_dump)
    pusher.run(now=NOW)
    incoming = loop["root"] / "web1" / STAMP
    part = incoming / ".push-0123456789abcdef.part"
    part.write_bytes(b"half a dump")
    written = os.stat(str(part)).st_mtime
    assert loop["ingest"].drain(now=written + 60)["ingested"] == []
    assert loop["ingest"].drain(now=written + _ingest.ABANDONED_SECONDS - 1)["ingested"] == []
    summary = loop["ingest"].drain(now=written + _ingest.ABANDONED_SECONDS + 1)
    assert summary["ingested"] == ["web1/" + STAMP], summary
    triage = json.loads((loop["store"] / "web1" / STAMP / "triage.json").read_text())
    assert triage["function"] == "sysrq_handle_crash"


@pytest.mark.parametrize("attempts, seconds", [(1, 60), (2, 120), (3, 240), (7, 3600), (50, 3600)])
def test_backoff(attempts, seconds):
    assert _push.backoff(attempts) == seconds


@pytest.mark.parametrize("attempts, maximum, seconds", [(1, 60, 60), (5, 60, 60), (3, 200, 200), (2, 0, 0)])
def test_backoff_capped_by_retry_max(attempts, maximum, seconds):
    assert _push.backoff(attempts, maximum) == seconds


def test_dump_policy():
    files = [{"path": "dmesg.202405181200", "size": 10}, {"path": "dump.202405181200", "size": 600 * 1024 * 1024},
             {"path": "crashkit-bundle/bundle.json", "size": 1}]
    crash_entry = {"files": files}
    assert _push.choose_files(crash_entry, "never", 512) == ["dmesg.202405181200"]
    assert _push.choose_files(crash_entry, "auto", 512) == ["dmesg.202405181200"]
    assert _push.choose_files(crash_entry, "auto", 1024) == ["dmesg.202405181200", "dump.202405181200"]
    assert _push.choose_files(crash_entry, "always", 1) == ["dmesg.202405181200", "dump.202405181200"]
    # the lean capture's note goes with the log (which capture saved it), unless it is no note's size
    files.append({"path": "crashkit-capture.txt", "size": 49})
    assert _push.choose_files(crash_entry, "never", 512) == ["dmesg.202405181200", "crashkit-capture.txt"]
    files[-1]["size"] = 1024 * 1024
    assert _push.choose_files(crash_entry, "never", 512) == ["dmesg.202405181200"]


def test_queue_entries_that_are_not_client_ids_are_dropped(loop):
    (loop["root"] / ".queue" / "..evil").write_text("")
    summary = loop["ingest"].drain(now=NOW)
    assert summary["errors"] and os.listdir(str(loop["root"] / ".queue")) == []


# Where each family's capture leaves a crash (tests/unit/fixtures/kdumpconf/crash-tree-*.txt):
# kdump-utils / kexec-tools <ip>-<date-time>/vmcore + vmcore-dmesg.txt, SUSE kdump 2.x
# <date-HH-MM>/vmcore + dmesg + README.txt, SUSE 1.x <date-HH:MM>/vmcore + dmesg.txt.
@pytest.mark.parametrize("directory, dump, log, extra", [
    ("127.0.0.1-2024-05-18-12:00:03", "vmcore", "vmcore-dmesg.txt", "kexec-dmesg.log"),
    ("2024-05-18-12-00", "vmcore", "dmesg", "README.txt"),
    ("2024-05-18-12:00", "vmcore", "dmesg.txt", "README.txt"),
])
def test_every_familys_crash_layout_is_sent_and_triaged(loop, directory, dump, log, extra):
    crash_dir = loop["crash_root"] / directory
    crash_dir.mkdir()
    (crash_dir / dump).write_bytes(builders.kdump_compressed())
    shutil.copyfile(os.path.join(TRIAGE, "sysrq_debian12.log"), str(crash_dir / log))
    (crash_dir / extra).write_text("saved by the capture kernel\n")
    report = loop["pusher"].run(now=NOW)
    assert report["sent"] == [directory] and report["failed"] == [], loop["logs"]
    # on the server under a name of safe characters (a colon becomes "-" plus a digest suffix)
    remote = _store.crash_id(directory)
    assert remote == directory or ":" in directory
    assert {dump, log} <= set(os.listdir(str(loop["root"] / "web1" / remote)))
    summary = loop["ingest"].drain(now=NOW)
    assert summary["ingested"] == ["web1/" + remote] and not summary["errors"], summary
    triage = json.loads((loop["store"] / "web1" / remote / "triage.json").read_text())
    assert (triage["kind"], triage["function"]) == ("sysrq", "sysrq_handle_crash")
    assert loop["pusher"].run(now=NOW + 60)["sent"] == []


def test_the_kdump_scenarios_hostile_directories_are_each_sent_once(loop, tmp_path):
    """What molecule/kdump/side_effect.yml plants beside a real crash: a name with shell and
    terminal characters, a log linked to a root-only file, a 24 MB log without a newline. Each
    is sent (under a safe name), nothing follows the link, the ingest takes all of them."""
    secret = tmp_path / "secret"
    secret.write_text("crashkit-secret-0123\n")
    secret.chmod(0o600)
    crash(loop["crash_root"])
    hostile = "x$(id)`id`;\033[31m\033]0;owned\007202612020101"
    for name in (hostile, "202612020102", "202612020103"):
        directory = loop["crash_root"] / name
        directory.mkdir()
        (directory / ("dump." + name[-12:])).write_bytes(builders.kdump_compressed())
    shutil.copyfile(os.path.join(TRIAGE, "sysrq_debian12.log"), str(loop["crash_root"] / hostile / "dmesg.202612020101"))
    (loop["crash_root"] / "202612020102" / "dmesg.202612020102").symlink_to(secret)
    with open(str(loop["crash_root"] / "202612020103" / "dmesg.202612020103"), "wb") as handle:
        handle.write(b"A" * 24000000)
    report = loop["pusher"].run(now=NOW)
    # the report names crashes as they are safe to print (escapes, no terminal control bytes)
    assert sorted(report["sent"]) == sorted([STAMP, _safefs.display(hostile), "202612020102", "202612020103"]), \
        (report, loop["logs"])
    assert not any("\033" in name or "\007" in name for name in report["sent"])
    state = json.loads(open(loop["pusher"].config["state"]).read())
    assert sum(1 for entry in state["crashes"].values() if entry["status"] == "sent") == 4
    incoming = sorted(os.listdir(str(loop["root"] / "web1")))
    assert len(incoming) == 4 and all(_store.crash_id(n) == n for n in incoming)
    for dirpath, _dirs, files in os.walk(str(loop["root"])):
        for name in files:
            with open(os.path.join(dirpath, name), "rb") as handle:
                assert b"crashkit-secret-0123" not in handle.read(), os.path.join(dirpath, name)
    summary = loop["ingest"].drain(now=NOW)
    assert len(summary["ingested"]) == 4 and not summary["errors"], summary


def test_an_ingest_killed_in_the_middle_leaves_the_client_for_the_timer(loop, monkeypatch):
    """The inbox entry is taken before the work; before, a kill in the work (the server's power,
    the OOM killer) lost the client's crash until its next push."""
    crash(loop["crash_root"])
    loop["pusher"].run(now=NOW)
    ingest = loop["ingest"]

    def killed(host, now):
        raise SystemExit("killed")

    monkeypatch.setattr(ingest, "ingest_host", killed)
    with pytest.raises(SystemExit):
        ingest.drain(now=NOW)
    assert os.listdir(str(loop["root"] / ".queue")) == []
    monkeypatch.undo()
    assert ingest.queued() == ["web1"]
    assert ingest.drain(now=NOW)["ingested"] == ["web1/" + STAMP]
    assert ingest.queued() == []


def test_one_client_whose_data_breaks_the_ingest_does_not_stop_the_others(loop, monkeypatch):
    crash(loop["crash_root"])
    loop["pusher"].run(now=NOW)
    (loop["root"] / "evil").mkdir()
    loop["ingest"]._queue_entry("evil", True)
    ingest = loop["ingest"]
    real = ingest.ingest_host

    def breaks_on_evil(host, now):
        if host == "evil":
            raise TypeError("unhashable type: 'list'")
        return real(host, now)

    monkeypatch.setattr(ingest, "ingest_host", breaks_on_evil)
    summary = ingest.drain(now=NOW)
    assert summary["ingested"] == ["web1/" + STAMP]
    assert summary["errors"] == ["evil: TypeError: unhashable type: 'list'"]
    assert ingest.queued() == ["evil"]
    assert any("evil: TypeError" in line and "tried again later" in line for line in loop["logs"])


# --- clients that write over NFS (kdump-tools NFS=): never queued, scanned on every run ------

NFS_STAMP = "202612041700"
NFS_DIR = "10.0.0.5-" + NFS_STAMP


def scanning(loop, *hosts):
    return _ingest.Ingest(str(loop["root"]), str(loop["store"]), hooks=True, report=True, log=loop["logs"].append,
                          scan=list(hosts))


def nfs_crash(root, host, names, directory=NFS_DIR):
    """A crash as kdump-tools leaves it on an NFS export of ``<root>/<host>``."""
    crash_dir = root / host / directory
    crash_dir.mkdir(parents=True)
    for name in names:
        if name.startswith(("dmesg", "vmcore-dmesg")):
            shutil.copyfile(os.path.join(TRIAGE, "sysrq_debian12.log"), str(crash_dir / name))
        else:
            (crash_dir / name).write_bytes(builders.kdump_compressed())
    return crash_dir


def tree(top):
    """``{relative path: content}`` of every file (``None`` for a directory) below ``top``."""
    found = {}
    for dirpath, dirs, files in os.walk(str(top)):
        for name in dirs:
            found[os.path.relpath(os.path.join(dirpath, name), str(top))] = None
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, str(top))] = handle.read()
    return found


@pytest.mark.parametrize("names, ingested", [
    (("dmesg." + NFS_STAMP, "dump." + NFS_STAMP), True),
    (("dmesg." + NFS_STAMP, "dump-incomplete"), False),
    (("dump-incomplete",), False),
])
def test_a_scanned_nfs_clients_crash_is_ingested_without_a_queue_entry(loop, names, ingested):
    nfs_crash(loop["root"], "nfs1", names)
    ingest = scanning(loop, "nfs1")
    assert ingest.queued() == ["nfs1"]
    now = int(time.time())
    summary = ingest.drain(now=now)
    assert not summary["errors"], summary
    assert os.listdir(str(loop["root"] / ".queue")) == []
    if ingested:
        assert summary["ingested"] == ["nfs1/" + NFS_DIR] and not summary["waiting"]
        assert [e["event"] for e in summary["events"]] == ["crash", "signature"]
        triage = json.loads((loop["store"] / "nfs1" / NFS_DIR / "triage.json").read_text())
        assert (triage["kind"], triage["function"]) == ("sysrq", "sysrq_handle_crash")
        assert os.listdir(str(loop["store"] / ".waiting")) == []
    else:
        assert summary["ingested"] == [] and summary["events"] == []
        assert summary["waiting"] == ["nfs1/%s: a file still has its temporary name" % NFS_DIR]
        assert not (loop["store"] / "nfs1" / NFS_DIR).exists()
        assert os.listdir(str(loop["store"] / ".waiting")) == ["nfs1"]
    # the timer's next run: nothing new is nothing ingested, nothing announced, the store as it was
    # (and its state file not written again: a scanned client is looked at every minute)
    before = tree(loop["store"])
    state = loop["store"] / ".ingest-state.json"
    written = os.stat(str(state)).st_ino if state.exists() else None
    summary = ingest.drain(now=now + 60)
    assert summary["ingested"] == [] and summary["events"] == [] and not summary["errors"], summary
    assert tree(loop["store"]) == before
    assert (os.stat(str(state)).st_ino if state.exists() else None) == written
    # the hook queue holds the first run's two events (a crash, a signature), no more
    assert len([n for n in before if n.startswith(".hooks" + os.sep)]) == (2 if ingested else 0)


def test_a_scanned_capture_is_ingested_by_the_run_after_its_dump_is_renamed(loop):
    crash_dir = nfs_crash(loop["root"], "nfs1", ("dmesg." + NFS_STAMP, "dump-incomplete"))
    ingest = scanning(loop, "nfs1")
    now = int(time.time())
    assert ingest.drain(now=now)["ingested"] == []
    os.rename(str(crash_dir / "dump-incomplete"), str(crash_dir / ("dump." + NFS_STAMP)))
    summary = ingest.drain(now=now + 60)
    assert summary["ingested"] == ["nfs1/" + NFS_DIR] and not summary["errors"], summary
    assert os.listdir(str(loop["root"] / ".queue")) == []


@pytest.mark.parametrize("host", ["..evil", "../web1", "web1/..", "", ".queue", "-web1", "a b", "report",
                                  "x" * 200, "web1\n", 42, None])
def test_a_scan_entry_that_is_not_a_client_id_is_an_error_and_makes_no_file(loop, host):
    nfs_crash(loop["root"], "web1", ("dmesg." + NFS_STAMP, "dump." + NFS_STAMP))
    ingest = scanning(loop, host)
    assert ingest.queued() == []
    before = tree(loop["tmp"])
    summary = ingest.drain(now=NOW)
    assert summary["errors"] == ["scan entry %s is not a client id: skipped" % _safefs.display(host)]
    assert summary["ingested"] == [] and summary["events"] == []
    assert tree(loop["tmp"]) == before


@pytest.mark.parametrize("make, error", [
    (None, None),  # no crash ever: no directory yet, not an error
    ("link", "symbolic link"),
    ("file", "not a directory"),
])
def test_a_scanned_client_without_a_directory_is_no_error_but_a_wrong_one_is(loop, make, error):
    elsewhere = loop["tmp"] / "elsewhere"
    elsewhere.mkdir()
    if make == "link":
        (loop["root"] / "nfs2").symlink_to(elsewhere)
    elif make == "file":
        (loop["root"] / "nfs2").write_text("")
    ingest = scanning(loop, "nfs2")
    before = tree(loop["tmp"])
    summary = ingest.drain(now=NOW)
    assert summary["ingested"] == [] and summary["waiting"] == [] and summary["events"] == []
    if error is None:
        assert summary["errors"] == []
        assert tree(loop["tmp"]) == before
    else:
        [message] = summary["errors"]
        assert message.startswith("nfs2: ") and error in message
        assert ingest.queued() == ["nfs2"]


def test_a_scanned_root_that_is_missing_is_an_error(tmp_path):
    ingest = _ingest.Ingest(str(tmp_path / "nowhere"), str(tmp_path), log=lambda _m: None, scan=["nfs1"])
    [message] = ingest.drain(now=NOW)["errors"]
    assert message.startswith("nfs1: ")


@pytest.mark.parametrize("queue, waiting, scan, expected", [
    ([], [], ["nfs1"], ["nfs1"]),
    (["web1"], [], ["web1"], ["web1"]),
    (["b"], ["c"], ["a", "b"], ["a", "b", "c"]),
    ([], ["c"], ["../c", "c"], ["c"]),
    ([], [], [], []),
])
def test_queued_is_the_union_of_inbox_waiting_list_and_scan(loop, queue, waiting, scan, expected):
    ingest = scanning(loop, *scan)
    for host in queue:
        ingest._queue_entry(host, True)
    for host in waiting:
        ingest._mark(str(loop["store"] / ".waiting"), host, True)
    assert ingest.queued() == expected


def test_a_client_both_queued_and_scanned_is_looked_at_and_ingested_once(loop, monkeypatch):
    nfs_crash(loop["root"], "web1", ("dmesg." + NFS_STAMP, "dump." + NFS_STAMP))
    ingest = scanning(loop, "web1", "nfs2")
    ingest._queue_entry("web1", True)
    real = ingest.ingest_host
    looked = []

    def counted(host, now):
        looked.append(host)
        return real(host, now)

    monkeypatch.setattr(ingest, "ingest_host", counted)
    summary = ingest.drain(now=NOW)
    assert summary["ingested"] == ["web1/" + NFS_DIR] and not summary["errors"], summary
    assert [e["event"] for e in summary["events"]] == ["crash", "signature"]
    # once in this run: the scanned clients are not taken again after the first round
    assert looked == ["web1"]
    assert os.listdir(str(loop["root"] / ".queue")) == []
    assert ingest.queued() == ["nfs2", "web1"]


@pytest.mark.parametrize("scan, rc, message", [
    (["nfs1"], 0, None),
    (None, 0, None),
    ([], 0, None),
    ("nfs1", 2, "scan must be a list"),
    ([1], 2, "scan must be a list"),
    ({"nfs1": True}, 2, "scan must be a list"),
    (["nfs1", None], 2, "scan must be a list"),
])
def test_main_reads_the_scan_list(loop, capsys, scan, rc, message):
    nfs_crash(loop["root"], "nfs1", ("dmesg." + NFS_STAMP, "dump." + NFS_STAMP))
    config = {"root": str(loop["root"]), "store": str(loop["store"]), "report": False}
    if scan is not None:
        config["scan"] = scan
    path = loop["tmp"] / "ingest.json"
    path.write_text(json.dumps(config))
    assert _ingest.main(["--config", str(path)]) == rc
    err = capsys.readouterr().err
    if message:
        assert "crashkit-ingest: %s: %s" % (path, message) in err
    assert (loop["store"] / "nfs1" / NFS_DIR / "manifest.json").is_file() is (scan == ["nfs1"])
