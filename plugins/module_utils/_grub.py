# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""The ``/etc/default/grub`` + ``/etc/default/grub.d/*.cfg`` model.

``grub-mkconfig`` (Debian and Ubuntu patch it to read drop-ins) does::

    . /etc/default/grub
    for x in /etc/default/grub.d/*.cfg; do . "$x"; done

and then builds the kernel command line of normal entries from
``${GRUB_CMDLINE_LINUX} ${GRUB_CMDLINE_LINUX_DEFAULT}`` (recovery entries only get
``GRUB_CMDLINE_LINUX``). This module evaluates that chain with the strict lexer of
``_shell``, remembering which source characters produced each character of both values, and
plans the smallest set of source edits that leaves the effective command line with exactly one
``name[=value]`` (present) or none (absent) while every other argument keeps its place, its
order and its spelling.

Planning is done by simulation: each candidate edit set is applied to copies of the texts,
re-parsed and re-evaluated, and accepted only when the result is exactly the intended one. The
cheapest accepted candidate wins (fewest drop-in files touched, then fewest files, then fewest
characters).

Drop-ins (Debian's ``kdump-tools.cfg`` appends ``crashkernel=`` to
``GRUB_CMDLINE_LINUX_DEFAULT``): an occurrence is edited inside the drop-in's own assignment,
the other words of that assignment stay. Alternatives that were rejected:

* a later-sorting drop-in of our own that strips the word with ``${VAR%...}`` patterns: it only
  matches the exact text the package ships today, silently lets a duplicate back in when the
  package changes its value, cannot remove a word from the middle of a value in POSIX sh, hides
  where the value comes from, and can itself be out-sorted by another drop-in;
* commenting out or emptying the drop-in: to dpkg it is the same conffile modification as a
  precise edit, but it also drops anything else the assignment carries.

dpkg keeps a modified conffile on upgrade (it only prompts when the packaged version changed;
``--force-confold`` keeps it silently); if the maintainer's version is installed, the next run
detects the extra occurrence and removes it again.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import shutil
import subprocess
import tempfile

from ansible_collections.crashkit.kdump.plugins.module_utils import _cmdline
from ansible_collections.crashkit.kdump.plugins.module_utils import _shell
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import (
    HostError,
    ParseError,
    ValidationError,
)

LINUX = "GRUB_CMDLINE_LINUX"
LINUX_DEFAULT = "GRUB_CMDLINE_LINUX_DEFAULT"
TARGETS = (LINUX, LINUX_DEFAULT)

FAMILY_VARIABLE = {"Debian": LINUX_DEFAULT, "RedHat": LINUX, "Suse": LINUX}
OS_RELEASE = "/etc/os-release"
EFI_DIR = "/sys/firmware/efi"
ESP_CONFIGS = "/boot/efi/EFI/*/grub.cfg"
_NOT_CHANGED = "%s; nothing was changed (set update_bootloader=false to only edit the files)"


class GrubFile(object):
    def __init__(self, path, text, is_main=False):
        self.path = path
        self.text = text
        self.is_main = is_main
        self.script = _shell.parse(text, path)


class GrubConfig(object):
    """The defaults file followed by its drop-ins, in the order ``grub-mkconfig`` sources them."""

    def __init__(self, files):
        self.files = files

    @classmethod
    def from_texts(cls, items):
        """``items``: ``[(path, text), ...]``, the defaults file first."""
        return cls([GrubFile(path, text, index == 0) for index, (path, text) in enumerate(items)])

    def evaluate(self):
        """Both command-line variables as lists of ``_shell.Char``; ``ParseError`` when either
        depends on something that cannot be evaluated."""
        values = _shell.evaluate([f.script for f in self.files], assume_unset=TARGETS)
        result = {}
        for name in TARGETS:
            value = values.get(name, [])
            if isinstance(value, _shell.Unknown):
                raise ParseError(value.message(name))
            result[name] = value
        return result

    def values(self):
        return dict((name, _shell.value_text(chars)) for name, chars in self.evaluate().items())


def dropin_paths(dropin_dir):
    """``dropin_dir/*.cfg`` in the order the shell glob gives them (C locale byte order)."""
    if not dropin_dir or not os.path.isdir(dropin_dir):
        return []
    return sorted(p for p in glob.glob(os.path.join(dropin_dir, "*.cfg")) if os.path.isfile(p))


def read_file(path):
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        raise HostError("cannot read %s: %s" % (path, exc))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError("%s is not valid UTF-8 (%s); it was left unchanged" % (path, exc))


def read_optional(path):
    """``read_file(path)``, or ``None`` when it cannot be read (a file that is not UTF-8 still
    raises ``ParseError``)."""
    try:
        return read_file(path)
    except HostError:
        return None


def load(defaults_path, dropin_dir=None):
    if not os.path.isfile(defaults_path):
        raise HostError("the GRUB defaults file %s does not exist" % defaults_path)
    items = [(defaults_path, read_file(defaults_path))]
    items.extend((path, read_file(path)) for path in dropin_paths(dropin_dir))
    return GrubConfig.from_texts(items)


class _View(object):
    """Tokens of both variables and the kernel arguments named ``name`` among them."""

    def __init__(self, chars, config=None):
        self.chars = chars
        self.config = config
        self.text = dict((name, _shell.value_text(chars[name])) for name in TARGETS)
        self.tokens = dict((name, _cmdline.tokenize(self.text[name])) for name in TARGETS)
        combined = [(name, i) for name in TARGETS for i in range(len(self.tokens[name]))]
        limit = _cmdline.kernel_range([self.tokens[n][i].text for n, i in combined])
        self.kernel = set(combined[:limit])

    def occurrences(self, name):
        return [
            (var, i) for var in TARGETS for i, token in enumerate(self.tokens[var])
            if (var, i) in self.kernel and _cmdline.matches(token.text, name)
        ]

    def others(self, var, is_target):
        return [
            token.text for i, token in enumerate(self.tokens[var])
            if not ((var, i) in self.kernel and is_target(token.text))
        ]

    def assignment_of(self, char):
        """The assignment whose source span holds ``char`` (``None`` when unknown)."""
        if self.config is None:
            return None
        for assignment in self.config.files[char.source].script.assignments:
            if assignment.start <= char.start < assignment.word.end:
                return assignment
        return None

    def combined(self):
        return (self.text[LINUX] + " " + self.text[LINUX_DEFAULT]).strip()


class Plan(object):
    """The outcome of planning: new texts of the files to change and both values."""

    def __init__(self, config, changes, before, after, new_config):
        self.config = config
        self.changes = changes
        self.before = before
        self.after = after
        self.new_config = new_config

    @property
    def changed(self):
        return bool(self.changes)

    @property
    def effective_before(self):
        return _join_values(self.before)

    @property
    def effective_after(self):
        return _join_values(self.after)


def _join_values(values):
    return " ".join(v for v in (values[LINUX], values[LINUX_DEFAULT]) if v.strip())


class _EditSet(object):
    """Source edits per file index: deleted offsets and insertions before an offset."""

    def __init__(self):
        self.deleted = {}
        self.inserted = {}

    def delete_span(self, source, start, end):
        self.deleted.setdefault(source, set()).update(range(start, end))

    def insert(self, source, offset, text):
        inserts = self.inserted.setdefault(source, {})
        inserts[offset] = inserts.get(offset, "") + text

    def copy(self):
        other = _EditSet()
        other.deleted = dict((k, set(v)) for k, v in self.deleted.items())
        other.inserted = dict((k, dict(v)) for k, v in self.inserted.items())
        return other

    def sources(self):
        return set(self.deleted) | set(self.inserted)

    def apply(self, source, text):
        deleted = self.deleted.get(source, set())
        inserts = self.inserted.get(source, {})
        out = []
        for i, char in enumerate(text):
            if i in inserts:
                out.append(inserts[i])
            if i not in deleted:
                out.append(char)
        if len(text) in inserts:
            out.append(inserts[len(text)])
        return "".join(out)

    def size(self):
        return sum(len(v) for v in self.deleted.values()) + sum(
            len(t) for v in self.inserted.values() for t in v.values()
        )


def _delete_token(edits, view, var, index):
    """Delete the characters of one token and one adjacent separator from their sources."""
    token = view.tokens[var][index]
    chars = view.chars[var]
    own = chars[token.start:token.end]
    for char in own:
        edits.delete_span(char.source, char.start, char.end)
    separator = None
    if token.start > 0 and chars[token.start - 1].char in _cmdline.WHITESPACE:
        separator = chars[token.start - 1]
    elif token.end < len(chars) and chars[token.end].char in _cmdline.WHITESPACE:
        separator = chars[token.end]
    # Only a separator written in the same assignment as the token goes with it: spacing that
    # belongs to another assignment (or another file) stays where it is.
    if separator is not None and separator.source == own[0].source and (
            view.assignment_of(separator) is view.assignment_of(own[0])):
        edits.delete_span(separator.source, separator.start, separator.end)


def _replace_token(edits, view, var, index, new_text):
    token = view.tokens[var][index]
    own = view.chars[var][token.start:token.end]
    for char in own:
        edits.delete_span(char.source, char.start, char.end)
    first = own[0]
    edits.insert(first.source, first.start, _shell.quote_for(first.ctx, new_text))


def _append(edits, source, assignment, arg):
    """Append `` arg`` to ``assignment`` (the word keeps its quoting when it ends quoted)."""
    word = assignment.word
    deleted = edits.deleted.get(source, set())
    kept_parts = [p for p in word.parts if not (isinstance(p, _shell.Char) and p.start in deleted)]
    prefix = " " if kept_parts else ""
    if word.closing_quote is not None:
        edits.insert(source, word.closing_quote, _shell.quote_for(word.closing_ctx, prefix + arg))
        return True
    probe = _shell.Word(word.start)
    probe.parts = kept_parts
    body = _shell.render_word_dq(probe)
    if body is None:
        return False
    edits.delete_span(source, word.start, word.end)
    edits.insert(source, word.start, '"%s%s%s"' % (body, prefix, _shell.quote_dq_body(arg)))
    return True


def _new_assignment(edits, config, variable, arg):
    text = config.files[0].text
    lead = "" if not text or text.endswith("\n") else "\n"
    edits.insert(0, len(text), '%s%s="%s"\n' % (lead, variable, _shell.quote_dq_body(arg)))


def _last_assignment(script, variable):
    found = None
    for assignment in script.assignments:
        if assignment.name == variable:
            found = assignment
    return found


def _target_predicate(name, value, state):
    if state == "absent" and value is not None:
        return lambda arg: _cmdline.matches(arg, name) and _cmdline.parse_arg(arg)[1] == value
    return lambda arg: _cmdline.matches(arg, name)


def _satisfied(view, name, value, state, variable):
    occurrences = view.occurrences(name)
    if state == "absent":
        is_target = _target_predicate(name, value, state)
        return not [o for o in occurrences if is_target(view.tokens[o[0]][o[1]].text)]
    if len(occurrences) != 1:
        return False
    var, index = occurrences[0]
    return var == variable and _cmdline.parse_arg(view.tokens[var][index].text)[1] == value


def plan(config, name, value=None, state="present", variable=LINUX):
    """Plan the edits; return a ``Plan`` (``changes`` empty when nothing needs to change)."""
    if variable not in TARGETS:
        raise ValidationError("grub_variable must be one of %s" % ", ".join(TARGETS))
    if state not in ("present", "absent"):
        raise ValidationError("state must be present or absent")
    arg = _cmdline.format_arg(name, value) if state == "present" else None
    if state == "absent":
        _cmdline.validate_name(name)
        _cmdline.validate_value(value)
    view = _View(config.evaluate(), config)
    before = dict(view.text)
    if _satisfied(view, name, value, state, variable):
        return Plan(config, {}, before, before, config)

    is_target = _target_predicate(name, value, state)
    occurrences = [o for o in view.occurrences(name) if is_target(view.tokens[o[0]][o[1]].text)]

    candidates = []
    if state == "absent":
        edits = _EditSet()
        for var, index in occurrences:
            _delete_token(edits, view, var, index)
        candidates.append(edits)
    else:
        for keep in occurrences:
            if keep[0] != variable:
                continue
            edits = _EditSet()
            for other in occurrences:
                if other != keep:
                    _delete_token(edits, view, *other)
            token = view.tokens[keep[0]][keep[1]].text
            if _cmdline.parse_arg(token)[1] != value or _cmdline.parse_arg(token)[0] != name:
                _replace_token(edits, view, keep[0], keep[1], arg)
            candidates.append(edits)
        removals = _EditSet()
        for other in occurrences:
            _delete_token(removals, view, *other)
        for source, grub_file in enumerate(config.files):
            assignment = _last_assignment(grub_file.script, variable)
            if assignment is None:
                continue
            edits = removals.copy()
            if _append(edits, source, assignment, arg):
                candidates.append(edits)
        if _last_assignment(config.files[0].script, variable) is None:
            edits = removals.copy()
            _new_assignment(edits, config, variable, arg)
            candidates.append(edits)

    best = None
    for edits in candidates:
        outcome = _simulate(config, edits, view, name, value, state, variable, is_target)
        if outcome is None:
            continue
        changes, new_config, after = outcome
        dropins = len([p for p in changes if p != config.files[0].path])
        cost = (dropins, len(changes), edits.size())
        if best is None or cost < best[0]:
            best = (cost, changes, new_config, after)
    if best is None:
        raise ValidationError(
            "no safe edit of %s gives exactly %s: the value is assembled in a way this module "
            "does not edit (for example one assignment feeding both variables); effective "
            "command line: %r" % (
                ", ".join(f.path for f in config.files),
                ("one %s" % arg) if state == "present" else ("no %s" % name),
                view.combined(),
            )
        )
    return Plan(config, best[1], before, best[3], best[2])


def _simulate(config, edits, old_view, name, value, state, variable, is_target):
    items = []
    changes = {}
    for source, grub_file in enumerate(config.files):
        text = edits.apply(source, grub_file.text) if source in edits.sources() else grub_file.text
        if text != grub_file.text:
            changes[grub_file.path] = text
        items.append((grub_file.path, text))
    if not changes:
        return None
    try:
        new_config = GrubConfig.from_texts(items)
        new_view = _View(new_config.evaluate(), new_config)
    except ParseError:
        return None
    if not check(old_view, new_view, name, value, state, variable, is_target):
        return None
    return changes, new_config, dict(new_view.text)


def check(old_view, new_view, name, value, state, variable, is_target):
    """The new values keep every other argument and hold exactly what was asked for."""
    for var in TARGETS:
        if old_view.others(var, is_target) != new_view.others(var, is_target):
            return False
    return _satisfied(new_view, name, value, state, variable)


def shell_values(paths, sh_path="/bin/sh", names=TARGETS):
    """Source ``paths`` in order with a real POSIX shell and an empty environment; return the
    values of ``names``."""
    values = {}
    for name in names:
        script = 'for __crashkit_f in "$@"; do . "$__crashkit_f"; done; printf %%s "$%s"' % name
        try:
            # pylint: disable-next=ansible-bad-function  # pure code has no AnsibleModule.run_command; needs env={}
            proc = subprocess.Popen(
                [sh_path, "-c", script, "sh"] + list(paths),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.PIPE, env={},
            )
            out, err = proc.communicate(b"")
        except (IOError, OSError) as exc:
            raise HostError("cannot run %s: %s" % (sh_path, exc))
        if proc.returncode != 0:
            raise ParseError(
                "%s failed to source %s: %s" % (sh_path, " ".join(paths), err.decode("utf-8", "replace").strip())
            )
        values[name] = out.decode("utf-8", "replace")
    return values


def verify_chain(paths, expected, sh_path="/bin/sh"):
    """Re-read ``paths`` (the defaults file then the drop-ins, some possibly temporary copies),
    evaluate them with the lexer and, when ``sh_path`` exists, with the real shell; raise
    ``ParseError`` unless both give ``expected`` (a dict over ``TARGETS``)."""
    config = GrubConfig.from_texts([(p, read_file(p)) for p in paths])
    ours = config.values()
    for name in TARGETS:
        if ours[name] != expected[name]:
            raise ParseError(
                "verification failed: re-reading the new files gives %s=%r instead of %r"
                % (name, ours[name], expected[name])
            )
    if sh_path and os.path.exists(sh_path):
        real = shell_values(paths, sh_path)
        for name in TARGETS:
            if real[name] != expected[name]:
                raise ParseError(
                    "verification failed: %s evaluates %s to %r instead of %r"
                    % (sh_path, name, real[name], expected[name])
                )


def verifier(grub_plan, target):
    """``verify`` callback for ``_module.apply_file`` writing ``target`` of ``grub_plan``: the
    temporary copy of ``target`` and the other planned files (as they will be) must give the
    planned values, by the lexer and by the real shell (``verify_chain``)."""
    chain = [f.path for f in grub_plan.config.files]

    def verify(tmp):
        scratch = tempfile.mkdtemp(prefix="crashkit-grub-")
        try:
            paths = []
            for index, path in enumerate(chain):
                if path == target:
                    paths.append(tmp)
                elif path in grub_plan.changes and read_optional(path) != grub_plan.changes[path]:
                    copy = os.path.join(scratch, "%d.cfg" % index)
                    with open(copy, "w") as handle:
                        handle.write(grub_plan.changes[path])
                    paths.append(copy)
                else:
                    paths.append(path)
            verify_chain(paths, grub_plan.after)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    return verify


def family_from_os_release(text):
    """``Debian``, ``RedHat`` or ``Suse`` from the text of ``/etc/os-release``, else ``None``."""
    fields = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, raw = line.split("=", 1)
        raw = raw.strip()
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
            raw = raw[1:-1]
        fields[key.strip()] = raw
    ids = [fields.get("ID", "")] + fields.get("ID_LIKE", "").split()
    for ident in ids:
        ident = ident.lower()
        if ident in ("debian", "ubuntu", "linuxmint", "raspbian", "pop"):
            return "Debian"
        if ident in ("rhel", "fedora", "centos", "rocky", "almalinux", "ol", "amzn"):
            return "RedHat"
        if ident.startswith("opensuse") or ident in ("suse", "sles", "sled", "sle-micro"):
            return "Suse"
    return None


def variable_for(family, requested=None, fallback=None):
    """The variable that should hold the argument: ``requested``, else the one of ``family``,
    else ``fallback``; ``ValidationError`` when there is none."""
    variable = requested or FAMILY_VARIABLE.get(family) or fallback
    if variable is None:
        raise ValidationError("cannot tell the OS family from %s: set family or grub_variable" % OS_RELEASE)
    return variable


def is_efi_stub(text):
    """True for the small ESP grub.cfg of RHEL 9 / Fedora 34+ / SUSE that only loads
    ``/boot/grub2/grub.cfg`` (``configfile``) instead of holding menu entries."""
    return "configfile" in text and "menuentry" not in text and "blscfg" not in text


def mkconfig_command(family, grub_mkconfig=None, update_grub=None, efi=False, efi_configs=None):
    """The command that regenerates grub.cfg, as an argument list.

    Debian: ``update-grub`` (else ``grub-mkconfig -o /boot/grub/grub.cfg``). RedHat/SUSE:
    ``grub2-mkconfig -o /boot/grub2/grub.cfg`` for BIOS and for EFI systems whose ESP
    grub.cfg is a stub that loads it (RHEL 9, Fedora 34+, SUSE); the ESP file itself on EFI
    systems where it is the full configuration (RHEL 8). ``efi_configs``: ESP grub.cfg path ->
    text.
    """
    if family == "Debian":
        if update_grub:
            return [update_grub]
        if grub_mkconfig:
            return [grub_mkconfig, "-o", "/boot/grub/grub.cfg"]
        return None
    if not grub_mkconfig:
        return None
    if family is None and os.path.basename(grub_mkconfig) == "grub-mkconfig":
        # Upstream layout (no grub2- renaming): the configuration lives in /boot/grub.
        return [grub_mkconfig, "-o", "/boot/grub/grub.cfg"]
    output = "/boot/grub2/grub.cfg"
    if efi:
        for path in sorted(efi_configs or {}):
            if "/EFI/BOOT/" in path.upper().replace("\\", "/"):
                continue
            if not is_efi_stub(efi_configs[path]):
                output = path
                break
    return [grub_mkconfig, "-o", output]


def efi_configs(pattern=ESP_CONFIGS):
    """ESP grub.cfg path -> text, for the files matching ``pattern`` that can be read."""
    configs = {}
    for path in glob.glob(pattern):
        text = read_optional(path)
        if text is not None:
            configs[path] = text
    return configs


def update_command(family, which, override=None, efi_dir=EFI_DIR, esp_configs=ESP_CONFIGS):
    """The command that regenerates grub.cfg: ``override`` (program looked up with ``which``
    when not absolute, and required to be an executable file), else ``mkconfig_command`` for
    this host. ``which(name)`` returns the path of a program or ``None``. ``HostError`` when
    there is no such command."""
    if override:
        program = override[0]
        if not os.path.isabs(program):
            program = which(program) or program
        if not (os.path.isfile(program) and os.access(program, os.X_OK)):
            raise HostError(_NOT_CHANGED % ("the bootloader update command %s was not found" % override[0]))
        return [program] + list(override[1:])
    command = mkconfig_command(
        family,
        grub_mkconfig=which("grub2-mkconfig") or which("grub-mkconfig"),
        update_grub=which("update-grub") if family == "Debian" else None,
        efi=os.path.isdir(efi_dir),
        efi_configs=efi_configs(esp_configs),
    )
    if command is None:
        raise HostError(_NOT_CHANGED % "no update-grub or grub(2)-mkconfig command was found")
    return command
