# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rendering of the fleet report: escaping by the template engine for each format.

Markdown is checked by rendering it with a CommonMark + GFM-table parser (markdown-it-py) with raw
HTML allowed, as GitHub-like viewers do: whatever a host put in its kernel log must come out as
the same text, never as an element, a link or a table cell border.
"""
from __future__ import absolute_import, division, print_function

import html
import html.parser
import io
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fleet_store
from ansible_collections.crashkit.kdump.plugins.module_utils import _fleetreport as fr
from ansible_collections.crashkit.kdump.plugins.module_utils import _fleetrender as rd
from ansible_collections.crashkit.kdump.plugins.module_utils import _triage as tr
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import HostError

markdown_it = pytest.importorskip("markdown_it", reason="markdown-it-py (a dependency of ansible-lint's rich) is needed")
MD = markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table")


class Elements(html.parser.HTMLParser):
    """Every start tag with its attributes, and the text of the elements of interest."""

    def __init__(self):
        html.parser.HTMLParser.__init__(self, convert_charrefs=True)
        self.tags = []
        self.stack = []
        self.texts = {}

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.stack.append([tag, dict(attrs), []])

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        while self.stack:
            name, attrs, parts = self.stack.pop()
            text = "".join(parts)
            self.texts.setdefault(name, []).append(text)
            if attrs.get("id"):
                self.texts["#" + attrs["id"]] = [text]
            if self.stack:
                self.stack[-1][2].append(text)
            if name == tag:
                break

    def handle_data(self, data):
        if self.stack:
            self.stack[-1][2].append(data)


def elements(markup):
    parser = Elements()
    parser.feed(markup)
    parser.close()
    return parser


def assert_inert(markup, scripts=0):
    """No element, attribute or link of the HTML came from data (``scripts``: the page's own)."""
    found = elements(markup)
    names = [tag for tag, _attrs in found.tags]
    assert "img" not in names and "iframe" not in names and "object" not in names
    assert [attrs for tag, attrs in found.tags if tag == "script"] == [{}] * scripts
    for tag, attrs in found.tags:
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        assert not (attrs.get("href") or "").strip().lower().startswith("javascript:"), (tag, attrs)
    return found


HOSTILE = fleet_store.HOSTILE_TEXT


def hostile_report():
    """A report whose every text field a host controls holds the hostile strings."""
    record = tr.triage_text(fleet_store.HOSTILE_LOG, keep_excerpt=False)
    fleet = fr.FleetReport()
    fleet.add(record, host="web1 " + HOSTILE, crash_time="2024-06-01T09:00:00Z", source="web1/c1/" + HOSTILE)
    fleet.add_failure("web2/c9/dmesg.txt", "no crash: " + HOSTILE)
    fleet.set_hosts([{"host": "web1", "ready": False, "problems": [HOSTILE], "target": HOSTILE}], None)
    return fleet.report()


# --- Markdown (hardening finding 7) ------------------------------------------------------------

def test_markdown_of_hostile_text_is_text():
    """dmesg text used to go into report.md raw: <img onerror=...> and javascript: links rendered
    live, and a backtick run broke the code span. Now every field reads back as the same text."""
    page = rd.render_markdown(hostile_report(), title="Report " + HOSTILE)
    rendered = MD.render(page)
    found = assert_inert(rendered)
    assert "<img" not in rendered and "<script" not in rendered
    assert found.texts["h1"][0] == "Report " + HOSTILE
    # The group table: one header and one row, 10 cells each (no pipe of the text split a cell).
    rows = re.findall(r"<tr>(.*?)</tr>", rendered, re.S)
    assert [len(re.findall(r"<t[dh][ >]", row)) for row in rows[:2]] == [10, 10]
    cells = [html.unescape(re.sub(r"<[^>]+>", "", cell)) for cell in re.findall(r"<td[^>]*>(.*?)</td>", rows[1], re.S)]
    assert cells[4] == HOSTILE                                     # the reason, as text
    # Code spans hold exactly the text, backtick runs included.
    codes = [html.unescape(code) for code in re.findall(r"<code>(.*?)</code>", rendered, re.S)]
    signature_text = tr.triage_text(fleet_store.HOSTILE_LOG, keep_excerpt=False)["signature_text"]
    assert HOSTILE in signature_text and "evil_handler" in signature_text
    assert signature_text in codes                                   # the signature, verbatim
    assert "web1/c1/" + HOSTILE in codes                              # the example's source
    items = [html.unescape(re.sub(r"<[^>]+>", "", li)) for li in re.findall(r"<li>(.*?)</li>", rendered, re.S)]
    assert "Hosts: web1 " + HOSTILE in items
    assert "web1: " + HOSTILE in items                                # the readiness problem
    assert "web2/c9/dmesg.txt: no crash: " + HOSTILE in items         # the failure


def test_markdown_excerpt_fence_cannot_be_closed_by_the_log(tmp_path):
    """The kernel log excerpt of report.md is one code block whatever backtick runs the log has."""
    lines = ["````````", "```", "``` text", "<img src=x onerror=alert(1)>", "\tTAB\x1b[31m", "~~~", ""]
    block = rd.md_fence(lines)
    rendered = MD.render("before\n\n" + block + "\n\nafter\n")
    assert rendered.count("<pre>") == 1 and "<img" not in rendered
    code = html.unescape(re.search(r"<pre><code[^>]*>(.*?)</code></pre>", rendered, re.S).group(1))
    assert code == "\n".join(rd.visible(line, keep_tabs=True) for line in lines) + "\n"
    assert "\u241b[31m" in code and "\tTAB" in code
    assert rendered.endswith("<p>after</p>\n")


TEXT = st.text(st.one_of(st.sampled_from(list("`*_[]()<>&|~!#\\:-+. \n\t\r\x00\x1b=\"'/")) | st.characters(
    blacklist_categories=("Cs",))), max_size=40)


def normalized(text):
    return rd.visible(" ".join(text.split()))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT)
def test_markdown_text_in_a_table_cell_reads_back(text):
    rendered = MD.render("| a | b |\n|---|---|\n| %s | x |\n" % rd.md_text(text))
    cells = re.findall(r"<td>(.*?)</td>", rendered, re.S)
    assert len(cells) == 2 and cells[1] == "x"
    assert html.unescape(cells[0]) == normalized(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT)
def test_markdown_code_reads_back(text):
    expected = normalized(text)
    rendered = MD.render("x %s y\n" % rd.md_code(text))
    if not expected:
        assert rendered == "<p>x - y</p>\n"
        return
    code = re.findall(r"<code>(.*?)</code>", rendered, re.S)
    assert [html.unescape(c) for c in code] == [expected]
    rendered = MD.render("| a | b |\n|---|---|\n| %s | x |\n" % rd.md_cellcode(text))
    cells = re.findall(r"<td>(.*?)</td>", rendered, re.S)
    assert len(cells) == 2
    assert [html.unescape(c) for c in re.findall(r"^<code>(.*)</code>$", cells[0], re.S)] == [expected]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TEXT.map(lambda t: t.replace("\n", "")), max_size=6))
def test_markdown_fence_reads_back(lines):
    rendered = MD.render(rd.md_fence(lines) + "\n")
    code = re.findall(r"<pre><code[^>]*>(.*?)</code></pre>", rendered, re.S)
    assert len(code) == 1
    expected = "\n".join(rd.visible(line, keep_tabs=True) for line in lines)
    assert html.unescape(code[0]) == (expected + "\n" if lines else "")


@pytest.mark.parametrize("text, expected", [
    ("sysrq_handle_crash", "sysrq_handle_crash"),       # inside a word: left alone
    ("_start and end_", "\\_start and end\\_"),
    ("a|b", "a\\|b"),
    ("<b>&amp;", "\\<b\\>\\&amp;"),
    ("[x](javascript:y)", "\\[x\\](javascript:y)"),
    ("one\n  two\tthree", "one two three"),
    ("esc\x1b[0m", "esc\u241b\\[0m"),
    ("rtl\u202eevil", "rtl\ufffdevil"),
])
def test_md_text(text, expected):
    assert rd.md_text(text) == expected


# --- HTML ------------------------------------------------------------------------------------------

@pytest.fixture
def store_model(tmp_path):
    from ansible_collections.crashkit.kdump.plugins.module_utils import _fleetstore
    now = 1780000000
    store, results = fleet_store.fleet(tmp_path, now)
    return _fleetstore.build_model(store, title="T <i>", panic_results=results, readiness=fleet_store.READINESS,
                                   now=now)


def test_html_pages_show_hostile_text_as_text(store_model):
    files = dict(rd.render_store(store_model))
    assert list(files)[-3:] == ["report.json", "report.md", "report.html"]
    pages = [name for name in files if name.startswith("report.d/")]
    assert len(pages) == 10
    index = files["report.html"]
    assert_inert(index, scripts=1)
    hostile = [c for c in store_model["crashes"] if c["host_id"].startswith("lab7")][0]
    page = files[hostile["page"]]
    found = assert_inert(page, scripts=1)
    assert found.texts["#headline"][0] == "Kernel panic - not syncing: " + HOSTILE
    assert "<script>x</script>" in found.texts["#crash"][0]
    # Only the page's own script, style and one CSP that allows exactly them.
    for markup in (index, page):
        assert markup.count("<script>") == 1 and markup.count("<style>") == 1
        csp = html.unescape(re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', markup).group(1))
        assert "default-src 'none'" in csp and "unsafe-inline" not in csp
        assert rd._sha256_csp(re.search(r"<script>(.*?)</script>", markup, re.S).group(1)) in csp
        assert rd._sha256_csp(re.search(r"<style>(.*?)</style>", markup, re.S).group(1)) in csp


def test_markdown_of_a_store_links_its_pages(store_model):
    page = rd.render_markdown(store_model["report"], store_model["title"], store_model["crashes"])
    rendered = MD.render(page)
    assert_inert(rendered)
    links = re.findall(r'<a href="([^"]+)">page</a>', rendered)
    assert sorted(links) == sorted(c["page"] for c in store_model["crashes"])
    assert '<a href="report.html">report.html</a>' in rendered
    assert html.unescape(re.search(r"<h1>(.*?)</h1>", rendered).group(1)) == "T <i>"


# --- the chart ----------------------------------------------------------------------------------

def window(counts, days=90):
    """A timeline of ``days`` days with ``counts``: {signature: {day index: count}}."""
    total = [0] * days
    for per_day in counts.values():
        for day, count in per_day.items():
            total[day] += count
    return {"days": ["2024-%03d" % i for i in range(days)], "total": total, "signatures": counts}


@pytest.mark.parametrize("counts, days, bars, top", [
    ({}, 30, [], 1),
    ({"a": {89: 1}}, 30, [("2024-089", 1, [("a", 1)])], 1),
    ({"a": {89: 2, 10: 5}, "b": {89: 1}}, 30, [("2024-089", 3, [("a", 2), ("b", 1)])], 3),
    ({"a": {89: 2, 10: 5}, "b": {89: 1}}, 90, [("2024-010", 5, [("a", 5)]), ("2024-089", 3, [("a", 2), ("b", 1)])], 6),
    ({"a": {0: 7}, "z": {0: 2}}, 90, [("2024-000", 9, [("a", 7), ("other", 2)])], 10),
])
def test_chart(counts, days, bars, top):
    colours = {"a": "c0", "b": "c1", rd.SERIES_OTHER: "cx"}
    chart = rd.chart(window(counts), days, colours, {})
    assert [(b["day"], b["total"], [(s["signature"], s["count"]) for s in b["segments"]]) for b in chart["bars"]] == bars
    assert chart["ticks"][-1]["value"] == top and chart["ticks"][0]["value"] == 0
    plot = chart["base"] - chart["ticks"][-1]["y"]
    for column in chart["bars"]:
        height = column["total"] * plot / float(top)
        assert abs(sum(s["h"] for s in column["segments"]) - height) < 0.5
        assert chart["left"] <= column["x"] and column["x"] + column["w"] <= chart["right"] + 0.1
        assert abs(column["segments"][-1]["y"] - (chart["base"] - height)) < 0.5


def test_jinja2_missing_is_a_clear_error(monkeypatch, store_model):
    monkeypatch.setattr(rd, "HAS_JINJA2", False)
    monkeypatch.setattr(rd, "_ENVIRONMENTS", {})
    with pytest.raises(HostError) as info:
        rd.render_store(store_model)
    assert "python3-jinja2" in str(info.value)
    with pytest.raises(HostError):
        rd.render_markdown(store_model["report"])


def test_templates_are_python_constants():
    """AnsiballZ ships .py files only: no template may be a file of its own."""
    here = os.path.join(os.path.dirname(rd.__file__))
    assert not [name for name in os.listdir(here) if not name.endswith(".py") and name != "__pycache__"]
    with io.open(os.path.join(here, "_fleettemplates.py"), encoding="utf-8") as handle:
        source = handle.read()
    assert "{% extends \"layout.html\" %}" in source
