# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""A small, strict POSIX-shell lexer for assignment files such as ``/etc/default/grub``.

It understands exactly what those files are made of and nothing more:

* assignments ``NAME=word`` (several per line, ``;`` separated, optionally after ``export``),
  blank lines and ``#`` comments;
* words made of unquoted text, ``'single'`` and ``"double"`` quotes, backslash escapes,
  backslash-newline continuations, ``$NAME`` and ``${NAME}`` references.

Every character of a value remembers where it came from (its source span and its quoting
context) so callers can delete or replace exactly the characters of one kernel argument.

Two kinds of refusals:

* constructs that change control flow or run commands as statements (``if``, ``for``,
  functions, pipes, redirections, ``&&``, any command word) raise ``ParseError`` naming the
  line at once: the file cannot be evaluated at all;
* expansions whose value cannot be known without running something (command substitution,
  arithmetic, ``${NAME:-...}``-style operators, special parameters, tilde expansion) make the
  assigned variable *unknown*; ``evaluate`` raises ``ParseError`` naming the line only when a
  variable the caller asked for depends on one. Debian's stock ``/etc/default/grub`` sets
  ``GRUB_DISTRIBUTOR`` with a command substitution and is therefore still usable.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.crashkit.kdump.plugins.module_utils._errors import ParseError

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ASSIGN_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=")
NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
BLANKS = " \t"
OPERATORS = "&|<>()"
SPECIAL_PARAMS = "@*#?$!-0123456789"
# Characters that never need quoting when written unquoted in an assignment value.
SAFE_BARE = frozenset(NAME_CHARS + "%+,-./:=@^")
DQ_SPECIAL = '\\"$`'

BARE = "bare"
DQ = "dq"
SQ = "sq"


class Char(object):
    """One character of a value and the ``[start, end)`` source span that produced it."""

    __slots__ = ("char", "start", "end", "ctx", "source")

    def __init__(self, char, start, end, ctx, source=None):
        self.char = char
        self.start = start
        self.end = end
        self.ctx = ctx
        self.source = source

    def __repr__(self):
        return "Char(%r, %d, %d, %s)" % (self.char, self.start, self.end, self.ctx)


class Ref(object):
    """``$NAME`` or ``${NAME}``."""

    __slots__ = ("name", "start", "end", "ctx")

    def __init__(self, name, start, end, ctx):
        self.name = name
        self.start = start
        self.end = end
        self.ctx = ctx


class Opaque(object):
    """An expansion whose value cannot be known without running the shell."""

    __slots__ = ("reason", "line", "start", "end")

    def __init__(self, reason, line, start, end):
        self.reason = reason
        self.line = line
        self.start = start
        self.end = end


class Word(object):
    """A shell word: ``parts`` (``Char``, ``Ref``, ``Opaque``) and its source span.

    ``closing_quote`` is the offset of the quote character that ends the word when the word
    ends with a quoted segment, with ``closing_ctx`` its context (``dq`` or ``sq``).
    """

    def __init__(self, start):
        self.start = start
        self.end = start
        self.parts = []
        self.closing_quote = None
        self.closing_ctx = None

    @property
    def is_empty_value(self):
        return not self.parts


class Assignment(object):
    __slots__ = ("name", "word", "line", "start", "exported")

    def __init__(self, name, word, line, start, exported=False):
        self.name = name
        self.word = word
        self.line = line
        self.start = start
        self.exported = exported


class Script(object):
    """A parsed file: its text, name and assignments in order."""

    def __init__(self, text, filename, assignments):
        self.text = text
        self.filename = filename
        self.assignments = assignments

    def line_of(self, offset):
        return self.text.count("\n", 0, offset) + 1


class _Lexer(object):
    def __init__(self, text, filename):
        self.text = text
        self.filename = filename
        self.pos = 0

    # -- helpers -------------------------------------------------------------------------
    def line(self, offset=None):
        return self.text.count("\n", 0, self.pos if offset is None else offset) + 1

    def error(self, message, offset=None):
        return ParseError("%s:%d: %s" % (self.filename, self.line(offset), message))

    def peek(self, ahead=0):
        index = self.pos + ahead
        return self.text[index] if index < len(self.text) else ""

    def at_continuation(self, index=None):
        index = self.pos if index is None else index
        return self.text.startswith("\\\n", index)

    def skip_continuations(self, index):
        while self.text.startswith("\\\n", index):
            index += 2
        return index

    # -- scanning of opaque constructs ----------------------------------------------------
    def scan_backquote(self, start):
        """``start`` is at the opening backquote; return the offset after the closing one."""
        i = start + 1
        while i < len(self.text):
            c = self.text[i]
            if c == "\\":
                i += 2
                continue
            if c == "`":
                return i + 1
            i += 1
        raise self.error("unterminated command substitution (`...`)", start)

    def scan_balanced(self, start, opening, closing):
        """``start`` is just after ``opening``; return the offset after the matching
        ``closing``, skipping quoted text, escapes and nested substitutions."""
        depth = 1
        i = start
        text = self.text
        while i < len(text):
            c = text[i]
            if c == "\\":
                i += 2
                continue
            if c == "'":
                end = text.find("'", i + 1)
                if end < 0:
                    break
                i = end + 1
                continue
            if c == '"':
                i = self.scan_dq_raw(i + 1)
                continue
            if c == "`":
                i = self.scan_backquote(i)
                continue
            if c == opening:
                depth += 1
            elif c == closing:
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        raise self.error("unterminated %s...%s expansion" % (opening, closing), start)

    def scan_dq_raw(self, start):
        """``start`` is after an opening double quote inside an opaque construct."""
        i = start
        text = self.text
        while i < len(text):
            c = text[i]
            if c == "\\":
                i += 2
                continue
            if c == '"':
                return i + 1
            if c == "`":
                i = self.scan_backquote(i)
                continue
            if text.startswith("$(", i):
                i = self.scan_balanced(i + 2, "(", ")")
                continue
            if text.startswith("${", i):
                i = self.scan_balanced(i + 2, "{", "}")
                continue
            i += 1
        raise self.error("unterminated double quote", start)

    # -- words -----------------------------------------------------------------------------
    def read_dollar(self, word, ctx):
        """``self.pos`` is at ``$``. Appends a part to ``word`` and advances."""
        start = self.pos
        text = self.text
        after = self.skip_continuations(start + 1)
        c = text[after] if after < len(text) else ""
        if c == "{":
            inner = self.skip_continuations(after + 1)
            match = NAME_RE.match(text, inner)
            if match:
                close = self.skip_continuations(match.end())
                if close < len(text) and text[close] == "}" and "\\\n" not in text[inner:match.end()]:
                    word.parts.append(Ref(match.group(0), start, close + 1, ctx))
                    self.pos = close + 1
                    return
            end = self.scan_balanced(after + 1, "{", "}")
            word.parts.append(Opaque("parameter expansion %s" % text[start:end], self.line(start), start, end))
            self.pos = end
            return
        if c == "(":
            end = self.scan_balanced(after + 1, "(", ")")
            kind = "arithmetic expansion" if text.startswith("((", after) else "command substitution"
            word.parts.append(Opaque("%s %s" % (kind, text[start:end]), self.line(start), start, end))
            self.pos = end
            return
        if c and c in NAME_CHARS and c not in "0123456789":
            # A name may itself be split by backslash-newline continuations.
            i = after
            end = after
            name = []
            while True:
                i = self.skip_continuations(i)
                if i < len(text) and text[i] in NAME_CHARS:
                    name.append(text[i])
                    i += 1
                    end = i
                else:
                    break
            # Continuations after the name stay for the caller to skip.
            word.parts.append(Ref("".join(name), start, end, ctx))
            self.pos = end
            return
        if c and c in SPECIAL_PARAMS:
            word.parts.append(Opaque("special parameter $%s" % c, self.line(start), start, after + 1))
            self.pos = after + 1
            return
        if ctx == BARE and c in ("'", '"'):
            raise self.error("$%s...%s quoting is not portable between shells" % (c, c), start)
        # A lone dollar sign is literal.
        word.parts.append(Char("$", start, start + 1, ctx))
        self.pos = start + 1

    def read_word(self, value_start=None):
        """Read one word starting at ``self.pos``. ``value_start`` marks the first character
        of an assignment value (tilde expansion applies there and after ``:``)."""
        text = self.text
        word = Word(self.pos)
        while self.pos < len(text):
            c = text[self.pos]
            start = self.pos
            if c in BLANKS or c == "\n" or c == ";" or c in OPERATORS:
                break
            if c == "\\":
                if self.at_continuation():
                    self.pos += 2
                    continue
                if self.pos + 1 >= len(text):
                    raise self.error("backslash at end of file")
                word.parts.append(Char(text[self.pos + 1], start, start + 2, BARE))
                self.pos += 2
                continue
            if c == "'":
                end = text.find("'", start + 1)
                if end < 0:
                    raise self.error("unterminated single quote", start)
                for i in range(start + 1, end):
                    word.parts.append(Char(text[i], i, i + 1, SQ))
                self.pos = end + 1
                word.closing_quote, word.closing_ctx = end, SQ
                continue
            if c == '"':
                self.read_dq(word)
                continue
            if c == "$":
                self.read_dollar(word, BARE)
                continue
            if c == "`":
                end = self.scan_backquote(start)
                word.parts.append(Opaque("command substitution %s" % text[start:end], self.line(start), start, end))
                self.pos = end
                continue
            if c == "~" and value_start is not None:
                previous = text[start - 1] if start > 0 else ""
                if start == value_start or (previous == ":" and self._unquoted_colon(word, start - 1)):
                    end = start + 1
                    while end < len(text) and text[end] not in BLANKS + "\n;/:" + OPERATORS:
                        end += 1
                    word.parts.append(Opaque("tilde expansion %s" % text[start:end], self.line(start), start, end))
                    self.pos = end
                    continue
            word.parts.append(Char(c, start, start + 1, BARE))
            self.pos += 1
        word.end = self.pos
        if word.closing_quote is not None and word.closing_quote != word.end - 1:
            word.closing_quote = word.closing_ctx = None
        return word

    @staticmethod
    def _unquoted_colon(word, offset):
        return any(isinstance(p, Char) and p.start == offset and p.ctx == BARE for p in word.parts[-1:])

    def read_dq(self, word):
        text = self.text
        open_at = self.pos
        self.pos += 1
        while True:
            if self.pos >= len(text):
                raise self.error("unterminated double quote", open_at)
            c = text[self.pos]
            start = self.pos
            if c == '"':
                self.pos += 1
                word.closing_quote, word.closing_ctx = start, DQ
                return
            if c == "\\":
                nxt = text[self.pos + 1] if self.pos + 1 < len(text) else ""
                if nxt == "\n":
                    self.pos += 2
                    continue
                if nxt and nxt in DQ_SPECIAL:
                    word.parts.append(Char(nxt, start, start + 2, DQ))
                    self.pos += 2
                    continue
                word.parts.append(Char("\\", start, start + 1, DQ))
                self.pos += 1
                continue
            if c == "$":
                self.read_dollar(word, DQ)
                continue
            if c == "`":
                end = self.scan_backquote(start)
                word.parts.append(Opaque("command substitution %s" % text[start:end], self.line(start), start, end))
                self.pos = end
                continue
            word.parts.append(Char(c, start, start + 1, DQ))
            self.pos += 1

    # -- commands ------------------------------------------------------------------------
    def skip_blanks(self):
        text = self.text
        while self.pos < len(text):
            if text[self.pos] in BLANKS:
                self.pos += 1
            elif self.at_continuation():
                self.pos += 2
            else:
                break

    def parse(self):
        text = self.text
        assignments = []
        in_command = False  # a command has started on this logical line
        exporting = False
        while True:
            self.skip_blanks()
            if self.pos >= len(text):
                break
            c = text[self.pos]
            if c == "\n":
                self.pos += 1
                in_command = exporting = False
                continue
            if c == "#":
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
                continue
            if c == ";":
                if not in_command:
                    raise self.error("syntax error near ';'")
                if text.startswith(";;", self.pos):
                    raise self.error("unsupported shell construct ';;'")
                self.pos += 1
                in_command = exporting = False
                continue
            if c in OPERATORS:
                raise self.error("unsupported shell operator %r: only assignments can be evaluated safely" % c)
            start = self.pos
            match = ASSIGN_RE.match(text, self.pos)
            if match:
                self.pos = match.end()
                word = self.read_word(value_start=self.pos)
                assignments.append(Assignment(match.group(1), word, self.line(start), start, exporting))
                in_command = True
                continue
            word = self.read_word()
            raw = text[start:self.pos]
            if not exporting and not in_command and raw == "export":
                exporting = in_command = True
                continue
            if exporting and NAME_RE.fullmatch(raw):
                continue
            raise self.error(
                "unsupported shell command or construct %r: only variable assignments can be "
                "evaluated safely" % raw.split("\n")[0], start
            )
        return Script(text, self.filename, assignments)


def parse(text, filename="<text>"):
    """Parse ``text``; raise ``ParseError`` naming ``filename:line`` for what it refuses."""
    if "\0" in text:
        raise ParseError("%s:%d: NUL character in a shell file" % (filename, text.count("\n", 0, text.index("\0")) + 1))
    return _Lexer(text, filename).parse()


class Unknown(object):
    """The value of a variable that depends on an opaque expansion."""

    def __init__(self, reason, filename, line):
        self.reason = reason
        self.filename = filename
        self.line = line

    def message(self, name):
        return "%s:%d: %s depends on %s, which cannot be evaluated safely" % (
            self.filename, self.line, name, self.reason
        )


def evaluate(scripts, assume_unset=(), env=None):
    """Run the assignments of ``scripts`` in order, as ``. file1; . file2; ...`` would.

    Returns a dict name -> list of ``Char`` (each with ``source`` = index of its script) or
    ``Unknown``. Variables named in ``assume_unset`` that are read before being assigned are
    empty; any other unset variable is ``Unknown`` (its value would come from the caller's
    environment).
    """
    values = dict(env or {})
    for index, script in enumerate(scripts):
        for assignment in script.assignments:
            result = []
            unknown = None
            for part in assignment.word.parts:
                if isinstance(part, Char):
                    result.append(Char(part.char, part.start, part.end, part.ctx, index))
                elif isinstance(part, Ref):
                    if part.name in values:
                        value = values[part.name]
                    elif part.name in assume_unset:
                        value = []
                    else:
                        value = Unknown(
                            "$%s, which is not set in these files (its value would come from "
                            "the environment)" % part.name,
                            script.filename, script.line_of(part.start),
                        )
                    if isinstance(value, Unknown):
                        unknown = unknown or value
                    else:
                        result.extend(value)
                else:
                    unknown = unknown or Unknown(part.reason, script.filename, part.line)
            values[assignment.name] = unknown if unknown is not None else result
    return values


def value_text(value):
    return "".join(c.char for c in value)


def quote_dq_body(text):
    """``text`` escaped for the inside of double quotes."""
    return "".join("\\" + c if c in DQ_SPECIAL else c for c in text)


def quote_sq_body(text):
    """``text`` for the inside of single quotes (a single quote closes, escapes, reopens)."""
    return text.replace("'", "'\\''")


def quote_bare(text):
    """``text`` with backslashes before everything that is special unquoted. A newline is
    single-quoted: backslash-newline would be a line continuation."""
    return "".join(c if c in SAFE_BARE else ("'\n'" if c == "\n" else "\\" + c) for c in text)


def quote_for(ctx, text):
    if ctx == DQ:
        return quote_dq_body(text)
    if ctx == SQ:
        return quote_sq_body(text)
    return quote_bare(text)


def quote(text):
    """A complete shell word for ``text``: double quotes unless nothing needs quoting."""
    if text and all(c in SAFE_BARE for c in text):
        return text
    return '"%s"' % quote_dq_body(text)


def render_word_dq(word):
    """The body of one double-quoted string with the value of ``word``, or ``None`` when it
    holds an opaque expansion."""
    out = []
    for part in word.parts:
        if isinstance(part, Char):
            out.append(quote_dq_body(part.char))
        elif isinstance(part, Ref):
            out.append("${%s}" % part.name)
        else:
            return None
    return "".join(out)
