// The job page, live: progress refreshed from GET /api/v1/jobs/{name}, and the charts drawn with the vendored
// Chart.js from GET /api/v1/jobs/{name}/charts/{chart}; each chart has its data as a table and a CSV link.
// Progress is refreshed every 10 seconds while the page is open, the charts when it moved (or once a minute).
(function () {
  "use strict";
  const { api, el, fixed, showError } = window.GS;
  const app = document.getElementById("job-app");
  const job = app.dataset.job;
  const jobPath = `jobs/${encodeURIComponent(job)}`;
  const REFRESH_MS = 10000;
  const drawn = new Map();   // chart name → { chart, table, note }
  const palette = ["#1d6fd8", "#c0392b", "#1f8a4c", "#b26a00", "#7b3fb6", "#16877f", "#8a8f98", "#d35400"];

  // Charts are redrawn when the progress moved, and at least once a minute (a consolidation or a round
  // changes some without a new answer): an open tab on an idle job does not recompute them every 10 s.
  const CHARTS_AT_LEAST_MS = 60000;
  let lastProgress = null;
  let chartsAt = 0;

  async function refreshProgress() {
    const data = await api("GET", jobPath);
    const p = data.progress;
    if (!p) return true;
    const signature = `${p.done}/${p.judgments}/${p.items}`;
    const moved = signature !== lastProgress;
    lastProgress = signature;
    const set = (field, text) => { const node = app.querySelector(`[data-field="${field}"]`); if (node) node.textContent = text; };
    set("done", `${p.done} / ${p.items} (${p.percent_done.toFixed(1)} %)`);
    set("in_progress", p.in_progress);
    set("open", p.open);
    set("judgments", `${p.judgments} / ${p.judgments_wanted}`);
    set("active_leases", p.active_leases);
    set("active_annotators", p.active_annotators);
    return moved;
  }

  // Which columns become which series, per chart: the rest of the data is in the table.
  const column = (data, name) => data.rows.map((row) => row[data.columns.indexOf(name)]);
  const numbers = (data, name) => column(data, name).map((v) => (v === null ? null : Number(v)));

  function config(data) {
    const cols = data.columns;
    switch (data.name) {
      case "throughput":
        return { type: "bar", data: { labels: column(data, "hour").map((h) => h.slice(5, 16).replace("T", " ")), datasets: [
          { label: "answers", data: numbers(data, "answers"), backgroundColor: palette[0], yAxisID: "y" },
          { label: "cumulative", type: "line", data: numbers(data, "cumulative_answers"), borderColor: palette[2], yAxisID: "y1" }] },
          options: { scales: { y: { beginAtZero: true, position: "left" }, y1: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } } } } };
      case "label_distribution": {
        const series = cols.filter((c) => c !== "bucket");
        return { type: "bar", data: { labels: column(data, "bucket"), datasets: series.map((name, i) =>
          ({ label: name, data: numbers(data, name), backgroundColor: palette[i % palette.length] })) },
          options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } } };
      }
      case "annotators":
        return { type: "scatter", data: { datasets: [{ label: "annotators", backgroundColor: palette[0],
          data: data.rows.map((row) => ({ x: row[cols.indexOf("tweets_per_hour")], y: row[cols.indexOf("estimated_accuracy")], name: row[cols.indexOf("name")] }))
            .filter((p) => p.x !== null && p.y !== null) }] },
          options: { scales: { x: { title: { display: true, text: "tweets per hour" } }, y: { title: { display: true, text: "estimated accuracy" } } },
            plugins: { tooltip: { callbacks: { label: (ctx) => `${ctx.raw.name}: ${fixed(ctx.raw.y, 2)} at ${fixed(ctx.raw.x, 0)}/h` } } } } };
      case "confidence":
        return { type: "bar", data: { labels: data.rows.map((row) => `${fixed(row[cols.indexOf("bin_low")], 2)}`), datasets: [
          { label: "people", data: numbers(data, "human"), backgroundColor: palette[0] },
          { label: "model", data: numbers(data, "machine"), backgroundColor: palette[3] }] },
          options: { scales: { x: { stacked: true, title: { display: true, text: "confidence from" } }, y: { stacked: true, beginAtZero: true } } } };
      case "agreement":
        return { type: "bar", data: { labels: column(data, "label"), datasets: [
          { label: "specific agreement", data: numbers(data, "specific_agreement"), backgroundColor: palette[0] },
          { label: "Fleiss' κ", data: numbers(data, "fleiss_kappa"), backgroundColor: palette[2] }] },
          options: { scales: { y: { min: -0.2, max: 1 } } } };
      case "rounds":
        return { type: "line", data: { labels: column(data, "round"), datasets: [
          { label: "threshold", data: numbers(data, "threshold"), borderColor: palette[0] },
          { label: "coverage", data: numbers(data, "coverage"), borderColor: palette[3] },
          { label: "validation accuracy", data: numbers(data, "validation_accuracy"), borderColor: palette[2] },
          { label: "its 95 % lower bound", data: numbers(data, "validation_lower_bound"), borderColor: palette[1], borderDash: [4, 4] }] },
          options: { scales: { y: { min: 0, max: 1 }, x: { title: { display: true, text: "round" } } } } };
      case "cost": {
        const x = numbers(data, "answers_per_item");
        const point = (name) => x.map((v, i) => ({ x: v, y: numbers(data, name)[i] }));
        const datasets = [
          { label: "estimated accuracy", data: point("estimated_accuracy"), borderColor: palette[0], showLine: true },
          { label: "95 % low", data: point("accuracy_low"), borderColor: palette[6], borderDash: [4, 4], showLine: true, pointRadius: 0 },
          { label: "95 % high", data: point("accuracy_high"), borderColor: palette[6], borderDash: [4, 4], showLine: true, pointRadius: 0 }];
        const target = data.meta && data.meta.target;
        if (target !== null && target !== undefined && x.length) {
          datasets.push({ label: "target", data: [{ x: Math.min(...x), y: target }, { x: Math.max(...x), y: target }], borderColor: palette[1], showLine: true, pointRadius: 0 });
        }
        return { type: "scatter", data: { datasets }, options: { scales: {
          x: { title: { display: true, text: "human answers per tweet" } }, y: { title: { display: true, text: "estimated accuracy" } } } } };
      }
      default:
        return null;
    }
  }

  function note(data) {
    const meta = data.meta || {};
    if (data.name === "throughput") {
      const rate = meta.recent_rate_per_hour ? `${fixed(meta.recent_rate_per_hour, 0)} answers/hour lately` : "no recent answers";
      const finish = meta.projected_finish ? `; projected to finish ${window.GS.when(meta.projected_finish)} UTC` : "";
      return `${rate}${finish}`;
    }
    if (data.name === "cost") {
      if (data.rows.length && numbers(data, "estimated_accuracy").every((v) => v === null)) {
        return "No accuracy estimate: this job's labels come from a vote, whose shares are not probabilities " +
          "(Dawid–Skene or an accuracy target give one).";
      }
      if (meta.target !== null && meta.target !== undefined) return `target ${fixed(meta.target, 3)}`;
    }
    return data.description || "";
  }

  // Whether a chart has anything to draw: a zero-filled histogram or a curve of unknowns is "no data yet".
  function hasMarks(spec) {
    return !!spec && spec.data.datasets.some((d) => d.data.some((v) =>
      v !== null && v !== undefined && (typeof v === "object" ? v.y !== null && v.y !== undefined : v !== 0)));
  }

  function tableOf(data) {
    return el("table", { class: "chart-table" },
      el("thead", {}, el("tr", {}, data.columns.map((c) => el("th", {}, c)))),
      el("tbody", {}, data.rows.map((row) => el("tr", {}, row.map((v) => el("td", {}, v === null ? "—" : typeof v === "number" && !Number.isInteger(v) ? fixed(v, 3) : v))))));
  }

  function draw(data) {
    const existing = drawn.get(data.name);
    const spec = config(data);
    if (existing) {
      existing.note.textContent = note(data);
      existing.table.replaceWith(existing.table = tableOf(data));
      existing.empty.hidden = hasMarks(spec);
      if (existing.chart && spec) { existing.chart.data = spec.data; existing.chart.update("none"); }
      return;
    }
    const canvas = el("canvas", { "aria-label": data.title, role: "img" });
    const table = tableOf(data);
    const empty = el("p", { class: "who", hidden: hasMarks(spec) }, "No data yet.");
    const csv = `/api/v1/${jobPath}/charts/${data.name}?format=csv`;
    const figure = el("figure", { class: "chart", "data-chart": data.name },
      el("figcaption", {}, el("strong", {}, data.title), " ", el("a", { href: csv, download: true }, "CSV")),
      el("div", { class: "chart-canvas" }, canvas), empty, el("p", { class: "who chart-note" }),
      el("details", {}, el("summary", {}, "Table"), table));
    document.getElementById("charts").append(figure);
    const entry = { chart: null, table, note: figure.querySelector(".chart-note"), empty };
    entry.note.textContent = note(data);
    if (spec && window.Chart) {
      spec.options = { ...spec.options, animation: false, responsive: true, maintainAspectRatio: false };
      entry.chart = new window.Chart(canvas, spec);
    }
    drawn.set(data.name, entry);
  }

  let names = null;
  async function refreshCharts() {
    if (!names) names = (await api("GET", `${jobPath}/charts`)).map((c) => c.name);
    for (const name of names) draw(await api("GET", `${jobPath}/charts/${name}`));
  }

  async function refresh() {
    const box = document.getElementById("charts-error");
    try {
      const moved = await refreshProgress();
      if (moved || Date.now() - chartsAt >= CHARTS_AT_LEAST_MS) {
        await refreshCharts();
        chartsAt = Date.now();
      }
      showError(box, null);
    } catch (error) {
      showError(box, error);
    }
  }

  document.getElementById("consolidate").addEventListener("click", async () => {
    const status = document.getElementById("job-status");
    status.textContent = "Consolidating…";
    try {
      const result = await api("POST", `${jobPath}/consolidate`, {});
      status.textContent = `Consolidated ${result.items_labeled} labels (${result.method}).`;
      chartsAt = 0;
      await refresh();
    } catch (error) {
      status.textContent = `Consolidation failed: ${error.message}`;
    }
  });

  refresh();
  setInterval(refresh, REFRESH_MS);
})();
