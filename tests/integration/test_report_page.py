"""test_report_page.py - the report's HTML page rendered by a real headless Chromium (Debian's
`chromium`, driven by browser.py over the DevTools pipe): on a phone-sized screen and a desktop
one, every chart is drawn (its SVG laid out with a size, bars of a real width), no script error
and no console error, nothing fetched but the page itself, no sideways scrolling on the phone,
and it prints to PDF; a screenshot of each is kept (build/test-artifacts/). Skipped, with the
reason, only when no chromium is installed (deploy/local/stack deps installs it).

The portfolio is the analytics one of test_report.py (600 cases with champion and challenger,
techniques, objections, agents, snapshots); `make demo` writes the same page from the demo's."""
import json
import os
from pathlib import Path

import psycopg
import pytest

import browser
import stackutil as su
from test_report import CHARTS, random_portfolio

# For every chart: its size on screen, its bars as laid out by the browser (each as long as its
# share of the plot's width: a 0% bar is drawn with no width), and how many have a real width.
PROBE = """JSON.stringify(Array.from(document.querySelectorAll('figure.chart')).map(f => {
  const svg = f.querySelector('svg'), box = svg ? svg.getBoundingClientRect() : null;
  const bars = Array.from(f.querySelectorAll('rect.bar')), w = +f.dataset.plotWidth;
  return {id: f.id, svgs: f.querySelectorAll('svg').length,
          width: box ? box.width : 0, height: box ? box.height : 0, bars: bars.length,
          drawn: bars.filter(r => Math.abs(r.getBBox().width - w * r.dataset.share) < 0.6).length,
          visible: bars.filter(r => r.getBBox().width > 0.5).length,
          whiskers: f.querySelectorAll('path.ci').length};
}))"""


@pytest.fixture(scope="module")
def page_file(tmp_path_factory):
    import random
    name = "report_page_%s" % su.run_id()
    dsn = su.create_database(name)
    out = tmp_path_factory.mktemp("page") / "report.html"
    try:
        with psycopg.connect(dsn, autocommit=True) as c:
            random_portfolio(c, random.Random(2026), "acme", 400)
        su.recobroctl("report", "--creditor", "acme", "--format", "html", "--out", str(out),
                      env={"RECOBRO_PG_DSN": dsn})
        yield out
    finally:
        su.drop_database(name)


def artifacts():
    d = Path(os.environ.get("RECOBRO_BIN", su.ROOT / "build" / "bin")).parent / "test-artifacts"
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.mark.parametrize("screen", [(390, 844, True, "phone"), (1280, 900, False, "desktop")],
                         ids=["phone", "desktop"])
def test_every_chart_is_drawn_in_chromium(page_file, screen):
    width, height, mobile, name = screen
    try:
        b = browser.Browser().__enter__()
    except browser.Unavailable as e:
        pytest.skip("cannot run the browser test: %s" % e)
    try:
        page = b.open(page_file.as_uri(), width, height, mobile)
        charts = json.loads(page.evaluate(PROBE))
        assert [c["id"] for c in charts] == CHARTS
        for c in charts:
            # Fluid: as wide as the column (the screen on a phone), 560 px at most.
            assert c["svgs"] == 1 and c["width"] >= min(width, 560) - 40 and c["height"] > 50, c
            assert c["bars"] > 0 and c["drawn"] == c["bars"] and c["visible"] > 0, c
        assert all(c["whiskers"] > 0 for c in charts if c["id"] != "chart-roll")
        assert page.errors == []
        assert page.requests == [page_file.as_uri()]  # nothing fetched but the page
        assert page.evaluate("document.querySelectorAll('script').length") == 0
        if mobile:  # readable on a phone: nothing wider than the screen but the tables' scrollers
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            assert page.evaluate(
                "document.querySelector('meta[name=viewport]').content").startswith(
                "width=device-width")
        shot = page.screenshot(artifacts() / ("report-page-%s.png" % name))
        assert shot.stat().st_size > 20000
        pdf = page.pdf(artifacts() / ("report-page-%s.pdf" % name))
        assert pdf.read_bytes().startswith(b"%PDF") and pdf.read_bytes().count(b"/Type /Page") > 1
    finally:
        b.__exit__(None, None, None)


def check_page(page, width):
    """Every chart of the page drawn, no script or console error, nothing fetched."""
    charts = json.loads(page.evaluate(PROBE))
    assert [c["id"] for c in charts] == CHARTS
    for c in charts:
        assert c["svgs"] == 1 and c["width"] >= min(width, 560) - 40 and c["height"] > 50, c
        assert c["bars"] > 0 and c["drawn"] == c["bars"] and c["visible"] > 0, c
    assert page.errors == []
    return charts


def test_make_demo_writes_the_page_with_every_chart(tmp_path):
    """deploy/local/demo (what `make demo` runs) on a database, topics, consumer groups and Redis
    database of its own: it feeds its 3,000-debtor portfolio through the real workers, runs a
    month of scheduler days, writes the report page and prints its path; the page, in Chromium,
    has every chart drawn and says something: a champion/challenger comparison with enough
    cases, a technique that makes a difference, six agents, roll rates."""
    if browser.find() is None:
        pytest.skip("cannot run the browser test: no chromium on PATH (Debian's package "
                    "`chromium`, installed by deploy/local/stack deps)")
    import re
    import subprocess
    rid = su.run_id()
    name = "report_demo_%s" % rid
    dsn = su.create_database(name)
    env_file = tmp_path / "demo.env"
    redis = re.sub(r"/\d+$", "", su.REDIS_URL) + "/11"
    env_file.write_text("".join("%s=%s\n" % (k, shlex_quote(v)) for k, v in dict(
        RECOBRO_PG_DSN=dsn, RECOBRO_REDIS_URL=redis, RECOBRO_KAFKA_BROKERS=su.BROKERS,
        **{"RECOBRO_TOPIC_" + t.upper().replace("-", "_"): "it.%s.%s" % (rid, t)
           for t in ("invoices", "payments", "interactions", "tasks", "case-events", "dlq")}
    ).items()))
    out = tmp_path / "demo"
    try:
        r = subprocess.run([str(su.ROOT / "deploy" / "local" / "demo"),
                            str(Path(os.environ.get("RECOBRO_BIN", su.BIN)).parent)],
                           env=dict(os.environ, DEMO_ENV=str(env_file), DEMO_OUT=str(out),
                                    DEMO_GROUP_PREFIX="it-" + rid),
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        page_path = out / "report.html"
        assert "demo: the collections report (one self-contained page with charts): %s" % \
            page_path in r.stdout
        doc = json.loads(su.recobroctl("report", env={"RECOBRO_PG_DSN": dsn}).stdout)
    finally:
        su.drop_database(name)
    # The demo's portfolio has something to say.
    assert {a["agent_id"] for a in doc["agents"]} == {"agent-%03d" % i for i in range(1, 7)}
    assert any(t["promise_difference"].get("significant") for t in doc["techniques"])
    fg = [s for s in doc["champion_challenger"] if s["strategy"] == "forgetful"][0]
    assert [c["variant"] for c in fg["comparisons"]] == ["challenger"]
    assert fg["comparisons"][0]["cure"]["status"] == "ok"
    assert sum(r["resolved"] for r in doc["roll"]["rates"]) > 0
    with browser.Browser() as b:
        page = b.open(page_path.as_uri(), 390, 844, True)
        check_page(page, 390)
        page.screenshot(artifacts() / "report-page-demo-phone.png")


def shlex_quote(v):
    import shlex
    return shlex.quote(v)
