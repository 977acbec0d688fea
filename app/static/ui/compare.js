// /ui/compare?ids=a,b,… — the jobs' epoch curves overlaid per metric, the spec fields that
// differ, and the final metrics with the best of each column marked.

import { api } from "./api.js";
import { Chart, color, joined, smoothingControl } from "./charts.js";
import { h, main, notice, number, replace, shortId, statusBadge } from "./dom.js";

const MAX_JOBS = 8;
// Metrics where higher is better; every other one (losses, errors, seconds) is lower.
const HIGHER_IS_BETTER = /(^|_)(acc|accuracy|auc|precision|recall|samples_per_second)$/;
// Facts of a run rather than results: shown, never marked best.
const NOT_RANKED = new Set(["epochs", "stopped_early", "lr"]);
const rank = (key) => ({ loss: 0, val_loss: 1 })[key] ?? 2;

export async function showCompare() {
  const ids = [...new Set((new URLSearchParams(location.search).get("ids") || "").split(",").map((s) => s.trim()).filter(Boolean))].slice(0, MAX_JOBS);
  if (ids.length === 0) {
    replace(main(), h("h1", {}, "Compare"), h("p", {}, "Pick two or more jobs on ", h("a", { href: "/ui/" }, "the job list"), " and press “Compare selected”."));
    return;
  }
  const loaded = await Promise.all(
    ids.map(async (id) => {
      try {
        const job = await api(`/jobs/${encodeURIComponent(id)}`);
        const series = await api(`/jobs/${job.id}/metrics/series?kind=epoch&max_points=2000`);
        return { job, series };
      } catch (error) {
        if (error.status === 404 || error.status === 422) return { missing: id };
        throw error;
      }
    }),
  );
  const runs = loaded.filter((r) => r.job);
  const missing = loaded.filter((r) => r.missing).map((r) => r.missing);
  if (missing.length) notice(`Not found: ${missing.join(", ")}`);
  const label = (job) => job.name || shortId(job.id);

  // trials of one sweep: its metric leads the table
  const sweeps = new Set(runs.map((r) => r.job.sweep_id));
  const sweepId = sweeps.size === 1 ? [...sweeps][0] : null;
  const first = sweepId ? (await api(`/sweeps/${sweepId}`).catch(() => null))?.metric : null;
  const charts = h("div", { class: "charts" });
  replace(
    main(),
    h("div", { class: "toolbar" }, h("h1", {}, `Compare ${runs.length} jobs`)),
    h("section", { class: "panel" }, h("h2", {}, "Runs"), table(runs, label, first)),
    h("section", { class: "panel" }, h("div", { class: "panel-head" }, h("h2", {}, "Epoch metrics"), smoothingControl()), charts),
  );

  const names = [...new Set(runs.flatMap((r) => Object.keys(r.series.values)))].sort((a, b) => (a === first ? -1 : b === first ? 1 : 0));
  for (const name of names) {
    const chart = new Chart(charts, { title: name, xLabel: "epoch", labels: runs.map((r) => label(r.job)), colors: runs.map((_, i) => color(i)), sync: "compare" });
    chart.set(joined(runs.map((r) => [r.series.epoch, r.series.values[name] || r.series.epoch.map(() => null)])));
  }
  document.body.dataset.ready = "charts";
}

// Final value of each metric: the summary if finished, else the last epoch value.
function finals(run) {
  if (run.job.summary) return run.job.summary;
  const values = {};
  for (const [name, column] of Object.entries(run.series.values)) {
    for (let i = column.length - 1; i >= 0; i -= 1) {
      if (column[i] !== null) {
        values[name] = column[i];
        break;
      }
    }
  }
  return values;
}

// Metric columns first (the sweep's own metric first of all when the runs are trials of
// one sweep), then the spec fields that differ; 4 significant digits; the first column
// stays put while the table scrolls sideways inside its card.
function table(runs, label, first) {
  const specKeys = [...new Set(runs.flatMap((r) => Object.keys(r.job.spec)))].filter((key) => new Set(runs.map((r) => JSON.stringify(r.job.spec[key] ?? null))).size > 1);
  const results = runs.map(finals);
  const order = (key) => (key === first ? -1 : rank(key));
  const metricKeys = [...new Set(results.flatMap((r) => Object.keys(r)))].sort((a, b) => order(a) - order(b) || a.localeCompare(b));
  const best = Object.fromEntries(
    metricKeys.map((key) => {
      const values = results.map((r) => r[key]).filter((v) => typeof v === "number");
      if (NOT_RANKED.has(key) || new Set(values).size < 2) return [key, null]; // nothing to choose between
      return [key, HIGHER_IS_BETTER.test(key) ? Math.max(...values) : Math.min(...values)];
    }),
  );
  const show = (value) => (value === undefined ? "–" : typeof value === "number" ? number(value) : typeof value === "object" && value !== null ? JSON.stringify(value) : String(value));
  const head = h("thead", {}, h("tr", {}, h("th", { class: "sticky" }, "job"), h("th", {}, "status"), metricKeys.map((k) => h("th", { class: k === first ? "num key-metric" : "num" }, k)), specKeys.map((k) => h("th", { class: "spec" }, k))));
  const rows = runs.map((run, i) =>
    h(
      "tr",
      { "data-job": run.job.id },
      h("td", { class: "sticky" }, h("span", { class: "swatch", "data-color": String(i % 8) }), h("a", { href: `/ui/jobs/${run.job.id}` }, label(run.job))),
      h("td", {}, statusBadge(run.job.status)),
      metricKeys.map((k) => {
        const value = results[i][k];
        const isBest = best[k] !== null && value === best[k];
        return h("td", { class: isBest ? "num best" : "num", title: isBest ? "best" : undefined }, number(value), isBest ? "\u00a0★" : "");
      }),
      specKeys.map((k) => h("td", { class: "spec" }, show(run.job.spec[k]))),
    ),
  );
  return h("div", { class: "scroll" }, h("table", { class: "compare", id: "compare-table" }, head, h("tbody", {}, rows)));
}
