// The labels browser: a filtered page of the job's labels (GET /api/v1/jobs/{name}/labels), each tweet's answers
// and history (GET …/labels/{id}), and an admin's correction (PUT …/labels/{id}), recorded as an adjudication
// that no later answer, consolidation or model round replaces, and exported as such.
(function () {
  "use strict";
  const { api, el, fixed, when, showError } = window.GS;
  const app = document.getElementById("labels-app");
  const job = app.dataset.job;
  const filters = document.getElementById("label-filters");
  const tbody = document.querySelector("#labels-table tbody");
  const listError = document.getElementById("labels-error");
  const detail = document.getElementById("label-detail");
  const detailError = document.getElementById("detail-error");
  const correctForm = document.getElementById("correct-form");
  const PAGE = 50;
  let cursor = null;        // the cursor of the page on screen (null: the first)
  let nextCursor = null;
  let pageNumber = 1;
  let shownItem = null;

  const base = `jobs/${encodeURIComponent(job)}/labels`;
  const itemPath = (id) => `${base}/${encodeURIComponent(id)}`;

  function query() {
    const params = new URLSearchParams({ limit: String(PAGE) });
    for (const [key, value] of new FormData(filters)) if (String(value).trim() !== "") params.set(key, String(value).trim());
    if (cursor) params.set("cursor", cursor);
    return params;
  }

  function byWhom(row) {
    if (row.adjudicated || row.method === "adjudicated") return "corrected";
    return row.human_annotated ? "people" : "model";
  }

  async function load() {
    showError(listError, null);
    try {
      const data = await api("GET", `${base}?${query()}`);
      nextCursor = data.next_cursor;
      tbody.replaceChildren(
        ...data.labels.map((row) =>
          el("tr", { "data-item": row.item_id, class: "clickable", tabindex: "0", onclick: () => open(row.item_id),
                     onkeydown: (e) => { if (e.key === "Enter") open(row.item_id); } },
            el("td", {}, row.item_id), el("td", { class: "tweet-cell" }, row.source), el("td", { class: "label-cell" }, row.label),
            el("td", {}, fixed(row.confidence, 2)), el("td", { class: "by-cell" }, byWhom(row)), el("td", {}, row.judgment_count),
            el("td", {}, row.agreement === null || row.agreement === undefined ? "—" : `${Math.round(100 * row.agreement)} %`))));
      if (!data.labels.length) tbody.append(el("tr", {}, el("td", { colspan: "7" }, "No labels match.")));
      document.getElementById("next-page").disabled = !nextCursor;
      document.getElementById("page-note").textContent = `page ${pageNumber}, ${data.labels.length} labels`;
    } catch (error) {
      showError(listError, error);
    }
  }

  async function open(itemId) {
    showError(detailError, null);
    try {
      const data = await api("GET", itemPath(itemId));
      shownItem = itemId;
      render(data);
      detail.hidden = false;
      detail.scrollIntoView({ block: "nearest" });
    } catch (error) {
      showError(listError, error);
    }
  }

  function render(data) {
    const label = data.label;
    document.getElementById("detail-id").textContent = data.item_id;
    document.getElementById("detail-text").textContent = data.source;
    document.getElementById("detail-label").textContent = label ? label.label : "none yet";
    document.getElementById("detail-meta").textContent = label
      ? `confidence ${fixed(label.confidence, 2)}, ${byWhom({ ...label, adjudicated: data.adjudicated })}, method ${label.method}`
      : "";
    const answers = document.querySelector("#detail-answers tbody");
    answers.replaceChildren(...(data.answers || []).map((a) =>
      el("tr", {}, el("td", {}, a.worker), el("td", {}, a.label === null ? "(skipped)" : a.label),
         el("td", {}, a.time_spent_s === null || a.time_spent_s === undefined ? "—" : fixed(a.time_spent_s, 1)),
         el("td", {}, when(a.submitted_at)))));
    if (!(data.answers || []).length) answers.append(el("tr", {}, el("td", { colspan: "4" }, "No answers: a machine label.")));
    const vote = data.model_vote;
    document.getElementById("detail-model").textContent = vote
      ? `The model's vote: ${vote.label}` + (vote.confidence === null || vote.confidence === undefined ? "" : ` (${fixed(vote.confidence, 2)})`)
      : "";
    const history = document.getElementById("detail-history");
    history.replaceChildren(...(data.history || []).map((h) =>
      el("li", {}, `${when(h.created_at)}: ${h.worker} ${h.label === null ? "undid the correction" : `set ${h.label}`}` +
        (h.previous_label ? ` (was ${h.previous_label})` : "") + (h.note ? ` — ${h.note}` : ""))));
    if (!(data.history || []).length) history.append(el("li", { class: "who" }, "Never corrected."));
    if (label) correctForm.elements.label.value = label.label;
    document.getElementById("revert").hidden = !data.adjudicated;
  }

  correctForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(detailError, null);
    try {
      const note = correctForm.elements.note.value.trim();
      await api("PUT", itemPath(shownItem), { label: correctForm.elements.label.value, note: note || null });
      correctForm.elements.note.value = "";
      await open(shownItem);
      await load();
    } catch (error) {
      showError(detailError, error);
    }
  });

  document.getElementById("revert").addEventListener("click", async () => {
    showError(detailError, null);
    try {
      await api("DELETE", `${itemPath(shownItem)}/correction`);
      await open(shownItem);
      await load();
    } catch (error) {
      showError(detailError, error);
    }
  });

  filters.addEventListener("submit", (event) => { event.preventDefault(); cursor = null; pageNumber = 1; load(); });
  document.getElementById("first-page").addEventListener("click", () => { cursor = null; pageNumber = 1; load(); });
  document.getElementById("next-page").addEventListener("click", () => {
    if (nextCursor) { cursor = nextCursor; pageNumber += 1; load(); }
  });
  load();
})();
