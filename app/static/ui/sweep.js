// /ui/sweeps — your sweeps; /ui/sweeps/{id} — one sweep, live: the leaderboard, every
// trial's curve of the sweep's metric on one chart (pruned ones stop early), and each
// parameter against the value it reached.

import { api } from "./api.js";
import { Chart, joined, ramp, smoothingControl } from "./charts.js";
import { ParallelPlot, importanceBars } from "./parallel.js";
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
  const parallel = h("div", { id: "parallel" });
  const brushNote = h("p", { class: "hint", id: "brush-note" }, "Drag along an axis to keep only the trials in that range; click the axis to clear it.");
  const importance = h("div", { id: "importance" });
  const curves = h("div", { id: "curves", class: "charts" });
  const scatter = h("div", { id: "params", class: "charts" });
  const cancel = h("button", { type: "button", id: "cancel", class: "danger" }, "Cancel sweep");
  replace(
    main(),
    h("div", { class: "toolbar" }, h("h1", {}, `Sweep ${shortId(sweep.id)}`), status, cancel),
    summary,
    h("section", { class: "panel" }, h("h2", {}, "Leaderboard"), board),
    h("div", { class: "columns wide-first" }, h("section", { class: "panel" }, h("h2", {}, `Parameters → ${sweep.metric}`), parallel, brushNote), h("section", { class: "panel" }, h("h2", {}, "Parameter importance"), importance)),
    h("section", { class: "panel" }, h("div", { class: "panel-head" }, h("h2", {}, `${sweep.metric} by epoch, every trial`), smoothingControl()), curves),
    h("section", { class: "panel" }, h("h2", {}, `Each parameter against ${sweep.metric}`), scatter),
  );
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    sweep = await api(`/sweeps/${sweep.id}/cancel`, { method: "POST" });
    await refresh();
  });

  let curveChart = null;
  let drawnKey = "";
  let plot = null;
  let brushed = null; // trial job ids the brushes keep, or null for all
  let trials = [];
  const showBoard = () => replace(board, leaderboard(sweep, trials, brushed));
  const refresh = async () => {
    // every read at once; importance only once enough trials had succeeded at the last look
    const asked = (sweep.counts.succeeded || 0) >= IMPORTANCE_MIN_TRIALS ? api(`/sweeps/${sweep.id}/importance`).catch((error) => error) : null;
    const [fresh, page, drawn] = await Promise.all([api(`/sweeps/${sweep.id}`), api(`/sweeps/${sweep.id}/trials?limit=1000`), api(`/sweeps/${sweep.id}/curves`)]);
    sweep = fresh;
    trials = page.items;
    replace(status, statusBadge(sweep.status));
    cancel.hidden = FINAL_SWEEP.has(sweep.status);
    const counts = Object.entries(sweep.counts).map(([k, v]) => `${v} ${k}`).join(", ") || "no trials yet";
    summary.textContent = `${sweep.method}${sweep.pruner ? ` with ${sweep.pruner.type} pruning` : ""} over ${Object.keys(sweep.space).join(", ")}; ${trials.length} of ${sweep.max_trials} trials, ${sweep.max_concurrent} at a time (${counts}); ${sweep.mode}imising ${sweep.metric}.`;
    showBoard();

    // colour by value: best green .. worst red, by rank among trials with a value
    const best = sweep.best ? sweep.best.job_id : null;
    const sign = sweep.mode === "min" ? 1 : -1;
    const valued = trials.filter((t) => t.value !== null).sort((a, b) => sign * (a.value - b.value));
    const rankOf = new Map(valued.map((t, i) => [t.job_id, valued.length > 1 ? i / (valued.length - 1) : 0]));
    const colorOf = (t) => (rankOf.has(t.job_id) ? ramp(rankOf.get(t.job_id)) : "#9ca3af");

    // every trial's curve; the legend names the ten best
    const shown = trials.filter((t) => drawn.curves[t.job_id]);
    const order = [...shown].sort((a, b) => (rankOf.get(a.job_id) ?? 2) - (rankOf.get(b.job_id) ?? 2));
    const key = shown.map((t) => `${t.job_id}:${t.status}:${rankOf.get(t.job_id) ?? ""}`).join(",");
    if (key !== drawnKey) {
      if (curveChart) curveChart.destroy();
      curves.replaceChildren();
      curveChart = shown.length
        ? new Chart(curves, {
            title: sweep.metric,
            xLabel: "epoch",
            labels: shown.map((t) => `#${t.number}${t.status === "pruned" ? " (pruned)" : ""}${t.job_id === best ? " ★ best" : ""}`),
            colors: shown.map(colorOf),
            widths: shown.map((t) => (t.job_id === best ? 3.5 : 1.25)),
            dashed: shown.map((t, i) => (t.status === "pruned" ? i : -1)),
            legend: order.slice(0, 10).map((t) => shown.indexOf(t)),
            full: true,
          })
        : null;
      drawnKey = key;
    }
    if (curveChart) curveChart.set(joined(shown.map((t) => [drawn.curves[t.job_id].epoch, drawn.curves[t.job_id].values])));

    // parameters -> metric
    const axes = [
      ...Object.entries(sweep.space).map(([name, d]) => (d.choice ? { name, kind: "choice", choices: d.choice } : { name, kind: "log_uniform" in d ? "log" : "linear", range: d.log_uniform || d.uniform || d.int_uniform })),
      { name: sweep.metric, kind: "linear" },
    ];
    const rows = trials.filter((t) => t.value !== null).map((t) => ({ id: t.job_id, values: { ...t.params, [sweep.metric]: t.value }, color: colorOf(t), best: t.job_id === best }));
    if (!plot) {
      plot = new ParallelPlot(parallel, {
        axes,
        rows,
        onBrush: (kept, any) => {
          brushed = any ? kept : null;
          showBoard();
        },
      });
    } else plot.update(rows);

    drawScatter(scatter, sweep, trials);
    await showImportance(importance, sweep, asked);
    document.body.dataset.ready = "charts";
    return !FINAL_SWEEP.has(sweep.status);
  };
  await refresh();
  performance.mark("tfjobs:charts-drawn"); // bench/sweep_page.py reads it
  if (!FINAL_SWEEP.has(sweep.status)) every(2000, refresh);
}

// The finished trials GET /sweeps/{id}/importance needs (app/sweeps/importance.py
// MIN_TRIALS; tests/test_vocabulary.py holds the two equal): asked no sooner, so a young
// sweep's page makes no request that must fail.
const IMPORTANCE_MIN_TRIALS = 10;

// `asked`: the importance request made with the page's other reads (null: not asked).
async function showImportance(parent, sweep, asked) {
  const succeeded = sweep.counts.succeeded || 0;
  if (succeeded < IMPORTANCE_MIN_TRIALS) {
    replace(parent, h("p", { class: "muted", id: "importance-wait" }, `Shown once ${IMPORTANCE_MIN_TRIALS} trials have succeeded (${succeeded} so far).`));
    return;
  }
  const found = await (asked || api(`/sweeps/${sweep.id}/importance`).catch((error) => error));
  if (found instanceof Error) {
    if (found.status !== 409) throw found;
    replace(parent, h("p", { class: "muted", id: "importance-wait" }, found.message));
    return;
  }
  replace(parent, importanceBars(found.importances), h("p", { class: "hint" }, `PED-ANOVA over ${found.trials} succeeded trials: how much each parameter moved ${found.metric}.`));
}

function leaderboard(sweep, trials, brushed) {
  const sign = sweep.mode === "min" ? 1 : -1;
  const ranked = [...trials].sort((a, b) => (a.value === null) - (b.value === null) || sign * ((a.value ?? 0) - (b.value ?? 0)) || a.number - b.number);
  const names = Object.keys(sweep.space);
  const best = sweep.best ? sweep.best.job_id : null;
  return h(
    "table",
    { class: "compare" },
    h("thead", {}, h("tr", {}, h("th", { class: "sticky" }, "rank"), h("th", {}, "trial"), h("th", { class: "num key-metric" }, sweep.metric), names.map((n) => h("th", { class: "num" }, n)), h("th", {}, "epochs"), h("th", {}, "status"), h("th", {}, "job"))),
    h(
      "tbody",
      {},
      ranked.map((t, i) =>
        h(
          "tr",
          { "data-trial": String(t.number), class: t.job_id === best ? "best-row" : undefined, hidden: brushed && !brushed.has(t.job_id) ? true : undefined },
          h("td", { class: "num sticky" }, t.value === null ? "" : String(i + 1)),
          h("td", { class: "num" }, `#${t.number}`),
          h("td", { class: t.job_id === best ? "num best" : "num" }, number(t.value), t.job_id === best ? "\u00a0★" : ""),
          names.map((n) => h("td", { class: "num" }, typeof t.params[n] === "number" ? number(t.params[n]) : String(t.params[n]))),
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
