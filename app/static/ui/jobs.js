// /ui/ — the caller's jobs, newest first, refreshed every two seconds without a reload.
// The search box takes the filter language of GET /jobs?filter= and keeps it in the
// page's address (/ui/?filter=…), so a search can be bookmarked and shared.

import { api } from "./api.js";
import { duration, every, h, main, notice, number, progressBar, queueText, replace, shortId, statusBadge, when } from "./dom.js";

const PAGE = 20;
const STATUSES = ["queued", "running", "succeeded", "failed", "cancelled", "pruned"];
const EXAMPLE = "metrics.val_loss < 0.5 and learning_rate <= 0.01";

// The newest loss and val_loss: the summary once it succeeded, else the last epoch's
// values, which the API keeps for running, pruned, cancelled and failed jobs alike.
const latest = (job) => job.summary || job.progress.values || {};

export async function showJobs() {
  const params = new URLSearchParams(location.search);
  const state = {
    status: params.get("status") || "",
    filter: params.get("filter") || "",
    hideTrials: params.get("trials") === "hide",
    cursors: [null],
    selected: new Set(),
  };
  const statusFilter = h(
    "select",
    { id: "status-filter", "aria-label": "filter by status" },
    h("option", { value: "" }, "every status"),
    STATUSES.map((s) => h("option", { value: s, selected: s === state.status }, s)),
  );
  const search = h("input", { type: "search", id: "search", value: state.filter, placeholder: `Filter, e.g. ${EXAMPLE}`, "aria-label": "filter jobs", spellcheck: "false", autocomplete: "off" });
  const searchError = h("p", { id: "search-error", class: "field-error", hidden: true });
  const hideTrials = h("input", { type: "checkbox", id: "hide-trials", checked: state.hideTrials });
  const compare = h("button", { type: "button", id: "compare", disabled: true }, "Compare selected");
  const older = h("button", { type: "button", id: "older" }, "Older →");
  const newer = h("button", { type: "button", id: "newer" }, "← Newer");
  const body = h("tbody", { id: "jobs" });
  const columns = [
    ["", ""],
    ["id", ""],
    ["name", ""],
    ["sweep", "col-sweep"],
    ["model", ""],
    ["loss fn", "col-wide"],
    ["dataset", "col-wide"],
    ["status", ""],
    ["progress", ""],
    ["loss", "num"],
    ["val_loss", "num"],
    ["started", "col-wide"],
    ["duration", ""],
  ];
  const table = h("table", { class: "jobs" }, h("thead", {}, h("tr", {}, columns.map(([c, cls]) => h("th", { class: cls || undefined }, c)))), body);
  const empty = h("p", { class: "empty", hidden: true });
  replace(
    main(),
    h("div", { class: "toolbar" }, h("h1", {}, "Jobs"), statusFilter, h("label", { class: "inline-check" }, hideTrials, " hide sweep trials"), compare, h("a", { class: "button", href: "/ui/new" }, "New job")),
    h(
      "form",
      { class: "search", id: "search-form", role: "search" },
      search,
      h("button", { type: "submit" }, "Search"),
      h("details", { class: "search-help" }, h("summary", {}, "How to search"), h("p", { class: "hint" }, "Compare spec fields by name (learning_rate < 0.01, model_type = 'residual'), final metrics (metrics.val_loss < 0.3), status, name, tag, sweep and created; = != < <= > >= and ~ (contains); and, or, not, parentheses; text in single quotes.")),
      searchError,
    ),
    h("div", { class: "scroll" }, table),
    empty,
    h("div", { class: "pager" }, newer, older),
  );

  const updateCompare = () => {
    compare.disabled = state.selected.size < 2;
    compare.textContent = `Compare selected (${state.selected.size})`;
  };

  const row = (job) => {
    const metrics = latest(job);
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
    const sweep = job.sweep_id ? h("a", { href: `/ui/sweeps/${job.sweep_id}`, class: "mono", title: `sweep ${job.sweep_id}` }, `${shortId(job.sweep_id)} #${job.trial_number ?? ""}`) : "";
    return h(
      "tr",
      { "data-job": job.id, "data-sweep": job.sweep_id || "" },
      h("td", {}, box),
      h("td", {}, h("a", { href: `/ui/jobs/${job.id}`, class: "mono" }, shortId(job.id))),
      h("td", { class: "name" }, job.name || ""),
      h("td", { class: "col-sweep" }, sweep),
      h("td", {}, job.spec.model_type),
      h("td", { class: "col-wide" }, job.spec.loss),
      h("td", { class: "col-wide" }, job.spec.dataset || "default"),
      h("td", {}, status),
      h("td", {}, progressBar(job.progress)),
      h("td", { class: "num" }, number(metrics.loss)),
      h("td", { class: "num" }, number(metrics.val_loss)),
      h("td", { class: "col-wide" }, when(job.started_at)),
      h("td", {}, job.started_at ? duration(job.started_at, job.finished_at) : ""),
    );
  };

  // What the API is asked: the search, and "sweep = null" when trials are hidden.
  const expression = () => {
    if (!state.hideTrials) return state.filter;
    return state.filter ? `sweep = null and (${state.filter})` : "sweep = null";
  };

  // A refused search, said about the text the user typed (not the wrapped one).
  const explain = async (error) => {
    let message = error.message;
    if (state.hideTrials && state.filter) {
      message = await api(`/jobs?${new URLSearchParams({ limit: "1", filter: state.filter })}`).then(
        () => message,
        (own) => own.message,
      );
    }
    searchError.textContent = message.replace(/^filter: /, "");
    searchError.hidden = false;
    search.setAttribute("aria-invalid", "true");
  };

  const load = async () => {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (state.status) query.set("status", state.status);
    const filter = expression();
    if (filter) query.set("filter", filter);
    const cursor = state.cursors[state.cursors.length - 1];
    if (cursor) query.set("cursor", cursor);
    let page;
    try {
      page = await api(`/jobs?${query}`);
    } catch (error) {
      if (error.status !== 422) throw error;
      await explain(error);
      return null;
    }
    searchError.hidden = true;
    search.removeAttribute("aria-invalid");
    replace(body, page.items.map(row));
    const searching = Boolean(filter || state.status);
    empty.hidden = page.items.length > 0 || state.cursors.length > 1;
    replace(empty, ...(searching ? ["No job matches this search."] : ["No jobs yet. ", h("a", { href: "/ui/new" }, "Submit one"), " or run ", h("code", {}, "tfjobs submit"), "."]));
    older.disabled = !page.next_cursor;
    older.dataset.cursor = page.next_cursor || "";
    newer.disabled = state.cursors.length === 1;
    notice("");
    document.body.dataset.ready = "jobs";
    return page;
  };

  // The page's address holds the search: reload, bookmark and share keep it.
  const remember = () => {
    const query = new URLSearchParams();
    if (state.status) query.set("status", state.status);
    if (state.filter) query.set("filter", state.filter);
    if (state.hideTrials) query.set("trials", "hide");
    const text = query.toString();
    history.replaceState(null, "", text ? `?${text}` : location.pathname);
  };
  const restart = () => {
    state.cursors = [null];
    remember();
    load();
  };

  statusFilter.addEventListener("change", () => {
    state.status = statusFilter.value;
    restart();
  });
  hideTrials.addEventListener("change", () => {
    state.hideTrials = hideTrials.checked;
    restart();
  });
  document.getElementById("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.filter = search.value.trim();
    restart();
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
