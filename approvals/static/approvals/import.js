// The CSV import's progress bar: polls the import's state and reloads the page when the step is over.
(function () {
  "use strict";
  const box = document.querySelector(".import-progress[data-poll-url]");
  if (!box) return;
  const bar = box.querySelector("progress");
  const text = box.querySelector("[data-progress-text]");
  function poll() {
    fetch(box.dataset.pollUrl, { headers: { "X-Requested-With": "fetch" } })
      .then((response) => response.json())
      .then((state) => {
        if (state.total) bar.max = state.total;
        bar.value = state.done;
        text.textContent = `${state.done} / ${state.total}`;
        if (state.phase !== box.dataset.phase) window.location.reload();
        else setTimeout(poll, 1000);
      })
      .catch(() => setTimeout(poll, 3000));
  }
  setTimeout(poll, 500);
})();
