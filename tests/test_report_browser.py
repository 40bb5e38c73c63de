"""The label card in a real headless Chromium: loads cleanly, tables sort and filter, figures draw.

Needs the Debian packages ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them) and
selenium (the ``dev`` extra). Skipped with the reason where they are missing, except in CI
(``CI`` set), where a missing browser is a failure.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from labelwise import Annotations, audit
from labelwise.aggregate import DawidSkene, annotator_agreement
from labelwise.calibration import reliability_curve
from labelwise.datasets import load_digits_example
from labelwise.io import write_text_atomic
from labelwise.report import aggregation_card, audit_card

CHROME_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--window-size=1280,1600",
)


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the browser tests; see .ci/run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (dev extra) missing")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        _missing("needs the chromium and chromium-driver packages (apt-get install chromium "
                 "chromium-driver)")  # fmt: skip
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in CHROME_ARGS:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cards")
    ex = load_digits_example(noise=0.05, random_state=0)
    result = audit(ex.labels, pred_probs=ex.pred_probs, features=ex.features)
    digits = audit_card(
        result,
        source="built-in example",
        images=ex.images,
        reliability=reliability_curve(ex.pred_probs, ex.labels),
    )
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 60)
    matrix = np.where(rng.random((60, 6)) < 0.8, truth[:, None], rng.integers(0, 3, (60, 6)))
    people = ["alice", "bob", "carol", "dave", "erin", "frank"]
    long = pd.DataFrame(
        [(i, people[j], int(matrix[i, j])) for i in range(60) for j in range(6)],
        columns=["item", "source", "label"],
    )
    ann = Annotations.from_long(long)
    crowd = aggregation_card(
        ann, DawidSkene().fit(ann), agreement=annotator_agreement(ann), source="crowd"
    )
    paths = {"digits": root / "digits.html", "crowd": root / "crowd.html"}
    write_text_atomic(digits.to_html(), paths["digits"])
    write_text_atomic(crowd.to_html(), paths["crowd"])
    return paths


def _open(browser: Any, path: Path) -> None:
    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(path.as_uri())


def _column(browser: Any, table: str, column: int) -> list[str]:
    script = (
        "return Array.from(document.querySelectorAll(arguments[0] + ' tbody tr'))"
        ".filter(r => !r.hidden).map(r => r.cells[arguments[1]].getAttribute('data-sort'));"
    )
    return list(browser.execute_script(script, f"#{table}", column))


@pytest.mark.parametrize("page", ["digits", "crowd"])
def test_page_loads_without_errors_or_requests(
    browser: Any, pages: dict[str, Path], page: str
) -> None:
    _open(browser, pages[page])
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name);"
    )
    assert [name for name in resources if not name.startswith("data:")] == []
    expected = {
        "digits": [
            "summary",
            "classes",
            "noise",
            "label-issues",
            "outliers-duplicates",
            "calibration",
        ],
        "crowd": ["summary", "classes", "annotator-quality"],
    }[page]
    sections = browser.execute_script(
        "return Array.from(document.querySelectorAll('main > section')).map(s => s.id);"
    )
    assert sections == expected
    png = browser.get_screenshot_as_png()
    from matplotlib.image import imread

    pixels = imread(io.BytesIO(png))
    assert pixels.std() > 0.05  # not blank


def test_figures_and_thumbnails_render(browser: Any, pages: dict[str, Path]) -> None:
    _open(browser, pages["digits"])
    sizes = browser.execute_script(
        "return Array.from(document.querySelectorAll('figure svg')).map(s => {"
        "const r = s.getBoundingClientRect(); return [r.width, r.height,"
        " s.querySelectorAll('path, rect, use, image').length]; });"
    )
    assert len(sizes) == 3
    assert all(w > 100 and h > 100 and shapes > 5 for w, h, shapes in sizes)
    thumbs = browser.execute_script(
        "return Array.from(document.querySelectorAll('img.thumb'))"
        ".map(i => i.complete && i.naturalWidth);"
    )
    assert len(thumbs) > 0 and all(width == 8 for width in thumbs)


def test_issues_table_sorts_when_clicked(browser: Any, pages: dict[str, Path]) -> None:
    from selenium.webdriver.common.by import By

    _open(browser, pages["digits"])
    headers = browser.find_elements(By.CSS_SELECTOR, "#issues-table thead th")
    names = [h.text for h in headers]
    quality = names.index("label quality")
    original = [float(v) for v in _column(browser, "issues-table", quality)]
    assert original == sorted(original)  # worst first
    headers[quality].click()  # ascending
    headers[quality].click()  # descending
    values = [float(v) for v in _column(browser, "issues-table", quality)]
    assert values == sorted(original, reverse=True)
    assert headers[quality].get_attribute("aria-sort") == "descending"
    index = names.index("index")
    headers[index].click()
    rows = [int(float(v)) for v in _column(browser, "issues-table", index)]
    assert rows == sorted(rows)


def test_tables_filter_when_typed_in(browser: Any, pages: dict[str, Path]) -> None:
    from selenium.webdriver.common.by import By

    _open(browser, pages["crowd"])
    total = len(_column(browser, "annotators-table", 0))
    assert total == 6
    box = browser.find_element(By.CSS_SELECTOR, 'input[data-table="annotators-table"]')
    box.send_keys("CAR")  # case-insensitive
    assert _column(browser, "annotators-table", 0) == ["carol"]
    assert browser.find_element(By.ID, "annotators-table-count").text == "1 of 6 rows"
    box.clear()
    box.send_keys(" ")  # clear() sends no input event; a blank query shows every row
    assert len(_column(browser, "annotators-table", 0)) == total
