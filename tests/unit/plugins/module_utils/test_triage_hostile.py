# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel log is hostile input: triage time and memory stay linear in its size.

Issue 21, finding 9: the ``Tainted:`` pattern backtracked quadratically over a long run of
spaces; a 405 KB log of such lines took 21.6 s. The bounds below are generous (a blow-up is
orders of magnitude, not a factor of two) so that a loaded machine does not fail them.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import os
import time
import tracemalloc

from hypothesis import given, settings, strategies as st

from ansible_collections.crashkit.kdump.plugins.module_utils import _triage as tr
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import ParseError

# Seconds any log of the sizes used here may take; a linear triage needs well under 0.1 s.
GENEROUS = 2.0


def _run(text):
    try:
        return tr.triage_text(text)
    except ParseError:
        return None


def _cpu_seconds(text, repeat=7):
    """Smallest CPU time of ``repeat`` triages of ``text`` (the least disturbed one)."""
    best = None
    for _attempt in range(repeat):
        start = time.process_time()
        _run(text)
        spent = time.process_time() - start
        best = spent if best is None else min(best, spent)
        assert spent < GENEROUS, "one triage of %d characters took %.1f s" % (len(text), spent)
    return best


def _tainted_lines(count, width, head=True):
    """The reviewer's log: CPU lines whose taint field is a long run of spaces."""
    lines = ["[    0.100000] BUG: kernel NULL pointer dereference, address: 0000000000000010"] \
        if head else []
    body = "CPU: 0 PID: 1 Comm: x Tainted: "
    for _number in range(count):
        lines.append(("[    1.000001] " + body + " " * width)[:width] + " a b c")
    lines.append("[    2.000000] Kernel panic - not syncing: Fatal exception")
    return "\n".join(lines) + "\n"


def test_long_tainted_lines_triage_fast():
    # 100 lines of 4 KB outside any report (each one was read by the CPU-line pattern) and the
    # same inside an oops (read by the taint pattern): about 405 KB each.
    for head in (False, True):
        text = _tainted_lines(100, 4050, head=head)
        assert len(text) > 400000
        start = time.process_time()
        _run(text)
        spent = time.process_time() - start
        assert spent < GENEROUS, "405 KB of long Tainted: lines took %.1f s" % spent


def test_per_line_work_is_linear_in_the_line_length():
    # The same number of lines, 8 times as long each: a linear triage takes about 8 times as
    # long (less: fixed costs), a quadratic one 64 times. 24 leaves room for a noisy machine.
    short = _cpu_seconds(_tainted_lines(60, 500))
    long_ = _cpu_seconds(_tainted_lines(60, 4000))
    assert long_ < 24 * max(short, 1e-4), (short, long_)


def test_time_is_linear_in_the_number_of_lines():
    one = _cpu_seconds(_tainted_lines(200, 2000), repeat=5)
    two = _cpu_seconds(_tainted_lines(400, 2000), repeat=5)
    assert two < 6 * max(one, 1e-4), (one, two)


# Pieces that made or could make a pattern backtrack: runs of spaces, taint-like capitals,
# '#' builds, repeated keys, brackets of timestamps and caller ids, frame-like text.
_HOSTILE = st.sampled_from([
    " ", "  ", " " * 64, "\t", "A ", "G ", "Tainted: ", "Not tainted ", "#", "#1 ", "CPU: 0 ",
    "PID: 1 ", "Comm: ", "[", "]", "[ 1.0] ", "[ T1] ", "<4>", "x", "0", "ffff", "+0x1/0x2",
    " [mod]", "? ", "Call Trace:", "RIP: 0010:", "pc : ", " kernel: ", "Linux version ",
    "Kernel panic - not syncing: ", "BUG: ", "[#1]", ": 0000 [#1]", "from [<c0>] (", ") ",
    "in: ", "---[ end ", "WARNING: CPU: 0 PID: 1 at ", "\\", "(", ")", ":", "-", "_", ".",
])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(_HOSTILE, max_size=200).map("".join), min_size=1, max_size=40),
       st.integers(1, 40))
def test_hostile_lines_are_bounded_in_time_and_memory(pieces, repeat):
    # Long lines built from the pieces, repeated: up to about 1 MB of log.
    lines = [(line * repeat)[:tr.MAX_LINE + 100] for line in pieces]
    text = "\n".join(lines * max(1, 200 // len(lines)))
    tracemalloc.start()
    try:
        start = time.process_time()
        _run(text)
        spent = time.process_time() - start
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert spent < GENEROUS, "%d characters took %.1f s" % (len(text), spent)
    # The text itself is already in memory; triage may add a bounded amount on top.
    assert peak < 4 * len(text) + (8 << 20), (len(text), peak)


def test_newline_free_file_is_read_in_bounded_memory(tmp_path):
    # 200 MB without a newline (a sparse file: no disk is written): read in chunks, the line
    # cut at MAX_LINE, never held whole.
    path = tmp_path / "dmesg.202405140312"
    with open(str(path), "wb") as handle:
        handle.write(b"Kernel panic - not syncing: x ")
        handle.truncate(200 << 20)
    tracemalloc.start()
    try:
        record = tr.triage_file(str(path))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert record["kind"] == "panic"
    assert len(record["panic_reason"]) < tr.MAX_LINE
    assert peak < 16 << 20, peak


def test_iter_log_chunks_never_holds_more_than_a_chunk():
    handle = io.StringIO("y" * 1000000 + "\nend\n")
    lines = [line for chunk in tr.iter_log_chunks(handle, chunk_size=4096, max_line=100)
             for line in chunk]
    assert lines == ["y" * 100, "end"]


def _fixture_lines():
    base = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "triage")
    lines = set()
    for folder in (base, os.path.join(base, "real")):
        for name in sorted(os.listdir(folder)):
            if name.endswith(".log"):
                with io.open(os.path.join(folder, name), encoding="utf-8") as handle:
                    lines.update(handle.read().splitlines())
    return sorted(lines)


REAL_LINES = _fixture_lines()


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(REAL_LINES), st.lists(_HOSTILE, max_size=60).map("".join)),
                min_size=1, max_size=120),
       st.integers(1, 30))
def test_real_lines_mixed_with_hostile_pieces(lines, repeat):
    # Real report lines (every format the triage reads) shuffled with hostile text and
    # repeated: any result is a record or a ParseError, in bounded time and memory.
    text = "\n".join(lines * repeat)
    tracemalloc.start()
    try:
        start = time.process_time()
        record = _run(text)
        spent = time.process_time() - start
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert spent < GENEROUS
    assert peak < 4 * len(text) + (8 << 20), (len(text), peak)
    if record is not None:
        assert record["kind"] in tr.KINDS
        assert len(record["call_trace"]) <= tr.MAX_FRAMES
        assert len(record["events"]) <= tr.MAX_EVENTS


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(REAL_LINES), st.integers(0, 4096))
def test_one_real_line_cut_anywhere(line, cut):
    # A line cut by a full disk or a lost console byte, alone and before a panic.
    _run(line[:cut])
    _run(line[:cut] + "\nKernel panic - not syncing: Fatal exception\n")


def test_many_headlines_keep_memory_bounded():
    # Thousands of reports: only the blocks that can still decide are kept.
    report = "\n".join([
        "[  1.0] WARNING: CPU: 0 PID: 1 at drivers/x.c:1 x_fn+0x1/0x2",
        "[  1.0] CPU: 0 PID: 1 Comm: sh Not tainted 6.1.0 #1",
        "[  1.0] Call Trace:",
    ] + ["[  1.0]  frame_%d+0x1/0x2" % i for i in range(40)])
    text = "\n".join([report] * 3000) + "\n[  2.0] Kernel panic - not syncing: panic_on_warn set ...\n"
    parser = tr.TriageParser()
    tracemalloc.start()
    try:
        for lines in tr.iter_log_chunks(io.StringIO(text)):
            parser.feed_chunk(lines)
        record = parser.record()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert record["kind"] == "warning"
    assert record["event_count"] == 3001
    assert peak < 16 << 20, peak
