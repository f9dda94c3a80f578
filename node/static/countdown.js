// Counts call timers and tournament clocks down between page loads, and reloads the board now and
// then so it stays current (never while staff are using it). Old-WebView-safe: ES5, no modules.
(function () {
  var board = document.querySelector('.board');
  if (!board) { return; }
  // The server's clock at render (data-now) is matched with this page's clock
  // when the answer began to arrive, not when this script runs (a busy phone
  // can take most of a second to get here), and the count is redrawn every
  // 100 ms, as the TVs do: so the panel and the TVs show the same second.
  var timing = window.performance && window.performance.timing;
  var arrived = timing && timing.responseStart > 0 ? timing.responseStart : Date.now();
  var offset = Number(board.getAttribute('data-now')) - arrived;
  function pad(n) { return n < 10 ? '0' + n : String(n); }
  function tick() {
    var now = Date.now() + offset;
    var timers = document.querySelectorAll('[data-deadline]');
    for (var i = 0; i < timers.length; i++) {
      var left = Math.max(0, Number(timers[i].getAttribute('data-deadline')) - now);
      var s = Math.ceil(left / 1000);
      var text = left > 0 ? Math.floor(s / 60) + ':' + pad(s % 60) : 'time up';
      if (timers[i].textContent !== text) { timers[i].textContent = text; }
      var base = timers[i].className.replace(/\s*\blate\b/g, '');
      var cls = left < 30000 ? base + ' late' : base;
      if (timers[i].className !== cls) { timers[i].className = cls; }
    }
  }
  tick();
  setInterval(tick, 100);
  // Reloaded 20 s after the last touch, and never under someone's hands:
  // not while a field has the focus or a panel (Move, a confirmation, Seat
  // someone now) is open.
  var touched = Date.now();
  var events = ['click', 'keydown', 'input', 'touchstart'];
  for (var e = 0; e < events.length; e++) {
    document.addEventListener(events[e], function () { touched = Date.now(); }, true);
  }
  setInterval(function () {
    var a = document.activeElement;
    var typing = a && (a.tagName === 'INPUT' || a.tagName === 'SELECT' || a.tagName === 'TEXTAREA');
    var open = document.querySelector('details[open]');
    if (!typing && !open && Date.now() - touched >= 20000) { window.location.reload(); }
  }, 2000);
})();
