// Recognise view: send a photo to /v1/identify and draw every face's box, with the name (or
// "not enrolled"), the score and the threshold; and the 1:1 "same person?" check.
import { $, api, el, fail, fillTable, fmt, say } from "./core.js";

// Boxes are placed in percent of the photo's own size, so they stay on the faces at any zoom.
function box(face, i, img) {
  const [x, y, w, h] = face.box;
  const W = img.naturalWidth, H = img.naturalHeight;
  const name = face.decision;
  const text = name ? `${name} ${fmt.score(face.decision_score)}` : "not enrolled";
  return el("div", {
    class: `box ${name ? "known" : "unknown"}`, role: "listitem", tabindex: 0,
    dataset: { face: i + 1, subject: name || "" },
    "aria-label": `Face ${i + 1}: ${name || "not enrolled"}, score ${fmt.score(face.decision_score ?? face.candidates[0]?.score)}, threshold ${fmt.score(face.threshold)}`,
    style: { left: `${(100 * x) / W}%`, top: `${(100 * y) / H}%`, width: `${(100 * w) / W}%`, height: `${(100 * h) / H}%` },
  }, el("span", { class: "label", "aria-hidden": "true" }, `${i + 1} ${text}`));
}

// The liveness block, when the server judges it: a face that may be a photo of a photo says so.
function liveTag(live) {
  if (!live || live.live) return null;
  const why = live.reason ? `not judged: ${live.reason}` : `liveness ${fmt.score(live.score)} < ${fmt.score(live.threshold)}`;
  return el("span", { class: "tag warn", title: why }, live.reason ? "liveness not judged" : "possible spoof");
}

function faceRow(face, i) {
  const best = face.candidates[0];
  const cands = face.candidates.map((c) => `${c.subject} ${fmt.score(c.score)}`).join(", ") || "gallery is empty";
  return el("tr", { dataset: { face: i + 1 }, class: face.decision ? "known" : "unknown" },
    el("td", {}, i + 1),
    el("td", {}, face.decision || "not enrolled", face.masked ? el("span", { class: "tag" }, "masked") : null,
      liveTag(face.liveness)),
    el("td", {}, fmt.score(face.decision_score ?? best?.score)),
    el("td", {}, fmt.score(face.threshold), face.fpir ? el("span", { class: "muted" }, ` (FPIR ${face.fpir})`) : null),
    el("td", {}, cands));
}

export async function recognise(file) {
  const img = $("photo");
  $("boxes").replaceChildren();
  $("faces-table").hidden = true;
  $("recognise-summary").textContent = "Looking for faces…";
  img.src = URL.createObjectURL(file);
  $("stage").hidden = false;
  await img.decode().catch(() => {});
  const form = new FormData();
  form.append("file", file);
  let res;
  try {
    res = await api("POST", "/v1/identify?k=3", form);
  } catch (e) {
    $("recognise-summary").textContent = "";
    $("stage").dataset.done = "error";
    return fail(e);
  }
  $("boxes").replaceChildren(...res.faces.map((f, i) => box(f, i, img)));
  fillTable($("faces-table"), res.faces.map(faceRow), "no face found");
  $("faces-table").hidden = false;
  const known = res.faces.filter((f) => f.decision).length;
  const summary = `${file.name}: ${fmt.plural(res.faces.length, "face")}: ${known} enrolled, ${res.faces.length - known} not enrolled` +
    ` (gallery of ${fmt.plural(res.gallery_size, "subject")})`;
  $("recognise-summary").textContent = summary;
  $("stage").dataset.done = "ok";
  say(summary);
}

// Hovering or focusing a box highlights its row, and the other way round.
function linkHighlight() {
  const mark = (n, on) => document.querySelectorAll(`[data-face="${n}"]`).forEach((e) => e.classList.toggle("hl", on));
  for (const type of ["mouseover", "focusin"]) {
    document.addEventListener(type, (e) => { const t = e.target.closest?.("[data-face]"); if (t) mark(t.dataset.face, true); });
  }
  for (const type of ["mouseout", "focusout"]) {
    document.addEventListener(type, (e) => { const t = e.target.closest?.("[data-face]"); if (t) mark(t.dataset.face, false); });
  }
}

async function verify() {
  const a = $("verify-a").files[0], b = $("verify-b").files[0];
  if (!a || !b) { $("verify-result").textContent = "Choose two photos."; return; }
  const form = new FormData();
  form.append("a", a);
  form.append("b", b);
  try {
    const v = await api("POST", "/v1/verify", form);
    $("verify-result").textContent = `${v.same ? "Same person" : "Different people"}: score ${fmt.score(v.score)} ` +
      `(threshold ${fmt.score(v.threshold)}, ${v.model})`;
  } catch (e) { $("verify-result").textContent = e.message; }
}

export function initRecognise() {
  $("recognise-file").addEventListener("change", (e) => {
    const file = e.target.files[0];
    e.target.value = "";          // so that choosing the same photo again recognises it again
    if (file) recognise(file);
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files[0]) recognise(e.dataTransfer.files[0]);
  });
  $("verify").addEventListener("click", verify);
  linkHighlight();
}
