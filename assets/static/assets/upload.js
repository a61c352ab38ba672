// The library's upload area: Uppy's Dashboard (drag and drop many files, a progress bar per file) sending each file
// with tus to the organization's resumable upload endpoint (assets/uploads.py), so a large video resumes where it
// stopped. When a batch is done, the assets it became are listed with a form to tag them all at once
// (GET data-uploaded-url?upload=<tus id>…, assets/views.py `uploaded`).
// On an asset's page (data-asset) the same area uploads one file as its new version (with the note typed in
// data-note-field), then reloads the page.
(function () {
  "use strict";
  const element = document.getElementById("asset-uploader");
  if (!element || !window.Uppy) return;
  const { Uppy, Dashboard, Tus } = window.Uppy;
  const csrf = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
  const collection = document.getElementById("upload-collection");
  const japanese = (element.dataset.locale || "").startsWith("ja") && window.Uppy.locales && window.Uppy.locales.ja_JP;

  const uppy = new Uppy({
    autoProceed: false,
    locale: japanese || undefined,
    restrictions: {
      maxFileSize: Number(element.dataset.maxFileSize) || null,
      maxNumberOfFiles: Number(element.dataset.maxFiles) || 100,
    },
  });
  uppy.use(Dashboard, {
    inline: true,
    target: element,
    width: "100%",
    height: 340,
    note: element.dataset.note || "",
    proudlyDisplayPoweredByUppy: false,
    showProgressDetails: true,
    hideRetryButton: false,
    doneButtonHandler: null,
    // Previews would be blob: URLs, which the Content-Security-Policy (img-src 'self' data:) refuses; the list shows
    // each file's type icon instead, and the server makes the thumbnails.
    disableThumbnailGenerator: true,
  });
  uppy.use(Tus, {
    endpoint: element.dataset.endpoint,
    headers: { "X-CSRFToken": csrf },
    chunkSize: 5 * 1024 * 1024,
    retryDelays: [0, 1000, 3000, 5000],
    removeFingerprintOnSuccess: true,
    // Only what the server reads: the name and type it is told, and where the asset goes.
    allowedMetaFields: ["name", "type", "filename", "filetype", "collection", "asset", "note"],
  });

  // Every file carries the collection chosen above the drop area at the moment it is added.
  uppy.on("file-added", (file) => {
    const value = collection ? collection.value : "";
    // Every allowed field is sent, so each gets a value ("" is sent as no value; a missing one would be "undefined").
    uppy.setFileMeta(file.id, {
      collection: value,
      filename: file.name,
      filetype: file.type || "",
      asset: element.dataset.asset || "",
      note: "",
    });
  });
  // The version's note goes with the file: as typed when the file is added, and kept up to date until it is sent.
  const note = element.dataset.noteField ? document.querySelector(element.dataset.noteField) : null;
  if (note) {
    uppy.on("file-added", (file) => uppy.setFileMeta(file.id, { note: note.value }));
    note.addEventListener("input", () => {
      uppy.getFiles().forEach((file) => uppy.setFileMeta(file.id, { note: note.value }));
    });
  }
  if (collection) {
    collection.addEventListener("change", () => {
      uppy.getFiles().forEach((file) => {
        if (!file.progress || !file.progress.uploadStarted) uppy.setFileMeta(file.id, { collection: collection.value });
      });
    });
  }

  function uploadId(url) {
    const match = /([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/?$/i.exec(url || "");
    return match ? match[1] : null;
  }

  uppy.on("complete", (result) => {
    if (element.dataset.asset) {
      if ((result.successful || []).length) window.location.reload();
      return;
    }
    const ids = (result.successful || []).map((file) => uploadId(file.uploadURL || (file.tus && file.tus.uploadUrl)));
    const params = new URLSearchParams();
    ids.filter(Boolean).forEach((id) => params.append("upload", id));
    if (!params.toString()) return;
    const url = `${element.dataset.uploadedUrl}?${params}`;
    if (window.htmx) {
      window.htmx.ajax("GET", url, { target: "#uploaded-assets", swap: "innerHTML" });
    }
  });

  window.tsunaguUppy = uppy; // for the browser test and the console
})();
