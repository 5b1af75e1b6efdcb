# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (tests only).

Headless Chromium (Debian's ``chromium``) reads protocol commands from its fd 3 and writes
answers and events to its fd 4, each a JSON text ended by a NUL byte. Nothing listens on a
network port. ``Browser`` opens one page and offers what the report tests need: ``open(url)``
(waits for the load event), ``js(expression)`` (the value, by JSON), ``screenshot(path)``.

No selenium, no webdriver: the protocol is the browser's own.
"""
from __future__ import absolute_import, division, print_function

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
         "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe")


def find_chromium():
    """The Chromium executable, or ``None``."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class BrowserError(Exception):
    pass


class Browser(object):
    def __init__(self, executable, width=1400, height=900, timeout=60):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="crashkit-chromium-")
        cmd_read, self._cmd = os.pipe()
        self._out, out_write = os.pipe()

        def child_fds():
            # Move both ends above 4 first (one of them may be 3 or 4 already), then dup2 them
            # to 3 and 4, which also makes them inheritable.
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (cmd_read, out_write)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self.proc = subprocess.Popen(
            [executable] + list(FLAGS) + ["--user-data-dir=%s" % self.profile,
                                          "--window-size=%d,%d" % (width, height), "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            # The child's fds 3 and 4 are made by dup2 after the fork; Python's own pipes are
            # close-on-exec, so nothing else of this process reaches the browser.
            preexec_fn=child_fds, close_fds=False)
        os.close(cmd_read)
        os.close(out_write)
        self._next = 0
        self._buffer = b""
        self._events = []
        try:
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            self.call("Page.enable", session=True)
            self.call("Runtime.enable", session=True)
            self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                      deviceScaleFactor=1, mobile=False)
        except BaseException:
            self.close()
            raise

    # -- protocol --

    def _send(self, message):
        data = json.dumps(message).encode("utf-8") + b"\0"
        while data:
            data = data[os.write(self._cmd, data):]

    def _receive(self, deadline):
        while b"\0" not in self._buffer:
            left = deadline - time.time()
            if left <= 0:
                raise BrowserError("no answer from chromium within %d s" % self.timeout)
            ready, _w, _x = select.select([self._out], [], [], left)
            if ready:
                chunk = os.read(self._out, 1 << 20)
                if not chunk:
                    raise BrowserError("chromium closed its protocol pipe (rc %s)" % self.proc.poll())
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message.decode("utf-8"))

    def call(self, method, session=False, **params):
        self._next += 1
        message = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        self._send(message)
        deadline = time.time() + self.timeout
        while True:
            answer = self._receive(deadline)
            if answer.get("id") == self._next:
                if "error" in answer:
                    raise BrowserError("%s: %s" % (method, answer["error"]))
                return answer.get("result", {})
            if "method" in answer:
                self._events.append(answer)

    def wait_event(self, method):
        deadline = time.time() + self.timeout
        while True:
            for index, event in enumerate(self._events):
                if event["method"] == method and event.get("sessionId") == self.session:
                    return self._events.pop(index)
            event = self._receive(deadline)
            if "method" in event:
                self._events.append(event)

    # -- what tests use --

    def open(self, url):
        """Navigate and wait for the load event (scripts of the page have run)."""
        self._events = [e for e in self._events if e["method"] != "Page.loadEventFired"]
        result = self.call("Page.navigate", session=True, url=url)
        if result.get("errorText"):
            raise BrowserError("cannot open %s: %s" % (url, result["errorText"]))
        self.wait_event("Page.loadEventFired")
        return self.js("location.href")

    def js(self, expression):
        """The value of a JavaScript expression in the page (returned by JSON)."""
        result = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        if result.get("exceptionDetails"):
            raise BrowserError("%s: %s" % (expression, result["exceptionDetails"]))
        return result["result"].get("value")

    def screenshot(self, path, height=None):
        """A PNG of the page from its top: all of it, or its first ``height`` pixels."""
        width, full = self.js("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
        params = {"format": "png", "captureBeyondViewport": True,
                  "clip": {"x": 0, "y": 0, "width": width, "height": min(height or full, full), "scale": 1}}
        data = self.call("Page.captureScreenshot", session=True, **params)["data"]
        with open(path, "wb") as handle:
            handle.write(base64.b64decode(data))
        return path

    def close(self):
        try:
            if self.proc.poll() is None:
                try:
                    self._next += 1
                    self._send({"id": self._next, "method": "Browser.close"})
                    self.proc.wait(timeout=10)
                except (OSError, subprocess.TimeoutExpired):
                    self.proc.kill()
                    self.proc.wait()
        finally:
            for fd in (self._cmd, self._out):
                try:
                    os.close(fd)
                except OSError:
                    pass
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
