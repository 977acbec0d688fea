// /ui/models — your registered models; /ui/models/{name} — one model: its versions (the
// job that made each, its final metrics), its aliases, and a form to move an alias.

import { api } from "./api.js";
import { h, main, notice, number, replace, shortId, when } from "./dom.js";

export async function showModels() {
  const { items } = await api("/models");
  replace(
    main(),
    h("div", { class: "toolbar" }, h("h1", {}, "Models")),
    items.length
      ? h(
          "table",
          { class: "jobs", id: "models" },
          h("thead", {}, h("tr", {}, ["name", "latest version", "aliases", "created"].map((c) => h("th", {}, c)))),
          h(
            "tbody",
            {},
            items.map((m) =>
              h(
                "tr",
                { "data-model": m.name },
                h("td", {}, h("a", { href: `/ui/models/${encodeURIComponent(m.name)}` }, m.name)),
                h("td", { class: "num" }, m.latest_version ? String(m.latest_version) : "–"),
                h("td", {}, aliasList(m.aliases)),
                h("td", {}, when(m.created_at)),
              ),
            ),
          ),
        )
      : h("p", { class: "empty", id: "no-models" }, "No models yet. Open a succeeded job and press “Register this model”, or run ", h("code", {}, "tfjobs models register JOB NAME"), "."),
  );
  document.body.dataset.ready = "models";
}

function aliasList(aliases) {
  return Object.entries(aliases).map(([alias, version]) => h("span", { class: "alias", "data-alias": alias }, `${alias} → v${version}`));
}

export async function showModel() {
  const name = decodeURIComponent(location.pathname.replace(/\/+$/, "").split("/").pop());
  let model;
  try {
    model = await api(`/models/${encodeURIComponent(name)}`);
  } catch (error) {
    if (error.status === 404 || error.status === 422) {
      replace(main(), h("h1", {}, "Model not found"), h("p", { id: "not-found" }, `You have no model named “${name}”.`));
      return;
    }
    throw error;
  }
  const aliasInput = h("input", { type: "text", id: "alias-name", value: "production", "aria-label": "alias", maxlength: "64" });
  const versionPick = h("select", { id: "alias-version", "aria-label": "version" });
  const move = h("button", { type: "submit" }, "Point alias");
  const aliases = h("p", { id: "aliases" });
  const body = h("tbody", { id: "versions" });
  const draw = () => {
    replace(aliases, Object.keys(model.aliases).length ? aliasList(model.aliases) : "No aliases yet.");
    replace(versionPick, [...model.versions].reverse().map((v) => h("option", { value: String(v.version) }, `version ${v.version}`)));
    replace(
      body,
      [...model.versions].reverse().map((v) =>
        h(
          "tr",
          { "data-version": String(v.version) },
          h("td", { class: "num" }, String(v.version)),
          h("td", {}, v.aliases.map((a) => h("span", { class: "alias" }, a))),
          h("td", {}, h("a", { class: "mono", href: `/ui/jobs/${v.job_id}` }, shortId(v.job_id))),
          h("td", {}, v.spec.model_type),
          h("td", { class: "num" }, number((v.summary || {}).val_loss)),
          h("td", { class: "mono sha" }, v.sha256.slice(0, 16)),
          h("td", {}, when(v.created_at)),
        ),
      ),
    );
  };
  const form = h("form", { class: "alias-form", id: "alias-form" }, aliasInput, h("span", {}, " → "), versionPick, move);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api(`/models/${encodeURIComponent(model.name)}/aliases/${encodeURIComponent(aliasInput.value.trim())}`, { method: "PUT", body: { version: Number(versionPick.value) } });
      model = await api(`/models/${encodeURIComponent(model.name)}`);
      draw();
      notice(`${aliasInput.value.trim()} now points at version ${versionPick.value}.`, "info");
    } catch (error) {
      notice(`Could not move the alias: ${error.message}`);
    }
  });
  replace(
    main(),
    h("div", { class: "toolbar" }, h("h1", {}, `Model ${model.name}`)),
    model.description ? h("p", { class: "muted" }, model.description) : null,
    h("section", { class: "panel" }, h("h2", {}, "Aliases"), aliases, form, h("p", { class: "hint" }, "Predictions through an alias answer from its version at once: ", h("code", {}, `POST /models/${model.name}/aliases/production/predict`), ".")),
    h(
      "section",
      { class: "panel" },
      h("h2", {}, "Versions"),
      h("div", { class: "scroll" }, h("table", { class: "jobs" }, h("thead", {}, h("tr", {}, ["version", "aliases", "job", "model", "val_loss", "sha256", "registered"].map((c) => h("th", {}, c)))), body)),
    ),
  );
  draw();
  document.body.dataset.ready = "model";
}

// The job page's "Register this model": a name (a new or existing model) and a button.
export function registerControl(job) {
  const input = h("input", { type: "text", id: "register-name", placeholder: "model name", "aria-label": "model name", maxlength: "64", required: true });
  const button = h("button", { type: "submit", id: "register" }, "Register this model");
  const form = h("form", { class: "register-form", id: "register-form" }, input, button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = input.value.trim();
    button.disabled = true;
    try {
      // a new name makes the model (asked from the list: a 404 probe would fill the console)
      const { items } = await api("/models");
      if (!items.some((m) => m.name === name)) await api("/models", { method: "POST", body: { name } });
      const made = await api(`/models/${encodeURIComponent(name)}/versions`, { method: "POST", body: { job_id: job.id } });
      replace(form, h("p", { id: "registered" }, "Registered as ", h("a", { href: `/ui/models/${encodeURIComponent(name)}` }, `${name} version ${made.version}`), "."));
    } catch (error) {
      button.disabled = false;
      notice(`Could not register: ${error.message}`);
    }
  });
  return form;
}
