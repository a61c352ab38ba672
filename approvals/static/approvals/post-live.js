// The post page follows its publishing live: when a channel's result arrives over the WebSocket (post.target_updated),
// the status, the channels list and the timeline are read again from the page itself, so they appear in the reader's
// language and time zone exactly as a reload would show them.
(() => {
  const head = document.querySelector("[data-post-live]");
  if (!head) return;
  const postId = Number(head.dataset.postId);
  const parts = ["post-status", "post-targets", "post-timeline"];
  let retry = 0;
  let busy = false;
  let again = false;

  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const response = await fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (!response.ok) return;
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const id of parts) {
        const fresh = page.getElementById(id);
        const shown = document.getElementById(id);
        if (fresh && shown) shown.replaceWith(document.importNode(fresh, true));
      }
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  }

  function concerns(event) {
    return event && event.type === "post.target_updated" && event.payload && event.payload.post_id === postId;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    // observe=1: this page does not count as being in the inbox (no presence)
    const socket = new WebSocket(`${scheme}://${location.host}${head.dataset.wsPath}?observe=1`);
    socket.addEventListener("open", () => { retry = 0; });
    socket.addEventListener("message", (message) => {
      const data = JSON.parse(message.data);
      const events = data.type === "replay" ? data.events || [] : [data];
      if (events.some(concerns)) refresh();
    });
    socket.addEventListener("close", (event) => {
      if ([4401, 4403, 4404].includes(event.code)) return; // not allowed: do not hammer the server
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, 500 * 2 ** retry);
    });
  }

  connect();
})();
