// Small behaviours shared by every page. No inline scripts: the Content-Security-Policy forbids them.
document.addEventListener("DOMContentLoaded", () => {
  // Destructive actions ask first, in an accessible dialog: <form data-confirm="question" data-confirm-action="label">
  // (htmx's hx-confirm too). Confirming sends `confirmed=yes`; without JavaScript the server asks on a page of its own
  // (core.views.unconfirmed), so nothing is destroyed by one click either way.
  const template = document.getElementById("confirm-dialog-template");
  function ask(question, action) {
    return new Promise((resolve) => {
      const dialog = template.content.firstElementChild.cloneNode(true);
      dialog.querySelector("[data-question]").textContent = question;
      if (action) dialog.querySelector("button[value=confirm]").textContent = action;
      dialog.addEventListener("close", () => { resolve(dialog.returnValue === "confirm"); dialog.remove(); });
      document.body.appendChild(dialog);
      dialog.showModal();
      dialog.querySelector("button[value=cancel]").focus(); // the safe choice has the focus
    });
  }
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form.matches("form[data-confirm]") || form.dataset.confirmed === "yes" || !template) return;
    event.preventDefault();
    const submitter = event.submitter;
    ask(form.dataset.confirm, form.dataset.confirmAction).then((ok) => {
      if (!ok) return;
      const field = document.createElement("input");
      Object.assign(field, { type: "hidden", name: "confirmed", value: "yes" });
      form.appendChild(field);
      form.dataset.confirmed = "yes";
      form.requestSubmit(submitter && submitter.form === form ? submitter : undefined);
    });
  }, true);
  document.body.addEventListener("htmx:confirm", (event) => {
    if (!event.detail.question || !template) return;
    event.preventDefault();
    ask(event.detail.question).then((ok) => { if (ok) event.detail.issueRequest(true); });
  });
  // Menus in the top bar (<details class="menu">): one open at a time; Escape or a click elsewhere closes them, and
  // Escape gives the focus back to the menu's button. Opening and moving through them is the browser's own keyboard
  // handling of <summary>, links and buttons.
  const menus = Array.from(document.querySelectorAll("details.menu"));
  menus.forEach((menu) => {
    menu.addEventListener("toggle", () => {
      if (menu.open) menus.forEach((other) => { if (other !== menu) other.open = false; });
    });
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || document.querySelector("dialog[open]")) return;
    const open = menus.find((menu) => menu.open);
    if (!open) return;
    event.preventDefault();
    event.stopPropagation(); // the workspace's Escape (leave a text field) waits for the next press
    open.open = false;
    open.querySelector("summary").focus();
  }, true);
  document.addEventListener("click", (event) => {
    menus.forEach((menu) => { if (menu.open && !menu.contains(event.target)) menu.open = false; });
  });

  // Notifications: the list is loaded when the menu opens; opening it marks them read and clears the counts.
  const notifications = document.getElementById("notifications-menu");
  if (notifications) {
    notifications.addEventListener("toggle", () => {
      if (!notifications.open) return;
      const list = document.getElementById("notifications-list");
      fetch(notifications.dataset.url, { credentials: "same-origin" })
        .then((response) => (response.ok ? response.text() : Promise.reject(response.status)))
        .then((html) => {
          list.innerHTML = html; // rendered and escaped by Django (inbox/_notifications.html)
          notifications.dataset.loaded = "true";
          return fetch(notifications.dataset.readUrl, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() } });
        })
        .then(() => document.querySelectorAll("[data-unread-count]").forEach((badge) => { badge.textContent = ""; }))
        .catch(() => {});
    });
  }

  // Images in a conversation open in place, in a dialog (Escape, the close button or a click beside it closes it);
  // without JavaScript the link opens the image itself.
  const viewerTemplate = document.getElementById("image-viewer-template");
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-lightbox]");
    if (!link || !viewerTemplate || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    const dialog = viewerTemplate.content.firstElementChild.cloneNode(true);
    const image = dialog.querySelector("[data-image]");
    image.src = link.href;
    image.alt = link.dataset.caption || "";
    dialog.querySelector("[data-caption]").textContent = link.dataset.caption || "";
    dialog.querySelector("[data-original]").href = link.href;
    dialog.addEventListener("close", () => { dialog.remove(); link.focus(); });
    dialog.addEventListener("click", (e) => { if (e.target === dialog) dialog.close(); }); // the backdrop
    document.body.appendChild(dialog);
    dialog.showModal();
  });

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; } catch (e) { return ""; }
  }

  // Copy buttons: <button data-copy="#selector">
  document.querySelectorAll("button[data-copy]").forEach((button) => {
    button.addEventListener("click", () => {
      const target = document.querySelector(button.dataset.copy);
      if (target && navigator.clipboard) navigator.clipboard.writeText(target.textContent.trim());
    });
  });
});
