// faceprint web page: plain JavaScript against the native API (/v1/...), no build step, no CDN.
"use strict";
const $ = (id) => document.getElementById(id);
const keyInput = $("key");
keyInput.value = localStorage.getItem("faceprint-key") || "";
keyInput.addEventListener("change", () => { localStorage.setItem("faceprint-key", keyInput.value.trim()); refresh(); });

function status(text, isError) {
  const s = $("status");
  s.textContent = text;
  s.className = isError ? "error" : "";
}

async function api(method, path, body) {
  const opts = { method, headers: { "x-api-key": keyInput.value.trim() } };
  if (body instanceof FormData) opts.body = body;
  else if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["content-type"] = "application/json"; }
  const r = await fetch(path, opts);
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(data.message || `HTTP ${r.status}`);
  return data;
}

// -- identify: draw a box, a name and a score on every face --------------------------------------
async function identify(file) {
  const img = $("photo"), boxes = $("boxes"), list = $("faces");
  boxes.replaceChildren(); list.replaceChildren();
  img.src = URL.createObjectURL(file);
  await img.decode().catch(() => {});
  const form = new FormData();
  form.append("file", file);
  let res;
  try { res = await api("POST", "/v1/identify", form); } catch (e) { status(e.message, true); return; }
  const sx = img.clientWidth / img.naturalWidth, sy = img.clientHeight / img.naturalHeight;
  for (const face of res.faces) {
    const [x, y, w, h] = face.box;
    const div = document.createElement("div");
    div.className = "box" + (face.decision ? " known" : "");
    Object.assign(div.style, { left: `${x * sx}px`, top: `${y * sy}px`, width: `${w * sx}px`, height: `${h * sy}px` });
    const best = face.candidates[0];
    const label = document.createElement("span");
    label.textContent = face.decision ? `${face.decision} ${face.decision_score.toFixed(2)}`
      : `unknown${best ? ` (best ${best.subject} ${best.score.toFixed(2)})` : ""}`;
    if (face.masked) label.textContent += " · masked";
    div.appendChild(label);
    boxes.appendChild(div);
    const li = document.createElement("li");
    li.textContent = `${label.textContent} — threshold ${face.threshold.toFixed(3)}` +
      (face.fpir ? ` (FPIR ${face.fpir} over ${res.gallery_size} subjects)` : "");
    list.appendChild(li);
  }
  status(`${res.faces.length} face(s)`);
}
$("identify-file").addEventListener("change", (e) => e.target.files[0] && identify(e.target.files[0]));
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault(); drop.classList.remove("over");
  if (e.dataTransfer.files[0]) identify(e.dataTransfer.files[0]);
});

// -- verify ----------------------------------------------------------------------------------------
$("verify").addEventListener("click", async () => {
  const a = $("verify-a").files[0], b = $("verify-b").files[0];
  if (!a || !b) { $("verify-result").textContent = "choose two photos"; return; }
  const form = new FormData();
  form.append("a", a); form.append("b", b);
  try {
    const v = await api("POST", "/v1/verify", form);
    $("verify-result").textContent = `${v.same ? "Same person" : "Different people"}: score ${v.score.toFixed(3)} (threshold ${v.threshold.toFixed(3)})`;
  } catch (e) { $("verify-result").textContent = e.message; }
});

// -- enrol -----------------------------------------------------------------------------------------
$("enrol").addEventListener("click", async () => {
  const name = $("enrol-name").value.trim(), consent = $("enrol-consent").value.trim();
  const files = $("enrol-files").files;
  if (!name || !files.length) { $("enrol-result").textContent = "give a name and 1+ photos"; return; }
  try {
    if (consent) {
      await api("POST", "/v1/subjects", { name, consent }).catch((e) => {
        if (!/already exists/.test(e.message)) throw e;
      });
    }
    const form = new FormData();
    for (const f of files) form.append("file", f);
    const r = await api("POST", `/v1/subjects/${encodeURIComponent(name)}/examples`, form);
    $("enrol-result").textContent = `enrolled ${r.added.length} photo(s) of ${r.subject}` +
      (r.skipped.length ? `; skipped ${r.skipped.map((s) => s.reason).join("; ")}` : "");
    refresh();
  } catch (e) { $("enrol-result").textContent = e.message; }
});

// -- list and delete -------------------------------------------------------------------------------
async function refresh() {
  const ul = $("subjects");
  if (!keyInput.value.trim()) return;
  try {
    const r = await api("GET", "/v1/subjects?limit=1000");
    ul.replaceChildren(...r.subjects.map((s) => {
      const li = document.createElement("li");
      li.dataset.name = s.name;
      li.textContent = `${s.name} (${s.templates} photo${s.templates === 1 ? "" : "s"})`;
      const del = document.createElement("button");
      del.textContent = "Delete";
      del.addEventListener("click", async () => {
        if (!confirm(`Delete ${s.name} and all of their photos' templates?`)) return;
        try { await api("DELETE", `/v1/subjects/${encodeURIComponent(s.name)}`); refresh(); }
        catch (e) { status(e.message, true); }
      });
      li.appendChild(del);
      return li;
    }));
    status(`${r.total} enrolled`);
  } catch (e) { status(e.message, true); }
}
$("refresh").addEventListener("click", refresh);
refresh();
