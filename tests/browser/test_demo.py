"""The demo page in headless Chromium: upload an image, see one picture per task (predictions
by a real `taskonomy worker transfer` process behind the gateway); a world sample shows its
ground truth beside each prediction."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_ui import browser, page, shot  # noqa: F401
from tests.services.gateway._fixtures import TOKEN, solver_address  # noqa: F401
from tests.services.gateway.test_models_api import Bank, bank, png, worker  # noqa: F401
from tests.unit.modelbank._experiment import SINGLE_VIEW

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]


def _tasks(bank: Bank) -> list[str]:  # noqa: F811
    spec = json.loads((bank.run_dir / "experiment.json").read_text())["spec"]
    return sorted(t["name"] for t in spec["tasks"])


@pytest.fixture()
def demo(bank: Bank, worker: Any, page: Any) -> Iterator[Any]:  # noqa: F811
    page.goto(f"{bank.url}/ui/demo")
    page.evaluate(f"sessionStorage.setItem('taskonomy.token', {json.dumps(TOKEN)})")
    page.goto(f"{bank.url}/ui/demo?experiment={bank.exp_id}")
    page.wait_for_function("() => document.querySelectorAll('#experiment option').length > 0")
    yield page


def _all_loaded(pg: Any, selector: str) -> bool:
    return bool(pg.evaluate(f"() => [...document.querySelectorAll({json.dumps(selector)})]"
                            ".every(img => img.complete && img.naturalWidth > 50)"))


def test_upload_shows_one_picture_per_task(bank: Bank, demo: Any, tmp_path: Path) -> None:  # noqa: F811
    assert demo.locator("#experiment").input_value() == bank.exp_id
    image = tmp_path / "photo.png"
    image.write_bytes(png(90, 60, seed=3))
    demo.set_input_files("#file", str(image))
    demo.click("#upload")
    figures = demo.locator("[data-testid='prediction']")
    figures.first.wait_for(timeout=90_000)
    demo.wait_for_function("() => [...document.querySelectorAll(\"[data-testid='prediction'] img\")]"
                           ".every(img => img.complete && img.naturalWidth > 0)", timeout=30_000)
    assert sorted(figures.evaluate_all("els => els.map(e => e.dataset.task)")) == sorted(SINGLE_VIEW)
    assert "nonfixated_pose: skipped, needs 2 views" in demo.locator("#skipped").inner_text()
    assert _all_loaded(demo, "[data-testid='prediction'] img")
    assert demo.locator("[data-testid='input'] img").count() == 1
    assert demo.locator("[data-testid='truth']").count() == 0  # an upload has no ground truth
    assert demo.locator("#error").is_hidden()
    shot(demo, "demo-upload")


def test_world_sample_shows_ground_truth_beside_each_prediction(bank: Bank, demo: Any) -> None:  # noqa: F811
    demo.fill("#sample", "2")
    demo.click("#world")
    truths = demo.locator("[data-testid='truth']")
    truths.first.wait_for(timeout=90_000)
    demo.wait_for_function("() => [...document.querySelectorAll('#results img')]"
                           ".every(img => img.complete && img.naturalWidth > 0)", timeout=30_000)
    assert truths.count() == len(_tasks(bank))
    assert _all_loaded(demo, "[data-testid='prediction'] img")  # predictions and ground truth
    shot(demo, "demo-world-sample")


def test_a_file_that_is_not_an_image_shows_the_problem(bank: Bank, demo: Any, tmp_path: Path) -> None:  # noqa: F811
    bad = tmp_path / "notes.png"
    bad.write_text("this is text, not a picture")
    demo.set_input_files("#file", str(bad))
    demo.click("#upload")
    error = demo.locator("#error")
    error.wait_for(state="visible", timeout=30_000)
    assert "PNG or JPEG" in error.inner_text() and "415" in error.inner_text()
