# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""The fleet report rendered by Jinja2: Markdown and self-contained HTML from one model.

Templates are the Python string constants of ``_fleettemplates`` (AnsiballZ ships ``.py`` files
only; a copy of ``plugins/module_utils`` on a dump server has them too). Escaping is the
engine's, never the template author's:

* HTML: ``autoescape=True``; every ``{{ value }}`` is HTML-escaped, values reach the page as text.
  The page carries a Content-Security-Policy that allows only its own inline style and script (by
  SHA-256), so not even an escaping mistake could run a script or load anything from outside.
* Markdown: an extension of the environment (``_MarkdownEscape``) makes every ``{{ value }}``
  go through ``md_escape``, which escapes it for CommonMark/GFM
  (``md_text``: backslash before ``\\ ` * [ ] < > & | ~`` and a ``_`` that is not inside a word,
  whitespace runs and line breaks as one space), so a hostile kernel log line is text, not HTML,
  a link or a table cell border. Code is made by the ``code``/``cellcode`` filters (a backtick
  fence longer than any backtick run of the text) and ``fence`` (a code block whose fence no
  line of the log can close).

Both map control characters to visible symbols (U+2400 block), and bidirectional overrides to
U+FFFD, so a log cannot hide or reorder what the reader sees.

``render_markdown(report, title)`` renders a ``FleetReport.report()`` (or a store report);
``render_store(model)`` every file of a store report: ``[(relative path, text)]``, the crash pages
first, then ``report.json``, ``report.md`` and ``report.html``.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import json
import re

from ansible_collections.crashkit.kdump.plugins.module_utils import _fleetreport as fr
from ansible_collections.crashkit.kdump.plugins.module_utils import _fleettemplates as tpl
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import HostError

try:
    import jinja2
    import jinja2.ext
    import jinja2.lexer
    from markupsafe import Markup
    HAS_JINJA2 = True
    JINJA2_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - tested by faking the import
    jinja2 = Markup = None
    HAS_JINJA2 = False
    JINJA2_IMPORT_ERROR = exc

JINJA2_MISSING = ("the fleet report needs the Python library Jinja2 (>= 2.10) where it is rendered: "
                  "install python3-jinja2 (Debian, Ubuntu, RHEL, SUSE) or 'pip install jinja2'")

# Signature colours: the 8 biggest signatures of the chart window, then "other".
PALETTE = 8
SERIES_OTHER = "other"
CHART_DAYS = (30, 90)
RECENT_MAX = 200
GROUP_CRASHES_MAX = 50
HISTORY_DOTS = 12

_CONTROLS = dict((code, 0x2400 + code) for code in range(0x20))
_CONTROLS[0x7f] = 0x2421
_CONTROLS.update((code, 0xfffd) for code in range(0x80, 0xa0))
_CONTROLS.update((code, 0xfffd) for code in (0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e,
                                             0x2066, 0x2067, 0x2068, 0x2069))
_LINE_CONTROLS = dict(_CONTROLS)
del _LINE_CONTROLS[0x09]
# Backslash before what CommonMark/GFM would read as markup; "_" only where it could start or end
# emphasis (not between two letters or digits, as in sysrq_handle_crash).
_MD_SPECIAL = re.compile(r"([\\`*\[\]<>&|~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
_BACKTICKS = re.compile(r"`+")


def visible(text, keep_tabs=False):
    """``text`` with control characters as visible symbols, bidi overrides as U+FFFD."""
    return text.translate(_LINE_CONTROLS if keep_tabs else _CONTROLS)


class MarkdownSafe(str):
    """Markdown that is already escaped (made by a filter); ``md_escape`` leaves it alone."""


def md_text(text):
    """One line of inline Markdown showing exactly ``text`` (whitespace runs collapsed)."""
    return _MD_SPECIAL.sub(r"\\\1", visible(" ".join(text.split())))


def _md_code(value, in_table):
    if value is None:
        return MarkdownSafe("-")
    text = visible(" ".join(str(value).split()))
    if not text:
        return MarkdownSafe("-")
    longest = max([len(run) for run in _BACKTICKS.findall(text)] or [0])
    fence = "`" * (longest + 1)
    if text.startswith("`") or text.endswith("`"):
        text = " %s " % text
    if in_table:
        text = text.replace("|", "\\|")
    return MarkdownSafe("%s%s%s" % (fence, text, fence))


def md_code(value):
    """An inline code span of ``value`` (outside tables)."""
    return _md_code(value, False)


def md_cellcode(value):
    """An inline code span of ``value`` inside a GFM table cell (``|`` escaped for the table)."""
    return _md_code(value, True)


def md_fence(lines, info="text"):
    """A fenced code block of ``lines``: its backtick fence is longer than any run in them."""
    lines = [visible(line, keep_tabs=True) for line in lines]
    longest = max([len(run) for line in lines for run in _BACKTICKS.findall(line)] or [0])
    fence = "`" * max(3, longest + 1)
    return MarkdownSafe("\n".join([fence + info] + lines + [fence]))


def md_link(text, href):
    """``[text](href)``; ``href`` is a relative path the model percent-encoded."""
    return MarkdownSafe("[%s](%s)" % (md_text(str(text)), href.replace("(", "%28").replace(")", "%29")
                                      .replace(" ", "%20").replace("<", "%3C").replace(">", "%3E")))


def md_escape(value):
    """What every ``{{ value }}`` of a Markdown template becomes (see ``_MarkdownEscape``)."""
    if isinstance(value, MarkdownSafe):
        return value
    if value is None or value == "":
        return MarkdownSafe("-")
    return MarkdownSafe(md_text(value if isinstance(value, str) else str(value)))


if HAS_JINJA2:
    class _MarkdownEscape(jinja2.ext.Extension):
        """Autoescape for Markdown: every ``{{ expression }}`` is compiled as ``{{ (expression)|md_escape }}``.

        (Jinja2's ``finalize`` would do it too, but Jinja2 < 2.11, as RHEL 8 ships it, also
        applies ``finalize`` to the template's own text.)
        """

        def filter_stream(self, stream):
            token_class = jinja2.lexer.Token
            for token in stream:
                if token.type == "variable_end":
                    yield token_class(token.lineno, "rparen", ")")
                    yield token_class(token.lineno, "pipe", "|")
                    yield token_class(token.lineno, "name", "md_escape")
                yield token
                if token.type == "variable_begin":
                    yield token_class(token.lineno, "lparen", "(")


def _html_finalize(value):
    if Markup is not None and isinstance(value, Markup):
        return value
    if value is None:
        return u"\u2014"
    if isinstance(value, str):
        return visible(value, keep_tabs=True)
    return value


# --- filters shared by both formats -------------------------------------------------------------

def plural(count, word, many=None):
    return "%d %s" % (count, word if count == 1 else (many or word + "s"))


def short_list(items, limit=5):
    items = [item for item in items or [] if item]
    if not items:
        return None
    text = ", ".join(items[:limit])
    if len(items) > limit:
        text += " (+%d more)" % (len(items) - limit)
    return text


def where(group):
    if not group.get("function"):
        return None
    if group.get("module"):
        return "%s [%s]" % (group["function"], group["module"])
    return group["function"]


def yes_no(value):
    if value is None:
        return None
    return "yes" if value else "no"


def short_time(iso):
    """``2024-06-01 09:02`` of ``2024-06-01T09:02:00Z``."""
    if not iso:
        return None
    return iso.replace("T", " ")[:16]


def size(value):
    if value is None:
        return None
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= scale:
            return "%.1f %s" % (value / float(scale), unit)
    return "%d B" % value


def duration(seconds):
    if seconds is None:
        return None
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return "%dd %dh %dm" % (days, hours, minutes)
    if hours:
        return "%dh %dm %ds" % (hours, minutes, seconds)
    return "%dm %ds" % (minutes, seconds) if minutes else "%ds" % seconds


_FILTERS = {
    "plural": plural, "short_list": short_list, "where": where, "yes_no": yes_no,
    "short_time": short_time, "size": size, "duration": duration,
    "panic_detail": fr.panic_detail, "host_summary": fr.host_summary,
}

_ENVIRONMENTS = {}


def environment(kind):
    """The Jinja2 environment of ``"html"`` or ``"markdown"`` (``HostError`` without Jinja2)."""
    if not HAS_JINJA2:
        raise HostError("%s (%s)" % (JINJA2_MISSING, JINJA2_IMPORT_ERROR))
    if kind not in _ENVIRONMENTS:
        loader = jinja2.DictLoader(tpl.HTML_TEMPLATES if kind == "html" else tpl.MARKDOWN_TEMPLATES)
        if kind == "html":
            env = jinja2.Environment(loader=loader, autoescape=True, finalize=_html_finalize,
                                     trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
        else:
            env = jinja2.Environment(loader=loader, autoescape=False, extensions=[_MarkdownEscape],
                                     trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                                     undefined=jinja2.StrictUndefined)
            env.filters.update(code=md_code, cellcode=md_cellcode, fence=md_fence, link=md_link,
                               md_escape=md_escape)
        env.filters.update(_FILTERS)
        _ENVIRONMENTS[kind] = env
    return _ENVIRONMENTS[kind]


# --- Markdown -----------------------------------------------------------------------------------

def render_markdown(report, title="Kernel crash report", crashes=None):
    """A ``FleetReport.report()`` (or a store report, with its ``crashes``) as a Markdown page."""
    report = dict(report)
    report.setdefault("hosts", [])
    report.setdefault("panic_tests", {})
    recent = sorted([c for c in crashes or [] if not c["error"] and not c.get("attempt_of")], key=_newest_first)
    latest_of = {}
    for crash in recent:
        if crash["signature"] not in latest_of:
            anchor = crash["anchor"] or 0
            latest_of[crash["signature"]] = dict(crash, excerpt_short=crash["excerpt"][max(0, anchor - 3):anchor + 12])
    return environment("markdown").get_template("report.md").render(
        title=title, r=report, rows=report["hosts"], recent=recent[:RECENT_MAX], latest_of=latest_of,
        unreadable=(report["panic_tests"] or {}).get("unreadable") or [])


# --- HTML view ----------------------------------------------------------------------------------

def _newest_first(crash):
    return (crash["time"] is None, -(crash["time"] or 0), crash["key"])


def _series(window, groups):
    """Signatures with a colour of their own (the ``PALETTE`` biggest in the window), in order."""
    counts = dict((signature, sum(days.values())) for signature, days in window["signatures"].items())
    order = dict((group["signature"], index) for index, group in enumerate(groups))
    ranked = sorted(counts, key=lambda s: (-counts[s], order.get(s, len(order)), s))
    return ranked[:PALETTE]


def _nice(peak):
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if peak <= step * 4:
            return step * ((peak + step - 1) // step or 1), step
    step = 10 ** len(str(peak))
    return step, step // 4


def chart(window, days, colours, labels, width=960, height=220):
    """Geometry of a stacked bar chart of the last ``days`` days of ``window`` (``fr.timeline``)."""
    left, right, top, bottom = 40, 10, 12, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    offset = len(window["total"]) - days
    totals = window["total"][offset:]
    top_value, step = _nice(max(totals) or 1)
    slot = plot_w / float(days)
    gap = max(1.0, slot * 0.18)
    series = [(signature, colours[signature]) for signature in colours if signature != SERIES_OTHER]
    bars = []
    for index, total in enumerate(totals):
        if not total:
            continue
        day = offset + index
        base = float(top + plot_h)
        segments = []
        rest = total
        for signature, colour in series:
            count = window["signatures"].get(signature, {}).get(day, 0)
            if count:
                segments.append((signature, colour, count, labels.get(signature, signature)))
                rest -= count
        if rest:
            segments.append((SERIES_OTHER, colours[SERIES_OTHER], rest, "other signatures"))
        parts = []
        for signature, colour, count, label in segments:
            h = count * plot_h / float(top_value)
            base -= h
            parts.append({"signature": signature, "colour": colour, "count": count, "label": label,
                          "y": round(base, 1), "h": round(h, 1)})
        bars.append({"day": window["days"][day], "total": total, "x": round(left + index * slot + gap / 2, 1),
                     "w": round(slot - gap, 1), "segments": parts})
    ticks = [{"value": value, "y": round(top + plot_h - value * plot_h / float(top_value), 1)}
             for value in range(0, top_value + 1, step)]
    every = 5 if days <= 30 else 14
    labels_x = [{"text": window["days"][offset + index][5:], "x": round(left + (index + 0.5) * slot, 1)}
                for index in range(days - 1, -1, -every)]
    return {"days": days, "width": width, "height": height, "left": left, "right": width - right,
            "base": top + plot_h, "bars": bars, "ticks": ticks, "labels": labels_x,
            "total": sum(totals), "first": window["days"][offset], "last": window["days"][-1]}


def sparkline(window, signature, width=120, height=22):
    counts = window["signatures"].get(signature, {})
    if not counts:
        return None
    peak = max(counts.values())
    slot = width / float(len(window["total"]))
    return {"width": width, "height": height, "bars": [
        {"x": round(day * slot, 1), "w": round(max(slot, 1.5), 1),
         "h": round(max(2.0, count * (height - 2) / float(peak)), 1),
         "y": round(height - max(2.0, count * (height - 2) / float(peak)), 1),
         "day": window["days"][day], "count": count} for day, count in sorted(counts.items())]}


def _label(group):
    place = where(group)
    return "%s in %s" % (group["kind"], place) if place else group["kind"]


def _sha256_csp(text):
    return "'sha256-%s'" % base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def html_view(model):
    """What ``report.html`` and the crash pages show, computed once (plain data, no markup)."""
    report, window = model["report"], model["window"]
    groups = report["groups"]
    series = _series(window, groups)
    colours = dict((signature, "c%d" % index) for index, signature in enumerate(series))
    colours[SERIES_OTHER] = "cx"
    labels = dict((group["signature"], _label(group)) for group in groups)
    by_signature = {}
    crashes = sorted(model["crashes"], key=_newest_first)
    for crash in crashes:
        if not crash["error"] and not crash.get("attempt_of"):
            by_signature.setdefault(crash["signature"], []).append(crash)
    new_signatures = set(report.get("new_signatures") or [])
    view_groups = []
    for number, group in enumerate(groups, 1):
        view_groups.append(dict(group, number=number, label=labels[group["signature"]],
                                colour=colours.get(group["signature"], "cx"),
                                spark=sparkline(window, group["signature"]),
                                crash_list=by_signature.get(group["signature"], [])[:GROUP_CRASHES_MAX],
                                is_new=group["signature"] in new_signatures))
    history = report.get("panic_history") or {}
    rows = []
    for row in report["hosts"]:
        ready = (row["readiness"] or {}).get("ready")
        rows.append(dict(row, state="ok" if ready is True else ("bad" if ready is False else "unk"),
                         history=list(reversed(history.get(row["host"], [])[:HISTORY_DOTS]))))
    not_ready = [row for row in rows if row["state"] == "bad"]
    tests = [row["panic_test"] for row in rows if row["panic_test"]]
    attention = []
    for index, row in enumerate(rows):
        if row["state"] == "bad":
            problems = row["readiness"]["problems"] or ["not ready (no reason given)"]
            attention.append({"level": "bad", "tag": "not ready", "subject": row["host"], "text": problems[0],
                              "more": len(problems) - 1, "href": "#host-%d" % index})
    for index, row in enumerate(rows):
        test = row["panic_test"]
        if test and test["status"] != "pass":
            attention.append({"level": "bad", "tag": "panic test %s" % test["status"], "subject": row["host"],
                              "text": fr.panic_detail(test), "more": 0, "href": "#host-%d" % index})
    for group in view_groups:
        if group["is_new"]:
            text = "first seen %s on %s" % (short_time(group["first_seen"]), short_list(group["hosts"], 3))
            attention.append({"level": "new", "tag": "new signature", "subject": group["label"], "text": text,
                              "more": 0, "href": "#sig-%s" % group["signature"]})
    if report["failed"]:
        attention.append({"level": "warn", "tag": "not triaged", "more": 0, "href": "#failed",
                          "subject": plural(len(report["failed"]), "crash", "crashes"),
                          "text": "could not be read or triaged"})
    legend = [{"signature": signature, "colour": colours[signature], "label": labels.get(signature, signature),
               "count": sum(window["signatures"][signature].values())} for signature in series]
    other = sum(window["total"]) - sum(item["count"] for item in legend)
    if other:
        legend.append({"signature": SERIES_OTHER, "colour": "cx", "label": "other signatures", "count": other})
    return {
        "groups": view_groups, "colours": colours, "rows": rows, "recent": crashes[:RECENT_MAX],
        "recent_more": max(0, len(crashes) - RECENT_MAX),
        "charts": [chart(window, days, colours, labels) for days in CHART_DAYS], "legend": legend,
        "attention": attention, "not_ready": len(not_ready),
        "readiness_known": sum(1 for row in rows if row["readiness"]),
        "panic_pass": sum(1 for test in tests if test["status"] == "pass"), "panic_total": len(tests),
        "unreadable": (report.get("panic_tests") or {}).get("unreadable") or [],
        "labels": labels,
    }


def _page(template, **values):
    env = environment("html")
    css, script = Markup(tpl.CSS), Markup(tpl.SCRIPT)
    csp = "default-src 'none'; style-src %s; script-src %s; img-src 'none'; base-uri 'none'; form-action 'none'" % (
        _sha256_csp(tpl.CSS), _sha256_csp(tpl.SCRIPT))
    return env.get_template(template).render(css=css, script=script, csp=csp, **values)


def render_store(model):
    """Every file of a store report: ``[(path relative to the store, text)]``, crash pages first."""
    if not HAS_JINJA2:
        raise HostError("%s (%s)" % (JINJA2_MISSING, JINJA2_IMPORT_ERROR))
    view = html_view(model)
    report = model["report"]
    files = []
    groups = dict((group["signature"], group) for group in view["groups"])
    for crash in model["crashes"]:
        if not crash["page"]:
            continue
        group = groups.get(crash["signature"]) if not crash["error"] else None
        others = [other for other in (group or {}).get("crash_list", []) if other["key"] != crash["key"]][:20]
        first_line = None
        if crash.get("line") and crash["anchor"] is not None:
            first_line = crash["line"] - crash["anchor"]
        files.append((crash["page"], _page("crash.html", title=model["title"], c=crash, group=group,
                                           others=others, root="../../", first_line=first_line,
                                           as_of=model["as_of"])))
    files.append(("report.json", json.dumps(report, indent=2, sort_keys=True) + "\n"))
    files.append(("report.md", render_markdown(report, model["title"], model["crashes"])))
    files.append(("report.html", _page("index.html", title=model["title"], r=report, v=view, root="",
                                       as_of=model["as_of"])))
    return files
