// Line charts on uPlot (vendored: app/static/vendor/uplot). New points are drawn at most
// once per animation frame, in place: no flicker, and a zoom the user chose is kept
// (double-click returns to the whole series, which then follows new points again).

import { h } from "./dom.js";

const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#4d7c0f"];
export const color = (i) => PALETTE[i % PALETTE.length];
const WHOLE = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7];
const HEIGHT = 200;

export class Chart {
  // labels: one per y series; dashed: indexes drawn dashed (validation curves); points:
  // dots, no lines (a scatter); logX: a log x axis; ticks: names for x = 0, 1, 2, …
  constructor(parent, { title, xLabel, labels, dashed = [], colors, points = false, logX = false, ticks = null }) {
    this.box = h("figure", { class: "chart", "data-chart": title, "data-points": "0" });
    this.box.append(h("figcaption", {}, title));
    parent.append(this.box);
    this.data = [[], ...labels.map(() => [])];
    this.zoomed = false;
    this.pending = false;
    const series = [
      { label: xLabel },
      ...labels.map((label, i) => ({
        label,
        stroke: colors ? colors[i] : color(i),
        width: 1.5,
        dash: dashed.includes(i) ? [6, 4] : undefined,
        spanGaps: true,
        points: points ? { show: true, size: 7, fill: colors ? colors[i] : color(i) } : { show: false },
        paths: points ? () => null : undefined,
      })),
    ];
    const xAxis = { label: xLabel, incrs: logX ? undefined : WHOLE };
    if (ticks) Object.assign(xAxis, { incrs: [1], values: (_u, splits) => splits.map((v) => ticks[Math.round(v)] ?? "") });
    else if (points) xAxis.incrs = undefined; // values tried: any number
    this.plot = new window.uPlot(
      {
        width: this.width(),
        height: HEIGHT,
        series,
        scales: { x: logX ? { time: false, distr: 3 } : { time: false } },
        // whole-number ticks for epochs and steps: they have no halves
        axes: [xAxis, { size: 60 }],
        legend: { live: true },
        cursor: { drag: { x: true, y: false } },
        hooks: { setSelect: [() => (this.zoomed = true)] },
      },
      this.data,
      this.box,
    );
    this.plot.over.addEventListener("dblclick", () => (this.zoomed = false));
    this.resize = new ResizeObserver(() => this.plot.setSize({ width: this.width(), height: HEIGHT }));
    this.resize.observe(parent);
  }

  // Two charts a row on a wide page, one on a narrow one.
  width() {
    const room = this.box.parentElement ? this.box.parentElement.clientWidth : 600;
    return Math.max(280, Math.floor(room >= 900 ? (room - 14) / 2 : room - 2));
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

  draw() {
    this.pending = false;
    this.plot.setData(this.data, !this.zoomed);
    this.box.dataset.points = String(this.data[0].length);
  }

  destroy() {
    this.resize.disconnect();
    this.plot.destroy();
  }
}

// Several (x[], y[]) series on one shared, sorted x: uPlot's own join (nulls where a
// series has no point).
export function joined(pairs) {
  return window.uPlot.join(pairs.map(([x, y]) => [x, y]));
}
