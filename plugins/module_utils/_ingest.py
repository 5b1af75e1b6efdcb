# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""The dump server's ingest: every crash that arrives becomes a triaged, grouped store entry.

Event-driven: the receiver (``crashkit-dump-receiver --queue``) leaves an empty file named after
the client in ``<root>/.queue`` after each session that wrote something (a capture's final
``mv``, the evidence service's ``crashkit-push``); a systemd path unit starts
``crashkit-ingest``, which drains the queue. It runs as the receiver's account on hostile data,
with the collection's own pipeline (``_crashlist``, ``_bundle``, ``_triage``, ``_store``).
Clients that write their dumps over NFS (kdump-tools' ``NFS=`` target mounting an export of
``<root>/<client>``) never queue themselves: the configured ``scan`` list names them, and each
run (the path unit's and the timer's, every minute) looks at their directories as well.

For each queued or scanned client, each crash directory in ``<root>/<client>/`` that has *settled*:

* the evidence service's ``crashkit-push.json`` (sent before the files it lists) arrived and every
  file it lists is there with its size, or the push was given up: nothing new for ``settle``
  seconds (a kernel log and a dump of a push still going on are never taken alone); or
* a finished dump and its kernel log are there (an SSH capture's ``dump.<stamp>`` and
  ``dmesg.<stamp>``, ``vmcore`` and ``vmcore-dmesg.txt``); or
* nothing has changed for ``settle`` seconds and something finished is there;

and has no file under a temporary name (``*incomplete*``), its store entry
``<store>/<client>/<crash id>/`` is (re)built, as in the controller's store (one store format):
the client's files hard-linked (copied across file systems) and made read-only (0400, so the
client can no longer rewrite what was stored), the evidence bundle built here (the kernel log
triaged here, never the client's own triage), ``triage.json``, ``manifest.json``. A crash whose
files have not changed since its last ingest is left as it is. Crashes that have not settled keep
their client in the queue; ``crashkit-ingest.timer`` runs the queue again.

Then the client's store retention, the fleet report (``report.json``/``.md``/``.html`` in the
store) and the incident hook's events: one per new crash, one per new signature, as JSON files in
``<store>/.hooks/``, which ``crashkit-ingest --hooks`` hands to the hook command (argv, the event
on stdin), retrying with a backoff when it fails; a failing hook never blocks ingest.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import re
import stat
import subprocess
import sys
import tempfile
import time

from ansible_collections.crashkit.kdump.plugins.module_utils import _bundle, _capture, _safefs, _store, _vmcore
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError

QUEUE_DIR = ".queue"
WAITING_DIR = ".waiting"
HOOK_DIR = ".hooks"
HOOK_RETRY_DIR = ".hooks-retry"
HOOK_FAILED_DIR = ".hooks-failed"
STATE_NAME = ".ingest-state.json"
PUSH_MANIFEST = "crashkit-push.json"
TRIAGE_NAME = "triage.json"
SETTLE_SECONDS = 120
# A temporary file (a capture's ``dump-incomplete``, a push's ``.push-*.part``) that nothing has
# written for this long was given up (the capture kernel died, the receiver was killed): the crash
# is taken with what did arrive instead of waiting for it forever.
ABANDONED_SECONDS = 3600
HOOK_TIMEOUT = 60
HOOK_ATTEMPTS = 12
HOST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
EVENT_KEYS = ("host", "crash_id", "crash_dir", "time", "kind", "reason", "function", "culprit", "signature",
              "kernel_release", "first_seen", "bundle")


def _is_temporary(name):
    return "incomplete" in name or name.startswith(".")


def ingest_files(files):
    """The files of a crash directory that its store entry takes: all but hidden ones (a
    receiver's ``.push-*.part``, never evidence). Pure."""
    return {name: value for name, value in files.items() if not name.startswith(".")}


def _arrived(item, files):
    """Whether an announced file (``{"name": str, "size": int}`` of a client's manifest) is there
    with its size; any other shape is not."""
    if not isinstance(item, dict):
        return False
    name, size = item.get("name"), item.get("size")
    if not isinstance(name, str) or _is_temporary(name) or isinstance(size, bool) or not isinstance(size, int):
        return False
    return files.get(name, (None,))[0] == size


def settled(files, now, settle=SETTLE_SECONDS, push_manifest=None, abandoned=ABANDONED_SECONDS):
    """Whether a crash directory is ready to ingest, and why not. ``files``: ``{name: (size,
    mtime)}`` of its top-level regular files; ``push_manifest`` the parsed ``crashkit-push.json``.

    Temporary files hold the crash back until nothing has written them for ``abandoned`` seconds;
    then the crash is taken as it is, without the hidden ones (``ingest_files``). A push whose
    every announced file is there is complete whatever hidden partial file a killed receiver
    left beside it. Pure."""
    if not files:
        return False, "empty"
    listed = None
    if push_manifest is not None:
        listed = push_manifest.get("files") if isinstance(push_manifest, dict) else None
        if not isinstance(listed, list):
            return False, "crashkit-push.json lists no files"
    complete = listed is not None and all(_arrived(item, files) for item in listed)
    quiet = now - max(mtime for _size, mtime in files.values()) >= settle
    temporary = [(name, mtime) for name, (_size, mtime) in files.items() if _is_temporary(name)]
    if temporary:
        if complete and all(name.startswith(".") for name, _mtime in temporary):
            return True, "pushed (a partial file of an earlier try left aside)"
        if now - max(mtime for _name, mtime in temporary) < abandoned or not quiet:
            return False, "a file still has its temporary name"
        if not ingest_files(files):
            return False, "only a temporary file, given up"
        return True, "a temporary file unchanged for %d s: taken as given up" % abandoned
    if listed is not None:
        if complete:
            return True, "pushed"
        # The client announces its files first and sends them one by one: until all have come,
        # only a push given up (nothing new for ``settle`` seconds) lets in what did arrive.
        if quiet and len(files) > 1:
            return True, "pushed in part, unchanged for %d s" % settle
        return False, "waiting for the pushed files"
    names = list(files)
    dumps = [n for n in names if (_vmcore.dump_name(n) or (None, False))[1]]
    dmesg = _vmcore.pick_dmesg(names)[0]
    if dumps and dmesg:
        return True, "dump and kernel log"
    if (dumps or dmesg) and quiet:
        return True, "unchanged for %d s" % settle
    return False, "waiting for the kernel log"


class Ingest(object):
    """One dump root and its store."""

    def __init__(self, root, store, settle=SETTLE_SECONDS, keep=None, max_age_days=None, bundle_options=None,
                 report=True, title="Kernel crash report", hooks=False, runner=None, log=None, scan=None):
        self.root = os.path.normpath(root)
        self.store = os.path.normpath(store)
        self.settle = settle
        self.keep = keep
        self.max_age_days = max_age_days
        self.bundle_options = dict(bundle_options or {})
        self.report = report
        self.title = title
        self.hooks = hooks
        self.runner = runner or _bundle.Runner()
        self.log = log or (lambda message: sys.stderr.write(message + "\n"))
        # clients that never queue themselves (NFS targets): looked at on every run
        self.scan = (scan,) if isinstance(scan, (str, bytes)) else tuple(scan or ())

    # --- the queue --------------------------------------------------------------------------

    def _entries(self, directory):
        try:
            fd = _safefs.open_dir(directory, follow=True)
        except (OSError, KdumpError):
            return []
        try:
            return sorted(os.listdir(fd))
        finally:
            os.close(fd)

    def _listed(self):
        """The names of the inbox and the waiting list (single directory entries)."""
        return set(self._entries(os.path.join(self.root, QUEUE_DIR))) \
            | set(self._entries(os.path.join(self.store, WAITING_DIR)))

    def _scanned(self):
        """The configured scan ids that are client ids (``drain`` reports the others)."""
        return set(host for host in self.scan if self._client_id(host))

    def queued(self):
        """Clients to look at: the receiver's inbox (``<root>/.queue``, which the path unit
        watches), those still waiting for a crash to settle (``<store>/.waiting``, which the
        timer brings back) and the scanned clients (``scan``: NFS targets, which never queue
        themselves)."""
        return sorted(self._listed() | self._scanned())

    @staticmethod
    def _client_id(host):
        return isinstance(host, str) and bool(HOST_ID.match(host)) and host == _store.store_host_id(host)

    def _missing(self, host):
        """Whether ``<root>/<host>`` does not exist (a scanned client that never crashed). Any
        other problem (the root missing, a link, a file) is left to ``ingest_host`` to report."""
        try:
            fd = _safefs.open_dir(self.root, follow=True)
        except (OSError, KdumpError):
            return False
        try:
            _safefs.lstat_at(fd, host)
        except OSError as exc:
            return exc.errno == errno.ENOENT
        finally:
            os.close(fd)
        return False

    def _mark(self, directory, host, present):
        path = os.path.join(directory, host)
        if present:
            _safefs.private_dir(directory, 0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            os.close(fd)
        else:
            try:
                os.unlink(path)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise

    def _queue_entry(self, host, create):
        """Put ``host`` into the receiver's inbox (as the receiver does), or take it out."""
        self._mark(os.path.join(self.root, QUEUE_DIR), host, create)

    def drain(self, now=None):
        """Ingest every queued and scanned client; returns ``{"ingested", "waiting", "errors",
        "events"}``.

        The inbox is left empty (so the path unit does not fire again at once); a client with a
        crash that has not settled, or whose ingest failed, is kept in ``<store>/.waiting``. A
        scan id that is not a client id is an error and skipped (no file is made or removed for
        it); a scanned client without a directory yet is skipped silently.
        """
        now = time.time() if now is None else now
        summary = {"ingested": [], "waiting": [], "errors": [], "events": []}
        changed = False
        waiting = os.path.join(self.store, WAITING_DIR)
        inbox = os.path.join(self.root, QUEUE_DIR)
        listed = self._listed()
        scanned = self._scanned()
        for host in self.scan:
            if not (isinstance(host, str) and (host in scanned or host in listed)):
                summary["errors"].append("scan entry %s is not a client id: skipped" % _safefs.display(host))
        hosts = sorted(listed | scanned)
        rounds = 0
        while hosts and rounds < 100:
            rounds += 1
            for host in hosts:
                result = self._drain_one(host, now, waiting, summary, scanned=host in scanned)
                changed = changed or result
            # sessions that wrote while this ran queued their client again (the scanned clients
            # were looked at in this run: only the timer's next run looks at them again)
            hosts = self._entries(inbox)
        if changed and self.report:
            self.write_report(summary)
        return summary

    def _drain_one(self, host, now, waiting, summary, scanned=False):
        """Ingest one queued (or ``scanned``) client; returns whether the store changed."""
        if not self._client_id(host):
            # a name read from the inbox or the waiting list (one directory entry): drop it
            self._queue_entry(host, False)
            summary["errors"].append("queue entry %s is not a client id: dropped" % _safefs.display(host))
            self._mark(waiting, host, False)
            return False
        if scanned and self._missing(host):
            # an NFS client that has not written anything yet: nothing to look at, no error
            self._queue_entry(host, False)
            self._mark(waiting, host, False)
            return False
        # Into the waiting list, then out of the inbox, before the work: an ingest killed in the
        # middle (the server's power, the OOM killer) leaves the client for the timer, and a
        # session that writes meanwhile queues it again.
        self._mark(waiting, host, True)
        self._queue_entry(host, False)
        try:
            result = self.ingest_host(host, now)
        except Exception as exc:  # pylint: disable=broad-except
            # one client's data must never stop the others' ingest: anything it raises is
            # logged, and the client is looked at again by the timer
            what = str(exc) if isinstance(exc, (KdumpError, OSError)) else "%s: %s" % (type(exc).__name__, exc)
            summary["errors"].append("%s: %s" % (host, _safefs.display(what, 500)))
            self.log("crashkit-ingest: %s: %s (tried again later)" % (host, _safefs.display(what, 500)))
            return False
        summary["ingested"].extend(result["ingested"])
        summary["events"].extend(result["events"])
        summary["waiting"].extend(result["waiting"])
        self._mark(waiting, host, bool(result["waiting"]))
        return bool(result["ingested"]) or bool(result["dropped"])

    # --- one client ---------------------------------------------------------------------------

    def ingest_host(self, host, now):
        result = {"ingested": [], "waiting": [], "events": [], "dropped": []}
        host_fd = _safefs.open_dir_beneath(self.root, host)
        try:
            names = sorted(os.listdir(host_fd))
            state = self._load_state()
            # a scanned client is looked at every run: its state is written only when it changed
            loaded = json.dumps(state, sort_keys=True)
            for name in names:
                if name.startswith("."):
                    continue
                try:
                    if not stat.S_ISDIR(_safefs.lstat_at(host_fd, name).st_mode):
                        continue
                    crash_fd = _safefs.open_dir(name, dir_fd=host_fd)
                except (OSError, KdumpError):
                    continue
                try:
                    files = self._top_files(crash_fd)
                    manifest = None
                    if PUSH_MANIFEST in files:
                        text = _safefs.read_small(PUSH_MANIFEST, dir_fd=crash_fd, limit=1024 * 1024)
                        try:
                            manifest = json.loads(text or "")
                        except ValueError:
                            manifest = {}
                    ready, why = settled({n: (v[0], v[1]) for n, v in files.items()}, now, self.settle, manifest)
                    if not ready:
                        if why != "empty":
                            result["waiting"].append("%s/%s: %s" % (host, _safefs.display(name, 80), why))
                        continue
                    entry = self.ingest_crash(host, name, crash_fd, ingest_files(files), now, state)
                finally:
                    os.close(crash_fd)
                if entry is not None:
                    result["ingested"].append(entry["key"])
                    result["events"].extend(entry["events"])
            result["dropped"] = self.retention(host, now)
            for key in list(state["crashes"]):
                if key.split("/", 1)[0] == host and key.split("/", 1)[1] in result["dropped"]:
                    state["crashes"][key]["dropped"] = int(now)
            if json.dumps(state, sort_keys=True) != loaded:
                self._save_state(state)
        finally:
            os.close(host_fd)
        return result

    @staticmethod
    def _top_files(crash_fd):
        files = {}
        for name in os.listdir(crash_fd):
            try:
                st = _safefs.lstat_at(crash_fd, name)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                files[name] = (st.st_size, int(st.st_mtime), st.st_dev, st.st_ino)
        return files

    def ingest_crash(self, host, name, crash_fd, files, now, state):
        """(Re)build ``<store>/<host>/<crash id>/``; ``None`` when it is up to date."""
        crash_id = _store.crash_id(name)
        inputs = _bundle.inputs_key(sorted((n, v[0], v[1]) for n, v in files.items()), {"ingest": 1})
        host_store = os.path.join(self.store, host)
        _safefs.private_dir(host_store, 0o700)
        store_fd = _safefs.open_dir(host_store)
        try:
            current = self._manifest(store_fd, crash_id)
            if current is not None and current.get("inputs") == inputs:
                return None
            stage = ".stage-%s" % os.urandom(6).hex()
            os.mkdir(stage, 0o700, dir_fd=store_fd)
            try:
                stage_fd = _safefs.open_dir(stage, dir_fd=store_fd)
                try:
                    os.mkdir(crash_id, 0o700, dir_fd=stage_fd)
                    entry_fd = _safefs.open_dir(crash_id, dir_fd=stage_fd)
                    try:
                        entries = self._take_files(crash_fd, entry_fd, files)
                    finally:
                        os.close(entry_fd)
                finally:
                    os.close(stage_fd)
                entry_dir = os.path.join(host_store, stage, crash_id)
                built = _bundle.make_bundle(entry_dir, dict(self.bundle_options, host_facts=False),
                                            runner=self.runner, identity={"host_id": host}, now=now)
                summary = built["summary"] or {}
                record = self._write_entry(host, name, crash_id, entry_dir, entries, summary, inputs, now)
                record["bundle"] = os.path.join(host_store, crash_id, _bundle.BUNDLE_DIR)
                old = None
                try:
                    _safefs.lstat_at(store_fd, crash_id)
                    old = ".old-%s" % os.urandom(6).hex()
                    os.rename(crash_id, old, src_dir_fd=store_fd, dst_dir_fd=store_fd)
                except OSError:
                    old = None
                os.rename(os.path.join(stage, crash_id), crash_id, src_dir_fd=store_fd, dst_dir_fd=store_fd)
                if old:
                    _bundle.remove_tree_at(store_fd, old)
            finally:
                _bundle.remove_tree_at(store_fd, stage)
            _safefs.fsync_fd(store_fd)
        finally:
            os.close(store_fd)
        key = "%s/%s" % (host, crash_id)
        attempt = _capture.is_lean_attempt(summary.get("capture"), summary.get("dumps"))
        # the release the kernel log names (the fleet report's too), not the dump's: a partial dump may have none
        panic = _capture.panic_key(record.get("signature"), summary.get("uptime_at_crash"),
                                   (summary.get("triage") or {}).get("kernel_release"))
        events = self._events(key, record, state, now, panic, attempt)
        self.log("crashkit-ingest: %s ingested (%s, %s)" % (key, record.get("kind"), record.get("signature")))
        return {"key": key, "events": events}

    @staticmethod
    def _manifest(store_fd, crash_id):
        try:
            fd = _safefs.open_dir(crash_id, dir_fd=store_fd)
        except (OSError, KdumpError):
            return None
        try:
            text = _safefs.read_small(_store.MANIFEST_NAME, dir_fd=fd, limit=16 * 1024 * 1024)
        finally:
            os.close(fd)
        try:
            return _store.parse_manifest(text) if text else None
        except KdumpError:
            return None

    def _take_files(self, crash_fd, entry_fd, files):
        """Hard-link (or copy) the client's files into the entry; the client's copies become
        read-only. Returns manifest entries ``{path, size, sha256, mtime}``."""
        entries = []
        for name in sorted(files):
            size, mtime, dev, ino = files[name]
            if name in _store.RESERVED_NAMES or name.endswith((_store.PART_SUFFIX, _store.STATE_SUFFIX)):
                continue
            src = _safefs.open_regular(name, dir_fd=crash_fd, expect=(dev, ino))
            try:
                os.fchmod(src, 0o400)
                try:
                    os.link(name, name, src_dir_fd=crash_fd, dst_dir_fd=entry_fd, follow_symlinks=False)
                    linked = os.stat(name, dir_fd=entry_fd, follow_symlinks=False)
                    if (linked.st_dev, linked.st_ino) != (dev, ino):
                        raise OSError(errno.EXDEV, "replaced while it was linked")
                except OSError:
                    try:
                        os.unlink(name, dir_fd=entry_fd)
                    except OSError:
                        pass
                    dst = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o400, dir_fd=entry_fd)
                    try:
                        os.lseek(src, 0, os.SEEK_SET)
                        _bundle._copy(src, dst, size)
                        os.fsync(dst)
                    finally:
                        os.close(dst)
                digest = _safefs.sha256_fd(src)
            finally:
                os.close(src)
            entries.append({"path": name, "size": size, "sha256": digest, "mtime": mtime})
        return entries

    def _write_entry(self, host, name, crash_id, entry_dir, entries, summary, inputs, now):
        triage = dict(summary.get("triage") or {})
        record = {"host": host, "crash_id": crash_id, "crash_dir": name, "time": summary.get("crash_time"),
                  "kernel_release": summary.get("kernel_release")}
        for key in ("kind", "function", "culprit", "signature", "panic_reason"):
            record[key] = triage.get(key)
        record["reason"] = record.pop("panic_reason")
        fd = _safefs.open_dir(entry_dir)
        try:
            bundle_files = [{"path": rel, "size": st.st_size, "mtime": int(st.st_mtime),
                             "sha256": self._sha_rel(fd, rel, st)}
                            for rel, st in _safefs.list_files(fd, depth=4)
                            if rel.startswith(_bundle.BUNDLE_DIR)]
            _safefs.write_file_at(fd, TRIAGE_NAME, json.dumps(dict(triage, source="dump server ingest"),
                                                              indent=2, sort_keys=True) + "\n", 0o600)
            manifest = _store.build_manifest(
                {"host_id": host, "inventory_hostname": host},
                {"crash_id": crash_id, "source_dir": os.path.join(self.root, host, name), "source_name": name,
                 "crash_time": summary.get("crash_time"), "kernel_release": summary.get("kernel_release")},
                entries + bundle_files, now, tool="crashkit-ingest")
            manifest["inputs"] = inputs
            _safefs.write_file_at(fd, _store.MANIFEST_NAME, _store.dump_manifest(manifest), 0o600)
        finally:
            os.close(fd)
        return record

    @staticmethod
    def _sha_rel(dir_fd, rel, st):
        fd = _safefs.open_rel(dir_fd, rel, expect=(st.st_dev, st.st_ino))
        try:
            return _safefs.sha256_fd(fd)
        finally:
            os.close(fd)

    # --- state, events, retention, report --------------------------------------------------

    def _state_path(self):
        return os.path.join(self.store, STATE_NAME)

    def _load_state(self):
        text = _safefs.read_small(self._state_path(), limit=64 * 1024 * 1024)
        try:
            data = json.loads(text) if text else None
        except ValueError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("crashes"), dict) \
                or not isinstance(data.get("signatures"), dict):
            data = {"format": 1, "crashes": {}, "signatures": {}}
        return data

    def _save_state(self, state):
        fd = _safefs.open_dir(self.store, follow=True)
        try:
            _safefs.write_file_at(fd, STATE_NAME, json.dumps(state, sort_keys=True) + "\n", 0o600)
        finally:
            os.close(fd)

    def _events(self, key, record, state, now, panic=None, attempt=False):
        """The hook events of an ingested crash (a crash seen for the first time; a signature seen
        for the first time); written to the hook queue when hooks are on. A crash directory that
        holds the same panic as one already ingested (``panic``: ``_capture.panic_key``; one of
        the two the lean capture's given-up attempt, ``attempt``) raises no second crash event."""
        events = []
        signature = record.get("signature")
        first_signature = bool(signature) and signature not in state["signatures"]
        host = key.split("/", 1)[0]
        same = None
        if panic is not None:
            same = next((other for other, seen in sorted(state["crashes"].items())
                         if other != key and other.split("/", 1)[0] == host and isinstance(seen, dict)
                         and seen.get("panic") == panic and bool(seen.get("attempt")) != attempt), None)
        if key not in state["crashes"] and same is None:
            events.append(dict({k: record.get(k) for k in EVENT_KEYS}, event="crash", first_seen=first_signature,
                               ingested_at=int(now)))
        if first_signature:
            state["signatures"][signature] = {"first_seen": int(now), "first_crash": key}
            events.append(dict({k: record.get(k) for k in EVENT_KEYS}, event="signature", first_seen=True,
                               ingested_at=int(now)))
        state["crashes"][key] = {"signature": signature, "ingested_at": int(now), "panic": panic, "attempt": attempt}
        if same is not None:
            state["crashes"][key]["same_panic_as"] = same
        if self.hooks:
            for event in events:
                self._queue_event(event, now)
        return events

    def _queue_event(self, event, now):
        directory = os.path.join(self.store, HOOK_DIR)
        _safefs.private_dir(directory, 0o700)
        fd = _safefs.open_dir(directory)
        try:
            name = "%d-%s-%s.json" % (int(now * 1000), event["event"], os.urandom(4).hex())
            _safefs.write_file_at(fd, name, json.dumps({"event": event, "attempts": 0, "next_try": 0},
                                                       sort_keys=True), 0o600)
        finally:
            os.close(fd)

    def retention(self, host, now):
        """Apply the store retention to one client; returns the crash ids dropped."""
        if self.keep is None and self.max_age_days is None:
            return []
        host_store = os.path.join(self.store, host)
        fd = _safefs.open_dir(host_store)
        try:
            crashes = []
            for name in os.listdir(fd):
                if name.startswith("."):
                    continue
                manifest = self._manifest(fd, name)
                if manifest is None:
                    continue
                when = manifest.get("crash_time") or manifest.get("collected_at")
                crashes.append({"crash_id": name, "time": min(when, manifest.get("collected_at") or when)})
            plan = _store.plan_store_retention(crashes, now, keep=self.keep, max_age_days=self.max_age_days)
            for item in plan["drop"]:
                _bundle.remove_tree_at(fd, item["crash_id"])
                self.log("crashkit-ingest: %s/%s removed: %s" % (host, item["crash_id"], item["reason"]))
        finally:
            os.close(fd)
        return [item["crash_id"] for item in plan["drop"]]

    def write_report(self, summary):
        """Regenerate the fleet report; a failure is logged, never stops the ingest."""
        try:
            from ansible_collections.crashkit.kdump.plugins.module_utils import _fleetstore
            _fleetstore.write_store_report(self.store, title=self.title, workers=1)
        except Exception as exc:  # the report must never block ingest; say why
            summary["errors"].append("report: %s" % exc)
            self.log("crashkit-ingest: the report could not be written: %s" % _safefs.display(
                "%s: %s" % (type(exc).__name__, exc), 500))


# --- the incident hook ------------------------------------------------------------------------

def run_hooks(store, argv, now=None, timeout=HOOK_TIMEOUT, attempts=HOOK_ATTEMPTS, log=None):
    """Hand each queued event to ``argv`` (the event as JSON on stdin). A success removes the
    event; a failure (exit status, timeout) moves it to ``.hooks-retry`` with its next try after
    a backoff; after ``attempts`` failures it goes to ``.hooks-failed``. ``.hooks`` (watched by
    the path unit) is left empty. Returns ``{"done", "failed", "waiting"}``."""
    now = time.time() if now is None else now
    log = log or (lambda message: sys.stderr.write(message + "\n"))
    result = {"done": 0, "failed": 0, "waiting": 0}
    if not argv:
        return result
    for source in (HOOK_RETRY_DIR, HOOK_DIR):
        directory = os.path.join(store, source)
        try:
            fd = _safefs.open_dir(directory)
        except (OSError, KdumpError):
            continue
        try:
            for name in sorted(os.listdir(fd)):
                _hook_one(store, fd, source, name, argv, now, timeout, attempts, log, result)
        finally:
            os.close(fd)
    return result


def _hook_one(store, fd, source, name, argv, now, timeout, attempts, log, result):
    if not name.endswith(".json") or name.startswith("."):
        return
    text = _safefs.read_small(name, dir_fd=fd, limit=1024 * 1024)
    try:
        item = json.loads(text or "")
        event = item["event"]
        if not isinstance(event, dict):
            raise TypeError("not an object")
    except (ValueError, KeyError, TypeError):
        os.unlink(name, dir_fd=fd)
        return
    if item.get("next_try", 0) > now:
        result["waiting"] += 1
        return
    rc, problem = _call_hook(argv, event, timeout)
    what = "%s event of %s/%s" % (event.get("event"), event.get("host"), event.get("crash_id"))
    if rc == 0:
        os.unlink(name, dir_fd=fd)
        result["done"] += 1
        log("crashkit-hook: %s delivered" % _safefs.display(what))
        return
    item["attempts"] = item.get("attempts", 0) + 1
    item["last_error"] = problem
    item["next_try"] = int(now + min(3600, 30 * 2 ** min(item["attempts"], 7)))
    result["failed"] += 1
    log("crashkit-hook: %s failed (attempt %d): %s" % (_safefs.display(what), item["attempts"],
                                                       _safefs.display(problem, 300)))
    target = HOOK_FAILED_DIR if item["attempts"] >= attempts else HOOK_RETRY_DIR
    directory = os.path.join(store, target)
    _safefs.private_dir(directory, 0o700)
    dst = _safefs.open_dir(directory)
    try:
        _safefs.write_file_at(dst, name, json.dumps(item, sort_keys=True), 0o600)
    finally:
        os.close(dst)
    if source != target:
        os.unlink(name, dir_fd=fd)


def _call_hook(argv, event, timeout):
    data = (json.dumps(event, sort_keys=True) + "\n").encode("utf-8")
    with tempfile.TemporaryFile() as err:
        try:
            # pylint: disable-next=ansible-bad-function  # the service's code, no AnsibleModule here
            proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err,
                                    close_fds=True)
        except OSError as exc:
            return 127, "cannot run %s: %s" % (argv[0], exc)
        try:
            proc.communicate(data, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return 124, "stopped after %d s" % timeout
        except OSError as exc:  # the hook closed its stdin early
            proc.wait()
            if proc.returncode == 0:
                return 0, ""
            return proc.returncode, str(exc)
        err.seek(0)
        return proc.returncode, err.read(2000).decode("utf-8", "replace").strip() or "exit %d" % proc.returncode


def main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(prog="crashkit-ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="/etc/crashkit/ingest.json")
    parser.add_argument("--hooks", action="store_true", help="hand the queued events to the hook command")
    args = parser.parse_args(argv)
    text = _safefs.read_small(args.config, limit=1024 * 1024)
    try:
        config = json.loads(text or "")
        if not isinstance(config, dict) or not config.get("root") or not config.get("store"):
            raise ValueError("needs root and store")
        scan = config.get("scan")
        if scan is not None and (not isinstance(scan, list) or not all(isinstance(h, str) for h in scan)):
            raise ValueError("scan must be a list of client ids (strings)")
    except ValueError as exc:
        sys.stderr.write("crashkit-ingest: %s: %s\n" % (args.config, exc))
        return 2
    log = _safefs.say
    if args.hooks:
        result = run_hooks(config["store"], config.get("hook") or [], timeout=config.get("hook_timeout", HOOK_TIMEOUT),
                           log=log)
        return 1 if result["failed"] else 0
    ingest = Ingest(config["root"], config["store"], settle=config.get("settle_seconds", SETTLE_SECONDS),
                    keep=config.get("keep"), max_age_days=config.get("max_age_days"),
                    bundle_options=config.get("bundle_options"), report=config.get("report", True),
                    title=config.get("title", "Kernel crash report"), hooks=bool(config.get("hook")), log=log,
                    scan=scan)
    try:
        summary = ingest.drain()
    except (KdumpError, OSError) as exc:
        sys.stderr.write("crashkit-ingest: %s\n" % exc)
        return 1
    for line in summary["waiting"]:
        log("crashkit-ingest: not settled yet: %s" % line)
    return 1 if summary["errors"] else 0
