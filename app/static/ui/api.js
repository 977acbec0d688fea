// The API as the pages use it: the token, JSON requests, and Server-Sent Events read with
// fetch (EventSource cannot send an Authorization header).

const TOKEN_KEY = "tfjobs.token";

export class ApiError extends Error {
  constructor(status, detail) {
    super(describe(detail) || `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }
}

// FastAPI's detail: a string, or a list of {loc, msg} (422).
function describe(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((e) => `${(e.loc || []).slice(1).join(".") || "body"}: ${e.msg}`).join("; ");
  return "";
}

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  forget: () => sessionStorage.removeItem(TOKEN_KEY),
};

let onUnauthorized = () => {};
export function whenUnauthorized(callback) {
  onUnauthorized = callback;
}

function headers(extra = {}) {
  const value = token.get();
  return value ? { ...extra, Authorization: `Bearer ${value}` } : extra;
}

// One request; the parsed JSON (or null for 204). A 401 shows the token prompt.
export async function api(path, { method = "GET", body, form, signal, extraHeaders } = {}) {
  const init = { method, signal, headers: headers(extraHeaders) };
  if (form) init.body = form;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new ApiError(response.status, data && data.detail);
    if (response.status === 401) onUnauthorized(error);
    throw error;
  }
  return data;
}

// Follows an SSE endpoint: onEvent(name, data, id) for each event, resuming after a
// dropped connection from the last id seen (Last-Event-ID), so nothing is missed or
// repeated. Stops at the `end` event or when signal aborts.
export async function follow(path, { after = 0, onEvent, onEnd, signal }) {
  let last = after;
  let delay = 500;
  while (!signal || !signal.aborted) {
    try {
      const response = await fetch(`${path}?after=${last}`, {
        headers: headers({ Accept: "text/event-stream", "Last-Event-ID": String(last) }),
        signal,
      });
      if (response.status === 401) {
        onUnauthorized(new ApiError(401, "unknown or revoked token"));
        return;
      }
      if (response.status === 404) return;
      if (!response.ok) throw new ApiError(response.status, null);
      delay = 500;
      for await (const event of events(response.body)) {
        if (event.id) last = Number(event.id);
        if (event.name === "end") {
          if (onEnd) onEnd(JSON.parse(event.data || "{}"));
          return;
        }
        onEvent(event.name, JSON.parse(event.data), last);
      }
    } catch (error) {
      if (signal && signal.aborted) return;
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 10000);
  }
}

// The text/event-stream format, event by event.
async function* events(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = { name: "message", data: "", id: null };
      const data = [];
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event.name = text;
        else if (field === "data") data.push(text);
        else if (field === "id") event.id = text;
      }
      event.data = data.join("\n");
      if (event.data || event.name !== "message") yield event;
    }
  }
}

// A file download that carries the token: fetched, then saved from an object URL.
export async function download(path, name) {
  const response = await fetch(path, { headers: headers() });
  if (!response.ok) throw new ApiError(response.status, (await response.json().catch(() => ({}))).detail);
  const url = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
