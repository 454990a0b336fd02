/* Pages that stay current (app/web/live.py), and times in the viewer's time zone.
 *
 * Every page: each <time datetime="...Z"> (a moment, not a plain date) is shown in
 * the account's time zone (<html data-time-zone>, set when the account has one other
 * than UTC, the default) or else the browser's, and in the page's language (<html
 * lang>), the server's text kept as the title. Without JS, the
 * server's text remains (already in the account's zone and language). The words this
 * script says come from <main data-say-*>, in the page's language.
 *
 * Pages whose <main> carries data-live-stamp-url (the loan page, the dashboard): ask
 * that URL for the page's stamp at most every 5 s while the tab is visible, at once
 * when it becomes visible again. When the stamp changes, fetch the page again and
 * put its <main> in place of ours, keeping the scroll position and any flash
 * message; unless the viewer is in the middle of something (a control in <main> has
 * focus, a field was edited, or this is a refusal rendered at a POST's address):
 * then a polite banner offers "Show the latest". No inline script or style: the
 * Content-Security-Policy allows neither, and needs nothing more than 'self'.
 */
(function () {
  "use strict";

  var EVERY_MS = 5000;
  var MOST_MS = 60000; // the longest wait after errors
  var ZONED = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z$/;

  var root = document.documentElement;
  var format = null;
  try {
    var options = { dateStyle: "medium", timeStyle: "short" };
    if (root.getAttribute("data-time-zone")) options.timeZone = root.getAttribute("data-time-zone");
    format = new Intl.DateTimeFormat(root.lang || undefined, options);
  } catch (e) {
    try {
      format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
    } catch (e2) {
      format = null;
    }
  }

  function localTimes(root) {
    if (!format) return;
    var times = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var el = times[i];
      var value = el.getAttribute("datetime");
      if (!ZONED.test(value) || el.getAttribute("data-local") === value) continue;
      // More than milliseconds is not every browser's Date format.
      var when = new Date(value.replace(/(\.\d{3})\d+/, "$1"));
      if (isNaN(when.getTime())) continue;
      if (!el.title) el.title = el.textContent.trim();
      el.textContent = format.format(when);
      el.setAttribute("data-local", value);
    }
  }

  localTimes(document);

  var main = document.querySelector("main[data-live-stamp-url]");
  if (!main || !window.fetch || !window.DOMParser) return;

  var stampUrl = main.getAttribute("data-live-stamp-url");
  var shown = main.getAttribute("data-live-stamp"); // the stamp of what is on screen
  var latest = shown; // the stamp the server last gave
  var pageUrl = new URL(main.getAttribute("data-live-page") || location.href, location.href);
  var here = new URL(location.href);
  // A refusal after a POST shows the page at the form's address: never swap it away.
  var samePage = pageUrl.pathname === here.pathname && pageUrl.search === here.search;
  // The page's words, in its language (base.html); English if a page has none.
  function word(name, english) {
    return main.getAttribute("data-say-" + name) || english;
  }

  var timer = null;
  var busy = false;
  var stopped = false;
  var edited = false;
  var lastAsked = 0;
  var wait = EVERY_MS;

  // The status region: outside what is swapped, there before anything is said in it.
  var region = document.createElement("div");
  region.className = "live-status";
  region.setAttribute("role", "status");
  region.setAttribute("aria-live", "polite");
  main.insertBefore(region, main.firstChild);

  main.addEventListener("input", function () { edited = true; });
  main.addEventListener("change", function () { edited = true; });
  // A form on its way: the page is about to go, leave it alone.
  main.addEventListener("submit", function () { stop(); });

  function stop() {
    stopped = true;
    clearTimeout(timer);
  }

  function busyHere() {
    var active = document.activeElement;
    var focused = active && active !== main && main.contains(active) && !region.contains(active);
    return edited || focused || !samePage;
  }

  function say(text) {
    region.textContent = "";
    var p = document.createElement("p");
    p.className = "live-said";
    p.textContent = text;
    region.appendChild(p);
  }

  function offer() {
    if (region.querySelector(".live-banner")) return;
    region.textContent = "";
    var banner = document.createElement("p");
    banner.className = "alert alert-info live-banner";
    var text = document.createElement("span");
    text.textContent = word("changed", "This page has changed.");
    banner.appendChild(text);
    var button = document.createElement("button");
    button.type = "button";
    button.className = "button button-secondary live-show";
    button.textContent = word("show", "Show the latest");
    button.addEventListener("click", function () {
      if (samePage) {
        refresh(true).catch(function () { location.assign(pageUrl.href); });
      } else {
        location.assign(pageUrl.href);
      }
    });
    banner.appendChild(button);
    region.appendChild(banner);
  }

  function schedule(ms) {
    clearTimeout(timer);
    timer = null;
    if (stopped || document.visibilityState !== "visible") return;
    timer = setTimeout(ask, Math.max(ms, lastAsked + EVERY_MS - Date.now(), 0));
  }

  function ask() {
    if (busy || stopped) return;
    busy = true;
    lastAsked = Date.now();
    fetch(stampUrl, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        if (response.status === 401 || response.status === 403 || response.status === 404) {
          stop(); // logged out, or no longer this person's loan: nothing to follow
          return null;
        }
        if (!response.ok || response.redirected) throw new Error("stamp " + response.status);
        return response.json();
      })
      .then(function (body) {
        if (!body) return null;
        wait = EVERY_MS;
        latest = body.stamp;
        if (latest === shown) return null;
        if (busyHere()) {
          offer();
          return null;
        }
        return refresh(false);
      })
      .catch(function () {
        wait = Math.min(wait * 2, MOST_MS); // the server is struggling: ask less often
      })
      .then(function () {
        busy = false;
        schedule(wait);
      });
  }

  function refresh(asked) {
    return fetch(pageUrl.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok || response.redirected) throw new Error("page " + response.status);
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var next = fresh.querySelector("main[data-live-stamp-url]");
        if (!next || next.getAttribute("data-live-stamp-url") !== stampUrl) {
          throw new Error("not the same page");
        }
        swap(next, fresh.title, asked);
      });
  }

  function swap(next, title, asked) {
    var x = window.scrollX;
    var y = window.scrollY;
    // A flash message from the last step stays until the viewer leaves the page.
    var flashes = main.querySelector(".flashes");
    var nodes = [];
    for (var n = next.firstChild; n; n = n.nextSibling) nodes.push(document.importNode(n, true));
    while (region.nextSibling) main.removeChild(region.nextSibling);
    while (main.firstChild !== region) main.removeChild(main.firstChild);
    var hasFlashes = nodes.some(function (node) {
      return node.nodeType === 1 && node.classList.contains("flashes");
    });
    if (flashes && !hasFlashes) main.appendChild(flashes);
    for (var i = 0; i < nodes.length; i++) main.appendChild(nodes[i]);
    shown = next.getAttribute("data-live-stamp");
    latest = shown;
    edited = false;
    main.setAttribute("data-live-stamp", shown);
    if (title) document.title = title;
    localTimes(main);
    window.scrollTo(x, y);
    say(word("updated", "This page was updated."));
    if (asked) main.focus({ preventScroll: true });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      schedule(0); // at once, unless the last question was under 5 s ago
    } else {
      clearTimeout(timer);
      timer = null;
    }
  });
  window.addEventListener("pagehide", stop);
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) { // back from the back-forward cache: look again
      stopped = false;
      busy = false;
      schedule(0);
    }
  });

  schedule(EVERY_MS);
})();
