// Analytics → Live: the panel refreshes itself (an htmx GET of its fragment) when ticket events arrive on the
// WebSocket — debounced, so a burst of events costs one request — and every 30 s, since "breaching soon" and who is
// online change without any event.
(function () {
  "use strict";
  const panel = document.getElementById("live-panel");
  if (!panel) return;
  const REFRESH_EVENTS = new Set(["ticket.created", "ticket.updated", "message.created", "access.changed"]);
  let socket = null;
  let retry = 0;
  let debounce = null;
  let pinger = null;

  function refresh() {
    htmx.ajax("GET", panel.dataset.panelUrl, { target: "#live-panel", swap: "innerHTML" });
  }

  function refreshSoon() {
    if (debounce) return; // one refresh per burst
    debounce = setTimeout(() => {
      debounce = null;
      refresh();
    }, 1000);
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}${panel.dataset.wsPath}`);
    socket.addEventListener("open", () => {
      retry = 0;
      panel.dataset.connected = "true";
      // Events between the page's render and this connection are not replayed: one refresh covers them.
      refreshSoon();
      clearInterval(pinger);
      pinger = setInterval(() => {
        if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ping" }));
      }, 20000);
    });
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      const events = message.type === "replay" ? message.events || [] : [message];
      if (events.some((e) => REFRESH_EVENTS.has(e.type))) refreshSoon();
    });
    socket.addEventListener("close", (event) => {
      panel.dataset.connected = "false";
      clearInterval(pinger);
      if ([4401, 4403, 4404].includes(event.code)) return; // not allowed: do not hammer the server
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, 500 * 2 ** retry);
    });
  }

  connect();
  setInterval(refresh, 30000);
})();
