// Backbone: the regions and the links between them, each link's impairment in force and its live
// counters; set values or pick a profile (PUT /_emulator/links/{from}/{to}), clear it (DELETE), or start
// a timeline (POST .../timeline), all through the admin API.

import { admin, adminPath, rpc } from "./api.js";
import { regionLabel } from "./regions.js";
import { banner, h, nextId } from "./ui.js";

// mediaplane/netem/profiles.py's names (tests/unit/emulator/test_console_static.py keeps them in step).
export const PROFILES = [
  "asia-europe",
  "backbone-congested",
  "backbone-good",
  "congested-wifi",
  "flapping",
  "lossy-4g",
  "perfect",
  "same-region",
  "satellite",
  "satellite-leo",
  "transpacific",
];

const REFRESH_MS = 1000;
const EXAMPLE_TIMELINE = JSON.stringify({ steps: [{ at_s: 10, duration_s: 8, changes: { outage: true } }] }, null, 1);

function impairmentText(imp) {
  if (!imp) return "-";
  const parts = [`delay ${imp.delay_ms} ms`];
  if (imp.jitter_ms) parts.push(`jitter ${imp.jitter_ms} ms`);
  if (imp.loss_pct) parts.push(`loss ${imp.loss_pct} % (${imp.loss_model})`);
  if (imp.rate_kbps) parts.push(`rate ${imp.rate_kbps} kbps`);
  if (imp.duplicate_pct) parts.push(`duplicate ${imp.duplicate_pct} %`);
  if (imp.reorder_pct) parts.push(`reorder ${imp.reorder_pct} %`);
  if (imp.outage) parts.push(imp.outage_period_s ? `outage ${imp.outage_duration_s} s every ${imp.outage_period_s} s` : "OUTAGE");
  return parts.join(", ");
}

function counterText(c) {
  if (!c) return "-";
  return `${c.delivered} delivered (${c.bytes_delivered} B), ${c.dropped} dropped, ${c.queued} queued`;
}

function field(label, input, wide = false) {
  const id = nextId("bb");
  input.id = id;
  return h(wide ? "div.field.wide" : "div.field", {}, h("label", { for: id }, label), input);
}

export function backbonePage(root, ctx) {
  const regionsBody = h("tbody");
  const linksBody = h("tbody");
  const overridesBody = h("tbody");
  const from = h("select", { name: "from" });
  const to = h("select", { name: "to" });
  const profileSelect = h("select", { name: "profile" }, h("option", { value: "" }, "(values below)"),
    ...PROFILES.map((p) => h("option", { value: p }, p)));
  const num = (name, placeholder) => h("input", { name, type: "number", step: "any", min: "0", placeholder });
  const delay = num("delay_ms", "catalogue");
  const jitter = num("jitter_ms", "0");
  const loss = num("loss_pct", "0");
  const rate = num("rate_kbps", "unlimited");
  const outage = h("select", { name: "outage" }, h("option", { value: "" }, "no"), h("option", { value: "true" }, "yes"));
  const both = h("select", { name: "both_ways" }, h("option", { value: "true" }, "both ways"),
    h("option", { value: "" }, "this way only"));
  const timeline = h("textarea", { name: "timeline", "aria-label": "Timeline steps (JSON)" });
  timeline.value = EXAMPLE_TIMELINE;
  const result = h("div.error", { role: "alert" });
  const note = h("div.hint", { role: "status" });

  const pair = () => [from.value, to.value];
  const run = async (fn, done) => {
    result.textContent = "";
    note.textContent = "";
    try {
      await fn();
      note.textContent = done;
    } catch (exc) {
      result.textContent = exc.text || String(exc);
    }
    await load();
  };
  const apply = () =>
    run(async () => {
      const body = {};
      if (profileSelect.value) body.profile = profileSelect.value;
      for (const input of [delay, jitter, loss, rate]) if (input.value !== "") body[input.name] = Number(input.value);
      if (outage.value) body.outage = true;
      if (both.value) body.both_ways = true;
      const [a, b] = pair();
      await admin("PUT", adminPath("links", a, b), { body });
    }, "Impairment set.");
  const clear = () =>
    run(async () => {
      const [a, b] = pair();
      await admin("DELETE", adminPath("links", a, b), { query: both.value ? { both_ways: "true" } : {} });
    }, "Back to the catalogue latency.");
  const startTimeline = () =>
    run(async () => {
      let body;
      try {
        body = JSON.parse(timeline.value);
      } catch (exc) {
        throw new Error(`the timeline is not JSON: ${exc.message}`);
      }
      if (Array.isArray(body)) body = { steps: body };
      if (both.value) body.both_ways = true;
      const [a, b] = pair();
      await admin("POST", adminPath("links", a, b, "timeline"), { body });
    }, "Timeline started.");

  root.append(
    h("div.crumbs", {}, "MediaConnect / Backbone"),
    h("h1", {}, "Backbone"),
    h(
      "section.panel",
      { "aria-labelledby": "bb-links" },
      h("h2", { id: "bb-links" }, "Live links"),
      h("p.hint", {}, "A link exists while traffic of a flow crosses from one region to another."),
      h("table", { "aria-label": "Live links" },
        h("thead", {}, h("tr", {}, ...["From", "To", "Impairment (forward)", "Forward counters", "Impairment (reverse)",
          "Reverse counters"].map((t) => h("th", { scope: "col" }, t)))),
        linksBody),
    ),
    h(
      "section.panel",
      { "aria-labelledby": "bb-set" },
      h("h2", { id: "bb-set" }, "Impairment"),
      h("div.inline", {},
        field("From", from, true),
        field("To", to, true),
        field("Profile", profileSelect, true),
        field("Delay (ms)", delay), field("Jitter (ms)", jitter), field("Loss (%)", loss),
        field("Rate (kbps)", rate), field("Outage", outage), field("Direction", both)),
      h("div.buttons", {},
        h("button.primary", { type: "button", onclick: apply }, "Set Impairment"),
        h("button", { type: "button", onclick: clear }, "Clear")),
      h("h3", {}, "Timeline"),
      h("p.hint", {}, 'Steps from now: {"steps": [{"at_s": 10, "duration_s": 8, "changes": {"outage": true}}]} ' +
        "(changes, impairment or profile per step)."),
      timeline,
      h("div.buttons", {}, h("button", { type: "button", onclick: startTimeline }, "Start Timeline")),
      result,
      note,
    ),
    h(
      "section.panel",
      { "aria-labelledby": "bb-over" },
      h("h2", { id: "bb-over" }, "Impairments set"),
      h("table", { "aria-label": "Impairments set" },
        h("thead", {}, h("tr", {}, ...["From", "To", "Impairment in force", "Timeline"].map((t) => h("th", { scope: "col" }, t)))),
        overridesBody),
    ),
    h(
      "section.panel",
      { "aria-labelledby": "bb-regions" },
      h("h2", { id: "bb-regions" }, "Regions"),
      h("table", { "aria-label": "Regions" },
        h("thead", {}, h("tr", {}, ...["Region", "Region ID", "RTMP server"].map((t) => h("th", { scope: "col" }, t)))),
        regionsBody),
    ),
  );

  const loadRegions = async () => {
    const [regions, state] = await Promise.all([rpc("GetMediaConnectAvailableRegion"), admin("GET", "/_emulator/state")]);
    regionsBody.replaceChildren(
      ...regions.RegionList.map((id) =>
        h("tr", {}, h("td", {}, regionLabel(id)), h("td.mono", {}, id),
          h("td.mono", {}, (state.regions && state.regions[id] && state.regions[id].rtmp) || "-")),
      ),
    );
    for (const [select, index] of [[from, 0], [to, 1]]) {
      select.replaceChildren(...regions.RegionList.map((id) => h("option", { value: id }, regionLabel(id))));
      select.value = regions.RegionList[Math.min(index, regions.RegionList.length - 1)];
    }
  };

  let timer = null;
  const load = async () => {
    try {
      const view = await admin("GET", "/_emulator/links");
      linksBody.replaceChildren(
        ...(view.links.length
          ? view.links.map((l) =>
              h("tr", { "data-link": `${l.from}/${l.to}` },
                h("td", {}, regionLabel(l.from)), h("td", {}, regionLabel(l.to)),
                h("td", {}, impairmentText(l.forward)), h("td", { "data-live": "forward" }, counterText(l.stats.forward)),
                h("td", {}, impairmentText(l.reverse)), h("td", { "data-live": "reverse" }, counterText(l.stats.reverse))),
            )
          : [h("tr", {}, h("td.empty", { colspan: 6 }, "No traffic crosses regions right now."))]),
      );
      overridesBody.replaceChildren(
        ...(view.impairments.length
          ? view.impairments.map((i) =>
              h("tr", { "data-impairment": `${i.from}/${i.to}` }, h("td", {}, regionLabel(i.from)), h("td", {}, regionLabel(i.to)),
                h("td", {}, impairmentText(i.impairment)), h("td", {}, i.timeline ? "running" : "-")),
            )
          : [h("tr", {}, h("td.empty", { colspan: 4 }, "None: every pair has its catalogue latency."))]),
      );
    } catch (exc) {
      banner(exc.text || String(exc));
    }
  };
  const tick = async () => {
    timer = null;
    if (document.visibilityState === "visible") await load();
    if (!stopped) timer = setTimeout(tick, REFRESH_MS);
  };
  let stopped = false;
  loadRegions().catch((exc) => banner(exc.text || String(exc)));
  tick();
  ctx.onChange(load, (ev) => ev.type === "link.changed");
  ctx.cleanup(() => {
    stopped = true;
    if (timer !== null) clearTimeout(timer);
  });
}
