// pond console: a little plain JavaScript, no build step.
// 1. Date-time pickers show the browser's time zone and send UTC.
// 2. A snapshot page long-polls its files fragment until the export ends.
// 3. Destructive forms ask for confirmation.
"use strict";

function setUpTimeZone() {
  const form = document.getElementById("create-form");
  if (!form) return;
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  document.querySelectorAll(".tz").forEach((el) => { el.textContent = zone; });
  form.addEventListener("submit", () => {
    for (const [local, utc] of [["from_local", "created_at_from"], ["to_local", "created_at_to"]]) {
      const value = form.elements[local].value;
      // datetime-local has no zone: new Date() reads it in the browser's own zone.
      const when = value ? new Date(value) : null;
      form.elements[utc].value = when && !isNaN(when) ? when.toISOString() : "";
    }
    form.elements.tz_offset.value = String(-new Date().getTimezoneOffset());
  });
}

function pollParts() {
  const region = document.querySelector("[data-poll]");
  if (!region) return;
  const active = () => {
    const parts = region.querySelector("#parts");
    return parts && ["pending", "running"].includes(parts.dataset.state);
  };
  // The server holds each request until the snapshot changes (or 25 s pass),
  // so the page asks again at once; after a failure it waits a second.
  const tick = async () => {
    if (!active()) return;
    let delay = 1000;
    try {
      const answer = await fetch(region.dataset.poll + "?wait=25", { credentials: "same-origin", cache: "no-store" });
      if (answer.ok || answer.status === 401) {
        region.innerHTML = await answer.text();
      }
      if (answer.ok) delay = 0;
    } catch (err) {
      // The server may be restarting: try again after the delay.
    }
    if (active()) setTimeout(tick, delay);
  };
  tick();
}

function confirmDangerousForms() {
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setUpTimeZone();
  pollParts();
  confirmDangerousForms();
});
