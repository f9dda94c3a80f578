// Counts call timers and tournament clocks down between page loads, and reloads the board now and
// then so it stays current. Old-WebView-safe: ES5, no modules.
(function () {
  var board = document.querySelector('.board');
  if (!board) { return; }
  var offset = Number(board.getAttribute('data-now')) - Date.now();
  function pad(n) { return n < 10 ? '0' + n : String(n); }
  function tick() {
    var now = Date.now() + offset;
    var timers = document.querySelectorAll('[data-deadline]');
    for (var i = 0; i < timers.length; i++) {
      var left = Math.max(0, Number(timers[i].getAttribute('data-deadline')) - now);
      var s = Math.ceil(left / 1000);
      timers[i].textContent = left > 0 ? Math.floor(s / 60) + ':' + pad(s % 60) : 'time up';
      var base = timers[i].className.replace(/\s*\blate\b/g, '');
      timers[i].className = left < 30000 ? base + ' late' : base;
    }
  }
  tick();
  setInterval(tick, 1000);
  setInterval(function () {
    var a = document.activeElement;
    var typing = a && (a.tagName === 'INPUT' || a.tagName === 'SELECT');
    if (!typing) { window.location.reload(); }
  }, 20000);
})();
