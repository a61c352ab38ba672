// The post composer (approvals/templates/approvals/post_compose.html): shows a channel's variant box when it is
// chosen and asks the server, as the member types, which platform rules the post breaks on each chosen channel
// (the server counts length as each platform does, e.g. X's weighted count).
(function () {
  "use strict";
  const form = document.getElementById("composer");
  if (!form) return;
  const checkUrl = form.dataset.checkUrl;
  let timer = null;
  let inflight = null;

  function chosen() {
    return Array.from(form.querySelectorAll("input[name=connections]:checked")).map((box) => box.value);
  }

  function toggleVariants() {
    const ids = new Set(chosen());
    form.querySelectorAll("[data-variant-for]").forEach((box) => { box.hidden = !ids.has(box.dataset.variantFor); });
  }

  function count() {
    const text = form.querySelector("#post-text");
    const out = document.getElementById("post-text-count");
    if (text && out) out.textContent = `${Array.from(text.value).length}`;
  }

  function show(targets) {
    form.querySelectorAll("[data-problems-for]").forEach((list) => {
      list.replaceChildren();
      (targets[list.dataset.problemsFor] || []).forEach((problem) => {
        const item = document.createElement("li");
        item.className = "field-error";
        item.textContent = problem;
        list.appendChild(item);
      });
      const card = list.closest("[data-variant-for]");
      if (card) card.classList.toggle("has-error", list.children.length > 0);
    });
  }

  function check() {
    if (inflight) inflight.abort();
    inflight = new AbortController();
    const data = new FormData(form);
    data.delete("action");
    fetch(checkUrl, { method: "POST", body: data, signal: inflight.signal, headers: { "X-Requested-With": "fetch" } })
      .then((response) => response.json())
      .then((body) => { if (body.targets) show(body.targets); })
      .catch(() => {});
  }

  function later() {
    count();
    clearTimeout(timer);
    timer = setTimeout(check, 400);
  }

  form.addEventListener("input", later);
  form.addEventListener("change", (event) => {
    if (event.target.matches("input[name=connections]")) toggleVariants();
    if (event.target.id === "post-when-approved") {
      document.getElementById("post-when").disabled = event.target.checked;
    }
    later();
  });
  // The asset picker adds or removes hidden inputs: check again after it did.
  document.addEventListener("asset-picked", () => setTimeout(later, 0));
  form.addEventListener("click", (event) => { if (event.target.closest("[data-asset-chip-remove]")) setTimeout(later, 0); });

  // Media already on the post: chips like the picker makes.
  const list = form.querySelector("[data-asset-chips]");
  const template = form.querySelector("template[data-asset-chip-template]");
  form.querySelectorAll("input[name=asset_versions][data-initial-title]").forEach((input) => {
    if (!list || !template) return;
    const chip = template.content.firstElementChild.cloneNode(true);
    chip.dataset.versionId = input.value;
    chip.querySelector("[data-chip-label]").textContent = input.dataset.initialTitle;
    list.appendChild(chip);
  });
  const whenApproved = document.getElementById("post-when-approved");
  if (whenApproved && whenApproved.checked) document.getElementById("post-when").disabled = true;
  toggleVariants();
  count();
  if (chosen().length) check();
})();
