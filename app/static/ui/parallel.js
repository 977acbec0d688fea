// A parallel-coordinates plot in SVG: one vertical axis per parameter and one for the
// metric, one line per trial coloured by the value it reached. Drag along an axis to
// brush a range; trials outside every brush fade, and onBrush hears which remain.
//
// Drawn by hand rather than vendored: the libraries for it (d3-parcoords, plotly) bring
// all of d3 or plotly — several times the size of this whole dashboard — for ~150 lines.

import { tick } from "./charts.js";

const SVG = "http://www.w3.org/2000/svg";
const HEIGHT = 300;
const PAD = { top: 28, bottom: 24, left: 56, right: 64 };

function el(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

// axes: [{name, kind: "log" | "linear" | "choice", choices?}]; rows: [{id, values: {name: v}, color, best}]
export class ParallelPlot {
  constructor(parent, { axes, rows, onBrush }) {
    this.parent = parent;
    this.axes = axes;
    this.rows = rows;
    this.onBrush = onBrush || (() => {});
    this.brushes = new Map(); // axis name -> [low, high] in the axis' own units
    this.svg = el("svg", { class: "parallel", role: "img", "aria-label": `parallel coordinates of ${axes.map((a) => a.name).join(", ")}` });
    parent.replaceChildren(this.svg);
    this.resize = new ResizeObserver(() => this.draw());
    this.resize.observe(parent);
    this.draw();
  }

  // Each axis' map from a value to 0 (bottom) .. 1 (top), and back.
  scales() {
    return this.axes.map((axis) => {
      if (axis.kind === "choice") {
        const n = Math.max(1, axis.choices.length - 1);
        const index = (v) => axis.choices.findIndex((c) => c === v);
        return { to: (v) => (axis.choices.length === 1 ? 0.5 : index(v) / n), label: (t) => String(axis.choices[Math.round(t * n)] ?? "") };
      }
      const values = this.rows.map((r) => r.values[axis.name]).filter((v) => typeof v === "number" && (axis.kind !== "log" || v > 0));
      let low = axis.range ? axis.range[0] : Math.min(...values);
      let high = axis.range ? axis.range[1] : Math.max(...values);
      if (!values.length && !axis.range) [low, high] = [0, 1];
      const f = axis.kind === "log" ? Math.log10 : (v) => v;
      const [a, b] = [f(low), f(high)];
      const span = b - a || 1;
      return {
        to: (v) => (typeof v === "number" && (axis.kind !== "log" || v > 0) ? (f(v) - a) / span : null),
        label: (t) => tick(axis.kind === "log" ? 10 ** (a + t * span) : a + t * span),
      };
    });
  }

  selected(row, scales) {
    for (const [i, axis] of this.axes.entries()) {
      const brush = this.brushes.get(axis.name);
      if (!brush) continue;
      const t = scales[i].to(row.values[axis.name]);
      if (t === null || t < brush[0] || t > brush[1]) return false;
    }
    return true;
  }

  draw() {
    const width = Math.max(320, this.parent.clientWidth || 600);
    const svg = this.svg;
    svg.setAttribute("viewBox", `0 0 ${width} ${HEIGHT}`);
    svg.setAttribute("width", String(width));
    svg.setAttribute("height", String(HEIGHT));
    svg.replaceChildren();
    const scales = this.scales();
    const n = this.axes.length;
    const x = (i) => PAD.left + (n === 1 ? 0 : (i * (width - PAD.left - PAD.right)) / (n - 1));
    const y = (t) => PAD.top + (1 - t) * (HEIGHT - PAD.top - PAD.bottom);
    const lines = el("g", { class: "lines" });
    const kept = [];
    // the best last, so it is drawn on top
    const ordered = [...this.rows].sort((a, b) => Number(a.best) - Number(b.best));
    for (const row of ordered) {
      const points = this.axes.map((axis, i) => [x(i), scales[i].to(row.values[axis.name])]).filter(([, t]) => t !== null);
      if (points.length < 2) continue;
      const on = this.selected(row, scales);
      if (on) kept.push(row.id);
      lines.append(
        el("polyline", {
          points: points.map(([px, t]) => `${px.toFixed(1)},${y(t).toFixed(1)}`).join(" "),
          stroke: row.color,
          "stroke-width": row.best ? 3.5 : 1.5,
          "stroke-opacity": on ? (row.best ? 1 : 0.75) : 0.08,
          fill: "none",
          "data-trial": row.id,
          class: on ? "on" : "off",
        }),
      );
    }
    svg.append(lines);
    this.axes.forEach((axis, i) => {
      const g = el("g", { class: "axis", "data-axis": axis.name });
      g.append(el("line", { x1: x(i), x2: x(i), y1: y(0), y2: y(1), stroke: "#6b7280" }));
      const anchor = n > 1 && i === 0 ? "start" : n > 1 && i === n - 1 ? "end" : "middle";
      g.append(el("text", { x: anchor === "start" ? x(i) - 30 : anchor === "end" ? x(i) + 30 : x(i), y: 14, "text-anchor": anchor, class: "axis-name" }, axis.name));
      for (const t of axis.kind === "choice" ? axis.choices.map((_, k) => (axis.choices.length === 1 ? 0.5 : k / (axis.choices.length - 1))) : [0, 0.5, 1]) {
        g.append(el("text", { x: x(i) + 5, y: y(t) + 4, class: "tick" }, scales[i].label(t)));
      }
      const brush = this.brushes.get(axis.name);
      if (brush) g.append(el("rect", { x: x(i) - 7, width: 14, y: y(brush[1]), height: y(brush[0]) - y(brush[1]), class: "brush" }));
      // a wide invisible strip to drag on
      const handle = el("rect", { x: x(i) - 12, width: 24, y: y(1), height: y(0) - y(1), class: "brush-handle", fill: "transparent" });
      handle.addEventListener("pointerdown", (event) => this.startBrush(event, axis.name, y));
      g.append(handle);
      svg.append(g);
    });
    this.svg.dataset.kept = String(kept.length);
    return kept;
  }

  startBrush(event, name, y) {
    event.preventDefault();
    const box = this.svg.getBoundingClientRect();
    const toT = (clientY) => {
      const py = clientY - box.top;
      return Math.max(0, Math.min(1, 1 - (py - PAD.top) / (HEIGHT - PAD.top - PAD.bottom)));
    };
    const start = toT(event.clientY);
    const move = (e) => {
      const now = toT(e.clientY);
      // a brush begun or ended at an axis' end takes that end in (its extreme value)
      const low = Math.min(start, now);
      const high = Math.max(start, now);
      this.brushes.set(name, [low < 0.02 ? 0 : low, high > 0.98 ? 1 : high]);
      this.draw();
    };
    const up = (e) => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      if (Math.abs(toT(e.clientY) - start) < 0.01) this.brushes.delete(name); // a click clears
      this.onBrush(new Set(this.draw()), this.brushes.size > 0);
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  }

  update(rows) {
    this.rows = rows;
    this.draw();
  }
}

// Horizontal bars, one per parameter: its share of the importance.
export function importanceBars(shares) {
  const names = Object.keys(shares);
  const rowHeight = 24;
  const width = 420;
  const svg = el("svg", { class: "importance", viewBox: `0 0 ${width} ${names.length * rowHeight}`, width, height: names.length * rowHeight, role: "img", "aria-label": "parameter importance" });
  names.forEach((name, i) => {
    const share = shares[name];
    const g = el("g", { "data-param": name, "data-share": share.toFixed(4) });
    g.append(el("text", { x: 0, y: i * rowHeight + 16, class: "bar-name" }, name));
    g.append(el("rect", { x: 150, y: i * rowHeight + 4, width: Math.max(1, share * 210), height: 16, class: "bar" }));
    g.append(el("text", { x: 156 + share * 210, y: i * rowHeight + 16, class: "bar-value" }, `${(share * 100).toFixed(0)}%`));
    svg.append(g);
  });
  return svg;
}
