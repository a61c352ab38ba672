// Contacts list: the header checkbox ticks or unticks every contact on the page (for bulk tagging).
document.addEventListener("change", (event) => {
  const all = event.target.closest("[data-check-all]");
  if (!all) return;
  const form = all.closest("form");
  form.querySelectorAll('input[type=checkbox][name=contact]').forEach((box) => { box.checked = all.checked; });
});
