// The asset picker (assets/templates/assets/_picker.html): a <dialog> whose search and results are loaded by htmx
// from the library (only what the member may use now is selectable).
//
// Picking dispatches, on the button that opened the picker (so it bubbles to its form):
//   new CustomEvent("asset-picked", { bubbles: true, detail: {
//     versionId, assetId, kind ("file" | "snippet" | "template"), title, thumbnailUrl ("" when none),
//     text (snippets and templates; "" for files), filename, mimeType } })
// A form with data-asset-field="asset_versions" gets the default handling below; any other listener (the post
// composer) may handle the event itself and call event.preventDefault() to skip it.
(function () {
  "use strict";

  function dialogFor(opener) {
    const id = opener.dataset.assetPickerOpen;
    let dialog = document.getElementById(id);
    if (dialog) return dialog;
    const template = document.getElementById(`${id}-template`);
    if (!template) return null;
    dialog = template.content.firstElementChild.cloneNode(true);
    document.body.appendChild(dialog);
    if (window.htmx) window.htmx.process(dialog);
    dialog.addEventListener("click", (event) => {
      const pick = event.target.closest("[data-asset-pick]");
      if (pick && !pick.disabled) {
        picked(dialog.opener, pick);
        dialog.close();
        return;
      }
      if (event.target === dialog) dialog.close(); // a click on the backdrop
    });
    dialog.addEventListener("htmx:afterSwap", () => fillKinds(dialog));
    return dialog;
  }

  function fillKinds(dialog) {
    // The kinds the opener accepts come with the first results; the type filter offers those.
    const select = dialog.querySelector("select[name=kind]");
    const kinds = dialog.querySelector("[data-picker-kinds]");
    if (!select || !kinds || select.options.length > 1) return;
    kinds.querySelectorAll("span").forEach((span) => select.add(new Option(span.textContent, span.dataset.value)));
  }

  function picked(opener, button) {
    const detail = {
      versionId: Number(button.dataset.versionId),
      assetId: Number(button.dataset.assetId),
      kind: button.dataset.kind,
      title: button.dataset.title || "",
      thumbnailUrl: button.dataset.thumbnailUrl || "",
      text: button.dataset.text || "",
      filename: button.dataset.filename || "",
      mimeType: button.dataset.mimeType || "",
    };
    opener.dispatchEvent(new CustomEvent("asset-picked", { bubbles: true, cancelable: true, detail }));
  }

  document.addEventListener("click", (event) => {
    const opener = event.target.closest("[data-asset-picker-open]");
    if (!opener) return;
    const dialog = dialogFor(opener);
    if (!dialog) return;
    dialog.opener = opener;
    dialog.showModal();
    const search = dialog.querySelector("form.asset-picker-search");
    if (search && window.htmx) window.htmx.trigger(search, "submit");
    const input = dialog.querySelector("input[type=search]");
    if (input) input.focus();
  });

  // --- default handling: a form with data-asset-field ------------------------------------------------------------
  function fieldName(form) { return form && form.dataset.assetField; }

  function insertText(field, text) {
    const start = field.selectionStart ?? field.value.length;
    const end = field.selectionEnd ?? field.value.length;
    const before = field.value.slice(0, start);
    const glue = before && !before.endsWith("\n") && !before.endsWith(" ") ? "\n" : "";
    field.value = before + glue + text + field.value.slice(end);
    const caret = (before + glue + text).length;
    field.setSelectionRange(caret, caret);
    field.dispatchEvent(new Event("input", { bubbles: true }));
    field.focus();
  }

  function addChip(form, detail) {
    const name = fieldName(form);
    if (form.querySelector(`input[type=hidden][name="${name}"][value="${detail.versionId}"]`)) return;
    const hidden = document.createElement("input");
    Object.assign(hidden, { type: "hidden", name, value: String(detail.versionId) });
    hidden.dataset.assetKind = detail.kind;
    form.appendChild(hidden);
    if (detail.kind !== "file") return; // a text is in the message itself; its id only records the use
    const list = form.querySelector("[data-asset-chips]");
    const template = form.querySelector("template[data-asset-chip-template]");
    if (!list || !template) return;
    const chip = template.content.firstElementChild.cloneNode(true);
    chip.dataset.versionId = String(detail.versionId);
    if (detail.thumbnailUrl) {
      const image = document.createElement("img");
      Object.assign(image, { src: detail.thumbnailUrl, alt: "", className: "asset-chip-thumb" });
      chip.prepend(image);
    }
    chip.querySelector("[data-chip-label]").textContent = detail.title;
    const remove = chip.querySelector("[data-asset-chip-remove]");
    const label = (list.dataset.removeFormat || "Remove %s").replace("%s", detail.title);
    remove.setAttribute("aria-label", label);
    remove.title = label;
    list.appendChild(chip);
  }

  document.addEventListener("asset-picked", (event) => {
    const form = event.target.closest("form");
    if (event.defaultPrevented || !fieldName(form)) return;
    if (event.detail.kind !== "file") {
      const field = form.querySelector("[data-asset-text-target]");
      if (field) insertText(field, event.detail.text);
    }
    addChip(form, event.detail);
  });

  document.addEventListener("click", (event) => {
    const remove = event.target.closest("[data-asset-chip-remove]");
    if (!remove) return;
    const chip = remove.closest("li");
    const form = remove.closest("form");
    if (form && fieldName(form)) {
      form.querySelectorAll(`input[type=hidden][name="${fieldName(form)}"][value="${chip.dataset.versionId}"]`)
        .forEach((input) => input.remove());
    }
    chip.remove();
  });

  // After the form was sent, what was picked is gone with the draft.
  document.body.addEventListener("htmx:afterRequest", (event) => {
    const form = event.detail.elt;
    if (!event.detail.successful || !form || !form.matches || !form.matches("form[data-asset-field]")) return;
    form.querySelectorAll(`input[type=hidden][name="${fieldName(form)}"]`).forEach((input) => input.remove());
    form.querySelectorAll("[data-asset-chips] li").forEach((chip) => chip.remove());
  });
})();
