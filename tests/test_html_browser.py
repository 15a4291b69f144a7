"""The HTML report in a real browser: Debian's Chromium driven by Selenium through chromedriver
(both installed by .ci/deps), headless, sandbox off (CI runs as root), no network, a throwaway profile.

Opens the studios-dk report from file:// under its own strict CSP, checks the script ran (the
filters appear), no request left the page, the counts shown match the findings, the matrix and the
selects filter, the keyboard works, print shows everything, text contrast is readable; then saves
the screenshot reports/studios-dk.png.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENSHOT = ROOT / "reports" / "studios-dk.png"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from scanner.report import examples

    assert (ROOT / examples.FIXTURE).is_dir(), "fixtures/studios-dk is missing"
    result, threshold = examples.example_result()
    out = tmp_path_factory.mktemp("html") / "studios-dk.html"
    out.write_text(examples.render_example("html", result, threshold), encoding="utf-8")
    data = json.loads(examples.render_example("json", result, threshold))
    return out, data


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver  # the test extra installs it; .ci/deps installs chromium-driver
    from selenium.webdriver.chrome.service import Service

    if not Path(CHROMIUM).exists() or not Path(CHROMEDRIVER).exists():
        pytest.fail("chromium and chromium-driver are needed: run `bash .ci/deps`")
    profile = tempfile.mkdtemp(prefix="dkscan-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--disable-extensions", "--hide-scrollbars", "--force-device-scale-factor=1",
                f"--user-data-dir={profile}", "--window-size=1280,1600", "--lang=en-US"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def visible(driver):
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#finding-list .finding'))"
        ".filter(e => getComputedStyle(e).display !== 'none')"
        ".map(e => ({layer: e.dataset.layer, severity: e.dataset.severity, file: e.dataset.file, rule: e.dataset.rule}));")


def wait_until(driver, condition, timeout=5):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: condition())


def select(driver, key, value):
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("css selector", f"select[data-key='{key}']")).select_by_value(value)


def test_report_in_chromium(report, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    path, data = report
    d = browser
    d.get(path.as_uri())
    findings = data["findings"]
    total = len(findings)

    # the script ran under the CSP (it un-hides the filters), nothing was fetched, nothing complained
    assert d.find_element(By.ID, "filters").is_displayed()
    assert d.execute_script("return performance.getEntriesByType('resource').length") == 0
    errors = [e for e in d.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == [], errors

    # counts shown == findings
    assert d.find_element(By.ID, "count-total").text == str(total)
    for sev, n in data["counts"]["by_severity"].items():
        assert d.find_element(By.CSS_SELECTOR, f".tiles [data-severity='{sev}']").text == str(n)
    for layer, row in data["summary"].items():
        for sev, n in row.items():
            cell = d.find_element(By.CSS_SELECTOR, f"#matrix [data-layer='{layer}'][data-severity='{sev}']")
            assert cell.get_attribute("data-count") == str(n)
            assert cell.text == (str(n) if n else "·")
    assert len(visible(d)) == total
    assert d.find_element(By.ID, "shown-count").text == str(total)
    verdict = d.find_element(By.ID, "verdict").get_attribute("data-verdict")
    assert verdict == data["verdict"].upper()
    if total == 0:
        return

    # a select filter: only that severity remains
    sev = max(data["counts"]["by_severity"], key=data["counts"]["by_severity"].get)
    select(d, "severity", sev)
    shown = visible(d)
    assert len(shown) == data["counts"]["by_severity"][sev] and {x["severity"] for x in shown} == {sev}
    assert d.find_element(By.ID, "shown-count").text == str(len(shown))
    assert f"Showing {len(shown)} of {total}" in d.find_element(By.ID, "filter-status").text

    # add a file filter on top: the intersection remains
    some_file = findings[0]["path"]
    select(d, "file", some_file)
    expect = [f for f in findings if f["severity"] == sev and f["path"] == some_file]
    shown = visible(d)
    assert len(shown) == len(expect) and all(x["file"] == some_file and x["severity"] == sev for x in shown)
    assert d.find_element(By.ID, "no-match").is_displayed() == (not expect)

    # clicking a matrix cell filters by layer and severity
    layer, sev2 = next((l, s) for l, row in data["summary"].items() for s, n in row.items() if n)
    cell = d.find_element(By.CSS_SELECTOR, f"#matrix button[data-layer='{layer}'][data-severity='{sev2}']")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", cell)
    cell.click()
    shown = visible(d)
    assert len(shown) == data["summary"][layer][sev2]
    assert {(x["layer"], x["severity"]) for x in shown} == {(layer, sev2)}
    assert cell.get_attribute("aria-pressed") == "true"

    # keyboard: clear, then Enter on a row header (a layer) filters by that layer
    d.find_element(By.ID, "flt-reset").send_keys(Keys.ENTER)
    wait_until(d, lambda: len(visible(d)) == total)  # the form's reset re-filters on the next tick
    row = d.find_element(By.CSS_SELECTOR, f"#matrix button.mx-row[data-layer='{layer}']")
    row.send_keys(Keys.ENTER)
    assert {x["layer"] for x in visible(d)} == {layer}
    assert len(visible(d)) == sum(data["summary"][layer].values())

    # print shows every finding, opens the details, hides the controls
    d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        shown_in_print = d.execute_script(
            "return Array.from(document.querySelectorAll('#finding-list .finding'))"
            ".filter(e => getComputedStyle(e).display !== 'none').length")
        assert shown_in_print == total
        assert d.execute_script("return getComputedStyle(document.getElementById('filters')).display") == "none"
    finally:
        d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})

    # accessibility basics: labelled controls, named buttons, readable contrast
    unnamed = d.execute_script(
        "return Array.from(document.querySelectorAll('button, select, input, textarea, a[href]'))"
        ".filter(e => !(e.getAttribute('aria-label') || e.textContent.trim() || (e.id && document.querySelector(`label[for='${e.id}']`)) || e.closest('label')))"
        ".map(e => e.outerHTML.slice(0, 80));")
    assert unnamed == []
    low_contrast = d.execute_script(CONTRAST_JS)
    assert low_contrast == [], low_contrast

    # screenshot of the report as a reviewer first sees it
    d.find_element(By.ID, "flt-reset").click()
    wait_until(d, lambda: len(visible(d)) == total)
    d.execute_script("window.scrollTo(0, 0)")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    assert d.save_screenshot(str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000


# WCAG 2 contrast of the text of badges, matrix cells, tiles, body text and links against the
# background they sit on (first opaque ancestor background).
CONTRAST_JS = r"""
function rgb(s) { const m = s.match(/rgba?\(([^)]+)\)/); if (!m) return null;
  const p = m[1].split(',').map(Number); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; }
function lum(c) { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); }
function bg(e) { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor);
  if (c && c.a > 0.9) return c; } return {r: 255, g: 255, b: 255, a: 1}; }
const bad = [];
document.querySelectorAll('.badge, .mx-cell, .tile-n, .tile-l, .f-msg, .f-loc, .filter-status, a, .appl, .has-fix, .meta dd, .verdict-word, .verdict-note, .sl .ln, .d-add, .d-del').forEach(e => {
  const fg = rgb(getComputedStyle(e).color); if (!fg || !e.textContent.trim()) return;
  const b = bg(e); const l1 = lum(fg), l2 = lum(b);
  const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
  const big = parseFloat(getComputedStyle(e).fontSize) >= 24;
  if (ratio < (big ? 3 : 4.5)) bad.push(e.className + ' ' + e.textContent.trim().slice(0, 20) + ' ' + ratio.toFixed(2));
});
return Array.from(new Set(bad)).slice(0, 20);
"""
