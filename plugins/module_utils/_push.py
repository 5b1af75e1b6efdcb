# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""The host's evidence service: every crash saved here reaches the dump server, triaged.

Run by ``crashkit-evidence.timer`` (installed by the setup role where a dump server is
configured for a local or device target), as root, without Ansible: it uses this collection's
own pipeline (``_crashlist``, ``_bundle``, ``_triage``), copied onto the host.

For each crash directory below the dump root that is complete and not yet sent:

1. build the evidence bundle (``_bundle.make_bundle``, with the host's facts: journal of the
   crashed boot, package changes, kdump configuration) and so the first triage;
2. send, one ``crashkit-push`` each (the receiver's one operation for this service), through the
   host's own restricted dump key with the dump server's host keys pinned: the kernel log as the
   capture saved it, the bundle as ``crashkit-host-bundle.tar.gz``, the dump itself by policy
   (``never``, ``always``, ``auto``: up to ``send_dump_max_mb``), announced first by
   ``crashkit-push.json`` (every file with its size and SHA-256): the server takes the crash only
   once all of them have arrived;
3. remember it in the state file, so it is sent once.

The receiver stores a file only when its size and SHA-256 are the announced ones and answers
``crashkit-push ok <sha256> <size>``; anything else is a failure. A failed crash is retried by the
next run after a backoff (1, 2, 4 ... minutes, at most ``retry_max_seconds``, an hour by default).
Nothing here deletes a dump.

Configuration (JSON, written by the role): ``server``, ``port``, ``user``, ``key``,
``known_hosts``, ``root``, ``state``, ``send_dump``, ``send_dump_max_mb``, ``since_days``,
``ssh``, ``connect_timeout``, ``retry_max_seconds``, ``bundle_options``.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

from ansible_collections.crashkit.kdump.plugins.module_utils import (
    _bundle,
    _capture,
    _crashlist,
    _safefs,
    _store,
    _vmcore,
)
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError, ValidationError

STATE_FORMAT = 1
BACKOFF_BASE = 60
BACKOFF_MAX = 3600
PUSH_MANIFEST = "crashkit-push.json"
HOST_BUNDLE = "crashkit-host-bundle.tar.gz"
PUSH_OK = "crashkit-push ok"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+@,=%-]{0,127}\Z")
DEFAULTS = {
    "port": 22, "user": "kdumprecv", "key": "/root/.ssh/kdump_id_ed25519", "known_hosts": "/root/.ssh/known_hosts",
    "root": "/var/crash", "state": "/var/lib/crashkit/evidence-state.json", "send_dump": "auto",
    "send_dump_max_mb": 512, "since_days": 30, "ssh": "ssh", "connect_timeout": 15, "retry_max_seconds": BACKOFF_MAX,
    "bundle_options": {},
}
POLICIES = ("never", "always", "auto")


class PushError(KdumpError):
    """Sending to the dump server failed; the next run tries again."""


def load_config(path):
    """The service's configuration with defaults, validated."""
    text = _safefs.read_small(path, limit=1024 * 1024)
    if text is None:
        raise ValidationError("cannot read the configuration %s" % path)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValidationError("%s is not JSON: %s" % (path, exc))
    config = dict(DEFAULTS)
    config.update(data if isinstance(data, dict) else {})
    if not isinstance(config.get("server"), str) or not config["server"]:
        raise ValidationError("%s names no dump server" % path)
    if config["send_dump"] not in POLICIES:
        raise ValidationError("send_dump must be one of %s" % ", ".join(POLICIES))
    for key in ("port", "send_dump_max_mb", "since_days", "connect_timeout", "retry_max_seconds"):
        if not isinstance(config[key], int) or isinstance(config[key], bool) or config[key] < 0:
            raise ValidationError("%s must be a whole number" % key)
    return config


def backoff(attempts, maximum=BACKOFF_MAX):
    """Seconds to wait after the ``attempts``-th failure in a row: 60, 120, 240 ... ``maximum``."""
    return min(maximum, BACKOFF_BASE * (2 ** max(0, min(attempts - 1, 12))))


def load_state(path):
    text = _safefs.read_small(path, limit=16 * 1024 * 1024)
    if text is None:
        return {"format": STATE_FORMAT, "crashes": {}}
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("crashes"), dict):
        # A broken state file must not make every crash be sent again and again: keep it aside.
        os.rename(path, "%s.broken-%d" % (path, int(time.time())))
        return {"format": STATE_FORMAT, "crashes": {}}
    return data


def save_state(path, state):
    directory = os.path.dirname(path)
    _safefs.private_dir(directory, 0o700)
    fd = _safefs.open_dir(directory, follow=True)
    try:
        _safefs.write_file_at(fd, os.path.basename(path), json.dumps(state, indent=1, sort_keys=True) + "\n", 0o600)
    finally:
        os.close(fd)


def plan(crashes, state, now, since_days):
    """Which listed crashes to send now: ``[(crash, why)]``, oldest first; and the names
    waiting for their next try. Pure."""
    due, waiting = [], []
    horizon = now - since_days * 86400 if since_days else None
    for crash in sorted(crashes, key=lambda c: (c["time"], c["name"])):
        entry = state["crashes"].get(crash["name"]) or {}
        if entry.get("status") == "sent":
            continue
        if horizon is not None and crash["time"] < horizon and not entry:
            continue
        if entry.get("next_try") and entry["next_try"] > now:
            waiting.append(crash["name"])
            continue
        due.append((crash, "retry %d" % entry.get("attempts", 0) if entry.get("attempts") else "new"))
    return due, waiting


def choose_files(crash, policy, max_mb):
    """The crash's files to send, as they are named in its directory: the kernel log, the lean
    capture's note (which capture saved the dump), and the dump files when the policy says so
    (``auto``: all of them together up to ``max_mb``)."""
    names = [f["path"] for f in crash["files"] if "/" not in f["path"]]
    by_name = {f["path"]: f for f in crash["files"]}
    chosen = []
    dmesg, _final = _vmcore.pick_dmesg(names)
    if dmesg:
        chosen.append(dmesg)
    if _capture.NOTE_NAME in by_name and by_name[_capture.NOTE_NAME]["size"] <= _capture.NOTE_LIMIT:
        chosen.append(_capture.NOTE_NAME)
    dumps = [n for n in names if (_vmcore.dump_name(n) or (None, False))[1]]
    size = sum(by_name[n]["size"] for n in dumps)
    if policy == "always" or (policy == "auto" and size <= max_mb * 1024 * 1024):
        chosen.extend(sorted(dumps))
    return chosen


class Pusher(object):
    """Sends one host's crashes; ``run_ssh`` is replaceable for tests."""

    def __init__(self, config, runner=None, identity=None, log=None):
        self.config = config
        self.runner = runner or _bundle.Runner()
        self.identity = identity or local_identity()
        self.log = log or (lambda message: sys.stderr.write(message + "\n"))

    def ssh_argv(self, remote):
        c = self.config
        return [c["ssh"], "-i", c["key"], "-p", str(c["port"]), "-l", c["user"],
                "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", "UserKnownHostsFile=%s" % c["known_hosts"], "-o", "ConnectTimeout=%d" % c["connect_timeout"],
                "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4", "-o", "LogLevel=ERROR",
                "-T", "--", c["server"]] + remote

    def push_fd(self, crash_name, name, fd, size, digest):
        """One ``crashkit-push``; the file from ``fd`` on stdin. Raises ``PushError``."""
        for value in (crash_name, name):
            if not NAME.match(value):
                raise PushError("%s cannot be sent: not a name the receiver takes" % _safefs.display(value))
        os.lseek(fd, 0, os.SEEK_SET)
        argv = self.ssh_argv(["crashkit-push", crash_name, name, str(size), digest])
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            try:
                # pylint: disable-next=ansible-bad-function  # the service's code, no AnsibleModule here
                proc = subprocess.Popen(argv, stdin=fd, stdout=out, stderr=err, close_fds=True)
            except OSError as exc:
                raise PushError("cannot run %s: %s" % (argv[0], exc))
            try:
                rc = proc.wait(timeout=max(300, size // (256 * 1024)))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise PushError("pushing %s timed out" % name)
            out.seek(0)
            err.seek(0)
            answer = out.read(4096).decode("utf-8", "replace").strip()
            problem = err.read(4096).decode("utf-8", "replace").strip()
        expected = "%s %s %d" % (PUSH_OK, digest, size)
        if rc != 0 or answer != expected:
            raise PushError("pushing %s to %s failed (exit %d): %s" % (
                name, self.config["server"], rc, _safefs.display(problem or answer or "no answer", 300)))

    def push_bytes(self, crash_name, name, data):
        with tempfile.TemporaryFile() as handle:
            handle.write(data)
            handle.flush()
            self.push_fd(crash_name, name, handle.fileno(), len(data), hashlib.sha256(data).hexdigest())

    def send(self, crash, now):
        """Bundle and send one crash; returns what was sent. Raises ``PushError``/``KdumpError``."""
        root = self.config["root"]
        options = dict(self.config.get("bundle_options") or {})
        options.setdefault("deep_triage", False)
        result = _bundle.make_bundle(os.path.join(root, crash["name"]), options, runner=self.runner,
                                     identity=self.identity, now=now)
        remote = _store.crash_id(crash["name"])
        chosen = choose_files(crash, self.config["send_dump"], self.config["send_dump_max_mb"])
        listed = set(f["path"] for f in crash["files"])
        if ((result.get("summary") or {}).get("capture") or {}).get("saved_by") and _capture.NOTE_NAME not in listed:
            # the bundle has just copied the lean capture's fallback note into the crash directory
            # (a note listed before it went through choose_files' size bound)
            chosen.append(_capture.NOTE_NAME)
        pairs = [(n, n) for n in chosen]
        if result.get("archive"):
            pairs.append((os.path.basename(result["archive"]), HOST_BUNDLE))
        opened = []
        try:
            dir_fd = _safefs.open_dir_beneath(root, crash["name"])
            try:
                for local, _remote in pairs:
                    opened.append(_safefs.open_regular(local, dir_fd=dir_fd))
            finally:
                os.close(dir_fd)
            sent = [{"name": name, "size": os.fstat(fd).st_size, "sha256": _safefs.sha256_fd(fd)}
                    for (_local, name), fd in zip(pairs, opened)]
            summary = result.get("summary") or {}
            manifest = {"format": 1, "crash": crash["name"], "host": self.identity, "sent_at": int(now),
                        "files": sent, "triage": summary.get("triage"),
                        "kernel_release": summary.get("kernel_release"), "crash_time": summary.get("crash_time")}
            # The manifest goes first: the server takes the crash once every file it lists has
            # arrived, never half-sent (a kernel log and a dump alone would look finished to it).
            self.push_bytes(remote, PUSH_MANIFEST, (json.dumps(manifest, sort_keys=True) + "\n").encode("utf-8"))
            for item, fd in zip(sent, opened):
                self.push_fd(remote, item["name"], fd, item["size"], item["sha256"])
        finally:
            for fd in opened:
                os.close(fd)
        return sent

    def run(self, now=None):
        """One pass: returns ``{"sent": [...], "failed": [...], "waiting": [...]}``."""
        now = time.time() if now is None else now
        listing = _crashlist.list_crashes(self.config["root"])
        state = load_state(self.config["state"])
        due, waiting = plan(listing["crashes"], state, now, self.config["since_days"])
        report = {"sent": [], "failed": [], "waiting": waiting}
        for crash, why in due:
            entry = dict(state["crashes"].get(crash["name"]) or {})
            try:
                files = self.send(crash, now)
            except (KdumpError, OSError) as exc:
                entry["attempts"] = entry.get("attempts", 0) + 1
                entry.update(status="pending", last_error=str(exc)[:1000], last_try=int(now),
                             next_try=int(now + backoff(entry["attempts"], self.config["retry_max_seconds"])))
                report["failed"].append({"name": crash["label"], "error": entry["last_error"],
                                         "next_try": entry["next_try"]})
                self.log("crashkit-evidence: %s: %s; next try in %d s" % (
                    crash["label"], _safefs.display(entry["last_error"], 300), entry["next_try"] - int(now)))
            else:
                entry = {"status": "sent", "sent_at": int(now), "files": files,
                         "attempts": entry.get("attempts", 0) + 1}
                report["sent"].append(crash["label"])
                self.log("crashkit-evidence: %s sent to %s (%s): %s" % (
                    crash["label"], self.config["server"], why, ", ".join(f["name"] for f in files)))
            state["crashes"][crash["name"]] = entry
            save_state(self.config["state"], state)
        return report


def local_identity():
    text = _safefs.read_small("/etc/machine-id", limit=4096)
    machine = _store.normalize_machine_id(text)
    hostname = socket.gethostname()
    return {"hostname": hostname, "machine_id": machine, "host_id": _store.host_id(hostname, machine)}


def main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(prog="crashkit-evidence", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="/etc/crashkit/evidence.json")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        report = Pusher(config, log=_safefs.say).run()
    except KdumpError as exc:
        sys.stderr.write("crashkit-evidence: %s\n" % exc)
        return 2
    if report["waiting"]:
        _safefs.say("crashkit-evidence: waiting for the next try: %s" % ", ".join(
            _safefs.display(n, 80) for n in report["waiting"]))
    return 1 if report["failed"] else 0
