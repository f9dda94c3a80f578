/* PVM wall display. ES5 only: old Android WebViews and a Pi's Chromium.
 * WebSocket with a snapshot on connect and deltas after; SSE as fallback.
 * Clocks count down locally from the server's state and the server's time
 * (offset estimated from round trips), so every screen agrees. */
(function () {
  "use strict";
  var body = document.body;
  var device = body.getAttribute("data-device");
  /* Served by the hub as a fallback: its paths sit under /venues/<id>, and the screen says it may lag. */
  var base = body.getAttribute("data-base") || "";
  /* On the node: the hub's copy of this venue's feed (an absolute URL ending
   * in /venues/<id>), where the screen goes while the node does not answer. */
  var fallback = body.getAttribute("data-fallback") || "";
  var servedDelayed = body.getAttribute("data-delayed") === "yes";
  if (!device) {
    // A bare /display: make this screen an id it keeps across reboots.
    var kept = null;
    try { kept = window.localStorage.getItem("pvm-device"); } catch (e) { kept = null; }
    if (!kept) {
      kept = "d-" + Math.random().toString(36).slice(2, 10) + Date.now().toString(36);
      try { window.localStorage.setItem("pvm-device", kept); } catch (e2) { /* private mode */ }
    }
    window.location.replace(base + "/display/" + kept);
    return;
  }
  try { window.localStorage.setItem("pvm-device", device); } catch (e3) { /* ignore */ }

  var stage = document.getElementById("stage");
  var overlay = document.getElementById("overlay");
  var status = document.getElementById("status");
  var ident = document.getElementById("ident");
  var parts = {};
  var info = null;
  var modelAt = 0; /* server ms the parts were computed at */
  var offset = 0; /* server ms - local ms */
  var samples = [];
  var lastMessage = 0;
  var connected = false;
  var identifyUntil = 0;
  var viewIndex = 0;
  var viewSince = Date.now();
  var pageIndex = 0;
  var socket = null;
  var source = null;
  var wsFailures = 0;
  var backoff = 500;
  /* Which feed the screen follows: "node" (the page's own origin) or "hub". */
  var feed = "node";
  /* Local ms the shown state was saved at, when it was restored after a
   * restart and nothing live has arrived since; 0 otherwise. */
  var restoredAt = 0;
  var savedAt = 0;
  var saveTimer = null;
  var savedKey = "pvm-last-" + device;

  function serverNow() { return Date.now() + offset; }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }

  function mmss(ms) {
    var s = Math.ceil(Math.max(0, ms) / 1000);
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var r = s % 60;
    var mm = (h > 0 && m < 10 ? "0" : "") + m;
    return (h > 0 ? h + ":" : "") + mm + ":" + (r < 10 ? "0" : "") + r;
  }

  function num(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  /* Time left on a clock now, or null when it is not counting down. */
  function deadlineOf(c) {
    if (!c || !c.running) { return null; }
    return modelAt + c.time_left_ms; /* server ms */
  }

  function currentView() {
    var list = (info && info.playlist && info.playlist.views) || [{ view: "clock" }];
    var secs = (info && info.playlist && info.playlist.rotate_secs) || 20;
    if (list.length > 1 && Date.now() - viewSince > secs * 1000) {
      viewIndex = (viewIndex + 1) % list.length;
      viewSince = Date.now();
      pageIndex = 0;
    }
    if (viewIndex >= list.length) { viewIndex = 0; }
    return list[viewIndex];
  }

  function clockFor(v) {
    var clocks = parts.clocks || { by_id: {} };
    var id = (v && v.tournament) || clocks.current;
    return id ? clocks.by_id[id] : null;
  }

  function blindsText(b) {
    return num(b.small_blind) + " / " + num(b.big_blind);
  }

  function anteText(b) {
    if (!b || !b.ante || b.ante.kind === "none") { return ""; }
    return (b.ante.kind === "big_blind" ? "Big blind ante " : "Ante ") + num(b.ante.amount);
  }

  function renderClock(v) {
    var c = clockFor(v);
    var box = el("div", "clock");
    if (!c) {
      box.appendChild(el("p", "level", "No tournament running"));
      return [box];
    }
    var title = el("h1", "title", c.name);
    box.appendChild(el("p", "level", c.on_break ? "Break" : "Level " + c.level));
    var time = el("p", "time" + (c.paused ? " paused" : ""), mmss(c.time_left_ms));
    time.setAttribute("data-clock", c.id);
    box.appendChild(time);
    if (c.blinds) {
      box.appendChild(el("p", "blinds", blindsText(c.blinds)));
      var a = anteText(c.blinds);
      if (a) { box.appendChild(el("p", "ante", a)); }
    } else if (c.paused) {
      box.appendChild(el("p", "ante", "Paused"));
    }
    if (c.next) {
      var nx = "Next: " + blindsText(c.next);
      if (anteText(c.next)) { nx += " · " + anteText(c.next); }
      box.appendChild(el("p", "next", nx));
    }
    var facts = el("div", "facts");
    function fact(label, value) {
      var f = el("div");
      var b = el("b", null, value);
      f.appendChild(b);
      f.appendChild(el("span", null, label));
      facts.appendChild(f);
      return b;
    }
    fact("players", num(c.players_left) + " / " + num(c.entries));
    fact("average stack", num(c.average_stack));
    if (c.to_next_break_ms !== null && c.to_next_break_ms !== undefined && !c.on_break) {
      fact("to the break", mmss(c.to_next_break_ms)).setAttribute("data-break", c.id);
    }
    if (c.prize_pool > 0) { fact("prize pool", num(c.prize_pool)); }
    box.appendChild(facts);
    if (c.payouts && c.payouts.length) {
      var p = [];
      for (var i = 0; i < c.payouts.length && i < 6; i++) {
        p.push(c.payouts[i][0] + ". " + num(c.payouts[i][1]));
      }
      box.appendChild(el("p", "payouts", p.join("  ·  ")));
    }
    return [title, box];
  }

  function renderSeatDraw(v) {
    var draws = parts.seat_draws || {};
    var clocks = parts.clocks || {};
    var id = (v && v.tournament) || clocks.current;
    var d = id ? draws[id] : null;
    if (!d) { return [el("p", "hint", "No seat draw yet")]; }
    var per = window.innerHeight > window.innerWidth ? 24 : 45;
    var pages = Math.max(1, Math.ceil(d.rows.length / per));
    var page = pageIndex % pages;
    var list = el("div", "seats");
    for (var i = page * per; i < Math.min(d.rows.length, (page + 1) * per); i++) {
      var r = d.rows[i];
      var row = el("div");
      row.appendChild(el("span", null, r[0]));
      row.appendChild(el("b", null, "T" + r[1] + " S" + r[2]));
      list.appendChild(row);
    }
    var out = [el("h1", "title", d.name + " · seats"), list];
    if (pages > 1) { out.push(el("p", "page", "page " + (page + 1) + " of " + pages)); }
    return out;
  }

  function renderLists() {
    var grid = el("div", "grid");
    var lists = parts.lists || [];
    for (var i = 0; i < lists.length; i++) {
      var card = el("div", "card");
      card.appendChild(el("h2", null, lists[i].label));
      var ol = el("ol");
      for (var j = 0; j < lists[i].names.length && j < 12; j++) { ol.appendChild(el("li", null, lists[i].names[j])); }
      if (!lists[i].names.length) { ol.appendChild(el("li", null, "no one waiting")); }
      card.appendChild(ol);
      grid.appendChild(card);
    }
    return [el("h1", "title", "Waiting lists"), grid];
  }

  function renderTables() {
    var box = el("div", "tables");
    var tables = parts.tables || [];
    for (var i = 0; i < tables.length; i++) {
      var t = tables[i];
      var row = el("div", "row");
      row.appendChild(el("span", null, t.name + " · " + t.game));
      row.appendChild(el("span", t.open_seats > 0 ? "open" : null, t.open_seats > 0 ? t.open_seats + " open" : "full"));
      box.appendChild(row);
    }
    if (!tables.length) { box.appendChild(el("p", "hint", "No tables open")); }
    return [el("h1", "title", "Tables"), box];
  }

  function renderSlides() {
    var slides = parts.slides || [];
    if (!slides.length) { return [el("p", "hint", (parts.venue && parts.venue.name) || "")]; }
    var s = slides[pageIndex % slides.length];
    var box = el("div", "slide" + (s.image ? " with-image" : ""));
    if (s.image) {
      var img = el("img");
      img.src = s.image;
      img.alt = s.title;
      box.appendChild(img);
    }
    box.appendChild(el("h2", null, s.title));
    if (s.body) { box.appendChild(el("p", null, s.body)); }
    return [box];
  }

  var lastKey = "";
  function render() {
    if (!info) { return; }
    var v = currentView();
    var nodes;
    if (v.view === "seat_draw") { nodes = renderSeatDraw(v); }
    else if (v.view === "waiting_lists") { nodes = renderLists(); }
    else if (v.view === "table_status") { nodes = renderTables(); }
    else if (v.view === "slides") { nodes = renderSlides(); }
    else { nodes = renderClock(v); }
    while (stage.firstChild) { stage.removeChild(stage.firstChild); }
    var logo = parts.venue && parts.venue.logo;
    if (logo) {
      var l = el("img", "logo");
      l.src = logo;
      l.alt = "";
      stage.appendChild(l);
    }
    for (var i = 0; i < nodes.length; i++) { stage.appendChild(nodes[i]); }
    stage.setAttribute("data-view", v.view);
    lastKey = v.view;
    renderOverlay();
    tick();
  }

  function renderOverlay() {
    var list = parts.announcements || [];
    var mine = [];
    var group = info ? info.group : null;
    for (var i = 0; i < list.length; i++) {
      var a = list[i];
      if (a.until_ms > serverNow() && (a.group === null || a.group === group)) { mine.push(a.text); }
    }
    overlay.textContent = mine.join("  ·  ");
    overlay.className = mine.length ? "" : "hidden";
  }

  function applyVenue() {
    var v = parts.venue;
    if (!v) { return; }
    var root = document.documentElement.style;
    root.setProperty("--primary", v.primary);
    root.setProperty("--accent", v.accent);
    if (v.theme === "dark") { root.setProperty("--bg", v.background); } else { root.removeProperty("--bg"); }
    body.className = "theme-" + v.theme;
    document.title = v.name;
  }

  /* Every 100 ms: count clocks down, show marks, rotate views. */
  function tick() {
    var times = stage.querySelectorAll("[data-clock]");
    for (var i = 0; i < times.length; i++) {
      var c = (parts.clocks && parts.clocks.by_id) ? parts.clocks.by_id[times[i].getAttribute("data-clock")] : null;
      var d = deadlineOf(c);
      if (d !== null) {
        // Offline past the end of the level: stop at 0:00 rather than guess.
        times[i].textContent = mmss(d - serverNow());
      }
    }
    var breaks = stage.querySelectorAll("[data-break]");
    for (var j = 0; j < breaks.length; j++) {
      var bc = (parts.clocks && parts.clocks.by_id) ? parts.clocks.by_id[breaks[j].getAttribute("data-break")] : null;
      if (bc && bc.running) { breaks[j].textContent = mmss(bc.to_next_break_ms - (serverNow() - modelAt)); }
    }
    var stale = !connected || Date.now() - lastMessage > 4000;
    status.className = stale ? "" : "hidden";
    if (restoredAt && stale) {
      var at = new Date(restoredAt);
      status.textContent = "no connection: last known state from " + at.getHours() + ":" + (at.getMinutes() < 10 ? "0" : "") + at.getMinutes();
    } else {
      status.textContent = "reconnecting…";
    }
    body.setAttribute("data-connected", stale ? "no" : "yes");
    body.setAttribute("data-stale", restoredAt && stale ? "yes" : "no");
    body.setAttribute("data-feed", feed);
    document.getElementById("delayed").className = (servedDelayed || feed === "hub") ? "" : "hidden";
    var unnamed = info && !info.name;
    ident.className = (unnamed || Date.now() < identifyUntil) ? (Date.now() < identifyUntil ? "flash" : "") : "hidden";
    if (info) { ident.firstChild.textContent = info.code; }
  }

  var rotations = 0;
  setInterval(function () {
    tick();
    rotations += 1;
    if (rotations % 100 === 0) { pageIndex += 1; render(); } /* seat pages and slides every 10 s */
    else if (info && currentView().view !== lastKey) { render(); }
  }, 100);

  /* Exposed for tests and for anyone debugging a screen. */
  window.pvm = {
    deadline: function () {
      var c = clockFor(currentView());
      var d = deadlineOf(c);
      return d === null ? null : d - offset; /* in this screen's local ms */
    },
    timeLeft: function () {
      var c = clockFor(currentView());
      var d = deadlineOf(c);
      return d === null ? (c ? c.time_left_ms : null) : d - serverNow();
    },
    offset: function () { return offset; },
    feed: function () { return feed; }
  };

  /* The last state, kept so a screen that restarts while the node is down
   * shows it (marked stale) instead of a browser error. Written at most
   * every 5 s: cheap boxes have cheap flash. */
  function save() {
    saveTimer = null;
    savedAt = Date.now();
    try {
      window.localStorage.setItem(savedKey, JSON.stringify({ parts: parts, info: info, model_ms: modelAt, offset: offset, saved: savedAt }));
    } catch (e) { /* full or private: the screen still works live */ }
  }

  function saveSoon() {
    if (saveTimer) { return; }
    saveTimer = setTimeout(save, Math.max(0, 5000 - (Date.now() - savedAt)));
  }

  function restore() {
    var kept = null;
    try { kept = JSON.parse(window.localStorage.getItem(savedKey) || "null"); } catch (e) { kept = null; }
    if (!kept || !kept.parts) { return; }
    parts = kept.parts;
    info = kept.info || null;
    modelAt = kept.model_ms || 0;
    offset = kept.offset || 0;
    restoredAt = kept.saved || Date.now();
    applyVenue();
    render();
  }

  function onMessage(text) {
    var m;
    try { m = JSON.parse(text); } catch (e) { return; }
    lastMessage = Date.now();
    if (m.type === "pong") {
      var now = Date.now();
      var rtt = now - m.t;
      samples.push({ rtt: rtt, offset: m.server_ms - (m.t + now) / 2 });
      if (samples.length > 8) { samples.shift(); }
      var best = samples[0];
      for (var i = 1; i < samples.length; i++) { if (samples[i].rtt < best.rtt) { best = samples[i]; } }
      offset = best.offset;
      return;
    }
    if (m.type === "identify") { identifyUntil = Date.now() + 10000; tick(); return; }
    if (m.type === "tick") { if (!samples.length) { offset = m.server_ms - Date.now(); } return; }
    if (m.type === "snapshot" || m.type === "delta") {
      if (m.type === "snapshot") { parts = {}; }
      if (!samples.length) { offset = m.server_ms - Date.now(); }
      for (var k in m.parts) { if (m.parts.hasOwnProperty(k)) { parts[k] = m.parts[k]; } }
      modelAt = m.model_ms;
      restoredAt = 0;
      if (m.device) {
        var changed = !info || JSON.stringify(info.playlist) !== JSON.stringify(m.device.playlist);
        info = m.device;
        if (changed) { viewIndex = 0; viewSince = Date.now(); }
      }
      applyVenue();
      render();
      saveSoon();
    }
  }

  function ping() {
    if (socket && socket.readyState === 1) {
      socket.send(JSON.stringify({ type: "ping", t: Date.now() }));
    }
  }

  function scheme() { return window.location.protocol === "https:" ? "wss://" : "ws://"; }

  function feedUrl() {
    if (feed === "hub") { return fallback.replace(/^http/, "ws") + "/display/ws/" + encodeURIComponent(device); }
    return scheme() + window.location.host + base + "/display/ws/" + encodeURIComponent(device);
  }

  function connectWs() {
    var opened = false;
    try {
      socket = new WebSocket(feedUrl());
    } catch (e) {
      wsFailures += 1;
      reconnect();
      return;
    }
    socket.onopen = function () {
      opened = true;
      connected = true;
      wsFailures = 0;
      backoff = 500;
      samples = [];
      for (var i = 0; i < 5; i++) { setTimeout(ping, i * 300); }
    };
    socket.onmessage = function (e) { onMessage(e.data); };
    socket.onclose = function () {
      connected = false;
      if (!opened) { wsFailures += 1; }
      socket = null;
      tick();
      reconnect();
    };
    socket.onerror = function () { /* onclose follows */ };
  }

  function connectSse() {
    source = new window.EventSource(base + "/display/events/" + encodeURIComponent(device));
    source.onopen = function () { connected = true; backoff = 500; };
    source.onmessage = function (e) { onMessage(e.data); };
    source.onerror = function () {
      connected = false;
      tick();
      if (fallback) {
        // EventSource retries the node for ever by itself: ask whether it is down instead.
        source.close();
        source = null;
        wsFailures = Math.max(wsFailures, 2);
        reconnect();
      }
    };
  }

  /* Does the node answer at all? (GET /health, at most 2 s) */
  function nodeAnswers(then) {
    var done = false;
    var x = new XMLHttpRequest();
    function finish(ok) { if (!done) { done = true; then(ok); } }
    x.open("GET", base + "/health", true);
    x.timeout = 2000;
    x.onload = function () { finish(x.status >= 200 && x.status < 300); };
    x.onerror = function () { finish(false); };
    x.ontimeout = function () { finish(false); };
    try { x.send(); } catch (e) { finish(false); }
  }

  function reconnect() {
    var wait = backoff;
    backoff = Math.min(backoff * 2, 5000);
    setTimeout(function () {
      if (feed === "node" && fallback && wsFailures >= 2) {
        // Twice refused: if the node is down (not just its WebSocket), follow the hub.
        nodeAnswers(function (up) {
          if (!up) { feed = "hub"; wsFailures = 0; backoff = 500; tick(); connectWs(); } else { connectNode(); }
        });
        return;
      }
      if (feed === "hub") { connectWs(); } else { connectNode(); }
    }, wait);
  }

  function connectNode() {
    if (wsFailures >= 3 && window.EventSource) { connectSse(); } else { connectWs(); }
  }

  /* While on the hub, look for the node every 5 s and go back as soon as it answers. */
  setInterval(function () {
    if (feed !== "hub") { return; }
    nodeAnswers(function (up) {
      if (!up || feed !== "hub") { return; }
      feed = "node";
      wsFailures = 0;
      backoff = 500;
      var old = socket;
      socket = null;
      if (old) { old.onclose = null; try { old.close(); } catch (e) { /* ignore */ } }
      connected = false;
      tick();
      connectWs();
    });
  }, 5000);

  /* The page shell is kept by a service worker (secure contexts only:
   * https, or localhost) so a screen that reboots while the node is down
   * still opens. Only on the node: the hub's copy is its own page. */
  if (!base && window.isSecureContext && navigator.serviceWorker) {
    try { navigator.serviceWorker.register("/display/sw.js", { scope: "/display" }); } catch (e) { /* not supported */ }
  }
  restore();

  setInterval(ping, 10000);
  setInterval(function () {
    // A silent connection is a dead one: drop it and reconnect.
    if (socket && Date.now() - lastMessage > 6000 && lastMessage > 0) {
      try { socket.close(); } catch (e) { /* ignore */ }
    }
  }, 1000);
  if (window.WebSocket) { connectWs(); } else if (window.EventSource) { connectSse(); }
})();
