# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""Pure logic of the dump key: key type choice, public key lines, known_hosts pinning.

* ``check_options(...)``: the option combinations the module refuses before touching the host;
* ``choose_key_type(requested, supported, fips)``: ed25519 unless the host's ssh client lacks it
  or the host runs in FIPS mode (Red Hat's OpenSSH refuses ed25519 there), then rsa;
* ``existing_key(...)``, ``public_line(...)``: what to do with a key pair already there
  (keep it, replace it, rewrite its public key file); ``keygen_done(...)``: whether
  ``ssh-keygen`` made one;
* ``parse_public_key(line)``: an OpenSSH public key line -> ``(type, base64, comment)``;
* ``known_hosts_name(host, port)``: ``host`` or ``[host]:port``, as ssh looks it up;
* ``pin_known_hosts(text, name, keys)``: make ``name``'s entries exactly ``keys``, leave every
  other line alone (hashed entries are recognised), idempotent;
* ``probe_result(stdout)``: parse the receiver's ``crashkit-probe`` answer;
* ``ssh_argv(...)``: the system ``ssh`` command line of the connectivity check, with the options
  of the capture environments (``BatchMode``, strict host key checking, the dump key only);
* ``ssh_failure(rc, stderr)``: what an ssh exit status and its messages say went wrong;
* ``connectivity_report(ssh_run, name, limit)``: the check's three ssh runs (the module runs
  them) in order, and what their results prove;
* ``run_bounded(argv, limit)``: the one I/O helper, runs a command with a time limit and bounded
  output (AnsibleModule.run_command has neither);
* ``source_address(server, port)``: the address this host sends from on its route to the
  server (what the server sees); a socket's route lookup, nothing is sent;
* ``path_digest(...)`` (``proof_digest`` of this host's files), ``recent_proof(...)``,
  ``read_proof``/``save_proof``: the record of the last passing check, so that a rerun with
  nothing changed on either side can skip it.

Nothing here imports Ansible.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import select
import socket
import subprocess
import tempfile
import time

from ansible_collections.crashkit.kdump.plugins.module_utils import _safefs
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import (
    HostError,
    KdumpError,
    ParseError,
    ValidationError,
)

KEY_TYPES = {"ed25519": "ssh-ed25519", "rsa": "ssh-rsa"}
RSA_BITS = 4096
DEFAULT_KEY_DIR = "/root/.ssh"
PROBE_COMMAND = "crashkit-probe"
PROBE_OK = "crashkit-probe ok"
# The ssh runs the receiver must refuse, under their report keys: a command, and a shell
# (no command).
EXEC_PROBE = "sh -c id"
REFUSALS = (
    ("exec_refused", EXEC_PROBE, "'%s'" % EXEC_PROBE,
     "the server ran '%s' for this key: it is not restricted to the receiver" % EXEC_PROBE),
    ("shell_refused", None, "a shell", "the server gave this key an interactive shell: it is not restricted"),
)
# What the report keeps of each ssh run's error output (the server writes part of it).
STDERR_KEPT = 1000
HOST_KEY_TYPES = (
    "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com", "ssh-dss",
)
# The options the capture environments run ssh with: kdump-utils/kexec-tools kdump.sh and
# kdumpctl use "-i <sshkey> -o BatchMode=yes -o StrictHostKeyChecking=yes"; kdump-tools runs
# "ssh -i $SSH_KEY" from the real root file system, where no terminal means OpenSSH's
# StrictHostKeyChecking=ask fails like "yes". The check adds what makes it prove exactly the
# dump path: only the dump key (the capture initramfs has no agent and no other keys), only
# public key authentication, only the pinned known_hosts file, no IP address bookkeeping in it,
# and messages at the ERROR level so a failure can be told. Every option exists in OpenSSH 7.4
# and later (RHEL 8 has 8.0, SLES 15 7.9 and later).
SSH_OPTIONS = (
    "BatchMode=yes",
    "StrictHostKeyChecking=yes",
    "IdentitiesOnly=yes",
    "PreferredAuthentications=publickey",
    "GlobalKnownHostsFile=/dev/null",
    "CheckHostIP=no",
    "LogLevel=ERROR",
)
# ssh exits 255 for its own errors; otherwise with the remote command's status (the receiver
# uses 0, 1 and 2).
SSH_ERROR = 255
# A path ssh takes as written: ssh_config expands "%" tokens and "~" in IdentityFile and
# UserKnownHostsFile and splits option values on blanks; the capture environments expand the
# key path unquoted. The same characters kdump_config accepts for target.ssh_key.
_SSH_PATH = re.compile(r"^/[A-Za-z0-9._/+,=@-]*\Z")
# What run_bounded keeps of each output stream (the server writes them).
OUTPUT_LIMIT = 64 * 1024
_SSH_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\Z")
_HOST = re.compile(r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})|[0-9A-Fa-f:.]{2,45})\Z")
_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,3}\Z")


def default_key_path(key_type):
    return "%s/kdump_id_%s" % (DEFAULT_KEY_DIR, key_type)


def existing_key_paths(requested):
    """The default paths, in order, whose existing key is used when no path is given: either
    type's for ``auto``, none for an explicit type (its own default path follows the type)."""
    return [default_key_path(key_type) for key_type in ("ed25519", "rsa")] if requested == "auto" else []


def key_comment(comment, node):
    """Comment of a new key: ``comment``, else ``crashkit-kdump@`` and the short host name."""
    return comment or "crashkit-kdump@%s" % (node.split(".")[0] or "localhost")


def check_options(server, port, host_keys, check):
    """Refuse what the module cannot work with: no ``server`` with ``host_keys`` or ``check``,
    a bad server name or port, a host key line that does not parse."""
    if (host_keys or check) and not server:
        raise ValidationError("server is required with server_host_keys and check")
    if server:
        known_hosts_name(server, port)
    for line in host_keys or ():
        parse_public_key(line)


def choose_key_type(requested, supported, fips):
    """Return ``(type, reason)``.

    ``supported`` is the set of key types the host's ssh client lists (``ssh -Q key``) or
    ``None`` when it could not be asked; ``fips`` whether the kernel runs in FIPS mode.
    """
    if requested in KEY_TYPES:
        if requested == "ed25519" and fips:
            raise ValidationError("type=ed25519 on a host in FIPS mode: Red Hat's OpenSSH refuses "
                                  "ed25519 keys in FIPS mode; use type=rsa or type=auto")
        if supported is not None and KEY_TYPES[requested] not in supported:
            raise ValidationError("type=%s but this host's ssh client does not support %s keys "
                                  "(ssh -Q key)" % (requested, KEY_TYPES[requested]))
        return requested, "requested"
    if requested != "auto":
        raise ValidationError("type must be auto, ed25519 or rsa, got %r" % (requested,))
    if fips:
        return "rsa", "FIPS mode is enabled: ed25519 is not allowed"
    if supported is not None and "ssh-ed25519" not in supported:
        return "rsa", "this host's ssh client does not support ed25519 keys"
    return "ed25519", "the host's ssh client supports ed25519"


def parse_key_types(ssh_q_key_output):
    """The key types ``ssh -Q key`` printed."""
    return set(line.strip() for line in (ssh_q_key_output or "").splitlines() if line.strip())


def keygen_argv(ssh_keygen, key_type, path, comment):
    argv = [ssh_keygen, "-q", "-t", key_type]
    if key_type == "rsa":
        argv += ["-b", str(RSA_BITS)]
    return argv + ["-N", "", "-C", comment, "-f", path]


def keygen_done(path, rc, stdout, stderr):
    """Raise ``HostError`` unless the ``keygen_argv`` run for ``path`` succeeded."""
    if rc != 0:
        raise HostError("ssh-keygen failed to create %s: %s" % (path, (stderr or stdout).strip()))


def parse_public_key(line):
    """``type base64 [comment]`` (no options) -> ``(type, base64, comment)``."""
    if not isinstance(line, str):
        raise ParseError("a public key must be a string, got %r" % (line,))
    text = line.strip()
    if not text or "\n" in text or "\r" in text:
        raise ParseError("a public key is one line: type, base64 and an optional comment")
    fields = text.split(None, 2)
    if len(fields) < 2:
        raise ParseError("public key %r has no base64 part" % (_short(text),))
    key_type, blob = fields[0], fields[1]
    if key_type not in HOST_KEY_TYPES:
        raise ParseError("unknown SSH key type %r in %r" % (key_type, _short(text)))
    if not _BASE64.match(blob) or len(blob) % 4:
        raise ParseError("the key data of %r is not base64" % (_short(text),))
    try:
        raw = base64.b64decode(blob.encode("ascii"))
    except (binascii.Error, ValueError):
        raise ParseError("the key data of %r is not base64" % (_short(text),))
    declared = _ssh_string(raw)
    if declared != key_type.encode("ascii"):
        raise ParseError("the key data of %r is a %s key, not %s"
                         % (_short(text), declared.decode("ascii", "replace") if declared else "broken",
                            key_type))
    return key_type, blob, fields[2] if len(fields) > 2 else ""


def _ssh_string(raw):
    if len(raw) < 4:
        return None
    size = int(binascii.hexlify(raw[:4]), 16)
    if size > len(raw) - 4:
        return None
    return raw[4:4 + size]


def _short(text):
    return text if len(text) <= 60 else text[:57] + "..."


def fingerprint(blob):
    """OpenSSH's SHA256 fingerprint of a base64 key."""
    digest = hashlib.sha256(base64.b64decode(blob.encode("ascii"))).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def public_key_facts(line):
    """The result's ``public_key`` and ``fingerprint`` of a public key line."""
    return dict(public_key=line, fingerprint=fingerprint(parse_public_key(line)[1]))


def key_type_name(line):
    """The ``type`` option's name of a public key line's type (``ed25519``, ``rsa``), else the
    SSH type itself."""
    key_type = parse_public_key(line)[0]
    for name, ssh_name in KEY_TYPES.items():
        if ssh_name == key_type:
            return name
    return key_type


def existing_key(path, requested, regenerate, rc, stdout, stderr):
    """``(derived, type)`` of the existing private key ``path`` from its ``ssh-keygen -y`` run's
    result: ``derived`` is its ``type base64``, ``type`` None when it is to be replaced by a new
    key of the ``requested`` type (``regenerate``)."""
    if rc != 0:
        raise HostError("%s exists but ssh-keygen cannot read it (%s); it must be an unencrypted "
                        "private key" % (path, (stderr or stdout).strip()))
    derived = " ".join(stdout.split()[:2])
    key_type = key_type_name(derived)
    if requested == "auto" or key_type == requested:
        return derived, key_type
    if not regenerate:
        raise ValidationError("%s is a %s key but type=%s; set regenerate=true to replace it "
                              "(and authorise the new key on the dump server)" % (path, key_type, requested))
    return derived, None


def public_line(derived, pub_text, comment):
    """``(line, write)`` for the public key file of the key ``derived`` (``type base64``).

    The file's own line (its comment kept) when ``pub_text`` holds that key, else ``derived``
    with ``comment``, which must then be written (``write``).
    """
    if pub_text is not None and " ".join(pub_text.split()[:2]) == derived:
        return pub_text.strip(), False
    return "%s %s" % (derived, comment), True


def known_hosts_name(host, port=22):
    if not isinstance(host, str) or not _HOST.match(host):
        raise ValidationError("server %r is not a host name or an IP address" % (host,))
    port = int(port)
    if not 1 <= port <= 65535:
        raise ValidationError("port must be between 1 and 65535, got %d" % port)
    return host if port == 22 else "[%s]:%d" % (host, port)


def _hashed_match(pattern, name):
    parts = pattern.split("|")
    if len(parts) != 4 or parts[1] != "1":
        return False
    try:
        salt = base64.b64decode(parts[2])
        expected = base64.b64decode(parts[3])
    except (binascii.Error, ValueError):
        return False
    digest = hmac.new(salt, name.encode("utf-8"), hashlib.sha1).digest()
    return hmac.compare_digest(digest, expected)


def _split_line(line):
    """``(marker, hosts, key_type, blob, rest)`` of a known_hosts line, or None."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return None
    fields = stripped.split()
    marker = None
    if fields[0].startswith("@"):
        marker = fields.pop(0)
    if len(fields) < 3:
        return None
    return marker, fields[0], fields[1], fields[2], fields[3:]


def entries_for(text, name):
    """The ``(type, base64)`` keys ``text`` (a known_hosts file) has for ``name``."""
    found = []
    for line in (text or "").splitlines():
        parsed = _split_line(line)
        if parsed is None or parsed[0] is not None:
            continue
        _marker, hosts, key_type, blob, _rest = parsed
        if _mentions(hosts, name):
            found.append((key_type, blob))
    return found


def _mentions(hosts, name):
    if hosts.startswith("|"):
        return _hashed_match(hosts, name)
    return name.lower() in [h.lower() for h in hosts.split(",")]


def pin_known_hosts(text, name, keys):
    """Make ``name`` have exactly ``keys`` (public key lines) in known_hosts ``text``.

    Lines for other hosts, comments and ``@cert-authority``/``@revoked`` lines are kept as
    they are; ``name`` is taken out of multi-host lines; a line that already is exactly
    ``name type base64`` for a wanted key stays where it is. Returns
    ``(new_text, added, removed)`` with ``added``/``removed`` as ``type base64`` strings.
    """
    wanted = []
    for line in keys:
        key_type, blob, _comment = parse_public_key(line)
        if (key_type, blob) not in wanted:
            wanted.append((key_type, blob))
    if not wanted:
        raise ValidationError("server_host_keys is empty: at least one host key must be pinned")
    seen = set()
    removed = []
    out = []
    for line in (text or "").splitlines(True):
        parsed = _split_line(line)
        if parsed is None or parsed[0] is not None:
            out.append(line)
            continue
        _marker, hosts, key_type, blob, rest = parsed
        if not _mentions(hosts, name):
            out.append(line)
            continue
        key = (key_type, blob)
        if hosts.lower() == name.lower() and key in wanted and key not in seen:
            seen.add(key)
            out.append(line if line.endswith("\n") else line + "\n")
            continue
        removed.append("%s %s" % key)
        if hosts.startswith("|"):
            continue
        others = [h for h in hosts.split(",") if h.lower() != name.lower()]
        if others:
            out.append(" ".join([",".join(others), key_type, blob] + rest) + "\n")
    if out and not out[-1].endswith("\n"):
        out[-1] += "\n"
    added = []
    for key in wanted:
        if key not in seen:
            out.append("%s %s %s\n" % (name, key[0], key[1]))
            added.append("%s %s" % key)
    return "".join(out), added, removed


def check_pinned(name, host_keys, known_hosts_text, known_hosts_path):
    """Refuse a check with no host key for ``name``: neither ``host_keys`` (the option, already
    checked by ``check_options``) nor entries in the known_hosts file's text."""
    if not host_keys and not entries_for(known_hosts_text, name):
        raise ValidationError("no host key of %s is pinned in %s: give server_host_keys"
                              % (name, known_hosts_path))


def probe_result(stdout):
    """``crashkit-probe ok host=H path=P avail_kib=N`` -> dict; ParseError otherwise."""
    line = (stdout or "").strip().splitlines()
    if not line or not line[0].startswith(PROBE_OK + " "):
        raise ParseError("the receiver did not answer the probe (got %r)" % (_short(stdout or ""),))
    values = {}
    for word in line[0][len(PROBE_OK) + 1:].split():
        key, _sep, value = word.partition("=")
        values[key] = value
    try:
        values["avail_kib"] = int(values.get("avail_kib", ""))
    except ValueError:
        raise ParseError("the probe answer has no free space figure: %r" % (line[0],))
    return values


def ssh_argv(ssh, key_path, user, server, port, known_hosts_path, timeout, command=None):
    """The argv of one ``ssh`` run of the connectivity check (a list: no shell ever sees it).

    ``command`` None asks for a shell (no pty: ``-T``), as an interactive login would. The port
    is given only when it is not 22, so a ``Port`` in root's ssh_config for this host applies
    as it does for the capture environment.
    """
    name = known_hosts_name(server, port)
    for what, path in (("the dump key path", key_path), ("known_hosts_path", known_hosts_path)):
        if not isinstance(path, str) or not _SSH_PATH.match(path):
            raise ValidationError("%s %r must be an absolute path made of letters, digits and "
                                  "._/+,=@- (ssh expands %%, ~ and blanks in it)" % (what, path))
    if not isinstance(user, str) or not _SSH_USER.match(user):
        raise ValidationError("user %r is not a user name" % (user,))
    timeout = int(timeout)
    if timeout < 1:
        raise ValidationError("timeout must be at least 1 second, got %d" % timeout)
    argv = [ssh, "-T", "-i", key_path]
    for option in SSH_OPTIONS:
        argv += ["-o", option]
    argv += ["-o", "UserKnownHostsFile=%s" % known_hosts_path, "-o", "ConnectTimeout=%d" % timeout,
             "-o", "ServerAliveInterval=%d" % timeout, "-o", "ServerAliveCountMax=1"]
    if name != server:
        argv += ["-p", str(int(port))]
    argv += ["-l", user, "--", server]
    if command is not None:
        argv.append(command)
    return argv


# OpenSSH's own messages (ssh.c, sshconnect.c, sshconnect2.c), newest and oldest wordings.
_HOST_KEY_FAILED = ("Host key verification failed",)
_AUTH_FAILED = ("Permission denied",)
_UNREACHABLE = ("Connection refused", "Connection timed out", "No route to host",
                "Network is unreachable", "Could not resolve hostname", "Name or service not known",
                "Temporary failure in name resolution", "Operation timed out")


def _last_line(text, skip=()):
    """The last message line of ``text`` that is not one of ``skip`` (ssh's closing words)."""
    lines = [line.strip() for line in (text or "").splitlines()
             if line.strip() and not line.strip().startswith("@") and line.strip().rstrip(".") not in skip]
    if not lines:
        return "no message"
    line = lines[-1]
    return line if len(line) <= 160 else line[:157] + "..."


def ssh_failure(rc, stderr, name):
    """Classify an ssh run that did not reach the remote command.

    Returns ``None`` when ``rc`` is the remote command's own status (ssh got that far: the host
    key matched and the key was accepted), else ``(host_key_verified, authenticated, error)``.
    """
    if rc != SSH_ERROR:
        return None
    text = stderr or ""
    if any(m in text for m in _HOST_KEY_FAILED):
        return False, False, ("the server's host key is not among the keys pinned for %s in the "
                              "known_hosts file (%s; Host key verification failed)"
                              % (name, _last_line(text, _HOST_KEY_FAILED).rstrip(".")))
    if any(m in text for m in _AUTH_FAILED):
        return True, False, ("the server did not accept the dump key (%s): is it in the receiver's "
                             "authorized_keys, with a from= pattern that matches this client?"
                             % _last_line(text))
    if any(m in text for m in _UNREACHABLE):
        return False, False, "cannot reach %s: %s" % (name, _last_line(text))
    return False, False, "ssh to %s failed (exit 255): %s" % (name, _last_line(text))


def connectivity_report(ssh_run, name, limit):
    """What the connectivity check's ssh runs prove about the dump path to ``name``.

    ``ssh_run(command)`` runs the check's ssh with ``command`` (None: a shell) and returns
    ``(argv, rc, stdout, stderr)``, ``rc`` None when it was killed after ``limit`` seconds. The
    probe runs first; when ssh does not reach the receiver the report says why and nothing else
    is run; otherwise each of ``REFUSALS`` must be refused.
    """
    argv, rc, stdout, stderr = ssh_run(PROBE_COMMAND)
    report = dict(ok=False, skipped=False, host_key_verified=False, authenticated=False,
                  probe=None, exec_refused=None, shell_refused=None, error=None, ssh_command=argv)
    if rc is None:
        report["error"] = "ssh to %s did not finish within %d seconds" % (name, limit)
        return report
    failure = ssh_failure(rc, stderr, name)
    if failure is not None:
        report["host_key_verified"], report["authenticated"], report["error"] = failure
        return report
    report["host_key_verified"] = report["authenticated"] = True
    probe = dict(ok=False, rc=rc, stderr=stderr[:STDERR_KEPT])
    try:
        probe.update(probe_result(stdout))
        probe["ok"] = rc == 0
    except KdumpError as exc:
        probe["error"] = str(exc)
    report["probe"] = probe

    failures = []
    if not probe["ok"]:
        failures.append("the probe failed (rc=%s): %s" % (probe["rc"], probe.get("error") or probe["stderr"]))
    for key, command, what, unrestricted in REFUSALS:
        # ssh's own failure (exit 255) proves no refusal: once more, then the check fails.
        for _attempt in range(2):
            _argv, rc, stdout, stderr = ssh_run(command)
            ssh_failed = rc == SSH_ERROR and "uid=" not in stdout
            if not ssh_failed:
                break
        report[key] = dict(ok=rc not in (0, None, SSH_ERROR) and "uid=" not in stdout, rc=rc,
                           stderr=stderr[:STDERR_KEPT])
        if ssh_failed:
            failures.append("cannot tell whether the server refuses %s for this key: ssh failed twice "
                            "(exit 255): %s" % (what, _last_line(stderr)))
        elif not report[key]["ok"]:
            failures.append(unrestricted)
    report["ok"] = not failures
    report["error"] = "; ".join(failures) or None
    return report


def check_connectivity(params, key_path, ssh, known_hosts_text):
    """``dump_key``'s check with the system ``ssh`` at ``ssh``: the pinned keys first (in
    ``known_hosts_text`` unless ``server_host_keys`` pins them in this run), then the three ssh
    runs of ``connectivity_report`` (each stopped after three times ``timeout``). ``params``: the
    module's ``server``, ``port``, ``user``, ``server_host_keys``, ``known_hosts_path`` and
    ``timeout``."""
    name = known_hosts_name(params["server"], params["port"])
    check_pinned(name, params["server_host_keys"], known_hosts_text, params["known_hosts_path"])
    limit = 3 * params["timeout"]

    def ssh_run(command):
        argv = ssh_argv(ssh, key_path, params["user"], params["server"], params["port"],
                        params["known_hosts_path"], params["timeout"], command)
        rc, out, err = run_bounded(argv, limit)
        return argv, rc, out, err.strip()

    return connectivity_report(ssh_run, name, limit)


def derive_public(run, keygen, path, copy):
    """``ssh-keygen -y`` of the private key ``path`` through ``run(argv)`` -> ``(rc, out, err)``;
    of a private 0600 copy (``mkstemp``) when ``copy`` (check mode, the key itself still loose)."""
    if not copy:
        return run([keygen, "-y", "-f", path])
    fd, tmp = tempfile.mkstemp(prefix=".dump_key.")
    try:
        with os.fdopen(fd, "wb") as handle, open(path, "rb") as source:
            handle.write(source.read())
        return run([keygen, "-y", "-f", tmp])
    finally:
        os.unlink(tmp)


def run_bounded(argv, limit, output_limit=OUTPUT_LIMIT):
    """Run ``argv`` (a list) with stdin from /dev/null for at most ``limit`` seconds.

    Returns ``(rc, stdout, stderr)`` with each stream cut at ``output_limit`` bytes; ``rc`` is
    None when the command had to be killed at the limit.
    """
    # run_command has no time limit and reads all output: Popen (the only place here).
    # pylint: disable-next=ansible-bad-function
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    buffers = {out_fd: bytearray(), err_fd: bytearray()}
    pending = set(buffers)
    deadline = time.time() + limit
    rc = None
    try:
        while pending:
            remaining = deadline - time.time()
            if remaining <= 0:
                break
            for fd in select.select(sorted(pending), [], [], remaining)[0]:
                chunk = os.read(fd, 65536)
                if not chunk:
                    pending.discard(fd)
                    continue
                room = output_limit - len(buffers[fd])
                if room > 0:
                    buffers[fd] += chunk[:room]
        if not pending:
            try:
                rc = proc.wait(max(deadline - time.time(), 1))
            except subprocess.TimeoutExpired:
                rc = None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    return rc, buffers[out_fd].decode("utf-8", "replace"), buffers[err_fd].decode("utf-8", "replace")


def source_address(server, port=22, sockets=socket):
    """The local address of this host's route to ``server`` (a name or an address), as the
    server sees it: the source address the kernel picks for a datagram socket connected to the
    server's first address (the one ``getent ahosts`` lists first). ``connect`` on a datagram
    socket only looks the route up; nothing is sent. ``""`` when there is no route (the server
    then cannot be restricted to an address); ``HostError`` when the name does not resolve.
    ``sockets``: the ``socket`` module (a test passes a stand-in).
    """
    try:
        found = sockets.getaddrinfo(server, port, 0, sockets.SOCK_DGRAM)
    except (sockets.gaierror, UnicodeError) as exc:
        raise HostError("cannot resolve the dump server %r: %s" % (server, exc))
    if not found:
        raise HostError("cannot resolve the dump server %r: no address" % (server,))
    family, kind, proto, _name, address = found[0]
    sock = sockets.socket(family, kind, proto)
    try:
        sock.connect(address)
        local = sock.getsockname()[0]
    except (IOError, OSError):
        return ""
    finally:
        sock.close()
    # an IPv6 link-local address comes with its zone ("fe80::1%eth0"); sshd's from= has none
    return local.split("%", 1)[0]


# The record of the last passing check, next to the private key. Raise PROOF_VERSION when the
# check proves something new: every host then checks again.
PROOF_VERSION = 1
PROOF_SUFFIX = ".proved"
PROOF_LIMIT = 4096


def file_sha256(path):
    """SHA-256 of the whole regular file ``path`` (read in chunks, never through a link), or
    ``""`` when there is no such file."""
    try:
        return _safefs.sha256_of(path)
    except (_safefs.UnsafeFile, OSError):
        return ""


def proof_digest(public_line, name, user, known_hosts_sha, ssh_config_sha, ssh_identity, token):
    """What a passing check covered, as one digest: the dump key (type and base64), the server
    as known_hosts names it, the receiver account, the whole known_hosts file (pinned keys,
    markers such as ``@revoked``) and root's ssh configuration by their SHA-256, the ssh program
    (``ssh_identity``, e.g. its size and change time) and ``token``, what the dump server's side
    publishes about itself (its authorized_keys and receiver). Any difference means the path is
    not the one proven."""
    key_type, blob, _comment = parse_public_key(public_line)
    material = [PROOF_VERSION, key_type, blob, name, user, known_hosts_sha, ssh_config_sha,
                ssh_identity, token or ""]
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode("utf-8")).hexdigest()


def path_digest(public_line, name, user, known_hosts_path, ssh_path, token):
    """``proof_digest`` of this host's files: ``known_hosts_path`` and root's ``~/.ssh/config``
    (``file_sha256``) and the ``ssh_path`` program's size and change time."""
    st = os.stat(ssh_path)
    return proof_digest(public_line, name, user, file_sha256(known_hosts_path),
                        file_sha256(os.path.expanduser("~/.ssh/config")),
                        [st.st_size, st.st_mtime, st.st_ctime], token)


def recent_proof(record_text, digest, now, max_age):
    """Age in seconds of the passing check ``record_text`` records, when it covered ``digest``
    and is at most ``max_age`` seconds old; None otherwise (no record, another path, too old, a
    time in the future, anything unreadable: the check runs)."""
    if max_age <= 0 or not record_text:
        return None
    try:
        record = json.loads(record_text)
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get("digest") != digest:
        return None
    proved_at = record.get("proved_at")
    if isinstance(proved_at, bool) or not isinstance(proved_at, (int, float)):
        return None
    age = now - proved_at
    return age if 0 <= age <= max_age else None


def read_proof(key_path):
    """The record next to ``key_path`` (at most PROOF_LIMIT bytes, never through a link), or
    None."""
    return _safefs.read_small(key_path + PROOF_SUFFIX, limit=PROOF_LIMIT)


def save_proof(key_path, digest, now):
    """Record a passing check of ``digest`` at ``now``; ``digest`` None removes the record (a
    failed check must not leave an older pass to be reused). Returns why the record could not
    be written or removed, or None: the record only saves time, the check's result stands."""
    path = key_path + PROOF_SUFFIX
    try:
        if digest is None:
            if os.path.lexists(path):
                os.unlink(path)
            return None
        dir_fd = _safefs.open_dir(os.path.dirname(path) or ".")
        try:
            _safefs.write_file_at(dir_fd, os.path.basename(path),
                                  json.dumps({"digest": digest, "proved_at": now}, sort_keys=True) + "\n")
        finally:
            os.close(dir_fd)
    except (OSError, KdumpError) as exc:
        return "cannot %s the record of the dump path check %s: %s" % (
            "remove" if digest is None else "write", path, exc)
    return None
