# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""Jinja2 templates of the fleet report (``_fleetrender``), kept as Python strings.

They are Python constants so that they travel wherever the code does: AnsiballZ ships only the
``.py`` files a module imports, and a dump server gets ``plugins/module_utils/*.py`` copied.
``MARKDOWN_TEMPLATES`` and ``HTML_TEMPLATES`` are the loaders' name -> source mappings; ``CSS``
and ``SCRIPT`` are inlined in every page (no external asset) and allowed by the pages'
Content-Security-Policy through their SHA-256.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

REPORT_MD = r"""# {{ title }}

{{ r.crashes|plural("crash", "crashes") }} on {{ r.host_count|plural("host") }}, {{ r.signature_count|plural("distinct signature") }}.
{% if r.failed %}
{{ r.failed|length|plural("log") }} could not be triaged (listed at the end).
{% endif %}
{% if rows %}
{{ rows|host_summary }}
{% endif %}
{% if unreadable %}
{{ unreadable|length|plural("panic-test record") }} could not be read (listed at the end).
{% endif %}
{% if r.as_of is defined %}
As of {{ r.as_of }} (UTC): {{ r.new_crashes|plural("crash", "crashes") }} in the last 7 days{% if r.new_signatures %}, {{
 r.new_signatures|length|plural("new signature") }}{% endif %}. The same report as a web page, with a page per crash: [report.html](report.html).
{% endif %}

{% if r.groups %}
| # | Signature | Kind | Function | Reason | Crashes | Hosts | Kernels | First seen | Last seen |
|---:|---|---|---|---|---:|---:|---|---|---|
{% for g in r.groups %}
| {{ loop.index }} | {{ g.signature|cellcode }} | {{ g.kind }} | {{ g|where|cellcode }} | {{ g.panic_reasons|short_list(1) }} | {{ g["count"] }} | {{
 g.host_count }} | {{ g.kernel_releases|short_list(3) }} | {{ g.first_seen }} | {{ g.last_seen }} |
{% endfor %}

{% endif %}
{% if recent %}
## Latest crashes

| When (UTC) | Host | Crash | Kind | Function | Kernel | Evidence |
|---|---|---|---|---|---|---|
{% for c in recent[:20] %}
| {{ c.when }} | {{ c.host_id }} | {{ c.crash_id }} | {{ c.kind }} | {{ c|where|cellcode }} | {{ c.kernel_release }} | {{ "page"|link(c.page) }} |
{% endfor %}

{% endif %}
{% for g in r.groups %}
## {{ loop.index }}. {{ g.kind }}{% if g|where %} in {{ g|where|code }}{% endif %}


- Signature: {{ g.signature|code }} ({{ g.signature_text|code }})
- Crashes: {{ g["count"] }} on {{ g.host_count|plural("host") }}
- Hosts: {{ g.hosts|short_list(20) }}
- Kernel releases: {{ g.kernel_releases|short_list(20) }}
- First seen: {{ g.first_seen }}, last seen: {{ g.last_seen }}
{% for reason in g.panic_reasons %}
- Reason: {{ reason|code }}
{% endfor %}
{% for example in g.examples if example.source %}
- Example: {{ example.source|code }}
{% endfor %}
{% set latest = latest_of.get(g.signature) %}
{% if latest and latest.excerpt_short %}

Kernel log of the latest crash ({{ latest.host_id }}, {{ latest.when }}):

{{ latest.excerpt_short|fence }}
{% endif %}

{% endfor %}
{% if rows %}
## Hosts

| Host | Ready | Crash kernel loaded | Reserved MiB | Target | Panic test | When (UTC) | Reason / dump |
|---|---|---|---:|---|---|---|---|
{% for row in rows %}
{% set ready = row.readiness or {} %}
{% set test = row.panic_test %}
| {{ row.host }} | {{ ready.get("ready")|yes_no }} | {{ ready.get("loaded")|yes_no }} | {{ ready.get("reserved_mb") }} | {{
 ready.get("target") }} | {{ test.status if test else none }} | {{ test.when if test else none }} | {{ test|panic_detail if test else none }} |
{% endfor %}

{% if rows|selectattr("readiness")|map(attribute="readiness")|map(attribute="problems")|select|list %}
Readiness problems:

{% for row in rows %}
{% for problem in (row.readiness or {}).get("problems") or [] %}
- {{ row.host }}: {{ problem }}
{% endfor %}
{% endfor %}

{% endif %}
{% endif %}
{% if r.failed %}
## Logs that could not be triaged

{% for failure in r.failed %}
- {{ failure.source|code }}: {{ failure.error }}
{% endfor %}

{% endif %}
{% if unreadable %}
## Panic-test records that could not be read

{% for failure in unreadable %}
- {{ failure.source|code }}: {{ failure.error }}
{% endfor %}

{% endif %}
"""

MARKDOWN_TEMPLATES = {"report.md": REPORT_MD}

CSS = r""":root{--bg:#f4f6f9;--panel:#fff;--text:#17202c;--muted:#5d6977;--line:#e2e6ec;--head:#111923;
--accent:#2563c9;--ok:#17803d;--ok-bg:#e3f4e9;--bad:#c0352b;--bad-bg:#fbe9e7;--warn:#9a5b00;--warn-bg:#fff2db;
--new:#2563c9;--new-bg:#e6eefc;--unk:#5d6977;--unk-bg:#eceff3;--code:#eef1f5;--hover:#f7f9fc}
@media (prefers-color-scheme:dark){:root{--bg:#0f141b;--panel:#161d27;--text:#e3e8ef;--muted:#95a1b0;
--line:#263140;--head:#0a0e13;--accent:#7aa7ff;--ok:#59c783;--ok-bg:#17301f;--bad:#ff7b70;--bad-bg:#3a1a18;
--warn:#f0b35a;--warn-bg:#352812;--new:#8fb4ff;--new-bg:#1b2740;--unk:#a5afbb;--unk-bg:#222b36;--code:#1d2631;
--hover:#1a222d}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--text);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue","DejaVu Sans",sans-serif}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
.wrap{max-width:1360px;margin:0 auto;padding:0 24px}
header.top{background:var(--head);color:#f3f6fa}
header.top .wrap{display:flex;align-items:baseline;gap:18px;padding-top:14px;padding-bottom:14px;flex-wrap:wrap}
header.top .brand{color:#fff;font-weight:650;font-size:18px;letter-spacing:.01em}
header.top .crumbs{color:#b8c3d1;font-size:13px}header.top .crumbs a{color:#d7e2f0}
header.top .asof{margin-left:auto;color:#b8c3d1;font-size:13px}
main{padding-top:22px;padding-bottom:40px}
h1{font-size:22px;margin:4px 0 6px;font-weight:650}
h2{font-size:15px;margin:0;font-weight:650}
.panel{background:var(--panel);border:1px solid var(--line);border-radius:10px;padding:14px 16px;margin-top:16px;
overflow-x:auto}
.panel>.head{display:flex;align-items:center;gap:12px;margin-bottom:10px;flex-wrap:wrap}
.panel>.head .aside{margin-left:auto}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(190px,1fr));gap:12px}
.card{background:var(--panel);border:1px solid var(--line);border-left:4px solid var(--line);border-radius:10px;
padding:10px 14px}
.card .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.05em;font-weight:600}
.card .n{font-size:30px;font-weight:650;line-height:1.2;font-variant-numeric:tabular-nums}
.card .sub{color:var(--muted);font-size:12.5px}
.card.ok{border-left-color:var(--ok)}.card.bad{border-left-color:var(--bad)}.card.bad .n{color:var(--bad)}
.card.warn{border-left-color:var(--warn)}.card.new{border-left-color:var(--new)}
ul.attention{list-style:none;margin:0;padding:0}
ul.attention li{display:flex;gap:10px;align-items:baseline;padding:7px 10px;border-radius:6px;margin:4px 0;
background:var(--unk-bg)}
ul.attention li.bad{background:var(--bad-bg)}ul.attention li.new{background:var(--new-bg)}
ul.attention li.warn{background:var(--warn-bg)}
ul.attention .what{flex:1;min-width:0;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%}
th{text-align:left;font-weight:600;color:var(--muted);font-size:11.5px;text-transform:uppercase;letter-spacing:.04em;
border-bottom:1px solid var(--line);padding:6px 8px;white-space:nowrap}
td{border-bottom:1px solid var(--line);padding:8px;vertical-align:top;overflow-wrap:break-word}
td.wrap{overflow-wrap:anywhere;min-width:240px}
td.kern{min-width:130px}td.names{min-width:150px}td.sigcell{min-width:340px}
td .ago{display:block;margin-left:0}
.detail{max-width:340px;overflow-wrap:anywhere}
tbody tr:hover td{background:var(--hover)}tbody tr:last-child td{border-bottom:0}
tr:target td{background:var(--new-bg)}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.nowrap{white-space:nowrap}.host{white-space:nowrap;font-weight:600}.host div{font-weight:400}.muted{color:var(--muted)}.small{font-size:12.5px}
code,.mono,pre{font-family:ui-monospace,"SFMono-Regular","DejaVu Sans Mono",Menlo,Consolas,monospace}
code{font-size:12.5px;background:var(--code);padding:1px 5px;border-radius:4px}
.badge{display:inline-block;padding:1px 8px;border-radius:999px;font-size:11.5px;font-weight:650;white-space:nowrap;
background:var(--unk-bg);color:var(--unk)}
.badge.ok{background:var(--ok-bg);color:var(--ok)}.badge.bad{background:var(--bad-bg);color:var(--bad)}
.badge.warn{background:var(--warn-bg);color:var(--warn)}.badge.new{background:var(--new-bg);color:var(--new)}
.swatch{display:inline-block;width:11px;height:11px;border-radius:3px;margin-right:7px;vertical-align:-1px;
background:var(--c)}
.c0{--c:#4e79a7}.c1{--c:#f28e2b}.c2{--c:#e15759}.c3{--c:#76b7b2}.c4{--c:#59a14f}.c5{--c:#edc948}
.c6{--c:#b07aa1}.c7{--c:#ff9da7}.cx{--c:#b3aca8}
svg rect{fill:var(--c)}
.sig{font-weight:650}.sigid{font-size:11.5px;color:var(--muted)}
.reason{margin-top:2px}
details summary{cursor:pointer;color:var(--accent);font-size:12.5px;margin-top:4px}
ul.crashlist{margin:6px 0 2px;padding-left:18px;font-size:12.5px}
.range{display:flex;gap:4px}
.chart-box>input{position:absolute;opacity:0;pointer-events:none}
.range label{border:1px solid var(--line);border-radius:6px;padding:2px 10px;font-size:12.5px;cursor:pointer;
color:var(--muted)}
#range-30:checked~.head label[for=range-30],#range-90:checked~.head label[for=range-90]{background:var(--accent);
border-color:var(--accent);color:#fff}
#range-90:checked~.c30,#range-30:checked~.c90{display:none}
svg.chart{width:100%;height:auto;display:block}
svg.chart line.grid{stroke:var(--line);stroke-width:1}
svg.chart text{fill:var(--muted);font-size:11px}
svg.chart .empty{font-size:14px}
svg.chart g.bar:hover rect{opacity:.8}
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;margin-top:8px;font-size:12.5px}
.legend .n{color:var(--muted);margin-left:4px}
svg.spark{display:block}svg.spark line{stroke:var(--line)}
.dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:3px;background:var(--unk)}
.dot.ok{background:var(--ok)}.dot.bad{background:var(--bad)}
ul.problems{margin:0;padding-left:16px}
.ago{color:var(--muted);font-size:11.5px;margin-left:6px;white-space:nowrap}
input[type=search]{border:1px solid var(--line);border-radius:6px;padding:5px 9px;min-width:260px;
background:var(--panel);color:var(--text);font:inherit}
.grid2{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:16px}
@media (max-width:900px){.grid2{grid-template-columns:1fr}}
.grid2>.panel{margin-top:0}
dl.facts{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:6px 18px;margin:12px 0 0}
dl.facts dt{color:var(--muted);font-size:12.5px}dl.facts dd{margin:0;overflow-wrap:anywhere}
.headline{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:13px;background:var(--bad-bg);
color:var(--text);padding:8px 10px;border-radius:6px;margin:8px 0 0;overflow-wrap:anywhere}
pre.log{background:#0e141c;color:#d5dde8;padding:10px 0;border-radius:8px;overflow-x:auto;font-size:12px;
line-height:1.55;margin:0}
pre.log .ln{display:block;padding:0 14px 0 0;white-space:pre}
pre.log .ln::before{content:attr(data-n);display:inline-block;width:5em;padding-right:12px;text-align:right;
color:#5b6878;user-select:none}
pre.log .ln.hit{background:#5b1f1f;color:#fff}
ol.trace{margin:0;padding-left:28px;font-size:12.5px;line-height:1.6}
ol.trace li::marker{color:var(--muted)}
.kicker{display:flex;gap:8px;align-items:center;flex-wrap:wrap;font-size:12.5px;color:var(--muted)}
footer{padding-bottom:28px}
#show-all{position:absolute;opacity:0;pointer-events:none}
#show-all:not(:checked)~table tr.more{display:none}
#show-all:checked~.more-toggle{display:none}
.more-toggle{display:inline-block;margin-top:8px;color:var(--accent);cursor:pointer;font-size:12.5px}
"""

SCRIPT = r"""(function () {
  "use strict";
  var now = Date.now();
  function ago(ms) {
    var s = Math.round((now - ms) / 1000);
    if (s < 0) { return "in the future"; }
    var units = [[86400, "d"], [3600, "h"], [60, "min"]];
    for (var i = 0; i < units.length; i++) {
      if (s >= units[i][0]) { return Math.floor(s / units[i][0]) + " " + units[i][1] + " ago"; }
    }
    return "just now";
  }
  var times = document.querySelectorAll("time[datetime]");
  for (var i = 0; i < times.length; i++) {
    var when = Date.parse(times[i].getAttribute("datetime"));
    if (isNaN(when)) { continue; }
    var span = document.createElement("span");
    span.className = "ago";
    span.textContent = ago(when);
    times[i].parentNode.insertBefore(span, times[i].nextSibling);
  }
  var inputs = document.querySelectorAll("input[data-filter]");
  for (var j = 0; j < inputs.length; j++) {
    (function (input) {
      var table = document.getElementById(input.getAttribute("data-filter"));
      if (!table || !table.tBodies.length) { return; }
      input.addEventListener("input", function () {
        var query = input.value.toLowerCase();
        var all = document.getElementById("show-all");
        if (all && query !== "") { all.checked = true; }
        var rows = table.tBodies[0].rows;
        for (var k = 0; k < rows.length; k++) {
          rows[k].hidden = query !== "" && rows[k].textContent.toLowerCase().indexOf(query) < 0;
        }
      });
    })(inputs[j]);
  }
  document.documentElement.setAttribute("data-ready", "1");
})();
"""

MACROS_HTML = r"""{% macro when(iso) %}{% if iso %}<time datetime="{{ iso }}">{{ iso|short_time }}</time>{% else %}
<span class="muted">unknown</span>{% endif %}{% endmacro %}
{% macro badge(state, text) %}<span class="badge {{ state }}">{{ text }}</span>{% endmacro %}
"""

LAYOUT_HTML = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{{ csp }}">
<meta name="referrer" content="no-referrer">
<title>{% block title %}{{ title }}{% endblock %}</title>
<style>{{ css }}</style>
</head>
<body>
<header class="top"><div class="wrap">
<a class="brand" href="{{ root }}report.html">{{ title }}</a>
<span class="crumbs">{% block crumbs %}{% endblock %}</span>
<span class="asof">as of {{ as_of }} (UTC)</span>
</div></header>
<main class="wrap">
{% block content %}{% endblock %}
</main>
<footer class="wrap small muted">Made by crashkit.kdump from the crash store. Also as
<a href="{{ root }}report.json">report.json</a> and <a href="{{ root }}report.md">report.md</a>.
Times are UTC.</footer>
<script>{{ script }}</script>
</body>
</html>
"""

INDEX_HTML = r"""{% extends "layout.html" %}
{% import "macros.html" as m %}
{% block content %}
<section class="cards" id="summary">
<div class="card {{ 'new' if r.new_crashes else '' }}"><div class="label">Crashes</div><div class="n" data-value="{{ r.crashes }}">{{ r.crashes }}</div>
<div class="sub">{{ r.new_crashes }} in the last 7 days &middot; {{ r.host_count|plural("host") }}</div></div>
<div class="card {{ 'new' if r.new_signatures else '' }}"><div class="label">Signatures</div><div class="n">{{ r.signature_count }}</div>
<div class="sub">{{ r.new_signatures|length }} new in the last 7 days</div></div>
<div class="card {{ 'bad' if v.not_ready else ('ok' if v.readiness_known else '') }}"><div class="label">Hosts not ready</div><div class="n">{{
 v.not_ready }}</div>
<div class="sub">of {{ v.readiness_known|plural("host") }} with readiness</div></div>
<div class="card {{ 'bad' if v.panic_pass < v.panic_total else ('ok' if v.panic_total else '') }}"><div class="label">Latest panic tests</div>
<div class="n">{{ v.panic_pass }}<span class="muted small"> / {{ v.panic_total }}</span></div><div class="sub">passed</div></div>
<div class="card {{ 'warn' if r.failed else '' }}"><div class="label">Not triaged</div><div class="n">{{ r.failed|length }}</div>
<div class="sub">crashes without a triage</div></div>
</section>

{% if v.attention %}
<section class="panel" id="attention"><div class="head"><h2>Needs attention</h2></div>
<ul class="attention">
{% for item in v.attention %}
<li class="{{ item.level }}">{{ m.badge(item.level, item.tag) }}<span class="what"><strong>{{ item.subject }}</strong>: {{ item.text }}{%
 if item.more %} <span class="muted">(+{{ item.more }} more)</span>{% endif %}</span><a href="{{ item.href }}">details</a></li>
{% endfor %}
</ul></section>
{% endif %}

<section class="panel chart-box" id="timeline">
<input type="radio" name="range" id="range-30" checked><input type="radio" name="range" id="range-90">
<div class="head"><h2>Crashes per day and signature</h2>
<div class="range aside"><label for="range-30">30 days</label><label for="range-90">90 days</label></div></div>
{% for ch in v.charts %}
<div class="c{{ ch.days }}">
<svg id="chart-{{ ch.days }}" class="chart" viewBox="0 0 {{ ch.width }} {{ ch.height }}" role="img" aria-label="Crashes per day, {{ ch.first }} to {{
 ch.last }}: {{ ch.total }}" data-days="{{ ch.days }}" data-total="{{ ch.total }}">
{% for tick in ch.ticks %}
<line class="grid" x1="{{ ch.left }}" x2="{{ ch.right }}" y1="{{ tick.y }}" y2="{{ tick.y }}"></line><text x="{{ ch.left - 6 }}" y="{{
 tick.y + 4 }}" text-anchor="end">{{ tick.value }}</text>
{% endfor %}
{% for bar in ch.bars %}
<g class="bar" data-day="{{ bar.day }}" data-total="{{ bar.total }}"><title>{{ bar.day }}: {{ bar.total|plural("crash", "crashes") }}{%
 for s in bar.segments %}&#10;{{ s.count }} &#215; {{ s.label }}{% endfor %}</title>
{% for s in bar.segments %}<rect class="{{ s.colour }}" x="{{ bar.x }}" y="{{ s.y }}" width="{{ bar.w }}" height="{{ s.h }}" data-signature="{{
 s.signature }}" data-count="{{ s.count }}"></rect>{% endfor %}</g>
{% endfor %}
{% for label in ch.labels %}
<text x="{{ label.x }}" y="{{ ch.height - 8 }}" text-anchor="middle">{{ label.text }}</text>
{% endfor %}
{% if not ch.total %}<text class="empty" x="{{ (ch.left + ch.right) / 2 }}" y="{{ ch.base / 2 + 6 }}" text-anchor="middle">No crash in the last {{
 ch.days }} days</text>{% endif %}
</svg>
</div>
{% endfor %}
{% if v.legend %}
<div class="legend">{% for item in v.legend %}<span><span class="swatch {{ item.colour }}"></span>{{ item.label }}<span class="n">{{
 item.count }}</span></span>{% endfor %}</div>
{% endif %}
</section>

<section class="panel" id="signatures">
<div class="head"><h2>Signatures</h2><span class="muted small">crashes grouped by what crashed and where; biggest first</span></div>
{% if v.groups %}
<table id="signatures-table">
<thead><tr><th class="num">#</th><th>Signature</th><th class="num">Crashes</th><th class="num">Hosts</th><th>Host names</th>
<th>Kernels</th><th>First seen</th><th>Last seen</th><th>Last 90 days</th></tr></thead>
<tbody>
{% for g in v.groups %}
<tr id="sig-{{ g.signature }}" data-signature="{{ g.signature }}" data-count="{{ g['count'] }}">
<td class="num muted">{{ g.number }}</td>
<td class="sigcell"><span class="swatch {{ g.colour }}"></span><span class="sig">{{ g.kind }}</span>{% if g.function %} in <code>{{
 g|where }}</code>{% endif %}{% if g.is_new %} {{ m.badge("new", "new") }}{% endif %}
{% if g.panic_reasons %}<div class="small muted reason">{{ g.panic_reasons[0] }}{% if g.panic_reasons|length > 1 %} (+{{
 g.panic_reasons|length - 1 }} more){% endif %}</div>{% endif %}
<div class="sigid mono">{{ g.signature }}</div>
<details><summary>{{ g['count']|plural("crash", "crashes") }}</summary><ul class="crashlist">
{% for c in g.crash_list %}<li><a href="{{ c.page }}">{{ c.when|short_time or "time unknown" }} &middot; {{ c.host_id }}</a> <span class="muted">{{
 c.kernel_release }}</span></li>{% endfor %}
</ul></details></td>
<td class="num">{{ g['count'] }}</td>
<td class="num">{{ g.host_count }}</td>
<td class="small names">{{ g.hosts|short_list(4) }}</td>
<td class="small kern">{{ g.kernel_releases|short_list(3) }}</td>
<td class="small nowrap">{{ m.when(g.first_seen) }}</td>
<td class="small nowrap">{{ m.when(g.last_seen) }}</td>
<td>{% if g.spark %}<svg class="spark" width="{{ g.spark.width }}" height="{{ g.spark.height }}" viewBox="0 0 {{ g.spark.width }} {{
 g.spark.height }}"><line x1="0" x2="{{ g.spark.width }}" y1="{{ g.spark.height - 0.5 }}" y2="{{ g.spark.height - 0.5 }}"></line>{%
 for b in g.spark.bars %}<rect class="{{ g.colour }}" x="{{ b.x }}" y="{{ b.y }}" width="{{ b.w }}" height="{{ b.h }}" data-day="{{
 b.day }}" data-count="{{ b.count }}"><title>{{ b.day }}: {{ b.count }}</title></rect>{% endfor %}</svg>{% else %}
<span class="muted small">none</span>{% endif %}</td>
</tr>
{% endfor %}
</tbody></table>
{% else %}
<p class="muted">No crash in the store.</p>
{% endif %}
</section>

<section class="panel" id="hosts">
<div class="head"><h2>Hosts</h2><span class="muted small">would a panic now be captured? kdump clients&rsquo; readiness and their panic tests</span></div>
{% if v.rows %}
<table id="hosts-table">
<thead><tr><th>Host</th><th>Ready</th><th>Why not / service</th><th>Crash kernel</th><th>Dump target</th>
<th class="num">Crashes</th><th>Latest panic test</th><th>Test history</th></tr></thead>
<tbody>
{% for row in v.rows %}
{% set rd = row.readiness %}
{% set t = row.panic_test %}
<tr id="host-{{ loop.index0 }}" data-host="{{ row.host }}" data-ready="{{ row.state }}">
<td class="host">{{ row.host }}</td>
<td>{{ m.badge(row.state, {"ok": "ready", "bad": "not ready", "unk": "unknown"}[row.state]) }}</td>
<td class="small wrap">{% if rd and rd.problems %}<ul class="problems">{% for p in rd.problems %}<li>{{ p }}</li>{% endfor %}</ul>{% elif not rd %}
<span class="muted">no readiness reported</span>{% else %}<span class="muted">{{ rd.service }}{% if rd.service_active %} active{%
 elif rd.service_active is sameas false %} inactive{% endif %}</span>{% endif %}</td>
<td class="small nowrap">{% if rd %}{% if rd.loaded %}loaded{% elif rd.loaded is sameas false %}not loaded{% else %}unknown{% endif %}{%
 if rd.reserved_mb is not none %} &middot; {{ rd.reserved_mb }} MiB{% endif %}{% endif %}</td>
<td class="small mono">{{ rd.target if rd else none }}</td>
<td class="num">{{ row.crashes }}</td>
<td>{% if t %}{{ m.badge("ok" if t.status == "pass" else "bad", t.status) }} <span class="small">{{
 m.when(t.when) }}</span><div class="small muted detail">{{ t|panic_detail }}</div>{% else %}<span class="muted small">never tested</span>{% endif %}
</td>
<td class="nowrap">{% for h in row.history %}<span class="dot {{ 'ok' if h.status == 'pass' else 'bad' }}" title="{{ h.when|short_time }} {{
 h.run_id }}: {{ h.status }}"></span>{% endfor %}</td>
</tr>
{% endfor %}
</tbody></table>
{% else %}
<p class="muted">No readiness and no panic-test results were given to this report.</p>
{% endif %}
</section>

<section class="panel" id="crashes">
<div class="head"><h2>Crashes</h2><span class="muted small">newest first</span>
<input class="aside" type="search" placeholder="Filter: host, kernel, kind, function&hellip;" data-filter="crashes-table" aria-label="Filter the crashes"></div>
{% if v.recent %}
{% if v.recent|length > 25 %}<input type="checkbox" id="show-all">{% endif %}
<table id="crashes-table">
<thead><tr><th>When</th><th>Host</th><th>Signature</th><th>Kernel</th><th></th></tr></thead>
<tbody>
{% for c in v.recent %}
<tr data-key="{{ c.key }}"{% if loop.index > 25 %} class="more"{% endif %}>
<td class="nowrap small">{{ m.when(c.when) }}{% if c.new %} {{ m.badge("new", "new") }}{% endif %}</td>
<td class="host">{{ c.host_id }}<div class="small muted">{{ c.crash_id }}</div></td>
<td>{% if c.error %}{{ m.badge("warn", "not triaged") }} <span class="small">{{ c.error }}</span>{% else %}<span class="swatch {{
 v.colours.get(c.signature, 'cx') }}"></span>{{ v.labels.get(c.signature) }}{% if c.culprit %}<div class="small muted">culprit: {{
 c.culprit }}</div>{% endif %}{% if c.attempt_of %}<div class="small muted attempt">the lean capture&rsquo;s given-up attempt; saved
 in <a href="{{ c.attempt_of_page }}">{{ c.attempt_of }}</a></div>{% endif %}{% endif %}</td>
<td class="small kern">{{ c.kernel_release }}</td>
<td class="nowrap">{% if c.page %}<a class="evidence" href="{{ c.page }}">evidence &rarr;</a>{% endif %}</td>
</tr>
{% endfor %}
</tbody></table>
{% if v.recent|length > 25 %}<label class="more-toggle" for="show-all">Show all {{ v.recent|length }} crashes</label>{% endif %}
{% if v.recent_more %}<p class="muted small">{{ v.recent_more }} older crashes are in report.json.</p>{% endif %}
{% else %}
<p class="muted">No crash in the store.</p>
{% endif %}
</section>


{% if r.failed or v.unreadable %}
<section class="panel" id="failed">
<div class="head"><h2>Not triaged, not read</h2></div>
<table id="failed-table"><thead><tr><th>What</th><th>Why</th></tr></thead><tbody>
{% for f in r.failed %}<tr><td><code>{{ f.source }}</code></td><td class="small wrap">{{ f.error }}</td></tr>{% endfor %}
{% for f in v.unreadable %}<tr><td><code>{{ f.source }}</code> <span class="muted small">(panic-test record)</span></td><td class="small wrap">{{
 f.error }}</td></tr>{% endfor %}
</tbody></table></section>
{% endif %}
{% endblock %}
"""

CRASH_HTML = r"""{% extends "layout.html" %}
{% import "macros.html" as m %}
{% block title %}{{ c.kind or "crash" }} on {{ c.host_id }} - {{ title }}{% endblock %}
{% block crumbs %}&rsaquo; {{ c.host_id }} &rsaquo; {{ c.crash_id }}{% endblock %}
{% block content %}
<section class="panel" id="crash">
<div class="kicker">{% if group %}<span class="swatch {{ group.colour }}"></span><a href="{{ root }}report.html#sig-{{
 c.signature }}">signature <span class="mono">{{ c.signature }}</span></a> &middot; {{ group['count']|plural("crash", "crashes") }} on {{
 group.host_count|plural("host") }}{% endif %}{% if c.new %} {{ m.badge("new", "new") }}{% endif %}</div>
{% if c.error %}
<h1>Crash not triaged</h1>
<p>{{ m.badge("warn", "not triaged") }} <span id="error">{{ c.error }}</span></p>
{% else %}
<h1>{{ c.kind }}{% if c.function %} in <code>{{ c.function }}{% if c.module %} [{{ c.module }}]{% endif %}</code>{% endif %}</h1>
<div class="headline" id="headline">{{ c.headline }}</div>
{% endif %}
{% if c.attempt_of %}<p id="attempt-of">{{ m.badge("warn", "attempt") }} The lean capture gave up on this panic
 ({{ c.bundle.lean_fallback }}) and kdump-tools saved it in <a href="{{ root }}{{ c.attempt_of_page }}">{{ c.attempt_of }}</a>:
 counted there, not as a crash of its own.</p>{% endif %}
{% if c.lean_attempt %}<p id="lean-attempt" class="small">The lean capture&rsquo;s given-up attempt at this panic:
 <a href="{{ root }}{{ c.lean_attempt.page }}">{{ c.lean_attempt.key }}</a>{% if c.lean_attempt.reason %} ({{
 c.lean_attempt.reason }}){% endif %}.</p>{% endif %}
<dl class="facts">
<dt>Host</dt><dd>{{ c.host_id }}{% if c.hostname %} <span class="muted">({{ c.hostname }})</span>{% endif %}</dd>
<dt>Crash time</dt><dd>{{ m.when(c.when) }}{% if c.time_source %} <span class="muted small">from the {{ c.time_source }}</span>{% endif %}</dd>
<dt>Kernel</dt><dd>{{ c.kernel_release }}{% if c.kernel_build %} <span class="muted small">{{ c.kernel_build }}</span>{% endif %}</dd>
{% if not c.error %}
<dt>Panic reason</dt><dd>{{ c.panic_reason }}</dd>
<dt>Task</dt><dd>{% if c.comm %}{{ c.comm }}{% if c.pid is not none %} (PID {{ c.pid }}){% endif %}{% if c.cpu is not none %} on CPU {{ c.cpu }}{%
 endif %}{% else %}<span class="muted">unknown</span>{% endif %}</dd>
{% if c.culprit %}<dt>Culprit</dt><dd id="culprit">{{ c.culprit }}</dd>{% endif %}
<dt>Taint</dt><dd>{{ c.taint_raw }}</dd>
<dt>Hardware</dt><dd>{{ c.hardware }}</dd>
{% endif %}
{% if c.bundle %}
<dt>Uptime at crash</dt><dd>{{ c.bundle.uptime_at_crash|duration }}</dd>
{% if c.bundle.saved_by %}<dt>Saved by</dt><dd id="saved-by">{{ c.bundle.saved_by }}{% if c.bundle.lean_fallback %} <span class="muted small">the lean
 capture left it to kdump-tools: {{ c.bundle.lean_fallback }}</span>{% endif %}</dd>{% endif %}
<dt>Crashed kernel&rsquo;s command line</dt><dd class="mono small">{{ c.bundle.crashed_cmdline }}</dd>
<dt>Change record</dt><dd id="change">{% if c.bundle.change %}{{ c.bundle.change.change_id }}{% if c.bundle.change.change_text %} &middot; {{
 c.bundle.change.change_text }}{% endif %}{% else %}<span class="muted">none given</span>{% endif %}</dd>
{% endif %}
<dt>Collected</dt><dd>{{ m.when(c.collected) }} <span class="muted small">from {{ c.source_dir }}</span></dd>
<dt>Signature text</dt><dd class="mono small">{{ c.signature_text }}</dd>
</dl>
</section>

{% if c.excerpt %}
<section class="panel" id="log">
<div class="head"><h2>Kernel log around the crash</h2><span class="muted small">{{ c.log }}</span>{% if c.log_href %}<a class="aside small" href="{{
 root }}{{ c.log_href }}">whole log</a>{% endif %}</div>
<pre class="log">{% for line in c.excerpt %}<span class="ln{% if loop.index0 == c.anchor %} hit{% endif %}"{% if first_line %} data-n="{{
 first_line + loop.index0 }}"{% endif %}>{{ line }}</span>{% endfor %}</pre>
</section>
{% endif %}

<div class="grid2">
{% if c.call_trace %}
<section class="panel" id="trace"><div class="head"><h2>Call trace</h2></div>
<ol class="trace mono">{% for frame in c.call_trace %}<li>{{ frame }}</li>{% endfor %}</ol></section>
{% endif %}
<section class="panel" id="bundle"><div class="head"><h2>Evidence bundle</h2></div>
{% if c.bundle %}
{% if c.bundle.dumps %}<table class="small"><thead><tr><th>Dump</th><th>Format</th><th class="num">Size</th><th>Complete</th></tr></thead><tbody>
{% for d in c.bundle.dumps %}<tr><td class="mono">{{ d.name }}</td><td>{{ d.format }}</td><td class="num">{{ d.size|size }}</td><td>{{
 d.complete|yes_no }}{% if d.reason %} <span class="muted">{{ d.reason }}</span>{% endif %}</td></tr>{% endfor %}
</tbody></table>{% endif %}
{% if c.bundle.deep_triage %}<p class="small"><strong>Deep triage</strong> ({{ c.bundle.deep_triage.status }}): {{
 c.bundle.deep_triage.panic or c.bundle.deep_triage.reason }}{% if c.bundle.deep_triage.task %} &middot; {{ c.bundle.deep_triage.task }}{% endif %}
</p>
{% if c.bundle.deep_triage.backtrace %}<p class="small mono">{{ c.bundle.deep_triage.backtrace|join(" < ") }}</p>{% endif %}{% endif %}
{% if c.bundle.missing %}<p class="small"><strong>Not in the bundle</strong></p><ul class="small">{% for key, why in c.bundle.missing %}<li><strong>{{
 key }}</strong>: {{ why }}</li>{% endfor %}</ul>{% endif %}
{% elif c.bundle_error %}<p class="small">{{ m.badge("warn", "unreadable") }} {{ c.bundle_error }}</p>
{% else %}<p class="muted small">No evidence bundle was collected with this crash.</p>{% endif %}
</section>
</div>

<section class="panel" id="files">
<div class="head"><h2>Files</h2><span class="muted small">as listed in manifest.json, verified by SHA-256 when collected</span></div>
{% if c.files %}
<table id="files-table"><thead><tr><th>File</th><th class="num">Size</th><th>SHA-256</th></tr></thead><tbody>
{% for f in c.files %}<tr><td class="mono small"><a href="{{ f.href }}">{{ f.path }}</a></td><td class="num small">{{
 f['size']|size }}</td><td class="mono small muted">{{ f.sha256[:16] }}&hellip;</td></tr>{% endfor %}
</tbody></table>
{% if c.files_more %}<p class="muted small">{{ c.files_more }} more files are listed in manifest.json.</p>{% endif %}
{% else %}<p class="muted small">No manifest could be read.</p>{% endif %}
</section>

{% if others %}
<section class="panel" id="others"><div class="head"><h2>Other crashes with this signature</h2></div>
<ul class="crashlist">{% for o in others %}<li><a href="{{ root }}{{ o.page }}">{{ o.when|short_time or "time unknown" }} &middot; {{
 o.host_id }}</a> <span class="muted">{{ o.kernel_release }}</span></li>{% endfor %}</ul>
</section>
{% endif %}
{% endblock %}
"""

HTML_TEMPLATES = {
    "layout.html": LAYOUT_HTML,
    "macros.html": MACROS_HTML,
    "index.html": INDEX_HTML,
    "crash.html": CRASH_HTML,
}
