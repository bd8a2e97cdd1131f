"""The report in a real browser: headless Chromium (the system package) driven by Selenium with the system chromedriver.

The page loads from file:// with no console error and no request other than
file: and data:, shows every chart and image, its hover tooltip answers, and the
numbers it displays equal metrics.json's.  Skipped, with the reason, where
Selenium, Chromium or chromedriver is missing (``make test`` installs them where
it can).  Selenium Manager never runs: the driver's path is given and SE_OFFLINE set.

Slow (a browser's start and two pages, seconds), as the server's page in a browser
is: their fast twins in ``test_report.py`` check the same page without one (one
file that loads nothing, the metrics' and configs' cells, each curve's values, the
settings that differ marked).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from rnnkit.report import compare_runs, write_report
from rnnkit.report.reading import flatten

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser(start_chromium):
    driver = start_chromium("1280,900")
    yield driver
    driver.quit()


def _load(driver, path: Path) -> None:
    driver.get_log("performance")  # drop what came before
    driver.get_log("browser")
    driver.get(path.resolve().as_uri())
    assert driver.execute_script("return document.readyState") == "complete"


def _problems(driver) -> tuple[list[str], list[str]]:
    """(console errors, URLs requested that are not file: or data:)."""
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return errors, [u for u in urls if not u.startswith(("file:", "data:"))]


def test_report_loads_offline_shows_every_plot_and_the_metrics_json_numbers(browser, textgen_runs):
    run = textgen_runs[0]
    _load(browser, write_report(run))
    errors, remote = _problems(browser)
    assert errors == [] and remote == []
    visible = browser.execute_script("""
        return Array.from(document.querySelectorAll("figure.chart svg, img")).map(function (e) {
          var r = e.getBoundingClientRect();
          return [e.tagName, r.width > 50 && r.height > 50, e.tagName !== "IMG" || (e.complete && e.naturalWidth > 0)];
        });""")
    # loss, grad_norm and lr per epoch; grad_norm, reach and loss per step; gradient_flow.png and gates.png
    assert len(visible) == 8 and all(ok and loaded for _, ok, loaded in visible), visible
    shown = browser.execute_script("""
        return Array.from(document.querySelectorAll("#metrics td[data-key]")).map(function (td) {
          return [td.dataset.key, td.textContent]; });""")
    metrics = flatten(json.loads((run / "metrics.json").read_text()))
    assert {k for k, _ in shown} == set(metrics)
    for key, text in shown:
        value = metrics[key]
        assert math.isclose(float(text.replace(",", "")), value, rel_tol=1e-5), (key, text, value)
    # the tooltip: the values of the series at the epoch under the pointer
    from selenium.webdriver.common.action_chains import ActionChains

    chart = browser.find_element("css selector", "figure.chart svg")
    ActionChains(browser).move_to_element_with_offset(chart, 240, 0).perform()
    tip = browser.find_element("css selector", "figure.chart .tip")
    assert tip.is_displayed() and tip.text.startswith("epoch ") and "val_loss: " in tip.text


def test_compare_page_loads_offline_and_hides_the_settings_that_agree(browser, textgen_runs, tmp_path):
    _load(browser, compare_runs(textgen_runs, tmp_path / "compare.html"))
    assert _problems(browser) == ([], [])
    rows = "#config tbody tr"
    total = len(browser.find_elements("css selector", rows))
    browser.find_element("css selector", "input.only-differences[data-table='#config']").click()
    shown = [r for r in browser.find_elements("css selector", rows) if r.is_displayed()]
    assert 0 < len(shown) < total and all("differs" in r.get_attribute("class") for r in shown)
