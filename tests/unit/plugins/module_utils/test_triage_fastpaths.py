# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The triage's shortcuts (bench/triage.py) read exactly what the plain forms read.

* ``_scan`` finds ``[#`` by its ``#``: every line holding one of the words that may be anywhere
  in a line is still a candidate, and no other line is added for them;
* ``_analyze`` strips the dmesg timestamps with a pattern anchored on the line end: the same
  lines as the per-line ``(?m)^`` form;
* ``_analyze`` tries a frame before the fault keys: no fault line can match as a frame;
* ``split_line`` reads a journal head (``<ISO time> <host> kernel: ``) with ``_ISO_KERNEL``, and
  the rest of the prefix with ``_PREFIX_REST`` only where one can start: the same message and
  caller id as ``_PREFIX`` gives; and a level with a dmesg timestamp (``<4>[ 1.5] ``) with
  ``_LEVEL_TIMESTAMP`` where nothing else of ``_PREFIX`` can follow them;
* ``_analyze`` finds the end of a report with one pattern (``_TRACE_END_START``): the lines that
  start with one of ``_TRACE_END``;
* ``_feed_text`` finds a line longer than ``MAX_LINE`` by ``_has_long_line``'s jumps from line
  end to line end: the same lines are cut;
* ``parse_taint`` parts the taint field into words with ``str.split`` instead of ``\\S+``, and
  drops dashed columns only where there is a dash: the same field, release and build.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.crashkit.kdump.plugins.module_utils import _triage as tr

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "triage")
PER_LINE_TIMESTAMP = re.compile(r"(?m)^\[ *\d{1,10}\.\d{1,9}\] ?(?!\[)")

PIECES = st.sampled_from([
    "[#", "#", "[", "]", " ", "\n", "[#1]", "Oops: 0000 [#1] SMP", "CPU#3", "#1 SMP",
    "oom-killer", "Kernel panic - not syncing", "Kernel panic", "x", "[   1.5] ", "[ 12.000001]",
    "[    0.000000] ", "] [", "[T1]", "-",
])


# Pieces of a journal or syslog head, with the hosts _PREFIX can read as something else: a time
# zone offset or name, a facility, the start of a kmsg record, a host too long.
STAMPS = st.sampled_from(["2024-05-14T03:12:45", "2024-05-14 03:12:45", "2024-05-14T03:12:4"])
FRACTIONS = st.sampled_from(["", ".118901", ",5", ".1234567890", "."])
ZONES = st.sampled_from(["", "+02:00", "-0700", "Z", "+02", "+0200 ", " CEST"])
HOSTS = st.sampled_from([
    "web-07", "+1234", "-0100", "ABC", "ABCDE", "ABCDEF", "ab.cd", "kern.warn", "1,2,3,",
    "1,2,3,-;", "10.0.0.5", "h;x", "a,b", "x" * 255, "x" * 256, "\u0663,1,1,", "", "kernel",
    "h\u00e9te", "a[1]", "a:b",
])
HEAD_ENDS = st.sampled_from([
    " kernel:", " kernel: ", "  kernel: ", " kernel:  ", " kernel[1]: ", " kern.warn kernel: ",
    " kernel", " sshd[12]: ",
])
TAILS = st.sampled_from([
    "", "Oops", "[ 12.345678] Oops", "<4>[ 1.2] x", "[ T12] y", "4,1789,1531218013,-;m",
    "[guest0/uart0] [ 1.2] z", "h kernel: w", "[ 1.2] [C3] q", "[ 1.2]", "[#1] ",
    "\u0663,1,1,-;x", "\u00b2,1,1,-;x", " kernel: x", "x kernel:y", "<TASK>",
])


def _plain_split_line(line):
    """``split_line`` without its journal head shortcut: the prefix is what ``_PREFIX`` matches,
    after the dmesg timestamp shortcut (``_TIMESTAMP_FAST``) that was there before it. That one
    is not the same as ``_PREFIX`` for every line (``[ 1.2] [C3] q kernel: x`` loses
    ``q kernel: `` to it): results it gives are kept as they are."""
    if line[:1] == "[":
        found = tr._TIMESTAMP_FAST.match(line)
        if found is not None:
            end = found.end()
            if line[end:end + 1] != "[":
                return line[end:], found.group(1)
    found = tr._PREFIX.match(line)
    end = found.end()
    if end == 0 and "] " in line:
        glued = tr._GLUED.search(line, 1)
        if glued is not None:
            return _plain_split_line(line[glued.start():])
    return line[end:], found.group("caller")


TOKEN = re.compile(r"\S+")
TAINT_PIECES = st.sampled_from([
    "Not tainted", "Tainted: ", "Tainted:", " ", "  ", "\t", "\u00a0", "\u3000", "\x1c", "\x85",
    "\u2028", "G", "W", "OE", "P", "-", "--", "---", "6.1.0-56-amd64", "5.15.0", "\u0663.1", "\u00b2.1",
    "#1", "#1 SMP", "Debian 6.1.192-2", "x86", "\u00c9", "\u01c5", "a", "[W]=W", "1",
])


def _plain_parse_taint(text, pos=0, end=None):
    """``parse_taint`` as it read the words: one ``\\S+`` match each, the field's dashed columns
    always removed by pattern."""
    if end is None:
        end = len(text)
    if text.startswith("Not tainted", pos, end):
        field, start = "Not tainted", pos + 11
    elif text.startswith("Tainted: ", pos, end):
        field, start = None, pos + 9
    else:
        return None
    for word in TOKEN.finditer(text, start, end):
        token = word.group()
        if token.isalpha() and token.isupper():
            continue
        if not token.strip("-"):
            continue
        if not token[:1].isdigit():
            return None
        if field is None:
            field = "Tainted: " + tr._DASHES.sub("", text[start:word.start()]).strip()
        rest = text[word.end():end].strip()
        return field, token, (rest if rest.startswith("#") else None)
    return None


def _fixture_texts():
    for root, _dirs, names in os.walk(FIXTURES):
        for name in sorted(names):
            if name.endswith(".log"):
                with open(os.path.join(root, name), encoding="utf-8", errors="replace") as handle:
                    yield name, handle.read()


def _anywhere_starts(text):
    """Line starts of the lines holding an anywhere word, found the plain way."""
    starts = set()
    pos = 0
    for line in text.split("\n"):
        if any(word in line for word in tr._SCAN_ANYWHERE):
            starts.add(pos)
        pos += len(line) + 1
    return starts


def _scan_text(text):
    return "\n" + text.replace("\r", "") + ("" if text.endswith("\n") else "\n")


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES, max_size=60))
def test_scan_finds_every_anywhere_word(pieces):
    text = _scan_text("".join(pieces))
    found = set(tr._scan(text, text.count("\n"), facts=False))
    assert _anywhere_starts(text) <= found


@pytest.mark.parametrize("name,text", list(_fixture_texts()))
def test_scan_of_fixture_keeps_anywhere_lines(name, text):
    text = _scan_text(text)
    assert _anywhere_starts(text) <= set(tr._scan(text, text.count("\n"))), name


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(PIECES, max_size=8).map("".join).map(lambda s: s.replace("\n", "")),
                max_size=20))
def test_timestamp_strip_is_the_per_line_strip(lines):
    joined = "\n".join(lines)
    fast = tr._TIMESTAMP_LINE.sub("\n", "\n" + joined)[1:].split("\n")
    assert fast == PER_LINE_TIMESTAMP.sub("", joined).split("\n")


@pytest.mark.parametrize("key", tr._FAULT_KEYS)
@pytest.mark.parametrize("rest", ["", "func+0x1/0x2", "0010:func+0x1a/0x40 [mod]",
                                  "[<c0123456>] func+0x1/0x2", "func+0x1/0x2 (unreliable)"])
def test_no_fault_line_is_a_frame(key, rest):
    assert tr._FRAME.match(key + rest) is None


@settings(max_examples=1000, deadline=None)
@given(STAMPS, FRACTIONS, ZONES, st.sampled_from([" ", "  ", ""]), HOSTS, HEAD_ENDS, TAILS,
       st.text(max_size=12))
def test_journal_head_split_is_the_prefix_split(stamp, fraction, zone, gap, host, end, tail, rest):
    line = stamp + fraction + zone + gap + host + end + tail + rest
    assert tr.split_line(line) == _plain_split_line(line)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(PIECES, HOSTS, HEAD_ENDS, TAILS, STAMPS, ZONES, st.text(max_size=4)),
                max_size=12).map("".join))
def test_split_line_is_the_prefix_split(line):
    assert tr.split_line(line) == _plain_split_line(line)


@pytest.mark.parametrize("name,text", list(_fixture_texts()))
def test_split_line_of_fixture_is_the_prefix_split(name, text):
    for line in text.splitlines():
        assert tr.split_line(line) == _plain_split_line(line), (name, line)
        # the same lines as a journal exports them
        journal = "2024-05-14T03:12:45.118850+02:00 web-07 kernel: " + line
        assert tr.split_line(journal) == _plain_split_line(journal), (name, line)


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from(["Not tainted", "Tainted: ", "", "x"]),
       st.lists(st.one_of(TAINT_PIECES, st.text(max_size=3)), max_size=16).map("".join),
       st.integers(0, 3), st.integers(0, 3))
def test_parse_taint_is_the_word_pattern_parse(head, rest, cut_start, cut_end):
    text = head + rest
    assert tr.parse_taint(text) == _plain_parse_taint(text)
    for start in range(min(cut_start, len(text)) + 1):
        end = len(text) - min(cut_end, len(text) - start)
        assert tr.parse_taint(text, start, end) == _plain_parse_taint(text, start, end)


@pytest.mark.parametrize("name,text", list(_fixture_texts()))
def test_parse_taint_of_fixture_is_the_word_pattern_parse(name, text):
    for line in text.splitlines():
        for key in ("Not tainted", "Tainted: "):
            pos = line.find(key)
            if pos >= 0:
                assert tr.parse_taint(line, pos) == _plain_parse_taint(line, pos), (name, line)


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from(["<4>", "<12>", "<1234>", "<>", "<\u0663>", "<4", ""]),
       st.sampled_from(["[ 12.345678]", "[12.3]", "[   0.000000] ", "[ 1.2]  ", "[1.1234567890]",
                        "[Tue May 14 03:12:45 2024] ", "[ x]", ""]),
       # what _PREFIX can take after the timestamp: a journal host, a caller id
       st.sampled_from(["", "[T1] ", "[ C3]", "[T1]x", "h kernel: ", "h kernel:", " kernel: ",
                        "[", "x"]),
       st.lists(st.one_of(PIECES, HEAD_ENDS, TAILS, st.text(max_size=4)), max_size=6).map("".join))
def test_level_timestamp_split_is_the_prefix_split(level, stamp, after, rest):
    line = level + stamp + after + rest
    assert tr.split_line(line) == _plain_split_line(line)


# The words, their beginnings and the words with a character changed (a trie's branch points).
END_PIECES = st.one_of(
    st.sampled_from(tr._TRACE_END),
    st.sampled_from(tr._TRACE_END).flatmap(lambda word: st.integers(0, len(word)).map(
        lambda cut: word[:cut])),
    st.sampled_from(tr._TRACE_END).flatmap(lambda word: st.tuples(
        st.integers(0, len(word) - 1), st.characters()).map(
            lambda change: word[:change[0]] + change[1] + word[change[0] + 1:])),
    st.text(max_size=3),
)


@settings(max_examples=1000, deadline=None)
@given(st.lists(END_PIECES, min_size=1, max_size=3).map("".join))
def test_trace_end_pattern_is_the_prefix_test(text):
    assert (tr._TRACE_END_START.match(text) is not None) == text.startswith(tr._TRACE_END)


@pytest.mark.parametrize("name,text", list(_fixture_texts()))
def test_trace_end_pattern_of_fixture_is_the_prefix_test(name, text):
    for line in text.splitlines():
        for message in (line, tr.split_line(line)[0].strip()):
            assert (tr._TRACE_END_START.match(message) is not None) == message.startswith(
                tr._TRACE_END), (name, line)


class _Chunks(object):
    """A parser that keeps what ``_feed_text`` feeds it."""

    def __init__(self):
        self.chunks = []

    def feed_chunk(self, lines):
        self.chunks.append(lines)


def _plain_feed_chunks(text):
    lines = text.split("\n")
    pending = lines.pop()
    if len(text) > tr.MAX_LINE and lines and max(map(len, lines)) > tr.MAX_LINE:
        lines = [line[:tr.MAX_LINE] for line in lines]
    return [lines] + ([[pending[:tr.MAX_LINE]]] if pending else [])


# Line lengths around MAX_LINE, and the characters a line end can be confused with.
LINE_LENGTHS = st.one_of(st.integers(0, 40), st.integers(tr.MAX_LINE - 3, tr.MAX_LINE + 3),
                         st.integers(0, 3 * tr.MAX_LINE))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(LINE_LENGTHS, st.sampled_from(["x", "\r", " ", "\u2028"])),
                max_size=8),
       st.booleans())
def test_long_line_test_is_the_length_test(shape, terminated):
    text = "\n".join(char * length for length, char in shape) + ("\n" if terminated else "")
    assert tr._has_long_line(text) == (max(map(len, text.split("\n"))) > tr.MAX_LINE)
    parser = _Chunks()
    tr._feed_text(parser, text)
    assert parser.chunks == _plain_feed_chunks(text)


@pytest.mark.parametrize("name,text", list(_fixture_texts()))
def test_long_line_test_of_fixture_is_the_length_test(name, text):
    for sample in (text, text + "y" * tr.MAX_LINE, text.replace("\n", " ", 30)):
        assert tr._has_long_line(sample) == (max(map(len, sample.split("\n"))) > tr.MAX_LINE)
