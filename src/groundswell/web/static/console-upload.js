// Upload a dataset: a preview of the first rows before sending (read in the browser; the server's validation,
// the same as the CLI's, still decides), then the file sent as multipart with a progress bar (XHR reports
// upload progress; fetch does not).
(function () {
  "use strict";
  const { el, showError } = window.GS;
  const form = document.getElementById("upload-form");
  const fileInput = document.getElementById("upload-file");
  const nameInput = document.getElementById("upload-name");
  const progress = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  const PREVIEW_ROWS = 5;

  function splitDelimited(line, delimiter) {
    // Enough of CSV for a preview: quoted fields with doubled quotes; the server's parser is the real one.
    const cells = [];
    let cell = "", quoted = false;
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (quoted) {
        if (c === '"' && line[i + 1] === '"') { cell += '"'; i++; }
        else if (c === '"') quoted = false;
        else cell += c;
      } else if (c === '"') quoted = true;
      else if (c === delimiter) { cells.push(cell); cell = ""; }
      else cell += c;
    }
    cells.push(cell);
    return cells;
  }

  function previewRows(name, text) {
    const lines = text.split(/\r?\n/).filter((line) => line.trim() !== "");
    if (/\.(jsonl|manifest|json)$/i.test(name)) {
      const rows = lines.slice(0, PREVIEW_ROWS).map((line, i) => {
        try { return JSON.parse(line); } catch (e) { return { "(line)": `line ${i + 1} is not JSON: ${e.message}` }; }
      });
      const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
      return { columns, rows: rows.map((row) => columns.map((c) => (c in row ? JSON.stringify(row[c]) : ""))), total: lines.length };
    }
    const delimiter = /\.tsv$/i.test(name) ? "\t" : ",";
    const [header, ...body] = lines;
    return {
      columns: splitDelimited(header || "", delimiter),
      rows: body.slice(0, PREVIEW_ROWS).map((line) => splitDelimited(line, delimiter)),
      total: body.length,
    };
  }

  function showPreview(file) {
    const box = document.getElementById("preview");
    const table = document.getElementById("preview-table");
    const note = document.getElementById("preview-note");
    if (!file || /\.parquet$/i.test(file.name)) {
      box.hidden = !file;
      table.tHead.replaceChildren();
      table.tBodies[0].replaceChildren();
      note.textContent = file ? "Parquet is binary: the rows are checked on upload." : "";
      return;
    }
    // The first 256 KiB are enough for a preview of any sane file and keep a huge one from being read whole.
    file.slice(0, 256 * 1024).text().then((text) => {
      const { columns, rows, total } = previewRows(file.name, text);
      table.tHead.replaceChildren(el("tr", {}, columns.map((c) => el("th", {}, c))));
      table.tBodies[0].replaceChildren(...rows.map((row) => el("tr", {}, row.map((cell) => el("td", {}, cell)))));
      const sized = file.size > 256 * 1024 ? "in the first 256 KiB" : "in the file";
      note.textContent = `the first ${rows.length} of ${total} rows ${sized}, ${(file.size / 1024).toFixed(1)} KiB`;
      box.hidden = false;
    });
  }

  fileInput.addEventListener("change", () => {
    const file = fileInput.files[0];
    if (file && !nameInput.value) nameInput.value = file.name.replace(/\.[^.]+$/, "").replace(/[^A-Za-z0-9._-]+/g, "-");
    showPreview(file);
  });

  function showResult(data) {
    const stats = document.getElementById("upload-stats");
    const facts = [
      ["dataset", data.dataset], ["rows read", data.rows_read], ["imported", data.imported],
      ["rejected", data.rejected], ["duplicate ids", data.duplicate_ids], ["duplicate texts", data.duplicate_texts],
    ];
    stats.replaceChildren(...facts.map(([k, v]) => el("div", {}, el("dt", {}, k), el("dd", {}, v))));
    const problems = document.getElementById("upload-problems");
    problems.replaceChildren(...(data.problems || []).map((p) => el("li", {}, p)));
    document.getElementById("upload-next").href = "/admin/new-job?dataset=" + encodeURIComponent(data.dataset);
    document.getElementById("upload-result").hidden = false;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = new FormData();
    body.append("file", fileInput.files[0]);
    for (const key of ["name", "text_column", "id_column", "label_column"]) {
      const value = form.elements[key].value.trim();
      if (value) body.append(key, value);
    }
    if (form.elements.skip_invalid.checked) body.append("skip_invalid", "true");
    const request = new XMLHttpRequest();
    request.open("POST", "/api/v1/datasets");
    request.setRequestHeader("X-CSRF-Token", window.GS.csrf);
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) progress.value = Math.round((100 * e.loaded) / e.total);
    });
    request.upload.addEventListener("load", () => { status.textContent = "Uploaded; checking and importing…"; });
    request.addEventListener("load", () => {
      let data = {};
      try { data = JSON.parse(request.responseText); } catch (e) { data = { error: request.statusText }; }
      const problems = document.getElementById("upload-problems");
      if (request.status >= 200 && request.status < 300) {
        progress.value = 100;
        status.textContent = `Imported ${data.imported} tweets into ${data.dataset}.`;
        showResult(data);
      } else {
        status.textContent = "Refused: nothing was stored.";
        document.getElementById("upload-result").hidden = false;
        document.getElementById("upload-stats").replaceChildren();
        showError(problems, new window.GS.ApiError(data.error, request.status, data.errors));
      }
      document.getElementById("upload-button").disabled = false;
    });
    request.addEventListener("error", () => { status.textContent = "The upload failed: the server could not be reached."; });
    progress.hidden = false;
    progress.value = 0;
    status.textContent = "Uploading…";
    document.getElementById("upload-button").disabled = true;
    request.send(body);
  });
})();
