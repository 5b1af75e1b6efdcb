# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The triage's shortcuts (bench/triage.py) read exactly what the plain forms read.

* ``_scan`` finds ``[#`` by its ``#``: every line holding one of the words that may be anywhere
  in a line is still a candidate, and no other line is added for them;
* ``_analyze`` strips the dmesg timestamps with a pattern anchored on the line end: the same
  lines as the per-line ``(?m)^`` form;
* ``_analyze`` tries a frame before the fault keys: no fault line can match as a frame.
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
