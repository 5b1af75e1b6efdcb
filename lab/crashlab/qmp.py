"""Minimal QMP client (QEMU Machine Protocol over a unix socket)."""
import json
import socket


class QMPError(Exception):
    pass


def execute(sock_path, command, arguments=None, timeout=10.0):
    """Run one QMP command; return its ``return`` value (raises QMPError on ``error``)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(sock_path))
        f = s.makefile("rwb")
        _read_reply(f, greeting=True)
        _send(f, {"execute": "qmp_capabilities"})
        _read_reply(f)
        msg = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        _send(f, msg)
        return _read_reply(f)


def _send(f, obj):
    f.write(json.dumps(obj).encode() + b"\n")
    f.flush()


def _read_reply(f, greeting=False):
    while True:
        line = f.readline()
        if not line:
            raise QMPError("QMP connection closed")
        msg = json.loads(line)
        if greeting and "QMP" in msg:
            return msg
        if "event" in msg:
            continue
        if "error" in msg:
            raise QMPError("%s: %s" % (msg["error"].get("class"), msg["error"].get("desc")))
        if "return" in msg:
            return msg["return"]
