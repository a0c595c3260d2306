// Subjects view: search and page through the gallery's subjects; open one to see its examples
// (with each one's quality), delete an example or the subject, rename, edit the consent record;
// enrol a new person.
import { $, api, ask, el, fail, fillTable, fmt, query, say, state } from "./core.js";

const page = { offset: 0, limit: 20, q: "", total: 0 };
let open = null;          // the subject shown in the detail panel
const enc = encodeURIComponent;

const consentOf = (s) => (s.metadata && s.metadata.consent) || "";
const isAdmin = () => state.role === "admin";

function subjectRow(s) {
  const actions = isAdmin() ? [
    el("button", { type: "button", class: "rename", onclick: () => rename(s.name) }, "Rename", el("span", { class: "visually-hidden" }, ` ${s.name}`)),
    el("button", { type: "button", class: "delete danger", onclick: () => removeSubject(s.name) }, "Delete", el("span", { class: "visually-hidden" }, ` ${s.name}`)),
  ] : [];
  return el("tr", { dataset: { name: s.name } },
    el("th", { scope: "row" }, el("button", { type: "button", class: "link open", onclick: () => showSubject(s.name) }, s.name)),
    el("td", { class: "count" }, s.templates),
    el("td", {}, consentOf(s) || el("span", { class: "muted" }, "none recorded")),
    el("td", {}, fmt.time(s.created)),
    el("td", { class: "actions" }, actions));
}

export async function loadSubjects() {
  try {
    const r = await api("GET", "/v1/subjects" + query({ q: page.q, offset: page.offset, limit: page.limit }));
    page.total = r.total;
    if (page.offset >= r.total && r.total > 0) { page.offset = Math.max(0, r.total - page.limit); return loadSubjects(); }
    fillTable($("subjects-table"), r.subjects.map(subjectRow), page.q ? `No subject's name contains "${page.q}".` : "No one is enrolled yet.");
    const pages = Math.max(1, Math.ceil(r.total / page.limit));
    const at = Math.floor(page.offset / page.limit) + 1;
    $("subjects-page").textContent = `Page ${at} of ${pages} · ${fmt.plural(r.total, "subject")}${page.q ? ` matching "${page.q}"` : ""}`;
    $("subjects-prev").disabled = page.offset === 0;
    $("subjects-next").disabled = page.offset + page.limit >= r.total;
    $("subjects-table").dataset.loaded = String(Date.now());
  } catch (e) { fail(e); }
}

function exampleRow(name, x) {
  return el("tr", { dataset: { id: x.id } },
    el("td", {}, x.id),
    el("td", {}, x.quality == null ? "–" : el("meter", { min: 0, max: 1, low: 0.3, high: 0.6, optimum: 1, value: x.quality,
      "aria-label": `quality ${x.quality.toFixed(2)}` }), x.quality == null ? null : ` ${x.quality.toFixed(2)}`),
    el("td", { class: "mono" }, x.source_sha256 ? x.source_sha256.slice(0, 16) + "…" : "–"),
    el("td", {}, fmt.time(x.created)),
    el("td", { class: "actions" }, isAdmin() ? el("button", { type: "button", class: "danger delete-example",
      onclick: () => removeExample(name, x.id) }, "Delete", el("span", { class: "visually-hidden" }, ` example ${x.id}`)) : null));
}

export async function showSubject(name, focus = true) {
  try {
    const [s, ex] = await Promise.all([api("GET", `/v1/subjects/${enc(name)}`),
      api("GET", `/v1/subjects/${enc(name)}/examples?limit=200`)]);
    open = s.name;
    const panel = $("subject-detail");
    panel.hidden = false;
    panel.dataset.name = s.name;
    $("detail-title").textContent = `${s.name} · ${fmt.plural(ex.total, "example")}`;
    $("consent-text").value = consentOf(s);
    $("detail-consent").textContent = `Consent: ${consentOf(s) || "none recorded"}`;
    fillTable($("examples-table"), ex.examples.map((x) => exampleRow(s.name, x)), "No examples: this subject cannot be recognised until one is added.");
    if (focus) $("detail-title").focus();
  } catch (e) { fail(e); }
}

async function rename(name) {
  const to = await ask(`Rename ${name}`, "Renaming onto an existing name is refused; delete or merge that subject first.",
    { input: name, label: "New name", ok: "Rename" });
  if (!to || to === name) return;
  try {
    await api("PATCH", `/v1/subjects/${enc(name)}`, { name: to });
    say(`Renamed ${name} to ${to}.`);
    if (open === name) await showSubject(to, false);
    await loadSubjects();
  } catch (e) { fail(e); }
}

async function removeSubject(name) {
  if (!(await ask(`Delete ${name}?`, `Every template of ${name} is deleted from the gallery and its index. The audit log keeps its rows.`, { ok: "Delete" }))) return;
  try {
    await api("DELETE", `/v1/subjects/${enc(name)}`);
    say(`Deleted ${name}.`);
    if (open === name) { $("subject-detail").hidden = true; open = null; }
    await loadSubjects();
    $("subjects-caption").focus();          // the button that had focus is gone
  } catch (e) { fail(e); }
}

async function removeExample(name, id) {
  if (!(await ask(`Delete example ${id}?`, `This template of ${name} is deleted; ${name} stays enrolled with the others.`, { ok: "Delete" }))) return;
  try {
    await api("DELETE", `/v1/subjects/${enc(name)}/examples/${id}`);
    say(`Deleted example ${id} of ${name}.`);
    await showSubject(name, false);
    await loadSubjects();
    $("detail-title").focus();              // the button that had focus is gone
  } catch (e) { fail(e); }
}

function enrolResult(r) {
  const skipped = r.skipped.map((s) => `photo ${s.index + 1}: ${s.reason}`).join("; ");
  return `Enrolled ${fmt.plural(r.added.length, "photo")} of ${r.subject}` + (skipped ? `; skipped ${skipped}` : ".");
}

// force: enrol masked or low-quality faces too (the server skips them, saying why, otherwise).
async function addExamples(name, files, force = false) {
  const form = new FormData();
  for (const f of files) form.append("file", f);
  return api("POST", `/v1/subjects/${enc(name)}/examples${force ? "?force=true" : ""}`, form);
}

async function enrol(e) {
  e.preventDefault();
  const name = $("enrol-name").value.trim(), consent = $("enrol-consent").value.trim(), files = $("enrol-files").files;
  const out = $("enrol-result");
  if (!name || !files.length) { out.textContent = "Give a name and at least one photo."; return; }
  try {
    if (consent) {
      await api("POST", "/v1/subjects", { name, consent }).catch((err) => { if (err.code !== "subject_exists") throw err; });
    }
    out.textContent = enrolResult(await addExamples(name, files, $("enrol-force").checked));
    say(out.textContent);
    for (const id of ["enrol-name", "enrol-consent", "enrol-files"]) $(id).value = "";
    await loadSubjects();
  } catch (err) { out.textContent = err.message; fail(err); }
}

async function saveConsent(e) {
  e.preventDefault();
  if (!open) return;
  try {
    await api("PATCH", `/v1/subjects/${enc(open)}`, { consent: $("consent-text").value.trim() || null });
    say(`Saved the consent record of ${open}.`);
    await showSubject(open, false);
    await loadSubjects();
  } catch (err) { fail(err); }
}

async function addToOpen(e) {
  e.preventDefault();
  const files = $("add-examples-files").files;
  if (!open || !files.length) return;
  try {
    say(enrolResult(await addExamples(open, files)));
    await showSubject(open, false);
    await loadSubjects();
  } catch (err) { fail(err); }
}

export function initSubjects() {
  $("subject-search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    page.q = $("subject-search").value.trim();
    page.limit = Number($("subject-page-size").value);
    page.offset = 0;
    loadSubjects();
  });
  $("subjects-prev").addEventListener("click", () => { page.offset = Math.max(0, page.offset - page.limit); loadSubjects(); });
  $("subjects-next").addEventListener("click", () => { page.offset += page.limit; loadSubjects(); });
  $("enrol-form").addEventListener("submit", enrol);
  $("consent-form").addEventListener("submit", saveConsent);
  $("add-examples-form").addEventListener("submit", addToOpen);
}
