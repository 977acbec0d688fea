// Line charts on uPlot (vendored: app/static/vendor/uplot). New points are drawn at most
// once per animation frame, in place: no flicker, and a zoom the user chose is kept
// (double-click returns to the whole series, which then follows new points again).
//
// Each chart has a log/linear switch for y (a loss is flat on a linear axis after a few
// epochs), follows the page's smoothing (an EMA, as TensorBoard's slider), shows every
// series' value in its legend — the newest when the cursor is elsewhere, never "--" —
// and moves its cursor with the other charts of its sync group. A series with fewer than
// two points is drawn as dots.

import { h } from "./dom.js";

const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#4d7c0f"];
export const color = (i) => PALETTE[i % PALETTE.length];
const WHOLE = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7];
const HEIGHT = 260;
const MAX_LEGEND = 10; // more series than this: the legend names the first ten given

// A tick or legend value people can read: 1e-5 stays 1e-5 (never "0"), 4 significant digits.
export function tick(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  const magnitude = Math.abs(value);
  if (magnitude === 0) return "0";
  if (magnitude < 1e-3 || magnitude >= 1e5) return value.toExponential(magnitude.toExponential(1).startsWith("1.0") ? 0 : 1).replace("e+", "e");
  return String(Number(value.toPrecision(4)));
}

// A log axis labels its powers of ten only (uPlot's splits between them stay unlabelled).
function decades(_u, splits) {
  return splits.map((v) => (v > 0 && Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 1e-9 ? tick(v) : ""));
}

// Viridis-like ramp from good (0) to bad (1): trials coloured by the value they reached.
const RAMP = ["#1a9850", "#66bd63", "#a6d96a", "#d9ef8b", "#fee08b", "#fdae61", "#f46d43", "#d73027"];
export function ramp(t) {
  const x = Math.max(0, Math.min(1, t)) * (RAMP.length - 1);
  return RAMP[Math.round(x)];
}

// The page's smoothing, shared by every chart on it (0 = raw).
const smoothing = { value: 0, charts: new Set() };
export function smoothingControl() {
  const output = h("output", { id: "smoothing-value" }, "0");
  const slider = h("input", { type: "range", id: "smoothing", min: "0", max: "0.99", step: "0.01", value: "0", "aria-label": "smoothing" });
  slider.addEventListener("input", () => {
    smoothing.value = Number(slider.value);
    output.textContent = slider.value;
    for (const chart of smoothing.charts) chart.draw();
  });
  return h("label", { class: "smoothing" }, "Smoothing ", slider, " ", output);
}

// TensorBoard's debiased EMA, skipping gaps.
function smooth(values, weight) {
  if (!weight) return values;
  let last = 0;
  let count = 0;
  return values.map((v) => {
    if (v === null || v === undefined || !Number.isFinite(v)) return v;
    last = last * weight + (1 - weight) * v;
    count += 1;
    return last / (1 - weight ** count);
  });
}

export class Chart {
  // labels: one per y series; dashed: indexes drawn dashed (validation curves); points:
  // dots, no lines (a scatter); logX: a log x axis; ticks: names for x = 0, 1, 2, …;
  // colors, widths: per series; sync: a key shared by charts whose cursors move together;
  // legend: the series indexes the legend lists (default: the first ten); full: the
  // whole width even on a wide page.
  constructor(parent, options) {
    const { title, labels, logY = false } = options;
    this.options = options;
    this.logY = logY;
    this.box = h("figure", { class: "chart", "data-chart": title, "data-points": "0", "data-scale": logY ? "log" : "linear" });
    this.scaleButton = h("button", { type: "button", class: "scale", "aria-label": `${title}: log or linear scale`, title: "log or linear y axis" }, logY ? "log" : "linear");
    this.scaleButton.addEventListener("click", () => this.setLog(!this.logY));
    this.box.append(h("figcaption", {}, h("span", {}, title), options.points ? null : this.scaleButton));
    parent.append(this.box);
    this.data = [[], ...labels.map(() => [])];
    this.zoomed = false;
    this.pending = false;
    this.build();
    this.resize = new ResizeObserver(() => this.plot.setSize({ width: this.width(), height: HEIGHT }));
    this.resize.observe(parent);
    smoothing.charts.add(this);
  }

  build() {
    const { title, xLabel, labels, dashed = [], colors, widths, points = false, logX = false, ticks = null, sync } = this.options;
    // dots where a series has fewer than two points (one epoch, a trial pruned at once):
    // a line needs two, and a chart must never be an empty box
    const few = (_u, si) => points || (this.data[si] || []).filter((v) => v !== null && v !== undefined).length < 2;
    const series = [
      { label: xLabel, value: (_u, v, _si, idx) => tick(idx === null || idx === undefined ? this.latest(0) : v) },
      ...labels.map((label, i) => {
        const stroke = colors ? colors[i] : color(i);
        return {
          label,
          stroke,
          width: widths ? widths[i] : 1.5,
          dash: dashed.includes(i) ? [6, 4] : undefined,
          spanGaps: true,
          // the cursor elsewhere: the series' newest value, never "--"
          value: (_u, v, _si, idx) => tick(idx === null || idx === undefined ? this.latest(i + 1) : v),
          points: { show: few, size: 7, fill: stroke },
          paths: points ? () => null : undefined,
        };
      }),
    ];
    const xAxis = { label: xLabel, incrs: logX ? undefined : WHOLE, values: logX ? decades : (_u, splits) => splits.map(tick) };
    if (ticks) Object.assign(xAxis, { incrs: [1], values: (_u, splits) => splits.map((v) => ticks[Math.round(v)] ?? "") });
    else if (points) xAxis.incrs = undefined; // values tried: any number
    // one x (a single epoch): a range around it, so the dot is drawn in the middle
    const pad = (_u, min, max) => (min === max ? [min - 1, max + 1] : [min, max]);
    const yAxis = { size: 64, values: this.logY ? decades : (_u, splits) => splits.map(tick) };
    const plot = new window.uPlot(
      {
        title: undefined,
        width: this.width(),
        height: HEIGHT,
        series,
        scales: {
          x: logX ? { time: false, distr: 3 } : { time: false, range: pad },
          y: this.logY ? { distr: 3, log: 10 } : {},
        },
        // whole-number ticks for epochs and steps: they have no halves
        axes: [xAxis, yAxis],
        legend: { live: true },
        cursor: { drag: { x: true, y: false }, sync: sync ? { key: sync, setSeries: false } : undefined },
        hooks: { setSelect: [() => (this.zoomed = true)] },
      },
      (this.drawn = this.shown()),
      this.box,
    );
    plot.over.addEventListener("dblclick", () => (this.zoomed = false));
    const rows = plot.root.querySelectorAll(".u-legend .u-series");
    const listed = new Set(this.options.legend ?? labels.map((_, i) => i).slice(0, MAX_LEGEND));
    rows.forEach((row, i) => {
      if (i > 0 && !listed.has(i - 1)) row.classList.add("legend-hidden");
    });
    if (this.plot) {
      this.plot.destroy();
    }
    this.plot = plot;
    this.box.dataset.title = title;
  }

  // y on a log axis needs every value above zero: the switch says so when one is not.
  setLog(log) {
    if (log && this.data.slice(1).some((column) => column.some((v) => v !== null && v !== undefined && v <= 0))) {
      this.scaleButton.title = "a value at or below zero: no log scale";
      return;
    }
    this.logY = log;
    this.box.dataset.scale = log ? "log" : "linear";
    this.scaleButton.textContent = log ? "log" : "linear";
    this.build();
  }

  // A column's newest value as drawn (smoothed, when the page smooths; null when none yet).
  latest(si) {
    const column = (this.drawn || this.data)[si] || [];
    for (let i = column.length - 1; i >= 0; i -= 1) if (column[i] !== null && column[i] !== undefined) return column[i];
    return null;
  }

  // Two charts a row on a wide page, one on a narrow one (or when the chart is alone).
  width() {
    const room = this.box.parentElement ? this.box.parentElement.clientWidth : 600;
    return Math.max(280, Math.floor(room >= 900 && !this.options.full ? (room - 14) / 2 : room - 2));
  }

  // Replaces every column: [x[], y1[], y2[], ...].
  set(columns) {
    this.data = columns;
    this.draw();
  }

  // Adds one point: x and one y per series (null where a series has none).
  push(x, ys) {
    this.data[0].push(x);
    ys.forEach((y, i) => this.data[i + 1].push(y ?? null));
    if (!this.pending) {
      this.pending = true;
      requestAnimationFrame(() => this.draw());
    }
  }

  // The columns as drawn: smoothed by the page's slider (scatters never are).
  shown() {
    if (this.options.points || !smoothing.value) return this.data;
    return [this.data[0], ...this.data.slice(1).map((column) => smooth(column, smoothing.value))];
  }

  draw() {
    this.pending = false;
    this.drawn = this.shown();
    this.plot.setData(this.drawn, !this.zoomed);
    this.box.dataset.points = String(this.data[0].length);
    this.plot.setLegend({ idx: null }); // the newest values, as the legend shows them at rest
  }

  destroy() {
    smoothing.charts.delete(this);
    this.resize.disconnect();
    this.plot.destroy();
  }
}

// Several (x[], y[]) series on one shared, sorted x: uPlot's own join (nulls where a
// series has no point).
export function joined(pairs) {
  return window.uPlot.join(pairs.map(([x, y]) => [x, y]));
}
