// The flow details page: Flow ID, the Status panel (Start / Stop), and the Source, Outputs and
// Preview tabs, with live figures from GET /_emulator/stats and reloads on the flow's events.

import { call, rpc } from "./api.js";
import { listFlows } from "./flows.js";
import { currentStats, endpointStats, onStats } from "./live.js";
import { LivePlayer } from "./player.js";
import { regionLabel } from "./regions.js";
import { badge, banner, copyable, formDialog, h, kbps, sparkline, tabs } from "./ui.js";

const INPUT_PROTOCOLS = ["RTMP-PUSH", "RTMP-PULL", "SRT-Listener", "SRT-Caller", "Flow"];
const OUTPUT_PROTOCOLS = {
  RTMP: ["RTMP-PULL", "RTMP-PUSH", "Flow"],
  SRT: ["SRT-Listener", "SRT-Caller", "Flow"],
};
const KEY_LENGTHS = [
  ["", "Default"],
  ["16", "16 (AES-128)"],
  ["24", "24 (AES-192)"],
  ["32", "32 (AES-256)"],
];
const THUMBNAIL_MS = 2000;

function srtFields(show) {
  return [
    { name: "SrtLatency", label: "SRT Latency (ms)", optional: true, type: "number", show },
    { name: "SrtPassphrase", label: "Passphrase", optional: true, type: "password", show,
      hint: "10-79 characters; leave blank for no encryption." },
    { name: "SrtPbkeyLen", label: "Key Length", options: KEY_LENGTHS, value: "", show },
  ];
}

/** The fields shown when the protocol (`v[protocolField]`) is one of `names`. */
const protocolIs = (protocolField) => (...names) => (v) => names.includes(v[protocolField]);

function cidrsField(show) {
  return { name: "Cidrs", label: "IP Address Whitelist", optional: true, show,
    hint: "Comma-separated CIDRs. If left blank, no access control is enforced." };
}

/**
 * The Add Source / Add Output panel: a name, the protocol, the URL a caller dials (`url`: its field,
 * label and the protocols that dial), the paired flow's endpoint a Flow uses (`pair`), then `fields`.
 * `side` ("Input" or "Output") names the API's fields and its Add operation.
 */
function endpointDialog(flowId, side, { title, nameLabel, protocols, url, pair, fields }) {
  const protocolField = `${side}Protocol`;
  const is = protocolIs(protocolField);
  return formDialog({
    title,
    drawer: true,
    fields: [
      { name: `${side}Name`, label: nameLabel },
      { name: protocolField, label: "Protocol", options: protocols, value: protocols[0] },
      {
        name: url.name,
        label: url.label,
        relabel: (v) => (v[protocolField] === "SRT-Caller" ? "SRT Listener URL" : url.label),
        placeholder: "rtmp://host/app/key or srt://host:port",
        show: is(...url.dialedBy),
      },
      { name: "PairFlowId", label: "Flow ID", show: is("Flow"), hint: pair.flowHint },
      { name: pair.name, label: pair.label, show: is("Flow"), hint: pair.hint },
      ...fields,
    ],
    submit: (values) => rpc(`AddMediaConnectFlow${side}`, { FlowId: flowId, ...values }),
  });
}

/** The Add Source panel; `backupOf` is the primary input (a backup takes its protocol). */
function addSourceDialog(flowId, backupOf) {
  const protocols = backupOf ? [backupOf.InputProtocol] : INPUT_PROTOCOLS;
  const is = protocolIs("InputProtocol");
  return endpointDialog(flowId, "Input", {
    title: backupOf ? "Add Backup Source" : "Add Source",
    nameLabel: "Source Name",
    protocols,
    url: { name: "InputFromUrl", label: "Pull URL", dialedBy: ["RTMP-PULL", "SRT-Caller"] },
    pair: { name: "PairOutputName", label: "Output Name", flowHint: "The Flow ID of the flow to pull from.",
      hint: "Its RTMP-PULL or SRT-Listener output." },
    fields: [
      { name: "MaxBitrate", label: "Max Bitrate", optional: true, type: "number", hint: "bit/s, 100 - 100,000,000" },
      cidrsField(is("RTMP-PUSH", "SRT-Listener")),
      ...srtFields(is("SRT-Listener", "SRT-Caller")),
    ],
  });
}

function addOutputDialog(flowId, family) {
  const listening = protocolIs("OutputProtocol")("RTMP-PULL", "SRT-Listener");
  return endpointDialog(flowId, "Output", {
    title: "Add Output",
    nameLabel: "Output Name",
    protocols: OUTPUT_PROTOCOLS[family] || OUTPUT_PROTOCOLS.RTMP,
    url: { name: "OutputToUrl", label: "Push URL", dialedBy: ["RTMP-PUSH", "SRT-Caller"] },
    pair: { name: "PairInputName", label: "Input Name", flowHint: "The Flow ID of the flow to push into.",
      hint: "Its RTMP-PUSH or SRT-Listener input." },
    fields: [
      cidrsField(listening),
      { name: "PlayerLimit", label: "Player Limit", optional: true, type: "number", show: listening },
      ...srtFields(() => family === "SRT"),
    ],
  });
}

function confirmDialog(title, text, action) {
  return formDialog({ title, text, fields: [], submit: action });
}

/** The primary input (and the backup) from GetMediaConnectFlowInput's flat content. */
function inputsOf(content) {
  if (!content) return [];
  const primary = { ...content, backup: false };
  const out = [primary];
  if (content.BackupInputName) {
    out.push({
      backup: true,
      InputName: content.BackupInputName,
      InputProtocol: content.InputProtocol,
      InputUrl: content.BackupInputUrl,
      InputStatus: content.BackupInputStatus,
      MaxBitrate: content.BackupMaxBitrate,
      Cidrs: content.BackupCidrs,
      PairFlowId: content.PairFlowId,
      PairOutputName: content.PairOutputName,
      SrtLatency: content.BackupSrtLatency,
      SrtPassphrase: content.BackupSrtPassphrase,
      SrtPbkeyLen: content.BackupSrtPbkeyLen,
    });
  }
  return out;
}

function srtText(list) {
  if (!list || !list.length) return "";
  return list
    .map(
      (s) =>
        `${s.peer}: RTT ${Number(s.rtt_ms).toFixed(1)} ms, loss ${s.loss_total}, retransmitted ${s.retransmitted_total}`,
    )
    .join("; ");
}

export function flowPage(root, ctx, flowId, initialTab) {
  let flow = null;
  let inputs = [];
  let outputs = [];
  let family = "RTMP";
  let tab = initialTab || "source";
  const live = { inputs: {}, outputs: {} };
  const head = h("div");
  const sourcePanel = h("div");
  const outputsPanel = h("div");
  const previewPanel = h("div.preview");
  let previewKey = null;
  const players = [];
  let thumbTimer = null;

  const act = async (fn) => {
    banner("");
    try {
      await fn();
    } catch (exc) {
      banner(exc.text || String(exc));
    }
    await load();
  };

  const renderHead = () => {
    const online = flow.FlowStatus === "online";
    const status = h(
      "section.panel",
      { "aria-labelledby": "status-title", "data-panel": "status" },
      h("h2", { id: "status-title" }, "Status"),
      h("p", {}, badge(flow.FlowStatus), flow.StartTime ? h("span.muted", {}, `  since ${flow.StartTime}`) : null),
      h(
        "div.toolbar",
        {},
        h("button.primary", { type: "button", disabled: online,
          onclick: () => act(() => rpc("UpdateMediaConnectFlowStatus", { FlowId: flowId, Status: "online" })) },
          "Start"),
        h("button", { type: "button", disabled: !online,
          onclick: () => act(() => rpc("UpdateMediaConnectFlowStatus", { FlowId: flowId, Status: "offline" })) },
          "Stop"),
      ),
    );
    const info = h(
      "section.panel",
      { "aria-labelledby": "info-title" },
      h("h2", { id: "info-title" }, "Basic Information"),
      h(
        "dl.props",
        {},
        h("dt", {}, "Flow ID"), h("dd", {}, copyable("Flow ID", flow.FlowId)),
        h("dt", {}, "Flow Name"), h("dd", {}, flow.FlowName),
        h("dt", {}, "Region"), h("dd", {}, `${regionLabel(flow.FlowRegion)} (${flow.FlowRegion})`),
        h("dt", {}, "Created"), h("dd", {}, flow.CreateTime || "-"),
        h("dt", {}, "Failover"), h("dd", {}, flow.FlowFailover === "yes" ? "On" : "Off"),
      ),
    );
    const del = h(
      "button.danger",
      {
        type: "button",
        onclick: async () => {
          const done = await confirmDialog("Delete Flow", `Delete flow ${flow.FlowName} (${flowId})?`, async () => {
            await rpc("DeleteMediaConnectFlow", { FlowId: flowId });
            return true;
          });
          if (done) location.hash = "#/flows";
        },
      },
      "Delete",
    );
    head.replaceChildren(
      h("div.crumbs", {}, h("a", { href: "#/flows" }, "MediaConnect / Flows"), ` / ${flow.FlowName}`),
      h("div.titlebar", {}, h("h1", {}, flow.FlowName), badge(flow.FlowStatus), h("span.spacer"), del),
      h("div.row", {}, info, status),
    );
  };

  const liveBlock = (role, name) => {
    const cell = h("span.live", { "data-live": "bitrate" }, "-");
    const srt = h("div.srt", { "data-live": "srt" });
    const media = h("span", { "data-live": role === "inputs" ? "media" : "players" }, "-");
    live[role][name] = { cell, srt, media };
    return { cell, srt, media };
  };

  const renderSource = () => {
    live.inputs = {};
    const toolbar = h("div.toolbar");
    const open = flow.FlowFailover === "yes";
    if (!inputs.length) {
      toolbar.append(
        h("button.primary", { type: "button", onclick: async () => (await addSourceDialog(flowId)) && load() },
          "Add Source Stream"),
      );
    } else {
      toolbar.append(
        h("span", {}, `Failover (backup source): ${open ? "On" : "Off"}`),
        open
          ? h("button", { type: "button",
              onclick: () => act(() => rpc("CloseMediaConnectFlowFailover", { FlowId: flowId })) }, "Disable Failover")
          : h("button", { type: "button",
              onclick: () => act(() => rpc("OpenMediaConnectFlowFailover", { FlowId: flowId })) }, "Enable Failover"),
      );
      if (open && inputs.length === 1) {
        toolbar.append(
          h("button", { type: "button", onclick: async () => (await addSourceDialog(flowId, inputs[0])) && load() },
            "Add Backup Source"),
        );
      }
    }
    const cards = inputs.map((inp) => {
      const { cell, srt, media } = liveBlock("inputs", inp.InputName);
      const rows = [
        ["Protocol", inp.InputProtocol],
        ["Source URL", copyable("Source URL", inp.InputUrl)],
        ["Max Bitrate", inp.MaxBitrate ? `${inp.MaxBitrate} bps` : "-"],
      ];
      if (inp.InputProtocol === "RTMP-PUSH" || inp.InputProtocol === "SRT-Listener") {
        rows.push(["IP Address Whitelist", inp.Cidrs || "(none: no access control)"]);
      }
      if (inp.InputProtocol === "Flow") {
        rows.push(["Flow ID", inp.PairFlowId], ["Output Name", inp.PairOutputName]);
      }
      if (inp.SrtLatency !== undefined) {
        rows.push(["SRT Latency", `${inp.SrtLatency} ms`], ["Encryption", inp.SrtPbkeyLen ? `AES-${inp.SrtPbkeyLen * 8}` : "none"]);
      }
      rows.push(["Media", media], ["Bitrate", cell], ["SRT", srt]);
      return h(
        "section.card",
        { "data-input": inp.InputName, "aria-label": `Source ${inp.InputName}` },
        h(
          "header",
          {},
          h("h3", {}, inp.InputName),
          h("span.muted", {}, inp.backup ? "backup" : "primary"),
          badge(inp.InputStatus || "offline"),
          h("span.spacer"),
          h(
            "button.danger",
            {
              type: "button",
              "aria-label": `Delete source ${inp.InputName}`,
              onclick: async () =>
                (await confirmDialog("Delete Source", `Delete source ${inp.InputName}?`, () =>
                  rpc("DeleteMediaConnectFlowInput", { FlowId: flowId, InputName: inp.InputName }).then(() => true),
                )) && load(),
            },
            "Delete",
          ),
        ),
        h("dl.props", {}, ...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      );
    });
    sourcePanel.replaceChildren(toolbar, ...cards);
  };

  const renderOutputs = () => {
    live.outputs = {};
    const body = h("tbody");
    if (!outputs.length) {
      body.append(h("tr", {}, h("td.empty", { colspan: 8 }, inputs.length ? "No outputs yet." : "Add a source first.")));
    }
    for (const out of outputs) {
      const { cell, srt, media } = liveBlock("outputs", out.OutputName);
      const forbidden = out.Forbid === "yes";
      const op = forbidden ? "ResumeMediaConnectFlowOutput" : "ForbidMediaConnectFlowOutput";
      body.append(
        h(
          "tr",
          { "data-output": out.OutputName },
          h("td", {}, out.OutputName),
          h("td", {}, out.OutputProtocol,
            out.PairFlowId ? h("div.muted", {}, `${out.PairFlowId} / ${out.PairInputName}`) : null),
          h("td", {}, copyable("Output URL", out.OutputUrl)),
          h("td", {}, forbidden ? badge("Forbidden", "forbidden") : badge("Active", "yes")),
          h("td", {}, media),
          h("td", {}, cell),
          h("td", {}, srt),
          h(
            "td",
            {},
            h("button.link", { type: "button", "aria-label": `${forbidden ? "Resume" : "Forbid"} ${out.OutputName}`,
              onclick: () => act(() => rpc(op, { FlowId: flowId, OutputName: out.OutputName })) },
              forbidden ? "Resume" : "Forbid"),
            h("button.link.danger", {
              type: "button",
              "aria-label": `Delete output ${out.OutputName}`,
              onclick: async () =>
                (await confirmDialog("Delete Output", `Delete output ${out.OutputName}?`, () =>
                  rpc("DeleteMediaConnectFlowOutput", { FlowId: flowId, OutputName: out.OutputName }).then(() => true),
                )) && load(),
            }, "Delete"),
          ),
        ),
      );
    }
    const add = h(
      "button.primary",
      { type: "button", disabled: !inputs.length,
        onclick: async () => (await addOutputDialog(flowId, family)) && load() },
      "Add Output",
    );
    outputsPanel.replaceChildren(
      h("div.toolbar", {}, add, h("span.muted", {}, `${outputs.length} of 4 outputs`)),
      h(
        "table",
        { "aria-label": "Outputs" },
        h("thead", {}, h("tr", {}, ...["Output Name", "Protocol", "Output URL", "State", "Players / Connection",
          "Bitrate", "SRT", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
        body,
      ),
    );
  };

  const previewEndpoints = () => [
    ...inputs.map((i) => ["input", i.InputName]),
    ...outputs.map((o) => ["output", o.OutputName]),
  ];

  const stopPreview = () => {
    thumbGeneration += 1;
    for (const p of players) p.stop();
    players.length = 0;
    if (thumbTimer !== null) clearTimeout(thumbTimer);
    thumbTimer = null;
  };

  const renderPreview = () => {
    const key = `${flow.FlowStatus}|${previewEndpoints().join(",")}`;
    if (key === previewKey) return;
    previewKey = key;
    stopPreview();
    const online = flow.FlowStatus === "online";
    const cards = previewEndpoints().map(([role, name]) => {
      const img = h("img", { alt: `Thumbnail of ${role} ${name}`, "data-thumb": `${role}/${name}` });
      const video = h("video", { muted: true, playsinline: true, hidden: true, "aria-label": `Preview of ${role} ${name}` });
      video.muted = true;
      const status = h("div.status", { role: "status" }, online ? "" : "The flow is offline: start it to preview.");
      const player = new LivePlayer(video, (text) => (status.textContent = text));
      players.push(player);
      const button = h("button", {
        type: "button",
        disabled: !online,
        "aria-label": `Play ${role} ${name}`,
        onclick: () => {
          if (player.playing) {
            player.stop();
            video.hidden = true;
            img.hidden = false;
            button.textContent = "Play";
            status.textContent = "";
          } else {
            video.hidden = false;
            img.hidden = true;
            button.textContent = "Stop";
            player.play(`/_emulator/preview/${encodeURIComponent(flowId)}/${role}/${encodeURIComponent(name)}.mp4`);
          }
        },
      }, "Play");
      return h(
        "section.card",
        { "data-preview": `${role}/${name}`, "aria-label": `Preview ${role} ${name}` },
        h("header", {}, h("h3", {}, `${role === "input" ? "Source" : "Output"} ${name}`), h("span.spacer"), button),
        img,
        video,
        status,
      );
    });
    previewPanel.replaceChildren(
      h("p.hint", {}, "The emulator remuxes (never transcodes) what the flow carries into fragmented MP4; " +
        "thumbnails are decoded at most once a second, only while someone looks."),
      h("div.grid", {}, ...cards),
    );
    if (online) refreshThumbnails();
  };

  // One refresh loop per rendering of the Preview tab: a loop whose generation is gone ends.
  let thumbGeneration = 0;
  const refreshThumbnails = async (generation = ++thumbGeneration) => {
    thumbTimer = null;
    const again = () => {
      if (generation === thumbGeneration && previewKey !== null) {
        thumbTimer = setTimeout(() => refreshThumbnails(generation), THUMBNAIL_MS);
      }
    };
    if (tab !== "preview" || !flow || flow.FlowStatus !== "online" || document.visibilityState !== "visible") {
      again();
      return;
    }
    const stats = currentStats();
    const primary = inputs.length ? endpointStats(stats, flowId, "inputs", inputs[0].InputName) : null;
    for (const img of previewPanel.querySelectorAll("img[data-thumb]")) {
      if (img.hidden) continue;
      const [role, name] = img.dataset.thumb.split("/");
      const own = role === "input" ? endpointStats(stats, flowId, "inputs", name) : primary;
      if (!own || !own.active) continue; // no media yet: nothing to decode
      try {
        const resp = await call("GET", `/_emulator/thumbnail/${encodeURIComponent(flowId)}/${role}/${encodeURIComponent(name)}.jpg`);
        const url = URL.createObjectURL(await resp.blob());
        const old = img.src;
        img.src = url;
        if (old.startsWith("blob:")) URL.revokeObjectURL(old);
      } catch (exc) {
        img.alt = `Thumbnail of ${role} ${name}: ${exc.text || exc}`;
      }
    }
    again();
  };

  const showLive = (stats) => {
    for (const [name, el] of Object.entries(live.inputs)) {
      const s = endpointStats(stats, flowId, "inputs", name);
      el.media.textContent = s ? (s.active ? "receiving" : "no media") : "-";
      el.cell.replaceChildren(...(s ? [sparkline(s.history_kbps, `${name} bitrate`), kbps(s.bitrate_kbps)] : ["-"]));
      el.srt.textContent = s ? srtText(s.srt) : "";
    }
    for (const [name, el] of Object.entries(live.outputs)) {
      const s = endpointStats(stats, flowId, "outputs", name);
      let who = "-";
      if (s) {
        who = s.connected === null || s.connected === undefined ? `${s.players} player(s)` : s.connected ? "connected" : "not connected";
      }
      el.media.textContent = who;
      el.cell.replaceChildren(...(s ? [sparkline(s.history_kbps, `${name} bitrate`), kbps(s.bitrate_kbps)] : ["-"]));
      el.srt.textContent = s ? srtText(s.srt) : "";
    }
  };

  const tabBar = tabs(
    [
      { id: "source", label: "Source" },
      { id: "outputs", label: "Outputs" },
      { id: "preview", label: "Preview" },
    ],
    tab,
    (id) => {
      tab = id;
      history.replaceState(null, "", `#/flows/${flowId}${id === "source" ? "" : "/" + id}`);
    },
  );
  tabBar.items[0].panel.append(sourcePanel);
  tabBar.items[1].panel.append(outputsPanel);
  tabBar.items[2].panel.append(previewPanel);
  root.append(head, tabBar.el);

  let loading = null;
  let again = false;
  const load = async () => {
    if (loading) {
      again = true;
      return loading;
    }
    loading = (async () => {
      do {
        again = false;
        try {
          const { flows } = await listFlows();
          const entry = flows.find((f) => f.id === flowId);
          if (!entry) {
            head.replaceChildren(h("h1", {}, "Flow not found"), h("p", {}, `There is no flow with id ${flowId}. `,
              h("a", { href: "#/flows" }, "Back to Flows")));
            sourcePanel.replaceChildren();
            outputsPanel.replaceChildren();
            stopPreview();
            previewPanel.replaceChildren();
            previewKey = null;
            return;
          }
          flow = await rpc("GetMediaConnectFlow", { FlowId: flowId });
          const primary = (entry.inputs || []).find((i) => !i.backup);
          family = primary ? primary.family : "RTMP";
          inputs = primary ? inputsOf(await rpc("GetMediaConnectFlowInput", { FlowId: flowId })) : [];
          outputs = await Promise.all(
            (entry.outputs || []).map((o) => rpc("GetMediaConnectFlowOutput", { FlowId: flowId, OutputName: o.name })),
          );
          renderHead();
          renderSource();
          renderOutputs();
          renderPreview();
          showLive(currentStats());
        } catch (exc) {
          banner(exc.text || String(exc));
        }
      } while (again);
    })();
    try {
      await loading;
    } finally {
      loading = null;
    }
  };
  load();
  ctx.onChange(load, (ev) => ev.flow_id === flowId || ev.type === "flow.deleted");
  ctx.cleanup(onStats((stats) => showLive(stats)));
  ctx.cleanup(() => {
    stopPreview();
    previewKey = null;
  });
}
