// WhatsApp message templates in the reply box (inbox/_reply_templates.html): choosing a template shows an input per
// placeholder and a live preview of the message; free text and files are set aside while a template is chosen (the
// server sends either one or the other). Delegated listeners: the conversation pane is swapped in by htmx.
(function () {
  "use strict";

  function sync(form) {
    const select = form.querySelector("#reply-template");
    if (!select) return;
    const chosen = select.value;
    form.querySelectorAll(".template-fields").forEach((fields) => {
      const on = fields.dataset.template === chosen;
      fields.hidden = !on;
      fields.querySelectorAll("input").forEach((input) => {
        input.disabled = !on;
        input.required = on;
      });
    });
    const box = form.querySelector("#reply-templates");
    const freeTextOff = Boolean(chosen) || (box && box.dataset.templatesOnly === "1");
    const text = form.querySelector("#reply-text");
    if (text) {
      text.disabled = freeTextOff;
      text.hidden = freeTextOff;
      const label = form.querySelector("label[for=reply-text]");
      if (label) label.hidden = freeTextOff;
    }
    form.querySelectorAll("input[type=file][name=files]").forEach((input) => {
      input.disabled = Boolean(chosen);
    });
    preview(form);
  }

  function preview(form) {
    const select = form.querySelector("#reply-template");
    const out = form.querySelector("#reply-template-preview");
    if (!select || !out) return;
    const fields = Array.from(form.querySelectorAll(".template-fields")).find((f) => f.dataset.template === select.value);
    if (!fields) {
      out.textContent = out.dataset.empty || "";
      return;
    }
    const values = {};
    fields.querySelectorAll("input[data-number]").forEach((input) => {
      values[input.dataset.number] = input.value;
    });
    // The placeholders stay visible ({{2}}) until their value is typed.
    out.textContent = (fields.dataset.body || "").replace(/\{\{\s*(\d+)\s*\}\}/g, (whole, n) => values[n] || whole);
  }

  document.addEventListener("change", (event) => {
    if (event.target.matches && event.target.matches("#reply-template")) sync(event.target.form);
  });
  document.addEventListener("input", (event) => {
    if (event.target.matches && event.target.matches("#reply-templates input[data-number]")) preview(event.target.form);
  });
  // After a reply is sent the form is reset: the free-text box comes back unless only templates may be sent.
  document.addEventListener("reset", (event) => {
    if (event.target.matches && event.target.matches("#reply-form")) setTimeout(() => sync(event.target), 0);
  });
  function init() {
    const form = document.getElementById("reply-form");
    if (form) sync(form);
  }
  document.addEventListener("DOMContentLoaded", init); // a deferred script runs before it
  document.addEventListener("htmx:afterSwap", init);
})();
