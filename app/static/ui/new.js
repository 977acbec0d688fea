// /ui/new — submit a job. The fields come from the API's own JobSpec schema (/openapi.json),
// so the form knows every field, choice and default the server does; the server alone
// validates, and each 422 message is shown next to the field it names.

import { ApiError, api } from "./api.js";
import { h, main, notice, replace } from "./dom.js";

const FIRST = ["model_type", "loss", "threshold", "epochs", "dataset", "name", "tags"];

// {anyOf: [X, {type: null}]} -> X, with whether null is allowed.
function unwrap(schema, components) {
  let nullable = false;
  if (schema.anyOf) {
    const kinds = schema.anyOf.filter((s) => s.type !== "null");
    nullable = kinds.length < schema.anyOf.length;
    schema = kinds.length === 1 ? { ...kinds[0], default: schema.default, description: schema.description } : { ...schema, anyOf: kinds };
  }
  if (schema.$ref) schema = { ...components[schema.$ref.split("/").pop()], description: schema.description };
  return { schema, nullable };
}

// A schema description in plain words: its `code` spans as <code> (never Markdown's
// backticks on the page), everything else as text.
function words(text) {
  return text.split("`").map((part, i) => (i % 2 ? h("code", {}, part) : part));
}

function kindOf(schema) {
  if (schema.enum || schema.const !== undefined) return "choice";
  if (schema.type === "array" && schema.items && schema.items.enum) return "choices";
  if (schema.type === "array") return "list";
  if (schema.type === "integer" || schema.type === "number") return "number";
  if (schema.type === "boolean") return "flag";
  if (schema.type === "string") return "text";
  return "json"; // objects and unions of objects: typed as JSON
}

class Field {
  constructor(name, schema, required, components) {
    const { schema: s } = unwrap(schema, components);
    this.name = name;
    this.kind = kindOf(s);
    this.schema = s;
    const id = `field-${name}`;
    const hint = [s.description || schema.description || "", s.default !== undefined && s.default !== null ? `Default: ${JSON.stringify(s.default)}.` : ""].join(" ").trim();
    this.error = h("p", { class: "field-error", id: `${id}-error`, "data-error-for": name, hidden: true });
    this.input = this.build(id, s, required);
    this.node = h(
      "div",
      { class: `field field-${this.kind}`, "data-field": name },
      h("label", { for: id }, name, required ? h("span", { class: "required", title: "required" }, " *") : ""),
      this.input,
      hint ? h("p", { class: "hint" }, words(hint)) : null,
      this.error,
    );
  }

  build(id, s, required) {
    if (this.kind === "choice") {
      const options = s.enum || [s.const];
      const blank = required ? "choose…" : `default${s.default !== undefined && s.default !== null ? ` (${s.default})` : ""}`;
      return h("select", { id, name: this.name }, h("option", { value: "" }, blank), options.map((o) => h("option", { value: o }, o)));
    }
    if (this.kind === "choices") {
      return h("div", { id, class: "choices", role: "group" }, s.items.enum.map((o) => h("label", { class: "inline" }, h("input", { type: "checkbox", value: o }), ` ${o}`)));
    }
    if (this.kind === "number") {
      return h("input", { id, name: this.name, type: "number", step: "any", inputmode: "decimal", min: s.minimum, max: s.maximum, placeholder: s.default ?? "" });
    }
    if (this.kind === "flag") return h("input", { id, name: this.name, type: "checkbox" });
    if (this.kind === "list") return h("input", { id, name: this.name, type: "text", placeholder: "comma-separated" });
    if (this.kind === "json") return h("textarea", { id, name: this.name, rows: 2, placeholder: "JSON, e.g. {\"patience\": 3}" });
    return h("input", { id, name: this.name, type: "text", maxlength: s.maxLength });
  }

  // The value to send, or undefined to leave the field out (the server's default).
  value() {
    const input = this.input;
    if (this.kind === "choices") {
      const picked = [...input.querySelectorAll("input:checked")].map((box) => box.value);
      return picked.length ? picked : undefined;
    }
    if (this.kind === "flag") return input.checked ? true : undefined;
    const text = input.value.trim();
    if (!text) return undefined;
    if (this.kind === "number") return Number(text);
    if (this.kind === "list") return text.split(",").map((t) => t.trim()).filter(Boolean);
    if (this.kind === "json") {
      try {
        return JSON.parse(text);
      } catch {
        throw new FieldError(this.name, "not valid JSON");
      }
    }
    return text;
  }

  set(value) {
    if (value === undefined || value === null) return;
    if (this.kind === "choices") {
      for (const box of this.input.querySelectorAll("input")) box.checked = value.includes(box.value);
    } else if (this.kind === "flag") this.input.checked = Boolean(value);
    else if (this.kind === "list") this.input.value = value.join(", ");
    else if (this.kind === "json") this.input.value = JSON.stringify(value);
    else this.input.value = String(value);
  }

  showError(message) {
    this.error.textContent = message || "";
    this.error.hidden = !message;
    this.node.classList.toggle("invalid", Boolean(message));
  }
}

class FieldError extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}

export async function showNew() {
  const from = new URLSearchParams(location.search).get("from");
  const [openapi, datasets, source] = await Promise.all([
    api("/openapi.json"),
    api("/datasets"),
    from ? api(`/jobs/${encodeURIComponent(from)}`).catch(() => null) : null,
  ]);
  const components = openapi.components.schemas;
  const spec = components.JobSpec;
  const required = new Set(spec.required || []);
  const names = [...FIRST.filter((n) => n in spec.properties), ...Object.keys(spec.properties).filter((n) => !FIRST.includes(n))];
  const fields = new Map(names.map((n) => [n, new Field(n, spec.properties[n], required.has(n), components)]));

  const datasetField = fields.get("dataset");
  const picker = h("select", { id: "field-dataset", name: "dataset" });
  const fillPicker = (items, selected) => {
    replace(
      picker,
      h("option", { value: "" }, "default for the loss"),
      h("optgroup", { label: "built-in" }, items.filter((d) => d.builtin).map((d) => h("option", { value: d.name }, `${d.name} (${d.rows}×${d.features}, ${d.task})`))),
      h("optgroup", { label: "your uploads" }, items.filter((d) => !d.builtin).map((d) => h("option", { value: d.id }, `${d.name} (${d.rows}×${d.features}, ${d.task})`))),
    );
    picker.value = selected || "";
  };
  fillPicker(datasets);
  datasetField.input.replaceWith(picker);
  datasetField.input = picker;
  datasetField.kind = "text";
  const upload = uploadControl(async (created) => fillPicker(await api("/datasets"), created.id));
  datasetField.node.append(upload);

  const submit = h("button", { type: "submit", id: "submit" }, "Submit job");
  const more = h("details", { class: "more" }, h("summary", {}, "More options"));
  const form = h("form", { id: "job-form", class: "panel form", novalidate: true });
  for (const [name, field] of fields) (FIRST.includes(name) ? form : more).append(field.node);
  form.append(more, h("div", { class: "actions" }, submit));
  if (source) {
    for (const [name, value] of Object.entries(source.spec)) if (fields.has(name)) fields.get(name).set(value);
    if (source.spec.dataset) picker.value = source.spec.dataset;
    more.open = true;
  }
  replace(main(), h("h1", {}, source ? `Resubmit ${source.name || source.id.slice(0, 8)}` : "New job"), form);

  const key = `ui-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`; // one job per form, however often it is sent
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const field of fields.values()) field.showError("");
    notice("");
    const body = {};
    try {
      for (const [name, field] of fields) {
        const value = field.value();
        if (value !== undefined) body[name] = value;
      }
    } catch (error) {
      if (error instanceof FieldError) fields.get(error.field).showError(error.message);
      return;
    }
    submit.disabled = true;
    try {
      const job = await api("/jobs", { method: "POST", body, extraHeaders: { "Idempotency-Key": `${key}-${hash(JSON.stringify(body))}` } });
      location.href = `/ui/jobs/${job.id}`;
    } catch (error) {
      submit.disabled = false;
      if (error instanceof ApiError && error.status === 422 && Array.isArray(error.detail)) {
        for (const e of error.detail) {
          const [where, name, ...rest] = e.loc || [];
          const field = where === "body" && fields.get(name);
          if (field) field.showError(rest.length ? `${rest.join(".")}: ${e.msg}` : e.msg);
          else notice(e.msg);
        }
        const first = form.querySelector(".invalid");
        if (first) {
          if (first.closest("details")) first.closest("details").open = true;
          first.scrollIntoView({ block: "center" });
        }
      } else if (error.status !== 401) notice(error.message);
    }
  });
}

// A small string hash: the same body keeps its key (a retry), another body gets a new one.
function hash(text) {
  let value = 0;
  for (let i = 0; i < text.length; i += 1) value = (Math.imul(31, value) + text.charCodeAt(i)) | 0;
  return (value >>> 0).toString(36);
}

function uploadControl(onUploaded) {
  const file = h("input", { type: "file", id: "upload-file", accept: ".csv,.npz", "aria-label": "dataset file (CSV or NPZ)" });
  const target = h("input", { type: "text", id: "upload-target", placeholder: "target column (CSV)", "aria-label": "target column" });
  const message = h("p", { class: "field-error", id: "upload-error", hidden: true });
  const button = h("button", { type: "button", id: "upload" }, "Upload");
  button.addEventListener("click", async () => {
    message.hidden = true;
    if (!file.files.length) {
      message.textContent = "choose a CSV or NPZ file first";
      message.hidden = false;
      return;
    }
    const form = new FormData();
    form.append("file", file.files[0]);
    if (target.value.trim()) form.append("target", target.value.trim());
    button.disabled = true;
    button.textContent = "Uploading…";
    try {
      const created = await api("/datasets", { method: "POST", form });
      await onUploaded(created);
      notice(`Uploaded ${created.name}: ${created.rows} rows, ${created.features} features.`, "info");
      file.value = "";
    } catch (error) {
      message.textContent = error.message;
      message.hidden = false;
    } finally {
      button.disabled = false;
      button.textContent = "Upload";
    }
  });
  return h("div", { class: "upload" }, h("span", { class: "hint" }, "or upload a dataset: "), file, target, button, message);
}
