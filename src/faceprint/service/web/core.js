// What every view of the console shares: the key and role, API calls, announcements, the
// confirm/prompt dialog and small DOM helpers. Plain ES module, no build step.
export const $ = (id) => document.getElementById(id);

export const state = { key: "", role: null, gallery: null, keyId: null };

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// One JSON call with the key; throws ApiError with the server's code and message.
export async function api(method, path, body) {
  const opts = { method, headers: { "x-api-key": state.key } };
  if (body instanceof FormData) opts.body = body;
  else if (body !== undefined) {
    opts.body = JSON.stringify(body);
    opts.headers["content-type"] = "application/json";
  }
  const r = await fetch(path, opts);
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(r.status, data.code, data.message || `HTTP ${r.status}`);
  return data;
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v != null) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}

// el("td", {class: "x", onclick: f}, "text", child): a new element.
export function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "dataset") Object.assign(e.dataset, v);
    else if (k === "style") Object.assign(e.style, v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c != null && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}

// Polite status for what happened; an alert (read at once) for what went wrong.
export function say(text) {
  $("status").textContent = text;
  $("alert").textContent = "";
}

export function fail(err) {
  $("alert").textContent = err instanceof Error ? err.message : String(err);
}

export const fmt = {
  score: (v) => (v == null ? "–" : Number(v).toFixed(3)),
  time: (iso) => (iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace("+00:00", "") : ""),
  plural: (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`,
};

// A modal question (native <dialog>: focus stays inside, Esc cancels). Resolves to true, the text
// typed (when `input` is given), or null when cancelled.
export function ask(title, text, { input = null, label = "", ok = "OK" } = {}) {
  const d = $("ask");
  $("ask-title").textContent = title;
  $("ask-text").textContent = text;
  $("ask-ok").textContent = ok;
  $("ask-field").hidden = input === null;
  $("ask-label").textContent = label;
  $("ask-input").value = input ?? "";
  d.returnValue = "";
  return new Promise((resolve) => {
    d.addEventListener("close", () => {
      if (d.returnValue !== "ok") resolve(null);
      else resolve(input === null ? true : $("ask-input").value.trim());
    }, { once: true });
    d.showModal();
    (input === null ? $("ask-ok") : $("ask-input")).focus();
  });
}

export function initDialog() {
  $("ask-cancel").addEventListener("click", () => $("ask").close("cancel"));
}

// A table body filled from rows, or one "empty" row saying so.
export function fillTable(table, rows, emptyText) {
  const body = table.tBodies[0];
  const cols = table.tHead.rows[0].cells.length;
  body.replaceChildren(...(rows.length ? rows : [el("tr", { class: "empty" }, el("td", { colspan: cols }, emptyText))]));
}
