// /ui/ — the caller's jobs, newest first, refreshed every two seconds without a reload.

import { api } from "./api.js";
import { duration, every, h, main, notice, number, progressBar, queueText, replace, shortId, statusBadge, when } from "./dom.js";

const PAGE = 20;
const STATUSES = ["queued", "running", "succeeded", "failed", "cancelled", "pruned"];

// The newest loss and val_loss: the summary once finished, else the last epoch point.
async function latest(job) {
  if (job.summary) return job.summary;
  if (job.status !== "running" || job.progress.epoch === 0) return {};
  const series = await api(`/jobs/${job.id}/metrics/series?kind=epoch&names=loss,val_loss&max_points=2`);
  const last = (name) => {
    const values = series.values[name] || [];
    for (let i = values.length - 1; i >= 0; i -= 1) if (values[i] !== null) return values[i];
    return null;
  };
  return { loss: last("loss"), val_loss: last("val_loss") };
}

export async function showJobs() {
  const params = new URLSearchParams(location.search);
  const state = { status: params.get("status") || "", cursors: [null], selected: new Set() };
  const filter = h(
    "select",
    { id: "status-filter", "aria-label": "filter by status" },
    h("option", { value: "" }, "every status"),
    STATUSES.map((s) => h("option", { value: s, selected: s === state.status }, s)),
  );
  const compare = h("button", { type: "button", id: "compare", disabled: true }, "Compare selected");
  const older = h("button", { type: "button", id: "older" }, "Older →");
  const newer = h("button", { type: "button", id: "newer" }, "← Newer");
  const body = h("tbody", { id: "jobs" });
  const table = h(
    "table",
    { class: "jobs" },
    h(
      "thead",
      {},
      h("tr", {}, ["", "id", "name", "model", "loss fn", "dataset", "status", "progress", "loss", "val_loss", "started", "duration"].map((c) => h("th", {}, c))),
    ),
    body,
  );
  const empty = h("p", { class: "empty", hidden: true }, "No jobs yet. ", h("a", { href: "/ui/new" }, "Submit one"), " or run ", h("code", {}, "tfjobs submit"), ".");
  replace(
    main(),
    h("div", { class: "toolbar" }, h("h1", {}, "Jobs"), filter, compare, h("a", { class: "button", href: "/ui/new" }, "New job")),
    table,
    empty,
    h("div", { class: "pager" }, newer, older),
  );

  const updateCompare = () => {
    compare.disabled = state.selected.size < 2;
    compare.textContent = `Compare selected (${state.selected.size})`;
  };

  const row = (job, metrics) => {
    const box = h("input", {
      type: "checkbox",
      "aria-label": `select ${shortId(job.id)}`,
      checked: state.selected.has(job.id),
      onchange: (event) => {
        if (event.target.checked) state.selected.add(job.id);
        else state.selected.delete(job.id);
        updateCompare();
      },
    });
    const status = [statusBadge(job.status)];
    if (job.status === "queued") status.push(h("span", { class: "waiting", "data-queue": job.queue ? String(job.queue.ahead) : "" }, queueText(job)));
    return h(
      "tr",
      { "data-job": job.id },
      h("td", {}, box),
      h("td", {}, h("a", { href: `/ui/jobs/${job.id}`, class: "mono" }, shortId(job.id))),
      h("td", {}, job.name || ""),
      h("td", {}, job.spec.model_type),
      h("td", {}, job.spec.loss),
      h("td", {}, job.spec.dataset || "default"),
      h("td", {}, status),
      h("td", {}, progressBar(job.progress)),
      h("td", { class: "num" }, number(metrics.loss)),
      h("td", { class: "num" }, number(metrics.val_loss)),
      h("td", {}, when(job.started_at)),
      h("td", {}, job.started_at ? duration(job.started_at, job.finished_at) : ""),
    );
  };

  const load = async () => {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (state.status) query.set("status", state.status);
    const cursor = state.cursors[state.cursors.length - 1];
    if (cursor) query.set("cursor", cursor);
    const page = await api(`/jobs?${query}`);
    const metrics = await Promise.all(page.items.map((job) => latest(job).catch(() => ({}))));
    replace(body, page.items.map((job, i) => row(job, metrics[i])));
    empty.hidden = page.items.length > 0 || state.cursors.length > 1;
    older.disabled = !page.next_cursor;
    older.dataset.cursor = page.next_cursor || "";
    newer.disabled = state.cursors.length === 1;
    notice("");
    return page;
  };

  filter.addEventListener("change", () => {
    state.status = filter.value;
    state.cursors = [null];
    history.replaceState(null, "", state.status ? `?status=${state.status}` : location.pathname);
    load();
  });
  older.addEventListener("click", () => {
    state.cursors.push(older.dataset.cursor);
    load();
  });
  newer.addEventListener("click", () => {
    state.cursors.pop();
    load();
  });
  compare.addEventListener("click", () => {
    location.href = `/ui/compare?ids=${[...state.selected].join(",")}`;
  });
  updateCompare();
  await load();
  every(2000, () =>
    load().catch((error) => {
      if (error.status !== 401) notice(`Could not refresh: ${error.message}`);
    }),
  );
}
