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

/* Said when neither the node nor the cache has the page: it tries again by itself. */
var OFFLINE = "<!DOCTYPE html><meta charset=utf-8><meta http-equiv=refresh content=10>" +
  "<title>PVM display</title><body style=\"background:#0b0f14;color:#f4f6f8;font:5vh sans-serif;text-align:center;padding-top:30vh\">" +
  "The node does not answer yet. Trying again every 10 seconds.";

self.addEventListener("fetch", function (event) {
  var req = event.request;
  var url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== self.location.origin || !kept(url.pathname)) { return; }
  var network = fetch(req);
  /* Keep what the node answers well; never an error page. */
  event.waitUntil(network.then(function (r) {
    if (!r.ok) { return undefined; }
    var copy = r.clone();
    return caches.open(CACHE).then(function (c) { return c.put(req, copy); });
  }, function () { return undefined; }));
  function cached() { return caches.match(req, { ignoreSearch: true }); }
  function offline() {
    return new Response(OFFLINE, { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } });
  }
  event.respondWith(new Promise(function (resolve) {
    var answered = false;
    function answer(r) { if (!answered) { answered = true; resolve(r); } }
    /* A node off the network leaves the fetch hanging: after a while the
     * cached page, if there is one (else keep waiting for the network). */
    var timer = setTimeout(function () {
      cached().then(function (r) { if (r) { answer(r); } });
    }, NETWORK_WAIT_MS);
    network.then(function (r) {
      clearTimeout(timer);
      if (r.ok) { answer(r); return; }
      // A proxy in front of a down node answers 502/504: the cached page is better.
      cached().then(function (c) { answer(c || r); });
    }, function () {
      clearTimeout(timer);
      cached().then(function (c) { answer(c || offline()); });
    });
  }));
});
