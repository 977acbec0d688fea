"""The dashboard's job page at 100,000 points (issue 12's goals: charts drawn in under 1 s,
the series endpoint under 50 ms).

    .venv/bin/python -m bench.ui [--points 100000] [--runs 5]

Two jobs behind the real API (uvicorn, its own process): one with 100,000 points
(ingested through the worker's StoreReporter), and as the reference measured in the same
run, one with 100 points. Debian's Chromium (Playwright) opens ``/ui/jobs/{id}`` in a
fresh tab each run and reports first contentful paint, the moment the page's charts hold
the whole (downsampled) history (its ``tfjobs:charts-drawn`` mark), and the bytes the page
fetched. Also: the series endpoint's latency (100k → 2,000 points) and the API's RSS
before and after the pages were served.
"""

from __future__ import annotations

import argparse
import time

import httpx

from app.store import jobs as store_jobs
from app.store.db import Store, migrate
from bench.common import machine, median, rss_mb
from bench.metrics_reads import ingest
from bench.service import running_service

CHROMIUM = "/usr/bin/chromium"
TIMINGS = """() => {
  const paint = performance.getEntriesByName("first-contentful-paint")[0];
  const drawn = performance.getEntriesByName("tfjobs:charts-drawn")[0];
  const nav = performance.getEntriesByType("navigation")[0];
  const bytes = [nav, ...performance.getEntriesByType("resource")].reduce((n, e) => n + e.transferSize, 0);
  return { paint: paint ? paint.startTime : null, drawn: drawn.startTime, bytes };
}"""


def finished_job(store: Store, points: int) -> str:
    job_id, _ = ingest(store, points)
    with store.session() as session:
        store_jobs.finish_job(session, job_id=job_id, status="succeeded", summary={"loss": 0.25})
    return job_id


def page_timings(browser, url: str, runs: int) -> dict[str, float]:
    samples: list[dict] = []
    for _ in range(runs):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("body[data-ready=charts]", timeout=60_000)
        samples.append(page.evaluate(TIMINGS))
        context.close()
    return {key: median([s[key] for s in samples]) for key in ("paint", "drawn", "bytes")}


def series_latency(url: str, job_id: str, runs: int) -> tuple[float, int]:
    with httpx.Client(base_url=url, timeout=60) as client:
        latencies, size = [], 0
        for _ in range(runs):
            started = time.perf_counter()
            response = client.get(f"/jobs/{job_id}/metrics/series", params={"kind": "step", "names": "loss"})
            latencies.append(time.perf_counter() - started)
            response.raise_for_status()
            size = len(response.content)
    return median(latencies), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    print(f"machine: {machine()}")
    with running_service(workers=0) as service:
        store = Store(f"sqlite:///{service.data_dir / 'tfjobs.db'}")
        migrate(store.engine)
        big, small = finished_job(store, args.points), finished_job(store, 100)
        store.dispose()
        api = service.api_pid
        httpx.get(f"{service.url}/jobs/{small}").raise_for_status()  # warm: imports, first session
        rss_before = rss_mb(api)
        series, series_bytes = series_latency(service.url, big, args.runs * 3)
        rss_series = rss_mb(api)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            reference = page_timings(browser, f"{service.url}/ui/jobs/{small}", args.runs)
            measured = page_timings(browser, f"{service.url}/ui/jobs/{big}", args.runs)
            browser.close()
        rss_after = rss_mb(api)

    print(f"median of {args.runs} page loads (fresh tab each), {args.runs * 3} series requests\n")
    print("| /ui/jobs/{id} | first paint | charts drawn | bytes fetched |")
    print("| --- | ---: | ---: | ---: |")
    for label, t in ((f"{args.points:,} points", measured), ("reference: 100 points", reference)):
        print(f"| {label} | {t['paint']:.0f} ms | {t['drawn']:.0f} ms | {t['bytes'] / 1024:,.0f} KB |")
    print(
        f"\ncharts drawn at {args.points:,} points: {measured['drawn'] / reference['drawn']:.2f}× the "
        f"100-point page (goal: under 1,000 ms: {'met' if measured['drawn'] < 1000 else 'MISSED'})"
    )
    print(
        f"series endpoint, {args.points:,} → ≤ 2,000 points: {series * 1000:.1f} ms, {series_bytes:,} bytes "
        f"(goal: under 50 ms: {'met' if series < 0.05 else 'MISSED'})"
    )
    print(
        f"API RSS: {rss_before:.0f} MB at the start, {rss_series:.0f} MB after the series requests, "
        f"{rss_after:.0f} MB after the page loads ({rss_after - rss_series:+.0f} MB for the pages)"
    )


if __name__ == "__main__":
    main()
