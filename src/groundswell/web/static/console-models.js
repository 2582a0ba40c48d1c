// Models: train one from a job's labels as background work (POST /api/v1/jobs/{name}/models, then poll
// /api/v1/work/{id}), list a job's models with their scores and which is served, and show a model's card:
// validation metrics and confusion matrix.
(function () {
  "use strict";
  const { api, el, fixed, when, showError } = window.GS;
  const form = document.getElementById("train-form");
  if (!form) return;
  const jobSelect = document.getElementById("model-job");
  const errorBox = document.getElementById("models-error");
  const status = document.getElementById("train-status");

  const validation = (metrics) => (metrics && metrics.validation) || {};
  const recall = (m) => validation(m).macro_recall ?? m.holdout_macro_recall ?? null;

  async function load() {
    showError(errorBox, null);
    try {
      const rows = await api("GET", `jobs/${encodeURIComponent(jobSelect.value)}/models`);
      // The newest promoted model of the loop is the one its endpoint serves.
      const served = rows.filter((r) => r.metrics && r.metrics.promoted).map((r) => r.id);
      const serving = served.length ? Math.max(...served) : null;
      document.querySelector("#models-table tbody").replaceChildren(...rows.map((r) =>
        el("tr", { class: "clickable", "data-model": r.id, tabindex: "0", onclick: () => show(r.id) },
          el("td", {}, r.id), el("td", {}, r.kind), el("td", {}, r.model_type), el("td", {}, when(r.created_at)),
          el("td", {}, r.training_size ?? "—"), el("td", {}, fixed(recall(r.metrics), 3)),
          el("td", {}, fixed(validation(r.metrics).accuracy, 3)),
          el("td", {}, r.id === serving ? "served by the loop" : r.metrics && r.metrics.decision ? r.metrics.decision : ""))));
      if (!rows.length) document.querySelector("#models-table tbody").append(el("tr", {}, el("td", { colspan: "8" }, "No models for this job yet.")));
    } catch (error) {
      showError(errorBox, error);
    }
  }

  async function show(id) {
    try {
      const model = await api("GET", `models/${id}`);
      document.getElementById("model-title").textContent = `${model.id} (${model.model_type})`;
      document.getElementById("model-path").textContent = model.artifact_uri;
      const metrics = model.card ? model.card.metrics : model.metrics;
      const v = validation(metrics);
      const facts = [["macro-recall", fixed(v.macro_recall ?? recall(model.metrics))], ["accuracy", fixed(v.accuracy)],
        ["macro-F1", fixed(v.macro_f1)], ["training tweets", model.card ? model.card.training_size : model.training_size ?? "—"],
        ["validation tweets", model.card ? model.card.validation_size : "—"]];
      document.getElementById("model-metrics").replaceChildren(...facts.map(([k, val]) => el("div", {}, el("dt", {}, k), el("dd", {}, val))));
      const labels = model.card ? model.card.labels : [];
      const table = document.getElementById("confusion");
      const confusion = v.confusion || [];
      table.tHead.replaceChildren(el("tr", {}, el("th", {}, ""), labels.map((l) => el("th", {}, l))));
      table.tBodies[0].replaceChildren(...confusion.map((row, i) =>
        el("tr", {}, el("th", {}, labels[i]), row.map((n, j) => el("td", { class: i === j ? "diagonal" : "" }, n)))));
      if (!confusion.length) table.tBodies[0].replaceChildren(el("tr", {}, el("td", {}, "No validation figures on this model's card.")));
      document.getElementById("model-detail").hidden = false;
    } catch (error) {
      showError(errorBox, error);
    }
  }

  async function follow(work) {
    while (work.state !== "done" && work.state !== "failed") {
      status.textContent = `Training (${work.state})…`;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      work = await api("GET", `work/${work.id}`);
    }
    if (work.state === "failed") throw new Error(`training failed: ${work.error}`);
    status.textContent = "Trained.";
    await load();
    if (work.result && work.result.model_version_id) await show(work.result.model_version_id);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(errorBox, null);
    try {
      const work = await api("POST", `jobs/${encodeURIComponent(jobSelect.value)}/models`, { model_type: form.elements.model_type.value });
      await follow(work);
    } catch (error) {
      status.textContent = "";
      showError(errorBox, error);
    }
  });
  jobSelect.addEventListener("change", load);
  load();
})();
