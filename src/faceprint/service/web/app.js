// faceprint console: the key, the tabs (keyboard: arrows, Home, End) and the gallery view; each
// other view lives in its own module. Plain ES modules against /v1/..., no build step, no CDN.
import { $, api, el, fail, fmt, initDialog, say, state } from "./core.js";
import { initAdmin, loadAudit, loadKeys } from "./admin.js";
import { initRecognise } from "./recognise.js";
import { initSubjects, loadSubjects } from "./subjects.js";

const STORE = "faceprint-key";
const tabs = () => [...document.querySelectorAll('[role="tab"]')].filter((t) => !t.hidden);
const loaders = { subjects: loadSubjects, audit: loadAudit, keys: loadKeys, stats: loadStats };

function show(view, focusTab = false) {
  const allowed = tabs().map((t) => t.dataset.view);
  if (!allowed.includes(view)) view = "recognise";
  for (const t of document.querySelectorAll('[role="tab"]')) {
    const on = t.dataset.view === view;
    t.setAttribute("aria-selected", String(on));
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute("aria-controls")).hidden = !on;
    if (on && focusTab) t.focus();
  }
  if (location.hash !== `#${view}`) history.replaceState(null, "", `#${view}`);
  document.body.dataset.view = view;
  if (state.key && loaders[view]) loaders[view]();
}

function initTabs() {
  for (const t of document.querySelectorAll('[role="tab"]')) t.addEventListener("click", () => show(t.dataset.view));
  $("tabs").addEventListener("keydown", (e) => {
    const list = tabs(), i = list.indexOf(document.activeElement);
    if (i < 0) return;
    const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: list.length - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    show(list[(to + list.length) % list.length].dataset.view, true);
  });
  window.addEventListener("hashchange", () => show(location.hash.slice(1)));
}

async function loadStats() {
  try {
    const [s, h] = await Promise.all([api("GET", "/v1/stats"), fetch("/health").then((r) => r.json())]);
    const rows = [
      ["Gallery", s.gallery], ["Subjects", s.subjects], ["Templates", s.templates],
      ["Index", `${s.index} (${fmt.plural(s.indexed, "vector")} indexed)`], ["Model", s.model || h.model],
      ["FPIR in force", s.default_fpir ?? "–"],
      ["Threshold at that FPIR", s.threshold == null ? "– (no one enrolled)" : `${fmt.score(s.threshold)} over ${fmt.plural(s.subjects, "subject")}`],
      ["Galleries on this server", h.galleries.join(", ")],
    ];
    $("stats").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", { dataset: { stat: k } }, String(v))]));
    $("stats").dataset.loaded = String(Date.now());
  } catch (e) { fail(e); }
}

// Who the key is (gallery, role): the admin views show only for admin keys.
async function useKey(key, remember) {
  state.key = key;
  sessionStorage.setItem(STORE, key);
  if (remember) localStorage.setItem(STORE, key); else localStorage.removeItem(STORE);
  if (!key) { $("whoami").textContent = "No key."; return; }
  try {
    const me = await api("GET", "/v1/me");
    Object.assign(state, { role: me.role, gallery: me.gallery, keyId: me.key_id });
    $("whoami").textContent = `Gallery ${me.gallery} · ${me.role} key ${me.key_id}`;
    say(`Signed in to gallery ${me.gallery} with a ${me.role} key.`);
  } catch (e) {
    Object.assign(state, { role: null, gallery: null, keyId: null });
    $("whoami").textContent = e.message;
    fail(e);
  }
  document.body.dataset.role = state.role || "none";
  for (const n of document.querySelectorAll(".admin-only")) n.hidden = state.role !== "admin";
  for (const n of document.querySelectorAll(".recognize-only")) n.hidden = state.role === "admin";
  show(location.hash.slice(1) || "recognise");
}

function init() {
  initDialog();
  initTabs();
  initRecognise();
  initSubjects();
  initAdmin();
  $("stats-refresh").addEventListener("click", loadStats);
  $("key-form").addEventListener("submit", (e) => { e.preventDefault(); useKey($("key").value.trim(), $("remember").checked); });
  const saved = sessionStorage.getItem(STORE) || localStorage.getItem(STORE) || "";
  $("key").value = saved;
  $("remember").checked = !!localStorage.getItem(STORE);
  for (const n of document.querySelectorAll(".admin-only")) n.hidden = true;
  if (saved) useKey(saved, $("remember").checked); else show(location.hash.slice(1) || "recognise");
}

init();
