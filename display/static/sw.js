/* PVM wall display service worker: keeps the page shell so a screen that
 * restarts while the node is down opens from here and shows the last state
 * it saved (marked stale) instead of a browser error. Network first: a
 * screen always takes the node's current page when the node answers. */
"use strict";
var CACHE = "pvm-display-v1";
var SHELL = ["/display/static/display.js", "/display/static/display.css", "/display/manifest.webmanifest", "/display/static/icon.svg"];
/* A node that is off the network (not refusing) would leave a fetch hanging. */
var NETWORK_WAIT_MS = 3000;

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (c) { return c.addAll(SHELL.concat(["/display"])); }).then(function () { return self.skipWaiting(); }));
});

/* The screens open now were loaded before this worker existed: keep their
 * pages too, so a reboot right after the first visit already finds them. */
self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k !== CACHE; }).map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }).then(function () {
    return self.clients.matchAll({ type: "window" });
  }).then(function (open) {
    var urls = open.map(function (c) { return new URL(c.url); }).filter(function (u) {
      return u.origin === self.location.origin && kept(u.pathname);
    }).map(function (u) { return u.pathname; });
    return caches.open(CACHE).then(function (c) { return c.addAll(urls); });
  }).catch(function () { /* the node went away meanwhile: the next visit keeps them */ }));
});

function kept(path) {
  if (path === "/display/challenge") { return false; }
  return path === "/display" || path === "/display/manifest.webmanifest" || path.indexOf("/display/static/") === 0 ||
    /^\/display\/[A-Za-z0-9_-]+$/.test(path);
}

self.addEventListener("fetch", function (event) {
  var req = event.request;
  var url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== self.location.origin || !kept(url.pathname)) { return; }
  event.respondWith(new Promise(function (resolve) {
    var answered = false;
    function fromCache() {
      if (answered) { return; }
      answered = true;
      resolve(caches.match(req, { ignoreSearch: true }).then(function (r) {
        return r || new Response("This screen has not been shown here before and the node does not answer.", { status: 503, headers: { "Content-Type": "text/plain; charset=utf-8" } });
      }));
    }
    var timer = setTimeout(fromCache, NETWORK_WAIT_MS);
    fetch(req).then(function (r) {
      clearTimeout(timer);
      if (r.ok) {
        var copy = r.clone();
        caches.open(CACHE).then(function (c) { return c.put(req, copy); });
      }
      if (!answered) { answered = true; resolve(r); }
    }, function () { clearTimeout(timer); fromCache(); });
  }));
});
