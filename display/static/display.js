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
  var identWhat = ident.querySelector(".what");
  /* Everything the screen knows and does, in one place. */
  var st = {
    parts: {}, /* the model's parts, by name */
    info: null, /* this screen: name, code, group, playlist */
    modelAt: 0, /* server ms the parts were computed at */
    offset: 0, /* server ms - local ms */
    samples: [], /* the last round trips: { rtt, offset } */
    lastMessage: 0, /* local ms of the last frame */
    connected: false,
    identifyUntil: 0,
    viewIndex: 0, /* the playlist's view on screen */
    viewSince: Date.now(),
    pageIndex: 0, /* seat pages and slides */
    lastKey: "", /* the view last rendered */
    rotations: 0, /* 100 ms ticks */
    socket: null,
    source: null,
    wsFailures: 0,
    backoff: 500,
    feed: "node", /* which feed the screen follows: "node" (the page's own origin) or "hub" */
    restoredAt: 0, /* local ms the shown state was saved at, while it was restored after a restart and nothing live has come */
    savedAt: 0,
    saveTimer: null,
    savedText: "", /* what was last written, so an unchanged state is not written again */
    retryTimer: null
  };
  var savedKey = "pvm-last-" + device;

  function serverNow() { return Date.now() + st.offset; }

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
    return st.modelAt + c.time_left_ms; /* server ms */
  }

  function playlist() {
    return (st.info && st.info.playlist && st.info.playlist.views) || [{ view: "clock" }];
  }

  /* The view on screen now: a pure read. */
  function currentView() {
    var list = playlist();
    return list[st.viewIndex % list.length];
  }

  /* Moves the rotation on when the view has been up long enough. */
  function rotate() {
    var list = playlist();
    var secs = (st.info && st.info.playlist && st.info.playlist.rotate_secs) || 20;
    if (list.length > 1 && Date.now() - st.viewSince > secs * 1000) {
      st.viewIndex = (st.viewIndex + 1) % list.length;
      st.viewSince = Date.now();
      st.pageIndex = 0;
    }
    if (st.viewIndex >= list.length) { st.viewIndex = 0; }
  }

  function clockFor(v) {
    var clocks = st.parts.clocks || { by_id: {} };
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
    /* The level and, beside it, the state in words, not only in colour:
       read from across the room. One row, so a paused clock is no taller. */
    var head = el("div", "head");
    head.appendChild(el("p", "level", c.on_break ? "Break" : "Level " + c.level));
    if (c.paused || c.on_break) { head.appendChild(el("p", "state", c.paused ? "PAUSED" : "BREAK")); }
    box.appendChild(head);
    var time = el("p", "time" + (c.paused ? " paused" : ""), mmss(c.time_left_ms));
    time.setAttribute("data-clock", c.id);
    box.appendChild(time);
    if (c.blinds) {
      box.appendChild(el("p", "blinds", blindsText(c.blinds)));
      var a = anteText(c.blinds);
      if (a) { box.appendChild(el("p", "ante", a)); }
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

  /* Every tournament not yet finished, a card each: read from across the
   * room which event is where (a satellite beside a main event). */
  function renderTournaments() {
    var byId = (st.parts.clocks && st.parts.clocks.by_id) || {};
    var ids = [];
    for (var k in byId) { if (Object.prototype.hasOwnProperty.call(byId, k)) { ids.push(k); } }
    if (!ids.length) { return [el("p", "hint", "No tournament running")]; }
    ids.sort(function (a, b) { return byId[a].name < byId[b].name ? -1 : byId[a].name > byId[b].name ? 1 : 0; });
    // Past four events the cards get smaller, so every one stays on the screen.
    var grid = el("div", "overview" + (ids.length > 4 ? " many" : ""));
    for (var i = 0; i < ids.length; i++) {
      var c = byId[ids[i]];
      var card = el("section", "event" + (c.paused ? " paused" : ""));
      card.appendChild(el("h2", null, c.name));
      var state = c.paused ? "PAUSED" : c.on_break ? "BREAK" : (c.started ? "Level " + c.level : "Starts soon");
      card.appendChild(el("p", "level", state));
      var time = el("p", "time", mmss(c.time_left_ms));
      time.setAttribute("data-clock", c.id);
      card.appendChild(time);
      if (c.blinds) { card.appendChild(el("p", "blinds", blindsText(c.blinds))); }
      card.appendChild(el("p", "left", num(c.players_left) + " / " + num(c.entries) + " players"));
      grid.appendChild(card);
    }
    return [grid];
  }

  function renderSeatDraw(v) {
    var draws = st.parts.seat_draws || {};
    var clocks = st.parts.clocks || {};
    var id = (v && v.tournament) || clocks.current;
    var d = id ? draws[id] : null;
    if (!d) { return [el("p", "hint", "No seat draw yet")]; }
    var per = window.innerHeight > window.innerWidth ? 20 : 36;
    var pages = Math.max(1, Math.ceil(d.rows.length / per));
    var page = st.pageIndex % pages;
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

  /* Every game in a column: the tables dealing it, open seats, the next
   * seat's likely wait, and who waits (called players marked). */
  function renderLists() {
    var grid = el("div", "lists");
    var lists = st.parts.lists || [];
    var rows = window.innerHeight > window.innerWidth ? 14 : 10;
    for (var i = 0; i < lists.length; i++) {
      var l = lists[i];
      /* A hub not yet updated sends names only. */
      var waiting = l.waiting || (l.names || []).map(function (n) { return { name: n, called: false }; });
      var col = el("div", "col");
      col.appendChild(el("h2", null, l.label));
      var tables = l.tables || 0;
      var open = l.open_seats || 0;
      var facts = (tables === 1 ? "1 table" : tables + " tables") + " · " +
        (open === 1 ? "1 open seat" : open + " open seats");
      col.appendChild(el("p", "facts", facts));
      if (l.next_wait) { col.appendChild(el("p", "facts", "next seat " + l.next_wait[0] + "–" + l.next_wait[1] + " min")); }
      var ol = el("ol");
      for (var j = 0; j < waiting.length && j < rows; j++) {
        var w = waiting[j];
        var li = el("li", w.called ? "called" : null, w.name);
        if (w.called) { li.appendChild(el("span", "tag", "called")); }
        ol.appendChild(li);
      }
      col.appendChild(ol);
      if (!waiting.length) { col.appendChild(el("p", "facts", "no one waiting")); }
      if (waiting.length > rows) { col.appendChild(el("p", "facts", "+ " + (waiting.length - rows) + " more")); }
      grid.appendChild(col);
    }
    if (!lists.length) { return [el("h1", "title", "Waiting lists"), el("p", "hint", "No waiting lists")]; }
    return [el("h1", "title", "Waiting lists"), grid];
  }

  function renderTables() {
    var box = el("div", "tables");
    var tables = st.parts.tables || [];
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
    var slides = st.parts.slides || [];
    if (!slides.length) { return [el("p", "hint", (st.parts.venue && st.parts.venue.name) || "")]; }
    var s = slides[st.pageIndex % slides.length];
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

  function render() {
    if (!st.info) { return; }
    var v = currentView();
    var nodes;
    if (v.view === "seat_draw") { nodes = renderSeatDraw(v); }
    else if (v.view === "waiting_lists") { nodes = renderLists(); }
    else if (v.view === "table_status") { nodes = renderTables(); }
    else if (v.view === "slides") { nodes = renderSlides(); }
    else if (v.view === "tournaments") { nodes = renderTournaments(); }
    else { nodes = renderClock(v); }
    while (stage.firstChild) { stage.removeChild(stage.firstChild); }
    var logo = st.parts.venue && st.parts.venue.logo;
    if (logo) {
      var l = el("img", "logo");
      l.src = logo;
      l.alt = "";
      stage.appendChild(l);
    }
    for (var i = 0; i < nodes.length; i++) { stage.appendChild(nodes[i]); }
    stage.setAttribute("data-view", v.view);
    st.lastKey = v.view;
    renderOverlay();
    tick();
  }

  function renderOverlay() {
    var list = st.parts.announcements || [];
    var mine = [];
    var group = st.info ? st.info.group : null;
    for (var i = 0; i < list.length; i++) {
      var a = list[i];
      if (a.until_ms > serverNow() && (a.group === null || a.group === group)) { mine.push(a.text); }
    }
    overlay.textContent = mine.join("  ·  ");
    overlay.className = mine.length ? "" : "hidden";
  }

  function applyVenue() {
    var v = st.parts.venue;
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
      var c = (st.parts.clocks && st.parts.clocks.by_id) ? st.parts.clocks.by_id[times[i].getAttribute("data-clock")] : null;
      var d = deadlineOf(c);
      if (d !== null) {
        // Offline past the end of the level: stop at 0:00 rather than guess.
        times[i].textContent = mmss(d - serverNow());
      }
    }
    var breaks = stage.querySelectorAll("[data-break]");
    for (var j = 0; j < breaks.length; j++) {
      var bc = (st.parts.clocks && st.parts.clocks.by_id) ? st.parts.clocks.by_id[breaks[j].getAttribute("data-break")] : null;
      if (bc && bc.running) { breaks[j].textContent = mmss(bc.to_next_break_ms - (serverNow() - st.modelAt)); }
    }
    var stale = !st.connected || Date.now() - st.lastMessage > 4000;
    status.className = stale ? "" : "hidden";
    if (st.restoredAt && stale) {
      var at = new Date(st.restoredAt);
      status.textContent = "no connection: last known state from " + at.getHours() + ":" + (at.getMinutes() < 10 ? "0" : "") + at.getMinutes();
    } else {
      status.textContent = "reconnecting…";
    }
    body.setAttribute("data-connected", stale ? "no" : "yes");
    body.setAttribute("data-stale", st.restoredAt && stale ? "yes" : "no");
    body.setAttribute("data-feed", st.feed);
    document.getElementById("delayed").className = (servedDelayed || (st.feed === "hub" && !stale)) ? "" : "hidden";
    var unnamed = st.info && !st.info.name;
    ident.className = (unnamed || Date.now() < st.identifyUntil) ? (Date.now() < st.identifyUntil ? "flash" : "") : "hidden";
    if (st.info) {
      ident.firstChild.textContent = st.info.code;
      /* Identify on a named screen says which one it is. */
      var what = unnamed ? "New screen: name it in the screen manager" : st.info.name;
      if (identWhat.textContent !== what) { identWhat.textContent = what; }
    }
  }

  setInterval(function () {
    tick();
    st.rotations += 1;
    rotate();
    if (st.rotations % 100 === 0) { st.pageIndex += 1; render(); } /* seat pages and slides every 10 s */
    else if (st.info && currentView().view !== st.lastKey) { render(); }
  }, 100);

  /* Exposed for tests and for anyone debugging a screen. */
  window.pvm = {
    deadline: function () {
      var c = clockFor(currentView());
      var d = deadlineOf(c);
      return d === null ? null : d - st.offset; /* in this screen's local ms */
    },
    timeLeft: function () {
      var c = clockFor(currentView());
      var d = deadlineOf(c);
      return d === null ? (c ? c.time_left_ms : null) : d - serverNow();
    },
    offset: function () { return st.offset; },
    feed: function () { return st.feed; }
  };

  /* The last state, kept so a screen that restarts while the node is down
   * shows it (marked stale) instead of a browser error. Written at most
   * every 5 s: cheap boxes have cheap flash. */
  function save() {
    st.saveTimer = null;
    var model = JSON.stringify({ parts: st.parts, info: st.info, model_ms: st.modelAt });
    if (model === st.savedText) { return; }
    st.savedAt = Date.now();
    try {
      window.localStorage.setItem(savedKey, JSON.stringify({ parts: st.parts, info: st.info, model_ms: st.modelAt, offset: st.offset, saved: st.savedAt }));
      st.savedText = model;
    } catch (e) { /* full or private: the screen still works live */ }
  }

  function saveSoon() {
    if (st.saveTimer) { return; }
    st.saveTimer = setTimeout(save, Math.max(0, 5000 - (Date.now() - st.savedAt)));
  }

  function restore() {
    var kept = null;
    try { kept = JSON.parse(window.localStorage.getItem(savedKey) || "null"); } catch (e) { kept = null; }
    if (!kept || !kept.parts) { return; }
    st.parts = kept.parts;
    st.info = kept.info || null;
    st.modelAt = kept.model_ms || 0;
    st.offset = kept.offset || 0;
    st.restoredAt = kept.saved || Date.now();
    applyVenue();
    render();
  }

  function onMessage(text) {
    var m;
    try { m = JSON.parse(text); } catch (e) { return; }
    st.lastMessage = Date.now();
    if (m.type === "pong") {
      var now = Date.now();
      var rtt = now - m.t;
      st.samples.push({ rtt: rtt, offset: m.server_ms - (m.t + now) / 2 });
      if (st.samples.length > 8) { st.samples.shift(); }
      var best = st.samples[0];
      for (var i = 1; i < st.samples.length; i++) { if (st.samples[i].rtt < best.rtt) { best = st.samples[i]; } }
      st.offset = best.offset;
      return;
    }
    if (m.type === "identify") { st.identifyUntil = Date.now() + 10000; tick(); return; }
    if (m.type === "tick") { if (!st.samples.length) { st.offset = m.server_ms - Date.now(); } return; }
    if (m.type === "snapshot" || m.type === "delta") {
      if (m.type === "snapshot") { st.parts = {}; }
      if (!st.samples.length) { st.offset = m.server_ms - Date.now(); }
      for (var k in m.parts) { if (m.parts.hasOwnProperty(k)) { st.parts[k] = m.parts[k]; } }
      st.modelAt = m.model_ms;
      st.restoredAt = 0;
      if (m.device) {
        var changed = !st.info || JSON.stringify(st.info.playlist) !== JSON.stringify(m.device.playlist);
        st.info = m.device;
        if (changed) { st.viewIndex = 0; st.viewSince = Date.now(); }
      }
      applyVenue();
      render();
      saveSoon();
    }
  }

  function ping() {
    if (st.socket && st.socket.readyState === 1) {
      st.socket.send(JSON.stringify({ type: "ping", t: Date.now() }));
    }
  }

  function scheme() { return window.location.protocol === "https:" ? "wss://" : "ws://"; }

  function feedUrl() {
    if (st.feed === "hub") { return fallback.replace(/^http/, "ws") + "/display/ws/" + encodeURIComponent(device); }
    return scheme() + window.location.host + base + "/display/ws/" + encodeURIComponent(device);
  }

  /* One connection at a time: handlers of a socket or source that has been
   * replaced do nothing, and one retry timer at most is pending. */
  function connectWs() {
    var opened = false;
    var ws;
    clearTimeout(st.retryTimer);
    try {
      ws = new WebSocket(feedUrl());
    } catch (e) {
      st.wsFailures += 1;
      reconnect();
      return;
    }
    st.socket = ws;
    st.lastMessage = Date.now(); /* the watchdog gives a new socket 6 s to speak */
    ws.onopen = function () {
      if (ws !== st.socket) { return; }
      opened = true;
      st.connected = true;
      st.wsFailures = 0;
      st.backoff = 500;
      st.samples = [];
      for (var i = 0; i < 5; i++) { setTimeout(ping, i * 300); }
    };
    ws.onmessage = function (e) { if (ws === st.socket) { onMessage(e.data); } };
    ws.onclose = function () {
      if (ws !== st.socket) { return; }
      st.connected = false;
      if (!opened) { st.wsFailures += 1; }
      st.socket = null;
      tick();
      reconnect();
    };
    ws.onerror = function () { /* onclose follows */ };
  }

  function connectSse() {
    clearTimeout(st.retryTimer);
    var src = new window.EventSource(base + "/display/events/" + encodeURIComponent(device));
    st.source = src;
    src.onopen = function () { if (src === st.source) { st.connected = true; st.backoff = 500; } };
    src.onmessage = function (e) { if (src === st.source) { onMessage(e.data); } };
    src.onerror = function () {
      if (src !== st.source) { src.close(); return; }
      st.connected = false;
      tick();
      if (fallback) {
        // EventSource retries the node for ever by itself: ask whether it is down instead.
        src.close();
        st.source = null;
        st.wsFailures = Math.max(st.wsFailures, 2);
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
    var wait = st.backoff;
    st.backoff = Math.min(st.backoff * 2, 5000);
    clearTimeout(st.retryTimer);
    st.retryTimer = setTimeout(function () {
      if (st.feed === "node" && fallback && st.wsFailures >= 2) {
        // Twice refused: if the node is down (not just its WebSocket), follow the hub.
        nodeAnswers(function (up) {
          if (!up) { st.feed = "hub"; st.wsFailures = 0; st.backoff = 500; tick(); connectWs(); } else { connectNode(); }
        });
        return;
      }
      if (st.feed === "hub") { connectWs(); } else { connectNode(); }
    }, wait);
  }

  function connectNode() {
    if (st.wsFailures >= 3 && window.EventSource) { connectSse(); } else { connectWs(); }
  }

  /* While on the hub, look for the node every 5 s and go back as soon as it answers. */
  setInterval(function () {
    if (st.feed !== "hub") { return; }
    nodeAnswers(function (up) {
      if (!up || st.feed !== "hub") { return; }
      st.feed = "node";
      st.wsFailures = 0;
      st.backoff = 500;
      clearTimeout(st.retryTimer);
      var old = st.socket;
      st.socket = null;
      if (old) { try { old.close(); } catch (e) { /* ignore */ } }
      st.connected = false;
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
    if (st.socket && Date.now() - st.lastMessage > 6000 && st.lastMessage > 0) {
      try { st.socket.close(); } catch (e) { /* ignore */ }
    }
  }, 1000);
  if (window.WebSocket) { connectWs(); } else if (window.EventSource) { connectSse(); }
})();
