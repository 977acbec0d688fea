// /ui/sweeps — your sweeps; /ui/sweeps/{id} — one sweep, live: the leaderboard, every
// trial's curve of the sweep's metric on one chart (pruned ones stop early), and each
// parameter against the value it reached.

import { api } from "./api.js";
import { Chart, color, joined } from "./charts.js";
import { every, h, main, number, replace, shortId, statusBadge, when } from "./dom.js";

const FINAL_SWEEP = new Set(["succeeded", "failed", "cancelled"]);

export async function showSweeps() {
  const body = h("tbody", { id: "sweeps" });
  replace(
    main(),
    h("div", { class: "toolbar" }, h("h1", {}, "Sweeps")),
    h("table", { class: "jobs" }, h("thead", {}, h("tr", {}, ["id", "status", "method", "metric", "trials", "best", "created"].map((c) => h("th", {}, c)))), body),
    h("p", { class: "hint" }, "Start one with ", h("code", {}, "tfjobs sweep submit sweep.yaml --follow"), " (see examples/sweep_grid.yaml)."),
  );
  const load = async () => {
    const { items } = await api("/sweeps?limit=50");
    replace(
      body,
      items.map((s) => {
        const done = Object.entries(s.counts).reduce((n, [k, v]) => n + (k === "queued" || k === "running" ? 0 : v), 0);
        return h(
          "tr",
          { "data-sweep": s.id },
          h("td", {}, h("a", { class: "mono", href: `/ui/sweeps/${s.id}` }, shortId(s.id))),
          h("td", {}, statusBadge(s.status)),
          h("td", {}, s.method + (s.pruner ? ` + ${s.pruner.type}` : "")),
          h("td", {}, `${s.metric} (${s.mode})`),
          h("td", { class: "num" }, `${done}/${s.max_trials}`),
          h("td", { class: "num" }, s.best ? number(s.best.value) : "–"),
          h("td", {}, when(s.created_at)),
        );
      }),
    );
  };
  await load();
  every(3000, load);
}

export async function showSweep() {
  const wanted = decodeURIComponent(location.pathname.replace(/\/+$/, "").split("/").pop());
  let sweep;
  try {
    sweep = await api(`/sweeps/${encodeURIComponent(wanted)}`);
  } catch (error) {
    if (error.status === 404 || error.status === 422) {
      replace(main(), h("h1", {}, "Sweep not found"), h("p", { id: "not-found" }, `You have no sweep with the id “${wanted}”.`));
      return;
    }
    throw error;
  }
  const status = h("span", { id: "status" });
  const summary = h("p", { id: "summary", class: "muted" });
  const board = h("div", { id: "leaderboard", class: "scroll" });
  const curves = h("div", { id: "curves", class: "charts" });
  const scatter = h("div", { id: "params", class: "charts" });
  const cancel = h("button", { type: "button", id: "cancel", class: "danger" }, "Cancel sweep");
  replace(
    main(),
    h("div", { class: "toolbar" }, h("h1", {}, `Sweep ${shortId(sweep.id)}`), status, cancel),
    summary,
    h("section", { class: "panel" }, h("h2", {}, "Leaderboard"), board),
    h("section", { class: "panel" }, h("h2", {}, `${sweep.metric} by epoch, every trial`), curves),
    h("section", { class: "panel" }, h("h2", {}, `Each parameter against ${sweep.metric}`), scatter),
  );
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    sweep = await api(`/sweeps/${sweep.id}/cancel`, { method: "POST" });
    await refresh();
  });

  const series = new Map(); // job id -> {epoch, values} once the trial is final
  let curveChart = null;
  let drawnTrials = "";
  const refresh = async () => {
    sweep = await api(`/sweeps/${sweep.id}`);
    const { items: trials } = await api(`/sweeps/${sweep.id}/trials?limit=1000`);
    replace(status, statusBadge(sweep.status));
    cancel.hidden = FINAL_SWEEP.has(sweep.status);
    const counts = Object.entries(sweep.counts).map(([k, v]) => `${v} ${k}`).join(", ") || "no trials yet";
    summary.textContent = `${sweep.method}${sweep.pruner ? ` with ${sweep.pruner.type} pruning` : ""} over ${Object.keys(sweep.space).join(", ")}; ${trials.length} of ${sweep.max_trials} trials, ${sweep.max_concurrent} at a time (${counts}); ${sweep.mode}imising ${sweep.metric}.`;
    replace(board, leaderboard(sweep, trials));

    for (const t of trials) {
      if (series.has(t.job_id) && series.get(t.job_id).final) continue;
      if (t.epochs_trained === 0) continue;
      const s = await api(`/jobs/${t.job_id}/metrics/series?kind=epoch&names=${sweep.metric}&max_points=2000`);
      series.set(t.job_id, { epoch: s.epoch, values: s.values[sweep.metric], final: !["queued", "running"].includes(t.status) });
    }
    const shown = trials.filter((t) => series.has(t.job_id));
    const key = shown.map((t) => t.job_id).join(",");
    if (key !== drawnTrials) {
      if (curveChart) curveChart.destroy();
      curves.replaceChildren();
      curveChart = shown.length
        ? new Chart(curves, { title: sweep.metric, xLabel: "epoch", labels: shown.map((t) => `#${t.number}${t.status === "pruned" ? " (pruned)" : ""}`), colors: shown.map((t) => color(t.number)), dashed: shown.map((t, i) => (t.status === "pruned" ? i : -1)) })
        : null;
      drawnTrials = key;
    }
    if (curveChart) curveChart.set(joined(shown.map((t) => [series.get(t.job_id).epoch, series.get(t.job_id).values])));
    drawScatter(scatter, sweep, trials);
    document.body.dataset.ready = "charts";
    return !FINAL_SWEEP.has(sweep.status);
  };
  await refresh();
  if (!FINAL_SWEEP.has(sweep.status)) every(2000, refresh);
}

function leaderboard(sweep, trials) {
  const sign = sweep.mode === "min" ? 1 : -1;
  const ranked = [...trials].sort((a, b) => (a.value === null) - (b.value === null) || sign * ((a.value ?? 0) - (b.value ?? 0)) || a.number - b.number);
  const names = Object.keys(sweep.space);
  const best = sweep.best ? sweep.best.job_id : null;
  return h(
    "table",
    { class: "compare" },
    h("thead", {}, h("tr", {}, h("th", {}, "rank"), h("th", {}, "trial"), names.map((n) => h("th", {}, n)), h("th", {}, sweep.metric), h("th", {}, "epochs"), h("th", {}, "status"), h("th", {}, "job"))),
    h(
      "tbody",
      {},
      ranked.map((t, i) =>
        h(
          "tr",
          { "data-trial": String(t.number), class: t.job_id === best ? "best-row" : undefined },
          h("td", { class: "num" }, t.value === null ? "" : String(i + 1)),
          h("td", { class: "num" }, `#${t.number}`),
          names.map((n) => h("td", { class: "num" }, typeof t.params[n] === "number" ? number(t.params[n]) : String(t.params[n]))),
          h("td", { class: t.job_id === best ? "num best" : "num" }, number(t.value), t.job_id === best ? " ★" : ""),
          h("td", { class: "num" }, String(t.epochs_trained)),
          h("td", {}, statusBadge(t.status)),
          h("td", {}, h("a", { class: "mono", href: `/ui/jobs/${t.job_id}` }, shortId(t.job_id))),
        ),
      ),
    ),
  );
}

// One small scatter per parameter: x the value tried, y the metric the trial reached.
function drawScatter(parent, sweep, trials) {
  parent.replaceChildren();
  const done = trials.filter((t) => t.value !== null);
  for (const [name, dimension] of Object.entries(sweep.space)) {
    const choices = dimension.choice;
    const x = done.map((t) => (choices ? choices.findIndex((c) => c === t.params[name]) : t.params[name]));
    const order = x.map((_, i) => i).sort((a, b) => x[a] - x[b]);
    // uPlot wants each x once: trials at the same value are drawn side by side, a hair apart
    const xs = [];
    for (const i of order) {
      const last = xs.length ? xs[xs.length - 1] : -Infinity;
      xs.push(x[i] > last ? x[i] : last + (choices ? 0.04 : Math.abs(last) * 1e-6 || 1e-9));
    }
    const chart = new Chart(parent, { title: name, xLabel: name, labels: [sweep.metric], points: true, logX: "log_uniform" in dimension, ticks: choices ? choices.map(String) : null });
    chart.set([xs, order.map((i) => done[i].value)]);
  }
}
