// Building the page. Everything from the API goes in as text (textContent, attribute
// values): a job name, dataset name, error or log line holding "<script>" stays text.

// h("a", {href: "/x", class: "y"}, "text", child, ...): an element; "on*" attributes
// become listeners, the rest are set as attributes, children as text or nodes.
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

export const main = () => document.getElementById("main");

export function notice(message, kind = "error") {
  const box = document.getElementById("notice");
  box.textContent = message || "";
  box.className = `notice ${kind}`;
  box.hidden = !message;
}

export const shortId = (id) => id.slice(0, 8);

export function statusBadge(status) {
  return h("span", { class: `status status-${status}`, "data-status": status }, status);
}

export function progressBar(progress) {
  const { epoch, epochs } = progress;
  const bar = h("progress", { max: epochs || 1, value: epoch, "aria-label": "epochs done" });
  return h("span", { class: "progress" }, bar, ` ${epoch}/${epochs}`);
}

export function number(value, digits = 4) {
  if (value === undefined || value === null || Number.isNaN(value)) return "–";
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e5)) return value.toExponential(2);
  return Number(value.toPrecision(digits)).toString();
}

export function bytes(size) {
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (size >= 1024 && i < units.length - 1) {
    size /= 1024;
    i += 1;
  }
  return `${i ? size.toFixed(1) : size} ${units[i]}`;
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "–";
}

export function duration(startIso, endIso) {
  if (!startIso) return "–";
  const seconds = Math.max(0, ((endIso ? new Date(endIso) : new Date()) - new Date(startIso)) / 1000);
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export const FINAL = new Set(["succeeded", "failed", "cancelled", "pruned"]);

// Polls fn every `ms` while the tab is visible; returns a stop function.
export function every(ms, fn) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    if (document.visibilityState === "visible") {
      try {
        if ((await fn()) === false) return;
      } catch (error) {
        // shown by the caller; keep polling (a network blip should not freeze the page)
      }
    }
    timer = setTimeout(tick, ms);
  };
  timer = setTimeout(tick, ms);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

// A queued job's place as the API gives it: "3 ahead · waiting for a worker".
export function queueText(job) {
  if (job.notice) return job.notice;
  const place = job.queue;
  if (!place) return "waiting for a worker";
  if (place.reason === "starting") return "starting on a free worker";
  return `${place.ahead} ahead · ${place.reason}`;
}
