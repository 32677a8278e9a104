// The console's shell: a hash router (#/flows, #/flows/<FlowId>[/outputs|/preview], #/backbone,
// #/events), the event stream and the stats poller shared by every page.

import { askCredentials, forgetCredentials, hasCredentials } from "./api.js";
import { backbonePage } from "./backbone.js";
import { onEvent, onStreamState, startEvents } from "./events.js";
import { flowPage } from "./flow.js";
import { flowsPage } from "./flows.js";
import { currentStats, onStats, startStats } from "./live.js";
import { banner, h } from "./ui.js";

const EVENTS_KEPT = 200;
const recentEvents = [];
let liveError = "";
let streamState = "connecting";

function eventsPage(root, ctx) {
  const list = h("ul.events", { "aria-label": "Events", "aria-live": "polite" });
  const render = () =>
    list.replaceChildren(
      ...recentEvents
        .slice()
        .reverse()
        .map((e) => {
          const { id, type, time, ...rest } = e;
          const when = time ? new Date(time * 1000).toISOString().slice(11, 23) : "";
          return h("li", { "data-type": type }, `${when}  #${id ?? "-"}  ${type}  ${JSON.stringify(rest)}`);
        }),
    );
  root.append(
    h("div.crumbs", {}, "MediaConnect / Events"),
    h("h1", {}, "Events"),
    h("p.hint", {}, "GET /_emulator/events (server-sent events): flow status, inputs connecting, players joining, " +
      "failover switches, link changes. The newest first."),
    list,
  );
  render();
  ctx.onChange(render, () => true);
}

let current = null;

function makeContext() {
  const cleanups = [];
  return {
    get stats() {
      return currentStats();
    },
    cleanup(fn) {
      cleanups.push(fn);
    },
    /** Call `fn` (at most once per burst of events) for each event that `filter` accepts. */
    onChange(fn, filter) {
      let pending = false;
      cleanups.push(
        onEvent((ev) => {
          if (!filter(ev) || pending) return;
          pending = true;
          queueMicrotask(() => {
            pending = false;
            fn();
          });
        }),
      );
    },
    close() {
      for (const fn of cleanups.splice(0)) fn();
    },
  };
}

function route() {
  if (current) current.close();
  banner("");
  const page = document.getElementById("page");
  page.replaceChildren();
  const ctx = makeContext();
  current = ctx;
  const parts = (location.hash || "#/flows").slice(2).split("/").map(decodeURIComponent);
  let nav = parts[0] || "flows";
  if (nav === "flows" && parts[1]) flowPage(page, ctx, parts[1], parts[2]);
  else if (nav === "backbone") backbonePage(page, ctx);
  else if (nav === "events") eventsPage(page, ctx);
  else {
    nav = "flows";
    flowsPage(page, ctx);
  }
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === nav) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.title = `${nav[0].toUpperCase()}${nav.slice(1)} - MediaConnect - mcemu console`;
}

function showConnection() {
  const el = document.getElementById("conn");
  const parts = [streamState === "live" ? "events: live" : streamState];
  if (liveError) parts.push(liveError);
  el.textContent = parts.join(" | ");
  el.title = el.textContent;
}

function main() {
  const keys = document.getElementById("keys-button");
  const showKeys = () => (keys.textContent = hasCredentials() ? "AccessKey: set (change)" : "AccessKey");
  keys.addEventListener("click", async () => {
    forgetCredentials();
    await askCredentials("");
    showKeys();
    route();
  });
  showKeys();
  onEvent((ev) => {
    recentEvents.push(ev);
    if (recentEvents.length > EVENTS_KEPT) recentEvents.shift();
  });
  onStreamState((state) => {
    streamState = state;
    showKeys();
    showConnection();
  });
  onStats((_stats, error) => {
    liveError = error;
    showConnection();
  });
  window.addEventListener("hashchange", route);
  route();
  startEvents();
  startStats();
}

main();
