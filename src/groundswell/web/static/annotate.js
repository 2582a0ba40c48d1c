// Keyboard-first labeling. One key labels, submits and shows the next tweet at once: the next task is
// always prefetched, the submit goes out in the background (retried with the same idempotency key), and the
// tweet text is only ever set through textContent, never parsed as HTML.
(function () {
  "use strict";
  const app = document.getElementById("app");
  const job = app.dataset.job;
  const labels = JSON.parse(app.dataset.labels);
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const el = (id) => document.getElementById(id);
  const base = "/api/v1";

  let current = null;          // the task on screen
  let queue = [];              // prefetched tasks
  const sending = new Set();   // leases answered or skipped whose request has not completed yet
  let shownAt = 0;             // when the current tweet appeared (for time spent)
  let done = false;
  let refilling = null;
  let submitted = 0;
  const answerTimes = [];      // submit timestamps of this session, for the pace readout
  let pending = Promise.resolve();

  async function call(method, path, body) {
    const response = await fetch(base + path, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 204) return null;
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(data.error || response.statusText);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function say(text) {
    const box = el("message");
    box.textContent = text || "";
    box.hidden = !text;
  }

  // Split a tweet into plain text, @mentions, #hashtags and links; every piece goes in via textContent.
  function renderTweet(node, text) {
    node.replaceChildren();
    const pattern = /(https?:\/\/[^\s]+|@\w+|#[\w\u00C0-\uFFFF]+)/gu;
    let last = 0;
    for (const match of text.matchAll(pattern)) {
      if (match.index > last) node.append(document.createTextNode(text.slice(last, match.index)));
      const span = document.createElement("span");
      const token = match[0];
      span.className = token[0] === "@" ? "mention" : token[0] === "#" ? "hashtag" : "link";
      span.textContent = token;
      node.append(span);
      last = match.index + token.length;
    }
    if (last < text.length) node.append(document.createTextNode(text.slice(last)));
  }

  function show() {
    document.querySelectorAll(".choice").forEach((b) => b.classList.remove("was"));
    if (!current) {
      el("task").hidden = true;
      el("choices").hidden = true;
      if (done) el("done").hidden = false;
      return;
    }
    el("done").hidden = true;
    el("task").hidden = false;
    el("choices").hidden = false;
    renderTweet(el("tweet"), current.item.text);
    const previous = el("previous");
    if (current.previous_label) {
      previous.textContent = "Your previous answer: " + current.previous_label + " — choose again.";
      previous.hidden = false;
      const index = labels.indexOf(current.previous_label);
      if (index >= 0) document.querySelectorAll(".choice")[index].classList.add("was");
    } else {
      previous.hidden = true;
    }
    shownAt = performance.now();
  }

  function held() {
    return [...[current, ...queue].filter(Boolean).map((t) => t.lease_id), ...sending];
  }

  // Keep one task prefetched behind the current one. (The promise is cleared in a .finally callback, which
  // always runs after the assignment below, even when there is nothing to fetch.)
  function refill() {
    if (refilling) return refilling;
    if (done) return Promise.resolve();
    refilling = fetchMore().finally(() => { refilling = null; });
    return refilling;
  }

  async function fetchMore() {
    try {
      while (!done && queue.length + (current ? 1 : 0) < 2) {
        const data = await call("POST", `/jobs/${encodeURIComponent(job)}/tasks/next`, { exclude: held() });
        if (!data.task) {
          // "finish the tasks you hold" only means answers are still on their way: the next refill retries.
          if (!current && !queue.length && !sending.size) {
            done = true;
            el("done-reason").textContent = doneText(data.reason);
          }
          break;
        }
        if (held().includes(data.task.lease_id)) break;
        if (!current) { current = data.task; show(); } else { queue.push(data.task); }
      }
    } catch (error) {
      say("Could not load the next tweet: " + error.message);
    } finally {
      if (!current) show();
    }
  }

  function doneText(reason) {
    if (!reason || reason.startsWith("no work left")) return "There are no tweets left for you in this job. Thank you!";
    return "Nothing to label right now: " + reason + ".";
  }

  async function submitWithRetry(task, label, spent) {
    const key = (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2)) + "-" + task.lease_id;
    for (let attempt = 0; attempt < 4; attempt++) {
      try {
        // Ask for the next task in the same round trip when the prefetch queue needs one.
        const wanted = queue.length + (current ? 1 : 0) < 2 ? { exclude: held() } : undefined;
        return await call("POST", `/tasks/${task.lease_id}/submit`, { label, idempotency_key: key, time_spent_s: spent, next: wanted });
      } catch (error) {
        if (error.status && error.status < 500) throw error;   // a real refusal: do not retry
        await new Promise((r) => setTimeout(r, 300 * 2 ** attempt));
      }
    }
    throw new Error("the server did not answer; your last answer may not be saved");
  }

  function choose(index) {
    if (!current || index >= labels.length) return;
    const task = current;
    const label = labels[index];
    const spent = Math.round((performance.now() - shownAt)) / 1000;
    const button = document.querySelectorAll(".choice")[index];
    button.classList.add("flash");
    setTimeout(() => button.classList.remove("flash"), 120);
    current = queue.shift() || null;
    sending.add(task.lease_id);
    show();
    say("");
    pending = pending.then(async () => {
      try {
        const result = await submitWithRetry(task, label, spent);
        const following = result.next && result.next.task;
        if (following && !held().includes(following.lease_id)) {
          if (!current) { current = following; show(); } else { queue.push(following); }
        }
        submitted += 1;
        answerTimes.push(Date.now());
        updateCounter();
      } catch (error) {
        say("Not saved: " + error.message);
      } finally {
        sending.delete(task.lease_id);
      }
      await refill();  // only fetches when the answer's response did not already bring the next tweet
    });
  }

  function skip() {
    if (!current) return;
    const task = current;
    current = queue.shift() || null;
    sending.add(task.lease_id);
    show();
    pending = pending.then(async () => {
      try { await call("POST", `/tasks/${task.lease_id}/decline`); } catch (error) { say("Skip failed: " + error.message); }
      finally { sending.delete(task.lease_id); }
      await refill();
    });
    refill();
  }

  function undo() {
    pending = pending.then(async () => {
      try {
        const task = await call("POST", `/jobs/${encodeURIComponent(job)}/undo`);
        if (current) queue.unshift(current);
        current = task;
        done = false;
        submitted = Math.max(0, submitted - 1);
        answerTimes.pop();
        updateCounter();
        say("");
        show();
      } catch (error) {
        say(error.message);
      }
    });
  }

  function updateCounter() {
    el("counter").textContent = `${submitted} labeled this session`;
    const recent = answerTimes.slice(-20);
    if (recent.length >= 2) {
      const seconds = (recent[recent.length - 1] - recent[0]) / 1000 / (recent.length - 1);
      el("pace").textContent = `your pace: ${(3600 / seconds).toFixed(0)} tweets/hour · ${seconds.toFixed(1)} s per tweet`;
    }
  }

  async function loadStats() {
    try {
      const stats = await call("GET", `/jobs/${encodeURIComponent(job)}/stats/me`);
      if (stats && stats.median_seconds != null) {
        el("pace").textContent = `${stats.judgments} answers in this job · median ${stats.median_seconds.toFixed(1)} s per tweet`;
      }
    } catch (error) { /* the pace readout is optional */ }
  }

  function toggleHelp(force) {
    const overlay = el("instructions");
    overlay.hidden = force === undefined ? !overlay.hidden : !force;
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (!el("instructions").hidden) {
      if (event.key === "?" || event.key === "Escape") { toggleHelp(false); event.preventDefault(); }
      return;
    }
    if (event.repeat) return;
    if (/^[1-9]$/.test(event.key)) { choose(Number(event.key) - 1); event.preventDefault(); }
    else if (event.key === "u") { undo(); event.preventDefault(); }
    else if (event.key === "s") { skip(); event.preventDefault(); }
    else if (event.key === "?") { toggleHelp(true); event.preventDefault(); }
  });
  document.querySelectorAll(".choice").forEach((button) =>
    button.addEventListener("click", () => choose(Number(button.dataset.index))));
  el("undo").addEventListener("click", undo);
  el("skip").addEventListener("click", skip);
  el("help").addEventListener("click", () => toggleHelp());
  el("instructions").addEventListener("click", (event) => { if (event.target === el("instructions")) toggleHelp(false); });

  loadStats();
  refill();
})();
