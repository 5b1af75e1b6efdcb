"""Benchmark-only callback: the wall time of every task on every host, one JSON line each.

Enabled by bench/fleet.py (``ANSIBLE_CALLBACK_PLUGINS`` = this folder,
``ANSIBLE_CALLBACKS_ENABLED=task_times``); writes to the file named by ``CRASHKIT_TASK_TIMES``
(appending). A line: ``{"play", "task", "action", "host", "status", "seconds"}``, where status is
ok, changed, failed, ignored (a failure the task ignores), skipped or unreachable, and seconds
runs from the task's start on that host to its result. Not shipped (bench/ is in galaxy.yml's build_ignore).
"""
# A callback reads the host, the task and its result from the result object's private fields, as
# Ansible's own callbacks do.
# pylint: disable=protected-access
import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_times"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._path = os.environ.get("CRASHKIT_TASK_TIMES")
        self._play = None
        self._started = {}

    def v2_playbook_on_play_start(self, play):
        self._play = play.get_name()

    def v2_runner_on_start(self, host, task):
        self._started[(host.get_name(), task._uuid)] = time.monotonic()

    def _record(self, result, status):
        host, task = result._host.get_name(), result._task
        started = self._started.pop((host, task._uuid), None)
        if not self._path:
            return
        line = {"play": self._play, "task": task.get_name(), "action": task.action, "host": host,
                "status": status,
                "seconds": None if started is None else round(time.monotonic() - started, 3)}
        with open(self._path, "a") as handle:
            handle.write(json.dumps(line) + "\n")

    def v2_runner_on_ok(self, result):
        self._record(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")
