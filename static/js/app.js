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
  // Copy buttons: <button data-copy="#selector">
  document.querySelectorAll("button[data-copy]").forEach((button) => {
    button.addEventListener("click", () => {
      const target = document.querySelector(button.dataset.copy);
      if (target && navigator.clipboard) navigator.clipboard.writeText(target.textContent.trim());
    });
  });
});
