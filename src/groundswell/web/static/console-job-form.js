// The job form: the body of POST /api/v1/jobs from the inputs (each names its field and where it goes), and a
// live preview of the instructions rendered by the server's own Markdown renderer, so what the admin sees is
// exactly what annotators will.
(function () {
  "use strict";
  const { api, showError, debounce } = window.GS;
  const form = document.getElementById("job-form");
  const errors = document.getElementById("job-errors");
  const instructions = document.getElementById("instructions");
  const preview = document.getElementById("instructions-preview");

  const renderPreview = debounce(async () => {
    try {
      const { html } = await api("POST", "/admin/preview", { markdown: instructions.value });
      // Rendered by the server with raw HTML disabled: the same markup the labeling page inserts.
      preview.innerHTML = html;
    } catch (error) {
      preview.textContent = `Preview unavailable: ${error.message}`;
    }
  }, 200);
  instructions.addEventListener("input", renderPreview);
  renderPreview();

  const list = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

  function body() {
    const data = {
      name: form.elements.name.value.trim(),
      dataset: form.elements.dataset.value.trim(),
      labels: list(form.elements.labels.value),
      instructions_md: instructions.value,
      settings: {},
    };
    for (const input of form.querySelectorAll("[data-key]")) {
      const { key, kind, target } = input.dataset;
      let value;
      if (kind === "bool") value = input.checked ? true : undefined;
      else if (input.value.trim() === "") value = undefined;
      else if (kind === "tristate") value = input.value === "true";
      else if (kind === "int") value = parseInt(input.value, 10);
      else if (kind === "float") value = parseFloat(input.value);
      else if (kind === "list") value = list(input.value);
      else value = input.value.trim();
      if (value === undefined) continue;
      if (target === "settings") data.settings[key] = value;
      else data[key] = value;
    }
    return data;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(errors, null);
    try {
      const job = await api("POST", "jobs", body());
      if (document.getElementById("start-now").checked) await api("POST", `jobs/${encodeURIComponent(job.name)}/start`);
      window.location.assign(`/admin/jobs/${encodeURIComponent(job.name)}`);
    } catch (error) {
      showError(errors, error);
    }
  });
})();
