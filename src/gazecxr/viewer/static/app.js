// GazeCXR viewer page: talks only to the JSON API of gazecxr.viewer.app.
"use strict";

const $ = (id) => document.getElementById(id);
let lastResult = null;

function setState(state, message) {
  document.body.dataset.state = state;
  $("status").textContent = message || "";
  const busy = state === "busy";
  $("analyze-btn").disabled = busy;
  $("study-btn").disabled = busy;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
  setState("error", "");
}

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

async function callApi(url, options) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (err) {
    throw new Error("the viewer server is not reachable (" + err.message + ")");
  }
  let body = null;
  try { body = await response.json(); } catch (_) { /* non-JSON answer */ }
  if (!response.ok) {
    throw new Error((body && body.error) || ("HTTP " + response.status));
  }
  return body;
}

function renderFindings(findings) {
  const tbody = $("findings-table").querySelector("tbody");
  tbody.replaceChildren();
  for (const f of findings) {
    const row = el("tr", { class: f.positive ? "positive" : "negative" });
    row.append(el("td", {}, f.label));
    const barCell = el("td");
    const bar = el("div", { class: "pbar", title: `p=${f.probability.toFixed(3)}, threshold=${f.threshold.toFixed(3)}` });
    const fill = el("div", { class: "fill" });
    fill.style.width = (100 * f.probability).toFixed(1) + "%";
    const thr = el("div", { class: "thr" });
    thr.style.left = (100 * f.threshold).toFixed(1) + "%";
    bar.append(fill, thr);
    barCell.append(bar);
    row.append(barCell);
    row.append(el("td", { class: "num" }, f.probability.toFixed(3)));
    row.append(el("td", { class: "num" }, f.threshold.toFixed(3)));
    row.append(el("td", { class: "call" }, f.positive ? "positive" : "negative"));
    row.append(el("td", { class: "regions" }, (f.regions || []).join(", ")));
    tbody.append(row);
  }
}

// Regions with a finding get a number, shown as a badge in the box and in the regions list.
function numberedRegions(regions) {
  return regions.filter((r) => r.findings.length).map((r, i) => ({ ...r, number: i + 1 }));
}

function renderBoxes(regions, width, height) {
  const svg = $("boxes");
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const ns = "http://www.w3.org/2000/svg";
  const badge = Math.max(4, Math.round(width / 28)); // badge size relative to the image
  const numbers = new Map(numberedRegions(regions).map((r) => [r.name, r.number]));
  for (const r of regions) {
    const [x0, y0, x1, y1] = r.box;
    const rect = document.createElementNS(ns, "rect");
    rect.setAttribute("x", x0 * width);
    rect.setAttribute("y", y0 * height);
    rect.setAttribute("width", Math.max(0, (x1 - x0) * width));
    rect.setAttribute("height", Math.max(0, (y1 - y0) * height));
    if (numbers.has(r.name)) rect.setAttribute("class", "hit");
    const title = document.createElementNS(ns, "title");
    title.textContent = r.name + (r.findings.length ? ": " + r.findings.join(", ") : "");
    rect.append(title);
    svg.append(rect);
  }
  const placed = []; // badges of nested boxes share a corner: shift them right until free
  for (const r of regions) {
    if (!numbers.has(r.name)) continue;
    let x = r.box[0] * width;
    const y = r.box[1] * height;
    while (placed.some(([px, py]) => Math.abs(px - x) < badge && Math.abs(py - y) < badge)) x += badge * 1.15;
    placed.push([x, y]);
    const group = document.createElementNS(ns, "g");
    group.setAttribute("class", "badge");
    const bg = document.createElementNS(ns, "rect");
    bg.setAttribute("x", x);
    bg.setAttribute("y", y);
    bg.setAttribute("width", badge);
    bg.setAttribute("height", badge);
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", x + badge / 2);
    label.setAttribute("y", y + badge * 0.78);
    label.setAttribute("font-size", badge * 0.8);
    label.setAttribute("text-anchor", "middle");
    label.textContent = numbers.get(r.name);
    group.append(bg, label);
    svg.append(group);
  }
}

// Where a region's box came from (Prediction.anatomy.sources).
const REGION_SOURCES = {
  dataset: "the reading's own",
  model: "found by the localiser",
  "lung-anchored": "placed from the lungs (the localiser's own box was implausible)",
  atlas: "atlas",
};

function renderRegions(regions) {
  const list = $("regions");
  list.replaceChildren();
  const used = numberedRegions(regions);
  if (!used.length) {
    list.append(el("li", { class: "muted" }, "no finding placed in a region"));
  }
  for (const r of used) {
    const mass = r.attention_mass == null ? "" : ` (attention mass ${(100 * r.attention_mass).toFixed(1)} %)`;
    const where = REGION_SOURCES[r.source] ?? r.source;
    const conf = r.confidence == null ? "" : `, confidence ${r.confidence.toFixed(2)}`;
    list.append(el("li", { value: r.number }, `${r.name}: ${r.findings.join(", ")}${mass} · box: ${where}${conf}`));
  }
}

// The attention toggle: the mixture, or one finding's own map (models with one map per label).
function renderAttentionChoices(result) {
  const select = $("attention-label");
  const maps = result.overlays.attention_per_label || {};
  select.replaceChildren(el("option", { value: "" }, "all findings (mixture)"));
  for (const f of result.findings) {
    if (maps[f.label]) select.append(el("option", { value: f.label }, `${f.label}${f.positive ? " (positive)" : ""}`));
  }
  select.disabled = select.options.length < 2;
}

function showAttention() {
  if (!lastResult) return;
  const label = $("attention-label").value;
  const maps = lastResult.overlays.attention_per_label || {};
  $("img-attention").src = label && maps[label] ? maps[label] : lastResult.overlays.attention;
  $("img-attention").alt = label ? `model attention for ${label}` : "model attention overlay";
}

function applyOverlayControls() {
  const attention = $("img-attention");
  attention.hidden = !$("toggle-attention").checked;
  attention.style.opacity = ($("attention-opacity").value / 100).toString();
  $("img-gaze").hidden = !$("toggle-gaze").checked || $("toggle-gaze").disabled;
  $("boxes").style.display = $("toggle-boxes").checked ? "" : "none";
}

function render(result) {
  lastResult = result;
  const ov = result.overlays;
  const base = $("img-base");
  base.onload = () => renderBoxes(result.regions, base.naturalWidth, base.naturalHeight);
  base.src = ov.image;
  $("img-attention").src = ov.attention;
  const hasGaze = Boolean(ov.gaze);
  $("toggle-gaze").disabled = !hasGaze;
  $("toggle-gaze").checked = hasGaze;
  $("gaze-availability").textContent = hasGaze ? "" : "(no gaze for this image)";
  if (hasGaze) $("img-gaze").src = ov.gaze;
  $("stage").hidden = false;
  $("overlay-controls").hidden = false;
  $("image-caption").textContent =
    `${result.source} · ${result.image_size[1]}×${result.image_size[0]} px · anatomy boxes: ${result.anatomy.source}${result.anatomy.note ? ` (${result.anatomy.note})` : ""}`;
  renderFindings(result.findings);
  renderRegions(result.regions);
  renderAttentionChoices(result);
  $("report").textContent = result.report.text;
  $("report-writer").textContent = result.report.writer ? `(${result.report.writer} writer)` : "";
  const ref = result.study && result.study.reference_report;
  $("reference-block").hidden = !ref;
  $("reference-report").textContent = ref || "";
  $("result-panel").hidden = false;
  applyOverlayControls();
  const npos = result.positive.length;
  setState("done", `done: ${npos} positive finding${npos === 1 ? "" : "s"}`);
}

async function analyze(url, options, what) {
  $("error").hidden = true;
  setState("busy", `analysing ${what}…`);
  try {
    render(await callApi(url, options));
  } catch (err) {
    showError(err.message);
  }
}

$("upload-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const file = $("file-input").files[0];
  if (!file) { showError("choose a JPG, PNG or DICOM file first"); return; }
  const form = new FormData();
  form.append("file", file);
  analyze("/api/analyze", { method: "POST", body: form }, file.name);
});

$("study-btn").addEventListener("click", () => {
  const id = $("study-select").value;
  if (!id) { showError("choose a study first"); return; }
  analyze(`/api/studies/${encodeURIComponent(id)}/analyze`, { method: "POST" }, id);
});

for (const id of ["toggle-attention", "attention-opacity", "toggle-gaze", "toggle-boxes"]) {
  $(id).addEventListener("input", applyOverlayControls);
}
$("attention-label").addEventListener("change", showAttention);

$("download-btn").addEventListener("click", () => {
  if (!lastResult) return;
  const blob = new Blob([JSON.stringify(lastResult, null, 2)], { type: "application/json" });
  const link = el("a", { href: URL.createObjectURL(blob), download: `gazecxr-${lastResult.source}.json` });
  document.body.append(link);
  link.click();
  link.remove();
});

async function init() {
  try {
    const health = await callApi("/api/health");
    $("run-info").textContent = `run: ${health.run} · report writer: ${health.writer}`;
    $("note").textContent = health.note;
    if (health.studies > 0) {
      const { studies } = await callApi("/api/studies");
      const select = $("study-select");
      for (const s of studies) {
        const labels = s.labels.length ? s.labels.join(", ") : "no finding";
        select.append(el("option", { value: s.id }, `${s.id} · ${labels}${s.has_gaze ? " · gaze" : ""}`));
      }
      $("study-picker").hidden = false;
    }
    setState("ready", "");
  } catch (err) {
    showError(err.message);
  }
}

init();
