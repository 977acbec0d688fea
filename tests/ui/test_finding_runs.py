"""Finding and reading runs in Chromium against a real ``tfjobs up``: the job list's
filter box (kept in the address), sweep column and "hide sweep trials"; charts with a
log switch, smoothing, legends that show values, cursors that move together and dots
for a one-point series; a compare table that fits; the sweep page's parallel coordinates
(brushing), importance bars and value-coloured curves; form hints in plain words. Every
page is shot at 1400 and 800 px (docs/img/ holds the ones the README shows)."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from harness.stack import wait_until
from tests.ui.conftest import screenshot
from tests.ui.test_dashboard import finish, submit

pytestmark = pytest.mark.browser

QUICK = {"model_type": "mlp", "loss": "huber", "epochs": 4, "dataset": "synthetic"}
SWEEP = {  # 10 trials: the fewest the importance bars need
    "spec": {"model_type": "mlp", "loss": "huber", "epochs": 2, "dataset": "synthetic"},
    "space": {
        "learning_rate": {"choice": [0.0001, 0.0003, 0.001, 0.01, 0.03]},
        "hidden_units": {"choice": [8, 32]},
    },
    "method": "grid",
    "max_concurrent": 2,
}
BLUE = (37, 99, 235)  # the first series' colour (charts.js PALETTE[0])


@pytest.fixture(scope="module")
def runs(up) -> dict[str, str]:
    """Named jobs and a finished 10-trial sweep, made once for the module."""
    made = {
        "baseline": submit(up, {**QUICK, "name": "baseline", "tags": ["baseline"]}),
        "fast": submit(up, {**QUICK, "name": "fast lr", "learning_rate": 0.01, "tags": ["fast"]}),
        "one epoch": submit(up, {**QUICK, "name": "one epoch", "epochs": 1}),
    }
    response = httpx.post(up.url + "/sweeps", json=SWEEP, timeout=30)
    assert response.status_code == 201, response.text
    made["sweep"] = response.json()["id"]
    for name in ("baseline", "fast", "one epoch"):
        finish(up, made[name])

    def sweep_done() -> bool:
        return httpx.get(f"{up.url}/sweeps/{made['sweep']}", timeout=10).json()["status"] == "succeeded"

    wait_until(sweep_done, 300, "the 10-trial sweep", logs=up.printed)
    return made


def both_widths(page, name: str) -> None:
    """The page at 1400 px and at 800 px, where nothing may push the page sideways."""
    for width in (1400, 800):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(300)  # charts resize on the next frame
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} at {width} px is {overflow} px wider than the window"
        screenshot(page, f"{name}-{width}")
    page.set_viewport_size({"width": 1280, "height": 900})


def blue_pixels(page, chart: str) -> int:
    """Pixels of the first series' colour on a chart's canvas: a drawn line or dot."""
    return page.evaluate(
        """([chart, rgb]) => {
          const canvas = document.querySelector(`figure[data-chart="${chart}"] canvas`);
          const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
          let n = 0;
          const near = (i) => [0, 1, 2].every((k) => Math.abs(data[i + k] - rgb[k]) < 30);
          for (let i = 0; i < data.length; i += 4) if (near(i) && data[i + 3] > 128) n += 1;
          return n;
        }""",
        [chart, list(BLUE)],
    )


def test_the_job_list_finds_runs_by_a_filter_kept_in_the_address(up, runs, page, console):
    console.expected = ("status of 422",)  # the refused filter, which the page then explains
    page.goto(f"{up.url}/ui/")
    page.wait_for_selector("body[data-ready=jobs]")
    trial_rows = page.locator("#jobs tr[data-sweep]:not([data-sweep=''])")
    assert trial_rows.count() == 10  # trials are listed, each with its sweep and number
    assert trial_rows.first.locator("td.col-sweep a").inner_text().startswith(runs["sweep"][:8] + " #")
    page.locator("#hide-trials").check()
    wait_until(lambda: trial_rows.count() == 0, 10, "sweep trials hidden")
    assert "trials=hide" in page.url

    page.fill("#search", "tag = 'baseline' or learning_rate >= 0.01")
    page.press("#search", "Enter")
    rows = page.locator("#jobs tr")
    wait_until(lambda: rows.count() == 2, 10, "two jobs found")
    assert {runs["baseline"], runs["fast"]} == {rows.nth(i).get_attribute("data-job") for i in range(2)}
    assert f"filter={quote(page.input_value('#search'), safe='')}" in page.url.replace("+", "%20")
    # the address holds the search: a reload (or a shared link) finds the same jobs
    page.reload()
    page.wait_for_selector("body[data-ready=jobs]")
    assert page.input_value("#search") == "tag = 'baseline' or learning_rate >= 0.01"
    wait_until(lambda: rows.count() == 2, 10, "the same two after a reload")
    assert page.locator("#hide-trials").is_checked()
    both_widths(page, "jobs-search")

    page.fill("#search", "learning_rate < ")
    page.press("#search", "Enter")
    error = page.locator("#search-error")
    error.wait_for()
    assert error.inner_text() == "column 16: expected a value"  # of the text as typed (trimmed)
    assert rows.count() == 2  # the last good answer stays

    page.goto(f"{up.url}/ui/?filter={quote('metrics.val_loss != null')}")
    page.wait_for_selector("body[data-ready=jobs]")
    wait_until(lambda: rows.count() == 13, 10, "every job with a val_loss")
    # pruned and cancelled runs show their last values too: no row is missing a loss
    assert "–" not in page.locator("#jobs td.num").all_inner_texts()
    both_widths(page, "jobs")


def test_charts_switch_scale_smooth_show_values_and_move_together(up, runs, page):
    page.goto(f"{up.url}/ui/jobs/{runs['baseline']}")
    page.wait_for_selector("body[data-ready=charts]")
    loss = page.locator('figure[data-chart="loss"]')
    # the legend shows the newest values without a hover: never "--"
    legend = loss.locator(".u-legend").inner_text()
    assert "--" not in legend and "epoch" in legend and "4" in legend
    assert page.locator('figure[data-chart="loss (steps)"]').get_attribute("data-points") not in ("0", "1")

    loss.locator("button.scale").click()
    assert loss.get_attribute("data-scale") == "log"
    loss.locator("button.scale").click()
    assert loss.get_attribute("data-scale") == "linear"

    def value(chart: str, series: int) -> str:
        return (
            page.locator(f'figure[data-chart="{chart}"] .u-legend .u-series')
            .nth(series)
            .locator(".u-value")
            .inner_text()
        )

    raw_first = page.evaluate("document.querySelector('figure[data-chart=\"loss\"]').dataset.points")
    assert raw_first == "4"
    newest = value("loss", 1)
    page.locator("#smoothing").fill("0.9")
    wait_until(lambda: value("loss", 1) != newest, 5, "the smoothed newest loss")

    # hover the loss chart's first epoch: the mae chart's cursor (and legend) follow
    loss.scroll_into_view_if_needed()
    box = loss.locator(".u-over").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 2, box["y"] + box["height"] / 2)
    wait_until(lambda: value("mae", 0) == "1", 5, "the other chart's cursor at epoch 1")
    both_widths(page, "job")

    page.goto(f"{up.url}/ui/jobs/{runs['one epoch']}")
    page.wait_for_selector("body[data-ready=charts]")
    assert page.locator('figure[data-chart="loss"]').get_attribute("data-points") == "1"
    assert blue_pixels(page, "loss") > 10  # one epoch: a dot, not an empty box
    both_widths(page, "job-one-epoch")


def test_compare_leads_with_the_sweeps_metric_and_fits_its_card(up, runs, page):
    trials = httpx.get(f"{up.url}/sweeps/{runs['sweep']}/trials").json()["items"]
    ids = ",".join(t["job_id"][:8] for t in trials[:6])
    page.goto(f"{up.url}/ui/compare?ids={ids}")
    page.wait_for_selector("body[data-ready=charts]")
    headers = page.locator("#compare-table thead th").all_inner_texts()
    assert headers[:3] == ["job", "status", "val_loss"]  # the sweep's metric first of all
    assert headers.index("loss") < headers.index("learning_rate")  # metrics before spec fields
    cells = page.locator("#compare-table td.num").all_inner_texts()
    numbers = [c.replace("★", "").strip() for c in cells if c.strip() not in ("–", "")]
    digits = [n.lstrip("-").split("e")[0].replace(".", "").strip("0") for n in numbers]
    assert numbers and all(len(d) <= 4 for d in digits), numbers  # 4 significant digits at most
    page.set_viewport_size({"width": 800, "height": 900})
    card = page.locator("#compare-table").locator("xpath=..")
    assert card.evaluate("el => el.scrollWidth > el.clientWidth")  # scrolls inside the card
    assert (
        page.locator("#compare-table td.sticky").first.evaluate("el => getComputedStyle(el).position")
        == "sticky"
    )
    both_widths(page, "compare")


def test_the_sweep_page_plots_params_to_metric_brushes_and_ranks_importance(up, runs, page):
    sweep = httpx.get(f"{up.url}/sweeps/{runs['sweep']}").json()
    page.goto(f"{up.url}/ui/sweeps/{runs['sweep']}")
    page.wait_for_selector("body[data-ready=charts]")
    lines = page.locator("svg.parallel polyline")
    assert lines.count() == 10  # one line per trial with a value
    best = page.locator(f'svg.parallel polyline[data-trial="{sweep["best"]["job_id"]}"]')
    assert best.get_attribute("stroke-width") == "3.5"  # the best stands out
    bars = page.locator("svg.importance g[data-param]")
    assert bars.count() == 2
    shares = [float(bars.nth(i).get_attribute("data-share") or 0) for i in range(2)]
    assert sum(shares) == pytest.approx(1.0, abs=1e-3)
    # the curve chart's legend names at most ten trials, the best among them
    visible = page.locator("#curves .u-legend .u-series:not(.legend-hidden)")
    assert visible.count() == 11  # epoch + ten trials
    assert "★ best" in page.locator("#curves .u-legend").inner_text()
    both_widths(page, "sweep")

    # brush the metric axis' lower half: the leaderboard keeps only those trials
    axis = page.locator(f'svg.parallel g[data-axis="{sweep["metric"]}"] rect.brush-handle')
    page.locator("svg.parallel").scroll_into_view_if_needed()
    box = axis.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] - 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    kept = int(page.locator("svg.parallel").get_attribute("data-kept") or 0)
    assert 0 < kept < 10
    shown = page.locator("#leaderboard tbody tr:not([hidden])")
    assert shown.count() == kept
    assert shown.first.locator("td.best").count() == 1  # the lowest value is in the lower half
    screenshot(page, "sweep-brushed")
    page.goto(f"{up.url}/ui/sweeps")
    page.locator(f'tr[data-sweep="{runs["sweep"]}"]').wait_for()
    both_widths(page, "sweeps")


def test_form_hints_are_plain_words_and_messages_have_no_library_prefix(up, page, console):
    console.expected = ("status of 422",)
    page.goto(up.url + "/ui/new")
    page.locator("#job-form").wait_for()
    hints = page.locator(".hint").all_inner_texts()
    assert hints and not [h for h in hints if "`" in h or "GET /" in h or "seed's" in h]
    assert page.locator(".hint code").count() > 0  # names are set as code, not as Markdown
    page.select_option("#field-model_type", "mlp")
    page.select_option("#field-loss", "mse")
    page.fill("#field-epochs", "2")
    page.locator("details.more summary").click()
    page.fill("#field-replicas", "3")  # 32 does not divide over 3: a rule across two fields
    page.locator("#job-form button[type=submit]").click()
    notice = page.locator("#notice")
    notice.wait_for()
    assert "does not divide" in notice.inner_text() and "Value error" not in notice.inner_text()
    both_widths(page, "new")


def test_a_succeeded_jobs_model_is_registered_from_its_page_and_an_alias_moved(up, runs, page):
    page.goto(f"{up.url}/ui/jobs/{runs['baseline']}")
    page.locator("#register-form").wait_for()
    page.fill("#register-name", "baseline-model")
    page.locator("#register").click()
    page.locator("#registered a").wait_for()
    assert page.locator("#registered").inner_text() == "Registered as baseline-model version 1."
    page.goto(f"{up.url}/ui/models")
    page.wait_for_selector("body[data-ready=models]")
    assert page.locator('#models tr[data-model="baseline-model"]').count() == 1
    both_widths(page, "models")
    page.locator('a[href="/ui/models/baseline-model"]').click()
    page.wait_for_selector("body[data-ready=model]")
    page.locator("#alias-form button[type=submit]").click()
    page.locator('#aliases [data-alias="production"]').wait_for()
    assert (
        page.locator('#versions tr[data-version="1"] a').get_attribute("href")
        == f"/ui/jobs/{runs['baseline']}"
    )
    model = httpx.get(f"{up.url}/models/baseline-model").json()
    assert model["aliases"] == {"production": 1}
    both_widths(page, "model")
