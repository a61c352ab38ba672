// The content calendar (approvals/templates/approvals/calendar.html) on FullCalendar 6. The calendar runs in "UTC"
// and the server hands it the organization's wall-clock times without an offset, so what is shown is the
// organization's time whatever the browser's zone; times sent back are wall-clock times too.
(function () {
  "use strict";
  const element = document.getElementById("post-calendar");
  if (!element || !window.FullCalendar) return;
  const filters = document.getElementById("calendar-filters");
  const message = document.getElementById("calendar-message");

  function csrf() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function wallClock(date) {
    return date.toISOString().slice(0, 16); // UTC in the calendar = the organization's wall clock
  }

  function say(text, isError) {
    message.hidden = false;
    message.textContent = text;
    message.classList.toggle("danger", Boolean(isError));
  }

  const calendar = new window.FullCalendar.Calendar(element, {
    initialView: "dayGridMonth",
    timeZone: "UTC",
    locale: element.dataset.locale || "ja",
    headerToolbar: { left: "prev,next today", center: "title", right: "dayGridMonth,timeGridWeek" },
    height: "auto",
    editable: true,
    eventStartEditable: true,
    eventDurationEditable: false,
    events: {
      url: element.dataset.feedUrl,
      extraParams: () => Object.fromEntries(new FormData(filters).entries()),
    },
    eventDidMount: (info) => {
      const props = info.event.extendedProps;
      info.el.setAttribute("title", `${props.statusLabel} · ${(props.channels || []).join(", ")}`);
      info.el.dataset.status = props.status;
      info.el.dataset.postId = info.event.id;
    },
    eventDrop: (info) => {
      const body = new FormData();
      body.append("scheduled_at", wallClock(info.event.start));
      fetch(info.event.extendedProps.rescheduleUrl, {
        method: "POST", body, headers: { "X-CSRFToken": csrf(), "X-Requested-With": "fetch" },
      })
        .then((response) => response.json().then((data) => ({ ok: response.ok, data })))
        .then(({ ok, data }) => {
          if (!ok) {
            info.revert();
            say(`${element.dataset.failedText} ${data.error ? data.error.message : ""}`, true);
            return;
          }
          say(data.reapproval ? element.dataset.reapprovalText : element.dataset.movedText, false);
          calendar.refetchEvents();
        })
        .catch(() => { info.revert(); say(element.dataset.failedText, true); });
    },
    dateClick: (info) => {
      if (!element.dataset.newUrl) return;
      const value = info.allDay ? info.dateStr.slice(0, 10) : wallClock(info.date);
      window.location.assign(`${element.dataset.newUrl}?date=${encodeURIComponent(value)}`);
    },
  });
  calendar.render();
  filters.addEventListener("change", () => calendar.refetchEvents());
})();
