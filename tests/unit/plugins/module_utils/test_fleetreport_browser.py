# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""report.html in a real browser: headless Chromium (Debian's ``chromium``) over its DevTools pipe.

A store of several hosts, signatures and panic-test runs (``fleet_store.fleet``, one crash with a
hostile kernel log) is rendered by ``write_store_report``; the page is opened from the file
system and from a static web server, a screenshot is taken, and what the reader sees is read
back from the browser's DOM after the page's script ran: the table rows, the chart's bars, a
crash page reached through its link, and the hostile strings shown as text, never run as markup.
"""
from __future__ import absolute_import, division, print_function

import functools
import http.server
import os
import struct
import threading
import time

import pytest

import fleet_store
from chromium import Browser, find_chromium
from ansible_collections.crashkit.kdump.plugins.module_utils._fleetstore import write_store_report

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium; tools/bootstrap.sh does)")
DAY = fleet_store.DAY


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("fleet")
    now = time.time()
    store, results = fleet_store.fleet(root, now)
    result = write_store_report(store, title="Crash report <lab>", panic_results=results,
                                readiness=fleet_store.READINESS, now=now)
    return {"store": store, "result": result, "now": now, "root": str(root)}


@pytest.fixture(scope="module")
def browser():
    with Browser(CHROMIUM, width=1400, height=900) as opened:
        yield opened


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_QuietHandler, directory=site["store"])
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def file_url(path):
    return "file://" + os.path.abspath(path)


def expected_days(now, days):
    """Crashes per UTC day of the last ``days`` days, from the fixture's own plan."""
    first = (int(now) // DAY - (days - 1)) * DAY
    counts = {}
    for _host, _fixture, ages in fleet_store.FLEET:
        for age in ages:
            when = int(now - age * DAY)
            if when >= first:
                day = time.strftime("%Y-%m-%d", time.gmtime(when))
                counts[day] = counts.get(day, 0) + 1
    return counts


def png_size(path):
    with open(path, "rb") as handle:
        head = handle.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def assert_no_hostile_markup(browser):
    """Nothing of the hostile log became markup or ran."""
    assert browser.js("document.title") != "PWNED"
    assert browser.js("document.documentElement.getAttribute('data-pwned')") is None
    assert browser.js("document.querySelectorAll('img, iframe, object, embed').length") == 0
    assert browser.js("document.scripts.length") == 1
    assert browser.js("Array.from(document.querySelectorAll('[href]')).filter("
                      "e => /^\\s*javascript:/i.test(e.getAttribute('href'))).length") == 0
    assert browser.js("Array.from(document.querySelectorAll('*')).filter("
                      "e => Array.from(e.attributes).some(a => a.name.startsWith('on'))).length") == 0


def test_report_page_in_chromium(site, browser, tmp_path):
    report = site["result"]["report"]
    url = file_url(os.path.join(site["store"], "report.html"))
    assert browser.open(url) == url
    assert browser.js("document.documentElement.dataset.ready") == "1"   # the page's script ran
    shot = browser.screenshot(str(tmp_path / "report.png"))
    width, height = png_size(shot)
    assert width >= 1200 and height > 1500
    if os.environ.get("CRASHKIT_REPORT_SCREENSHOT"):
        browser.screenshot(os.environ["CRASHKIT_REPORT_SCREENSHOT"])

    # The title is text, as given.
    assert browser.js("document.querySelector('header .brand').textContent") == "Crash report <lab>"
    # Signature table: one row per group, biggest first, the counts the report has.
    rows = browser.js("Array.from(document.querySelectorAll('#signatures-table tbody tr'))"
                      ".map(r => [r.dataset.signature, Number(r.dataset.count), r.cells[2].textContent.trim()])")
    assert rows == [[g["signature"], g["count"], str(g["count"])] for g in report["groups"]]
    kinds = dict((g["kind"], g["count"]) for g in report["groups"])
    assert kinds == {"null_deref": 5, "sysrq": 3, "soft_lockup": 1, "panic": 1}

    # The chart: the 30-day view is shown, its bars are the crashes per day of the plan.
    assert browser.js("getComputedStyle(document.querySelector('.c30')).display") != "none"
    assert browser.js("getComputedStyle(document.querySelector('.c90')).display") == "none"
    for days in (30, 90):
        bars = browser.js(
            "Array.from(document.querySelectorAll('#chart-%d g.bar')).map(g => [g.dataset.day, Number(g.dataset.total),"
            " Array.from(g.querySelectorAll('rect')).reduce((n, r) => n + Number(r.dataset.count), 0)])" % days)
        assert dict((day, total) for day, total, _sum in bars) == expected_days(site["now"], days)
        assert all(total == segments for _day, total, segments in bars)
    # Each bar's segments are coloured by signature, in the same colour as the signature's swatch.
    colours = browser.js("Object.fromEntries(Array.from(document.querySelectorAll('#chart-90 rect'))"
                         ".map(r => [r.dataset.signature, getComputedStyle(r).fill]))")
    swatches = browser.js("Object.fromEntries(Array.from(document.querySelectorAll('#signatures-table tbody tr'))"
                          ".map(r => [r.dataset.signature, getComputedStyle(r.querySelector('.swatch')).backgroundColor]))")
    assert colours and all(swatches[signature] == colour for signature, colour in colours.items())
    assert len(set(colours.values())) == len(colours)
    # The 90-day view comes up with its button (CSS only).
    browser.js("document.querySelector('label[for=range-90]').click()")
    assert browser.js("getComputedStyle(document.querySelector('.c30')).display") == "none"

    # Hosts: readiness with the reason, the latest panic test and its history.
    hosts = browser.js("Object.fromEntries(Array.from(document.querySelectorAll('#hosts-table tbody tr'))"
                       ".map(r => [r.dataset.host, [r.dataset.ready, r.cells[2].textContent.trim(),"
                       " r.cells[6].textContent.trim(), r.querySelectorAll('.dot').length]]))")
    assert sorted(hosts) == ["app1", "db1", "web1"]
    assert hosts["db1"][0] == "bad" and "No memory is reserved" in hosts["db1"][1]
    assert hosts["db1"][2].startswith("fail") and hosts["db1"][3] == 3
    assert hosts["web1"][0] == "ok" and hosts["web1"][2].startswith("pass") and hosts["web1"][3] == 3
    assert hosts["app1"][2] == "never tested"
    attention = browser.js("Array.from(document.querySelectorAll('#attention li')).map(li => li.textContent)")
    assert any("not ready" in item and "db1" in item for item in attention)
    assert any("panic test fail" in item and "db1" in item for item in attention)

    # Hostile text: shown exactly as text, nothing ran, no element or link came from it.
    assert_no_hostile_markup(browser)
    # And should an escaping mistake ever let an inline handler through, the page's CSP blocks it.
    browser.js("document.body.setAttribute('onclick', \"document.title='PWNED'\"); document.body.click()")
    assert browser.js("document.title") == "Crash report <lab>"
    panic_row = [g for g in report["groups"] if g["kind"] == "panic"][0]
    reason = browser.js("document.querySelector('#sig-%s .reason').textContent" % panic_row["signature"])
    assert reason == fleet_store.HOSTILE_TEXT

    # A crash page reached through its link: the hostile crash, and one file of it.
    link = browser.js("document.querySelector('#crashes-table tr[data-key^=\"lab7-\"] a.evidence').href")
    assert link.startswith("file://") and link.endswith(".html")
    browser.open(link)
    assert browser.js("document.querySelector('#headline').textContent") == (
        "Kernel panic - not syncing: " + fleet_store.HOSTILE_TEXT)
    assert browser.js("document.querySelector('pre.log .hit').textContent").endswith(fleet_store.HOSTILE_TEXT)
    assert "<script>x</script>" in browser.js("document.querySelector('#crash dl').textContent")
    assert_no_hostile_markup(browser)
    browser.screenshot(str(tmp_path / "crash.png"))
    files = browser.js("Array.from(document.querySelectorAll('#files-table a')).map(a => [a.textContent, a.href])")
    assert [name for name, _href in files] == ["crashkit-bundle/bundle.json", "crashkit-bundle/dmesg.txt",
                                               "dmesg.%s" % os.path.basename(link)[:-len(".html")]]
    browser.open(files[1][1])
    assert "Kernel panic - not syncing: <img" in browser.js("document.body.textContent")
    # Back to the report from the crash page.
    browser.open(link)
    back = browser.js("document.querySelector('header .brand').href")
    assert browser.open(back) == url


def test_report_served_over_http(site, browser, server):
    """The same store from a static web server: relative links work there too."""
    browser.open(server + "/report.html")
    assert browser.js("document.querySelectorAll('#crashes-table tbody tr').length") == len(
        site["result"]["crashes"])
    hrefs = browser.js("Array.from(document.querySelectorAll('#crashes-table a.evidence')).map(a => a.href)")
    assert hrefs and all(href.startswith(server + "/report.d/") for href in hrefs)
    browser.open(hrefs[0])
    assert browser.js("document.querySelector('#crash h1').textContent")
    first_file = browser.js("document.querySelector('#files-table a').href")
    browser.open(first_file)
    assert browser.js("document.contentType") in ("application/json", "text/plain")
    assert browser.js("document.body.textContent").startswith("{")


@pytest.mark.skipif(not os.environ.get("CRASHKIT_REPORT_SCREENSHOTS"),
                    reason="set CRASHKIT_REPORT_SCREENSHOTS=<directory> to remake the screenshots of docs/images")
def test_screenshots_for_the_docs(tmp_path, browser):
    """CRASHKIT_REPORT_SCREENSHOTS=docs/images: fleet-report.png and fleet-report-crash.png."""
    out = os.environ["CRASHKIT_REPORT_SCREENSHOTS"]
    now = time.time()
    store, results = fleet_store.demo(tmp_path, now)
    write_store_report(store, panic_results=results, readiness=fleet_store.DEMO_READINESS, now=now)
    browser.open(file_url(os.path.join(store, "report.html")))
    browser.screenshot(os.path.join(out, "fleet-report.png"), height=2300)
    browser.open(browser.js("document.querySelector('#crashes-table a.evidence').href"))
    browser.screenshot(os.path.join(out, "fleet-report-crash.png"), height=1250)
