// The demo page: upload an image (or pick a world test image), see every task's prediction.
"use strict";

const $ = (id) => document.getElementById(id);

function setStatus(text) { $("status").textContent = text || ""; }

function clearError() { $("error").hidden = true; $("error").textContent = ""; }

async function loadExperiments() {
  const select = $("experiment");
  const wanted = new URLSearchParams(location.search).get("experiment");
  const list = await api("/v1/experiments?limit=200");
  const done = (list.items || []).filter((e) => e.state === "SUCCEEDED");
  select.replaceChildren(...done.map((e) => el("option", { value: e.id }, `${e.name} (${e.id})`)));
  if (wanted && done.some((e) => e.id === wanted)) select.value = wanted;
  if (!done.length) setStatus("No finished experiment yet: submit one and come back when it has SUCCEEDED.");
  updateModelsLink();
}

function updateModelsLink() {
  const id = $("experiment").value;
  $("models-link").href = id ? `/v1/experiments/${encodeURIComponent(id)}/models` : "#";
}

async function poll(result) {
  let current = result;
  while (current && current.state === "PENDING") {
    if (current.waiting_s > 300) throw new Error("no transfer worker has answered for 5 minutes; is one running?");
    setStatus(`a worker is computing the predictions… (${Math.round(current.waiting_s || 0)} s)`);
    current = await api(`/v1/predictions/${current.id}?wait=10`);
  }
  return current;
}

function figure(title, src, truthSrc, testid, task) {
  const img = el("img", { src, alt: title });
  const body = truthSrc
    ? el("div", { class: "pair" }, img, el("img", { src: truthSrc, alt: `${title} ground truth`,
                                                    "data-testid": "truth" }))
    : img;
  return el("figure", { "data-testid": testid, "data-task": task || "" }, body,
            el("figcaption", {}, truthSrc ? `${title} (left: prediction, right: ground truth)` : title));
}

function show(result) {
  const grid = $("results");
  if (result.state !== "SUCCEEDED") {
    showError($("error"), new Error(result.error || "the prediction failed"));
    grid.replaceChildren();
    return;
  }
  const figs = [el("figure", { class: "input", "data-testid": "input" }, el("img", { src: result.input_url,
    alt: "input" }), el("figcaption", {}, `input (${result.size}×${result.size} px)`))];
  const truth = result.ground_truth_urls || {};
  for (const p of result.predictions) {
    const title = p.role === "transfer" ? `${p.task} ← ${p.sources.join(" + ")}` : p.task;
    figs.push(figure(title, p.url, p.role === "task_specific" ? truth[p.task] : null, "prediction", p.task));
  }
  grid.replaceChildren(...figs);
  const skipped = Object.entries(result.skipped || {});
  $("skipped").replaceChildren(...skipped.map(([t, why]) => el("p", {}, `${t}: skipped, ${why}`)));
  setStatus(`${result.predictions.length} predictions`);
}

async function submit(body, contentType) {
  clearError();
  const id = $("experiment").value;
  if (!id) { showError($("error"), new Error("choose a finished experiment first")); return; }
  setStatus("sending…");
  $("results").replaceChildren();
  const transfers = $("transfers").checked ? "true" : "false";
  try {
    const first = await api(`/v1/experiments/${encodeURIComponent(id)}/predictions?wait=20&transfers=${transfers}`,
                            { method: "POST", body, headers: { "Content-Type": contentType } });
    show(await poll(first));
  } catch (err) {
    setStatus("");
    showError($("error"), err);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  renderHeader("demo");
  $("experiment").addEventListener("change", updateModelsLink);
  $("upload").addEventListener("click", () => {
    const file = $("file").files[0];
    if (!file) { showError($("error"), new Error("choose a PNG or JPEG image first")); return; }
    submit(file, file.type || "application/octet-stream");
  });
  $("world").addEventListener("click", () => {
    submit(JSON.stringify({ world_sample: parseInt($("sample").value, 10) || 0 }), "application/json");
  });
  loadExperiments().catch((err) => showError($("error"), err));
});
