// MediaConnect > Flows: the table of flows and the "Create Flow" dialog.

import { admin, rpc } from "./api.js";
import { endpointStats, onStats } from "./live.js";
import { regionLabel } from "./regions.js";
import { badge, banner, formDialog, h, kbps, sparkline } from "./ui.js";

/** Every flow as GET /_emulator/state lists it (the ICE API has no list operation). */
export async function listFlows() {
  const state = await admin("GET", "/_emulator/state");
  const flows = Array.isArray(state.flows) ? state.flows : Object.values(state.flows || {});
  return { flows, state };
}

/** Open the Create Flow dialog; resolves with the new FlowId (or null). */
export async function createFlow() {
  const regions = await rpc("GetMediaConnectAvailableRegion");
  const options = regions.RegionList.map((id) => [id, regionLabel(id)]);
  return formDialog({
    title: "Create Flow",
    fields: [
      { name: "FlowName", label: "Flow Name", hint: "Letters, digits, '_' and '-'; unique in its region." },
      { name: "FlowRegion", label: "Region", options, value: regions.DefaultRegion },
    ],
    submit: async (values) => (await rpc("CreateMediaConnectFlow", values)).FlowId,
  });
}

export function flowsPage(root, ctx) {
  const body = h("tbody");
  const table = h(
    "table",
    { "aria-label": "Flows" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ...["Flow Name", "Flow ID", "Region", "Status", "Input Protocol", "Outputs", "Input"].map((t) =>
          h("th", { scope: "col" }, t),
        ),
      ),
    ),
    body,
  );
  const create = h(
    "button.primary",
    {
      type: "button",
      onclick: async () => {
        try {
          const id = await createFlow();
          if (id) location.hash = `#/flows/${id}`;
        } catch (exc) {
          banner(exc.text || String(exc));
        }
      },
    },
    "Create Flow",
  );
  const count = h("span.muted", {}, "");
  root.append(
    h("div.crumbs", {}, "MediaConnect / Flows"),
    h("h1", {}, "Flows"),
    h("div.toolbar", {}, create, h("span.spacer"), count),
    table,
  );
  let flows = [];
  const liveCells = {};

  const render = () => {
    body.replaceChildren();
    for (const key of Object.keys(liveCells)) delete liveCells[key];
    if (!flows.length) {
      body.append(h("tr", {}, h("td.empty", { colspan: 7 }, "No flows yet: click Create Flow.")));
    }
    for (const f of flows) {
      const primary = (f.inputs || []).find((i) => !i.backup);
      const live = h("td", { "data-live": "input" }, "-");
      liveCells[f.id] = { cell: live, input: primary ? primary.name : null };
      body.append(
        h(
          "tr",
          { "data-flow": f.id },
          h("td", {}, h("a", { href: `#/flows/${f.id}` }, f.name)),
          h("td.mono", {}, f.id),
          h("td", {}, regionLabel(f.region)),
          h("td", {}, badge(f.status)),
          h("td", {}, primary ? primary.protocol : "-"),
          h("td", {}, String((f.outputs || []).length)),
          live,
        ),
      );
    }
    count.textContent = `${flows.length} flow(s)`;
    showLive(ctx.stats);
  };

  const showLive = (stats) => {
    for (const [flowId, { cell, input }] of Object.entries(liveCells)) {
      const s = input && endpointStats(stats, flowId, "inputs", input);
      cell.replaceChildren(
        s ? h("span.live", {}, sparkline(s.history_kbps, `${input} bitrate`), kbps(s.bitrate_kbps)) : "-",
      );
    }
  };

  const load = async () => {
    try {
      flows = (await listFlows()).flows;
      render();
    } catch (exc) {
      banner(exc.text || String(exc));
    }
  };
  load();
  ctx.onChange(load, (ev) => ev.type.startsWith("flow.") || ev.type.startsWith("input."));
  ctx.cleanup(onStats((stats) => showLive(stats)));
}
