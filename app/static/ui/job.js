// /ui/jobs/{id} — one job, live: status and progress, charts fed by the metrics stream,
// the log, attempts, artifacts and the spec.

import { api, download, follow, token } from "./api.js";
import { Chart, smoothingControl } from "./charts.js";
import { registerControl } from "./models.js";
import { FINAL, bytes, duration, every, h, main, notice, progressBar, queueText, replace, shortId, statusBadge, when } from "./dom.js";

const STEP_POINTS = 2000; // per series, drawn from the server's downsampled history
const MAX_LOG_LINES = 5000;

export async function showJob() {
  const wanted = decodeURIComponent(location.pathname.replace(/\/+$/, "").split("/").pop());
  let job;
  try {
    job = await api(`/jobs/${encodeURIComponent(wanted)}`);
  } catch (error) {
    if (error.status === 404 || error.status === 422) {
      replace(main(), h("h1", {}, "Job not found"), h("p", { id: "not-found" }, `You have no job with the id “${wanted}”.`), h("a", { href: "/ui/" }, "← all jobs"));
      return;
    }
    throw error;
  }
  const page = new JobPage(job);
  await page.start();
}

class JobPage {
  constructor(job) {
    this.job = job;
    this.id = job.id;
    this.abort = new AbortController();
    this.epochCharts = new Map(); // metric (without val_) -> {chart, names}
    this.lastSeq = { epoch: 0, step: 0 };
    this.el = {
      status: h("span", { id: "status" }),
      progress: h("span", { id: "progress" }),
      cancel: h("button", { type: "button", id: "cancel", class: "danger", onclick: () => this.cancel() }, "Cancel job"),
      waiting: h("p", { id: "waiting", class: "waiting", hidden: true }),
      error: h("div", { id: "error", class: "panel error", hidden: true }),
      facts: h("dl", { id: "facts", class: "facts" }),
      attempts: h("div", { id: "attempts" }),
      charts: h("div", { id: "charts", class: "charts" }),
      steps: h("div", { id: "step-chart", class: "charts" }),
      logs: h("div", { id: "logs", class: "logs", role: "log", tabindex: "0" }),
      artifacts: h("section", { id: "artifacts", class: "panel", hidden: true }),
      architecture: h("section", { id: "architecture", class: "panel", hidden: true }),
    };
    document.title = `${job.name || shortId(job.id)} · tfjobs`;
    replace(
      main(),
      h(
        "div",
        { class: "toolbar" },
        h("h1", {}, job.name || `Job ${shortId(job.id)}`),
        this.el.status,
        this.el.progress,
        this.el.cancel,
        h("a", { class: "button", id: "resubmit", href: `/ui/new?from=${job.id}` }, "Resubmit…"),
      ),
      h("p", { class: "mono muted" }, job.id),
      job.sweep_id
        ? h("p", { class: "trial-of", id: "trial-of" }, "A trial of ", h("a", { href: `/ui/sweeps/${job.sweep_id}` }, `sweep ${shortId(job.sweep_id)}`), ` with ${Object.entries(job.params || {}).map(([k, v]) => `${k}=${v}`).join(", ")}`)
        : null,
      this.el.waiting,
      this.el.error,
      h("section", { class: "panel" }, h("div", { class: "panel-head" }, h("h2", {}, "Epoch metrics"), smoothingControl()), this.el.charts, h("h2", {}, "Step loss"), this.el.steps),
      this.el.architecture,
      this.el.artifacts,
      h("section", { class: "panel" }, h("h2", {}, "Log"), this.el.logs),
      h("div", { class: "columns" }, h("section", { class: "panel" }, h("h2", {}, "Run"), this.el.facts, this.el.attempts), h("section", { class: "panel" }, h("h2", {}, "Spec"), h("pre", { id: "spec" }, JSON.stringify(job.spec, null, 2)))),
    );
    this.render();
    this.renderArchitecture(null);
  }

  // A `keras` job's own architecture as a table: its layers from the spec at once; output
  // shapes and parameter counts from the manifest once the model is built and exported.
  renderArchitecture(built) {
    const layers = this.job.spec.model_type === "keras" ? this.job.spec.architecture?.config?.layers ?? [] : [];
    if (!layers.length) return;
    const byName = new Map((built || []).map((row) => [row.name, row]));
    const shape = (row) => (row && row.output_shape ? `(${row.output_shape.map((n) => (n === null ? "None" : n)).join(", ")})` : "–");
    const rows = layers
      .filter((layer) => layer.class_name !== "InputLayer")
      .map((layer, i) => {
        const name = layer.config?.name ?? "";
        const row = byName.get(name);
        return h("tr", {}, h("td", { class: "num" }, String(i + 1)), h("td", {}, String(layer.class_name)), h("td", { class: "mono" }, String(name)), h("td", { class: "mono" }, shape(row)), h("td", { class: "num" }, row ? row.params.toLocaleString("en-US") : "–"));
      });
    const total = built ? built.reduce((sum, row) => sum + row.params, 0) : null;
    replace(
      this.el.architecture,
      h("h2", {}, "Architecture"),
      h(
        "table",
        { class: "layers", id: "layers" },
        h("thead", {}, h("tr", {}, ["#", "layer", "name", "output shape", "parameters"].map((c) => h("th", {}, c)))),
        h("tbody", {}, rows),
      ),
      h("p", { class: "muted", id: "layers-total" }, total === null ? "Output shapes and parameter counts appear once the model is exported." : `${total.toLocaleString("en-US")} parameters in all`),
    );
    this.el.architecture.hidden = false;
  }

  async start() {
    await this.loadHistory();
    performance.mark("tfjobs:charts-drawn");
    document.body.dataset.ready = "charts";
    if (FINAL.has(this.job.status)) {
      await this.finished();
    } else {
      follow(`/jobs/${this.id}/metrics/stream`, {
        after: this.after,
        signal: this.abort.signal,
        onEvent: (name, point) => name === "point" && this.point(point),
        onEnd: () => this.refresh(),
      });
      this.stopPolling = every(2000, () => this.refresh());
    }
    follow(`/jobs/${this.id}/logs/stream`, { after: 0, signal: this.abort.signal, onEvent: (name, line) => name === "log" && this.log(line) });
  }

  // The downsampled history of both kinds; the stream then starts where the older of the
  // two reads ended, and points a chart already holds are skipped (by seq).
  async loadHistory() {
    const [epochs, steps] = await Promise.all([
      api(`/jobs/${this.id}/metrics/series?kind=epoch&max_points=${STEP_POINTS}`),
      api(`/jobs/${this.id}/metrics/series?kind=step&names=loss&max_points=${STEP_POINTS}`),
    ]);
    this.after = Math.min(epochs.last_seq, steps.last_seq);
    const known = Object.keys(epochs.values);
    for (const name of known) this.epochChart(name, known);
    for (const { chart, names } of this.epochCharts.values()) {
      chart.set([epochs.epoch.slice(), ...names.map((n) => (epochs.values[n] || epochs.epoch.map(() => null)).slice())]);
    }
    this.lastSeq.epoch = epochs.seq.length ? epochs.seq[epochs.seq.length - 1] : 0;
    this.stepChart = new Chart(this.el.steps, { title: "loss (steps)", xLabel: "step", labels: ["loss"] });
    this.stepChart.set([steps.step.slice(), steps.values.loss.slice()]);
    this.lastSeq.step = steps.seq.length ? steps.seq[steps.seq.length - 1] : 0;
  }

  // The chart for a metric and its val_ twin (when the job reports one), made on first
  // sight; `known` is every name the job reports.
  epochChart(name, known) {
    const base = name.startsWith("val_") ? name.slice(4) : name;
    if (!this.epochCharts.has(base)) {
      const names = known.includes(`val_${base}`) ? [base, `val_${base}`] : [name];
      const chart = new Chart(this.el.charts, { title: base, xLabel: "epoch", labels: names, dashed: [1], sync: "epochs" });
      this.epochCharts.set(base, { chart, names });
    }
    return this.epochCharts.get(base);
  }

  point(point) {
    if (point.seq <= this.lastSeq[point.kind]) return; // already drawn from the history
    this.lastSeq[point.kind] = point.seq;
    if (point.kind === "step") {
      if ("loss" in point.values) this.stepChart.push(point.step, [point.values.loss]);
      return;
    }
    const known = Object.keys(point.values);
    for (const name of known) this.epochChart(name, known);
    for (const { chart, names } of this.epochCharts.values()) chart.push(point.epoch, names.map((n) => point.values[n]));
    this.job.progress = { ...this.job.progress, epoch: point.epoch, step: point.step };
    replace(this.el.progress, progressBar(this.job.progress));
  }

  log(line) {
    const logs = this.el.logs;
    const atBottom = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 8;
    logs.append(h("div", { class: `line level-${line.level.toLowerCase()}` }, h("span", { class: "muted" }, new Date(line.time).toLocaleTimeString()), ` ${line.level} `, line.message));
    while (logs.childElementCount > MAX_LOG_LINES) logs.firstElementChild.remove();
    if (atBottom) logs.scrollTop = logs.scrollHeight;
  }

  async refresh() {
    const wasFinal = FINAL.has(this.job.status);
    this.job = await api(`/jobs/${this.id}`);
    this.render();
    if (FINAL.has(this.job.status) && !wasFinal) {
      if (this.stopPolling) this.stopPolling();
      await this.finished();
      return false;
    }
    return true;
  }

  async cancel() {
    this.el.cancel.disabled = true;
    try {
      this.job = await api(`/jobs/${this.id}/cancel`, { method: "POST" });
      notice("Cancel requested: the job stops at its next step.", "info");
    } catch (error) {
      notice(`Could not cancel: ${error.message}`);
    }
    this.render();
  }

  render() {
    const job = this.job;
    replace(this.el.status, statusBadge(job.status));
    replace(this.el.progress, progressBar(job.progress));
    this.el.cancel.hidden = FINAL.has(job.status);
    this.el.cancel.disabled = false;
    this.el.waiting.hidden = job.status !== "queued";
    this.el.waiting.textContent = `Queued: ${queueText(job)}.`;
    this.el.error.hidden = !job.error;
    if (job.error) replace(this.el.error, h("h2", {}, "Failed: ", h("code", {}, job.error.type)), h("pre", { id: "error-message" }, job.error.message));
    const fact = (term, value) => [h("dt", {}, term), h("dd", {}, value)];
    replace(
      this.el.facts,
      fact("model", job.spec.model_type),
      fact("loss", job.spec.loss + (job.spec.loss === "huber" ? ` (threshold ${job.spec.threshold ?? 1})` : "")),
      fact("dataset", job.spec.dataset || "default"),
      fact("epochs", `${job.progress.epoch} of ${job.progress.epochs}`),
      fact("created", when(job.created_at)),
      fact("started", when(job.started_at)),
      fact("finished", when(job.finished_at)),
      fact("duration", job.started_at ? duration(job.started_at, job.finished_at) : "–"),
      fact("worker", job.worker ? job.worker.hostname : "–"),
      fact("device", job.worker ? job.worker.device || "–" : "–"),
      fact("attempts", String(job.attempts)),
      fact("replicas", replicasText(job)),
    );
    const history = job.attempt_history || [];
    replace(
      this.el.attempts,
      history.length
        ? h(
            "table",
            { class: "attempts" },
            h("thead", {}, h("tr", {}, ["#", "worker", "device", "started", "ended as"].map((c) => h("th", {}, c)))),
            h("tbody", {}, history.map((a) => h("tr", {}, h("td", {}, String(a.number)), h("td", {}, a.worker.hostname), h("td", {}, a.worker.device || "–"), h("td", {}, when(a.started_at)), h("td", {}, a.ended_as || "running")))),
          )
        : null,
    );
  }

  async finished() {
    this.render();
    if (this.job.status !== "succeeded") return;
    const { items } = await api(`/jobs/${this.id}/artifacts`);
    const link = (name) =>
      h(
        "a",
        {
          href: `/jobs/${this.id}/artifacts/${encodeURIComponent(name)}`,
          download: name,
          "data-artifact": name,
          onclick: (event) => {
            if (!token.get()) return; // a plain link: the browser streams it to disk
            event.preventDefault();
            download(event.currentTarget.getAttribute("href"), name).catch((error) => notice(`Download failed: ${error.message}`));
          },
        },
        name,
      );
    const snippet = [
      `tfjobs download ${shortId(this.id)} -o model/`,
      "python - <<'EOF'",
      "import keras, tfcore  # tfcore registers the custom layers and losses",
      'model = keras.models.load_model("model/model.keras")',
      "model.summary()",
      "EOF",
    ].join("\n");
    replace(
      this.el.artifacts,
      h("h2", {}, "Artifacts"),
      registerControl(this.job),
      h(
        "table",
        { class: "artifacts" },
        h("thead", {}, h("tr", {}, ["file", "size", "sha256"].map((c) => h("th", {}, c)))),
        h("tbody", {}, items.map((a) => h("tr", {}, h("td", {}, link(a.name)), h("td", { class: "num" }, bytes(a.size)), h("td", { class: "mono sha" }, a.sha256)))),
      ),
      h("h3", {}, "Load the model"),
      h("pre", { id: "snippet" }, snippet),
    );
    this.el.artifacts.hidden = false;
    if (this.job.spec.model_type === "keras") {
      const manifest = await api(`/jobs/${this.id}/artifacts/manifest.json`);
      this.renderArchitecture(manifest.layers || []);
    }
  }
}

// "1 process", or "2 replicas" and where the current attempt's ranks run (a gang).
function replicasText(job) {
  const n = job.spec.replicas || 1;
  if (n === 1) return "1 process";
  const attempts = job.attempt_history || [];
  const ranks = attempts.length ? attempts[attempts.length - 1].ranks : null;
  return ranks ? `${n} replicas: ${ranks.map((r) => `${r.rank} ${r.worker.hostname}`).join(", ")}` : `${n} replicas`;
}
