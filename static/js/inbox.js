// The agent workspace: live updates over the WebSocket, presence, keyboard shortcuts, bulk actions.
// Server-rendered HTML only (htmx swaps); nothing from a message is ever inserted as HTML by this script.
(function () {
  "use strict";
  const root = document.getElementById("inbox");
  if (!root) return;
  const org = root.dataset.org;
  const myId = Number(root.dataset.userId);
  const storageKey = `tsunagu:last-event:${org}`;
  const seen = new Set();
  // The page is current up to the event cursor it was rendered with; older events are not replayed as news.
  const renderedUpTo = Number(root.dataset.eventCursor || 0);
  let lastId = Math.max(Number(sessionStorage.getItem(storageKey) || 0), renderedUpTo);
  let socket = null;
  let retry = 0;
  let viewing = null;
  let listTimer = null;
  let typingSentAt = 0;

  // --- WebSocket --------------------------------------------------------------------------------------------
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}${root.dataset.wsPath}`);
    socket.addEventListener("open", () => {
      retry = 0;
      root.dataset.connected = "true";
      send({ type: "resume", last_id: lastId });
      if (viewing) send({ type: "view", ticket_id: viewing });
    });
    socket.addEventListener("message", (event) => handle(JSON.parse(event.data)));
    socket.addEventListener("close", (event) => {
      root.dataset.connected = "false";
      if ([4401, 4403, 4404].includes(event.code)) return; // not allowed: do not hammer the server
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, 500 * 2 ** retry);
    });
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function handle(message) {
    if (message.type === "replay") {
      if (message.reload) { location.reload(); return; }
      message.events.forEach(apply);
    } else if (message.type === "presence") {
      renderPresence(message);
    } else if (message.id) {
      apply(message);
    }
  }

  function apply(event) {
    if (seen.has(event.id)) return; // replays overlap a little: each event is shown once
    seen.add(event.id);
    if (event.id > lastId) {
      lastId = event.id;
      sessionStorage.setItem(storageKey, String(lastId));
    }
    const p = event.payload || {};
    switch (event.type) {
      case "ticket.created":
      case "ticket.updated":
        refreshList();
        if (p.ticket_id === viewing) refreshProperties();
        break;
      case "message.created":
        refreshList();
        if (p.ticket_id === viewing) appendMessages();
        break;
      case "message.updated":
        if (p.ticket_id === viewing) refreshMessage(p.message_id);
        break;
      case "notification.created":
        // Replays look back a little past the page's cursor; those notifications are already in the unread count.
        if (event.id <= renderedUpTo) break;
        bumpBell();
        toast(notificationText(p));
        break;
      case "access.changed":
        refreshList();
        break;
    }
  }

  // --- panes ------------------------------------------------------------------------------------------------
  function currentQuery() {
    const form = document.getElementById("filters");
    return new URLSearchParams(new FormData(form)).toString();
  }

  let countsTimer = null;
  function refreshCounts() {
    if (countsTimer) return; // at most one refresh per burst of events
    countsTimer = setTimeout(() => {
      countsTimer = null;
      htmx.ajax("GET", `${root.dataset.viewsUrl}?${currentQuery()}`, { target: "#views", swap: "innerHTML" });
    }, 1500);
  }

  function refreshList() {
    refreshCounts();
    clearTimeout(listTimer);
    listTimer = setTimeout(() => {
      // As many rows as scrolling has loaded, where the list was scrolled to: a live update must not take the agent
      // back to the top.
      const pane = document.getElementById("ticket-list");
      const scrolled = pane ? pane.scrollTop : 0;
      const size = Math.max(rows().length, 1);
      htmx.ajax("GET", `${root.dataset.listUrl}?${currentQuery()}&size=${size}`, { target: "#ticket-list", swap: "innerHTML" }).then(() => {
        if (pane) pane.scrollTop = scrolled;
      });
    }, 250);
  }

  function conversationEl() { return document.querySelector("#conversation .conversation"); }

  function refreshProperties() {
    const conv = conversationEl();
    if (!conv) return;
    const active = document.activeElement;
    if (active && active.closest && active.closest("#properties")) return; // do not yank a field being edited
    htmx.ajax("GET", conv.dataset.propertiesUrl, { target: "#properties", swap: "innerHTML" });
  }

  function appendMessages() {
    const conv = conversationEl();
    const list = document.getElementById("messages");
    if (!conv || !list) return;
    const after = list.dataset.lastMessageId || "0";
    fetch(`${conv.dataset.messagesUrl}?after=${encodeURIComponent(after)}`, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : ""))
      .then((html) => {
        if (!html.trim()) return;
        const template = document.createElement("template");
        template.innerHTML = html; // server-rendered and escaped by Django
        template.content.querySelectorAll("li.message, li.day-separator").forEach((li) => {
          if (li.classList.contains("day-separator")) {
            if (!list.querySelector(`.day-separator[data-day="${li.dataset.day}"]`)) list.appendChild(li);
            return;
          }
          if (!document.getElementById(li.id)) list.appendChild(li);
          if (pendingUpdates.delete(Number(li.dataset.messageId))) refreshMessage(Number(li.dataset.messageId));
          list.dataset.lastMessageId = String(Math.max(Number(list.dataset.lastMessageId || 0), Number(li.dataset.messageId)));
        });
        oneSeparatorPerDay(list);
        list.lastElementChild && list.lastElementChild.scrollIntoView({ block: "end" });
      });
  }

  // Bubbles rendered on their own (a note or reply just sent, live arrivals) bring their day's separator along; the
  // conversation keeps the first one of each day.
  function oneSeparatorPerDay(list) {
    const days = new Set();
    list.querySelectorAll("li.day-separator").forEach((separator) => {
      if (days.has(separator.dataset.day)) separator.remove();
      else days.add(separator.dataset.day);
    });
  }

  // Updates of bubbles not on the page yet (a reply's "sent" can overtake the form's answer): applied once they come.
  const pendingUpdates = new Set();
  // Refreshes of one bubble can answer out of order: only the last one asked (it saw every update) is shown.
  const refreshes = new Map();

  function refreshMessage(messageId) {
    const conv = conversationEl();
    if (!conv) return;
    if (!document.getElementById(`message-${messageId}`)) {
      pendingUpdates.add(messageId);
      return;
    }
    const asked = (refreshes.get(messageId) || 0) + 1;
    refreshes.set(messageId, asked);
    fetch(`${conv.dataset.messagesUrl}?after=${messageId - 1}`, { credentials: "same-origin" })
      .then((r) => r.text())
      .then((html) => {
        if (refreshes.get(messageId) !== asked) return;
        const template = document.createElement("template");
        template.innerHTML = html;
        const fresh = template.content.getElementById(`message-${messageId}`);
        const li = document.getElementById(`message-${messageId}`);
        if (fresh && li) li.replaceWith(fresh);
      });
  }

  function renderPresence(message) {
    if (message.ticket_id !== viewing) return;
    const box = document.getElementById("presence");
    if (!box) return;
    box.textContent = "";
    message.viewers.filter((v) => v.user_id !== myId).forEach((v) => {
      const span = document.createElement("span");
      span.className = v.typing ? "viewer typing" : "viewer";
      span.dataset.userId = String(v.user_id);
      const format = v.typing ? root.dataset.typingFormat : root.dataset.viewingFormat;
      span.textContent = format.replace("%s", v.name);
      box.appendChild(span);
    });
  }

  const formats = JSON.parse((document.getElementById("notification-formats") || {}).textContent || "{}");
  function notificationText(payload) {
    const params = payload.params || {};
    const format =
      (params.rule && formats[`${payload.kind}.rule`]) ||
      (params.automated && formats[`${payload.kind}.automated`]) ||
      formats[payload.kind] ||
      "";
    return format.replace(/%\((\w+)\)s/g, (_, key) => String((payload.params || {})[key] ?? ""));
  }

  function bumpBell() {
    // The top bar's count (base.html) and the views pane's (inbox/_counts.html).
    document.querySelectorAll("[data-unread-count]").forEach((badge) => {
      badge.textContent = String(Number(badge.textContent || 0) + 1);
    });
  }

  function toast(text) {
    const box = document.getElementById("toasts");
    if (!box || !text) return;
    const item = document.createElement("div");
    item.className = "toast";
    item.textContent = text;
    box.appendChild(item);
    setTimeout(() => item.remove(), 6000);
  }

  // Opening a ticket (htmx swap or deep link): tell the server whom we are viewing.
  function onConversationShown() {
    const conv = conversationEl();
    const id = conv ? Number(conv.dataset.ticketId) : null;
    if (viewing && viewing !== id) send({ type: "leave", ticket_id: viewing });
    viewing = id;
    if (id) {
      send({ type: "view", ticket_id: id });
      select(document.getElementById(`ticket-row-${id}`));
      // One column (a phone): the conversation sits below the list; bring it into view.
      const pane = document.getElementById("conversation");
      if (pane && pane.getBoundingClientRect().top >= window.innerHeight) pane.scrollIntoView({ block: "start" });
      const list = document.getElementById("messages");
      if (list && list.lastElementChild) list.lastElementChild.scrollIntoView({ block: "end" });
    }
  }

  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target.id === "conversation") onConversationShown();
    // Rows came in (a refresh, or more rows as the list scrolls): the open ticket's row stays marked.
    if (viewing && document.getElementById("tickets") && document.getElementById("tickets").contains(document.getElementById(`ticket-row-${viewing}`))) {
      markSelected(document.getElementById(`ticket-row-${viewing}`));
    }
    if (event.detail.target.id === "messages") {
      const list = document.getElementById("messages");
      oneSeparatorPerDay(list);
      const shown = new Set();
      list.querySelectorAll("li.message").forEach((li) => {
        const id = Number(li.dataset.messageId);
        // The live event may have brought this bubble before the form's own answer did: keep one, in its latest state.
        if (shown.has(li.id)) {
          li.remove();
          refreshMessage(id);
          return;
        }
        shown.add(li.id);
        if (pendingUpdates.delete(id)) refreshMessage(id);
        list.dataset.lastMessageId = String(Math.max(Number(list.dataset.lastMessageId || 0), id));
      });
      // Only the form that was sent is cleared; the other may hold a draft.
      const sent = event.detail.requestConfig && event.detail.requestConfig.elt;
      if (sent && sent.matches && sent.matches("#note-form, #reply-form")) {
        sent.reset();
        closeCanned();
        sent.querySelectorAll("input[name=mentions]").forEach((field) => field.remove());
        const error = sent.querySelector("[data-error]");
        if (error) error.textContent = "";
        renderFiles(sent);
        updateCounter();
      }
    }
  });

  // Collision guard: tell the server which message the composer was based on; on 409 ask, then resend.
  document.body.addEventListener("htmx:configRequest", (event) => {
    const form = event.detail.elt;
    if (!form.matches || !form.matches("#note-form, #reply-form")) return;
    const list = document.getElementById("messages");
    event.detail.parameters.based_on = list ? list.dataset.lastMessageId : "";
    if (form.dataset.confirmed === "1") {
      event.detail.parameters.confirm = "1";
      form.dataset.confirmed = "";
    }
  });
  document.body.addEventListener("htmx:responseError", (event) => {
    const form = event.detail.elt;
    if (!form.matches || !form.matches("#note-form, #reply-form")) return;
    const error = form.querySelector("[data-error]");
    if (event.detail.xhr.status !== 409) {
      // Platform rules and validation come back as a 400 with the reason: show it next to the composer.
      if (error) error.textContent = event.detail.xhr.responseText || event.detail.xhr.statusText;
      return;
    }
    appendMessages(); // show what arrived meanwhile
    if (window.confirm(event.detail.xhr.responseText)) {
      form.dataset.confirmed = "1";
      htmx.trigger(form, "submit");
    }
  });

  function updateCounter() {
    const text = document.getElementById("reply-text");
    const counter = document.getElementById("reply-counter");
    if (!text || !counter || !text.dataset.maxLength) return;
    if (text.dataset.lengthRule === "x-weighted") {
      // The rule is a public post's: a direct message (the box unticked) is counted plainly.
      const publicBox = text.form && text.form.querySelector("input[name=public]");
      if (publicBox && !publicBox.checked) {
        counter.textContent = `${text.value.length}`;
        return;
      }
      counter.textContent = `${xWeightedLength(text.value)} / ${text.dataset.maxLength}`;
      return;
    }
    counter.textContent = `${text.value.length} / ${text.dataset.maxLength}`;
  }
  document.addEventListener("input", (event) => {
    if (event.target.matches("#reply-text")) updateCounter();
  });
  document.addEventListener("change", (event) => {
    if (event.target.matches("#reply-form input[name=public]")) updateCounter();
  });

  // --- X's weighted length ------------------------------------------------------------------------------------
  // A post's length as X counts it (twitter-text config v3): a code point weighs 1 in the light ranges (Latin,
  // Greek, Cyrillic... up to U+10FF, general punctuation), 2 elsewhere (CJK, kana, Hangul); a URL 23; an emoji
  // sequence 2. Mirrors channels_integrations/providers/x/twittertext.py: change both together.
  const X_LIGHT = [[0, 4351], [8192, 8205], [8208, 8223], [8242, 8247]];
  const X_TLDS = "com|net|org|info|biz|io|co|jp|me|tv|app|dev|ly|gl|us|uk|de|fr|cn|kr|tw|edu|gov|ai|so|to";
  const X_URL = new RegExp(
    `(?:https?://|www\\.)[^\\s<>"]+|(?<![A-Za-z0-9_@.-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\\.)+(?:${X_TLDS})` +
      `(?![A-Za-z0-9_])(?:/[^\\s<>"]*)?`,
    "giu");
  const X_TRAILING = ".,:;!?)]}'\"、。！？」』）";
  function xPictographic(cp) {
    return (cp >= 0x1F000 && cp <= 0x1FAFF) || (cp >= 0x2600 && cp <= 0x27BF) || (cp >= 0x2300 && cp <= 0x23FF) ||
      (cp >= 0x2B00 && cp <= 0x2BFF) || (cp >= 0x2190 && cp <= 0x21FF) || (cp >= 0x25A0 && cp <= 0x25FF) ||
      [0xA9, 0xAE, 0x203C, 0x2049, 0x2122, 0x2139, 0x24C2, 0x3030, 0x303D, 0x3297, 0x3299].includes(cp);
  }
  function xModifier(cp) {
    return cp === 0xFE0F || (cp >= 0x1F3FB && cp <= 0x1F3FF) || (cp >= 0xE0020 && cp <= 0xE007F) || cp === 0x20E3;
  }
  function xRegional(cp) { return cp >= 0x1F1E6 && cp <= 0x1F1FF; }
  function xWeightedLength(value) {
    const text = value.normalize("NFC");
    const spans = [];
    for (const match of text.matchAll(X_URL)) {
      let end = match.index + match[0].length;
      while (end > match.index && X_TRAILING.includes(text[end - 1])) end -= 1;
      if (end > match.index) spans.push([match.index, end]);
    }
    const cps = []; // [code point, UTF-16 index]
    for (let i = 0; i < text.length;) {
      const cp = text.codePointAt(i);
      cps.push([cp, i]);
      i += cp > 0xFFFF ? 2 : 1;
    }
    let total = 0;
    for (let k = 0; k < cps.length;) {
      const [cp, at] = cps[k];
      if (spans.length && spans[0][0] === at) {
        total += 23;
        const end = spans.shift()[1];
        while (k < cps.length && cps[k][1] < end) k += 1;
        continue;
      }
      const next = k + 1 < cps.length ? cps[k + 1][0] : -1;
      const keycap = "#*0123456789".includes(String.fromCodePoint(cp)) &&
        (next === 0x20E3 || (next === 0xFE0F && k + 2 < cps.length && cps[k + 2][0] === 0x20E3));
      if (xRegional(cp)) {
        total += 2;
        k += xRegional(next) ? 2 : 1;
        continue;
      }
      if (xPictographic(cp) || keycap) {
        total += 2;
        k += 1;
        while (k < cps.length) {
          if (xModifier(cps[k][0])) k += 1;
          else if (cps[k][0] === 0x200D && k + 1 < cps.length && xPictographic(cps[k + 1][0])) k += 2;
          else break;
        }
        continue;
      }
      total += X_LIGHT.some(([a, b]) => cp >= a && cp <= b) ? 1 : 2;
      k += 1;
    }
    return total;
  }

  document.addEventListener("input", (event) => {
    if (!viewing || !event.target.matches("#note-text, #reply-text")) return;
    const now = Date.now();
    if (now - typingSentAt > 2000) {
      typingSentAt = now;
      send({ type: "typing", ticket_id: viewing });
    }
  });

  // --- keyboard ---------------------------------------------------------------------------------------------
  function rows() { return Array.from(document.querySelectorAll(".ticket-row")); }
  function markSelected(row) { rows().forEach((r) => r.classList.toggle("selected", r === row)); }
  function select(row) {
    markSelected(row);
    if (row) row.scrollIntoView({ block: "nearest" });
  }
  function move(step) {
    const all = rows();
    if (!all.length) return;
    const index = all.findIndex((r) => r.classList.contains("selected"));
    const next = all[Math.max(0, Math.min(all.length - 1, index + step))] || all[0];
    select(next);
    next.querySelector(".ticket-link").click();
  }
  function setProperty(name, value) {
    const field = document.querySelector(`#properties-form [name="${name}"]`);
    if (!field || field.disabled) return;
    field.value = value;
    field.dispatchEvent(new Event("change", { bubbles: true }));
  }

  document.addEventListener("keydown", (event) => {
    const typing = event.target.matches("input, textarea, select, [contenteditable]");
    if (event.key === "Escape" && typing) { event.target.blur(); return; }
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    // Inside a menu or a dialog, and Enter or Space on a link or button: the keys do what they do there.
    if (event.target.closest("details.menu, dialog")) return;
    if ((event.key === "Enter" || event.key === " ") && event.target.closest("a, button, summary")) return;
    const actions = {
      j: () => move(1),
      k: () => move(-1),
      Enter: () => { const r = document.querySelector(".ticket-row.selected"); if (r) r.querySelector(".ticket-link").click(); },
      n: () => { const t = document.getElementById("note-text"); if (t) t.focus(); },
      r: () => { const t = document.getElementById("reply-text") || document.getElementById("note-text"); if (t) t.focus(); },
      a: () => { const s = document.getElementById("prop-assignee"); if (s) s.focus(); },
      e: () => setProperty("status", "solved"),
      c: () => { const l = document.getElementById("new-conversation"); if (l) l.click(); },
      "/": () => document.getElementById("search-q").focus(),
      "?": () => document.getElementById("shortcuts").showModal(),
    };
    const action = actions[event.key];
    if (action) { event.preventDefault(); action(); }
  });

  // --- bulk actions -----------------------------------------------------------------------------------------
  document.addEventListener("change", (event) => {
    if (!event.target.matches(".bulk-select")) return;
    const chosen = document.querySelectorAll(".bulk-select:checked");
    const bar = document.getElementById("bulk-form");
    bar.hidden = chosen.length === 0;
    document.getElementById("bulk-count").textContent = String(chosen.length);
  });
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-bulk]");
    if (!button) return;
    const body = new FormData();
    document.querySelectorAll(".bulk-select:checked").forEach((c) => body.append("ticket", c.value));
    const kind = button.dataset.bulk;
    if (kind === "assign-me") { body.append("action", "assign"); body.append("assignee", "me"); }
    if (kind === "solve") { body.append("action", "status"); body.append("status", "solved"); }
    if (kind === "tag") { body.append("action", "tag"); body.append("tag", document.getElementById("bulk-tag").value); }
    fetch(root.dataset.bulkUrl, { method: "POST", body, credentials: "same-origin", headers: { "X-CSRFToken": root.dataset.csrf } })
      .then(() => refreshList());
  });

  // --- composer: files dropped on the reply box join its file input, listed with a button to remove each ------
  function fileInput(form) { return form ? form.querySelector("input[type=file][name=files]") : null; }
  function setFiles(input, files) {
    const transfer = new DataTransfer();
    files.forEach((file) => transfer.items.add(file));
    input.files = transfer.files;
  }
  function formatSize(bytes) {
    const lang = document.documentElement.lang || undefined;
    const [value, unit] = bytes >= 1e6 ? [bytes / 1e6, "megabyte"] : [Math.max(bytes / 1e3, 0.1), "kilobyte"];
    return new Intl.NumberFormat(lang, { style: "unit", unit, maximumFractionDigits: 1 }).format(value);
  }
  function renderFiles(form) {
    const input = fileInput(form);
    // the attached files' list, not the asset picker's chips (also a .file-list, earlier in the form)
    const list = form && form.querySelector(".file-list:not([data-asset-chips])");
    if (!input || !list) return;
    const removeButton = form.querySelector("template[data-remove-file-template]");
    list.textContent = "";
    Array.from(input.files).forEach((file, index) => {
      const item = document.createElement("li");
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = file.name;
      const size = document.createElement("span");
      size.className = "size";
      size.textContent = formatSize(file.size);
      const remove = removeButton ? removeButton.content.firstElementChild.cloneNode(true) : document.createElement("button");
      const label = (list.dataset.removeFormat || "%s").replace("%s", file.name);
      remove.type = "button";
      remove.dataset.removeFile = String(index);
      remove.setAttribute("aria-label", label);
      remove.title = label;
      if (!removeButton) remove.textContent = "×";
      item.append(name, size, remove);
      list.appendChild(item);
    });
  }
  function carriesFiles(event) {
    return Boolean(event.dataTransfer) && Array.from(event.dataTransfer.types || []).includes("Files");
  }
  function dropForm(event) {
    const form = event.target.closest ? event.target.closest("#reply-form") : null;
    return fileInput(form) ? form : null;
  }
  document.addEventListener("dragover", (event) => {
    const form = dropForm(event);
    if (!form || !carriesFiles(event)) return;
    event.preventDefault(); // accept the drop (the browser would otherwise open the file)
    event.dataTransfer.dropEffect = "copy";
    form.classList.add("dragover");
  });
  document.addEventListener("dragleave", (event) => {
    const form = dropForm(event);
    if (form && !form.contains(event.relatedTarget)) form.classList.remove("dragover");
  });
  document.addEventListener("drop", (event) => {
    const form = dropForm(event);
    if (!form || !carriesFiles(event)) return;
    event.preventDefault();
    form.classList.remove("dragover");
    const input = fileInput(form);
    setFiles(input, [...Array.from(input.files), ...Array.from(event.dataTransfer.files)]);
    renderFiles(form);
  });
  document.addEventListener("change", (event) => {
    if (event.target.matches("#reply-form input[type=file][name=files]")) renderFiles(event.target.form);
  });
  document.addEventListener("click", (event) => {
    const remove = event.target.closest("#reply-form [data-remove-file]");
    if (!remove) return;
    const form = remove.closest("form");
    const input = fileInput(form);
    const index = Number(remove.dataset.removeFile);
    setFiles(input, Array.from(input.files).filter((_, i) => i !== index));
    renderFiles(form);
    const next = form.querySelector("[data-remove-file]") || form.querySelector(".attach-button input");
    if (next) next.focus(); // the focus stays in the composer, not lost with the removed button
  });

  // --- @mentions in a note: pick a colleague who can see the ticket (names in any script: 高橋, managerさん) --
  // The note carries the picked ids; the server stores and notifies by id, never by guessing where a name ends.
  let mentionRequest = 0;
  function mentionQuery(textarea) {
    const before = textarea.value.slice(0, textarea.selectionStart);
    const match = before.match(/(^|\s)@([^\s@]{0,30})$/);
    return match ? match[2] : null;
  }
  function closeMentions() {
    const menu = document.getElementById("mention-menu");
    if (menu) menu.remove();
  }
  function pickMention(textarea, person) {
    const caret = textarea.selectionStart;
    const before = textarea.value.slice(0, caret).replace(/@[^\s@]*$/, `@${person.name} `);
    textarea.value = before + textarea.value.slice(caret);
    textarea.selectionStart = textarea.selectionEnd = before.length;
    const form = textarea.form;
    if (!form.querySelector(`input[name=mentions][value="${person.id}"]`)) {
      const field = document.createElement("input");
      Object.assign(field, { type: "hidden", name: "mentions", value: String(person.id) });
      field.dataset.name = person.name;
      form.appendChild(field);
    }
    closeMentions();
    textarea.focus();
  }
  document.addEventListener("input", (event) => {
    const textarea = event.target;
    if (!textarea.matches("#note-text")) return;
    const query = mentionQuery(textarea);
    if (query === null) { closeMentions(); return; }
    const request = ++mentionRequest;
    fetch(`${textarea.form.dataset.mentionableUrl}?q=${encodeURIComponent(query)}`, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : { results: [] }))
      .then((body) => {
        if (request !== mentionRequest) return; // a later keystroke asked again
        closeMentions();
        if (!body.results.length) return;
        const menu = document.createElement("ul");
        menu.id = "mention-menu";
        menu.className = "canned-menu";
        menu.setAttribute("role", "listbox");
        menu.setAttribute("aria-label", textarea.form.dataset.mentionLabel);
        body.results.forEach((person, index) => {
          const li = document.createElement("li");
          li.setAttribute("role", "option");
          li.dataset.index = String(index);
          li.textContent = person.name;
          const small = document.createElement("small");
          small.textContent = ` ${person.email}`;
          li.appendChild(small);
          if (index === 0) li.classList.add("active");
          li.addEventListener("mousedown", (e) => { e.preventDefault(); pickMention(textarea, person); });
          menu.appendChild(li);
        });
        menu.people = body.results;
        textarea.insertAdjacentElement("afterend", menu);
      });
  });
  document.addEventListener("keydown", (event) => {
    const menu = document.getElementById("mention-menu");
    if (!menu || !event.target.matches("#note-text") || event.isComposing) return;
    const options = Array.from(menu.children);
    const active = options.findIndex((o) => o.classList.contains("active"));
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const next = (active + (event.key === "ArrowDown" ? 1 : options.length - 1)) % options.length;
      options.forEach((o, i) => o.classList.toggle("active", i === next));
    } else if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      pickMention(event.target, menu.people[Math.max(0, active)]);
    } else if (event.key === "Escape") {
      closeMentions();
    }
  }, true);
  // A name removed from the text is no longer mentioned.
  document.addEventListener("submit", (event) => {
    if (!event.target.matches("#note-form")) return;
    const text = event.target.querySelector("#note-text").value;
    event.target.querySelectorAll("input[name=mentions]").forEach((field) => {
      if (!text.includes(`@${field.dataset.name}`)) field.remove();
    });
  }, true);

  // --- canned responses: type "/" at the start of a line in the composer --------------------------------------
  // One request for the list, shared by the keystrokes typed while it loads (each used to start its own, and a late
  // answer reopened the menu after the response had been inserted and sent).
  let cannedRequest = null;
  function cannedList() {
    if (!cannedRequest) {
      cannedRequest = fetch(root.dataset.cannedUrl + "?page_size=200", { credentials: "same-origin" })
        .then((r) => (r.ok ? r.json() : { results: [] }))
        .then((body) => body.results || body)
        .catch(() => { cannedRequest = null; return []; });
    }
    return cannedRequest;
  }
  function cannedQuery(textarea) {
    const before = textarea.value.slice(0, textarea.selectionStart);
    const match = before.match(/(^|\n)\/([\w-]*)$/);
    return match ? match[2] : null;
  }
  function closeCanned() {
    const menu = document.getElementById("canned-menu");
    if (menu) menu.remove();
  }
  function insertCanned(textarea, item) {
    const conv = conversationEl();
    const url = `${root.dataset.cannedUrl}${item.id}/render/?ticket=${conv.dataset.ticketId}&language=${document.documentElement.lang}`;
    fetch(url, { credentials: "same-origin" }).then((r) => r.json()).then((body) => {
      const start = textarea.value.slice(0, textarea.selectionStart).replace(/\/[\w-]*$/, "");
      textarea.value = start + body.body + textarea.value.slice(textarea.selectionStart);
      textarea.focus();
      closeCanned();
    });
  }
  document.addEventListener("input", (event) => {
    const textarea = event.target;
    if (!textarea.matches("#note-text, #reply-text")) return;
    if (cannedQuery(textarea) === null) { closeCanned(); return; }
    cannedList().then((items) => {
      closeCanned();
      const query = cannedQuery(textarea); // the text as it is now, not as it was when the list was asked for
      if (query === null) return;
      const found = items.filter((i) => i.shortcut.startsWith(query.toLowerCase()) || i.title.includes(query)).slice(0, 8);
      if (!found.length) return;
      const menu = document.createElement("ul");
      menu.id = "canned-menu";
      menu.className = "canned-menu";
      menu.setAttribute("role", "listbox");
      menu.setAttribute("aria-label", root.dataset.cannedLabel);
      found.forEach((item, index) => {
        const li = document.createElement("li");
        li.setAttribute("role", "option");
        li.dataset.index = String(index);
        li.textContent = `/${item.shortcut} — ${item.title}`;
        if (index === 0) li.classList.add("active");
        li.addEventListener("mousedown", (e) => { e.preventDefault(); insertCanned(textarea, item); });
        menu.appendChild(li);
      });
      menu.items = found;
      textarea.insertAdjacentElement("afterend", menu);
    });
  });
  document.addEventListener("keydown", (event) => {
    const menu = document.getElementById("canned-menu");
    if (!menu || !event.target.matches("#note-text, #reply-text")) return;
    const options = Array.from(menu.children);
    const active = options.findIndex((o) => o.classList.contains("active"));
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const next = (active + (event.key === "ArrowDown" ? 1 : options.length - 1)) % options.length;
      options.forEach((o, i) => o.classList.toggle("active", i === next));
    } else if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      insertCanned(event.target, menu.items[Math.max(0, active)]);
    } else if (event.key === "Escape") {
      closeCanned();
    }
  }, true);

  // --- saved views: keep the current filters under a name (personal) -----------------------------------------
  document.addEventListener("click", (event) => {
    const button = event.target.closest("#save-view");
    if (!button) return;
    const name = window.prompt(button.dataset.prompt);
    if (!name) return;
    const filters = {};
    new URLSearchParams(currentQuery()).forEach((value, key) => {
      if (value && key !== "page") filters[key] = key === "status" ? [value] : value;
    });
    fetch(button.dataset.url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": root.dataset.csrf },
      body: JSON.stringify({ name, filters }),
    }).then((r) => { if (r.ok) refreshCounts(); else r.json().then((b) => toast(b.error.message)); });
  });

  setInterval(() => send({ type: "ping" }), 20000);
  connect();
  if (conversationEl()) onConversationShown();
})();
