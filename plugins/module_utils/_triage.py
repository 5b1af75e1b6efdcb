# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""Crash triage of a kernel log: what crashed, where, and a signature to group it by.

Input is the kernel log of a crashed kernel as saved next to a vmcore: kdump-tools'
``dmesg.<stamp>`` and ``makedumpfile --dump-dmesg`` output, RHEL's ``vmcore-dmesg.txt``, a
serial/netconsole capture or a syslog file. Each line may carry a syslog prefix
(``2024-05-14T03:12:45.118850+02:00 host kernel: `` or ``May 14 03:12:45 host kernel: ``), a
``<4>`` level, a ``[   12.345678]`` or ``[Tue May 14 03:12:45 2024]`` timestamp and a
``[    T1]`` caller id; all of them are optional.

The log is read once, front to back, in chunks of lines (``iter_log_chunks``: at most
``CHUNK_CHARS`` characters at a time, lines cut at ``MAX_LINE``), and only a bounded amount of
it is kept: the first few fields of each *event block* (a headline such as ``BUG: ...`` or
``Kernel panic - not syncing: ...`` and the lines after it up to the next headline), at most
``MAX_FRAMES`` frames per block, the blocks that can still become the triage anchor, a list of at
most ``MAX_EVENTS`` events and, when asked for, an excerpt of the window of lines around the
anchor. A 100 MB log costs time, not memory.

Speed: a chunk is first scanned as one string for the few lines that can be headlines (regular
expressions that start with a literal, and ``str.find``), so ordinary lines never reach Python
code; the lines of an event block are then read with a handful of searches over the block's
text (``CPU:``, ``Hardware name:``, ``RIP:`` before the call trace, the trace itself with one
pattern for its extent and one for its frames).

What counts as a crash: a ``Kernel panic - not syncing:`` line, an oops (``BUG: kernel NULL
pointer dereference``, ``BUG: unable to handle ...``, ``kernel BUG at``, ``general protection
fault``, any ``...: 0000 [#1]`` die line), or the traces of a crash of unknown shape (a ``Modules
linked in:`` dump, ``Kernel Offset:`` or ``---[ end Kernel panic`` outside any recognised
report). Soft lockups, hard lockups, hung tasks, OOM kills, hardware error reports and warnings
are *events*; they become the cause when the panic that follows names them (``softlockup: hung
tasks``, ``hung_task: blocked tasks``, ``Hard LOCKUP``, ``System is deadlocked on memory``,
``Fatal machine check``, ``panic_on_warn set``). A log with events but no crash is not a crash
and raises ``ParseError`` naming what it found.

The triage record describes the *first* crash of the log (later oopses are usually fallout);
``events`` lists all of them.

Signature design (``signature``, ``signature_text``): SHA-1 of a short text made of

* ``kind``;
* a canonical reason: per kind a fixed wording that is the same on every kernel version
  (``kernel NULL pointer dereference`` whether the kernel printed ``BUG: unable to handle kernel
  NULL pointer dereference at`` or ``BUG: kernel NULL pointer dereference, address:``), the
  source file of ``kernel BUG at`` without its line number, and for panics the panic text with
  addresses, CPU numbers, PIDs, durations, task names and line numbers replaced by
  placeholders;
* except for ``sysrq``, ``oom`` and ``mce`` (where the call path is incidental: every sysrq crash
  is the same crash, an OOM panic is about memory, not about the allocation site that noticed):
  the function and its module, and the next ``SIGNATURE_FRAMES`` reliable frames of the call
  trace that are not panic/oops/page-fault helpers (each without offset and without compiler
  suffixes such as ``.cold`` or ``.isra.0``).

Left out on purpose: kernel release and build, taint, host, time, comm, PID and CPU. The same bug
on two kernel releases groups together; ``kernel_releases`` in the fleet report tells them
apart. The first 16 hex digits of the SHA-1 are the signature.

Frames printed with ``?`` are left out of ``call_trace`` and of the signature: on x86 with the
ORC unwinder they are stale return addresses found on the stack, not callers (the oops paths of
6.x kernels print the exception entry frames that way). When a trace has only ``?`` frames (old
kernels' guessing unwinder) they are all kept.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import datetime
import hashlib
import io
import os
import re

from ansible_collections.crashkit.kdump.plugins.module_utils._errors import HostError, ParseError

KINDS = (
    "sysrq", "null_deref", "bug", "oops", "gpf", "soft_lockup", "hard_lockup", "hung_task",
    "oom", "mce", "vfs_root", "kill_init", "panic", "unknown",
)
OOPS_KINDS = frozenset(("null_deref", "bug", "oops", "gpf"))
PATH_INSENSITIVE_KINDS = frozenset(("sysrq", "oom", "mce"))

SIGNATURE_FRAMES = 3
MAX_FRAMES = 64
MAX_EVENTS = 200
MAX_LINE = 4096
CHUNK_CHARS = 1 << 18
CHUNK_LINES = 4096
BLOCK_SPAN = 400
REGION_CHARS = 1 << 16
EXCERPT_BEFORE = 10
EXCERPT_AFTER = 120
DIE_ATTACH_LINES = 12

# Names of the files a kdump bundle directory may hold the kernel log in, by preference.
BUNDLE_NAMES = ("vmcore-dmesg.txt", "dmesg.txt")

# --- line prefixes -------------------------------------------------------------------------

_PREFIX = re.compile(
    r"(?:(?P<stamp>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"
    r"|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?)"
    r" (?P<host>\S+) kernel: ?)?"
    r"(?:<\d{1,3}>)?"
    r"(?:\[ *(?:\d+\.\d+|(?P<ctime>[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}))\] ?)?"
    r"(?:\[ *[TC]\d+\] ?)?"
)

# Headline scan over a whole chunk of text. Each pattern starts with a literal (the end of a
# timestamp, a syslog tag, a line start) so the regular expression engine jumps between
# candidates instead of trying every position; the words that can appear anywhere in a line
# are found with str.find. A line the scan does not report cannot be a headline.
_SCAN_WORDS = (
    r"(?:Kernel (?:panic|Offset)|BUG|Oops|general protection|invalid opcode|kernel BUG"
    r"|INFO: task|WARNING:|Unable to handle|Linux version|DMI:|Modules linked in|CPU: \d"
    r"|watchdog: |NMI watchdog|Watchdog detected|mce: |Internal error|Out of memory and"
    r"|---\[ end Kernel)"
)
_SCAN_BRACKET = re.compile(r"\] " + _SCAN_WORDS)
_SCAN_SYSLOG = re.compile(r" kernel: " + _SCAN_WORDS)
_SCAN_BARE = re.compile(r"\n(?:<\d{1,3}>)?" + _SCAN_WORDS)
_SCAN_ANYWHERE = ("[#", "oom-killer", "[Hardware Error]")

# --- headlines -----------------------------------------------------------------------------

_PANIC = "Kernel panic - not syncing:"
_NULL_DEREF = (
    "BUG: kernel NULL pointer dereference",
    "BUG: unable to handle kernel NULL pointer dereference",
    "Unable to handle kernel NULL pointer dereference",
)
_DIE = re.compile(r": (?:[0-9a-f]{4}|[0-9a-f]{8}|[0-9a-f]{16}) \[#(\d+)\]")
_SOFT = re.compile(r"CPU#(\d+) stuck for \d+s! \[(.*):(\d+)\]")
_HARD = re.compile(r"hard LOCKUP on cpu (\d+)")
_HUNG = re.compile(r"INFO: task (.+):(\d+) blocked for more than \d+ seconds")
_MCE_CPU = re.compile(r"CPU (\d+): Machine Check")
_WARN = re.compile(r"WARNING: CPU: (\d+) PID: (\d+) at ")
_KBUG = re.compile(r"kernel BUG at (.+?):\d+!")
_WARN_AT = re.compile(r"WARNING: .*?\bat (\S+?):\d+ ")

# --- lines inside a block ------------------------------------------------------------------

# Fixed-shape heads only; the variable rest of these lines is split with str methods (no
# pattern runs over a field of unbounded length: issue 21, finding 9).
_CPU_HEAD = re.compile(r"CPU: (\d+) (?:UID: \d+ )?PID: (\d+) Comm: ")
_TOKEN = re.compile(r"\S+")
_BUILD_START = re.compile(r"#\d")
_TAINT_VERBOSE = re.compile(r"\[([A-Z])\]=")
_SYMBOL = re.compile(
    r"([A-Za-z_.$][\w.$]*)\+0x[0-9a-f]+/0x[0-9a-f]+(?:[ \t]+\[([\w-]+)[^\]\n]*\])?"
)
# Line prefixes as they appear in front of stack dump lines (syslog tag, level, timestamp,
# caller id), for the patterns below that run over a whole block of text.
_LINE_PREFIX = r"(?:[^\[\n]{0,120}? kernel: ?)?(?:<\d{1,3}>)?(?:\[[^\]\n]{0,48}\] ?){0,2}"
_FRAME_BODY = (
    r"[ \t]*(?:\[<?[0-9a-f]+>?\][ \t]*)*(\?[ \t]+)?([A-Za-z_.$][\w.$]*)"
    r"\+0x[0-9a-f]+/0x[0-9a-f]+(?:[ \t]+\[([\w-]+)[^\]\n]*\])?([ \t]+\(unreliable\))?"
)
# One frame per match, each at the start of a line.
_FRAME_IN_TEXT = re.compile(r"\n" + _LINE_PREFIX + _FRAME_BODY)
# The run of lines a call trace is made of: frames, unsymbolized addresses, section markers
# (<TASK>, <IRQ>, ...), register lines of an interrupted context and empty messages.
_TRACE_RUN = re.compile(
    r"(?:" + _LINE_PREFIX + r"(?:[ \t]*(?:"
    r"(?:\[<?[0-9a-f]+>?\][ \t]*)*(?:\?[ \t]+)?"
    r"(?:[A-Za-z_.$][\w.$]*\+0x[0-9a-f]+/0x[0-9a-f]+|0x[0-9a-f]+\b)"
    r"|<[/A-Z#0-9_ ]+>|[A-Z][A-Za-z0-9_]{0,7}[ \t]*:|\S+ <[0-9a-f]+>"
    r")[^\n]*|[ \t]*)\n)*"
)
_RIP_KEYS = ("IP: ", "pc : ", "NIP ", "PC is at ")
_CONTEXT_LINE = re.compile(
    r"(?:CPU: |Hardware name: |Modules linked in:|Workqueue: |-+\[ cut here \]|#PF: |PGD |"
    r"Call [Tt]race|Code: |Tainted: |Kernel Offset:|---\[ end |[A-Z][A-Z0-9_]{1,7}:\s|\s|$)"
)
_SUFFIX = re.compile(
    r"(?:\.(?:cold|isra|constprop|part|llvm|lto_priv|localalias|specialized)(?:\.\d+)*)+$"
)

# --- frames that are not the culprit -------------------------------------------------------

_HELPER_FRAMES = frozenset("""
dump_stack dump_stack_lvl __dump_stack show_stack show_trace_log_lvl show_regs __show_regs
dump_backtrace show_stack_log_lvl panic vpanic nmi_panic __warn warn_slowpath_fmt
warn_slowpath_null report_bug handle_bug check_panic_on_warn die __die __die_body oops_end do_trap
do_error_trap do_invalid_op invalid_op exc_invalid_op asm_exc_invalid_op page_fault_oops
no_context __bad_area_nosemaphore bad_area_nosemaphore bad_area kernelmode_fixup_or_oops
do_user_addr_fault do_kern_addr_fault __do_page_fault do_page_fault exc_page_fault
asm_exc_page_fault page_fault do_general_protection exc_general_protection
asm_exc_general_protection general_protection watchdog_timer_fn watchdog_overflow_callback
mce_panic do_machine_check exc_machine_check die_kernel_fault __do_kernel_fault
do_translation_fault do_mem_abort el1_abort el1_da el1h_64_sync_handler el1h_64_sync
arm64_serror_panic bug_handler call_break_hook brk_handler do_debug_exception el1_dbg
""".split())
_OOM_FRAMES = frozenset("""
dump_header oom_kill_process out_of_memory check_panic_on_oom pagefault_out_of_memory
mem_cgroup_out_of_memory __alloc_pages_may_oom __alloc_pages_slowpath __alloc_pages
__alloc_pages_nodemask alloc_pages alloc_pages_vma alloc_pages_current __folio_alloc
folio_alloc vma_alloc_folio alloc_pages_mpol __get_free_pages alloc_page_interleave
alloc_pages_noprof alloc_pages_mpol_noprof __alloc_pages_noprof folio_alloc_mpol_noprof
vma_alloc_folio_noprof __alloc_frozen_pages_noprof
""".split())
_WAIT_FRAME = re.compile(
    r"(?:__)?(?:schedule|io_schedule|preempt_schedule|wait_for_|do_wait_for|wait_on_|"
    r"out_of_line_wait_on|bit_wait|rwsem_down|down_|down$|mutex_lock|rt_mutex|folio_wait|"
    r"folio_lock|lock_page|wait_on_page|cond_resched|wait_event|rt_spin_lock|"
    r"percpu_down|wait_woken|synchronize_rcu|flush_work|flush_workqueue|wb_wait)"
)

# --- normalisation of volatile text --------------------------------------------------------

_NORMALIZERS = (
    (re.compile(r"(?::\s*[0-9a-f]{4,16})?\s*\[#\d+\].*$"), ""),
    (re.compile(r"\+0x[0-9a-f]+/0x[0-9a-f]+"), ""),
    (re.compile(r"\(null\)"), "<addr>"),
    (re.compile(r"(?<![\w=])(?:0x)?[0-9a-fA-F]{8,}\b"), "<addr>"),
    (re.compile(r"CPU#\d+"), "CPU#<n>"),
    (re.compile(r"\b([Cc][Pp][Uu]s?:?) \d+(?:-\d+)?"), r"\1 <n>"),
    (re.compile(r"\b(PID|pid|UID|uid)(:? ?)\d+"), r"\1\2<n>"),
    (re.compile(r"stuck for \d+s"), "stuck for <n>s"),
    (re.compile(r"more than \d+ seconds"), "more than <n> seconds"),
    (re.compile(r"\[[^\]\s]*:\d+\]$"), "[<task>]"),
    (re.compile(r"task .+?:\d+ blocked"), "task <task> blocked"),
    (re.compile(r"(\.[chS]):\d+"), r"\1:<n>"),
    (re.compile(r"\s+"), " "),
)


def normalize_text(text):
    """``text`` with the parts that differ between two occurrences of one crash replaced."""
    for pattern, repl in _NORMALIZERS:
        text = pattern.sub(repl, text)
    return text.strip()


def base_function(name):
    """Function name without compiler-generated suffixes (``.cold``, ``.isra.0``, ...)."""
    if name is None or "." not in name:
        return name
    return _SUFFIX.sub("", name) or name


def _message(line):
    """The line without its prefixes (cheap path for ``[   12.345678] message``)."""
    if line[:1] == "[" and line[1:2] in " 0123456789":
        end = line.find("] ")
        # A second bracket may be the printk caller id (CONFIG_PRINTK_CALLER, "[  T2615] ", as
        # Debian 13's kernel logs): the full prefix pattern strips both.
        if 0 < end < 48 and line[end + 2:end + 3] != "[":
            return line[end + 2:]
    match = _PREFIX.match(line)
    return line[match.end():]


def split_prefix(line):
    """Return ``(message, match)``: the line without syslog/level/timestamp prefixes."""
    match = _PREFIX.match(line)
    end = match.end()
    return (line[end:] if end else line), match


def parse_taint(text, pos=0, end=None):
    """``(taint field, release, build)`` of ``text[pos:end]`` that starts with ``Not tainted``
    or ``Tainted: ``, else ``None``.

    The flags are capital letters and spaces; the release is the first word after them and
    starts with a digit; the build is the rest from ``#`` on. Linear in the length.
    """
    if end is None:
        end = len(text)
    if text.startswith("Not tainted", pos, end):
        field, start = "Not tainted", pos + 11
    elif text.startswith("Tainted: ", pos, end):
        field, start = None, pos + 9
    else:
        return None
    for word in _TOKEN.finditer(text, start, end):
        token = word.group()
        if token.isalpha() and token.isupper():
            continue
        if not token[:1].isdigit():
            return None
        if field is None:
            field = "Tainted: " + text[start:word.start()].strip()
        rest = text[word.end():end].strip()
        return field, token, (rest if rest.startswith("#") else None)
    return None


def parse_cpu_line(text, pos=0, end=None):
    """``(cpu, pid, comm, taint field, release, build)`` of a ``CPU: N PID: N Comm: ...``
    dump header at ``text[pos:end]``, else ``None``."""
    if end is None:
        end = len(text)
    head = _CPU_HEAD.match(text, pos, end)
    if head is None:
        return None
    start = head.end()
    best = -1
    for key in (" Not tainted", " Tainted: "):
        found = text.find(key, start, end)
        if found >= 0 and (best < 0 or found < best):
            best = found
    if best < 0:
        return None
    taint = parse_taint(text, best + 1, end)
    if taint is None:
        return None
    comm = text[start:best]
    if comm.endswith(" Kdump: loaded"):
        comm = comm[:-14]
    return (int(head.group(1)), int(head.group(2)), comm) + taint


def parse_linux_version(msg):
    """``(release, build)`` of a ``Linux version ...`` boot line."""
    words = msg[14:].split(None, 1)
    if not words:
        return None, None
    build = None
    if len(words) > 1:
        found = _BUILD_START.search(words[1])
        if found:
            build = words[1][found.start():]
    return words[0], _squash(build)


# --- reading -------------------------------------------------------------------------------


def iter_log_chunks(handle, chunk_size=CHUNK_CHARS, max_line=MAX_LINE):
    """Yield lists of complete lines of a text file object, one read chunk at a time.

    Memory stays bounded by the chunk size: lines longer than ``max_line`` characters are cut
    (their rest is skipped).
    """
    pending = ""
    overflow = False
    while True:
        data = handle.read(chunk_size)
        if not data:
            break
        if overflow:
            cut = data.find("\n")
            if cut < 0:
                continue
            data = data[cut:]
            overflow = False
        lines = (pending + data).split("\n") if pending else data.split("\n")
        pending = lines.pop()
        if len(pending) > max_line:
            pending = pending[:max_line]
            overflow = True
        if lines and max(map(len, lines)) > max_line:
            lines = [line[:max_line] for line in lines]
        yield lines
    if pending:
        yield [pending]


def _scan(text, line_count):
    """``(index, offset)`` of the lines of a chunk that may hold a headline or a boot fact.

    ``text`` is ``"\\n" + "\\n".join(lines) + "\\n"``; ``offset`` is where the line starts in it.
    """
    positions = [found.start() for found in _SCAN_BRACKET.finditer(text)]
    bracketed = text.count("\n[")
    if bracketed < line_count and bracketed + text.count(">[") < line_count:
        positions.extend(found.start() for found in _SCAN_BARE.finditer(text))
        if " kernel: " in text:
            positions.extend(found.start() for found in _SCAN_SYSLOG.finditer(text))
    find = text.find
    for word in _SCAN_ANYWHERE:
        pos = find(word)
        while pos >= 0:
            positions.append(pos)
            pos = find(word, pos + 1)
    positions.sort()
    hits = []
    count = 0
    last = 0
    last_index = -1
    for pos in positions:
        count += text.count("\n", last, pos + 1)
        last = pos + 1
        if count - 1 != last_index:
            last_index = count - 1
            hits.append((last_index, text.rfind("\n", 0, pos + 1) + 1))
    return hits


# --- the parser ----------------------------------------------------------------------------


class _Block(object):
    """What the parser keeps of one event block."""

    __slots__ = (
        "kind", "line", "text", "host", "stamp", "ctime", "die", "cpu", "pid", "comm",
        "taint_raw", "taint", "release", "build", "hardware", "rip", "rip_module", "frames",
        "trace_state", "excerpt", "excerpt_next", "event", "last", "skip_trace",
        "region_start", "budget",
    )

    def __init__(self, kind, line, text):
        self.kind = kind
        self.line = line
        self.text = text
        self.host = self.stamp = self.ctime = self.die = None
        self.cpu = self.pid = self.comm = None
        self.taint_raw = self.taint = self.release = self.build = self.hardware = None
        self.rip = self.rip_module = None
        self.frames = []
        self.trace_state = 0  # 0: no trace yet, 1: inside the first Call Trace, 2: after it
        self.excerpt = None
        self.excerpt_next = 0
        self.event = None
        self.last = line
        self.skip_trace = False
        self.region_start = 0
        self.budget = REGION_CHARS


def _classify(msg):
    """Kind of the headline ``msg`` (``die`` for a die line), or ``None``."""
    if msg.startswith(_PANIC):
        return "panic"
    if "[Hardware Error]" in msg:
        return "mce"
    if msg.startswith("INFO: task ") and _HUNG.match(msg):
        return "hung_task"
    if "BUG: soft lockup" in msg:
        return "soft_lockup"
    if "Watchdog detected hard LOCKUP" in msg:
        return "hard_lockup"
    if msg.startswith(_NULL_DEREF):
        return "null_deref"
    if msg.startswith(("BUG: unable to handle", "Unable to handle kernel")):
        return "oops"
    if msg.startswith("kernel BUG at "):
        return "bug"
    if msg.startswith(("general protection fault", "Oops: general protection fault")):
        return "gpf"
    if "[#" in msg and _DIE.search(msg):
        return "die"
    if "invoked oom-killer:" in msg or msg.startswith("Out of memory and no killable"):
        return "oom"
    if msg.startswith(("WARNING:", "BUG: ")):
        return "warning"
    return None


# Panic texts that name their cause: (pattern, record kind, kind of the event they point at).
_PANIC_CAUSES = (
    (re.compile(r"sysrq triggered crash", re.I), "sysrq", None),
    (re.compile(r"softlockup: hung tasks"), "soft_lockup", "soft_lockup"),
    (re.compile(r"hung_task: blocked tasks"), "hung_task", "hung_task"),
    (re.compile(r"hard lockup", re.I), "hard_lockup", "hard_lockup"),
    (re.compile(r"deadlocked on memory|Out of memory"), "oom", "oom"),
    (re.compile(r"machine check|\bMCE\b|hardware error|Not all CPUs entered broadcast", re.I),
     "mce", "mce"),
    (re.compile(r"VFS: Unable to mount root"), "vfs_root", None),
    (re.compile(r"Attempted to kill init!"), "kill_init", None),
    (re.compile(r"panic_on_warn set"), "panic", "warning"),
    (re.compile(r"Fatal exception"), "panic", "unknown"),
)
_RUN_KINDS = frozenset(("hung_task", "soft_lockup"))
# Lines that only crash paths print: outside a known report they make a crash of unknown shape.
_UNKNOWN_EVIDENCE = ("Modules linked in:", "Kernel Offset:", "---[ end Kernel panic")


def panic_cause(reason):
    """Return ``(kind, linked_event_kind)`` for the text after ``Kernel panic - not syncing:``."""
    for pattern, kind, link in _PANIC_CAUSES:
        if pattern.search(reason):
            return kind, link
    return "panic", None


class TriageParser(object):
    """Streaming parser: ``feed_lines()`` any number of times, then ``record()``."""

    def __init__(self, keep_excerpt=True):
        self.keep_excerpt = keep_excerpt
        self.lineno = 0
        self.tail = []
        self.chunk = []
        self.text = ""
        self.index = 0
        self.offset = 0
        self.line = ""
        self.block = None
        self.anchor = None
        self.kind = None
        self.panic = None
        self.candidates = {}
        self.prev_event_kind = None
        self.events = []
        self.event_count = 0
        self.linux_release = self.linux_build = self.dmi = None
        self.any_cpu = None
        self.excerpt_open = []

    # -- driving --

    def feed_lines(self, lines):
        """Consume an iterable of lines (with or without their line ends)."""
        chunk = []
        for line in lines:
            line = line.rstrip("\r\n")
            chunk.append(line if len(line) <= MAX_LINE else line[:MAX_LINE])
            if len(chunk) >= CHUNK_LINES:
                self.feed_chunk(chunk)
                chunk = []
        if chunk:
            self.feed_chunk(chunk)

    def feed_chunk(self, lines):
        """Consume a list of complete lines without their line ends.

        Only the lines the headline scan reports are looked at one by one; the lines of an
        event block are read with a few searches over the block's text when the block ends (or
        the chunk does).
        """
        if not lines:
            return
        text = "\n" + "\n".join(lines) + "\n"
        base = self.lineno
        self.chunk = lines
        self.text = text
        if self.block is not None:
            self.block.region_start = 1
        for index, offset in _scan(text, len(lines)):
            line = lines[index]
            msg = _message(line).rstrip()
            block = self.block
            if block is not None:
                if msg.startswith("CPU: ") and base + index + 1 - block.line <= BLOCK_SPAN:
                    # A dump header inside the block: read with the block's text.
                    continue
                self._sync(block, offset)
                if base + index + 1 - block.line > BLOCK_SPAN:
                    self.block = None
            self.index = index
            self.offset = offset
            self.line = line
            self._line(msg, base + index + 1)
        if self.block is not None:
            self._sync(self.block, len(text))
        self.lineno = base + len(lines)
        for open_block in self.excerpt_open:
            need = EXCERPT_BEFORE + EXCERPT_AFTER - len(open_block.excerpt)
            if need > 0:
                start = open_block.excerpt_next
                open_block.excerpt.extend(lines[start:start + need])
            open_block.excerpt_next = 0
        self.tail = (self.tail + lines[-EXCERPT_BEFORE:])[-EXCERPT_BEFORE:]
        self.chunk = []
        self.text = ""

    def _window(self):
        """The raw lines up to and including the current one (at most ``EXCERPT_BEFORE``)."""
        i = self.index
        start = i + 1 - EXCERPT_BEFORE
        if start >= 0:
            return self.chunk[start:i + 1]
        return (self.tail + self.chunk[:i + 1])[-EXCERPT_BEFORE:]

    # -- one line the scan reported --

    def _line(self, msg, lineno):
        block = self.block
        kind = _classify(msg)
        if kind is not None:
            if kind == "die":
                if (block is not None and block.kind in OOPS_KINDS and block.die is None
                        and lineno - block.line <= DIE_ATTACH_LINES):
                    block.die = msg
                    return
                kind = "oops"
            elif (kind == "mce" and block is not None and block.kind == "mce"
                  and lineno - block.last <= 2):
                block.last = lineno
                if block.cpu is None:
                    self._headline_fields(block, msg)
                return
            self._open(kind, msg, lineno)
            return
        if block is None:
            self._outside(msg, lineno)
            return
        if block.kind == "context" and msg.startswith(_UNKNOWN_EVIDENCE):
            self._promote_unknown(block)

    def _outside(self, msg, lineno):
        if msg.startswith("Linux version "):
            if self.linux_release is None:
                self.linux_release, self.linux_build = parse_linux_version(msg)
            return
        if msg.startswith("DMI: "):
            if self.dmi is None:
                self.dmi = msg[5:].strip()
            return
        if msg.startswith("CPU: ") and parse_cpu_line(msg):
            block = self._new_block("context", self._lookback(), lineno)
            block.region_start = self.offset
            self.block = block
            return
        if msg.startswith(_UNKNOWN_EVIDENCE):
            block = self._new_block("context", self._lookback(), lineno)
            block.region_start = self.offset
            self.block = block
            self._promote_unknown(block)

    def _lookback(self):
        """The nearest earlier line that is not part of a register/stack dump."""
        for line in reversed(self._window()[:-1]):
            msg, _match = split_prefix(line)
            if not _CONTEXT_LINE.match(msg):
                return msg.strip()
        return None

    def _new_block(self, kind, text, lineno):
        block = _Block(kind, lineno, text)
        match = _PREFIX.match(self.line)
        block.host = match.group("host")
        block.stamp = match.group("stamp")
        block.ctime = match.group("ctime")
        block.region_start = self.text.find("\n", self.offset) + 1
        if self.keep_excerpt and self.anchor is None:
            self._prune_excerpts()
            block.excerpt = self._window()
            block.excerpt_next = self.index + 1
            self.excerpt_open.append(block)
        return block

    def _prune_excerpts(self):
        """Keep collecting excerpt lines only for blocks that can still be the anchor."""
        if self.anchor is not None:
            keep = (self.anchor,)
        else:
            keep = tuple(self.candidates.values())
        self.excerpt_open = [b for b in self.excerpt_open if any(b is k for k in keep)]

    def _add_event(self, block, fatal):
        self.event_count += 1
        event = {"kind": block.kind, "line": block.line, "text": block.text or "",
                 "fatal": fatal}
        block.event = event
        if len(self.events) < MAX_EVENTS:
            self.events.append(event)

    def _promote_unknown(self, block):
        block.kind = "unknown"
        self._add_event(block, False)
        if "unknown" not in self.candidates:
            self.candidates["unknown"] = block
        self.prev_event_kind = "unknown"

    def _open(self, kind, msg, lineno):
        block = self._new_block(kind, msg, lineno)
        self.block = block
        fatal = kind == "panic" or kind in OOPS_KINDS
        self._add_event(block, fatal)
        self._headline_fields(block, msg)
        if self.anchor is None:
            if kind == "panic":
                self._resolve_panic(block)
            elif kind in OOPS_KINDS:
                self.anchor = block
                self.kind = kind
            else:
                if kind not in _RUN_KINDS or self.prev_event_kind != kind:
                    self.candidates[kind] = block
        elif self.panic is None and kind == "panic":
            self.panic = block
        self.prev_event_kind = kind
        if self.anchor is not None and block is not self.anchor:
            # Past the crash only the first panic's own lines can still add anything.
            if block is self.panic:
                block.skip_trace = bool(self.anchor.frames) or self.anchor.rip is not None
            else:
                block.trace_state = 2
        if self.excerpt_open and self.anchor is not None:
            self._prune_excerpts()

    def _resolve_panic(self, block):
        reason = block.text[len(_PANIC):].strip()
        kind, link = panic_cause(reason)
        target = self.candidates.get(link) if link else None
        if link == "unknown":
            kind = "oops" if target is not None else "panic"
        self.anchor = target if target is not None else block
        self.kind = kind
        self.panic = block

    @staticmethod
    def _headline_fields(block, msg):
        kind = block.kind
        found = None
        if kind == "soft_lockup":
            found = _SOFT.search(msg)
            if found:
                block.cpu, block.comm, block.pid = (int(found.group(1)), found.group(2),
                                                    int(found.group(3)))
        elif kind == "hung_task":
            found = _HUNG.match(msg)
            if found:
                block.comm, block.pid = found.group(1), int(found.group(2))
        elif kind == "hard_lockup":
            found = _HARD.search(msg)
            if found:
                block.cpu = int(found.group(1))
        elif kind == "mce":
            found = _MCE_CPU.search(msg)
            if found:
                block.cpu = int(found.group(1))
        elif kind == "warning":
            found = _WARN.match(msg)
            if found:
                block.cpu, block.pid = int(found.group(1)), int(found.group(2))

    # -- the lines of a block --

    def _sync(self, block, end):
        """Read the block's lines up to offset ``end`` of the current chunk text."""
        start = block.region_start
        if start >= end:
            return
        block.region_start = end
        if block.trace_state == 2 or block.budget <= 0:
            return
        stop = min(end, start + block.budget)
        block.budget -= stop - start
        text = self.text
        if block.trace_state == 0:
            trace = text.find("Call Trace", start, stop)
            other = text.find("Call trace", start, stop)
            if trace < 0 or 0 <= other < trace:
                trace = other
            self._header(block, text, start, stop if trace < 0 else trace)
            if trace < 0:
                return
            if block.skip_trace:
                block.trace_state = 2
                return
            block.trace_state = 1
            start = text.find("\n", trace) + 1
            if start >= stop:
                return
        run_end = _TRACE_RUN.match(text, start, stop).end()
        room = MAX_FRAMES - len(block.frames)
        if room > 0:
            # (question mark, name, module, "(unreliable)") per frame
            block.frames.extend(_FRAME_IN_TEXT.findall(text, start - 1, run_end)[:room])
        if run_end < stop:
            block.trace_state = 2

    def _header(self, block, text, start, end):
        """Fields of the lines before a block's call trace (``text[start:end]``)."""
        find = text.find
        if block.pid is None or block.release is None:
            pos = find("CPU: ", start, end)
            while pos >= 0:
                eol = find("\n", pos)
                found = parse_cpu_line(text, pos, eol)
                if found:
                    if block.cpu is None:
                        block.cpu = found[0]
                    if block.pid is None:
                        block.pid = found[1]
                    if block.comm is None:
                        block.comm = found[2]
                    if block.release is None:
                        self._taint(block, found[3], found[4], found[5])
                    break
                pos = find("CPU: ", eol, end)
        if block.hardware is None:
            pos = find("Hardware name: ", start, end)
            if pos >= 0:
                block.hardware = text[pos + 15:find("\n", pos)].strip()
        if block.rip is None:
            best = None
            for key in _RIP_KEYS:
                pos = find(key, start, end)
                while pos >= 0 and (best is None or pos < best[0]):
                    eol = find("\n", pos)
                    found = _SYMBOL.search(text, pos, eol)
                    if found:
                        best = (pos, found)
                        break
                    pos = find(key, eol, end)
            if best is not None:
                block.rip, block.rip_module = best[1].group(1, 2)
        if block.release is None:
            for key in ("Not tainted", "Tainted: "):
                pos = find(key, start, end)
                while pos >= 0:
                    eol = find("\n", pos)
                    found = parse_taint(text, pos, eol)
                    if found:
                        self._taint(block, *found)
                        break
                    pos = find(key, eol, end)
                if block.release is not None:
                    break
        if block.taint is None:
            pos = find("Tainted: [", start, end)
            if pos >= 0:
                eol = find("\n", pos)
                block.taint = _TAINT_VERBOSE.findall(text, pos, eol)
                block.taint_raw = text[pos + 9:eol].strip()

    def _taint(self, block, taint, release, build):
        if taint == "Not tainted":
            block.taint_raw, block.taint = taint, []
        else:
            raw = taint[len("Tainted: "):].rstrip()
            block.taint_raw = raw
            block.taint = [flag for flag in raw if flag not in " G"]
        block.release = release
        block.build = _squash(build)
        if self.any_cpu is None:
            self.any_cpu = block

    # -- the result --

    def record(self):
        """The triage record; ``ParseError`` when the log shows no crash."""
        anchor, kind = self.anchor, self.kind
        if anchor is None:
            anchor = self.candidates.get("unknown")
            kind = "unknown"
        if anchor is None:
            raise ParseError(self._no_crash_message())
        panic = self.panic
        sources = [b for b in (anchor, panic, self.any_cpu) if b is not None]

        frames = anchor.frames
        rip, rip_module = anchor.rip, anchor.rip_module
        if not frames and rip is None and panic is not None and panic is not anchor:
            frames, rip, rip_module = panic.frames, panic.rip, panic.rip_module
        reliable = [(f[1], f[2] or None) for f in frames if not (f[0] or f[3])]
        if not reliable:
            reliable = [(f[1], f[2] or None) for f in frames]
        function, module, rest = _pick_function(kind, rip, rip_module, reliable)
        if kind in OOPS_KINDS and function == "sysrq_handle_crash":
            kind = "sysrq"

        panic_reason = panic.text[len(_PANIC):].strip() if panic is not None else None
        headline = anchor.text
        if panic_reason is None:
            panic_reason = headline
        taint_block = _first_with(sources, "taint")
        release_block = _first_with(sources, "release")
        release = release_block.release if release_block else self.linux_release
        build = release_block.build if release_block else None
        if self.linux_build and (release is None or release == self.linux_release):
            build = self.linux_build
        hardware_block = _first_with(sources, "hardware")
        cpu_block = _first_with((anchor, panic), "cpu")
        reason = canonical_reason(kind, headline, panic_reason, anchor.kind)
        signature, signature_text = compute_signature(kind, reason, function, module, rest)
        record = {
            "kind": kind,
            "panic_reason": panic_reason,
            "headline": headline,
            "function": function,
            "module": module,
            "taint": list(taint_block.taint) if taint_block else [],
            "taint_raw": taint_block.taint_raw if taint_block else None,
            "comm": _first_value((anchor, panic), "comm"),
            "pid": _first_value((anchor, panic), "pid"),
            "cpu": cpu_block.cpu if cpu_block else None,
            "kernel_release": release,
            "kernel_build": build,
            "hardware": hardware_block.hardware if hardware_block else self.dmi,
            "call_trace": [f[0] for f in reliable],
            "signature": signature,
            "signature_text": signature_text,
            "line": anchor.line,
            "host": _first_value((anchor, panic), "host"),
            "crash_time": _crash_time(anchor) or (_crash_time(panic) if panic else None),
            "events": [dict(e) for e in self.events],
            "event_count": self.event_count,
        }
        if self.keep_excerpt:
            record["excerpt"] = list(anchor.excerpt or [])
        return record

    def _no_crash_message(self):
        if not self.lineno:
            return "the kernel log is empty"
        seen = collections.OrderedDict()
        for event in self.events:
            seen.setdefault(event["kind"], event["line"])
        if seen:
            found = ", ".join("%s (first at line %d)" % item for item in seen.items())
            return ("no crash in %d lines of kernel log: no 'Kernel panic - not syncing', Oops, "
                    "BUG or general protection fault; only non-fatal events: %s"
                    % (self.lineno, found))
        return ("no crash in %d lines of kernel log: no 'Kernel panic - not syncing', Oops, BUG, "
                "general protection fault, lockup, hung task or machine check report"
                % self.lineno)


def _squash(text):
    return " ".join(text.split()) if text else None


def _first_with(blocks, attr):
    for block in blocks:
        if block is not None and getattr(block, attr) is not None:
            return block
    return None


def _first_value(blocks, attr):
    block = _first_with(blocks, attr)
    return getattr(block, attr) if block is not None else None


def _crash_time(block):
    if block.stamp and block.stamp[:1].isdigit():
        return block.stamp.replace(" ", "T", 1)
    if block.ctime:
        try:
            return datetime.datetime.strptime(block.ctime, "%a %b %d %H:%M:%S %Y").isoformat()
        except ValueError:
            return None
    return None


def _skip(kind, name):
    if name in _HELPER_FRAMES:
        return True
    if kind == "oom" and name in _OOM_FRAMES:
        return True
    if kind == "hung_task" and _WAIT_FRAME.match(name):
        return True
    return False


def _pick_function(kind, rip, rip_module, frames):
    """Return ``(function, module, following_frames)`` of ``(name, module)`` frames.

    Only as many frames are looked at as the signature needs.
    """
    function = base_function(rip)
    module = rip_module if rip is not None else None
    rest = []
    for name, frame_module in frames:
        base = base_function(name)
        if _skip(kind, base):
            continue
        if function is None:
            function, module = base, frame_module
        elif not rest and base == function and rip is not None:
            continue
        else:
            rest.append((base, frame_module))
            if len(rest) >= SIGNATURE_FRAMES:
                break
    return function, module, rest


def canonical_reason(kind, headline, panic_reason, anchor_kind=None):
    """The reason text that enters the signature (same wording on every kernel version)."""
    headline = headline or ""
    if kind == "sysrq":
        return "sysrq triggered crash"
    if kind == "null_deref":
        return "kernel NULL pointer dereference"
    if kind == "gpf":
        return "general protection fault"
    if kind == "bug":
        found = _KBUG.search(headline)
        if found:
            path = found.group(1)
            return "kernel BUG at %s" % (os.path.basename(path) if path.startswith("/") else path)
        return normalize_text(headline)
    if kind == "oops":
        if "paging request" in headline or "page fault" in headline:
            return "unable to handle kernel paging request"
        if anchor_kind in (None, "oops"):
            return normalize_text(headline)
        return "oops"
    if kind == "soft_lockup":
        return "soft lockup"
    if kind == "hard_lockup":
        return "hard LOCKUP"
    if kind == "hung_task":
        return "hung task"
    if kind == "panic" and anchor_kind == "warning":
        found = _WARN_AT.match(headline)
        if found:
            return "WARNING at %s" % found.group(1)
        return normalize_text(headline)
    if kind in ("oom", "mce", "vfs_root", "kill_init", "panic"):
        return normalize_text(panic_reason or headline)
    return normalize_text(headline)


def compute_signature(kind, reason, function, module, frames):
    """Return ``(signature, signature_text)``; see the module docstring for the design."""
    parts = ["kind=%s" % kind, "reason=%s" % (reason or "")]
    if kind not in PATH_INSENSITIVE_KINDS:
        parts.append("function=%s" % (function or ""))
        parts.append("module=%s" % (module or ""))
        parts.append("frames=%s" % " < ".join(
            "%s [%s]" % (name, mod) if mod else name
            for name, mod in list(frames)[:SIGNATURE_FRAMES]))
    text = " | ".join(parts)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16], text


# --- entry points --------------------------------------------------------------------------


def triage_lines(lines, keep_excerpt=True):
    """Triage an iterable of kernel log lines."""
    parser = TriageParser(keep_excerpt=keep_excerpt)
    parser.feed_lines(lines)
    return parser.record()


def triage_text(text, keep_excerpt=True):
    """Triage the kernel log ``text``."""
    if not isinstance(text, str):
        raise ParseError("the kernel log must be text, not %s" % type(text).__name__)
    return triage_lines(io.StringIO(text), keep_excerpt=keep_excerpt)


def triage_file(path, keep_excerpt=True):
    """Triage the kernel log file ``path``, read in bounded chunks."""
    try:
        with io.open(path, "r", encoding="utf-8", errors="replace") as handle:
            parser = TriageParser(keep_excerpt=keep_excerpt)
            for lines in iter_log_chunks(handle):
                parser.feed_chunk(lines)
            return parser.record()
    except (IOError, OSError) as exc:
        raise HostError("cannot read kernel log %s: %s" % (path, exc))
    except ParseError as exc:
        raise ParseError("%s: %s" % (path, exc))


def find_bundle_log(directory):
    """The kernel log of a kdump bundle directory.

    ``vmcore-dmesg.txt`` (RHEL), then ``dmesg.txt``, then the newest ``dmesg.<stamp>``
    (kdump-tools).
    """
    try:
        names = os.listdir(directory)
    except (IOError, OSError) as exc:
        raise HostError("cannot list bundle directory %s: %s" % (directory, exc))
    for name in BUNDLE_NAMES:
        if name in names and os.path.isfile(os.path.join(directory, name)):
            return os.path.join(directory, name)
    stamped = sorted(n for n in names if n.startswith("dmesg.") and not n.endswith(
        (".gz", ".xz", ".bz2", ".zst")) and os.path.isfile(os.path.join(directory, n)))
    if stamped:
        return os.path.join(directory, stamped[-1])
    raise HostError("no kernel log in bundle directory %s (looked for %s and dmesg.*)"
                    % (directory, ", ".join(BUNDLE_NAMES)))


def group_records(records):
    """Map each signature to its records, in order of first appearance."""
    groups = collections.OrderedDict()
    for record in records:
        groups.setdefault(record["signature"], []).append(record)
    return groups
