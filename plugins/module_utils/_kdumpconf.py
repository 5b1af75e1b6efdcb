# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""One kdump configuration model, rendered to the file each distribution family reads.

Families and files (every key below was checked against the shipping sources):

* ``redhat``: ``/etc/kdump.conf`` of kexec-tools (RHEL 8/9) and kdump-utils (RHEL 10, Fedora).
  Line based ``directive value``; read by ``kdump_get_conf_val`` in ``kdump-lib-initramfs.sh``
  (``read -r opt val``, a ``#`` anywhere in the value starts a comment, one pair of surrounding
  double quotes is stripped) and checked by ``kdumpctl parse_config`` (unknown or duplicated
  directives are fatal).
* ``debian``: ``/etc/default/kdump-tools`` of kdump-tools (Debian 12: 1.8.1, Debian 13: 1.10.x).
  A shell fragment sourced by ``/usr/sbin/kdump-config`` and ``/etc/init.d/kdump-tools`` and
  read as ``EnvironmentFile=`` by ``kdump-tools.service``.
* ``suse``: ``/etc/sysconfig/kdump`` of openSUSE/SLES kdump (1.x kdumptool, 2.x scripts). A
  shell fragment sourced by bash (2.x ``kdump-read-config.sh``) or by ``/bin/sh`` followed by
  an unquoted ``echo`` (1.x ``ShellConfigParser``), hence the stricter value rules there.

Nothing here imports Ansible. Pure functions raise ``ValidationError``/``ParseError``; the only
I/O helper is ``source_shell_file`` (runs ``/bin/sh`` on a file this code rendered).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath
import re
import subprocess
from collections import OrderedDict

from ansible_collections.crashkit.kdump.plugins.module_utils import _shell
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import (
    HostError,
    ParseError,
    ValidationError,
)

FAMILIES = ("redhat", "debian", "suse")
COMPRESSIONS = ("zlib", "lzo", "snappy", "zstd", "none")
FAILURE_ACTIONS = ("reboot", "halt", "poweroff", "shell", "dump_to_rootfs")
TARGET_TYPES = ("local", "device", "nfs", "ssh")

CONFIG_PATHS = {
    "redhat": "/etc/kdump.conf",
    "debian": "/etc/default/kdump-tools",
    "suse": "/etc/sysconfig/kdump",
}
SERVICE_NAMES = {"redhat": "kdump", "debian": "kdump-tools", "suse": "kdump"}
# A new file gets this mode; an existing file keeps its own. The SUSE file may hold
# KDUMP_SMTP_PASSWORD.
CONFIG_MODES = {"redhat": 0o644, "debian": 0o644, "suse": 0o600}

DEFAULT_DUMP_DIR = "/var/crash"
# Debian device targets (kdump-tools has none of its own): the device's file system is mounted
# here by a systemd mount unit, in the normal boot and (pulled in by a drop-in) in the capture
# boot; the dump directory is target.path inside it, as kdumpctl reads path for a device.
DEBIAN_DEVICE_MOUNT = "/var/lib/crashkit/dumpdev"
DEBIAN_DEVICE_UNIT = "var-lib-crashkit-dumpdev.mount"
DEBIAN_DEVICE_UNIT_PATH = "/etc/systemd/system/" + DEBIAN_DEVICE_UNIT
DEBIAN_DEVICE_DROPIN = "/etc/systemd/system/kdump-tools-dump.service.d/crashkit-device.conf"
DEBIAN_DEVICE_FSTYPES = ("ext2", "ext3", "ext4", "xfs", "btrfs")
# udev's /dev/disk/by-* link for each tag (what a mount unit's What= names, so that systemd
# waits for the device and binds the mount to it).
_DEVICE_TAG_DIRS = (("UUID", "by-uuid"), ("LABEL", "by-label"), ("PARTUUID", "by-partuuid"),
                    ("PARTLABEL", "by-partlabel"))
# kdump-lib-initramfs.sh DEFAULT_SSHKEY and kdump-config's SSH_KEY default.
DEFAULT_SSH_KEY = "/root/.ssh/kdump_id_rsa"
DEFAULT_DUMP_LEVEL = 31
# What each family ships: kdump.conf "makedumpfile -l ...", kdump-tools MAKEDUMP_ARGS
# default "-c -d 31", SUSE KDUMP_DUMPFORMAT="compressed".
DEFAULT_COMPRESSION = {"redhat": "lzo", "debian": "zlib", "suse": "zlib"}
# compression "auto": the first of these the host's makedumpfile was built with, else the family's
# default. Debian: zstd (makedumpfile 1.7.0+ built with libzstd: Debian 13's 1.7.6 is, Debian 12's
# 1.7.2 is not), measured in the capture benchmark faster than zlib at about the same dump size;
# lzo was faster still but its dump 1.3x zlib's, over the size budget of 1.1x (docs/performance.md,
# "Compression"). The other families keep what they ship: not measured here.
AUTO_COMPRESSIONS = {"debian": ("zstd",), "redhat": (), "suse": ()}

# makedumpfile(8): -c zlib, -l lzo, -p snappy, -z zstd (1.7.0+); no flag: no compression.
COMPRESSION_FLAGS = {"zlib": "-c", "lzo": "-l", "snappy": "-p", "zstd": "-z", "none": None}
# SUSE KDUMP_DUMPFORMAT values (kdump-save: compressed -c, lzo -l, snappy -p, zstd -z, ELF -E).
SUSE_DUMPFORMATS = {"zlib": "compressed", "lzo": "lzo", "snappy": "snappy", "zstd": "zstd", "none": "ELF"}

# kdump-tools debian/rules (unchanged from 1.6.x to 1.10.x): the built-in
# KDUMP_CMDLINE_APPEND default per Debian architecture. The installed
# /usr/sbin/kdump-config carries the value for the host's architecture.
DEBIAN_CMDLINE_DEFAULTS = {
    "amd64": "reset_devices systemd.unit=kdump-tools-dump.service nr_cpus=1 irqpoll usbcore.nousb",
    "arm64": "reset_devices systemd.unit=kdump-tools-dump.service nr_cpus=1",
    "ppc64el": "reset_devices systemd.unit=kdump-tools-dump.service maxcpus=1 irqpoll noirqdistrib usbcore.nousb",
}
MACHINE_TO_DEBIAN_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "ppc64le": "ppc64el"}
DEBIAN_KDUMP_CONFIG = "/usr/sbin/kdump-config"

HEADER = (
    "# Managed by crashkit.kdump (module crashkit.kdump.kdump_config) for the %s family.\n"
    "# Do not edit: the whole file is rewritten from the playbook on the next run.\n"
)

# ---------------------------------------------------------------------------------------------
# character classes

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PATH = re.compile(r"^/[A-Za-z0-9._/+,=@-]*\Z")
_DEVICE = re.compile(r"^(/dev/[A-Za-z0-9._/+:-]+|(UUID|LABEL|PARTUUID|PARTLABEL)=[A-Za-z0-9._/+:-]+)\Z")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?\Z")
_IPV6 = re.compile(r"^[0-9A-Fa-f:.]+\Z")
_WORD = re.compile(r"^[A-Za-z0-9_=,./:+%@-]+\Z")
_SHELL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
# kernel command-line words: kdump-tools builds KEXEC_CMD with --command-line="..." and runs
# it through eval, so the characters special inside double quotes are refused.
_CMDLINE_BAD = re.compile(r"[\"'$`\\]")


def _fail(msg, *args):
    raise ValidationError(msg % args if args else msg)


# ---------------------------------------------------------------------------------------------
# family detection


def parse_os_release(text):
    """Parse os-release(5) text into a dict (values unquoted as a shell would)."""
    result = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _sep, value = line.partition("=")
        key = key.strip()
        if not _SHELL_NAME.match(key):
            continue
        try:
            parsed = parse_shell_assignments("X=%s\n" % value)
        except ParseError:
            parsed = {"X": value.strip("\"'")}
        result[key] = parsed.get("X", "")
    return result


_FAMILY_IDS = (
    ("redhat", ("rhel", "centos", "fedora", "rocky", "almalinux", "ol", "redhat", "scientific", "amzn")),
    ("debian", ("debian", "ubuntu", "linuxmint", "raspbian", "pop")),
    ("suse", ("suse", "sles", "sled", "opensuse", "opensuse-leap", "opensuse-tumbleweed", "sle-micro")),
)


def _family_of(word):
    word = word.lower()
    for family, ids in _FAMILY_IDS:
        if word in ids or (family == "suse" and word.startswith("opensuse")):
            return family
    return None


def family_from_os_release(text):
    """Map /etc/os-release ID (then ID_LIKE) to ``redhat``, ``debian`` or ``suse``."""
    info = parse_os_release(text)
    candidates = [info.get("ID", "")] + info.get("ID_LIKE", "").split()
    for word in candidates:
        family = _family_of(word) if word else None
        if family:
            return family
    raise HostError(
        "cannot tell the kdump family from os-release (ID=%r, ID_LIKE=%r); set family to "
        "redhat, debian or suse" % (info.get("ID", ""), info.get("ID_LIKE", ""))
    )


# ---------------------------------------------------------------------------------------------
# shell quoting and reading


def sh_quote(value):
    """Quote ``value`` for a file that is sourced by sh/bash and also read by systemd.

    Every value is written in double quotes with ``\\``, ``"``, ``$`` and backquote escaped.
    Inside double quotes POSIX sh and bash remove exactly those backslashes and nothing else
    is special, and systemd's ``EnvironmentFile=`` parser (kdump-tools.service reads
    /etc/default/kdump-tools that way; src/basic/env-file.c) treats the same four escapes
    the same way and keeps other backslashes like the shell, so all
    readers see ``value``. Control characters (newline, tab, NUL, ...) are refused: no
    spelling is read back identically by all of them.
    """
    if _CONTROL.search(value):
        _fail("value %r contains a control character (newline, tab, NUL, ...), which the "
              "shell-sourced kdump configuration cannot hold safely", value)
    return '"%s"' % _shell.quote_dq_body(value)


def parse_shell_assignments(text, filename="<text>"):
    """Statically read the ``NAME=value`` assignments of a shell fragment (no code is run).

    Uses the collection's strict lexer (``_shell``): quotes, escapes, continuations,
    ``export`` and ``$NAME`` references to variables set earlier in the file are understood;
    commands and control flow raise ``ParseError``, and so does a variable whose value needs
    an expansion that cannot be known without running the file. Returns an ``OrderedDict``
    (last assignment wins, like sourcing).
    """
    if not isinstance(text, str):
        raise ParseError("%s: expected text, got %r" % (filename, type(text).__name__))
    values = _shell.evaluate([_shell.parse(text, filename)])
    result = OrderedDict()
    for name, value in values.items():
        if isinstance(value, _shell.Unknown):
            raise ParseError(value.message(name))
        result[name] = _shell.value_text(value)
    return result


def source_shell_file(path, names, shell="/bin/sh"):
    """Source ``path`` with ``shell`` in an empty environment; return ``{name: value|None}``.

    ``None`` means the variable is unset after sourcing. Used to verify rendered files with the
    real shell before they replace the live configuration.
    """
    for name in names:
        if not _SHELL_NAME.match(name):
            raise ValidationError("not a shell variable name: %r" % (name,))
    script = ['. "$1" >/dev/null 2>&1 || exit 97']
    for name in names:
        script.append('printf "%%s\\0%%s\\0" "${%s+set}" "${%s-}"' % (name, name))
    try:
        # pylint: disable-next=ansible-bad-function  # pure code has no AnsibleModule.run_command; needs env={}
        proc = subprocess.Popen(
            [shell, "-c", "\n".join(script), "crashkit-verify", path],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={}, cwd="/",
        )
        out, err = proc.communicate()
    except OSError as exc:
        raise HostError("cannot run %s to verify %s: %s" % (shell, path, exc))
    if proc.returncode != 0:
        raise ValidationError("%s could not source %s (exit %d): %s"
                              % (shell, path, proc.returncode, err.decode("utf-8", "replace").strip()))
    fields = out.decode("utf-8", "surrogateescape").split("\0")
    values = {}
    for index, name in enumerate(names):
        is_set, value = fields[2 * index], fields[2 * index + 1]
        values[name] = value if is_set == "set" else None
    return values


# ---------------------------------------------------------------------------------------------
# /etc/kdump.conf reading


def parse_kdump_conf(text):
    """Read kdump.conf like kdump-lib-initramfs.sh ``kdump_get_conf_val`` does.

    Returns a list of ``(directive, value)`` in file order. A ``#`` in a value starts a
    comment; one pair of surrounding double quotes is removed.
    """
    entries = []
    for raw in (text or "").split("\n"):
        stripped = raw.strip(" \t")
        if not stripped or stripped.startswith("#"):
            continue
        # `read -r opt val` splits on the default IFS: spaces, tabs (and newlines)
        parts = re.split(r"[ \t]+", stripped, maxsplit=1)
        opt = parts[0]
        val = parts[1].strip(" \t") if len(parts) > 1 else ""
        if "#" in val:
            val = val.split("#", 1)[0].rstrip(" \t")
        if len(val) >= 2 and val.startswith('"') and val.endswith('"'):
            val = val[1:-1]
        entries.append((opt, val))
    return entries


# ---------------------------------------------------------------------------------------------
# the model


class Target(object):
    """Where the dump goes. ``type`` is local, device, nfs or ssh."""

    FIELDS = ("type", "path", "device", "fstype", "host", "user", "port", "ssh_key")

    def __init__(self, **kwargs):
        for field in self.FIELDS:
            setattr(self, field, kwargs.get(field))

    def host_for_url(self):
        return "[%s]" % self.host if ":" in (self.host or "") else self.host


class Settings(object):
    """A validated configuration for one family (build it with ``build_settings``)."""

    def __init__(self):
        self.family = None
        self.target = None
        self.dump_level = DEFAULT_DUMP_LEVEL
        self.compression = None
        self.extra_collector_args = []
        self.failure_action = None
        self.keep_local_dumps = None
        self.cmdline_append = None
        self.debian_cmdline_base = DEBIAN_CMDLINE_DEFAULTS["amd64"]
        self.extra_options = []
        # redhat: directives of the existing kdump.conf the model does not set, kept as found.
        self.kept_directives = []
        self.failure_directive = "failure_action"
        self.warnings = []


def _check_path(value, what):
    if not isinstance(value, str) or not _PATH.match(value):
        _fail("%s must be an absolute path made of letters, digits and ._/+,=@- "
              "(no spaces or shell characters: every family's dump script expands it "
              "unquoted somewhere); got %r", what, value)
    return value


def _check_host(value, family, kind):
    if not isinstance(value, str) or not value:
        _fail("target.host is required for %s targets", kind)
    if _HOSTNAME.match(value):
        return value
    if ":" in value and _IPV6.match(value):
        if family == "debian" and kind == "ssh":
            _fail("kdump-tools builds scp destinations as SSH:path, which cannot carry the IPv6 "
                  "address %r; use a host name for target.host", value)
        return value
    _fail("target.host %r is not a host name or an IP address", value)


def _normalize_target(target, family):
    if target is None:
        target = {"type": "local"}
    if not isinstance(target, dict):
        _fail("target must be a dict, got %r", target)
    unknown = sorted(set(target) - set(Target.FIELDS))
    if unknown:
        _fail("unknown target key(s): %s (known: %s)", ", ".join(unknown), ", ".join(Target.FIELDS))
    values = dict((k, v) for k, v in target.items() if v not in (None, ""))
    kind = values.get("type", "local")
    if kind not in TARGET_TYPES:
        _fail("target.type must be one of %s, got %r", ", ".join(TARGET_TYPES), kind)
    allowed = {
        "local": ("type", "path"),
        "device": ("type", "path", "device", "fstype"),
        "nfs": ("type", "path", "host"),
        "ssh": ("type", "path", "host", "user", "port", "ssh_key"),
    }[kind]
    extra = sorted(k for k in values if k not in allowed)
    if extra:
        _fail("target key(s) %s do not apply to %s targets (use: %s)",
              ", ".join(extra), kind, ", ".join(allowed[1:]))
    result = Target(type=kind)
    if kind == "nfs":
        if "path" not in values:
            _fail("nfs targets need target.host and target.path (the exported directory)")
        result.host = _check_host(values.get("host"), family, "nfs")
        result.path = _check_path(values["path"], "target.path")
    elif kind == "ssh":
        result.host = _check_host(values.get("host"), family, "ssh")
        user = values.get("user")
        if not user:
            _fail("ssh targets need target.user (and target.host)")
        if not isinstance(user, str) or not _USER.match(user):
            _fail("target.user %r is not a valid user name", user)
        result.user = user
        result.path = _check_path(values.get("path", DEFAULT_DUMP_DIR), "target.path")
        result.ssh_key = _check_path(values.get("ssh_key", DEFAULT_SSH_KEY), "target.ssh_key")
        port = values.get("port")
        if port is not None:
            try:
                port = int(port)
            except (TypeError, ValueError):
                _fail("target.port must be an integer, got %r", port)
            if not 1 <= port <= 65535:
                _fail("target.port must be between 1 and 65535, got %d", port)
            if port != 22 and family in ("redhat", "debian"):
                _fail("the %s family's kdump configuration has no SSH port setting (%s); set the "
                      "port for this host in root's ssh_config instead, or use port 22", family,
                      "kdump.conf only takes 'ssh user@host'" if family == "redhat"
                      else "kdump-tools only takes SSH=user@host")
        result.port = port
    elif kind == "device":
        device = values.get("device")
        if not device:
            _fail("device targets need target.device (a /dev path, UUID=, LABEL=, PARTUUID= or PARTLABEL=)")
        if not isinstance(device, str) or not _DEVICE.match(device):
            _fail("target.device %r is not a /dev path or a UUID=/LABEL=/PARTUUID=/PARTLABEL= "
                  "specification", device)
        if family == "suse":
            _fail("device targets exist in the redhat family's kdump.conf and (through a mount unit "
                  "crashkit writes) on debian; on suse mount the file system from /etc/fstab and use "
                  "a local target with its path")
        fstype = values.get("fstype")
        if family == "debian":
            _check_debian_device(device, fstype)
        fstypes = ("ext2", "ext3", "ext4", "xfs", "btrfs", "minix", "raw")
        if fstype not in fstypes:
            _fail("device targets need target.fstype, one of %s (kdumpctl accepts these), got %r",
                  ", ".join(fstypes), fstype)
        if fstype == "raw" and "path" in values:
            _fail("raw device targets take no target.path: the dump is written to the device itself")
        result.device = device
        result.fstype = fstype
        if fstype != "raw":
            result.path = _check_path(values.get("path", DEFAULT_DUMP_DIR), "target.path")
    else:
        result.path = _check_path(values.get("path", DEFAULT_DUMP_DIR), "target.path")
    return result


def _check_debian_device(device, fstype):
    if device.startswith("/dev/") and not device.startswith("/dev/disk/by-"):
        _fail("target.device %r can name another disk after a reboot; name the dump device by "
              "UUID=, LABEL=, PARTUUID=, PARTLABEL= or a /dev/disk/by-* link", device)
    if not device.startswith("/dev/") and ("/" in device or ":" in device.split("=", 1)[1]):
        _fail("target.device %r: udev names no /dev/disk/by-* link with / or : in it; use "
              "another label or the UUID", device)
    if fstype not in DEBIAN_DEVICE_FSTYPES:
        _fail("device targets on debian need target.fstype, one of %s (the file system the mount "
              "unit mounts), got %r", ", ".join(DEBIAN_DEVICE_FSTYPES), fstype)


def device_link(device):
    """The /dev path a mount unit names for ``device`` (``LABEL=x`` -> ``/dev/disk/by-label/x``)."""
    for tag, directory in _DEVICE_TAG_DIRS:
        if device.startswith(tag + "="):
            return "/dev/disk/%s/%s" % (directory, device[len(tag) + 1:])
    return device


def device_spec(link):
    """The inverse of ``device_link``: ``/dev/disk/by-label/x`` -> ``LABEL=x``."""
    for tag, directory in _DEVICE_TAG_DIRS:
        prefix = "/dev/disk/%s/" % directory
        if link.startswith(prefix) and len(link) > len(prefix):
            return "%s=%s" % (tag, link[len(prefix):])
    return link


def debian_dump_dir(path):
    """The directory kdump-tools writes to for a debian device target with ``path``."""
    return posixpath.normpath(DEBIAN_DEVICE_MOUNT + "/" + path.lstrip("/")) if path.strip("/") else DEBIAN_DEVICE_MOUNT


def local_dump_dir(settings):
    """Where on this host the dumps of ``settings`` are written: the path of a local target, the
    directory inside the mounted device of a debian device target, else ``None``."""
    t = settings.target
    if t.type == "local":
        return t.path
    if t.type == "device" and settings.family == "debian":
        return debian_dump_dir(t.path)
    return None


def device_units(settings):
    """The systemd files a debian device target needs, as ``[{path, content}]`` (empty for any
    other target or family): the mount unit for the dump device and a drop-in that makes the
    capture boot's kdump-tools-dump.service mount it, refuse to write anywhere else when it is
    not mounted, and then reboot (kdump-tools would otherwise write the dump to the root file
    system below the mount point, and a failed start would leave the capture boot hanging)."""
    t = settings.target
    if settings.family != "debian" or t.type != "device":
        return []
    mount = (
        "# Managed by crashkit.kdump (module crashkit.kdump.kdump_config): the kdump dump device.\n"
        "# Do not edit: the whole file is rewritten from the playbook on the next run.\n"
        "[Unit]\n"
        "Description=crashkit kdump dump device (%s)\n"
        "\n"
        "[Mount]\n"
        "What=%s\n"
        "Where=%s\n"
        "Type=%s\n"
        # nofail: the normal boot does not wait for (or fail on) a missing dump device;
        # kdump_info reports it not mounted, and the panic test refuses.
        "Options=nofail,nodev,nosuid,noexec\n"
        "\n"
        "[Install]\n"
        "WantedBy=local-fs.target\n"
    ) % (t.device, device_link(t.device), DEBIAN_DEVICE_MOUNT, t.fstype)
    dropin = (
        "# Managed by crashkit.kdump (module crashkit.kdump.kdump_config): the capture boot mounts\n"
        "# the dump device, and reboots instead of writing elsewhere when it is not there.\n"
        "[Unit]\n"
        "Wants=%s\n"
        "After=%s\n"
        "FailureAction=reboot-force\n"
        "\n"
        "[Service]\n"
        "ExecStartPre=mountpoint -q %s\n"
    ) % (DEBIAN_DEVICE_UNIT, DEBIAN_DEVICE_UNIT, DEBIAN_DEVICE_MOUNT)
    return [{"path": DEBIAN_DEVICE_UNIT_PATH, "content": mount},
            {"path": DEBIAN_DEVICE_DROPIN, "content": dropin}]


def parse_mount_unit(text):
    """``What``, ``Where``, ``Type`` of a mount unit's text (the last of each), with ``device``,
    the ``What`` as a target names it."""
    found = {}
    section = None
    for raw in (text or "").splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line
        elif section == "[Mount]" and "=" in line and not line.startswith(("#", ";")):
            key, _sep, value = line.partition("=")
            if key.strip() in ("What", "Where", "Type"):
                found[key.strip().lower()] = value.strip()
    if "what" in found:
        found["device"] = device_spec(found["what"])
    return found


_MODE_LONG = ("--split", "--reassemble", "--dump-dmesg", "--mem-usage", "--help", "--check-params",
              "--dry-run", "--vtop", "--diskset", "--dump-dmesg")
_SHORT_WITH_ARG = "bdgiLx"


def _check_collector_args(value):
    """Split and check ``extra_collector_args``; return the list of words."""
    if value is None:
        return []
    if not isinstance(value, str):
        _fail("extra_collector_args must be a string, got %r", value)
    words = value.split()
    expect_arg = False
    for word in words:
        if not _WORD.match(word):
            _fail("extra_collector_args word %r has characters other than letters, digits and "
                  "_=,./:+%%@- (every family's dump script word-splits the arguments and SUSE's "
                  "runs them through eval, so quoting is not possible)", word)
        if word.startswith("--"):
            name = word.split("=", 1)[0]
            if name in _MODE_LONG:
                _fail("extra_collector_args must not contain %s: it changes what makedumpfile "
                      "does instead of tuning the dump", name)
            expect_arg = "=" not in word
            continue
        if word.startswith("-") and len(word) > 1:
            expect_arg = False
            for pos, letter in enumerate(word[1:]):
                if letter in "clpzE":
                    _fail("extra_collector_args contains %s, which conflicts with the compression "
                          "option; set compression instead", word)
                if letter == "d":
                    _fail("extra_collector_args contains %s, which conflicts with the dump_level "
                          "option; set dump_level instead", word)
                if letter == "F":
                    _fail("extra_collector_args contains %s: the flattened format is chosen per "
                          "target by this module and the family's dump script", word)
                if letter in "Rhv":
                    _fail("extra_collector_args must not contain %s: it changes what makedumpfile "
                          "does instead of tuning the dump", word)
                if letter in _SHORT_WITH_ARG:
                    expect_arg = pos == len(word) - 2
                    break
            continue
        if not expect_arg:
            _fail("extra_collector_args word %r is not an option or an option's argument; "
                  "makedumpfile would take it for the vmcore or dump file", word)
        expect_arg = False
    return words


def _check_cmdline(value):
    if value is None:
        return None
    if not isinstance(value, str):
        _fail("kdump_cmdline_append must be a string, got %r", value)
    if _CONTROL.search(value.replace("\t", " ")) or re.search(r"[^\x20-\x7e\t]", value):
        _fail("kdump_cmdline_append must be printable ASCII on one line, got %r", value)
    if _CMDLINE_BAD.search(value):
        _fail("kdump_cmdline_append must not contain quotes, $, backquotes or backslashes: "
              "kdump-tools passes the command line through eval inside double quotes, and "
              "kexec would receive something else than written; got %r", value)
    words = value.split()
    return " ".join(words) if words else None


def parse_debian_cmdline_default(script_text):
    """Return the built-in KDUMP_CMDLINE_APPEND default of an installed ``kdump-config``."""
    m = re.search(r'^KDUMP_CMDLINE_APPEND=\$\{KDUMP_CMDLINE_APPEND:="([^"$`\\]*)"\}', script_text or "", re.M)
    return m.group(1) if m else None


def debian_cmdline_default(machine):
    """Fallback default for ``platform.machine()`` when kdump-config cannot be read."""
    arch = MACHINE_TO_DEBIAN_ARCH.get(machine, "amd64")
    return DEBIAN_CMDLINE_DEFAULTS[arch]


# ---- extra_options per family


_OWNED = {
    "redhat": ("path", "core_collector", "failure_action", "default", "sshkey", "raw", "nfs", "ssh",
               "ext2", "ext3", "ext4", "xfs", "btrfs", "minix", "virtiofs"),
    "debian": ("USE_KDUMP", "KDUMP_COREDIR", "MAKEDUMP_ARGS", "KDUMP_CMDLINE_APPEND", "SSH", "SSH_KEY",
               "NFS", "KDUMP_FAIL_CMD", "KDUMP_NUM_DUMPS", "FTP", "FTP_USER", "FTP_PASSWORD", "FTP_PORT"),
    "suse": ("KDUMP_SAVEDIR", "KDUMP_DUMPLEVEL", "KDUMP_DUMPFORMAT", "KDUMP_KEEP_OLD_DUMPS",
             "KDUMP_COMMANDLINE_APPEND", "KDUMP_SSH_IDENTITY", "KDUMP_CONTINUE_ON_ERROR",
             "MAKEDUMPFILE_OPTIONS", "KDUMP_TRANSFER"),
}
# The directives kdumpctl accepts besides the owned ones (kdumpctl parse_config, kexec-tools
# 2.0.20 .. kdump-utils 1.0.x). Anything else makes kdumpctl refuse to start.
_REDHAT_KNOWN = {
    "auto_reset_crashkernel": ("yes", "no"),
    "kdump_post": "path",
    "kdump_pre": "path",
    "kdump_emergency": "path",
    "extra_bins": "text",
    "extra_modules": "text",
    "final_action": ("reboot", "halt", "poweroff"),
    "force_rebuild": ("0", "1"),
    "force_no_rebuild": ("0", "1"),
    "override_resettable": ("0", "1"),
    "dracut_args": "text",
    "fence_kdump_args": "text",
    "fence_kdump_nodes": "text",
}
# Variables kdump-config (1.8.1, 1.10.x) reads besides the owned ones.
_DEBIAN_KNOWN = {
    "KDUMP_KERNEL": "path",
    "KDUMP_INITRD": "path",
    "KDUMP_DUMP_DMESG": ("0", "1"),
    "KDUMP_COMPRESSION": ("", "bzip2", "gzip", "lz4", "xz"),
    "KDUMP_KEXEC_ARGS": "text",
    "KDUMP_CMDLINE": "text",
    "HOSTTAG": ("ip", "hostname"),
    "NFS_TIMEO": "int",
    "NFS_RETRANS": "int",
    "NFS_MOUNT_RETRY": "int",
    "SSH_KDUMP_RETRY": "int",
}
# Variables of kdumptool 1.x (define_opt.h) and kdump-read-config.sh 2.x besides the owned ones.
_SUSE_KNOWN = {
    "KDUMP_CRASHKERNEL": "text",
    "KDUMP_UPDATE_BOOTLOADER": "bool",
    "KDUMP_KERNELVER": "text",
    "KDUMP_CPUS": "int",
    "KDUMP_COMMANDLINE": "text",
    "KDUMP_AUTO_RESIZE": "bool",
    "KDUMP_FADUMP": "bool",
    "KDUMP_FADUMP_SHELL": "bool",
    "FADUMP_COMMANDLINE_APPEND": "text",
    "KEXEC_OPTIONS": "text",
    "KDUMP_IMMEDIATE_REBOOT": "bool",
    "KDUMP_FREE_DISK_SIZE": "int",
    "KDUMP_VERBOSE": "int",
    "KDUMP_REQUIRED_PROGRAMS": "text",
    "KDUMP_PRESCRIPT": "text",
    "KDUMP_POSTSCRIPT": "text",
    "KDUMP_NETCONFIG": "text",
    "KDUMP_NET_TIMEOUT": "int",
    "KDUMP_SMTP_SERVER": "text",
    "KDUMP_SMTP_USER": "text",
    "KDUMP_SMTP_PASSWORD": "text",
    "KDUMP_NOTIFICATION_TO": "text",
    "KDUMP_NOTIFICATION_CC": "text",
    "KDUMP_HOST_KEY": "text",
    "KDUMP_COPY_KERNEL": "bool",
    "KDUMPTOOL_FLAGS": "text",
}
# Never let the sourced file change how the sourcing script itself runs.
_SHELL_RESERVED = re.compile(r"^(PATH|IFS|ENV|BASH_ENV|CDPATH|HOME|SHELL|PS[1-4]|OPTIND|OPTARG|PWD|"
                             r"OLDPWD|LANG|LANGUAGE|TERM|TMPDIR|LC_[A-Z]+|LD_[A-Z_]+|BASH[A-Z_]*|"
                             r"SHELLOPTS|POSIXLY_CORRECT)$")


def _scalar(key, value, family):
    """Turn a YAML scalar into the text the family expects."""
    if isinstance(value, bool):
        if family == "suse":
            return "true" if value else "false"
        if family == "debian":
            return "1" if value else "0"
        kind = _REDHAT_KNOWN.get(key)
        if kind == ("yes", "no"):
            return "yes" if value else "no"
        if kind == ("0", "1"):
            return "1" if value else "0"
        _fail("extra_options.%s: give a string, not a boolean", key)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value
    _fail("extra_options.%s must be a string, number or boolean, got %r", key, value)


def _suse_value_ok(key, text):
    # kdumptool 1.x re-reads every value through an unquoted `echo NAME=$NAME` in /bin/sh:
    # backslashes are interpreted by dash's echo and runs of blanks collapse.
    if "\\" in text:
        _fail("%s: backslashes are not kept by SUSE kdumptool 1.x (it re-reads values through "
              "echo); got %r", key, text)
    if text.startswith(" ") or text.endswith(" ") or "  " in text:
        _fail("%s: leading, trailing or repeated spaces are not kept by SUSE kdumptool 1.x; got %r",
              key, text)


def _check_typed(key, text, kind):
    if isinstance(kind, tuple):
        if text not in kind:
            _fail("extra_options.%s must be one of %s, got %r", key,
                  ", ".join(repr(k) for k in kind), text)
    elif kind == "int":
        if not re.match(r"^-?[0-9]+$", text):
            _fail("extra_options.%s must be an integer, got %r", key, text)
    elif kind == "bool":
        if text not in ("true", "false", "yes", "no", "1", "0"):
            _fail("extra_options.%s must be true or false (SUSE also reads yes/no/1/0), got %r", key, text)
    elif kind == "path":
        if not text.startswith("/") or re.search(r"\s", text):
            _fail("extra_options.%s must be an absolute path without blanks, got %r", key, text)


def _check_extra_options(family, options):
    if not options:
        return [], []
    if not isinstance(options, dict):
        _fail("extra_options must be a dict, got %r", options)
    result = []
    warnings = []
    for key in sorted(options):
        value = options[key]
        if not isinstance(key, str):
            _fail("extra_options keys must be strings, got %r", key)
        if key in _OWNED[family]:
            _fail("extra_options.%s is set by this module's own options (target, dump_level, "
                  "compression, extra_collector_args, failure_action, keep_local_dumps, "
                  "kdump_cmdline_append) for the %s family; it cannot be passed through",
                  key, family)
        text = _scalar(key, value, family)
        if _CONTROL.search(text):
            _fail("extra_options.%s contains a control character (newline, tab, NUL, ...)", key)
        if family == "redhat":
            if not re.match(r"^[a-z][a-z0-9_]*$", key):
                _fail("extra_options key %r is not a kdump.conf directive (lower case words)", key)
            if key not in _REDHAT_KNOWN:
                _fail("extra_options.%s is not a directive kdumpctl accepts (it refuses to start on "
                      "unknown directives); known: %s", key, ", ".join(sorted(_REDHAT_KNOWN)))
            if not text or text != text.strip() or "#" in text or (text.startswith('"') and text.endswith('"')):
                _fail("extra_options.%s: kdump.conf values must be non-empty, without surrounding "
                      "blanks or quotes and without '#', which starts a comment; got %r", key, text)
            _check_typed(key, text, _REDHAT_KNOWN[key])
        else:
            if not re.match(r"^[A-Z_][A-Z0-9_]*$", key):
                _fail("extra_options key %r is not a %s variable name (upper case letters, digits, _)",
                      key, family)
            if _SHELL_RESERVED.match(key):
                _fail("extra_options.%s would change the environment of the script that sources the "
                      "file; refused", key)
            known = _DEBIAN_KNOWN if family == "debian" else _SUSE_KNOWN
            if family == "suse" and not re.match(r"^(KDUMP|KEXEC|MAKEDUMPFILE|FADUMP)_|^KDUMPTOOL_", key):
                _fail("extra_options key %r is not a SUSE kdump variable (KDUMP_*, KEXEC_OPTIONS, "
                      "FADUMP_*)", key)
            if key in known:
                _check_typed(key, text, known[key])
            else:
                warnings.append("extra_options.%s is not a variable the %s kdump scripts are known to "
                                "read; it is written as given" % (key, family))
            if family == "suse":
                _suse_value_ok(key, text)
            sh_quote(text)
        result.append((key, text))
    return result, warnings


def auto_compression(family, supported=None):
    """The compression ``auto`` stands for on ``family``: the first of ``AUTO_COMPRESSIONS``
    in ``supported`` (what ``makedumpfile -v`` lists; ``None``: makedumpfile not found), else
    the family's default."""
    if family not in DEFAULT_COMPRESSION:
        _fail("family must be one of %s, got %r", ", ".join(sorted(DEFAULT_COMPRESSION)), family)
    for name in AUTO_COMPRESSIONS[family]:
        if supported is not None and name in supported:
            return name
    return DEFAULT_COMPRESSION[family]


def build_settings(family, target=None, dump_level=None, compression=None, extra_collector_args=None,
                   failure_action=None, keep_local_dumps=None, kdump_cmdline_append=None,
                   extra_options=None, debian_cmdline_base=None, existing_text=None,
                   keep_other_directives=True, supported_compressions=None):
    """Validate the options for ``family`` and return ``Settings``.

    ``compression`` ``auto`` is resolved by ``auto_compression`` with
    ``supported_compressions`` (what the host's ``makedumpfile -v`` lists; ``None``: unknown).
    ``debian_cmdline_base`` is the KDUMP_CMDLINE_APPEND default of the installed kdump-tools
    (see ``parse_debian_cmdline_default``); ``existing_text`` is the current file, used to keep
    the obsolete ``default`` spelling of ``failure_action`` on old kexec-tools and, with
    ``keep_other_directives`` (redhat), every directive the model does not set (see
    ``kept_directives``).
    """
    if family not in FAMILIES:
        _fail("family must be one of %s, got %r", ", ".join(FAMILIES), family)
    s = Settings()
    s.family = family
    s.target = _normalize_target(target, family)

    if dump_level is None:
        dump_level = DEFAULT_DUMP_LEVEL
    if isinstance(dump_level, bool) or not isinstance(dump_level, int):
        try:
            dump_level = int(str(dump_level).strip())
        except ValueError:
            _fail("dump_level must be an integer from 0 to 31, got %r", dump_level)
    if not 0 <= dump_level <= 31:
        _fail("dump_level must be from 0 to 31 (makedumpfile's five page-type bits), got %d", dump_level)
    s.dump_level = dump_level

    if compression in (None, ""):
        compression = DEFAULT_COMPRESSION[family]
    elif compression == "auto":
        compression = auto_compression(family, supported_compressions)
    if compression not in COMPRESSIONS:
        _fail("compression must be one of %s, got %r", ", ".join(COMPRESSIONS), compression)
    s.compression = compression

    s.extra_collector_args = _check_collector_args(extra_collector_args or None)

    if failure_action not in (None, ""):
        if failure_action not in FAILURE_ACTIONS:
            _fail("failure_action must be one of %s, got %r", ", ".join(FAILURE_ACTIONS), failure_action)
        if family == "debian" and failure_action in ("shell", "dump_to_rootfs"):
            _fail("failure_action %s is not available with kdump-tools: KDUMP_FAIL_CMD runs from the "
                  "kdump-tools service without a console (no interactive shell) and kdump-tools "
                  "cannot fall back to the root file system after a remote target failed; use "
                  "reboot, halt or poweroff", failure_action)
        if family == "suse" and failure_action in ("halt", "poweroff", "dump_to_rootfs"):
            _fail("failure_action %s is not available with SUSE kdump: on errors it either "
                  "continues and reboots (reboot, KDUMP_CONTINUE_ON_ERROR=true) or opens a debug "
                  "shell (shell, KDUMP_CONTINUE_ON_ERROR=false)", failure_action)
        s.failure_action = failure_action
    if existing_text and family == "redhat":
        if any(opt == "default" for opt, _v in parse_kdump_conf(existing_text)):
            s.failure_directive = "default"

    if keep_local_dumps not in (None, ""):
        if isinstance(keep_local_dumps, bool):
            _fail("keep_local_dumps must be an integer, got %r", keep_local_dumps)
        try:
            keep = int(keep_local_dumps)
        except (TypeError, ValueError):
            _fail("keep_local_dumps must be an integer, got %r", keep_local_dumps)
        if keep < 0:
            _fail("keep_local_dumps must be 0 (keep all) or more, got %d", keep)
        if keep > 0 and family == "redhat":
            _fail("keep_local_dumps: the redhat family's kdump has no setting that removes old "
                  "dumps; use 0 (keep all) and clean up with a timer or the collection's roles")
        # a device target reaching here is debian's (redhat is refused above, suse has none)
        if keep > 0 and s.target.type not in ("local", "device"):
            _fail("keep_local_dumps applies to local targets only (kdump-tools and SUSE kdump "
                  "never delete dumps on %s targets); use 0", s.target.type)
        s.keep_local_dumps = keep

    cmdline = _check_cmdline(kdump_cmdline_append or None)
    if cmdline and family == "redhat":
        _fail("kdump_cmdline_append: on the redhat family the capture kernel command line is "
              "KDUMP_COMMANDLINE_APPEND in /etc/sysconfig/kdump, not a kdump.conf directive; "
              "this module manages /etc/kdump.conf only")
    s.cmdline_append = cmdline
    if debian_cmdline_base is not None:
        base = _check_cmdline(debian_cmdline_base)
        s.debian_cmdline_base = base or ""
    s.extra_options, s.warnings = _check_extra_options(family, extra_options)
    if family == "redhat" and keep_other_directives and existing_text:
        s.kept_directives, kept_warnings = kept_directives(existing_text, [k for k, _v in s.extra_options])
        s.warnings.extend(kept_warnings)
    return s


def kept_directives(existing_text, overridden=()):
    """The directives of an existing kdump.conf that a rewrite keeps: ``(list, warnings)``.

    Everything but the directives the model sets (target, ``path``, ``core_collector``,
    ``failure_action``/``default``, ``sshkey``) and those ``overridden`` by extra_options, in file
    order, first occurrence only (kdumpctl refuses duplicates). A directive kdumpctl is not known
    to accept is kept too, with a warning: the rewrite must not change what the file says
    beyond what was asked (RHEL's ``auto_reset_crashkernel yes``, ``dracut_args``,
    ``kdump_post``... stay).
    """
    kept = []
    warnings = []
    seen = set(overridden)
    for opt, value in parse_kdump_conf(existing_text):
        if opt in _OWNED["redhat"] or opt in seen:
            continue
        seen.add(opt)
        if not re.match(r"^[a-z][a-z0-9_]*$", opt) or not value or _CONTROL.search(value):
            warnings.append("kdump.conf line %r is not a directive kdumpctl reads; it was dropped" % (
                ("%s %s" % (opt, value)).strip(),))
            continue
        if opt not in _REDHAT_KNOWN:
            warnings.append("kdump.conf directive %s is not one kdumpctl is known to accept (it refuses to "
                            "start on unknown directives); it was kept as found" % opt)
        kept.append((opt, value))
    return kept, warnings


# ---------------------------------------------------------------------------------------------
# rendering


def collector_words(settings):
    """makedumpfile words for compression, dump level and the extra arguments."""
    words = []
    flag = COMPRESSION_FLAGS[settings.compression]
    if flag:
        words.append(flag)
    return words + ["-d", str(settings.dump_level)] + list(settings.extra_collector_args)


def flattened(settings):
    """Whether the family's dump script runs makedumpfile with -F (output to a pipe)."""
    if settings.family == "redhat":
        return settings.target.type == "ssh" or settings.target.fstype == "raw"
    # kdump-config always adds -F and pipes; SUSE kdump-save always runs makedumpfile -F.
    return True


def check_params_argv(settings):
    """Arguments for ``makedumpfile --check-params`` that mirror the dump command.

    mkdumprd (redhat) runs the same check; for the other families it catches unknown options
    and missing option arguments before the capture kernel would fail on them.
    """
    if settings.family == "redhat":
        words = dict(expected_entries(settings))["core_collector"].split()[1:]
    else:
        words = collector_words(settings) + ["-F"]
    argv = ["--check-params"] + words
    if flattened(settings):
        return argv + ["/proc/vmcore"]
    return argv + ["/proc/vmcore", "dumpfile"]


def expected_entries(settings):
    """The settings as an ordered list of ``(key, value)`` the rendered file must yield.

    For redhat these are kdump.conf directives, for debian and suse shell variables.
    """
    s = settings
    t = s.target
    out = []
    if s.family == "redhat":
        if t.type == "nfs":
            out.append(("nfs", "%s:%s" % (t.host_for_url(), t.path)))
        elif t.type == "ssh":
            out.append(("ssh", "%s@%s" % (t.user, t.host)))
            out.append(("sshkey", t.ssh_key))
        elif t.type == "device":
            out.append((t.fstype, t.device))
        if t.type == "nfs":
            # the export itself is the dump directory: path is relative to the mount
            out.append(("path", "/"))
        elif t.path:
            out.append(("path", t.path))
        words = ["makedumpfile"]
        if t.type == "ssh" or t.fstype == "raw":
            # mkdumprd verify_core_collector: "The specified dump target needs makedumpfile
            # -F option" (kexec-tools 2012 .. kdump-utils today) for ssh and raw targets.
            words.append("-F")
        flag = COMPRESSION_FLAGS[s.compression]
        if flag:
            words.append(flag)
        words += ["--message-level", "7", "-d", str(s.dump_level)] + list(s.extra_collector_args)
        out.append(("core_collector", " ".join(words)))
        if s.failure_action:
            out.append((s.failure_directive, s.failure_action))
        out.extend(s.extra_options)
        out.extend(s.kept_directives)
        return out

    if s.family == "debian":
        owned = OrderedDict()
        owned["USE_KDUMP"] = "1"
        defaults = OrderedDict([("KDUMP_KERNEL", "/var/lib/kdump/vmlinuz"),
                                ("KDUMP_INITRD", "/var/lib/kdump/initrd.img")])
        extras = OrderedDict(s.extra_options)
        for key, value in defaults.items():
            owned[key] = extras.pop(key, value)
        owned["KDUMP_COREDIR"] = (DEFAULT_DUMP_DIR if t.type == "nfs"
                                  else debian_dump_dir(t.path) if t.type == "device" else t.path)
        owned["MAKEDUMP_ARGS"] = " ".join(collector_words(s))
        if s.failure_action:
            owned["KDUMP_FAIL_CMD"] = "%s -f" % s.failure_action
        if s.keep_local_dumps is not None and t.type in ("local", "device"):
            owned["KDUMP_NUM_DUMPS"] = str(s.keep_local_dumps)
        if s.cmdline_append:
            owned["KDUMP_CMDLINE_APPEND"] = " ".join(w for w in (s.debian_cmdline_base, s.cmdline_append) if w)
        if t.type == "nfs":
            owned["NFS"] = "%s:%s" % (t.host_for_url(), t.path)
        elif t.type == "ssh":
            owned["SSH"] = "%s@%s" % (t.user, t.host)
            owned["SSH_KEY"] = t.ssh_key
        out = list(owned.items()) + list(extras.items())
        return out

    # suse
    if t.type == "local":
        savedir = "file://%s" % t.path
    elif t.type == "nfs":
        savedir = "nfs://%s%s" % (t.host_for_url(), t.path)
    else:
        hostport = t.host_for_url()
        if t.port and t.port != 22:
            hostport = "%s:%d" % (hostport, t.port)
        savedir = "ssh://%s@%s%s" % (t.user, hostport, t.path)
    out.append(("KDUMP_SAVEDIR", savedir))
    out.append(("KDUMP_DUMPLEVEL", str(s.dump_level)))
    out.append(("KDUMP_DUMPFORMAT", SUSE_DUMPFORMATS[s.compression]))
    if s.extra_collector_args:
        out.append(("MAKEDUMPFILE_OPTIONS", " ".join(s.extra_collector_args)))
    if t.type == "ssh":
        out.append(("KDUMP_SSH_IDENTITY", t.ssh_key))
    if s.keep_local_dumps is not None and t.type == "local":
        # KDUMP_KEEP_OLD_DUMPS counts the dumps kept *before* saving a new one; -1 removes all.
        keep = s.keep_local_dumps
        out.append(("KDUMP_KEEP_OLD_DUMPS", str(0 if keep == 0 else (-1 if keep == 1 else keep - 1))))
    if s.failure_action:
        out.append(("KDUMP_CONTINUE_ON_ERROR", "true" if s.failure_action == "reboot" else "false"))
    if s.cmdline_append:
        out.append(("KDUMP_COMMANDLINE_APPEND", s.cmdline_append))
    out.extend(s.extra_options)
    return out


def render(settings):
    """Render the whole configuration file for ``settings.family``."""
    entries = expected_entries(settings)
    lines = [HEADER % settings.family]
    if settings.family == "redhat":
        for key, value in entries:
            if _CONTROL.search(value) or "#" in value or not value:
                raise ValidationError("kdump.conf value for %s cannot be written: %r" % (key, value))
            lines.append("%s %s\n" % (key, value))
        return "".join(lines)
    for key, value in entries:
        if settings.family == "suse":
            _suse_value_ok(key, value)
        if re.match(r"^-?[0-9]+$", value):
            lines.append("%s=%s\n" % (key, value))
        else:
            lines.append("%s=%s\n" % (key, sh_quote(value)))
    return "".join(lines)


def verify_rendered(settings, path, shell="/bin/sh"):
    """Check that the file at ``path`` yields exactly ``settings`` when its readers read it.

    Shell families: really source it with ``shell`` in an empty environment and compare every
    variable. redhat: read it back the way kdumpctl does. Raises ``ValidationError``.
    """
    entries = expected_entries(settings)
    if settings.family == "redhat":
        with open(path, "r") as handle:
            got = parse_kdump_conf(handle.read())
        if got != entries:
            raise ValidationError("the rendered kdump.conf reads back as %r, expected %r" % (got, entries))
        return
    names = [k for k, _v in entries]
    got = source_shell_file(path, names, shell=shell)
    for key, value in entries:
        if got.get(key) != value:
            raise ValidationError("sourcing the rendered file gives %s=%r, expected %r"
                                  % (key, got.get(key), value))


# ---------------------------------------------------------------------------------------------
# reading existing files back into the model's terms


def _split_user_host(text):
    user, sep, host = text.rpartition("@")
    return (user if sep else None), host


def _parse_collector(words):
    """From makedumpfile words return (compression, dump_level, other words)."""
    compression = "none"
    dump_level = None
    rest = []
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("-c", "-l", "-p", "-z"):
            compression = {"-c": "zlib", "-l": "lzo", "-p": "snappy", "-z": "zstd"}[word]
        elif word == "-E":
            compression = "none"
        elif word == "-d" and i + 1 < len(words):
            dump_level = words[i + 1]
            i += 1
        elif word.startswith("-d") and len(word) > 2:
            dump_level = word[2:]
        elif word == "-F":
            pass
        elif word == "--message-level" and i + 1 < len(words):
            i += 1
        else:
            rest.append(word)
        i += 1
    level = None
    if dump_level is not None:
        try:
            level = int(dump_level.split(",")[0])
        except ValueError:
            level = None
    return compression, level, rest


def parse_config(family, text):
    """Describe an existing configuration file in the model's terms.

    Returns a dict with ``target`` (type local/device/nfs/ssh, or the family's own word for
    targets the model does not cover such as ftp or cifs), ``dump_level``, ``compression``,
    ``extra_collector_args``, ``failure_action``, ``keep_local_dumps``, ``kdump_cmdline_append``
    (the effective value of the family's append setting) and ``settings`` (every key found).
    Missing keys get the family's built-in defaults. Raises ``ParseError``.
    """
    if family not in FAMILIES:
        raise ParseError("unknown family %r" % (family,))
    info = OrderedDict([("target", None), ("dump_level", DEFAULT_DUMP_LEVEL),
                        ("compression", DEFAULT_COMPRESSION[family]), ("extra_collector_args", ""),
                        ("failure_action", "reboot"), ("keep_local_dumps", 0),
                        ("kdump_cmdline_append", None), ("settings", OrderedDict())])
    if family == "redhat":
        entries = parse_kdump_conf(text)
        seen = OrderedDict()
        for opt, val in entries:
            key = "failure_action" if opt == "default" else opt
            if key in seen:
                raise ParseError("kdump.conf sets %s more than once (kdumpctl refuses that)" % opt)
            seen[key] = val
            info["settings"][opt] = val
        target = {"type": "local", "path": seen.get("path", DEFAULT_DUMP_DIR)}
        for opt, val in seen.items():
            if opt == "nfs":
                host, _sep, export = val.rpartition(":")
                subdir = seen.get("path", DEFAULT_DUMP_DIR).strip("/")
                path = posixpath.normpath(posixpath.join(export, subdir)) if subdir else export
                target = {"type": "nfs", "host": host.strip("[]"), "path": path, "export": export}
            elif opt == "ssh":
                user, host = _split_user_host(val)
                target = {"type": "ssh", "user": user, "host": host,
                          "path": seen.get("path", DEFAULT_DUMP_DIR),
                          "ssh_key": seen.get("sshkey", DEFAULT_SSH_KEY)}
            elif opt in ("raw", "ext2", "ext3", "ext4", "xfs", "btrfs", "minix"):
                target = {"type": "device", "fstype": opt, "device": val}
                if opt != "raw":
                    target["path"] = seen.get("path", DEFAULT_DUMP_DIR)
            elif opt == "virtiofs":
                target = {"type": "virtiofs", "device": val, "path": seen.get("path", DEFAULT_DUMP_DIR)}
        info["target"] = target
        collector = seen.get("core_collector", "makedumpfile -l --message-level 7 -d 31").split()
        if collector and collector[0] == "makedumpfile":
            comp, level, rest = _parse_collector(collector[1:])
            info["compression"] = comp
            info["dump_level"] = level
            info["extra_collector_args"] = " ".join(rest)
        else:
            info["compression"] = None
            info["dump_level"] = None
            info["extra_collector_args"] = " ".join(collector)
        info["failure_action"] = seen.get("failure_action", "reboot")
        info["keep_local_dumps"] = 0
        return info

    values = parse_shell_assignments(text or "")
    info["settings"] = values
    if family == "debian":
        coredir = values.get("KDUMP_COREDIR") or DEFAULT_DUMP_DIR
        if values.get("SSH"):
            user, host = _split_user_host(values["SSH"])
            target = {"type": "ssh", "user": user, "host": host, "path": coredir,
                      "ssh_key": values.get("SSH_KEY") or DEFAULT_SSH_KEY}
        elif values.get("NFS"):
            host, _sep, path = values["NFS"].rpartition(":")
            target = {"type": "nfs", "host": host.strip("[]"), "path": path, "mountpoint": coredir}
        elif values.get("FTP"):
            host, _sep, path = values["FTP"].partition(":")
            target = {"type": "ftp", "host": host, "path": path or "/"}
        elif coredir == DEBIAN_DEVICE_MOUNT or coredir.startswith(DEBIAN_DEVICE_MOUNT + "/"):
            # the device itself is named by the mount unit (kdump_info reads it)
            target = {"type": "device", "path": coredir[len(DEBIAN_DEVICE_MOUNT):] or "/",
                      "mountpoint": DEBIAN_DEVICE_MOUNT, "dump_dir": coredir}
        else:
            target = {"type": "local", "path": coredir}
        info["target"] = target
        args = values.get("MAKEDUMP_ARGS") or "-c -d 31"
        comp, level, rest = _parse_collector(args.split())
        info["compression"] = comp
        info["dump_level"] = level
        info["extra_collector_args"] = " ".join(rest)
        fail = values.get("KDUMP_FAIL_CMD")
        if not fail:
            info["failure_action"] = "reboot"
        else:
            words = fail.split()
            info["failure_action"] = words[0] if words and words[0] in ("reboot", "halt", "poweroff") \
                and len(words) <= 2 else fail
        try:
            info["keep_local_dumps"] = int(values.get("KDUMP_NUM_DUMPS") or 0)
        except ValueError:
            raise ParseError("KDUMP_NUM_DUMPS is not a number: %r" % values.get("KDUMP_NUM_DUMPS"))
        info["kdump_cmdline_append"] = values.get("KDUMP_CMDLINE_APPEND") or None
        info["enabled"] = values.get("USE_KDUMP", "0") not in ("", "0")
        return info

    # suse
    # kdumptool 1.x accepts several space-separated targets; the first one is the dump target.
    savedirs = (values.get("KDUMP_SAVEDIR") or "").split()
    savedir = savedirs[0] if savedirs else DEFAULT_DUMP_DIR
    info["target"] = parse_suse_savedir(savedir)
    info["target"]["ssh_key"] = values.get("KDUMP_SSH_IDENTITY") or None
    if info["target"]["type"] != "ssh":
        del info["target"]["ssh_key"]
    fmt = values.get("KDUMP_DUMPFORMAT") or "compressed"
    reverse = dict((v, k) for k, v in SUSE_DUMPFORMATS.items())
    info["compression"] = reverse.get(fmt, fmt)
    try:
        info["dump_level"] = int(values.get("KDUMP_DUMPLEVEL") or DEFAULT_DUMP_LEVEL)
    except ValueError:
        raise ParseError("KDUMP_DUMPLEVEL is not a number: %r" % values.get("KDUMP_DUMPLEVEL"))
    info["extra_collector_args"] = values.get("MAKEDUMPFILE_OPTIONS") or ""
    cont = (values.get("KDUMP_CONTINUE_ON_ERROR") or "true").lower()
    info["failure_action"] = "shell" if cont in ("false", "no", "0") else "reboot"
    try:
        old = int(values.get("KDUMP_KEEP_OLD_DUMPS") or 0)
    except ValueError:
        raise ParseError("KDUMP_KEEP_OLD_DUMPS is not a number: %r" % values.get("KDUMP_KEEP_OLD_DUMPS"))
    info["keep_local_dumps"] = 0 if old == 0 else (1 if old < 0 else old + 1)
    info["kdump_cmdline_append"] = values.get("KDUMP_COMMANDLINE_APPEND") or None
    return info


def parse_suse_savedir(savedir):
    """Split a SUSE KDUMP_SAVEDIR (path or URL, see kdump(5)) into a target dict."""
    m = re.match(r"^([A-Za-z]+)://(.*)$", savedir)
    if not m:
        if savedir.startswith("/"):
            return {"type": "local", "path": savedir}
        raise ParseError("KDUMP_SAVEDIR %r is neither an absolute path nor a URL" % savedir)
    scheme = m.group(1).lower()
    rest = m.group(2)
    if scheme == "file":
        return {"type": "local", "path": rest if rest.startswith("/") else "/" + rest}
    authority, _sep, path = rest.partition("/")
    path = "/" + path
    userinfo, _at, hostport = authority.rpartition("@")
    user = userinfo.split(":", 1)[0] if userinfo else None
    port = None
    hm = re.match(r"^\[([^\]]+)\](?::([0-9]+))?$", hostport)
    if hm:
        host, port = hm.group(1), hm.group(2)
    else:
        host, _c, port = hostport.partition(":")
    if port and not port.isdigit():
        raise ParseError("KDUMP_SAVEDIR %r has a port that is not a number: %r" % (savedir, port))
    result = {"type": {"nfs": "nfs", "ssh": "ssh", "sftp": "ssh", "scp": "ssh"}.get(scheme, scheme),
              "host": host, "path": path}
    if scheme in ("ssh", "sftp", "scp"):
        result["user"] = user
        result["port"] = int(port) if port else None
        result["protocol"] = "sftp" if scheme in ("sftp", "scp") else "ssh"
    elif user:
        result["user"] = user
    return result
