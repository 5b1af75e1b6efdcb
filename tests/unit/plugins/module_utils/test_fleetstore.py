# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""write_store_report: a store read as hostile data, the report files written safely."""
from __future__ import absolute_import, division, print_function

import json
import os
import stat
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fleet_store
from ansible_collections.crashkit.kdump.plugins.module_utils import _fleetstore as fs
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import HostError

NOW = 1780000000          # 2026-05-28T20:26:40Z
DAY = fleet_store.DAY


def listing(root):
    found = []
    for base, dirs, files in os.walk(str(root)):
        for name in dirs + files:
            found.append(os.path.relpath(os.path.join(base, name), str(root)))
    return sorted(found)


def report_files(store):
    return sorted(name for name in listing(store) if name.startswith("report"))


@pytest.fixture
def fleet(tmp_path):
    store, results = fleet_store.fleet(tmp_path, NOW)
    return store, results


def test_writes_the_report_files_and_a_page_per_crash(fleet):
    store, results = fleet
    result = fs.write_store_report(store, panic_results=results, readiness=fleet_store.READINESS, now=NOW)
    assert result["changed"] is True and result["pages"] == 10
    assert result["paths"] == [os.path.join(store, name) for name in ("report.json", "report.md", "report.html")]
    pages = [name for name in report_files(store) if name.endswith(".html") and name != "report.html"]
    assert len(pages) == 10 and all(name.startswith("report.d/") for name in pages)
    caches = [name for name in report_files(store) if name.endswith(".triage.json")]
    assert len(caches) == 10
    for name in ["report.json", "report.md", "report.html"] + pages:
        mode = os.lstat(os.path.join(store, name)).st_mode
        assert stat.S_ISREG(mode) and stat.S_IMODE(mode) == 0o644, name
    assert not [name for name in listing(store) if name.endswith(".tmp")]
    with open(os.path.join(store, "report.json")) as handle:
        report = json.load(handle)
    assert report == result["report"]
    # biggest first; groups of one crash each in the order of their signatures
    assert [(g["kind"], g["count"], g["host_count"]) for g in report["groups"]] == [
        ("null_deref", 5, 2), ("sysrq", 3, 1), ("soft_lockup", 1, 1), ("panic", 1, 1)]
    assert report["as_of"] == "2026-05-28" and report["new_crashes"] == 7
    assert sum(report["timeline"]["total"]) == 10 and len(report["timeline"]["days"]) == 90
    assert report["failed"] == []
    rows = dict((row["host"], row) for row in report["hosts"])
    assert (rows["web1"]["crashes"], rows["db1"]["crashes"], rows["app1"]["crashes"]) == (3, 4, 1)
    assert [h["status"] for h in report["panic_history"]["db1"]] == ["fail", "pass", "pass"]
    assert sorted(c["page"] for c in result["crashes"]) == sorted(pages)
    # Nothing changed: nothing is written again.
    before = dict((name, os.stat(os.path.join(store, name)).st_mtime_ns) for name in report_files(store))
    again = fs.write_store_report(store, panic_results=results, readiness=fleet_store.READINESS, now=NOW)
    assert again["changed"] is False
    assert before == dict((name, os.stat(os.path.join(store, name)).st_mtime_ns) for name in report_files(store))


def test_check_mode_writes_nothing(fleet):
    store, results = fleet
    files = listing(store)
    result = fs.write_store_report(store, panic_results=results, now=NOW, check_mode=True)
    assert result["changed"] is True and listing(store) == files
    assert [d["after_header"] for d in result["diff"]] == [
        os.path.join(store, "report.json"), os.path.join(store, "report.md")]
    assert json.loads(result["diff"][0]["after"]) == result["report"] and result["diff"][0]["before"] == ""


def test_bad_crash_time_fails_that_crash_only(tmp_path):
    """Hardening finding 8: a dump header's CRASHTIME=100000000000000000, stored in the manifest, made
    the report fail for the whole fleet ("Value too large"). Now that crash is listed as failed."""
    store = fleet_store.Store(tmp_path / "store")
    store.crash("web1-aaaaaaaaaaaa", "good", "sysrq_debian12.log", NOW - DAY)
    store.crash("web2-bbbbbbbbbbbb", "huge", "sysrq_debian12.log", 100000000000000000)
    store.crash("web2-bbbbbbbbbbbb", "future", "sysrq_debian12.log", NOW + 10 * DAY)
    store.crash("web2-bbbbbbbbbbbb", "text", "sysrq_debian12.log", "1716033603")
    store.crash("web2-bbbbbbbbbbbb", "float", "sysrq_debian12.log", 1e308)
    store.crash("web2-bbbbbbbbbbbb", "negative", "sysrq_debian12.log", -5)
    result = fs.write_store_report(store.root, now=NOW)
    report = result["report"]
    assert report["crashes"] == 1 and report["groups"][0]["last_seen"] == "2026-05-27T20:26:40Z"
    failed = dict((f["source"], f["error"]) for f in report["failed"])
    assert sorted(failed) == ["web2-bbbbbbbbbbbb/" + name for name in ("float", "future", "huge", "negative", "text")]
    # Refused by the manifest's validation (_store: 1990-2100) or by the report (not after it).
    for name, value in (("huge", "100000000000000000"), ("text", "1716033603"), ("negative", "-5")):
        error = failed["web2-bbbbbbbbbbbb/" + name]
        assert "crash_time" in error and value in error and ("not a time" in error or "not a plausible time" in error)
    assert "up to one day after the report's time" in failed["web2-bbbbbbbbbbbb/future"]
    # Each still has its page, saying why, and listing its files.
    assert os.path.isfile(os.path.join(store.root, "report.d", "web2-bbbbbbbbbbbb", "huge.html"))


@pytest.mark.parametrize("name, make, error", [
    ("not-json", lambda d: _write(d, "manifest.json", b"{"), "evil-cccccccccccc/not-json/manifest.json is not valid JSON"),
    ("no-files", lambda d: _write(d, "manifest.json", json.dumps({"format": 1, "host_id": "h", "crash_id": "c",
                                                                  "source_dir": "/", "files": []}).encode()),
     "manifest lists no files"),
    ("escaping-path", lambda d: _write(d, "manifest.json", json.dumps({
        "format": 1, "host_id": "h", "crash_id": "c", "source_dir": "/",
        "files": [{"path": "../../../etc/shadow", "size": 1, "sha256": "0" * 64}]}).encode()),
     "leaves its crash directory"),
    ("huge", lambda d: _write(d, "manifest.json", b" " * (fs.MANIFEST_MAX_BYTES + 1)), "bigger than"),
    ("linked", lambda d: _link(d, "manifest.json", "/etc/passwd"), "symbolic link"),
    ("fifo", lambda d: (os.unlink(os.path.join(d, "manifest.json")), os.mkfifo(os.path.join(d, "manifest.json"))),
     "not a regular file"),
    ("deep", lambda d: _write(d, "manifest.json", b"[" * 100000 + b"]" * 100000), "is not valid JSON"),
    ("bad-bundle", lambda d: _write(d, "crashkit-bundle/bundle.json", b"\xff" * 10), None),
    ("log-link", lambda d: (os.unlink(os.path.join(d, "crashkit-bundle", "dmesg.txt")),
                            _link(d, "crashkit-bundle/dmesg.txt", "/etc/passwd")), "symbolic link"),
    ("log-fifo", lambda d: (os.unlink(os.path.join(d, "crashkit-bundle", "dmesg.txt")),
                            os.mkfifo(os.path.join(d, "crashkit-bundle", "dmesg.txt"))), "not a regular file"),
    ("no-log", lambda d: [os.unlink(os.path.join(d, name)) for name in ("crashkit-bundle/dmesg.txt", "dmesg.no-log")],
     "no kernel log"),
])
def test_hostile_crash_directories_fail_alone(tmp_path, name, make, error):
    store = fleet_store.Store(tmp_path / "store")
    store.crash("web1-aaaaaaaaaaaa", "good", "sysrq_debian12.log", NOW - DAY)
    make(store.crash("evil-cccccccccccc", name, "null_deref_module.log", NOW - DAY))
    done = []

    def run():
        try:
            done.append(fs.write_store_report(store.root, now=NOW))
        except BaseException as exc:  # noqa: B902 - reported below
            done.append(exc)
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(60)
    assert done, "write_store_report hung"
    assert isinstance(done[0], dict), repr(done[0])
    report = done[0]["report"]
    if error is None:        # the crash itself is fine, only its page says what could not be read
        assert report["crashes"] == 2 and report["failed"] == []
        return
    assert report["crashes"] == 1 and report["groups"][0]["kind"] == "sysrq"
    assert len(report["failed"]) == 1 and error in report["failed"][0]["error"], report["failed"]


def _write(directory, name, data):
    with open(os.path.join(directory, name), "wb") as handle:
        handle.write(data)


def _link(directory, name, target):
    path = os.path.join(directory, name)
    if os.path.lexists(path):
        os.unlink(path)
    os.symlink(target, path)


def test_linked_host_and_crash_directories_are_not_read(tmp_path):
    store = fleet_store.Store(tmp_path / "store")
    elsewhere = fleet_store.Store(tmp_path / "elsewhere")
    elsewhere.crash("x-dddddddddddd", "c1", "gpf.log", NOW - DAY)
    store.crash("web1-aaaaaaaaaaaa", "good", "sysrq_debian12.log", NOW - DAY)
    os.symlink(os.path.join(elsewhere.root, "x-dddddddddddd"), os.path.join(store.root, "linked-host"))
    os.symlink(os.path.join(elsewhere.root, "x-dddddddddddd", "c1"),
               os.path.join(store.root, "web1-aaaaaaaaaaaa", "linked-crash"))
    report = fs.write_store_report(store.root, now=NOW)["report"]
    assert [g["kind"] for g in report["groups"]] == ["sysrq"]
    assert sorted(f["error"].split(" is ")[1] for f in report["failed"]) == ["a symbolic link; not read"] * 2


def test_the_hosts_own_triage_is_not_trusted(tmp_path):
    store = fleet_store.Store(tmp_path / "store")
    fake = {"kind": "sysrq", "signature": "0000000000000000", "function": "nothing_to_see"}
    store.crash("web1-aaaaaaaaaaaa", "c1", "null_deref_module.log", NOW - DAY,
                extra_files={"crashkit-bundle/triage.json": json.dumps(fake), "triage.json": json.dumps(fake)})
    report = fs.write_store_report(store.root, now=NOW)["report"]
    assert (report["groups"][0]["kind"], report["groups"][0]["function"]) == ("null_deref", "mydrv_fill_buffer")


def test_links_at_the_destination_are_replaced_not_followed(fleet, tmp_path):
    store, _results = fleet
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    os.symlink(str(victim), os.path.join(store, "report.html"))
    host_pages = os.path.join(store, "report.d", "web1-4c3d8b1f2a9e")
    os.makedirs(host_pages)
    crash_id = sorted(os.listdir(os.path.join(store, "web1-4c3d8b1f2a9e")))[0]
    os.symlink(str(victim), os.path.join(host_pages, crash_id + ".html"))
    fs.write_store_report(store, now=NOW)
    assert victim.read_text() == "precious\n"
    for path in (os.path.join(store, "report.html"), os.path.join(host_pages, crash_id + ".html")):
        assert stat.S_ISREG(os.lstat(path).st_mode)


def test_a_linked_pages_directory_is_refused(fleet, tmp_path):
    store, _results = fleet
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(str(elsewhere), os.path.join(store, "report.d"))
    with pytest.raises(HostError) as info:
        fs.write_store_report(store, now=NOW)
    assert "report.d is not a directory" in str(info.value)
    assert os.listdir(str(elsewhere)) == []


def test_triage_cache(fleet, monkeypatch):
    store, _results = fleet
    first = fs.write_store_report(store, now=NOW)
    calls = []
    real = fs.triage_log

    def counting(path):
        calls.append(path)
        return real(path)
    monkeypatch.setattr(fs, "triage_log", counting)
    again = fs.write_store_report(store, now=NOW)
    assert calls == [] and again["report"] == first["report"] and again["changed"] is False
    # A log that changed is triaged again (size and mtime are part of the key).
    crash_dir = os.path.join(store, "db2-ba9876543210", os.listdir(os.path.join(store, "db2-ba9876543210"))[0])
    log = os.path.join(crash_dir, "crashkit-bundle", "dmesg.txt")
    with open(log, "a") as handle:
        handle.write("[ 9999.000000] one more line\n")
    fs.write_store_report(store, now=NOW)
    assert calls == [log]
    # Another triage code: everything again.
    monkeypatch.setattr(fs, "_TRIAGE_CODE", ["0123456789abcdef"])
    del calls[:]
    fs.write_store_report(store, now=NOW, check_mode=True)
    assert len(calls) == 10
    fs.write_store_report(store, now=NOW, check_mode=True)      # check mode wrote no cache
    assert len(calls) == 20


def test_a_forged_cache_entry_is_not_used(fleet):
    store, _results = fleet
    fs.write_store_report(store, now=NOW)
    host = "web1-4c3d8b1f2a9e"
    cache = os.path.join(store, "report.d", host, sorted(os.listdir(os.path.join(store, host)))[0] + fs.CACHE_SUFFIX)
    with open(cache) as handle:
        data = json.load(handle)
    data["key"]["size"] += 1
    data["record"]["signature"] = "forged"
    with open(cache, "w") as handle:
        json.dump(data, handle)
    report = fs.write_store_report(store, now=NOW)["report"]
    assert "forged" not in [g["signature"] for g in report["groups"]]


@pytest.mark.parametrize("record", [
    {"signature": ["not", "text"], "kind": "sysrq"},
    {"signature": "abc", "kind": None, "kernel_release": ["6.1"]},
    {"kind": "sysrq", "kernel_release": {"a": 1}, "call_trace": "x", "excerpt": [1, None, "x" * 10 ** 6]},
])
def test_a_malformed_cached_record_fails_that_crash_only(fleet, record):
    """A cache entry with a valid key but a record of the wrong shape never breaks the report."""
    store, _results = fleet
    fs.write_store_report(store, now=NOW)
    host = "web1-4c3d8b1f2a9e"
    cache = os.path.join(store, "report.d", host, sorted(os.listdir(os.path.join(store, host)))[0] + fs.CACHE_SUFFIX)
    with open(cache) as handle:
        data = json.load(handle)
    data["record"] = record
    with open(cache, "w") as handle:
        json.dump(data, handle)
    report = fs.write_store_report(store, now=NOW)["report"]
    assert report["crashes"] in (9, 10)
    if report["crashes"] == 9:
        assert report["failed"][0]["error"] == "no usable triage record"


def test_huge_sizes_in_a_manifest(tmp_path):
    store = fleet_store.Store(tmp_path / "store")
    directory = store.crash("web1-aaaaaaaaaaaa", "c1", "sysrq_debian12.log", NOW - DAY)
    with open(os.path.join(directory, "manifest.json")) as handle:
        manifest = json.load(handle)
    manifest["files"][0]["size"] = 10 ** 310          # no float can hold it
    manifest["total_size"] = 10 ** 300
    with open(os.path.join(directory, "manifest.json"), "w") as handle:
        json.dump(manifest, handle)
    result = fs.write_store_report(store.root, now=NOW)
    assert result["report"]["crashes"] == 1 and result["pages"] == 1


def test_pages_of_removed_crashes_are_pruned(fleet):
    store, _results = fleet
    fs.write_store_report(store, now=NOW)
    notes = os.path.join(store, "report.d", "notes.txt")
    with open(notes, "w") as handle:
        handle.write("mine\n")
    import shutil
    shutil.rmtree(os.path.join(store, "app1-222222222222"))
    result = fs.write_store_report(store, now=NOW)
    assert result["pages"] == 9
    assert not os.path.exists(os.path.join(store, "report.d", "app1-222222222222"))
    assert os.path.isfile(notes)
    assert len([n for n in report_files(store) if n.endswith(fs.CACHE_SUFFIX)]) == 9


def test_crash_page_shows_the_evidence(tmp_path, monkeypatch):
    """Bundle facts, change record, culprit (a key the triage may add), kernel-log time."""
    store = fleet_store.Store(tmp_path / "store")
    store.crash("web1-aaaaaaaaaaaa", "c1", "syslog_panic_on_warn.log", None,
                bundle={"uptime_at_crash": 3725, "change": {"change_id": "CHG-77", "change_text": "rollout <x>"},
                        "dumps": [{"name": "dump.c1", "size": 10 ** 40, "complete": "yes"}, "junk"],
                        "missing": {"journal": ["not", "text"], "packages": "rpm -qa failed"},
                        "deep_triage": {"status": "done", "panic": "Kernel panic", "task": {"pid": 1},
                                        "backtrace": ["a", 7, None]}})
    real = fs.triage_log

    def with_culprit(path):
        record, error = real(path)
        record["culprit"] = {"module": "mydrv", "reason": "out-of-tree module <oot>"}
        return record, error
    monkeypatch.setattr(fs, "triage_log", with_culprit)
    result = fs.write_store_report(store.root, now=NOW)
    entry = result["report"]["store_crashes"][0]
    assert entry["when"] == "2024-05-14T01:12:45Z"          # from the log's syslog time (+02:00)
    with open(os.path.join(store.root, entry["page"])) as handle:
        page = handle.read()
    for text in ("1h 2m 5s", "CHG-77", "rollout &lt;x&gt;", "rpm -qa failed", "from the kernel log",
                 "&#34;reason&#34;: &#34;out-of-tree module &lt;oot&gt;&#34;", "Deep triage", "dump.c1"):
        assert text in page, text


@pytest.mark.parametrize("capture, shown", [
    ({"saved_by": "crashkit-initramfs", "lean_fallback": None}, ["Saved by", "crashkit-initramfs"]),
    ({"saved_by": "kdump-tools", "lean_fallback": "/var/crash is on /var, <b>which</b> the real boot mounts"},
     ["Saved by", "kdump-tools", "left it to kdump-tools: /var/crash is on /var, &lt;b&gt;which&lt;/b&gt;"]),
    ({"saved_by": None}, []),
    ("junk", []),
], ids=["lean", "fallback", "no note", "not a mapping"])
def test_crash_page_says_which_capture_saved_it(tmp_path, capture, shown):
    store = fleet_store.Store(tmp_path / "store")
    store.crash("web1-aaaaaaaaaaaa", "c1", "sysrq_debian12.log", None, bundle={"capture": capture})
    result = fs.write_store_report(store.root, now=NOW)
    entry = result["report"]["store_crashes"][0]
    assert entry["saved_by"] == (capture.get("saved_by") if isinstance(capture, dict) else None)
    with open(os.path.join(store.root, entry["page"])) as handle:
        page = handle.read()
    for text in shown:
        assert text in page, text
    assert ('id="saved-by"' in page) is bool(shown)
    assert "<b>which" not in page


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-10 ** 30, max_value=10 ** 30) | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
MANIFEST_KEYS = ("crash_time", "collected_at", "hostname", "inventory_hostname", "kernel_release", "total_size",
                 "source_dir", "files")
BUNDLE_KEYS = ("uptime_at_crash", "crashed_cmdline", "dumps", "missing", "change", "deep_triage", "kernel_release",
               "capture")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(manifest=st.dictionaries(st.sampled_from(MANIFEST_KEYS), JSON, max_size=4),
       bundle=st.dictionaries(st.sampled_from(BUNDLE_KEYS), JSON, max_size=4),
       panic=st.dictionaries(st.sampled_from(("status", "finished", "started", "reason", "dump", "host", "run_id")),
                             JSON, max_size=4),
       readiness=st.dictionaries(st.sampled_from(("ready", "loaded", "reserved_mb", "target", "problems",
                                                  "service", "service_active")), JSON, max_size=4))
def test_any_host_data_gives_a_report(tmp_path_factory, manifest, bundle, panic, readiness):
    """Whatever a host wrote into its manifest, bundle, panic-test record or readiness, the fleet
    report is written; at worst that crash is listed as failed."""
    root = tmp_path_factory.mktemp("fuzz")
    store = fleet_store.Store(root / "store")
    store.crash("good-aaaaaaaaaaaa", "c1", "sysrq_debian12.log", NOW - DAY)
    store.crash("fuzz-bbbbbbbbbbbb", "c2", "gpf.log", NOW - DAY, manifest=manifest, bundle=bundle)
    results = fleet_store.panic(root / "results", "run-1", "web1", "pass", NOW - DAY)
    with open(os.path.join(results, "run-1", "hosts", "fuzz.json"), "w") as handle:
        json.dump(dict(panic), handle)
    result = fs.write_store_report(store.root, panic_results=results,
                                   readiness=[dict(readiness, host="fuzz"), fleet_store.READINESS[0]], now=NOW)
    report = result["report"]
    assert report["crashes"] + len(report["failed"]) == 2
    assert [g["hosts"] for g in report["groups"] if g["kind"] == "sysrq"] == [["good-aaaaaaaaaaaa"]]
    assert {"fuzz", "web1"} <= set(row["host"] for row in report["hosts"])
    assert os.path.isfile(os.path.join(store.root, "report.html"))
    json.dumps(report, allow_nan=False)


def test_bounded_reads_do_not_allocate_their_limit(tmp_path):
    # One read of the whole limit allocated it first: comparing the existing report files
    # (limit 1 GiB) failed with MemoryError on the 1 GiB dump server VM, and the report was never
    # written again. A limit far beyond any memory shows it.
    small = tmp_path / "small"
    small.write_bytes(b"x" * 100000)
    assert fs.read_bounded(str(small), 1 << 44) == b"x" * 100000
    with pytest.raises(HostError, match="bigger than"):
        fs.read_bounded(str(small), 99999)


def test_a_second_report_over_an_existing_one_fits_in_little_memory(fleet, tmp_path):
    # The VM case: the report is written again over the existing files in a process whose address
    # space is far below the 1 GiB the comparison asked for.
    store, _results = fleet
    fs.write_store_report(str(store), title="t", now=NOW, workers=1)
    script = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (768 << 20, 768 << 20))\n"
        "from ansible_collections.crashkit.kdump.plugins.module_utils import _fleetstore as fs\n"
        "fs.write_store_report(sys.argv[1], title='t2', now=%d, workers=1)\n" % NOW)
    import subprocess
    import sys
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run([sys.executable, "-c", script, str(store)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    with open(os.path.join(str(store), "report.md")) as handle:
        assert "t2" in handle.read()
