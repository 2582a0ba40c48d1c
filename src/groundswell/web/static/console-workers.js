// People: invite annotators (a one-time sign-in link, shown once), see who may sign in, deactivate, and teams.
(function () {
  "use strict";
  const { api, el, when, showError } = window.GS;
  const form = document.getElementById("invite-form");

  async function load() {
    const box = document.getElementById("workers-error");
    showError(box, null);
    try {
      const [workers, teams] = await Promise.all([api("GET", "workers"), api("GET", "teams")]);
      document.querySelector("#workers-table tbody").replaceChildren(...workers.map((w) =>
        el("tr", { "data-worker": w.id },
          el("td", {}, w.name), el("td", {}, w.email || "—"), el("td", {}, w.kind), el("td", {}, w.teams.join(", ") || "—"),
          el("td", {}, w.is_active ? "yes" : "no"), el("td", {}, when(w.created_at)),
          el("td", {}, w.is_active && w.kind !== "admin"
            ? el("button", { type: "button", class: "small danger", onclick: () => deactivate(w) }, "Deactivate") : ""))));
      document.querySelector("#teams-table tbody").replaceChildren(...teams.map((t) =>
        el("tr", {}, el("td", {}, t.name), el("td", {}, t.members), el("td", {}, when(t.created_at)))));
      document.getElementById("team-names").replaceChildren(...teams.map((t) => el("option", { value: t.name })));
    } catch (error) {
      showError(box, error);
    }
  }

  async function deactivate(worker) {
    if (!window.confirm(`Deactivate ${worker.name}? They can no longer sign in or answer.`)) return;
    try {
      await api("POST", `workers/${worker.id}/deactivate`);
      await load();
    } catch (error) {
      showError(document.getElementById("workers-error"), error);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = document.getElementById("invite-error");
    showError(box, null);
    const body = { email: form.elements.email.value.trim() };
    for (const key of ["name", "team"]) if (form.elements[key].value.trim()) body[key] = form.elements[key].value.trim();
    try {
      const invite = await api("POST", "workers/invites", body);
      document.getElementById("invite-email").textContent = invite.email;
      document.getElementById("invite-url").value = invite.invite_url;
      document.getElementById("invite-result").hidden = false;
      form.reset();
      await load();
    } catch (error) {
      showError(box, error);
    }
  });

  document.getElementById("copy-invite").addEventListener("click", () => {
    const input = document.getElementById("invite-url");
    input.select();
    if (navigator.clipboard) navigator.clipboard.writeText(input.value).catch(() => document.execCommand("copy"));
    else document.execCommand("copy");
  });
  load();
})();
