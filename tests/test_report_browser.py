"""The HTML report (`snakemake --report`) of the smoke experiment, read in a real browser as a
researcher reads it: Debian's headless Chromium driven by Selenium. The front page describes the
experiment; the summary is there in full with its figures; every figure loads; the tables
list every variant; nothing is logged to the console as an error. Needs `chromium` and
`chromium-driver` (CI installs them; without them the test skips, under CI it fails)."""

import os
import shutil
import time

import pytest
from conftest import snakemake

from attnablate.report.outputs import FIGURES

pytestmark = pytest.mark.workflow
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
LABELS = ["qk", "qq@enc", "qq@enc (matched: total)"]


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and DRIVER):
        message = "Debian's chromium and chromium-driver are not installed"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    # Selenium Manager reports usage to a remote host unless told not to: the suite stays off
    # the network (the driver is the installed one, given below)
    os.environ["SE_AVOID_STATS"] = "true"
    from selenium import webdriver  # noqa: PLC0415  (only this test needs it)
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    options = webdriver.ChromeOptions()
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        options.add_argument(argument)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


class Report:
    """The report's single page, navigated as a reader clicks through it."""

    def __init__(self, driver, path):
        from selenium.webdriver.common.by import By  # noqa: PLC0415

        self.driver, self.by, self.url = driver, By, f"file://{path}"
        self.home()

    def home(self) -> None:
        self.driver.get(self.url)
        self.wait(lambda: "RESULTS" in self.text())

    # long enough for a machine busy with other work (the suite's own workers, a study):
    # a page that is shown returns at once, so only a failure waits this long
    def wait(self, condition, seconds: float = 60.0):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            found = condition()
            if found:
                return found
            time.sleep(0.2)
        raise AssertionError(f"not shown within {seconds} s:\n{self.text()[:2000]}")

    def text(self) -> str:
        return self.driver.find_element(self.by.TAG_NAME, "body").text

    def click(self, label: str) -> None:
        xpath = f"//*[normalize-space(text())='{label}']"
        self.wait(lambda: self.driver.find_elements(self.by.XPATH, xpath))[0].click()

    def open(self, path: str) -> None:
        """Click the eye beside a file of the current listing: the file shows on the right."""
        xpath = f"//tr[td[normalize-space(text())='{path}']]//a[@iconname='eye']"
        self.wait(lambda: self.driver.find_elements(self.by.XPATH, xpath))[0].click()

    def shown_image(self) -> dict:
        """The figure shown in the main pane, once it has loaded."""

        def loaded():
            images = [
                i
                for i in self.driver.find_elements(self.by.TAG_NAME, "img")
                if "image/png" in (i.get_attribute("src") or "")
            ]
            sizes = [i.get_property("naturalWidth") for i in images]
            return (
                images and sizes[0] and {"width": sizes[0], "src": images[0].get_attribute("src")}
            )

        return self.wait(loaded)

    def errors(self) -> list[dict]:
        return [e for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]


def test_the_html_report_reads_in_a_browser(smoke_run, browser):
    workdir, config = smoke_run
    result = snakemake(workdir, config, "--report", "report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    report = Report(browser, workdir / "report.html")

    # the front page: what the experiment is, and where to start
    assert "Experiment smoke" in report.text() and "Read 1. Summary first" in report.text()

    # 1. the summary, whole, with its figures loaded
    report.click("1. Summary")
    report.open("reports/smoke/summary.html")
    frame = report.wait(lambda: browser.find_elements(report.by.TAG_NAME, "iframe"))[0]
    browser.switch_to.frame(frame)
    summary = report.wait(lambda: "Not converged." in report.text() and report.text())
    assert all(f"`{label}`" in summary or label in summary for label in LABELS)
    # the smoke config's hostile claim: shown as text, one table row, none of it run
    assert "</script><img src=x onerror=window.pwned=1> a | b c <script>" in summary
    assert browser.execute_script("return window.pwned === undefined")
    widths = [
        i.get_property("naturalWidth") for i in browser.find_elements(report.by.TAG_NAME, "img")
    ]
    assert len(widths) == len(FIGURES) and all(w > 0 for w in widths), widths
    browser.switch_to.default_content()

    # 2. every figure, under its theme, loads with a real size
    for figure, theme in FIGURES.items():
        report.home()
        report.click("2. Figures")
        report.click(theme)
        report.open(f"reports/smoke/{figure}.png")
        assert report.shown_image()["width"] > 100, figure

    # 3. the tables list every variant
    report.home()
    report.click("3. Tables")
    report.click("Verdicts")
    report.open("reports/smoke/tables.html")
    frame = report.wait(lambda: browser.find_elements(report.by.TAG_NAME, "iframe"))[0]
    browser.switch_to.frame(frame)
    report.wait(lambda: "Runs" in report.text())
    tables = browser.find_elements(report.by.TAG_NAME, "table")
    assert len(tables) == 4  # claims, comparison, runs, per-seed tests
    comparison_cells = tables[1].text.split("\n")
    assert any("qq@enc (matched: total)" in row for row in comparison_cells)
    assert tables[2].text.count("qk") >= 1 and tables[2].text.count("qq@enc") == 2
    browser.switch_to.default_content()

    assert browser.execute_script("return window.pwned === undefined")
    assert report.errors() == []
