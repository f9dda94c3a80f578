// The console's live feed: the server sends the venues part again whenever
// it changes; it replaces the one on the page. Without it the page still
// shows what it had, marked so.
(function () {
  "use strict";
  var target = document.getElementById("console");
  var live = document.getElementById("live");
  if (!target || !window.EventSource) return;
  var failures = 0;
  var source = new EventSource("/admin/console/events");
  source.onmessage = function (e) {
    failures = 0;
    target.innerHTML = e.data;
    if (live) live.textContent = "live";
  };
  source.onerror = function () {
    failures += 1;
    if (live) live.textContent = "not live: reconnecting";
    // Signed out (or the hub restarted into another sign-in): the page
    // itself says what to do.
    if (failures >= 5) window.location.reload();
  };
})();
