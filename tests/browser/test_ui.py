"""The web UI in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) against the
gateway on a real uvicorn server, real Redis and the real solver. Screenshots go to
``test-output/screenshots/``."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskonomy.affinity import load_table
from tests.services.gateway._fixtures import Live

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
SPEC = {"name": "dashboard-demo", "tasks": ["normal", "depth_zbuffer", "reshading"],
        "splits": {"train": 8, "transfer": 4, "test": 4}}
DOCUMENTED_ROOTS = ["class_places", "denoise", "edge2d", "keypoint2d", "keypoint3d", "rgb2sfnorm"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield b
        b.close()


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


def shot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def roots(page: Any) -> list[str]:
    return [str(t) for t in page.locator("#roots li").all_inner_texts()]


def wait_solved(page: Any) -> None:
    page.wait_for_function("() => document.body.dataset.solving === '0' && "
                           "document.querySelectorAll('#roots li').length > 0")


def test_taxonomy_page_budget_changes_the_roots(gw: Live, page: Any) -> None:
    page.goto(f"{gw.url}/ui/taxonomy")
    wait_solved(page)
    assert page.locator("#table").input_value() == "paper-16k"
    assert sorted(roots(page)) == DOCUMENTED_ROOTS  # the defaults give the documented taxonomy
    assert page.locator("#objective-value").inner_text() == "5.0328"
    assert page.locator("#graph svg path.edge").count() >= 16  # transfer edges into the other targets
    assert page.locator("#graph svg text.edge-label").count() >= 16
    shot(page, "taxonomy-budget-6")

    page.fill("#budget", "3")
    page.wait_for_function("() => document.body.dataset.solving === '0' && "
                           "document.querySelectorAll('#roots li').length === 3")
    smaller = roots(page)
    assert len(smaller) == 3 and sorted(smaller) != DOCUMENTED_ROOTS
    assert page.locator("#budget-range").input_value() == "3"
    shot(page, "taxonomy-budget-3")

    # a role change is sent too: making rgb2sfnorm target-only removes it from the roots
    page.fill("#budget", "6")
    wait_solved(page)
    page.select_option("select[data-task='rgb2sfnorm']", "target_only")
    page.wait_for_function("() => document.body.dataset.solving === '0' && "
                           "![...document.querySelectorAll('#roots li')].some(li => li.textContent === 'rgb2sfnorm')")
    assert "rgb2sfnorm" not in roots(page)
    page.select_option("#table", "paper-1k")
    page.wait_for_function("() => document.body.dataset.solving === '0' && "
                           "document.querySelector('select[data-task=\"rgb2sfnorm\"]').value === 'target'")
    wait_solved(page)
    shot(page, "taxonomy-paper-1k")


def test_dashboard_shows_live_progress(gw: Live, page: Any) -> None:
    with gw.client(auth=True) as c:
        exp_id = c.post("/v1/experiments", json=SPEC).json()["id"]
    state = gw.ctx.state
    state.set_state(exp_id, "RUNNING")
    state.add_stage_jobs(exp_id, "train", 3)
    state.add_stage_jobs(exp_id, "transfers", 6)
    state.job_done(exp_id, "train")

    page.goto(f"{gw.url}/ui/")
    train = page.locator(f"[data-testid='progress-{exp_id}-train']")
    train.wait_for()
    assert train.inner_text() == "1/3"
    assert page.locator(f"[data-testid='experiment-{exp_id}'] .state").inner_text() == "RUNNING"
    assert page.locator(f"[data-testid='progress-{exp_id}-transfers']").inner_text() == "0/6"
    from playwright.sync_api import expect

    expect(page.locator("#cluster")).to_have_text("no cluster configured (not running in Kubernetes)")
    shot(page, "dashboard-running-1")

    # the executor moves on; the page follows without a reload
    state.job_done(exp_id, "train")
    state.job_done(exp_id, "train")
    for _ in range(4):
        state.job_done(exp_id, "transfers")
    page.wait_for_function(f"() => document.querySelector(\"[data-testid='progress-{exp_id}-transfers']\")"
                           ".textContent === '4/6'", timeout=10_000)
    assert train.inner_text() == "3/3"
    bar = page.locator(f"[data-testid='experiment-{exp_id}'] .bar[data-stage='transfers']")
    assert bar.get_attribute("aria-valuenow") == "67"
    shot(page, "dashboard-running-2")


def test_experiment_page_heatmap_and_gain_quality(gw: Live, page: Any) -> None:
    from taskonomy.store import ArtifactStore

    with gw.client(auth=True) as c:
        exp_id = c.post("/v1/experiments", json=SPEC).json()["id"]
    table = load_table("paper-base")
    buf = io.BytesIO()
    table.write(buf, format="csv")
    ArtifactStore(gw.settings.store_url).put_bytes("results/ui-test/transfers.csv", buf.getvalue())
    report = f"experiments/{exp_id}/report/report.html"  # what the workers' finalize step writes
    ArtifactStore(gw.settings.store_url).put_bytes(report, b"<!doctype html><html><head></head><body>"
                                                           b"<h1>the report</h1></body></html>")
    gw.ctx.state.set_result(exp_id, {"table": "results/ui-test/transfers.csv", "store": gw.settings.store_url,
                                     "report": report})
    gw.ctx.state.add_stage_jobs(exp_id, "train", 1)
    gw.ctx.state.job_done(exp_id, "train")
    gw.ctx.state.add_event(exp_id, "job_restored", job="train-ui", reason="its worker was lost")
    gw.ctx.state.set_state(exp_id, "SUCCEEDED")

    page.goto(f"{gw.url}/ui/experiments/{exp_id}")
    page.locator("#heatmap svg").wait_for()
    events = page.locator("#events tbody tr")
    assert [events.nth(i).locator("td").nth(1).inner_text() for i in range(events.count())] == [
        "succeeded", "job_restored", "submitted"]  # newest first
    assert events.nth(1).inner_text().endswith("train-ui\tits worker was lost")
    assert page.locator("#jobs-restored").inner_text() == "1"
    assert page.locator("#progress-at").inner_text().endswith("s ago")
    link = page.get_by_test_id("report-link")
    assert link.is_visible() and link.get_attribute("href") == f"/v1/experiments/{exp_id}/report"
    first = [r for r in table.rows if r.kind == "first_order" and r.affinity is not None]
    assert page.locator("#heatmap rect.cell:not(.empty)").count() == len(first)
    transfers = [r for r in table.rows if r.kind in ("first_order", "higher_order")]
    assert page.locator("#gq tbody tr").count() == len(transfers)
    assert page.locator("#state").inner_text() == "SUCCEEDED"
    page.select_option("#gq-target", "rgb2sfnorm")
    visible = page.locator("#gq tbody tr:not([hidden])")
    assert visible.count() == len([r for r in transfers if r.target == "rgb2sfnorm"])
    shot(page, "experiment-heatmap")
    link.click()  # the report, served by the gateway
    page.get_by_role("heading", name="the report").wait_for()


def test_token_field_unlocks_protected_reads(redis_url: str, solver_address: str, tmp_path: Path,
                                             page: Any) -> None:
    from playwright.sync_api import expect

    from services.gateway.app import create_app
    from services.gateway.server import BackgroundServer
    from tests.services.gateway._fixtures import TOKEN, make_settings

    settings = make_settings(redis_url, solver_address, tmp_path, reads_require_token=True)
    with BackgroundServer(create_app(settings)) as srv:
        page.goto(f"{srv.url}/ui/taxonomy")
        expect(page.locator("#error")).to_contain_text("HTTP 401")
        page.fill("#token", TOKEN)
        page.dispatch_event("#token", "change")  # stores it in sessionStorage and reloads
        page.wait_for_load_state()
        wait_solved(page)
        assert sorted(roots(page)) == DOCUMENTED_ROOTS
        assert page.evaluate("sessionStorage.getItem('taskonomy.token')") == TOKEN
        shot(page, "taxonomy-with-token")
