# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of crashkit.kdump.vmcore_collect: copy a host's crash dumps into the store.

The host side (listing, SHA-256) is the module crashkit.kdump.vmcore_list, run with the task's
become. The bytes are streamed by a subprocess on the controller (ssh or, for the local
connection, the file itself) into ``_transfer.copy_stream``; see the module documentation.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import errno
import fcntl
import os
import shutil
import subprocess
import tempfile
import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.crashkit.kdump.plugins.module_utils import _store, _transfer
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError

display = Display()
BUNDLE_PREFIX = "crashkit-bundle/"

ARGUMENT_SPEC = dict(
    src=dict(type="path", default="/var/crash"),
    store=dict(type="path", required=True),
    host_id=dict(type="str"),
    crashes=dict(type="list", elements="str"),
    include_incomplete=dict(type="bool", default=False),
    transport=dict(type="str", default="auto", choices=["auto", "ssh", "local", "connection"]),
    chunk_mib=dict(type="int", default=8),
    bandwidth_limit=dict(type="int", default=0),
    progress_mib=dict(type="int", default=256),
    verify_store=dict(type="bool", default=False),
    store_keep=dict(type="int"),
    store_max_age_days=dict(type="float"),
    keep_on_host=dict(type="int"),
    retention_dry_run=dict(type="bool", default=False),
)


class ProcessReader(object):
    """stdout of a reading command (ssh ... tail, sudo tail, tail) as a stream."""

    def __init__(self, argv, transport):
        self.transport = transport
        self.eof = False
        self.stderr = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=self.stderr)
        except OSError as exc:
            self.stderr.close()
            raise _transfer.TransferError("cannot run %s: %s" % (argv[0], exc))

    def read(self, size):
        data = self.proc.stdout.read(size)
        if not data:
            self.eof = True
        return data

    def close(self):
        if not self.eof and self.proc.poll() is None:
            self.proc.kill()
        self.proc.stdout.close()
        rc = self.proc.wait()
        self.stderr.seek(0)
        err = self.stderr.read().decode("utf-8", "replace")
        self.stderr.close()
        if self.eof and rc != 0:
            raise _transfer.TransferError(_transfer.explain_failure(rc, err, self.transport))


class ConnectionReader(object):
    """Chunks read through the connection plugin (any connection, any become), base64 encoded."""

    def __init__(self, action, path, offset, size, chunk):
        self.action = action
        self.path = path
        self.pos = offset
        self.size = size
        self.chunk = chunk

    def read(self, size):
        if self.pos >= self.size:
            return b""
        length = min(self.chunk, self.size - self.pos)
        res = self.action._low_level_execute_command(_transfer.chunk_command(self.path, self.pos, length),
                                                     sudoable=True)
        if res.get("rc") != 0:
            raise _transfer.TransferError(_transfer.explain_failure(res.get("rc"), res.get("stderr"), "connection"))
        data = base64.b64decode(res.get("stdout", ""))
        if not data:
            raise _transfer.TransferError("%s: no data at offset %d (the file shrank?)" % (self.path, self.pos))
        self.pos += len(data)
        return data

    def close(self):
        return None


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        for name in ("chunk_mib",):
            if args[name] < 1:
                raise AnsibleActionFail("%s must be at least 1" % name)
        for name in ("bandwidth_limit", "progress_mib"):
            if args[name] < 0:
                raise AnsibleActionFail("%s must not be negative" % name)
        self.task_vars = task_vars or {}
        self.args = args
        self._parent = os.getppid()
        try:
            result.update(self._collect())
        except KdumpError as exc:
            result.update(failed=True, msg=str(exc))
        return result

    # --- host side --------------------------------------------------------------------------

    def _list(self, checksum, known=()):
        res = self._execute_module(module_name="crashkit.kdump.vmcore_list", module_args={
            "path": self.args["src"], "crashes": self.args["crashes"], "checksum": checksum,
            "known": list(known), "include_incomplete": self.args["include_incomplete"],
        }, task_vars=self.task_vars)
        if res.get("failed") or res.get("unreachable"):
            raise AnsibleActionFail("listing %s on the host failed: %s" % (self.args["src"], res.get("msg")),
                                    result=res)
        return res

    # --- transport --------------------------------------------------------------------------

    def _become(self):
        plugin = getattr(self._connection, "become", None)
        if not self._play_context.become or plugin is None:
            return False, None, None, None
        method = getattr(plugin, "name", None) or self._play_context.become_method
        method = method.rsplit(".", 1)[-1]
        user = plugin.get_option("become_user", playcontext=self._play_context)
        password = plugin.get_option("become_pass", playcontext=self._play_context)
        return True, method, user, password

    def _conn_option(self, name):
        try:
            return self._connection.get_option(name)
        except KeyError:
            return None

    def _pick_transport(self):
        wanted = self.args["transport"]
        kind = getattr(self._connection, "transport", None)
        become, method, user, password = self._become()
        is_root = os.geteuid() == 0
        if wanted in ("auto", "local") and kind == "local":
            if become and not (is_root and (user or "root") == "root"):
                try:
                    prefix = _transfer.become_prefix(become, method, user, password, is_root)
                except KdumpError:
                    if wanted == "local":
                        raise
                    return "connection", None
                return "local", prefix
            return "local", None
        if wanted in ("auto", "ssh") and kind == "ssh":
            try:
                prefix = _transfer.become_prefix(become, method, user, password, False)
            except KdumpError:
                if wanted == "ssh":
                    raise
                return "connection", None
            if self._conn_option("password") or self._conn_option("private_key"):
                if wanted == "ssh":
                    raise AnsibleActionFail("transport ssh cannot stream with a password or an inline private key")
                return "connection", None
            return "ssh", prefix
        if wanted in ("local", "ssh"):
            raise AnsibleActionFail("transport %s does not fit the connection %s" % (wanted, kind))
        return "connection", None

    def _ssh_options(self):
        options = {name: self._conn_option(name) for name in (
            "ssh_executable", "port", "remote_user", "private_key_file", "ssh_args", "ssh_common_args",
            "ssh_extra_args", "host_key_checking", "timeout")}
        options["host"] = self._conn_option("host") or self._play_context.remote_addr
        return options

    def _opener(self, transport, prefix, source):
        path = source["path"]
        chunk = self.args["chunk_mib"] * _transfer.MIB
        if transport == "local" and prefix is None:
            return lambda offset: _transfer.FileReader(path, offset)
        if transport == "local":
            return lambda offset: ProcessReader(_transfer.read_command(path, offset, prefix), "local")
        if transport == "ssh":
            base = _transfer.ssh_command(self._ssh_options())
            return lambda offset: ProcessReader(
                base + [_transfer.shell_join(_transfer.read_command(path, offset, prefix))], "ssh")
        return lambda offset: ConnectionReader(self, path, offset, int(source["size"]), chunk)

    # --- store ------------------------------------------------------------------------------

    @staticmethod
    def _load_manifest(directory):
        path = os.path.join(directory, _store.MANIFEST_NAME)
        try:
            with open(path) as handle:
                return _store.parse_manifest(handle.read())
        except (IOError, OSError):
            return None
        except KdumpError as exc:
            display.warning("ignoring %s: %s" % (path, exc))
            return None

    @staticmethod
    def _write_manifest(directory, manifest):
        path = os.path.join(directory, _store.MANIFEST_NAME)
        tmp = path + ".tmp"
        with open(tmp, "w") as handle:
            handle.write(_store.dump_manifest(manifest))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o640)
        os.replace(tmp, path)
        _transfer.fsync_dir(directory)

    def _store_matches(self, directory, entry, rehash):
        final = os.path.join(directory, entry["path"])
        try:
            if os.path.getsize(final) != entry["size"]:
                return False
        except OSError:
            return False
        return not rehash or _transfer.sha256_file(final) == entry["sha256"]

    def _lock(self, host_dir):
        os.makedirs(host_dir, 0o750, exist_ok=True)
        handle = open(os.path.join(host_dir, _store.LOCK_NAME), "a")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise AnsibleActionFail("another collection into %s is running" % host_dir)
            raise
        return handle

    def _orphaned(self):
        """ansible-playbook's workers run in their own session: when the controller process is
        killed, the worker would go on copying alone. Stop instead (the .part stays)."""
        if os.getppid() != self._parent:
            return "the ansible-playbook process that started the copy is gone"
        return None

    def _emit(self, text, _done, _total):
        display.display("vmcore_collect %s: %s" % (self.task_vars.get("inventory_hostname", "?"), text))

    # --- main flow --------------------------------------------------------------------------

    def _collect(self):
        args = self.args
        first = self._list(checksum=False)
        host = dict(first["host"])
        host["inventory_hostname"] = self.task_vars.get("inventory_hostname")
        host_id = _store.sanitize_id(args["host_id"], "host_id") if args["host_id"] else host["host_id"]
        host["host_id"] = host_id
        store = os.path.abspath(args["store"])
        host_dir = _store.join_store(store, host_id)
        check = self._task.check_mode
        out = {"changed": False, "host": host, "host_id": host_id, "store_dir": host_dir, "crashes": [],
               "skipped_crashes": first["skipped_crashes"], "transport": None, "retention": None}
        if not first["exists"]:
            out["msg"] = "%s does not exist on the host" % args["src"]
        if not os.path.isdir(store) and not check:
            os.makedirs(store, 0o750)
        lock = None if check else self._lock(host_dir)
        try:
            manifests = {}
            known = []
            for crash in first["crashes"]:
                manifest = self._load_manifest(_store.join_store(host_dir, crash["crash_id"]))
                manifests[crash["crash_id"]] = manifest
                if manifest and manifest["source_dir"] == crash["dir"]:
                    for entry in manifest["files"]:
                        known.append({"path": os.path.join(crash["dir"], entry["path"]), "size": entry["size"],
                                      "mtime": entry.get("mtime"), "sha256": entry["sha256"]})
            if args["verify_store"]:
                known = []
            listing = self._list(checksum=True, known=known) if first["crashes"] else first
            plan = None
            if args["store_keep"] is not None or args["store_max_age_days"] is not None:
                plan = self._plan_store(host_dir, listing["crashes"])
                dropped = set(d["crash_id"] for d in plan["drop"])
            else:
                dropped = set()
            transport = None
            for crash in listing["crashes"]:
                if crash["crash_id"] in dropped:
                    out["crashes"].append({"crash_id": crash["crash_id"], "name": crash["name"],
                                           "source_dir": crash["dir"], "status": "not_collected",
                                           "reason": "store retention would drop it"})
                    continue
                if transport is None:
                    transport = self._pick_transport()
                    out["transport"] = transport[0]
                record = self._collect_crash(host, host_dir, crash, manifests.get(crash["crash_id"]),
                                             transport, check)
                out["crashes"].append(record)
                if record["status"] in ("copied", "manifest_updated", "would_copy"):
                    out["changed"] = True
            retention = {"dry_run": bool(args["retention_dry_run"] or check), "store": None, "host": None}
            if plan is not None:
                retention["store"] = self._apply_store_plan(host_dir, plan, retention["dry_run"])
                if retention["store"]["drop"] and not retention["dry_run"]:
                    out["changed"] = True
            if args["keep_on_host"] is not None:
                retention["host"] = self._host_retention(host_dir, listing["crashes"], retention["dry_run"])
                if retention["host"]["drop"] and not retention["dry_run"]:
                    out["changed"] = True
            out["retention"] = retention
        finally:
            if lock is not None:
                lock.close()
        return out

    def _collect_crash(self, host, host_dir, crash, manifest, transport, check):
        directory = _store.join_store(host_dir, crash["crash_id"])
        record = {"crash_id": crash["crash_id"], "name": crash["name"], "source_dir": crash["dir"],
                  "store_path": directory, "files": [], "bytes_copied": 0, "resumed_bytes": 0}
        old = {e["path"]: e for e in manifest["files"]} if manifest else {}
        pending = []
        for entry in crash["files"]:
            rel = _store.safe_relpath(entry["path"])
            have = old.get(rel)
            if have and have["sha256"] == entry["sha256"] and self._store_matches(
                    directory, have, self.args["verify_store"]):
                continue
            if not have and self._store_matches(directory, entry, True):
                continue  # copied by an interrupted run before it wrote the manifest
            pending.append(dict(entry, path=rel))
        record["files"] = [e["path"] for e in pending]
        same_source = manifest is not None and manifest["source_dir"] == crash["dir"]
        current = set(_store.safe_relpath(e["path"]) for e in crash["files"])
        # A rebuilt bundle supersedes the old one: its files that are gone go from the store too.
        # Anything else no longer on the host (a dump deleted there) stays in the store.
        rebuilt = any(p.startswith(BUNDLE_PREFIX) for p in current)
        stale = sorted(p for p in old if p not in current and rebuilt and p.startswith(BUNDLE_PREFIX))
        record["removed"] = stale
        if not pending and not stale and same_source:
            record["status"] = "present"
            return record
        if check:
            record["status"] = "would_copy" if pending else "manifest_updated"
            return record
        opener_kind, prefix = transport
        throttle = _transfer.Throttle(self.args["bandwidth_limit"] * 1024) if self.args["bandwidth_limit"] else None
        interval = self.args["progress_mib"] * _transfer.MIB
        for entry in pending:
            source = {"path": os.path.join(crash["dir"], entry["path"]), "size": entry["size"],
                      "mtime": entry["mtime"], "sha256": entry["sha256"]}
            final = os.path.join(directory, entry["path"])
            progress = None
            if interval and entry["size"] >= interval:
                progress = _transfer.Progress("%s/%s" % (crash["crash_id"], entry["path"]), entry["size"], 0,
                                              interval, self._emit)
            done = _transfer.copy_stream(self._opener(opener_kind, prefix, source), source, final,
                                         throttle=throttle, progress=progress, should_stop=self._orphaned)
            record["bytes_copied"] += done["bytes"]
            record["resumed_bytes"] += done["resumed_from"]
        files = dict(old)
        for path in stale:
            files.pop(path, None)
            if os.path.isfile(os.path.join(directory, path)):
                os.unlink(os.path.join(directory, path))
        for entry in crash["files"]:
            files[_store.safe_relpath(entry["path"])] = dict(entry, path=_store.safe_relpath(entry["path"]))
        new_manifest = _store.build_manifest(host, {
            "crash_id": crash["crash_id"], "source_dir": crash["dir"], "source_name": crash["name"],
            "crash_time": crash.get("crash_time"), "kernel_release": crash.get("kernel_release"),
        }, list(files.values()), time.time())
        self._write_manifest(directory, new_manifest)
        record["status"] = "copied" if pending else "manifest_updated"
        return record

    # --- retention --------------------------------------------------------------------------

    def _store_listing(self, host_dir):
        crashes = []
        try:
            names = sorted(os.listdir(host_dir))
        except OSError:
            return crashes
        for name in names:
            directory = os.path.join(host_dir, name)
            if name.startswith(".") or not os.path.isdir(directory):
                continue
            manifest = self._load_manifest(directory)
            if manifest is None:
                continue
            crash_time = manifest.get("crash_time")
            newest = max([e.get("mtime") or 0 for e in manifest["files"]] or [0])
            crashes.append({"crash_id": name, "time": crash_time or newest or manifest.get("collected_at")})
        return crashes

    def _plan_store(self, host_dir, incoming):
        crashes = {c["crash_id"]: c for c in self._store_listing(host_dir)}
        for crash in incoming:
            crashes.setdefault(crash["crash_id"], {"crash_id": crash["crash_id"], "time": crash["time"]})
        return _store.plan_store_retention(list(crashes.values()), time.time(), keep=self.args["store_keep"],
                                           max_age_days=self.args["store_max_age_days"])

    @staticmethod
    def _apply_store_plan(host_dir, plan, dry_run):
        done = {"keep": plan["keep"], "drop": []}
        for item in plan["drop"]:
            directory = _store.join_store(host_dir, item["crash_id"])
            if not os.path.isdir(directory):
                continue  # never collected (the plan included crashes still on the host)
            if not dry_run:
                shutil.rmtree(directory)
            done["drop"].append(dict(item, path=directory))
        return done

    def _host_retention(self, host_dir, crashes, dry_run):
        cheap = []
        for crash in crashes:
            manifest = self._load_manifest(_store.join_store(host_dir, crash["crash_id"]))
            if manifest and manifest["source_dir"] == crash["dir"] and not _store.compare_files(manifest, crash["files"]):
                cheap.append(crash["crash_id"])
        plan = _store.plan_host_retention(crashes, cheap, self.args["keep_on_host"])
        by_name = {c["name"]: c for c in crashes}
        src = os.path.normpath(self.args["src"])
        final = {"keep": list(plan["keep"]), "drop": []}
        for item in plan["drop"]:
            crash = by_name[item["name"]]
            directory = _store.join_store(host_dir, crash["crash_id"])
            manifest = self._load_manifest(directory)
            if not all(self._store_matches(directory, e, True) for e in manifest["files"]):
                final["keep"].append({"name": item["name"], "reason": "older, but its central copy does not match its"
                                      " manifest on re-reading"})
                continue
            if os.path.dirname(os.path.normpath(crash["dir"])) != src:
                final["keep"].append({"name": item["name"], "reason": "not directly below %s" % src})
                continue
            if not dry_run:
                res = self._execute_module(module_name="ansible.builtin.file",
                                           module_args={"path": crash["dir"], "state": "absent"},
                                           task_vars=self.task_vars)
                if res.get("failed"):
                    raise AnsibleActionFail("deleting %s on the host failed: %s" % (crash["dir"], res.get("msg")))
            final["drop"].append(dict(item, path=crash["dir"]))
        return final
