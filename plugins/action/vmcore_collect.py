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
import stat
import subprocess
import tempfile
import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.crashkit.kdump.plugins.module_utils import _safefs, _store, _transfer
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError, ValidationError

display = Display()
BUNDLE_PREFIX = "crashkit-bundle/"

ARGUMENT_SPEC = dict(
    # str, not path: never expanded ($VAR, ~); a dump server's client directory name is data.
    src=dict(type="str", default="/var/crash"),
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
    """stdout of the host's reader (over ssh, under sudo, or local) as a stream; ``close()``
    returns the host's SHA-256 of the whole file, computed in the same read."""

    def __init__(self, argv, transport, expect_digest=True):
        self.transport = transport
        self.expect_digest = expect_digest
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
        err = self.stderr.read(1024 * 1024).decode("utf-8", "replace")
        self.stderr.close()
        if not self.eof:
            return None
        if rc != 0:
            raise _transfer.TransferError(_transfer.explain_failure(rc, err, self.transport))
        digest = _transfer.parse_digest(err)
        if self.expect_digest and digest is None:
            raise _transfer.TransferError("the host's reader did not report the file's SHA-256: %s"
                                          % _safefs.display(err.strip(), 300))
        return digest[0] if digest else None


class ConnectionReader(object):
    """Chunks read through the connection plugin (any connection, any become), base64 encoded;
    the host's digest comes from one more call in ``sha256`` mode at the end."""

    def __init__(self, action, python, request_of, offset, size, chunk):
        self.action = action
        self.python = python
        self.request_of = request_of
        self.pos = offset
        self.size = size
        self.chunk = chunk
        self.done = False

    def _call(self, request):
        cmd = _transfer.shell_join(_transfer.read_command(self.python, request))
        res = self.action._low_level_execute_command(cmd, sudoable=True)
        if res.get("rc") != 0:
            raise _transfer.TransferError(_transfer.explain_failure(res.get("rc"), res.get("stderr"), "connection"))
        return res

    def read(self, size):
        if self.pos >= self.size:
            self.done = True
            return b""
        length = min(self.chunk, self.size - self.pos)
        res = self._call(self.request_of(self.pos, length, "b64"))
        data = base64.b64decode(res.get("stdout", ""))
        if not data:
            raise _transfer.TransferError("no data at offset %d (the file shrank?)" % self.pos)
        self.pos += len(data)
        return data

    def close(self):
        if not self.done:
            return None
        res = self._call(self.request_of(0, None, "sha256"))
        digest = _transfer.parse_digest(res.get("stderr", "") + "\n" + res.get("stdout", ""))
        if digest is None:
            raise _transfer.TransferError("the host's reader did not report the file's SHA-256")
        return digest[0]


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
        if not os.path.isabs(args["src"]):
            raise AnsibleActionFail("src must be an absolute path")
        args["src"] = os.path.normpath(args["src"])
        self.task_vars = task_vars or {}
        self.args = args
        self._parent = os.getppid()
        try:
            result.update(self._collect())
        except KdumpError as exc:
            result.update(failed=True, msg=str(exc))
        return result

    # --- host side --------------------------------------------------------------------------

    def _list(self, checksum, known=(), crashes=None):
        res = self._execute_module(module_name="crashkit.kdump.vmcore_list", module_args={
            "path": self.args["src"], "crashes": crashes if crashes is not None else self.args["crashes"],
            "checksum": checksum, "known": list(known), "include_incomplete": self.args["include_incomplete"],
        }, task_vars=self.task_vars)
        if res.get("failed") or res.get("unreachable"):
            raise AnsibleActionFail("listing %s on the host failed: %s" % (self.args["src"], res.get("msg")),
                                    result=res)
        return res

    def _python(self):
        """The host's Python, from the controller's side: ansible_python_interpreter, else the
        interpreter discovery found (never a path the host reports)."""
        value = self.task_vars.get("ansible_python_interpreter")
        if value:
            value = self._templar.template(value)
        if not value or not str(value).startswith("/"):
            facts = self.task_vars.get("ansible_facts") or {}
            value = facts.get("discovered_interpreter_python") or self.task_vars.get("discovered_interpreter_python")
        if not value and self._discovered_interpreter:
            value = self._discovered_interpreter
        return str(value) if value and str(value).startswith("/") else "/usr/bin/python3"

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
        """``open_reader(offset)`` for one file: ``source`` has the controller-side ``root`` and
        ``rel`` and the listed ``dev``/``ino``; nothing host-written is interpreted on the way."""
        root, rel, dev, ino = source["root"], source["rel"], source["dev"], source["ino"]
        chunk = self.args["chunk_mib"] * _transfer.MIB
        if transport == "local" and prefix is None:
            return lambda offset: _transfer.FileReader(root, rel, (dev, ino), offset)
        python = self._python()

        def request(offset, length=None, mode="raw"):
            return _transfer.read_request(root, rel, dev, ino, offset, length, mode)
        if transport == "local":
            return lambda offset: ProcessReader(_transfer.read_command(python, request(offset), prefix), "local")
        if transport == "ssh":
            base = _transfer.ssh_command(self._ssh_options())
            return lambda offset: ProcessReader(
                base + [_transfer.shell_join(_transfer.read_command(python, request(offset), prefix))], "ssh")
        return lambda offset: ConnectionReader(self, python, request, offset, int(source["size"]), chunk)

    # --- store ------------------------------------------------------------------------------

    @staticmethod
    def _load_manifest(directory):
        path = os.path.join(directory, _store.MANIFEST_NAME)
        text = _safefs.read_small(path, limit=16 * 1024 * 1024)
        if text is None:
            return None
        try:
            return _store.parse_manifest(text)
        except KdumpError as exc:
            display.warning("ignoring %s: %s" % (path, _safefs.display(str(exc))))
            return None

    @staticmethod
    def _write_manifest(directory, manifest):
        fd = _safefs.open_dir(directory)
        try:
            _safefs.write_file_at(fd, _store.MANIFEST_NAME, _store.dump_manifest(manifest), mode=0o600)
        finally:
            os.close(fd)

    def _store_matches(self, directory, entry, rehash):
        final = os.path.join(directory, entry["path"])
        try:
            st = os.lstat(final)
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode) or st.st_size != entry["size"]:
            return False
        return not rehash or _transfer.sha256_file(final) == entry["sha256"]

    def _lock(self, host_dir):
        _safefs.private_dir(host_dir, 0o700)
        path = os.path.join(host_dir, _store.LOCK_NAME)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise AnsibleActionFail("cannot open the lock %s: %s (a link or not a file?)" % (path, exc.strerror))
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise AnsibleActionFail("the lock %s is not a regular file" % path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise AnsibleActionFail("another collection into %s is running" % host_dir)
            raise
        return fd

    def _orphaned(self):
        """ansible-playbook's workers run in their own session: when the controller process is
        killed, the worker would go on copying alone. Stop instead (the .part stays)."""
        if os.getppid() != self._parent:
            return "the ansible-playbook process that started the copy is gone"
        return None

    def _emit(self, text, _done, _total):
        display.display("vmcore_collect %s: %s" % (_safefs.display(self.task_vars.get("inventory_hostname", "?")),
                                                   _safefs.display(text)))

    # --- main flow --------------------------------------------------------------------------

    def _host_id(self):
        """The host's store directory: the explicit O(host_id), else the inventory name. Never
        what the host reports about itself."""
        if self.args["host_id"]:
            return _store.store_host_id(self.args["host_id"])
        name = self.task_vars.get("inventory_hostname")
        if not name:
            raise AnsibleActionFail("no inventory_hostname and no host_id: cannot name the host's store directory")
        return _store.store_host_id(name)

    def _crashes(self, listing):
        """The listing's crashes with everything re-derived on the controller: the crash id from
        the name, the name a single component, every relative file path checked."""
        crashes = []
        for crash in listing["crashes"]:
            name = crash.get("name")
            try:
                _safefs.check_name(name, "crash directory")
                files = []
                for entry in crash.get("files") or []:
                    rel = _store.safe_relpath(entry.get("path"))
                    size, mtime = entry.get("size"), entry.get("mtime")
                    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                               for v in (size, mtime, entry.get("dev"), entry.get("ino"))):
                        raise ValidationError("%s: size, mtime, dev or ino is not a number" % rel)
                    files.append({"path": rel, "size": size, "mtime": mtime, "dev": entry["dev"],
                                  "ino": entry["ino"], "sha256": entry.get("sha256")})
            except KdumpError as exc:
                self._skipped.append({"name": _safefs.display(str(name), 120), "reason": str(exc)})
                continue
            crash_time = _store.bounded_time(crash.get("crash_time"))
            crashes.append({"name": name, "label": _safefs.display(name, 120),
                            "dir": os.path.join(self.args["src"], name), "crash_id": _store.crash_id(name),
                            "files": files, "crash_time": crash_time,
                            "time": crash_time or max([f["mtime"] for f in files] or [0]),
                            "kernel_release": _safefs.display(crash.get("kernel_release") or "", 120) or None})
        return crashes

    def _collect(self):
        args = self.args
        self._skipped = []
        first = self._list(checksum=False)
        reported = first.get("host") or {}
        host_id = self._host_id()
        host = {"host_id": host_id, "inventory_hostname": self.task_vars.get("inventory_hostname"),
                "hostname": _safefs.display(str(reported.get("hostname") or ""), 255) or None,
                "machine_id": _store.normalize_machine_id(reported.get("machine_id")
                                                          if isinstance(reported.get("machine_id"), str) else None)}
        store = os.path.abspath(args["store"])
        host_dir = _store.join_store(store, host_id)
        check = self._task.check_mode
        out = {"changed": False, "host": host, "host_id": host_id, "store_dir": host_dir, "crashes": [],
               "skipped_crashes": first["skipped_crashes"], "transport": None, "retention": None}
        if not first["exists"]:
            out["msg"] = "%s does not exist on the host" % args["src"]
        if not os.path.isdir(store) and not check:
            _safefs.private_dir(store, 0o700)
        lock = None if check else self._lock(host_dir)
        try:
            crashes = self._crashes(first)
            out["skipped_crashes"] = out["skipped_crashes"] + self._skipped
            plan = None
            if args["store_keep"] is not None or args["store_max_age_days"] is not None:
                plan = self._plan_store(host_dir, crashes)
                dropped = set(d["crash_id"] for d in plan["drop"])
            else:
                dropped = set()
            transport = None
            for crash in crashes:
                if crash["crash_id"] in dropped:
                    out["crashes"].append({"crash_id": crash["crash_id"], "name": crash["label"],
                                           "source_dir": crash["dir"], "status": "not_collected",
                                           "reason": "store retention would drop it"})
                    continue
                manifest = self._load_manifest(_store.join_store(host_dir, crash["crash_id"]))
                if transport is None:
                    transport = self._pick_transport()
                    out["transport"] = transport[0]
                record = self._collect_crash(host, host_dir, crash, manifest, transport, check)
                out["crashes"].append(record)
                if record["status"] in ("copied", "manifest_updated", "would_copy"):
                    out["changed"] = True
            retention = {"dry_run": bool(args["retention_dry_run"] or check), "store": None, "host": None}
            if plan is not None:
                retention["store"] = self._apply_store_plan(host_dir, plan, retention["dry_run"])
                if retention["store"]["drop"] and not retention["dry_run"]:
                    out["changed"] = True
            if args["keep_on_host"] is not None:
                retention["host"] = self._host_retention(host_dir, crashes, retention["dry_run"])
                if retention["host"]["drop"] and not retention["dry_run"]:
                    out["changed"] = True
            out["retention"] = retention
        finally:
            if lock is not None:
                os.close(lock)
        return out

    def _collect_crash(self, host, host_dir, crash, manifest, transport, check):
        directory = _store.join_store(host_dir, crash["crash_id"])
        record = {"crash_id": crash["crash_id"], "name": crash["label"], "source_dir": crash["dir"],
                  "store_path": directory, "files": [], "bytes_copied": 0, "resumed_bytes": 0}
        old = {e["path"]: e for e in manifest["files"]} if manifest else {}
        pending = []
        for entry in crash["files"]:
            have = old.get(entry["path"])
            if (have and have["size"] == entry["size"] and have.get("mtime") == entry["mtime"]
                    and self._store_matches(directory, have, self.args["verify_store"])):
                continue
            pending.append(entry)
        record["files"] = [e["path"] for e in pending]
        same_source = manifest is not None and manifest["source_dir"] == crash["dir"]
        current = set(e["path"] for e in crash["files"])
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
        _safefs.private_dir(directory, 0o700)
        files = dict(old)
        for entry in pending:
            source = {"path": os.path.join(crash["dir"], entry["path"]), "root": self.args["src"],
                      "rel": crash["name"] + "/" + entry["path"], "size": entry["size"], "mtime": entry["mtime"],
                      "dev": entry["dev"], "ino": entry["ino"]}
            final = os.path.join(directory, entry["path"])
            progress = None
            if interval and entry["size"] >= interval:
                progress = _transfer.Progress("%s/%s" % (crash["crash_id"], entry["path"]), entry["size"], 0,
                                              interval, self._emit)
            done = _transfer.copy_stream(self._opener(opener_kind, prefix, source), source, final,
                                         throttle=throttle, progress=progress, should_stop=self._orphaned)
            record["bytes_copied"] += done["bytes"]
            record["resumed_bytes"] += done["resumed_from"]
            files[entry["path"]] = dict(entry, sha256=done["sha256"])
        for path in stale:
            files.pop(path, None)
            target = os.path.join(directory, path)
            if os.path.lexists(target) and not os.path.isdir(target):
                os.unlink(target)
        new_manifest = _store.build_manifest(host, {
            "crash_id": crash["crash_id"], "source_dir": crash["dir"], "source_name": crash["label"],
            "crash_time": crash.get("crash_time"), "kernel_release": crash.get("kernel_release"),
        }, [dict(f, path=p) for p, f in files.items()], time.time())
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
            if name.startswith(".") or os.path.islink(directory) or not os.path.isdir(directory):
                continue
            manifest = self._load_manifest(directory)
            if manifest is None:
                continue
            crash_time = manifest.get("crash_time")
            collected = manifest.get("collected_at")
            newest = max([e.get("mtime") or 0 for e in manifest["files"]] or [0])
            when = crash_time or newest or collected
            if collected and when and when > collected:
                when = collected  # a time after the collection is not believed
            crashes.append({"crash_id": name, "time": when})
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
        # Hash the host's files now (the copy was verified in the stream, but a deletion on the
        # host needs the host's current files to be the ones in the store).
        hashed = {}
        candidates = [c["name"] for c in crashes]
        if candidates:
            for crash in self._crashes(self._list(checksum=True, crashes=candidates)):
                hashed[crash["name"]] = crash
        cheap = []
        for crash in crashes:
            current = hashed.get(crash["name"])
            manifest = self._load_manifest(_store.join_store(host_dir, crash["crash_id"]))
            if (current and manifest and manifest["source_dir"] == crash["dir"]
                    and not _store.compare_files(manifest, current["files"])):
                cheap.append(crash["crash_id"])
        plan = _store.plan_host_retention(crashes, cheap, self.args["keep_on_host"])
        by_name = {c["name"]: c for c in crashes}
        final = {"keep": list(plan["keep"]), "drop": []}
        for item in plan["drop"]:
            crash = by_name[item["name"]]
            directory = _store.join_store(host_dir, crash["crash_id"])
            manifest = self._load_manifest(directory)
            if not all(self._store_matches(directory, e, True) for e in manifest["files"]):
                final["keep"].append({"name": crash["label"], "reason": "older, but its central copy does not match its"
                                      " manifest on re-reading"})
                continue
            if not dry_run:
                res = self._execute_module(module_name="ansible.builtin.file",
                                           module_args={"path": crash["dir"], "state": "absent"},
                                           task_vars=self.task_vars)
                if res.get("failed"):
                    raise AnsibleActionFail("deleting %s on the host failed: %s" % (crash["label"], res.get("msg")))
            final["drop"].append(dict(item, name=crash["label"], path=crash["dir"]))
        for item in final["keep"]:
            item["name"] = _safefs.display(item["name"], 120)
        return final
