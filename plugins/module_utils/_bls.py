# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""Boot Loader Specification entries, the RHEL 8 grubenv ``kernelopts`` and ``/etc/kernel/cmdline``.

* BLS entries (``/boot/loader/entries/*.conf``) are ``key value`` lines; the kernel command
  line is the ``options`` line(s), joined by a space. RHEL 8 entries say
  ``options $kernelopts $tuned_params`` and GRUB expands ``$kernelopts`` from the grubenv
  block; other ``$variables`` (tuned's) are left alone as opaque arguments.
* The grubenv block (``/boot/grub2/grubenv``) is a fixed-size file (1024 bytes): a header line,
  ``key=value`` lines and ``#`` padding up to the original size.
* ``/etc/kernel/cmdline`` is read by ``kernel-install`` for kernels installed later: one
  command line, white space (newlines included) separating arguments.

Every edit goes through ``_cmdline.edit`` so other arguments keep their spelling and order.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import re

from ansible_collections.crashkit.kdump.plugins.module_utils import _cmdline
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import (
    HostError,
    ParseError,
)

GRUBENV_HEADER = "# GRUB Environment Block\n"
KERNELOPTS_REF = "$kernelopts"
# grubby's own defaults: not passed on its command line.
GRUBBY_BLS_DIR = "/boot/loader/entries"
GRUBBY_GRUBENV = "/boot/grub2/grubenv"


class Entry(object):
    """One BLS entry file; ``options`` lists ``(start, end)`` spans of each options value."""

    def __init__(self, path, text):
        self.path = path
        self.text = text
        self.options = []
        self.fields = {}
        offset = 0
        # BLS lines end with "\n" only; key and value are separated by spaces or tabs.
        for line in text.split("\n"):
            body = line[:-1] if line.endswith("\r") else line
            stripped = body.lstrip(" \t")
            if stripped and not stripped.startswith("#"):
                key = re.split(r"[ \t]", stripped, maxsplit=1)[0]
                rest_start = offset + (len(body) - len(stripped)) + len(key)
                value_start = rest_start
                while value_start < offset + len(body) and text[value_start] in " \t":
                    value_start += 1
                value_end = offset + len(body)
                if key == "options":
                    self.options.append((value_start, value_end))
                self.fields.setdefault(key, text[value_start:value_end].strip(" \t"))
            offset += len(line) + 1

    @property
    def option_texts(self):
        return [self.text[start:end] for start, end in self.options]

    @property
    def options_line(self):
        return " ".join(t.strip() for t in self.option_texts if t.strip())

    @property
    def uses_kernelopts(self):
        return any(KERNELOPTS_REF in _cmdline.split(t) for t in self.option_texts)

    def effective(self, kernelopts=None):
        """The command line GRUB builds for this entry (``$kernelopts`` expanded)."""
        args = []
        for arg in _cmdline.split(self.options_line):
            if arg == KERNELOPTS_REF:
                if kernelopts is None:
                    raise HostError(
                        "%s uses $kernelopts but no grubenv with kernelopts was found" % self.path
                    )
                args.extend(_cmdline.split(kernelopts))
            else:
                args.append(arg)
        return _cmdline.join(args)


def entry_paths(bls_dir):
    if not bls_dir or not os.path.isdir(bls_dir):
        return []
    return sorted(p for p in glob.glob(os.path.join(bls_dir, "*.conf")) if os.path.isfile(p))


def read_text(path):
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        raise HostError("cannot read %s: %s" % (path, exc))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError("%s is not valid UTF-8 (%s); it was left unchanged" % (path, exc))


def load_entries(bls_dir):
    return [Entry(path, read_text(path)) for path in entry_paths(bls_dir)]


def choose_backend(requested, which, bls_dir, kernel_cmdline_path, grub_defaults_path):
    """The backend for ``requested``; ``auto`` picks ``grubby`` when ``which("grubby")`` finds
    it and ``bls_dir`` holds entries, ``kernel_install`` when ``kernel_cmdline_path`` exists and
    ``grub_defaults_path`` does not, else ``grub``."""
    if requested != "auto":
        return requested
    if which("grubby") and entry_paths(bls_dir):
        return "grubby"
    if os.path.exists(kernel_cmdline_path) and not os.path.exists(grub_defaults_path):
        return "kernel_install"
    return "grub"


def snapshot(bls_dir, grubenv_path):
    """Path -> text of the entries and of the grubenv file (when it exists)."""
    texts = dict((path, read_text(path)) for path in entry_paths(bls_dir))
    if os.path.isfile(grubenv_path):
        texts[grubenv_path] = read_text(grubenv_path)
    return texts


class GrubEnv(object):
    """A grubenv block: ordered ``key=value`` pairs and the block's size in bytes."""

    def __init__(self, path, text):
        self.path = path
        self.text = text
        self.size = len(text.encode("utf-8"))
        if not text.startswith(GRUBENV_HEADER):
            raise ParseError("%s is not a GRUB environment block (missing header)" % path)
        self.items = []
        for number, line in enumerate(text[len(GRUBENV_HEADER):].split("\n"), 2):
            if not line or line.startswith("#"):
                continue
            if "=" not in line:
                raise ParseError("%s:%d: not a key=value line: %r" % (path, number, line))
            if "\\" in line:
                raise ParseError(
                    "%s:%d: escaped characters in grubenv values are not edited by this module; "
                    "use grub2-editenv" % (path, number)
                )
            key, value = line.split("=", 1)
            self.items.append([key, value])

    def get(self, key):
        for item_key, value in self.items:
            if item_key == key:
                return value
        return None

    def render(self, updates):
        """The block with ``updates`` (key -> value) applied, padded to the original size."""
        lines = []
        for key, value in self.items:
            lines.append("%s=%s\n" % (key, updates.get(key, value)))
        body = GRUBENV_HEADER + "".join(lines)
        length = len(body.encode("utf-8"))
        if length > self.size:
            raise HostError(
                "%s: the new content needs %d bytes but the environment block holds %d"
                % (self.path, length, self.size)
            )
        return body + "#" * (self.size - length)


def load_grubenv(path):
    if not path or not os.path.isfile(path):
        return None
    return GrubEnv(path, read_text(path))


def _goal(name, value, state):
    return ("one " + _cmdline.format_arg(name, value)) if state == "present" else "no " + name


def edit_options(entry, name, value, state):
    """New text of ``entry`` with its literal options edited (``$kernelopts`` is not touched
    here). Without an ``options`` line a present argument gets a new ``options`` line."""
    texts = entry.option_texts
    if not entry.options:
        if state == "absent":
            return entry.text
        lead = "" if entry.text.endswith("\n") or not entry.text else "\n"
        return entry.text + "%soptions %s\n" % (lead, _cmdline.format_arg(name, value))
    new_texts = list(texts)
    if state == "absent":
        new_texts = [_cmdline.edit(t, name, value, "absent") for t in texts]
    else:
        holders = [i for i, t in enumerate(texts) if _cmdline.find(_cmdline.split(t), name)]
        keep = holders[-1] if holders else len(texts) - 1
        for i, text in enumerate(texts):
            if i == keep:
                new_texts[i] = _cmdline.edit(text, name, value, "present", insert_before_vars=True)
            else:
                new_texts[i] = _cmdline.edit(text, name, None, "absent")
    result = entry.text
    for (start, end), new in sorted(zip(entry.options, new_texts), reverse=True):
        result = result[:start] + new + result[end:]
    return result


class BlsPlan(object):
    def __init__(self, changes, effective, grubenv_value):
        self.changes = changes
        self.effective = effective
        self.kernelopts = grubenv_value

    @property
    def changed(self):
        return bool(self.changes)


def plan(entries, grubenv, name, value=None, state="present"):
    """Edits of entry files (and of grubenv's ``kernelopts`` when entries use it) so every
    entry's effective command line holds exactly one ``name[=value]`` or none."""
    _cmdline.validate_name(name)
    _cmdline.validate_value(value)
    changes = {}
    kernelopts = grubenv.get("kernelopts") if grubenv is not None else None
    users = [e for e in entries if e.uses_kernelopts]
    new_kernelopts = kernelopts
    if users:
        if kernelopts is None:
            raise HostError(
                "%s use $kernelopts but %s has no kernelopts"
                % (", ".join(e.path for e in users), grubenv.path if grubenv else "no grubenv file was found; it")
            )
        new_kernelopts = _cmdline.edit(kernelopts, name, value, state)
        if new_kernelopts != kernelopts:
            changes[grubenv.path] = grubenv.render({"kernelopts": new_kernelopts})
    effective = {}
    for entry in entries:
        if entry.uses_kernelopts:
            new_text = edit_options(entry, name, value if state == "absent" else None, "absent")
        else:
            new_text = edit_options(entry, name, value, state)
        if new_text != entry.text:
            changes[entry.path] = new_text
        new_entry = Entry(entry.path, new_text)
        line = new_entry.effective(new_kernelopts)
        if not _cmdline.is_satisfied(_cmdline.split(line), name, value, state):
            raise ParseError("%s: cannot reach exactly %s in %r" % (entry.path, _goal(name, value, state), line))
        effective[entry.path] = line
    return BlsPlan(changes, effective, new_kernelopts)


def load_plan(bls_dir, grubenv_path, name, value=None, state="present"):
    """``(entries, plan)`` for the entries of ``bls_dir``; the grubenv is only read when
    there are entries."""
    entries = load_entries(bls_dir)
    grubenv = load_grubenv(grubenv_path) if entries else None
    return entries, plan(entries, grubenv, name, value, state)


def satisfied(entries, grubenv, name, value=None, state="present"):
    """True when every entry's effective command line is already as wanted."""
    kernelopts = grubenv.get("kernelopts") if grubenv is not None else None
    return all(
        _cmdline.is_satisfied(_cmdline.split(e.effective(kernelopts)), name, value, state)
        for e in entries
    )


def verify_grubby(bls_dir, grubenv_path, name, value=None, state="present"):
    """Re-read the entries grubby changed: ``(entries, path -> effective command line)``;
    ``HostError`` unless every entry holds exactly what was asked for."""
    entries = load_entries(bls_dir)
    grubenv = load_grubenv(grubenv_path)
    if not satisfied(entries, grubenv, name, value, state):
        raise HostError("grubby did not leave exactly %s in every entry of %s; check the entries"
                        % (_goal(name, value, state), bls_dir))
    kernelopts = grubenv.get("kernelopts") if grubenv is not None else None
    return entries, dict((e.path, e.effective(kernelopts)) for e in entries)


def pick_entry(effective, running_release=None, entries=None):
    """The command line to report: the entry of the running kernel, else the last entry."""
    if not effective:
        return ""
    if running_release and entries:
        for entry in entries:
            if entry.fields.get("version") == running_release and entry.path in effective:
                return effective[entry.path]
    return effective[sorted(effective)[-1]]


def plan_cmdline_file(text, name, value=None, state="present"):
    """New text of ``/etc/kernel/cmdline``."""
    new = _cmdline.edit(text, name, value, state)
    if state == "present" and text.endswith("\n") and not new.endswith("\n"):
        new += "\n"
    if not text and new and not new.endswith("\n"):
        new += "\n"
    return new


def plan_cmdline_path(path, name, value=None, state="present"):
    """``plan_cmdline_file`` of the file ``path``; ``None`` when it does not exist."""
    if not os.path.isfile(path):
        return None
    return plan_cmdline_file(read_text(path), name, value, state)


def grubby_commands(grubby, entries, name, value=None, state="present", bls_dir=None, grubenv=None):
    """The grubby invocations that make all entries hold exactly one ``name[=value]`` (or
    none). Duplicates are removed first because ``--args`` only rewrites one occurrence.
    ``bls_dir`` and ``grubenv`` are passed when they are not grubby's defaults."""
    base = [grubby, "--update-kernel=ALL"]
    if bls_dir and bls_dir != GRUBBY_BLS_DIR:
        base.append("--bls-directory=%s" % bls_dir)
    if grubenv and grubenv != GRUBBY_GRUBENV:
        base.append("--env=%s" % grubenv)
    if state == "absent":
        target = name if value is None else _cmdline.format_arg(name, value)
        return [base + ["--remove-args=%s" % target]]
    duplicates = any(len(_cmdline.find(_cmdline.split(e.options_line), name)) > 1 for e in entries)
    commands = []
    if duplicates:
        commands.append(base + ["--remove-args=%s" % name])
    commands.append(base + ["--args=%s" % _cmdline.format_arg(name, value)])
    return commands
