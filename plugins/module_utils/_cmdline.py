# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""Kernel command lines: split, join, find, set and remove one argument.

The rules are the kernel's own (``lib/cmdline.c:next_arg``):

* arguments are separated by white space (``isspace``: space, tab, newline, vertical tab,
  form feed, carriage return) outside double quotes;
* a double quote toggles quoting, so ``foo="a b"`` and ``"foo=a b"`` are single arguments;
* the name ends at the first ``=``; the value has its surrounding double quotes removed;
* parameter names compare with ``-`` and ``_`` as the same character (``parameq``);
* a bare ``--`` ends the kernel's arguments: what follows goes to init and is never matched.

Edits are made on spans of the original text so every other argument keeps its exact
spelling, place and the white space around it.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.crashkit.kdump.plugins.module_utils._errors import ValidationError

WHITESPACE = " \t\n\v\f\r"


class Token(object):
    """One argument of a command line: its text and ``[start, end)`` offsets."""

    __slots__ = ("text", "start", "end")

    def __init__(self, text, start, end):
        self.text = text
        self.start = start
        self.end = end

    def __repr__(self):
        return "Token(%r, %d, %d)" % (self.text, self.start, self.end)


def tokenize(text):
    """Split ``text`` into ``Token`` objects with the kernel's quoting rules."""
    tokens = []
    i = 0
    length = len(text)
    while i < length:
        while i < length and text[i] in WHITESPACE:
            i += 1
        if i >= length:
            break
        start = i
        in_quote = False
        while i < length and (in_quote or text[i] not in WHITESPACE):
            if text[i] == '"':
                in_quote = not in_quote
            i += 1
        tokens.append(Token(text[start:i], start, i))
    return tokens


def split(text):
    """The arguments of ``text`` as a list of strings."""
    return [token.text for token in tokenize(text)]


def join(args):
    """Join arguments with single spaces."""
    return " ".join(args)


def parse_arg(arg):
    """Return ``(name, value)`` of one argument as the kernel sees it; ``value`` is ``None``
    for a flag (no ``=``)."""
    text = arg
    if text.startswith('"'):
        text = text[1:]
        if text.endswith('"'):
            text = text[:-1]
    if "=" not in text:
        return text, None
    name, value = text.split("=", 1)
    if value.startswith('"'):
        value = value[1:]
        if value.endswith('"'):
            value = value[:-1]
    elif arg.startswith('"') and value.endswith('"'):
        value = value[:-1]
    return name, value


def normalize_name(name):
    """The kernel compares parameter names with dashes and underscores folded together."""
    return name.replace("-", "_")


def names_equal(left, right):
    return normalize_name(left) == normalize_name(right)


def validate_name(name):
    if not name:
        raise ValidationError("the argument name must not be empty")
    bad = [c for c in name if c in WHITESPACE or c in '="']
    if bad or name == "--":
        raise ValidationError(
            "invalid kernel argument name %r: it must not contain white space, '=' or '\"'" % name
        )
    if name.startswith("$"):
        raise ValidationError("invalid kernel argument name %r: it must not start with '$'" % name)


def validate_value(value):
    if value is None:
        return
    if any(c in value for c in "\n\r\0"):
        raise ValidationError("invalid kernel argument value %r: it must be one line" % value)
    if '"' in value:
        raise ValidationError(
            "invalid kernel argument value %r: the kernel has no way to escape a double quote; "
            "give the value without quotes, quoting is added when it contains white space" % value
        )


def format_arg(name, value=None):
    """``name`` or ``name=value``; values containing white space get double quotes."""
    validate_name(name)
    validate_value(value)
    if value is None:
        return name
    if value == "" or any(c in WHITESPACE for c in value):
        if value == "":
            return "%s=" % name
        return '%s="%s"' % (name, value)
    return "%s=%s" % (name, value)


def kernel_range(tokens):
    """Number of leading tokens that are kernel arguments (everything before ``--``)."""
    for index, token in enumerate(tokens):
        text = token.text if isinstance(token, Token) else token
        if text == "--":
            return index
    return len(tokens)


def matches(arg, name, value=None, any_value=True):
    """True when ``arg`` is the argument ``name`` (with ``value`` unless ``any_value``)."""
    arg_name, arg_value = parse_arg(arg)
    if not names_equal(arg_name, name):
        return False
    if any_value:
        return True
    return arg_value == value


def find(args, name):
    """Indexes of the kernel arguments (before ``--``) named ``name``."""
    texts = [a.text if isinstance(a, Token) else a for a in args]
    limit = kernel_range(texts)
    return [i for i in range(limit) if matches(texts[i], name)]


def get(text, name):
    """``(found, value)`` of the last occurrence of ``name`` in ``text``: the one the kernel
    ends up with for ordinary parameters."""
    args = split(text)
    indexes = find(args, name)
    if not indexes:
        return False, None
    return True, parse_arg(args[indexes[-1]])[1]


def reboot_required(running, effective, name, changed):
    """Whether the running command line's ``name`` (its value, or its absence) differs from the
    ``effective`` one; ``changed`` when the running one is unknown (``None``)."""
    if running is None:
        return changed
    return get(running, name) != get(effective, name)


def is_satisfied(args, name, value, state):
    """Does the argument list already hold exactly one ``name[=value]`` (present) or no
    matching argument (absent)?"""
    indexes = find(args, name)
    if state == "absent":
        if value is None:
            return not indexes
        return not [i for i in indexes if parse_arg(args[i])[1] == value]
    if len(indexes) != 1:
        return False
    return parse_arg(args[indexes[0]])[1] == value


def _remove_span(text, token):
    """Delete ``token`` and one adjacent run of white space (the preceding one, else the
    following one) so the neighbours keep their own spacing."""
    start, end = token.start, token.end
    before = start
    while before > 0 and text[before - 1] in WHITESPACE and text[before - 1] not in "\n":
        before -= 1
    if before < start and before > 0:
        return before, end
    after = end
    while after < len(text) and text[after] in WHITESPACE and text[after] not in "\n":
        after += 1
    return start, after


def edit(text, name, value=None, state="present", insert_before_vars=False):
    """Return ``text`` edited so it holds exactly one ``name[=value]`` (present) or none.

    present: the last kernel occurrence of ``name`` is replaced in place (kept as is when it
    already has the wanted value), every other occurrence is removed; without an occurrence
    the argument is appended after the last kernel argument (before ``--``, and before trailing
    ``$variable`` references when ``insert_before_vars``). absent: every occurrence of ``name``
    (only those with ``value`` when it is given) is removed.
    """
    validate_name(name)
    validate_value(value)
    tokens = tokenize(text)
    indexes = find(tokens, name)
    wanted = format_arg(name, value) if state == "present" else None
    if state == "absent":
        remove = [i for i in indexes if value is None or parse_arg(tokens[i].text)[1] == value]
        keep = None
    else:
        keep = indexes[-1] if indexes else None
        remove = [i for i in indexes if i != keep]
    edits = []
    for i in remove:
        start, end = _remove_span(text, tokens[i])
        edits.append((start, end, ""))
    if keep is not None and parse_arg(tokens[keep].text)[1] != value:
        edits.append((tokens[keep].start, tokens[keep].end, wanted))
    if state == "present" and keep is None:
        limit = kernel_range(tokens)
        position = limit
        if insert_before_vars:
            while position > 0 and tokens[position - 1].text.startswith("$"):
                position -= 1
        if position > 0:
            anchor = tokens[position - 1].end
            edits.append((anchor, anchor, " " + wanted))
        elif tokens:
            anchor = tokens[0].start
            edits.append((anchor, anchor, wanted + " "))
        else:
            stripped = len(text.rstrip(WHITESPACE))
            edits.append((stripped, stripped, wanted))
    return apply_edits(text, edits)


def apply_edits(text, edits):
    """Apply ``(start, end, replacement)`` edits. Overlapping deletions are merged; a
    replacement must not overlap anything else."""
    deletions = sorted((s, e) for s, e, r in edits if not r and e > s)
    others = [edit for edit in edits if edit[2] or edit[1] == edit[0]]
    merged = []
    for start, end in deletions:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    final = [(s, e, "") for s, e in merged] + others
    result = text
    for start, end, replacement in sorted(final, key=lambda e: (e[0], e[1]), reverse=True):
        result = result[:start] + replacement + result[end:]
    return result
