// What every console page shares: calls to the JSON API with the admin's session (cookie + CSRF header), errors
// shown as the API words them, and a small element builder. Text from the server is only ever set through
// textContent or attribute values, never parsed as HTML (the Markdown preview, rendered and sanitised by the
// server, is the one exception and says so).
(function () {
  "use strict";
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  class ApiError extends Error {
    constructor(message, status, errors) {
      super(message);
      this.status = status;
      this.errors = errors || [message];
    }
  }

  async function api(method, path, body) {
    const response = await fetch(path.startsWith("/") ? path : "/api/v1/" + path, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 204) return null;
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new ApiError(data.error || response.statusText, response.status, data.errors);
    return data;
  }

  // el("td", {class: "x", title: "…"}, "text", child, …): attributes set as attributes, children as text nodes.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function fixed(value, digits) {
    return value === null || value === undefined ? "—" : Number(value).toFixed(digits === undefined ? 3 : digits);
  }

  function when(iso) {
    return iso ? iso.replace("T", " ").slice(0, 19) : "—";
  }

  // Show an API error (every problem it lists) in a box, or clear the box.
  function showError(box, error) {
    box.replaceChildren();
    if (!error) { box.hidden = true; return; }
    const problems = error.errors && error.errors.length ? error.errors : [error.message];
    for (const problem of problems) box.append(el("li", {}, problem));
    box.hidden = false;
  }

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
  }

  window.GS = { api, el, fixed, when, showError, debounce, csrf, ApiError };
})();
