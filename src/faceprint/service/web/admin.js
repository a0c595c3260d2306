// Admin views: the audit log (filter by subject, action and time) and the gallery's API keys
// (create, shown once; revoke). The server refuses both to recognize keys; the page hides them.
import { $, api, ask, el, fail, fillTable, fmt, query, say, state } from "./core.js";

const audit = { offset: 0, limit: 50, total: 0 };

// datetime-local gives local wall time without a zone; the API wants UTC.
const utc = (v) => (v ? new Date(v).toISOString().slice(0, 19) + "+00:00" : "");

function outcome(o) {
  const show = (v) => (v == null ? "none" : typeof v === "number" ? +v.toFixed(4) : v);
  return Object.entries(o || {}).map(([k, v]) => `${k}: ${show(v)}`).join(", ");
}

function auditRow(r) {
  return el("tr", { dataset: { action: r.action, subject: r.subject || "" } },
    el("td", {}, fmt.time(r.ts)), el("td", {}, r.action), el("td", {}, r.subject || "–"),
    el("td", { class: "mono" }, r.key_id || "–"), el("td", {}, outcome(r.outcome)), el("td", {}, r.client || "–"));
}

export async function loadAudit() {
  const q = query({ subject: $("audit-subject").value.trim(), action: $("audit-action").value,
    since: utc($("audit-since").value), until: utc($("audit-until").value), offset: audit.offset, limit: audit.limit });
  try {
    const r = await api("GET", "/v1/audit" + q);
    audit.total = r.total;
    fillTable($("audit-table"), r.rows.map(auditRow), "No audit rows match.");
    const last = Math.min(audit.offset + r.rows.length, r.total);
    $("audit-page").textContent = r.total ? `Rows ${audit.offset + 1}–${last} of ${r.total}` : "No rows";
    $("audit-newer").disabled = audit.offset === 0;
    $("audit-older").disabled = last >= r.total;
    $("audit-table").dataset.loaded = String(Date.now());
  } catch (e) { fail(e); }
}

function keyRow(k) {
  const own = k.id === state.keyId;
  return el("tr", { dataset: { id: k.id }, class: k.revoked ? "revoked" : "" },
    el("td", { class: "mono" }, k.id, own ? el("span", { class: "tag" }, "this key") : null),
    el("td", {}, k.name || "–"), el("td", {}, k.role), el("td", {}, fmt.time(k.created)),
    el("td", {}, k.revoked ? fmt.time(k.revoked) : "–"),
    el("td", { class: "actions" }, k.revoked || own ? null : el("button", { type: "button", class: "danger revoke",
      onclick: () => revoke(k) }, "Revoke", el("span", { class: "visually-hidden" }, ` key ${k.name || k.id}`))));
}

export async function loadKeys() {
  try {
    const r = await api("GET", "/v1/keys");
    fillTable($("keys-table"), r.keys.map(keyRow), "No keys.");
    $("keys-table").dataset.loaded = String(Date.now());
  } catch (e) { fail(e); }
}

async function revoke(k) {
  if (!(await ask(`Revoke key ${k.name || k.id}?`, `Clients using key ${k.id} (${k.role}) are refused from their next request.`, { ok: "Revoke" }))) return;
  try {
    await api("DELETE", `/v1/keys/${encodeURIComponent(k.id)}`);
    say(`Revoked key ${k.id}.`);
    await loadKeys();
  } catch (e) { fail(e); }
}

async function createKey(e) {
  e.preventDefault();
  try {
    const r = await api("POST", "/v1/keys", { role: $("new-key-role").value, name: $("new-key-name").value.trim() });
    $("new-key").hidden = false;
    $("new-key-value").value = r.key;
    $("new-key-value").focus();
    $("new-key-value").select();
    say(`Created ${r.role} key ${r.id}; copy it now, it is not shown again.`);
    $("new-key-name").value = "";
    await loadKeys();
  } catch (err) { fail(err); }
}

export function initAdmin() {
  $("audit-form").addEventListener("submit", (e) => { e.preventDefault(); audit.offset = 0; loadAudit(); });
  $("audit-newer").addEventListener("click", () => { audit.offset = Math.max(0, audit.offset - audit.limit); loadAudit(); });
  $("audit-older").addEventListener("click", () => { audit.offset += audit.limit; loadAudit(); });
  $("key-create-form").addEventListener("submit", createKey);
  $("new-key-copy").addEventListener("click", async () => {
    try { await navigator.clipboard.writeText($("new-key-value").value); say("Key copied."); }
    catch { $("new-key-value").select(); say("Select the key and copy it (Ctrl+C)."); }
  });
}
