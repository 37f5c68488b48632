// celeroot dashboard: refresh the live part of the page every second, and
// follow a run's log. Text from the server is escaped HTML (the live part)
// or set as text (log lines): nothing here builds HTML from data.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (live) {
    var last = null, busy = false;
    setInterval(function () {
      if (busy || document.hidden) return;
      var sel = document.activeElement;
      if (sel && live.contains(sel) && (sel.tagName === "INPUT" || sel.tagName === "SELECT")) return; // typing in a filter
      busy = true;
      fetch(location.href, { headers: { "X-CL-Partial": "1" }, credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html !== null && html !== last) {
            last = html;
            var t = document.createElement("template");
            t.innerHTML = html;
            live.replaceChildren(t.content);
          }
        })
        .catch(function () {})
        .finally(function () { busy = false; });
    }, 1000);
  }
  var log = document.getElementById("log");
  if (log && window.EventSource) {
    var status = document.getElementById("log-status");
    var es = new EventSource(log.dataset.log);
    es.addEventListener("line", function (e) {
      var tab = e.data.indexOf("\t");
      var span = document.createElement("span");
      span.className = e.data.slice(0, tab);
      span.textContent = e.data.slice(tab + 1) + "\n";
      var atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.appendChild(span);
      if (atEnd) log.scrollTop = log.scrollHeight;
    });
    es.addEventListener("end", function (e) {
      status.textContent = "Log complete: " + e.data + ".";
      log.dataset.done = "1";
      es.close();
    });
    es.addEventListener("problem", function (e) {
      status.textContent = "Log unavailable: " + e.data;
    });
  }
})();
