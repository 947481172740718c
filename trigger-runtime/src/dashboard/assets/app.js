// The dashboard's only script, hand-written, no build step: copy buttons, relative times that
// stay current, and the runs list's live updates (server-sent events).
(function () {
  "use strict";

  function relative(at, now) {
    var millis = now - at;
    var seconds = Math.floor(Math.abs(millis) / 1000);
    if (seconds < 5) return "just now";
    var amount;
    if (seconds < 60) amount = seconds + " s";
    else if (seconds < 3600) amount = Math.floor(seconds / 60) + " min";
    else if (seconds < 86400) amount = Math.floor(seconds / 3600) + " h";
    else amount = Math.floor(seconds / 86400) + " d";
    return millis < 0 ? "in " + amount : amount + " ago";
  }

  function refreshTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (node) {
      var at = Date.parse(node.getAttribute("datetime"));
      if (!isNaN(at)) node.textContent = relative(at, Date.now());
    });
  }

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    area.remove();
    return ok;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) return;
    var text = button.getAttribute("data-copy");
    var done = function (ok) {
      button.textContent = ok ? "Copied" : "Copy failed";
      button.classList.toggle("done", ok);
      setTimeout(function () { button.textContent = "Copy"; button.classList.remove("done"); }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); },
        function () { done(fallbackCopy(text)); });
    } else {
      done(fallbackCopy(text));
    }
  });

  // Rows come rendered by the server, as {"id", "html"}: replaced when the run is on the page,
  // else added at the top (the server sends the oldest first).
  function live() {
    var table = document.querySelector("table[data-live]");
    if (!table || !window.EventSource) return;
    var body = table.querySelector("tbody");
    var dot = document.querySelector(".live");
    var source = new EventSource(table.getAttribute("data-live"));
    source.addEventListener("open", function () { if (dot) dot.classList.add("on"); });
    source.addEventListener("error", function () { if (dot) dot.classList.remove("on"); });
    source.addEventListener("runs", function (event) {
      JSON.parse(event.data).forEach(function (run) {
        var template = document.createElement("template");
        template.innerHTML = run.html.trim();
        var row = template.content.firstElementChild;
        var existing = document.getElementById("run-" + run.id);
        if (existing) {
          existing.replaceWith(row);
        } else {
          row.classList.add("fresh");
          body.prepend(row);
        }
      });
      var empty = body.querySelector("tr.empty");
      if (empty && body.querySelector("tr[id]")) empty.remove();
      refreshTimes(body);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    live();
    setInterval(function () { refreshTimes(document); }, 15000);
  });
})();
